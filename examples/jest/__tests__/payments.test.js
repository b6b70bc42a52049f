'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { randomUUID } = require('node:crypto')
const { Kafka, logLevel } = require('kafkajs')

// A second file, run in another jest worker: the same cluster, through KAFKA_BROKERS.
const kafka = new Kafka({ clientId: 'example-jest-payments', brokers: process.env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING })

test('a second test file reaches the same cluster', async () => {
  const topic = `payments-${randomUUID()}`
  const producer = kafka.producer()
  await producer.connect()
  const [meta] = await producer.send({ topic, messages: [{ value: '42' }] })
  await producer.disconnect()
  expect(meta.topicName).toBe(topic)
  expect(meta.errorCode).toBe(0)
})
