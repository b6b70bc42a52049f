// Fault injection: errors, lost responses, latency and dropped connections, seen through what
// kafkajs does about them and through the request log.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')
const { startKafka, emulatorOnly } = require('./helpers')

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
function within(ms, what, promise) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

describe('fault injection', emulatorOnly('fault injection'), () => {
  let kafka
  let client
  const clients = []

  before(async () => {
    kafka = await startKafka({ brokers: 2 })
    client = new Kafka({
      clientId: 'faults-test',
      brokers: kafka.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 20, retries: 5 },
    })
  })

  beforeEach(() => kafka.reset())

  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => {})
    await kafka.stop()
  })

  async function connected(made) {
    clients.push(made)
    await made.connect()
    return made
  }

  const ofApi = (api, clientId = 'faults-test') =>
    kafka.requests().filter((r) => r.api === api && r.clientId === clientId)

  test('a producer retries two NOT_LEADER_OR_FOLLOWER errors and succeeds, writing once', async () => {
    kafka.createTopic('retried', { partitions: 1 })
    const producer = await connected(client.producer())
    kafka.failNext({ api: 'Produce', error: 'NOT_LEADER_OR_FOLLOWER', count: 2 })

    const [result] = await producer.send({ topic: 'retried', messages: [{ key: 'k', value: 'v' }] })
    assert.equal(result.errorCode, 0)
    assert.deepEqual(
      ofApi('Produce').map((r) => [r.error, r.injected]),
      [['NOT_LEADER_OR_FOLLOWER', true], ['NOT_LEADER_OR_FOLLOWER', true], [null, false]],
    )
    // Each NOT_LEADER_OR_FOLLOWER sent kafkajs back to Metadata before retrying.
    assert.ok(ofApi('Metadata').length >= 3)
    assert.deepEqual(kafka.messages('retried').map((m) => m.value.toString()), ['v'])
  })

  test('errors can be named by code, and aimed at a topic, a broker or a client id', async () => {
    kafka.createTopic('aimed', { partitions: 2 })
    kafka.createTopic('spared', { partitions: 2 })
    const impatient = new Kafka({ clientId: 'impatient', brokers: kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const producer = await connected(impatient.producer())

    kafka.failNext({ api: 'Produce', error: 10, topic: 'aimed', clientId: 'impatient' })
    await producer.send({ topic: 'spared', messages: [{ value: 'x', partition: 0 }] })
    await assert.rejects(
      producer.send({ topic: 'aimed', messages: [{ value: 'x', partition: 0 }] }),
      (e) => /larger than the max message size/.test(e.message) || /MESSAGE_TOO_LARGE/.test(JSON.stringify(e)),
    )
    assert.deepEqual(kafka.messages('aimed'), [], 'the failed request was not served')
    await producer.send({ topic: 'aimed', messages: [{ value: 'y', partition: 0 }] })

    // Partition 1 of each topic is led by broker 1: a fault aimed at broker 1 spares broker 0.
    kafka.failNext({ api: 'Produce', error: 'KAFKA_STORAGE_ERROR', broker: 1 })
    await producer.send({ topic: 'aimed', messages: [{ value: 'to 0', partition: 0 }] })
    await assert.rejects(producer.send({ topic: 'aimed', messages: [{ value: 'to 1', partition: 1 }] }))
    assert.deepEqual(
      ofApi('Produce', 'impatient').map((r) => `${r.broker}:${r.error}`),
      ['0:null', '0:MESSAGE_TOO_LARGE', '0:null', '0:null', '1:KAFKA_STORAGE_ERROR'],
    )
  })

  test('a lost produce response makes a producer without idempotence write twice', async () => {
    kafka.createTopic('lost-response', { partitions: 1 })
    const producer = await connected(client.producer({ idempotent: false }))
    kafka.failNext({ api: 'Produce', drop: 'response' })
    await producer.send({ topic: 'lost-response', messages: [{ value: 'once' }] })
    assert.deepEqual(
      kafka.messages('lost-response').map((m) => [m.offset, m.value.toString()]),
      [[0, 'once'], [1, 'once']],
      'the first attempt was written though its response was lost',
    )
    const produces = ofApi('Produce')
    assert.equal(produces.length, 2)
    assert.equal(produces[0].injected, true)
  })

  test('a dropped request is never served and the client resends it', async () => {
    kafka.createTopic('lost-request', { partitions: 1 })
    const producer = await connected(client.producer())
    kafka.failNext({ api: 'Produce', drop: 'request' })
    await producer.send({ topic: 'lost-request', messages: [{ value: 'once' }] })
    assert.deepEqual(kafka.messages('lost-request').map((m) => m.value.toString()), ['once'])
  })

  test('a consumer joins its group despite coordinator errors', async () => {
    kafka.produce('joined', [{ value: 'a' }, { value: 'b' }])
    kafka.failNext({ api: 'FindCoordinator', error: 'COORDINATOR_NOT_AVAILABLE', count: 2 })
    kafka.failNext({ api: 'JoinGroup', error: 'NOT_COORDINATOR' })
    kafka.failNext({ api: 'Fetch', error: 'NOT_LEADER_OR_FOLLOWER' })
    const consumer = client.consumer({ groupId: 'fault-group', maxWaitTimeInMs: 100 })
    await connected(consumer)
    await consumer.subscribe({ topic: 'joined', fromBeginning: true })
    const seen = []
    const done = new Promise((resolve) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value.toString())
          if (seen.length === 2) resolve()
        },
      })
    })
    await within(15000, 'both messages', done)
    assert.deepEqual(seen, ['a', 'b'])
    const injected = kafka.requests().filter((r) => r.injected).map((r) => `${r.api}:${r.error}`)
    assert.deepEqual(injected, [
      'FindCoordinator:COORDINATOR_NOT_AVAILABLE',
      'FindCoordinator:COORDINATOR_NOT_AVAILABLE',
      'JoinGroup:NOT_COORDINATOR',
      'Fetch:NOT_LEADER_OR_FOLLOWER',
    ])
    await consumer.disconnect()
  })

  test('admin requests can be failed too: CreateTopics, ListOffsets, OffsetFetch, Metadata', async () => {
    const admin = await connected(client.admin())
    kafka.failNext({ api: 'CreateTopics', error: 'TOPIC_AUTHORIZATION_FAILED' })
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'admin-made', numPartitions: 1 }] }),
      (e) => e.errors?.[0]?.type === 'TOPIC_AUTHORIZATION_FAILED',
    )
    await admin.createTopics({ topics: [{ topic: 'admin-made', numPartitions: 1 }] })
    assert.deepEqual(ofApi('CreateTopics').map((r) => r.error), ['TOPIC_AUTHORIZATION_FAILED', null])

    kafka.failNext({ api: 'ListOffsets', error: 'UNKNOWN_TOPIC_OR_PARTITION' })
    const offsets = await admin.fetchTopicOffsets('admin-made')
    assert.equal(offsets[0].high, '0')

    kafka.failNext({ api: 'OffsetFetch', error: 'COORDINATOR_LOAD_IN_PROGRESS' })
    await assert.rejects(
      admin.fetchOffsets({ groupId: 'nobody', topics: ['admin-made'] }),
      { code: 14 }, // kafkajs calls it by its former name, GROUP_LOAD_IN_PROGRESS
    )
    const [fetched] = await admin.fetchOffsets({ groupId: 'nobody', topics: ['admin-made'] })
    assert.equal(fetched.partitions[0].offset, '-1')

    kafka.failNext({ api: 'Metadata', error: 'LEADER_NOT_AVAILABLE', topic: 'admin-made' })
    const { topics } = await admin.fetchTopicMetadata({ topics: ['admin-made'] })
    assert.equal(topics[0].partitions.length, 1)

    for (const api of ['ListOffsets', 'OffsetFetch', 'Metadata']) {
      assert.ok(ofApi(api).some((r) => r.injected), `${api} was failed once`)
    }
  })

  test('unknown API or error names are TypeErrors', () => {
    assert.throws(() => kafka.failNext({ api: 'Prodcue', error: 'NOT_LEADER_OR_FOLLOWER' }), TypeError)
    assert.throws(() => kafka.failNext({ api: 'Produce', error: 'NOT_A_KAFKA_ERROR' }), TypeError)
    assert.throws(() => kafka.failNext({ api: 'Produce', error: 0 }), TypeError)
    assert.throws(() => kafka.failNext({ api: 'Produce' }), TypeError)
    assert.throws(() => kafka.failNext({ api: 'Produce', error: 6, drop: 'request' }), TypeError)
    assert.throws(() => kafka.failNext({ api: 'Produce', drop: 'sideways' }), TypeError)
    assert.throws(() => kafka.delay({ api: 'Fecth', ms: 10 }), TypeError)
    assert.throws(() => kafka.delay({ ms: -1 }), TypeError)
    assert.throws(
      () => kafka.failNext({ api: 'Prodcue', error: 6 }),
      (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /Produce, Fetch/.test(e.message),
    )
  })

  test('delay adds latency to matching requests only', async () => {
    kafka.createTopic('slow', { partitions: 1 })
    const producer = await connected(client.producer())
    await producer.send({ topic: 'slow', messages: [{ value: 'warm-up' }] })
    kafka.clearRequests()

    kafka.delay({ api: 'Produce', ms: 300 })
    const started = Date.now()
    await producer.send({ topic: 'slow', messages: [{ value: 'slow' }] })
    assert.ok(Date.now() - started >= 300, 'the send waited for the delay')
    const [slow] = ofApi('Produce')
    assert.ok(slow.durationMs >= 300, `logged ${slow.durationMs} ms`)

    kafka.delay({ api: 'Produce', ms: 0 })
    kafka.clearRequests()
    await producer.send({ topic: 'slow', messages: [{ value: 'fast' }] })
    assert.ok(ofApi('Produce')[0].durationMs < 300)
  })

  test('disconnect drops live connections and clients reconnect', async () => {
    kafka.createTopic('reconnect', { partitions: 1 })
    const other = new Kafka({ clientId: 'bystander', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
    const bystander = await connected(other.producer())
    const producer = await connected(client.producer())
    await producer.send({ topic: 'reconnect', messages: [{ value: 'before' }] })
    await bystander.send({ topic: 'reconnect', messages: [{ value: 'bystander' }] })
    const connectionOf = (clientId) => ofApi('Produce', clientId).at(-1).connection

    const before = connectionOf('faults-test')
    const bystanderBefore = connectionOf('bystander')
    const dropped = await kafka.disconnect({ clientId: 'faults-test' })
    assert.ok(dropped >= 1, `dropped ${dropped}`)

    await producer.send({ topic: 'reconnect', messages: [{ value: 'after' }] })
    await bystander.send({ topic: 'reconnect', messages: [{ value: 'bystander again' }] })
    assert.notEqual(connectionOf('faults-test'), before, 'the producer reconnected')
    assert.equal(connectionOf('bystander'), bystanderBefore, 'the bystander kept its connection')
    assert.deepEqual(
      kafka.messages('reconnect').map((m) => m.value.toString()),
      ['before', 'bystander', 'after', 'bystander again'],
    )
    assert.equal(await kafka.disconnect({ clientId: 'nobody' }), 0)
  })
})
