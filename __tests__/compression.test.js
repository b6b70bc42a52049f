'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// Compressed record batches: stored and served as the producer compressed them, validated
// (codec data and records) on produce, compacted with their own codec, searched by timestamp.
// kafkajs brings gzip; snappy, lz4 and zstd come from codec packages. librdkafka (the Python
// confluent-kafka wheel) checks the same bytes with a second, independent implementation.

if (require('./helpers').emulatorOnlyFile('checks stored batches through the test helpers (messages()) and codec counters')) return

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { spawn, spawnSync } = require('node:child_process')
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')
const zstd = require('@mongodb-js/zstd')
const { startKafka, client, defer, startConsumer, uniqueName, withDeadline, DEADLINE_MS } = require('./helpers')
const wire = require('./wire')
const { int16, int32, string } = wire

// @kafkajs/zstd's native dependency (cppzst) does not build against Node 20's headers, so zstd
// is a two-function codec over @mongodb-js/zstd, the shape kafkajs asks for.
const ZstdCodec = () => ({
  compress: (encoder) => zstd.compress(encoder.buffer, 3),
  decompress: (buffer) => zstd.decompress(buffer),
})

/** Every codec, with how many times kafkajs used it each way: proof of what went over the wire. */
const CODECS = {
  gzip: { type: CompressionTypes.GZIP, id: 1, codec: CompressionCodecs[CompressionTypes.GZIP] },
  snappy: { type: CompressionTypes.Snappy, id: 2, codec: SnappyCodec },
  lz4: { type: CompressionTypes.LZ4, id: 3, codec: new LZ4Codec().codec },
  zstd: { type: CompressionTypes.ZSTD, id: 4, codec: ZstdCodec },
}
for (const entry of Object.values(CODECS)) {
  entry.compressed = 0
  entry.decompressed = 0
  const make = entry.codec
  CompressionCodecs[entry.type] = () => {
    const codec = make()
    return {
      compress: async (encoder) => {
        entry.compressed += 1
        return codec.compress(encoder)
      },
      decompress: async (buffer) => {
        entry.decompressed += 1
        return codec.decompress(buffer)
      },
    }
  }
}

// librdkafka through the Python confluent-kafka wheel, from the venv .ci/run makes for the
// conformance suite (conformance/python/requirements.txt), else python3 on the PATH. Locally the
// tests that need it are skipped with the reason, but never under CI.
const CONFLUENT_KAFKA_VERSION = '2.16.1'
const VENV_PYTHON = path.join(__dirname, '..', 'conformance', 'python', '.venv', 'bin', 'python')
const PYTHON = fs.existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3'
const probe = spawnSync(PYTHON, ['-c', 'import confluent_kafka; print(confluent_kafka.libversion()[0])'], {
  encoding: 'utf8',
})
const librdkafkaVersion = probe.status === 0 ? probe.stdout.trim() : null
const librdkafkaMissing = librdkafkaVersion
  ? false
  : `${PYTHON} with confluent-kafka is not available (pip install -r conformance/python/requirements.txt)`
const skipWithoutLibrdkafka = process.env.CI === 'true' ? false : librdkafkaMissing

/** Produces or consumes with librdkafka; prints one JSON line per consumed message. */
const LIBRDKAFKA_SCRIPT = `
import json, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
mode, bootstrap, topic, arg = sys.argv[1:5]
if mode == 'produce':
    messages = json.loads(arg)
    codec = sys.argv[5]
    # One linger window, so the messages travel as one compressed batch.
    p = Producer({'bootstrap.servers': bootstrap, 'compression.codec': codec, 'linger.ms': 200,
                  'batch.num.messages': 10000})
    errors = []
    for m in messages:
        p.produce(topic, key=m['key'], value=m['value'], headers=[(k, v) for k, v in m['headers']],
                  partition=0, on_delivery=lambda err, msg: err and errors.append(str(err)))
    left = p.flush(15)
    if left or errors:
        sys.exit('not delivered: %d left, errors %s' % (left, errors))
else:
    count = int(arg)
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'librdkafka-reader',
                  'enable.auto.commit': False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = 0
    deadline = time.time() + 15
    while seen < count and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            sys.exit('consume error: %s' % m.error())
        headers = [[k, v.decode()] for k, v in (m.headers() or [])]
        print(json.dumps({'offset': m.offset(), 'key': m.key().decode(), 'value': m.value().decode(),
                          'headers': headers}), flush=True)
        seen += 1
    c.close()
    if seen < count:
        sys.exit('timed out: read %d of %d' % (seen, count))
`

