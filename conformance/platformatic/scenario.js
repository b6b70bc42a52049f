'use strict'

// The conformance scenario with @platformatic/kafka.
// Usage: node scenario.js <bootstrap host:port> [classic|consumer]
// The consumers join with the given group protocol: classic (the default) or consumer (KIP-848).
// Every step asserts what it saw and prints one line; any mismatch exits non-zero.

const assert = require('node:assert/strict')
const {
  Admin,
  Consumer,
  FetchIsolationLevels,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} = require('@platformatic/kafka')

const bootstrap = process.argv[2]
const GROUP_PROTOCOL = process.argv[3] ?? 'classic'
if (!bootstrap || !['classic', 'consumer'].includes(GROUP_PROTOCOL)) {
  console.error('usage: node scenario.js <host:port> [classic|consumer]')
  process.exit(2)
}

const run = `${process.pid}-${Date.now()}`
const TOPIC = `conformance-platformatic-${run}`
const TXN_TOPIC = `conformance-platformatic-txn-${run}`
const GROUP = `conformance-platformatic-${GROUP_PROTOCOL}-group-${run}`
const STEP_DEADLINE_MS = 20_000
const base = { clientId: 'conformance-platformatic', bootstrapBrokers: [bootstrap], retries: 5, retryDelay: 100 }

const START = Date.now()
let last = START
/** Prints a step with how long it took and the time since the scenario started. */
function step(name, detail) {
  const now = Date.now()
  console.log(`step ${name}: ${detail} (${now - last} ms, at ${now - START} ms)`)
  last = now
}

/** A group member reads `topic` from its committed offsets (or the beginning) until
 * `done(records)` holds. Returns the open consumer and the records in arrival order. */
