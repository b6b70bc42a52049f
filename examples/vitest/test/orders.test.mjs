import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, afterEach, beforeAll, expect, inject, test } from 'vitest'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// Provided by kafka-emulator/vitest (the same addresses as process.env.KAFKA_BROKERS).
const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'example-vitest', brokers, logLevel: logLevel.NOTHING })

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

test('inject and KAFKA_BROKERS name the same cluster', () => {
  expect(brokers.length).toBeGreaterThan(0)
  expect(process.env.KAFKA_BROKERS).toBe(brokers.join(','))
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
