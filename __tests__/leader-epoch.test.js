'use strict'

// Leader epoch fencing (KIP-320): Fetch, ListOffsets and OffsetForLeaderEpoch carry the leader
// epoch the client knows. After a leader change (moveLeader bumps the epoch) an older epoch is
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH, and -1 skips the check. The requests
// are written by hand (non-flexible versions) so the epoch sent is exactly the one tested.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const {
  startKafka,
  emulatorOnlyFile,
  client,
  defer,
  startConsumer,
  withDeadline,
  uniqueName,
  DEADLINE_MS,
} = require('./helpers')

if (emulatorOnlyFile('moveLeader and a two-broker cluster are emulator helpers')) return

const FENCED_LEADER_EPOCH = 74
const UNKNOWN_LEADER_EPOCH = 75
const NOT_LEADER_OR_FOLLOWER = 6

const FETCH = 1
const LIST_OFFSETS = 2
const OFFSET_FOR_LEADER_EPOCH = 23

/** Big-endian fields, appended in order: enough of Kafka's non-flexible encoding. */
class Writer {
  constructor() {
    this.parts = []
  }
  int8(v) {
    const b = Buffer.alloc(1)
    b.writeInt8(v)
    this.parts.push(b)
    return this
  }
  int16(v) {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }
  int32(v) {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }
  int64(v) {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(BigInt(v))
    this.parts.push(b)
    return this
  }
  string(s) {
    const bytes = Buffer.from(s)
    this.int16(bytes.length)
    this.parts.push(bytes)
    return this
  }
  array(items, each) {
    this.int32(items.length)
    for (const item of items) each(this, item)
    return this
  }
  bytes() {
    return Buffer.concat(this.parts)
  }
}

class Reader {
  constructor(buffer) {
    this.buffer = buffer
    this.at = 0
  }
  int16() {
    const v = this.buffer.readInt16BE(this.at)
    this.at += 2
    return v
  }
  int32() {
    const v = this.buffer.readInt32BE(this.at)
    this.at += 4
    return v
  }
  int64() {
    const v = this.buffer.readBigInt64BE(this.at)
    this.at += 8
    return Number(v)
  }
  string() {
    const length = this.int16()
    const s = this.buffer.toString('utf8', this.at, this.at + length)
    this.at += length
    return s
  }
}

/** One request/response exchange on a fresh connection to `port`; resolves with the body. */
async function exchange(port, apiKey, version, body) {
  const correlationId = 7
  const request = new Writer().int16(apiKey).int16(version).int32(correlationId).string('epoch-test').bytes()
  const payload = Buffer.concat([request, body])
  const socket = net.connect({ host: '127.0.0.1', port })
  try {
    const response = await withDeadline(
      new Promise((resolve, reject) => {
        let received = Buffer.alloc(0)
        socket.on('error', reject)
        socket.on('close', () => reject(new Error('the broker closed the connection instead of answering')))
        socket.on('data', (chunk) => {
          received = Buffer.concat([received, chunk])
          if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
            resolve(received.subarray(4, 4 + received.readInt32BE(0)))
          }
        })
        socket.once('connect', () => socket.write(Buffer.concat([new Writer().int32(payload.length).bytes(), payload])))
      }),
      DEADLINE_MS,
      `a response to api ${apiKey} v${version}`,
    )
    const reader = new Reader(response)
    assert.equal(reader.int32(), correlationId)
    return reader
  } finally {
    socket.destroy()
  }
}

/** Fetch v11 of partition 0 from offset 0 with `epoch`: the partition's error code. */
async function fetchError(port, topic, epoch) {
  const body = new Writer()
    .int32(-1) // replica id: a consumer
    .int32(0) // max wait: answer at once
    .int32(1) // min bytes
    .int32(1 << 20) // max bytes
    .int8(0) // read_uncommitted
    .int32(0) // no fetch session
    .int32(-1) // session epoch: a full fetch without a session
    .array([topic], (w, t) =>
      w.string(t).array([0], (w, p) =>
        w
          .int32(p)
          .int32(epoch) // current leader epoch
          .int64(0) // fetch offset
          .int64(-1) // log start offset (a follower's)
          .int32(1 << 20),
      ),
    )
    .array([], () => {}) // forgotten topics
    .string('') // rack id
    .bytes()
  const r = await exchange(port, FETCH, 11, body)
  r.int32() // throttle time
  assert.equal(r.int16(), 0, 'no top-level error')
  r.int32() // session id
  assert.equal(r.int32(), 1, 'one topic')
  assert.equal(r.string(), topic)
  assert.equal(r.int32(), 1, 'one partition')
  assert.equal(r.int32(), 0, 'partition 0')
  return r.int16()
}

