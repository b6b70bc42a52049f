'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startBroker, client, defer, startConsumer, uniqueName, partitionsServed, DEADLINE_MS } = require('./helpers')

let broker
before(async () => {
  broker = await startBroker()
})
after(async () => {
  await broker.stop()
})

// The kafkajs example in README.md, step for step, with assertions on what it prints.
test('the README example: a 3-partition topic, a producer, a consumer group reads every message back', async (t) => {
  const kafka = client(broker)
  // The README's names, made unique so the test can share a broker (npm run test:external).
  const topic = uniqueName('greetings')

  const admin = kafka.admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  assert.equal(
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }),
    true,
  )
  await partitionsServed(admin, topic)
  const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics
  assert.deepEqual(metadata.partitions.map((p) => p.partitionId).sort(), [0, 1, 2])

  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  const sent = ['alice', 'bob', 'carol', 'dave'].map((name) => ({
    key: name,
    value: `hello from ${name}`,
  }))
  await producer.send({ topic, messages: sent })

  const consumer = await startConsumer(kafka, {
    topics: [topic],
    groupId: uniqueName('readme'),
    fromBeginning: true,
  })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(sent.length)

  assert.deepEqual(
    records.map((r) => `${r.key} -> ${r.value}`).sort(),
    sent.map((m) => `${m.key} -> ${m.value}`).sort(),
  )
  // kafkajs hashes these four keys onto all three partitions (alice, bob: 0; dave: 1; carol: 2).
  assert.deepEqual(
    Object.fromEntries(records.map((r) => [r.key.toString(), r.partition])),
    { alice: 0, bob: 0, carol: 2, dave: 1 },
  )
}, { timeout: DEADLINE_MS * 2 })