/** Runs the librdkafka script to completion; resolves with its stdout, rejects with its stderr. */
function librdkafka(args) {
  const child = spawn(PYTHON, ['-c', LIBRDKAFKA_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const done = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`librdkafka ${args[0]} exited ${code}: ${stderr}`)),
    )
  })
  return withDeadline(done, 2 * DEADLINE_MS, `librdkafka ${args[0]}`).finally(() => child.kill())
}

let broker
let kafka
let admin
let producer
before(async () => {
  broker = await startKafka()
  kafka = client(broker)
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
})
after(async () => {
  await producer.disconnect()
  await admin.disconnect()
  await broker.stop()
})

async function createTopic(prefix, configEntries = []) {
  const topic = uniqueName(prefix)
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries }] }), true)
  return topic
}

/** Messages with keys, several headers and values long enough to compress. */
function sampleMessages(codecName, count) {
  return Array.from({ length: count }, (_, i) => ({
    key: `key-${i % 7}`,
    value: `${codecName} message ${i} `.repeat(1 + (i % 5)),
    headers: { codec: codecName, index: String(i) },
  }))
}

/** What a consumer saw, in comparable form. */
function plain(records) {
  return records.map((r) => ({
    key: r.key.toString(),
    value: r.value.toString(),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
  }))
}

/** Reads `count` messages of `topic` with a fresh kafkajs consumer group. */
async function readWithKafkajs(t, topic, count) {
  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, consumer.disconnect)
  const records = await consumer.waitFor(count)
  return records.slice(0, count)
}

for (const [name, codec] of Object.entries(CODECS)) {
  test(`kafkajs round-trips a ${name} batch: keys, headers, many messages`, async (t) => {
    const topic = await createTopic(`kafkajs-${name}`)
    const messages = sampleMessages(name, 200)
    const compressedBefore = codec.compressed
    const [metadata] = await producer.send({ topic, compression: codec.type, messages })
    assert.equal(metadata.errorCode, 0)
    assert.equal(codec.compressed, compressedBefore + 1, 'one compressed batch went out')

    const decompressedBefore = codec.decompressed
    const records = await readWithKafkajs(t, topic, messages.length)
    assert.deepEqual(plain(records), messages)
    assert.deepEqual(
      records.map((r) => r.offset),
      messages.map((_, i) => String(i)),
    )
    assert.ok(codec.decompressed > decompressedBefore, `the broker served the batch ${name}-compressed`)
    // The test helper reads the stored (compressed) batch too.
    assert.deepEqual(
      broker.messages(topic).map((m) => m.value.toString()),
      messages.map((m) => m.value),
    )
  })
}

