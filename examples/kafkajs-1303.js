#!/usr/bin/env node
'use strict'

// kafkajs 2.2.4 loses acknowledged messages when a partition leader crashes (tulios/kafkajs#1303):
// a 3-broker cluster whose brokers stop and start every 0.4 s, a kafkajs producer sending batches
// that span every partition, and a count of what send() acknowledged but the topic lacks.
// docs/kafkajs-1303.md explains it.
//
//   node examples/kafkajs-1303.js [seconds=20]
//
// Exits 1 if an acknowledged message is missing (what kafkajs 2.2.4 does within seconds).

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs')
const { startKafka } = require('kafka-emulator')

const TOPIC = 'orders'
const PARTITIONS = 6

async function main(seconds) {
  // Ports below Linux's ephemeral range (32768-60999), which clients' own connections draw from:
  // a port the OS picked for a broker can be taken by one while that broker is down.
  const port = 20000 + Math.floor(Math.random() * 12000)
  const kafka = await startKafka({ port, brokers: 3, defaultReplicationFactor: 3 })
  kafka.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3 })
  const client = new Kafka({ clientId: 'kafkajs-1303', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
  const producer = client.producer()
  await producer.connect()

  // The crash schedule: one broker down at a time, for 0.4 s, every 0.8 s.
  let running = true
  const crashes = (async () => {
    for (let i = 0; running; i++) {
      const broker = i % 3
      await kafka.stopBroker(broker)
      await new Promise((resolve) => setTimeout(resolve, 400))
      await kafka.startBroker(broker)
      await new Promise((resolve) => setTimeout(resolve, 400))
    }
  })()

  // Batches of 60 messages, 10 per partition, so that every send() goes to all three brokers.
  const acked = new Set()
  let sends = 0
  let failed = 0
  let shortResults = 0
  const until = Date.now() + seconds * 1000
  for (let batch = 0; Date.now() < until; batch++) {
    const messages = Array.from({ length: 60 }, (_, i) => ({ partition: i % PARTITIONS, value: `${batch}-${i}` }))
    try {
      const result = await producer.send({ topic: TOPIC, messages })
      sends += 1
      // A correct result names every partition written; kafkajs#1303's lacks the ones it skipped.
      if (new Set(result.map((r) => r.partition)).size < PARTITIONS) shortResults += 1
      for (const m of messages) acked.add(m.value)
    } catch {
      failed += 1 // Not acknowledged: kafkajs gave up (retries exhausted), which is its right.
    }
  }
  running = false
  await crashes
  await producer.disconnect()

  const stored = new Set(kafka.messages(TOPIC).map((m) => m.value.toString()))
  const missing = [...acked].filter((value) => !stored.has(value))
  await kafka.stop()
  console.log(`sends acknowledged: ${sends} (${acked.size} messages), failed: ${failed}`)
  console.log(`acknowledged but missing: ${missing.length}; send() results lacking a partition: ${shortResults}`)
  if (missing.length) console.log(`e.g. ${missing.slice(0, 5).join(', ')}`)
  return missing.length
}

main(Number(process.argv[2] ?? 20)).then(
  (missing) => (process.exitCode = missing > 0 ? 1 : 0),
  (err) => {
    console.error(err)
    process.exitCode = 2
  },
)
