'use strict'

// The conformance scenario with kafkajs 2.2.4. Usage: node scenario.js <bootstrap host:port>
// Every step asserts what it saw and prints one line; any mismatch exits non-zero.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')

const bootstrap = process.argv[2]
if (!bootstrap) {
  console.error('usage: node scenario.js <host:port>')
  process.exit(2)
}

const run = `${process.pid}-${Date.now()}`
const TOPIC = `conformance-kafkajs-${run}`
const TXN_TOPIC = `conformance-kafkajs-txn-${run}`
const GROUP = `conformance-kafkajs-group-${run}`
const STEP_DEADLINE_MS = 20_000

const kafka = new Kafka({
  clientId: 'conformance-kafkajs',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 5, initialRetryTime: 100 },
})

const START = Date.now()
let last = START
/** Prints a step with how long it took and the time since the scenario started. */
function step(name, detail) {
  const now = Date.now()
  console.log(`step ${name}: ${detail} (${now - last} ms, at ${now - START} ms)`)
  last = now
}

function text(buffer) {
  return buffer === null || buffer === undefined ? null : buffer.toString()
}

function headersOf(message) {
  return Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, text(v)]))
}

/** Consumes with a group member until `done(records)` holds; returns the records, in arrival order. */
async function consumeUntil({ groupId, readUncommitted = false, topic, done, what }) {
  const consumer = kafka.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const records = []
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      records.push({
        partition,
        offset: Number(message.offset),
        key: text(message.key),
        value: text(message.value),
        headers: headersOf(message),
      })
      if (done(records)) finish()
    },
  })
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(records)}`)),
      STEP_DEADLINE_MS,
    )
  })
  try {
    await Promise.race([finished, deadline])
  } finally {
    clearTimeout(timer)
  }
  return { consumer, records }
}

/** The next offset to read of each partition in `records`, as a commit names it. */
function nextOffsets(records) {
  const next = new Map()
  for (const r of records) next.set(r.partition, Math.max(next.get(r.partition) ?? 0, r.offset + 1))
  return next
}

async function main() {
  const admin = kafka.admin()
  await admin.connect()

  // 1. A three-partition topic (and a one-partition topic for the transactions).
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: TOPIC, numPartitions: 3, replicationFactor: 1 },
      { topic: TXN_TOPIC, numPartitions: 1, replicationFactor: 1 },
    ],
  })
  assert.equal(created, true, 'createTopics reports the topics as created')
  step('create-topic', `${TOPIC} with 3 partitions`)

  // 2. Keyed messages with headers.
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const first = Array.from({ length: 6 }, (_, i) => ({
    key: `key-${i}`,
    value: `value-${i}`,
    headers: { trace: `t-${i}`, client: 'kafkajs' },
  }))
  const sent = await producer.send({ topic: TOPIC, messages: first })
  for (const r of sent) assert.equal(r.errorCode, 0, `produce to partition ${r.partition} succeeded`)
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
  await one.consumer.commitOffsets(
    [...committed].map(([partition, offset]) => ({ topic: TOPIC, partition, offset: String(offset) })),
  )
  await one.consumer.disconnect()
  step('consume-commit', `group ${GROUP} saw ${one.records.length} messages and committed ${JSON.stringify([...committed])}`)

  // 4. After the commit, one more message on each partition; a new member of the same group
  // resumes from the commit (fromBeginning would replay everything if the commit were lost).
  const second = [0, 1, 2].map((p) => ({ partition: p, key: `after-${p}`, value: `after-value-${p}`, headers: { trace: `after-${p}` } }))
  await producer.send({ topic: TOPIC, messages: second })
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
  const finalOffsets = nextOffsets(two.records)
  await two.consumer.commitOffsets(
    [...finalOffsets].map(([partition, offset]) => ({ topic: TOPIC, partition, offset: String(offset) })),
  )
  await two.consumer.disconnect()
  step('resume', `a new consumer of ${GROUP} saw only ${JSON.stringify(resumed.map((r) => r.key))}`)

  // 5. A committed, an aborted and another committed transaction; read_committed sees only the
  // committed records, read_uncommitted sees the aborted ones too (so they were really written).
  const txProducer = kafka.producer({
    transactionalId: `conformance-kafkajs-tx-${run}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  })
  await txProducer.connect()
  const txns = [
    { values: ['committed-1', 'committed-2'], commit: true },
    { values: ['aborted-1', 'aborted-2'], commit: false },
    { values: ['committed-3'], commit: true },
  ]
  for (const { values, commit } of txns) {
    const txn = await txProducer.transaction()
    await txn.send({ topic: TXN_TOPIC, messages: values.map((value) => ({ key: 'tx', value })) })
    if (commit) await txn.commit()
    else await txn.abort()
  }
  await txProducer.disconnect()
  const readCommitted = await consumeUntil({
    groupId: `${GROUP}-read-committed`,
    topic: TXN_TOPIC,
    done: (rs) => rs.some((r) => r.value === 'committed-3'),
    what: 'committed-3 with read_committed',
  })
  await readCommitted.consumer.disconnect()
  assert.deepEqual(
    readCommitted.records.map((r) => r.value),
    ['committed-1', 'committed-2', 'committed-3'],
    'read_committed sees only committed transactions',
  )
  const readUncommitted = await consumeUntil({
    groupId: `${GROUP}-read-uncommitted`,
    readUncommitted: true,
    topic: TXN_TOPIC,
    done: (rs) => rs.some((r) => r.value === 'committed-3'),
    what: 'committed-3 with read_uncommitted',
  })
  await readUncommitted.consumer.disconnect()
  assert.deepEqual(
    readUncommitted.records.map((r) => r.value),
    ['committed-1', 'committed-2', 'aborted-1', 'aborted-2', 'committed-3'],
    'read_uncommitted sees the aborted records too',
  )
  step('transactions', `read_committed saw ${JSON.stringify(readCommitted.records.map((r) => r.value))}`)

  // 6. Admin: topics and groups.
  const topics = await admin.listTopics()
  assert.ok(topics.includes(TOPIC) && topics.includes(TXN_TOPIC), `listTopics includes both topics: ${topics}`)
  const cluster = await admin.describeCluster()
  assert.equal(cluster.brokers.length, 1, 'one broker')
  const brokerId = cluster.brokers[0].nodeId
  const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC] })
  const described = metadata.topics[0]
  assert.equal(described.name, TOPIC)
  assert.deepEqual(
    described.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort((a, b) => a[0] - b[0]),
    [0, 1, 2].map((p) => [p, brokerId, [brokerId], [brokerId]]),
    'the topic has partitions 0-2 led by the broker',
  )
  const { groups } = await admin.listGroups()
  const listed = groups.find((g) => g.groupId === GROUP)
  assert.ok(listed, `listGroups includes ${GROUP}: ${JSON.stringify(groups)}`)
  assert.equal(listed.protocolType, 'consumer')
  const { groups: [group] } = await admin.describeGroups([GROUP])
  assert.equal(group.groupId, GROUP)
  assert.equal(group.state, 'Empty', 'every member left')
  assert.equal(group.protocolType, 'consumer')
  assert.deepEqual(group.members, [])
  const offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
  const highWatermarks = await admin.fetchTopicOffsets(TOPIC)
  assert.deepEqual(
    offsets[0].partitions.map((p) => [p.partition, p.offset]).sort((a, b) => a[0] - b[0]),
    highWatermarks.map((p) => [p.partition, p.high]).sort((a, b) => a[0] - b[0]),
    'the group committed up to the high watermark of every partition',
  )
  const total = highWatermarks.reduce((n, p) => n + Number(p.high), 0)
  assert.equal(total, first.length + second.length, 'every message produced is in the log once')
  step('admin', `listed ${topics.length} topics, described ${TOPIC} (3 partitions), group ${GROUP} Empty with offsets at the high watermarks`)

  await producer.disconnect()
  await admin.disconnect()
  console.log(`scenario passed in ${Date.now() - START} ms`)
}

main().catch((err) => {
  console.error(`scenario failed: ${err.stack || err}`)
  process.exit(1)
})
