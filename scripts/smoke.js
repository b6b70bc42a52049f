#!/usr/bin/env node
// The release workflow's check of one platform's binary: load it, start a broker, and make a
// kafkajs round trip through it. Exits non-zero with the error otherwise.
'use strict'

const { Kafka, logLevel } = require('kafkajs')
const { startKafka } = require('..')

async function main() {
  const kafka = await startKafka()
  const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
  const producer = client.producer()
  await producer.connect()
  await producer.send({ topic: 'smoke', messages: [{ value: `${process.platform}-${process.arch}` }] })
  await producer.disconnect()
  const consumer = client.consumer({ groupId: 'smoke' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'smoke', fromBeginning: true })
  const value = await new Promise((resolve, reject) => {
    consumer.run({ eachMessage: async ({ message }) => resolve(message.value.toString()) }).catch(reject)
  })
  await consumer.disconnect()
  await kafka.stop()
  console.log(`smoke: produced and consumed ${value}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
