'use strict'

// kafkajs producers for the crash soak (scripts/soak.js --kafkajs), with the command line, files
// and stdin protocol of conformance/python/soak.py (producers only):
//
//   node kafkajs-driver.js BOOTSTRAP TOPIC OUT_DIR RATE produce:ID:1|0 ...
//
// Each producer sends its values "ID:SEQ" one send() at a time, round-robin over the partitions,
// and writes every value of a send() that resolved to OUT_DIR/ID.acks as "SEQ PARTITION OFFSET"
// (the partition's baseOffset plus its place in the batch), or offset -1 when the result does
// not name the partition: what kafkajs#1303 looks like (docs/kafkajs-1303.md).

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const { Kafka, logLevel } = require('kafkajs')

const [bootstrap, topic, out, rateArg, ...roles] = process.argv.slice(2)
const rate = Number(rateArg)
let producing = true
let flushedAll
const done = new Promise((resolve) => (flushedAll = resolve))

async function produce(id, idempotent) {
  const kafka = new Kafka({ clientId: id, brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length
  await admin.disconnect()
  const producer = kafka.producer(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {})
  await producer.connect()
  const acks = fs.createWriteStream(path.join(out, `${id}.acks`))
  const failed = fs.createWriteStream(path.join(out, `${id}.failed`))
  let acked = 0
  let failures = 0
  let seq = 0
  const started = Date.now()
  while (producing) {
    const target = rate === 0 ? seq + 100 : Math.floor(((Date.now() - started) * rate) / 1000) + 1
    const count = Math.min(target - seq, 500)
    if (count <= 0) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      continue
    }
    const messages = Array.from({ length: count }, (_, i) => ({
      partition: (seq + i) % partitions,
      value: `${id}:${seq + i}`,
    }))
    try {
      const result = await producer.send({ topic, acks: -1, messages })
      const base = new Map(result.map((r) => [r.partition, Number(r.baseOffset)]))
      const index = new Map()
      for (const m of messages) {
        const i = index.get(m.partition) ?? 0
        index.set(m.partition, i + 1)
        const offset = base.has(m.partition) ? base.get(m.partition) + i : -1
        acks.write(`${m.value.slice(id.length + 1)} ${m.partition} ${offset}\n`)
        acked += 1
      }
    } catch (err) {
      for (const m of messages) failed.write(`${m.value.slice(id.length + 1)} ${err.name}\n`)
      failures += messages.length
    }
    seq += count
  }
  await producer.disconnect()
  await Promise.all([acks, failed].map((s) => new Promise((resolve) => s.end(resolve))))
  console.log(`flushed ${id} ${acked} ${failures} 0`)
}

const running = roles.map((role) => {
  const [, id, idempotent] = role.split(':')
  return produce(id, idempotent === '1')
})
console.log('ready')
Promise.all(running).then(() => flushedAll(), (err) => {
  console.error(err)
  process.exit(1)
})
readline.createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'stop-producing') producing = false
  })
  .on('close', () => {
    producing = false
    done.then(() => process.exit(0))
  })
