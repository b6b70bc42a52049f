'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startBroker, client, defer, startConsumer, uniqueName, partitionsServed } = require('./helpers')

let broker
let kafka
let admin
let producer
before(async () => {
  broker = await startBroker()
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

async function createTopic(numPartitions) {
  const topic = uniqueName('offsets')
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions }] }), true)
  await partitionsServed(admin, topic)
  return topic
}

const sortByPartition = (offsets) => [...offsets].sort((a, b) => a.partition - b.partition)

test('a consumer that seeks to an offset reads from that offset on', async (t) => {
  const topic = await createTopic(1)
  const values = Array.from({ length: 10 }, (_, i) => `m${i}`)
  await producer.send({ topic, messages: values.map((value) => ({ value })) })

  const consumer = await startConsumer(kafka, {
    topics: [topic],
    fromBeginning: true,
    afterRun: (c) => c.seek({ topic, partition: 0, offset: '6' }),
  })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor((r) => r.some((m) => m.value.toString() === 'm9'))
  assert.deepEqual(
    records.map((r) => [r.offset, r.value.toString()]),
    [['6', 'm6'], ['7', 'm7'], ['8', 'm8'], ['9', 'm9']],
  )
})

test('admin.fetchTopicOffsets reports the earliest and latest offset of every partition', async () => {
  const topic = await createTopic(3)
  assert.deepEqual(sortByPartition(await admin.fetchTopicOffsets(topic)), [
    { partition: 0, offset: '0', high: '0', low: '0' },
    { partition: 1, offset: '0', high: '0', low: '0' },
    { partition: 2, offset: '0', high: '0', low: '0' },
  ])

  const to = (partition, n) => Array.from({ length: n }, (_, i) => ({ partition, value: `${i}` }))
  await producer.send({ topic, messages: [...to(0, 3), ...to(2, 5)] })
  await producer.send({ topic, messages: to(2, 2) })

  assert.deepEqual(sortByPartition(await admin.fetchTopicOffsets(topic)), [
    { partition: 0, offset: '3', high: '3', low: '0' },
    { partition: 1, offset: '0', high: '0', low: '0' },
    { partition: 2, offset: '7', high: '7', low: '0' },
  ])
})

test('admin.fetchTopicOffsetsByTimestamp finds the first message at or after a time', async () => {
  const topic = await createTopic(2)
  const base = Date.now() - 60_000
  // Partition 0 holds messages one second apart; partition 1 stays empty.
  await producer.send({
    topic,
    messages: [0, 1, 2, 3].map((i) => ({
      partition: 0,
      value: `at ${i}s`,
      timestamp: String(base + i * 1000),
    })),
  })
  // A second batch, so the lookup has to cross batch boundaries.
  await producer.send({
    topic,
    messages: [{ partition: 0, value: 'at 10s', timestamp: String(base + 10_000) }],
  })

  const at = async (timestamp) =>
    sortByPartition(await admin.fetchTopicOffsetsByTimestamp(topic, timestamp))
  // Before everything: the first message. An empty partition answers with its end.
  assert.deepEqual(await at(base - 5000), [
    { partition: 0, offset: '0' },
    { partition: 1, offset: '0' },
  ])
  assert.deepEqual((await at(base + 1000))[0], { partition: 0, offset: '1' })
  assert.deepEqual((await at(base + 1500))[0], { partition: 0, offset: '2' })
  assert.deepEqual((await at(base + 3000))[0], { partition: 0, offset: '3' })
  assert.deepEqual((await at(base + 3001))[0], { partition: 0, offset: '4' })
  // After the last message the broker has no offset (-1) and kafkajs falls back to the end.
  assert.deepEqual((await at(base + 20_000))[0], { partition: 0, offset: '5' })
})

test('a deleted topic created again starts at offset 0 with none of the old messages', async (t) => {
  const topic = await createTopic(2)
  await producer.send({
    topic,
    messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `before-${i}` })),
  })
  assert.equal(sortByPartition(await admin.fetchTopicOffsets(topic))[0].high, '5')

  await admin.deleteTopics({ topics: [topic] })
  assert.ok(!(await admin.listTopics()).includes(topic), 'the topic is still listed after delete')

  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true)
  await partitionsServed(admin, topic)
  assert.deepEqual(sortByPartition(await admin.fetchTopicOffsets(topic)), [
    { partition: 0, offset: '0', high: '0', low: '0' },
    { partition: 1, offset: '0', high: '0', low: '0' },
  ])

  const [metadata] = await producer.send({
    topic,
    messages: [
      { partition: 0, value: 'after-0' },
      { partition: 0, value: 'after-1' },
    ],
  })
  assert.equal(metadata.baseOffset, '0')

  // Partition 0 is read in order, so any old message would arrive before the new ones.
  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor((r) => r.some((m) => m.value.toString() === 'after-1'))
  assert.deepEqual(
    records.map((r) => [r.partition, r.offset, r.value.toString()]),
    [
      [0, '0', 'after-0'],
      [0, '1', 'after-1'],
    ],
  )
})

test('a consumer that rejoins its group continues after the offsets it committed', async (t) => {
  const topic = await createTopic(1)
  const groupId = uniqueName('resume')
  await producer.send({ topic, messages: [0, 1, 2, 3, 4].map((i) => ({ value: `early-${i}` })) })

  const first = await startConsumer(kafka, { topics: [topic], groupId })
  await first.waitFor(5).finally(() => first.disconnect())
  assert.deepEqual(await admin.fetchOffsets({ groupId, topics: [topic] }), [
    { topic, partitions: [{ partition: 0, offset: '5', metadata: null }] },
  ])

  await producer.send({ topic, messages: [0, 1, 2].map((i) => ({ value: `late-${i}` })) })
  // fromBeginning only applies without a committed offset: this member starts at 5.
  const second = await startConsumer(kafka, { topics: [topic], groupId, fromBeginning: true })
  defer(t, () => second.disconnect())
  const records = await second.waitFor((r) => r.some((m) => m.value.toString() === 'late-2'))
  assert.deepEqual(
    records.map((r) => [r.offset, r.value.toString()]),
    [['5', 'late-0'], ['6', 'late-1'], ['7', 'late-2']],
  )
})