async function consumeUntil({ groupId, topic, done, what, isolationLevel = FetchIsolationLevels.READ_COMMITTED }) {
  const consumer = new Consumer({ ...base, groupId, groupProtocol: GROUP_PROTOCOL, deserializers: stringDeserializers, maxWaitTime: 100 })
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
    isolationLevel,
  })
  const records = []
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(records)}`)),
      STEP_DEADLINE_MS,
    )
  })
  const reading = (async () => {
    for await (const message of stream) {
      records.push({
        partition: message.partition,
        offset: Number(message.offset),
        key: message.key,
        value: message.value,
        headers: Object.fromEntries(message.headers),
      })
      if (done(records)) return
    }
  })()
  try {
    await Promise.race([reading, deadline])
  } finally {
    clearTimeout(timer)
  }
  await stream.close()
  return { consumer, records }
}

/** The next offset to read of each partition in `records`, as a commit names it. */
function nextOffsets(records) {
  const next = new Map()
  for (const r of records) next.set(r.partition, Math.max(next.get(r.partition) ?? 0, r.offset + 1))
  return next
}

async function commit(consumer, topic, offsets) {
  await consumer.commit({
    offsets: [...offsets].map(([partition, offset]) => ({ topic, partition, offset: BigInt(offset), leaderEpoch: 0 })),
  })
}

async function main() {
  const admin = new Admin(base)

  // 1. A three-partition topic (and a one-partition topic for the transactions).
  const created = await admin.createTopics({ topics: [TOPIC], partitions: 3, replicas: 1 })
  assert.deepEqual(created.map((t) => [t.name, t.partitions]), [[TOPIC, 3]], 'createTopics reports the topic')
  await admin.createTopics({ topics: [TXN_TOPIC], partitions: 1, replicas: 1 })
  step('create-topic', `${TOPIC} with 3 partitions`)

  // 2. Keyed messages with headers.
  const producer = new Producer({ ...base, serializers: stringSerializers, autocreateTopics: false })
  const first = Array.from({ length: 6 }, (_, i) => ({
    key: `key-${i}`,
    value: `value-${i}`,
    headers: { trace: `t-${i}`, client: 'platformatic' },
  }))
  const sent = await producer.send({
    messages: first.map((m) => ({ topic: TOPIC, key: m.key, value: m.value, headers: new Map(Object.entries(m.headers)) })),
  })
  assert.ok(sent.offsets.length > 0 && sent.offsets.every((o) => o.topic === TOPIC), `send reports where it wrote: ${JSON.stringify(sent.offsets, (k, v) => (typeof v === 'bigint' ? String(v) : v))}`)
  step('produce', `${first.length} keyed messages with headers`)

  // 3. A consumer group reads them all and commits.
  const one = await consumeUntil({
    groupId: GROUP,
    topic: TOPIC,
    done: (rs) => rs.length >= first.length,
    what: `the ${first.length} produced messages`,
  })
  const seen = one.records.map(({ key, value, headers }) => ({ key, value, headers })).sort((a, b) => a.key.localeCompare(b.key))
  assert.deepEqual(seen, first, 'the group sees every message with its key, value and headers')
  for (const r of one.records) assert.ok(r.partition >= 0 && r.partition < 3, `partition ${r.partition} exists`)
  const committed = nextOffsets(one.records)
  await commit(one.consumer, TOPIC, committed)
  await one.consumer.close()
  step('consume-commit', `group ${GROUP} saw ${one.records.length} messages and committed ${JSON.stringify([...committed])}`)

  // 4. After the commit, one more message on each partition; a new member of the same group
  // resumes from the commit (the earliest fallback would replay everything if it were lost).
  const second = [0, 1, 2].map((p) => ({ partition: p, key: `after-${p}`, value: `after-value-${p}`, headers: { trace: `after-${p}` } }))
  await producer.send({
    messages: second.map((m) => ({ topic: TOPIC, partition: m.partition, key: m.key, value: m.value, headers: new Map(Object.entries(m.headers)) })),
  })
  const two = await consumeUntil({
    groupId: GROUP,
    topic: TOPIC,
    done: (rs) => rs.length >= second.length,
    what: 'the messages produced after the commit',
  })
  const resumed = two.records.map(({ partition, key, value, headers }) => ({ partition, key, value, headers }))
  resumed.sort((a, b) => a.partition - b.partition)
  assert.deepEqual(resumed, second, 'the restarted consumer sees only the messages produced after the commit')
  for (const r of two.records) {
    assert.ok(r.offset >= (committed.get(r.partition) ?? 0), `offset ${r.offset} of partition ${r.partition} is not before the commit`)
  }
  await commit(two.consumer, TOPIC, nextOffsets(two.records))
  await two.consumer.close()
  step('resume', `a new consumer of ${GROUP} saw only ${JSON.stringify(resumed.map((r) => r.key))}`)

  // 5. A committed, an aborted and another committed transaction; read_committed sees only the
  // committed records, read_uncommitted sees the aborted ones too (so they were really written).
  const txProducer = new Producer({
    ...base,
    serializers: stringSerializers,
    idempotent: true,
    transactionalId: `conformance-platformatic-tx-${run}`,
    autocreateTopics: false,
  })
  for (const { values, commitIt } of [
    { values: ['committed-1', 'committed-2'], commitIt: true },
    { values: ['aborted-1', 'aborted-2'], commitIt: false },
    { values: ['committed-3'], commitIt: true },
  ]) {
    const txn = await txProducer.beginTransaction()
    await txn.send({ messages: values.map((value) => ({ topic: TXN_TOPIC, key: 'tx', value })) })
    if (commitIt) await txn.commit()
    else await txn.abort()
  }
  await txProducer.close()
  const hasLast = (rs) => rs.some((r) => r.value === 'committed-3')
  const readCommitted = await consumeUntil({ groupId: `${GROUP}-read-committed`, topic: TXN_TOPIC, done: hasLast, what: 'committed-3 (read_committed)' })
  await readCommitted.consumer.close()
  assert.deepEqual(
    readCommitted.records.map((r) => r.value),
    ['committed-1', 'committed-2', 'committed-3'],
    'read_committed sees only committed transactions',
  )
  const readUncommitted = await consumeUntil({
    groupId: `${GROUP}-read-uncommitted`,
    topic: TXN_TOPIC,
    done: hasLast,
    what: 'committed-3 (read_uncommitted)',
    isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
  })
  await readUncommitted.consumer.close()
  assert.deepEqual(
    readUncommitted.records.map((r) => r.value),
    ['committed-1', 'committed-2', 'aborted-1', 'aborted-2', 'committed-3'],
    'read_uncommitted sees the aborted records too',
  )
  step('transactions', `read_committed saw ${JSON.stringify(readCommitted.records.map((r) => r.value))}`)

  // 6. Admin: topics and groups.
  const topics = await admin.listTopics()
  assert.ok(topics.includes(TOPIC) && topics.includes(TXN_TOPIC), `listTopics includes both topics: ${topics}`)
  const metadata = await admin.metadata({ topics: [TOPIC], forceUpdate: true })
  assert.equal(metadata.brokers.size, 1, 'one broker')
  const [brokerId] = metadata.brokers.keys()
  const described = metadata.topics.get(TOPIC)
  assert.equal(described.partitionsCount, 3)
  assert.deepEqual(
    described.partitions.map((p) => [p.leader, p.replicas, p.isr]),
    [0, 1, 2].map(() => [brokerId, [brokerId], [brokerId]]),
    'the topic has partitions 0-2 led by the broker',
  )
  // listGroups asks for classic groups unless told otherwise.
  const groups = await admin.listGroups({ types: [GROUP_PROTOCOL] })
  const listed = groups.get(GROUP)
  assert.ok(listed, `listGroups includes ${GROUP}: ${JSON.stringify([...groups.keys()])}`)
  assert.equal(listed.protocolType, 'consumer')
  assert.equal(listed.groupType, GROUP_PROTOCOL)
  assert.equal(listed.state, 'EMPTY')
  const group = (await admin.describeGroups({ groups: [GROUP] })).get(GROUP)
  assert.equal(group.id, GROUP)
  if (GROUP_PROTOCOL === 'classic') {
    assert.equal(group.state, 'EMPTY', 'every member left')
    assert.equal(group.protocolType, 'consumer')
    assert.equal(group.members.size, 0)
  } else {
    // describeGroups sends DescribeGroups (v5), which describes classic groups only: Kafka
    // answers a consumer group as Dead (ConsumerGroupDescribe is what describes it).
    assert.equal(group.state, 'DEAD', 'DescribeGroups v5 does not describe a consumer group')
  }
  const [offsets] = await admin.listConsumerGroupOffsets({ groups: [GROUP] })
  const [listedOffsets] = await admin.listOffsets({
    topics: [{ name: TOPIC, partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }],
  })
  const highWatermarks = listedOffsets.partitions.map((p) => [p.partitionIndex, p.offset]).sort((a, b) => a[0] - b[0])
  assert.deepEqual(
    offsets.topics.find((t) => t.name === TOPIC).partitions.map((p) => [p.partitionIndex, p.committedOffset]).sort((a, b) => a[0] - b[0]),
    highWatermarks,
    'the group committed up to the high watermark of every partition',
  )
  const total = highWatermarks.reduce((n, [, o]) => n + Number(o), 0)
  assert.equal(total, first.length + second.length, 'every message produced is in the log once')
  step('admin', `listed ${topics.length} topics, described ${TOPIC} (3 partitions), ${GROUP_PROTOCOL} group ${GROUP} EMPTY with offsets at the high watermarks`)

  await producer.close()
  await admin.close()
  console.log(`scenario passed in ${Date.now() - START} ms`)
}

main().catch((err) => {
  console.error(`scenario failed: ${err.stack || err}`)
  if (err.errors) console.error(JSON.stringify(err.errors, (k, v) => (typeof v === 'bigint' ? String(v) : v), 2))
  process.exit(1)
})