for (const [name, codec] of Object.entries(CODECS)) {
  test(`librdkafka produces ${name} and kafkajs reads it back`, { skip: skipWithoutLibrdkafka }, async (t) => {
    assert.ok(!librdkafkaMissing, librdkafkaMissing)
    const topic = await createTopic(`rdkafka-to-kafkajs-${name}`)
    const messages = sampleMessages(name, 50)
    const wire = messages.map((m) => ({ key: m.key, value: m.value, headers: Object.entries(m.headers) }))
    await librdkafka(['produce', broker.brokers[0], topic, JSON.stringify(wire), name])

    const decompressedBefore = codec.decompressed
    const records = await readWithKafkajs(t, topic, messages.length)
    assert.deepEqual(plain(records), messages)
    assert.ok(codec.decompressed > decompressedBefore, `librdkafka's ${name} batch was served as sent`)
  })

  test(`kafkajs produces ${name} and librdkafka reads it back`, { skip: skipWithoutLibrdkafka }, async () => {
    assert.ok(!librdkafkaMissing, librdkafkaMissing)
    const topic = await createTopic(`kafkajs-to-rdkafka-${name}`)
    const messages = sampleMessages(name, 50)
    await producer.send({ topic, compression: codec.type, messages })

    const out = await librdkafka(['consume', broker.brokers[0], topic, String(messages.length)])
    const read = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    assert.deepEqual(
      read.map((r) => r.offset),
      messages.map((_, i) => i),
    )
    assert.deepEqual(
      read.map((r) => ({ key: r.key, value: r.value, headers: Object.fromEntries(r.headers) })),
      messages,
    )
  })
}

test('a topic with compression.type=gzip stores a snappy batch gzip-compressed, records intact', async (t) => {
  const topic = await createTopic('recompressed', [{ name: 'compression.type', value: 'gzip' }])
  const messages = sampleMessages('recompressed', 30)
  await producer.send({ topic, compression: CompressionTypes.Snappy, messages })

  const gzipBefore = CODECS.gzip.decompressed
  const snappyBefore = CODECS.snappy.decompressed
  const records = await readWithKafkajs(t, topic, messages.length)
  assert.deepEqual(plain(records), messages)
  assert.ok(CODECS.gzip.decompressed > gzipBefore, 'served gzip-compressed')
  assert.equal(CODECS.snappy.decompressed, snappyBefore, 'not as the producer compressed it')
})

for (const [name, codec] of Object.entries(CODECS)) {
  test(`compaction of a ${name} topic keeps the latest value per key, still ${name}-compressed`, async (t) => {
    const topic = await createTopic(`compacted-${name}`, [{ name: 'cleanup.policy', value: 'compact' }])
    for (let round = 0; round < 3; round++) {
      await producer.send({
        topic,
        compression: codec.type,
        messages: ['a', 'b', 'c'].map((key) => ({ key, value: `${key}${round}`, headers: { round: String(round) } })),
      })
    }
    // The last batch keeps a and loses b and c to later values: it is written anew.
    await producer.send({
      topic,
      compression: codec.type,
      messages: [
        { key: 'a', value: 'a-last', headers: { twice: ['x', 'y'] } },
        { key: 'b', value: 'b-mid' },
        { key: 'c', value: 'c-mid' },
      ],
    })
    await producer.send({ topic, compression: codec.type, messages: [{ key: 'b', value: 'b-last' }, { key: 'c', value: null }] })
    assert.equal(broker.applyRetention(), 11, 'every superseded record')

    const decompressedBefore = codec.decompressed
    const records = await readWithKafkajs(t, topic, 3)
    assert.deepEqual(
      records.map((r) => [r.offset, r.key.toString(), r.value?.toString() ?? null]),
      [
        ['9', 'a', 'a-last'],
        ['12', 'b', 'b-last'],
        ['13', 'c', null],
      ],
      'offsets kept, a recent tombstone kept',
    )
    assert.deepEqual(
      records[0].headers.twice.map(String),
      ['x', 'y'],
      'a kept record keeps its repeated header, byte for byte',
    )
    assert.ok(codec.decompressed > decompressedBefore, `the compacted batches are still ${name}`)
  })
}

