// The test helpers: reset between tests, topics and records written and read without a client,
// waiting for records, committed offsets and groups, and the request log.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
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

describe('test helpers', emulatorOnly('the test helpers (messages(), reset(), requests()...)'), () => {
  let kafka
  let client
  let admin
  const clients = []

  before(async () => {
    kafka = await startKafka({ brokers: 2 })
    client = new Kafka({ clientId: 'helpers-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
    admin = client.admin()
    await admin.connect()
  })

  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => {})
    await admin.disconnect()
    await kafka.stop()
  })

  async function connected(made) {
    clients.push(made)
    await made.connect()
    return made
  }

  describe('reset() between two tests', () => {
    test('the first test leaves topics, records, a group, offsets, a fault and a stopped broker', async () => {
      await admin.createTopics({ topics: [{ topic: 'left-behind', numPartitions: 2 }] })
      const producer = await connected(client.producer())
      await producer.send({ topic: 'left-behind', messages: [{ value: 'old' }] })
      const consumer = client.consumer({ groupId: 'left-group', maxWaitTimeInMs: 100 })
      await connected(consumer)
      await consumer.subscribe({ topic: 'left-behind', fromBeginning: true })
      const committed = new Promise((resolve) => consumer.on(consumer.events.COMMIT_OFFSETS, resolve))
      await consumer.run({ eachMessage: async () => {} })
      await within(10000, 'a commit', committed)
      // Left as a test might leave it: the group stays, Empty, with its offsets.
      await consumer.disconnect()
      kafka.failNext({ api: 'Produce', error: 'NOT_LEADER_OR_FOLLOWER', count: 100 })
      kafka.delay({ api: 'Metadata', ms: 1000 })
      await kafka.stopBroker(1)
      assert.ok(kafka.groups().length > 0 && kafka.offsets('left-group').length > 0)

      await kafka.reset()
    })

    test('the second test finds an empty cluster, without a restart', async () => {
      assert.deepEqual(kafka.listeners.map((l) => l.running), [true, true], 'the stopped broker is back')
      assert.deepEqual(kafka.groups(), [])
      assert.deepEqual(kafka.offsets('left-group'), [])
      assert.deepEqual(kafka.requests(), [], 'the request log is empty')
      assert.throws(() => kafka.messages('left-behind'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })

      const started = Date.now()
      assert.deepEqual(await admin.listTopics(), [])
      assert.ok(Date.now() - started < 1000, 'the Metadata delay is gone')
      // The client connected before the reset still works, and no fault is left armed.
      const producer = await connected(client.producer({ retry: { retries: 0 } }))
      await producer.send({ topic: 'left-behind', messages: [{ value: 'new' }] })
      assert.deepEqual(kafka.messages('left-behind').map((m) => m.value.toString()), ['new'])
      assert.ok(kafka.requests().every((r) => !r.injected))
      await kafka.reset()
    })
  })

  test('messages() shows exactly what a producer sent, headers included', async () => {
    kafka.createTopic('sent', { partitions: 3 })
    const producer = await connected(client.producer())
    const sent = [
      { key: 'order-1', value: JSON.stringify({ total: 10 }), partition: 0, headers: { trace: 'abc', 'content-type': 'application/json' }, timestamp: '1700000000000' },
      { key: Buffer.from([0, 1, 2, 255]), value: Buffer.from([9, 8, 7]), partition: 2, headers: { bin: Buffer.from([1, 2]) } },
      { key: null, value: 'no key', partition: 2 },
      { key: 'tombstone', value: null, partition: 1 },
    ]
    const results = await producer.send({ topic: 'sent', messages: sent })

    const stored = kafka.messages('sent')
    assert.deepEqual(stored.map((m) => [m.partition, m.offset]), [[0, 0], [1, 0], [2, 0], [2, 1]])
    const byKey = (key) => stored.find((m) => String(m.key) === String(key))
    const first = byKey('order-1')
    assert.equal(first.topic, 'sent')
    assert.ok(Buffer.isBuffer(first.key) && Buffer.isBuffer(first.value))
    assert.deepEqual(JSON.parse(first.value), { total: 10 })
    assert.deepEqual(first.headers, { trace: Buffer.from('abc'), 'content-type': Buffer.from('application/json') })
    assert.deepEqual(Object.keys(first.headers), ['trace', 'content-type'], 'headers keep their order')
    assert.equal(first.timestamp, 1700000000000)
    assert.deepEqual(stored[2].key, Buffer.from([0, 1, 2, 255]))
    assert.deepEqual(stored[2].value, Buffer.from([9, 8, 7]))
    assert.deepEqual(stored[2].headers, { bin: Buffer.from([1, 2]) })
    assert.equal(stored[3].key, null)
    assert.equal(stored[3].value.toString(), 'no key')
    assert.equal(byKey('tombstone').value, null)

    assert.deepEqual(kafka.messages('sent', { partition: 2 }).map((m) => m.offset), [0, 1])
    assert.deepEqual(kafka.messages('sent', { partition: 2, fromOffset: 1 }).map((m) => m.value.toString()), ['no key'])
    assert.deepEqual(results.map((r) => r.partition).sort(), [0, 1, 2])
    assert.throws(() => kafka.messages('sent', { partition: 3 }), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    assert.throws(() => kafka.messages('never-made'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
  })

  test('messages() keeps every value of a header key sent twice, as kafkajs shows them', async () => {
    kafka.createTopic('repeated-headers', { partitions: 1 })
    const producer = await connected(client.producer())
    await producer.send({
      topic: 'repeated-headers',
      messages: [{ value: 'v', headers: { a: ['1', '2'], b: 'once' } }],
    })
    const [stored] = kafka.messages('repeated-headers')
    assert.deepEqual(stored.headers, { a: [Buffer.from('1'), Buffer.from('2')], b: Buffer.from('once') })

    // The same shape a kafkajs consumer is given.
    const consumer = client.consumer({ groupId: 'repeated-headers-group', maxWaitTimeInMs: 100 })
    await connected(consumer)
    await consumer.subscribe({ topic: 'repeated-headers', fromBeginning: true })
    const consumed = new Promise((resolve) => consumer.run({ eachMessage: async ({ message }) => resolve(message.headers) }))
    assert.deepEqual(await within(10000, 'the record', consumed), stored.headers)
    await consumer.disconnect()
  })

  test('produce() writes records a kafkajs consumer reads as written', async () => {
    kafka.createTopic('seeded', { partitions: 2 })
    const written = kafka.produce('seeded', [
      { key: 'a', value: 'first', headers: { h: 'v' }, partition: 1, timestamp: 1234 },
      { key: Buffer.from('b'), value: Buffer.from('second'), partition: 1 },
      { value: 'third', partition: 0 },
    ])
    assert.deepEqual(written, [
      { topic: 'seeded', partition: 1, offset: 0 },
      { topic: 'seeded', partition: 1, offset: 1 },
      { topic: 'seeded', partition: 0, offset: 0 },
    ])
    // Keyed records go where kafkajs' default partitioner (Kafka's murmur2) would put them.
    const keyed = kafka.produce('seeded', [{ key: 'user-42', value: 'x' }])[0]
    const { Partitioners } = require('kafkajs')
    const expected = Partitioners.DefaultPartitioner()({
      topic: 'seeded',
      partitionMetadata: [{ partitionId: 0, leader: 0 }, { partitionId: 1, leader: 1 }],
      message: { key: 'user-42' },
    })
    assert.equal(keyed.partition, expected)

    const consumer = client.consumer({ groupId: 'seeded-reader', maxWaitTimeInMs: 100 })
    await connected(consumer)
    await consumer.subscribe({ topic: 'seeded', fromBeginning: true })
    const seen = []
    await within(10000, '4 messages', new Promise((resolve) => {
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({ partition, message })
          if (seen.length === 4) resolve()
        },
      })
    }))
    const first = seen.find((s) => s.message.value.toString() === 'first')
    assert.equal(first.partition, 1)
    assert.equal(first.message.key.toString(), 'a')
    assert.deepEqual(first.message.headers, { h: Buffer.from('v') })
    assert.equal(first.message.timestamp, '1234')
    await consumer.disconnect()
    assert.throws(() => kafka.produce('seeded', [{ value: 'x', partition: 9 }]), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
  })

  test('createTopic() makes a topic kafkajs sees, and refuses what CreateTopics refuses', async () => {
    kafka.createTopic('made', { partitions: 4, replicationFactor: 2, configs: { 'cleanup.policy': 'compact' } })
    const { topics } = await admin.fetchTopicMetadata({ topics: ['made'] })
    assert.equal(topics[0].partitions.length, 4)
    assert.ok(topics[0].partitions.every((p) => p.replicas.length === 2))
    assert.throws(() => kafka.createTopic('made'), { code: 'TOPIC_ALREADY_EXISTS' })
    assert.throws(() => kafka.createTopic('bad name'), { code: 'INVALID_TOPIC_EXCEPTION' })
    assert.throws(() => kafka.createTopic('wide', { replicationFactor: 3 }), { code: 'INVALID_REPLICATION_FACTOR' })
  })

  test('waitForMessages() resolves as soon as the records exist, even on a topic made later', async () => {
    let settled = false
    const waiting = kafka.waitForMessages('later', 3, { timeoutMs: 10000 }).finally(() => {
      settled = true
    })
    const producer = await connected(client.producer())
    await producer.send({ topic: 'later', messages: [{ value: '1' }, { value: '2' }] })
    // The event loop is free while waiting: this test runs, and the wait has not settled.
    assert.equal(settled, false)
    await producer.send({ topic: 'later', messages: [{ value: '3' }] })
    const found = await waiting
    assert.deepEqual(found.map((m) => m.value.toString()), ['1', '2', '3'])

    await assert.rejects(
      kafka.waitForMessages('later', 4, { timeoutMs: 50 }),
      (e) => e.code === 'ERR_KAFKA_TIMEOUT' && /found 3/.test(e.message),
    )
    // Already there: resolves at once.
    assert.equal((await kafka.waitForMessages('later', 1)).length, 3)
  })

  test('a pending waitForMessages() rejects when the cluster stops', async () => {
    const other = await startKafka()
    const waiting = assert.rejects(other.waitForMessages('never', 1, { timeoutMs: 60000 }), { code: 'ERR_KAFKA_STOPPED' })
    await other.stop()
    await waiting
    await assert.rejects(other.waitForMessages('never', 1), { code: 'ERR_KAFKA_STOPPED' })
  })

  test('offsets() and groups() show committed offsets and the members with their assignments', async () => {
    kafka.createTopic('grouped', { partitions: 2 })
    kafka.produce('grouped', [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }])
    const consumer = client.consumer({ groupId: 'inspected', maxWaitTimeInMs: 100 })
    await connected(consumer)
    await consumer.subscribe({ topic: 'grouped', fromBeginning: true })
    let committed
    const done = new Promise((resolve) => {
      committed = resolve
    })
    consumer.on(consumer.events.COMMIT_OFFSETS, () => {
      if (kafka.offsets('inspected').reduce((sum, o) => sum + o.offset, 0) === 3) committed()
    })
    await consumer.run({ eachMessage: async () => {} })
    await within(10000, 'the commit of all 3 records', done)

    assert.deepEqual(
      kafka.offsets('inspected').map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      [{ topic: 'grouped', partition: 0, offset: 2 }, { topic: 'grouped', partition: 1, offset: 1 }],
    )
    const [group] = kafka.groups().filter((g) => g.groupId === 'inspected')
    assert.equal(group.state, 'Stable')
    assert.equal(group.protocolType, 'consumer')
    assert.ok(group.generationId >= 1)
    assert.ok([0, 1].includes(group.coordinator))
    assert.equal(group.members.length, 1)
    assert.equal(group.members[0].clientId, 'helpers-test')
    assert.deepEqual(group.members[0].assignment, { grouped: [0, 1] })
    await consumer.disconnect()
    assert.deepEqual(kafka.offsets('no-such-group'), [])
  })

  test('requests() lists each request with its api, version, client id, broker and error', async () => {
    kafka.clearRequests()
    const impatient = new Kafka({ clientId: 'logged', brokers: kafka.brokers.slice(0, 1), logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const producer = await connected(impatient.producer())
    kafka.failNext({ api: 'Produce', error: 'INVALID_REQUIRED_ACKS', clientId: 'logged' })
    await assert.rejects(producer.send({ topic: 'logged', messages: [{ value: 'x' }] }))
    const log = kafka.requests().filter((r) => r.clientId === 'logged')
    assert.deepEqual(log.map((r) => r.api), ['ApiVersions', 'Metadata', 'Produce'])
    const produce = log[2]
    assert.equal(produce.apiKey, 0)
    assert.ok(produce.version >= 3)
    assert.equal(produce.broker, 0)
    assert.equal(produce.errorCode, 21)
    assert.equal(produce.error, 'INVALID_REQUIRED_ACKS')
    assert.equal(produce.injected, true)
    assert.ok(produce.timestamp <= Date.now() && produce.durationMs >= 0)
    assert.equal(log[0].error, null)
  })

  test('the request log keeps only the newest requests', async () => {
    const small = await startKafka({ requestLogSize: 3 })
    try {
      const admin = new Kafka({ clientId: 'small', brokers: small.brokers, logLevel: logLevel.NOTHING }).admin()
      await admin.connect()
      for (let i = 0; i < 5; i++) await admin.listTopics()
      await admin.disconnect()
      const log = small.requests()
      assert.equal(log.length, 3)
      assert.ok(log.every((r) => r.api === 'Metadata'))
    } finally {
      await small.stop()
    }
  })
})
