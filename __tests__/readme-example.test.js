'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startKafka, client, defer, startConsumer, DEADLINE_MS } = require('./helpers')

let broker
before(async () => {
  broker = await startKafka()
})
after(async () => {
  await broker.stop()
})

// The example in README.md, step for step.
test('the README example: a 3-partition topic, a producer, a consumer group reads every message back', async (t) => {
  const kafka = client(broker)

  const admin = kafka.admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  assert.equal(
    await admin.createTopics({ topics: [{ topic: 'greetings', numPartitions: 3 }] }),
    true,
  )
  const [metadata] = (await admin.fetchTopicMetadata({ topics: ['greetings'] })).topics
  assert.deepEqual(
    metadata.partitions.map((p) => p.partitionId).sort(),
    [0, 1, 2],
  )

  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  const sent = Array.from({ length: 30 }, (_, i) => ({ key: `user-${i % 5}`, value: `hello ${i}` }))
  await producer.send({ topic: 'greetings', messages: sent })

  const consumer = await startConsumer(kafka, { topics: ['greetings'], groupId: 'readme' })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(sent.length)

  assert.deepEqual(
    records.map((r) => `${r.key}=${r.value}`).sort(),
    sent.map((m) => `${m.key}=${m.value}`).sort(),
  )
  // The keys spread over more than one partition, so all three are really in use.
  assert.ok(new Set(records.map((r) => r.partition)).size > 1)
  // Nothing more than what was sent arrives.
  assert.equal(records.length, sent.length)
}, { timeout: DEADLINE_MS * 2 })
