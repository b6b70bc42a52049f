// Idempotent producers: a retried batch is written once, whatever happened to the first answer.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')
const { startKafka, emulatorOnly } = require('./helpers')

describe('idempotent producer', emulatorOnly('fault injection (dropNextResponse)'), () => {
  let broker
  let kafka
  let admin
  const clients = []

  before(async () => {
    broker = await startKafka()
    kafka = new Kafka({
      clientId: 'idempotence-test',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 50, retries: 10 },
    })
    admin = kafka.admin()
    await admin.connect()
  })

  after(async () => {
    for (const client of clients) await client.disconnect().catch(() => {})
    await admin.disconnect()
    await broker.stop()
  })

  async function producer(options) {
    const p = kafka.producer(options)
    clients.push(p)
    await p.connect()
    return p
  }

  async function topic(name) {
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }] })
    return name
  }

  /** Every value in the partition, in offset order, as a read_uncommitted consumer sees it. */
  async function values(t) {
    const [{ high }] = await admin.fetchTopicOffsets(t)
    const c = kafka.consumer({ groupId: `${t}-reader`, readUncommitted: true, maxWaitTimeInMs: 50 })
    clients.push(c)
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    const seen = []
    await new Promise((resolve) => {
      c.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value.toString())
          if (BigInt(message.offset) + 1n >= BigInt(high)) resolve()
        },
      })
    })
    await c.disconnect()
    return seen
  }

  test('a produce whose response is lost is retried and written once', async () => {
    const t = await topic('idem-lost-response')
    const p = await producer({ idempotent: true, maxInFlightRequests: 1 })
    await p.send({ topic: t, messages: [{ value: 'before' }] })
    broker.dropNextResponse({ api: 'Produce' })
    const [result] = await p.send({ topic: t, messages: [{ value: 'a' }, { value: 'b' }] })
    await p.send({ topic: t, messages: [{ value: 'after' }] })
    assert.equal(result.errorCode, 0)
    assert.equal(result.baseOffset, '1', 'the retry is acknowledged with the original offset')
    assert.deepEqual(await values(t), ['before', 'a', 'b', 'after'])
  })

  test('without idempotence the same lost response writes the batch twice', async () => {
    // The control experiment: the hook really drops a response after the write.
    const t = await topic('plain-lost-response')
    const p = await producer({ idempotent: false })
    await p.send({ topic: t, messages: [{ value: 'before' }] })
    broker.dropNextResponse({ api: 'Produce' })
    await p.send({ topic: t, messages: [{ value: 'a' }] })
    assert.deepEqual(await values(t), ['before', 'a', 'a'])
  })

  test('several lost responses in a row are all deduplicated', async () => {
    const t = await topic('idem-lost-many')
    const p = await producer({ idempotent: true, maxInFlightRequests: 1 })
    broker.dropNextResponse({ api: 'Produce', count: 3 })
    await p.send({ topic: t, messages: [{ value: 'x' }] })
    await p.send({ topic: t, messages: [{ value: 'y' }] })
    assert.deepEqual(await values(t), ['x', 'y'])
  })

  test('dropNextResponse refuses an unknown API', () => {
    assert.throws(() => broker.dropNextResponse({ api: 'NoSuchApi' }), /unknown Kafka API/)
  })
})