/** ListOffsets v5 (latest) of partition 0 with `epoch`: its error code and leader epoch. */
async function listOffsets(port, topic, epoch) {
  const body = new Writer()
    .int32(-1) // replica id
    .int8(0) // read_uncommitted
    .array([topic], (w, t) =>
      w.string(t).array([0], (w, p) => w.int32(p).int32(epoch).int64(-1)),
    )
    .bytes()
  const r = await exchange(port, LIST_OFFSETS, 5, body)
  r.int32() // throttle time
  assert.equal(r.int32(), 1, 'one topic')
  assert.equal(r.string(), topic)
  assert.equal(r.int32(), 1, 'one partition')
  assert.equal(r.int32(), 0, 'partition 0')
  const error = r.int16()
  r.int64() // timestamp
  const offset = r.int64()
  return { error, offset, leaderEpoch: r.int32() }
}

/** OffsetForLeaderEpoch v3 of partition 0 (asking about epoch 0) with `epoch`: its error code. */
async function offsetForLeaderEpochError(port, topic, epoch) {
  const body = new Writer()
    .int32(-1) // replica id: a consumer
    .array([topic], (w, t) => w.string(t).array([0], (w, p) => w.int32(p).int32(epoch).int32(0)))
    .bytes()
  const r = await exchange(port, OFFSET_FOR_LEADER_EPOCH, 3, body)
  r.int32() // throttle time
  assert.equal(r.int32(), 1, 'one topic')
  assert.equal(r.string(), topic)
  assert.equal(r.int32(), 1, 'one partition')
  return r.int16()
}

let kafka
let ports

before(async () => {
  kafka = await startKafka({ brokers: 2, defaultReplicationFactor: 2 })
  ports = kafka.brokers.map((b) => Number(b.split(':').pop()))
})

after(async () => {
  await kafka?.stop()
})

test('after a leader change, a stale epoch is fenced and a future one unknown', async () => {
  const topic = uniqueName('fenced')
  kafka.createTopic(topic, { partitions: 1 })
  kafka.produce(topic, [{ value: 'v' }])

  // Epoch 0 on the first leader: served.
  assert.equal(await fetchError(ports[0], topic, 0), 0)
  assert.equal(await fetchError(ports[0], topic, 1), UNKNOWN_LEADER_EPOCH)

  const moved = kafka.moveLeader(topic, 0, 1)
  assert.equal(moved.leaderEpoch, 1)
  const leader = ports[1]

  assert.equal(await fetchError(leader, topic, 0), FENCED_LEADER_EPOCH)
  assert.equal(await fetchError(leader, topic, 2), UNKNOWN_LEADER_EPOCH)
  assert.equal(await fetchError(leader, topic, 1), 0)
  assert.equal(await fetchError(leader, topic, -1), 0, '-1 skips the check')
  // The old leader fences the stale epoch before saying it no longer leads, as Kafka does.
  assert.equal(await fetchError(ports[0], topic, 0), FENCED_LEADER_EPOCH)
  assert.equal(await fetchError(ports[0], topic, 1), NOT_LEADER_OR_FOLLOWER)

  assert.equal((await listOffsets(leader, topic, 0)).error, FENCED_LEADER_EPOCH)
  assert.equal((await listOffsets(leader, topic, 2)).error, UNKNOWN_LEADER_EPOCH)
  assert.deepEqual(await listOffsets(leader, topic, 1), { error: 0, offset: 1, leaderEpoch: 1 })
  assert.deepEqual(await listOffsets(leader, topic, -1), { error: 0, offset: 1, leaderEpoch: 1 })

  assert.equal(await offsetForLeaderEpochError(leader, topic, 0), FENCED_LEADER_EPOCH)
  assert.equal(await offsetForLeaderEpochError(leader, topic, 2), UNKNOWN_LEADER_EPOCH)
  assert.equal(await offsetForLeaderEpochError(leader, topic, 1), 0)
})

test('a kafkajs consumer keeps consuming across a leader change', async (t) => {
  const topic = uniqueName('moving')
  kafka.createTopic(topic, { partitions: 1 })
  const kafkajs = client(kafka)
  const producer = kafkajs.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  const consumer = await startConsumer(kafkajs, { topics: [topic] })
  defer(t, () => consumer.disconnect())

  await producer.send({ topic, messages: [{ value: 'before' }] })
  await consumer.waitFor(1)
  kafka.moveLeader(topic, 0, 1)
  kafka.clearRequests()
  await producer.send({ topic, messages: [{ value: 'after' }] })
  const records = await consumer.waitFor(2)
  assert.deepEqual(
    records.map((r) => r.value.toString()),
    ['before', 'after'],
  )
  const fetches = kafka.requests().filter((r) => r.api === 'Fetch' && r.clientId === 'kafka-emulator-tests')
  assert.ok(fetches.some((r) => r.broker === 1 && r.error === null), 'the consumer fetched from the new leader')
})
