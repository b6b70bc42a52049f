'use strict'

// `npm run bench`: rough numbers for a broker in this process and kafkajs on localhost.
// It measures; it asserts nothing.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const { Kafka, logLevel } = require('kafkajs')
const { startKafka } = require(path.join(__dirname, '..'))

const RUNS = 20
const MESSAGES = 100_000
const PER_SEND = 1_000
const VALUE_BYTES = 100
const PARTITIONS = 3

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.destroy()
      resolve()
    })
    socket.once('error', reject)
  })
}

/** (a) startKafka() until the port accepts a TCP connection. */
async function startupTimes() {
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    const kafka = await startKafka()
    await connect(kafka.port)
    times.push(performance.now() - t0)
    await kafka.stop()
  }
  return times
}

function client(broker) {
  return new Kafka({ clientId: 'bench', brokers: broker.brokers, logLevel: logLevel.NOTHING })
}

/** (b) produce MESSAGES in sends of PER_SEND with acks=-1, then consume them with a group. */
async function throughput(broker, topic) {
  const kafka = client(broker)
  const producer = kafka.producer()
  await producer.connect()
  const value = Buffer.alloc(VALUE_BYTES, 'v')
  const batches = []
  for (let i = 0; i < MESSAGES; i += PER_SEND) {
    batches.push(
      Array.from({ length: PER_SEND }, (_, j) => ({ key: String(i + j), value })),
    )
  }
  const t0 = performance.now()
  for (const messages of batches) {
    await producer.send({ topic, acks: -1, messages })
  }
  const produceMs = performance.now() - t0
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: 'bench-throughput', maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let received = 0
  let resolveAll
  const all = new Promise((resolve) => (resolveAll = resolve))
  const t1 = performance.now()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      received += batch.messages.length
      if (received >= MESSAGES) resolveAll()
    },
  })
  await all
  const consumeMs = performance.now() - t1
  await consumer.disconnect()
  return { produceMs, consumeMs }
}

/** (c) consumer.run() until the first message, for a new group on an existing topic. */
async function firstMessageTimes(broker, topic) {
  const kafka = client(broker)
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const consumer = kafka.consumer({ groupId: `bench-first-${i}`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let first
    const firstMessage = new Promise((resolve) => (first = resolve))
    const t0 = performance.now()
    await consumer.run({ eachMessage: async () => first(performance.now()) })
    times.push((await firstMessage) - t0)
    await consumer.disconnect()
  }
  return times
}

function row(what, value, unit) {
  return `| ${what.padEnd(60)} | ${value.padStart(12)} | ${unit.padEnd(8)} |`
}

async function main() {
  const startup = await startupTimes()

  const broker = await startKafka()
  try {
    const admin = client(broker).admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: PARTITIONS }] })
    await admin.disconnect()
    const { produceMs, consumeMs } = await throughput(broker, 'bench')
    const firstMessage = await firstMessageTimes(broker, 'bench')

    const rate = (ms) => Math.round(MESSAGES / (ms / 1000)).toLocaleString('en-US')
    console.log(
      `kafka-emulator bench: node ${process.version}, ${os.platform()} ${os.arch()}, ${os.cpus().length} CPUs, kafkajs ${require('kafkajs/package.json').version}`,
    )
    console.log(row('measurement', 'result', 'unit'))
    console.log(row('-'.repeat(60), '-'.repeat(12), '-'.repeat(8)))
    console.log(row(`startKafka() until the port accepts (median of ${RUNS})`, median(startup).toFixed(2), 'ms'))
    console.log(
      row(
        `produce ${MESSAGES.toLocaleString('en-US')} x ${VALUE_BYTES} B, ${PER_SEND}/send, acks -1`,
        rate(produceMs),
        'msgs/s',
      ),
    )
    console.log(
      row(`consume the same with a consumer group (eachBatch)`, rate(consumeMs), 'msgs/s'),
    )
    console.log(
      row(
        `consumer.run() to first message, new group (median of ${RUNS})`,
        median(firstMessage).toFixed(1),
        'ms',
      ),
    )
  } finally {
    await broker.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
