'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { randomUUID } = require('node:crypto')
const { Kafka, logLevel } = require('kafkajs')

// The preset's globalSetup put the cluster's addresses here (or they name a real cluster).
const brokers = process.env.KAFKA_BROKERS.split(',')
const kafka = new Kafka({ clientId: 'example-jest', brokers, logLevel: logLevel.NOTHING })

// Every test file shares the cluster: unique topic and group names keep tests apart.
const unique = (prefix) => `${prefix}-${randomUUID()}`

let producer
let consumer
beforeAll(async () => {
  producer = kafka.producer()
  await producer.connect()
})
afterEach(async () => {
  if (consumer) await consumer.disconnect()
  consumer = undefined
})
afterAll(async () => {
  await producer.disconnect()
})

test('KAFKA_BROKERS names the shared cluster', () => {
  expect(brokers.length).toBeGreaterThan(0)
  for (const b of brokers) expect(b).toMatch(/^[^:]+:\d+$/)
})

test('produces and consumes through the emulator', async () => {
  const topic = unique('orders')
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()

  await producer.send({ topic, messages: [{ key: 'o-1', value: 'pizza' }, { key: 'o-2', value: 'salad' }] })

  consumer = kafka.consumer({ groupId: unique('kitchen') })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const received = []
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        received.push(`${message.key}=${message.value}`)
        if (received.length === 2) resolve()
      },
    }).catch(reject)
  })
  expect(received).toEqual(['o-1=pizza', 'o-2=salad'])
})

test('kafka-emulator.config.js options apply (auto-created topics get 3 partitions)', async () => {
  const topic = unique('auto')
  await producer.send({ topic, messages: [{ value: 'x' }] })
  const admin = kafka.admin()
  await admin.connect()
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  await admin.disconnect()
  expect(topics[0].partitions).toHaveLength(3)
})
