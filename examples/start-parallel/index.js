'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { startParallel } = require('kafka-emulator/service')
const { Kafka, logLevel } = require('kafkajs')

async function main() {
  const instance = await startParallel({ services: [{ name: 'kafka' }] })
  const port = instance.services.get('kafka').port
  console.log(`kafka service on port ${port}`)
  try {
    const kafka = new Kafka({ clientId: 'example-start-parallel', brokers: [`localhost:${port}`], logLevel: logLevel.NOTHING })

    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'greetings', numPartitions: 1 }], waitForLeaders: true })
    await admin.disconnect()

    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'greetings', messages: [{ value: 'hello' }, { value: 'world' }] })
    await producer.disconnect()

    const consumer = kafka.consumer({ groupId: 'greeters' })
    await consumer.connect()
    await consumer.subscribe({ topic: 'greetings', fromBeginning: true })
    const received = []
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          received.push(message.value.toString())
          if (received.length === 2) resolve()
        },
      }).catch(reject)
    })
    await consumer.disconnect()
    console.log(`consumed: ${received.join(' ')}`)
  } finally {
    await instance.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