test('ListOffsets by timestamp finds records inside compressed batches', async () => {
  const base = Date.now() - 60_000
  for (const [name, codec] of Object.entries(CODECS)) {
    const topic = await createTopic(`timestamps-${name}`)
    // Two batches of ten, timestamps base, base+10, ... inside each.
    for (let batch = 0; batch < 2; batch++) {
      await producer.send({
        topic,
        compression: codec.type,
        messages: Array.from({ length: 10 }, (_, i) => ({
          value: `v${batch * 10 + i}`,
          timestamp: String(base + (batch * 10 + i) * 10),
        })),
      })
    }
    const at = async (timestamp) => (await admin.fetchTopicOffsetsByTimestamp(topic, timestamp))[0].offset
    assert.equal(await at(base), '0', name)
    assert.equal(await at(base + 35), '4', `${name}: inside the first batch`)
    assert.equal(await at(base + 150), '15', `${name}: inside the second batch`)
    assert.equal(await at(base + 191), '20', `${name}: after the last record, the log end`)
  }
})

// ---- Hand-built Produce requests on a raw socket -------------------------------------------

const PRODUCE = 0
const CORRUPT_MESSAGE = 2
const UNSUPPORTED_COMPRESSION_TYPE = 76
const INVALID_RECORD = 87

/** CRC-32C (Castagnoli), as Kafka checksums v2 record batches. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()
function crc32c(bytes) {
  let crc = 0xffffffff
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** A zigzag varint, as record fields are written. */
function varint(value) {
  let zigzag = (value << 1) ^ (value >> 31)
  const out = []
  do {
    let byte = zigzag & 0x7f
    zigzag >>>= 7
    if (zigzag !== 0) byte |= 0x80
    out.push(byte)
  } while (zigzag !== 0)
  return Buffer.from(out)
}

/** One v2 record with a null key, the given value, no headers. */
function record(offsetDelta, value) {
  const body = Buffer.concat([
    Buffer.from([0]), // attributes
    varint(0), // timestamp delta
    varint(offsetDelta),
    varint(-1), // null key
    varint(value.length),
    Buffer.from(value),
    varint(0), // headers
  ])
  return Buffer.concat([varint(body.length), body])
}

/**
 * A v2 record batch around `payload` (the records section as it goes on the wire, i.e. already
 * compressed), claiming `count` records, with a valid CRC over whatever the payload is.
 */
function batch({ codecId, count, payload }) {
  const header = Buffer.alloc(61)
  header.writeBigInt64BE(0n, 0) // base offset
  header.writeInt32BE(61 - 12 + payload.length, 8) // batch length
  header.writeInt32BE(-1, 12) // partition leader epoch
  header.writeInt8(2, 16) // magic
  header.writeInt16BE(codecId, 21) // attributes
  header.writeInt32BE(count - 1, 23) // last offset delta
  const now = BigInt(Date.now())
  header.writeBigInt64BE(now, 27) // first timestamp
  header.writeBigInt64BE(now, 35) // max timestamp
  header.writeBigInt64BE(-1n, 43) // producer id
  header.writeInt16BE(-1, 51) // producer epoch
  header.writeInt32BE(-1, 53) // base sequence
  header.writeInt32BE(count, 57) // records count
  const whole = Buffer.concat([header, payload])
  whole.writeUInt32BE(crc32c(whole.subarray(21)), 17)
  return whole
}

function produceRequest(correlationId, topic, records, version) {
  const body = Buffer.concat([
    int16(PRODUCE),
    int16(version),
    int32(correlationId),
    string('raw-compression-test'),
    int16(-1), // transactional id: null
    int16(-1), // acks
    int32(10_000), // timeout
    int32(1), // one topic
    string(topic),
    int32(1), // one partition
    int32(0),
    int32(records.length),
    records,
  ])
  return Buffer.concat([int32(body.length), body])
}

/** Reads a Produce v3-v8 response's correlation id and the one partition's error code. */
function parseProduceResponse(frame) {
  let at = 0
  const correlationId = frame.readInt32BE(at)
  at += 4
  assert.equal(frame.readInt32BE(at), 1, 'one topic')
  at += 4
  at += 2 + frame.readInt16BE(at) // topic name
  assert.equal(frame.readInt32BE(at), 1, 'one partition')
  at += 4
  at += 4 // partition index
  return { correlationId, errorCode: frame.readInt16BE(at), baseOffset: frame.readBigInt64BE(at + 2) }
}

/** A raw connection that sends whole frames and reads whole response frames. */
async function rawConnection(t) {
  const conn = await wire.rawConnection(broker.port)
  defer(t, () => conn.destroy())
  let correlationId = 0
  return {
    /** Sends a Produce request and resolves with its parsed response. */
    async produce(topic, records, { version = 7 } = {}) {
      correlationId += 1
      conn.send(produceRequest(correlationId, topic, records, version))
      const response = parseProduceResponse(await conn.readFrame())
      assert.equal(response.correlationId, correlationId)
      return response
    },
  }
}

test('garbage under a valid CRC is CORRUPT_MESSAGE for every codec, and the connection carries on', async (t) => {
  const topic = await createTopic('corrupt')
  const connection = await rawConnection(t)
  const records = Buffer.concat([record(0, 'one'), record(1, 'two')])
  const garbage = Buffer.from('this is not what any codec wrote, though the CRC covers it')
  for (const [name, codec] of Object.entries(CODECS)) {
    // Starts like the codec's own data, then is not.
    const lookalike = {
      gzip: Buffer.concat([zlib.gzipSync(records).subarray(0, 10), garbage]),
      snappy: garbage,
      lz4: Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), garbage]),
      zstd: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), garbage]),
    }[name]
    const corrupt = await connection.produce(topic, batch({ codecId: codec.id, count: 2, payload: lookalike }))
    assert.equal(corrupt.errorCode, CORRUPT_MESSAGE, name)
  }
  // The records section decompresses but holds one record where the header claims two.
  const short = await connection.produce(
    topic,
    batch({ codecId: CODECS.gzip.id, count: 2, payload: zlib.gzipSync(record(0, 'only')) }),
  )
  assert.equal(short.errorCode, CORRUPT_MESSAGE, 'record count disagrees with the header')
  // Offset deltas 0, 0 instead of 0, 1.
  const repeated = await connection.produce(
    topic,
    batch({ codecId: CODECS.gzip.id, count: 2, payload: zlib.gzipSync(Buffer.concat([record(0, 'x'), record(0, 'y')])) }),
  )
  assert.equal(repeated.errorCode, CORRUPT_MESSAGE, 'offset deltas disagree with the header')
  // A header whose count and last offset delta disagree is Kafka's INVALID_RECORD.
  const inconsistent = batch({ codecId: CODECS.gzip.id, count: 2, payload: zlib.gzipSync(records) })
  inconsistent.writeInt32BE(5, 23)
  inconsistent.writeUInt32BE(crc32c(inconsistent.subarray(21)), 17)
  assert.equal((await connection.produce(topic, inconsistent)).errorCode, INVALID_RECORD)
  // As Kafka: ZStandard only from Produce v7 on.
  const zstdBatch = batch({ codecId: CODECS.zstd.id, count: 2, payload: await zstd.compress(records, 3) })
  const old = await connection.produce(topic, zstdBatch, { version: 6 })
  assert.equal(old.errorCode, UNSUPPORTED_COMPRESSION_TYPE, 'zstd at Produce v6')

  // The same connection still works, and nothing of the refused batches landed.
  const good = await connection.produce(topic, batch({ codecId: CODECS.gzip.id, count: 2, payload: zlib.gzipSync(records) }))
  assert.deepEqual([good.errorCode, good.baseOffset], [0, 0n])
  const zstdGood = await connection.produce(topic, zstdBatch)
  assert.deepEqual([zstdGood.errorCode, zstdGood.baseOffset], [0, 2n])
  assert.deepEqual(
    broker.messages(topic).map((m) => [m.offset, m.value.toString()]),
    [
      [0, 'one'],
      [1, 'two'],
      [2, 'one'],
      [3, 'two'],
    ],
  )
  const read = await readWithKafkajs(t, topic, 4)
  assert.deepEqual(
    read.map((r) => r.value.toString()),
    ['one', 'two', 'one', 'two'],
  )
})
