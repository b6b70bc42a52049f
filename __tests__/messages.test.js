'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Partitioners, CompressionTypes } = require('kafkajs')
const {
  startKafka,
  startBroker,
  emulatorOnly,
  client,
  defer,
  startConsumer,
  uniqueName,
  partitionsServed,
  byPartition,
  DEADLINE_MS,
} = require('./helpers')

/** Kafka's default `message.max.bytes`: the largest record batch a broker accepts. */
const MESSAGE_MAX_BYTES = 1048588
const MiB = 1024 * 1024

let broker
let kafka
let admin
let producer
before(async () => {
  broker = await startBroker()
  kafka = client(broker)
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
})
after(async () => {
  await producer.disconnect()
  await admin.disconnect()
  await broker.stop()
})

async function createTopic(numPartitions) {
  const topic = uniqueName('messages')
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions }] }), true)
  await partitionsServed(admin, topic)
  return topic
}

test('keys land on the partition kafkajs default partitioner picks, and are read back from it', async (t) => {
  const topic = await createTopic(4)
  const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 0 }))
  const partitioner = Partitioners.DefaultPartitioner()
  const keys = Array.from({ length: 24 }, (_, i) => `customer-${i}`)
  const expected = new Map(
    keys.map((key) => [key, partitioner({ topic, partitionMetadata, message: { key } })]),
  )
  // The keys hash onto every partition, so a broker that ignored the partition would be caught.
  assert.equal(new Set(expected.values()).size, 4)

  for (const key of keys) {
    const [metadata] = await producer.send({ topic, messages: [{ key, value: key }] })
    assert.equal(metadata.topicName, topic)
    assert.equal(metadata.errorCode, 0)
    assert.equal(metadata.partition, expected.get(key), `RecordMetadata partition of ${key}`)
  }

  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(keys.length)
  for (const record of records) {
    assert.equal(record.value.toString(), record.key.toString())
    assert.equal(record.partition, expected.get(record.key.toString()), `partition of ${record.key}`)
  }
  assert.deepEqual(records.map((r) => r.key.toString()).sort(), [...keys].sort())
})

test('headers, null values, empty values and null keys round-trip', async (t) => {
  const topic = await createTopic(1)
  const binary = Buffer.from([0, 1, 2, 254, 255])
  await producer.send({
    topic,
    messages: [
      { key: 'with-headers', value: 'v', headers: { trace: 'abc', binary, empty: '' } },
      { key: 'null-value', value: null },
      { key: 'empty-value', value: '' },
      { key: null, value: 'null-key' },
      { key: '', value: 'empty-key' },
      { key: 'multi', value: 'm', headers: { seen: ['one', 'two'] } },
    ],
  })

  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(6)
  assert.deepEqual(
    records.map((r) => r.offset),
    ['0', '1', '2', '3', '4', '5'],
  )
  const [headers, nullValue, emptyValue, nullKey, emptyKey, multi] = records

  assert.equal(headers.key.toString(), 'with-headers')
  assert.equal(headers.value.toString(), 'v')
  assert.deepEqual(Object.keys(headers.headers).sort(), ['binary', 'empty', 'trace'])
  assert.deepEqual(headers.headers.trace, Buffer.from('abc'))
  assert.deepEqual(headers.headers.binary, binary)
  assert.deepEqual(headers.headers.empty, Buffer.alloc(0))

  assert.equal(nullValue.key.toString(), 'null-value')
  assert.equal(nullValue.value, null)

  assert.equal(emptyValue.key.toString(), 'empty-value')
  assert.ok(Buffer.isBuffer(emptyValue.value))
  assert.equal(emptyValue.value.length, 0)

  assert.equal(nullKey.key, null)
  assert.equal(nullKey.value.toString(), 'null-key')

  assert.ok(Buffer.isBuffer(emptyKey.key))
  assert.equal(emptyKey.key.length, 0)

  assert.deepEqual(multi.headers.seen, [Buffer.from('one'), Buffer.from('two')])
})

test('a gzip-compressed batch round-trips and each message gets its own offset', async (t) => {
  const topic = await createTopic(1)
  const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `compressible ${i} `.repeat(20) }))
  const [metadata] = await producer.send({ topic, compression: CompressionTypes.GZIP, messages })
  assert.equal(metadata.baseOffset, '0')
  assert.deepEqual((await admin.fetchTopicOffsets(topic)).map((o) => o.high), ['50'])

  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(messages.length)
  assert.deepEqual(
    records.map((r) => [r.offset, r.key.toString(), r.value.toString()]),
    messages.map((m, i) => [String(i), m.key, m.value]),
  )
})

test('sends with acks 1 and acks 0 are stored like acks -1', async (t) => {
  const topic = await createTopic(1)
  const [leaderAck] = await producer.send({ topic, acks: 1, messages: [{ value: 'acks=1' }] })
  assert.equal(leaderAck.baseOffset, '0')
  // acks=0 gets no response at all; the message still lands.
  await producer.send({ topic, acks: 0, messages: [{ value: 'acks=0' }] })
  await producer.send({ topic, acks: -1, messages: [{ value: 'acks=-1' }] })

  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(3)
  assert.deepEqual(
    records.map((r) => [r.offset, r.value.toString()]),
    [['0', 'acks=1'], ['1', 'acks=0'], ['2', 'acks=-1']],
  )
})

test('a message just under message.max.bytes round-trips byte for byte', async (t) => {
  const topic = await createTopic(1)
  // 61 bytes of batch header and about a dozen of record framing leave room under the limit.
  const value = Buffer.alloc(MESSAGE_MAX_BYTES - 128)
  for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff
  const [metadata] = await producer.send({ topic, messages: [{ key: 'big', value }] })
  assert.equal(metadata.errorCode, 0)

  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const [record] = await consumer.waitFor(1)
  assert.equal(record.value.length, value.length)
  assert.ok(record.value.equals(value), 'the value read back differs from the value sent')
})

test('a 1 MiB message is refused with MESSAGE_TOO_LARGE under the default message.max.bytes', async () => {
  const topic = await createTopic(1)
  // 1 MiB of value plus the batch and record framing is a little over 1048588 bytes.
  const value = Buffer.alloc(MiB, 'x')
  await assert.rejects(producer.send({ topic, messages: [{ value }] }), {
    name: 'KafkaJSProtocolError',
    type: 'MESSAGE_TOO_LARGE',
  })
  // Nothing was appended.
  const offsets = await admin.fetchTopicOffsets(topic)
  assert.deepEqual(offsets.map((o) => o.high), ['0'])
})

test('a 1 MiB message round-trips on a broker started with a larger messageMaxBytes', emulatorOnly('startKafka options'), async (t) => {
  const big = await startKafka({ messageMaxBytes: 2 * MiB })
  defer(t, () => big.stop())
  const bigKafka = client(big)
  const bigProducer = bigKafka.producer()
  await bigProducer.connect()
  defer(t, () => bigProducer.disconnect())

  const topic = uniqueName('one-mib')
  const value = Buffer.alloc(MiB)
  for (let i = 0; i < value.length; i++) value[i] = (i * 7 + 3) & 0xff
  const [metadata] = await bigProducer.send({ topic, messages: [{ key: 'mib', value }] })
  assert.equal(metadata.errorCode, 0)

  const consumer = await startConsumer(bigKafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const [record] = await consumer.waitFor(1)
  assert.equal(record.value.length, MiB)
  assert.ok(record.value.equals(value), 'the value read back differs from the value sent')
})

test('10,000 messages keep their order within each partition (read with eachBatch)', async (t) => {
  const topic = await createTopic(3)
  const total = 10_000
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0 }))
  const partitioner = Partitioners.DefaultPartitioner()
  const expected = new Map([[0, []], [1, []], [2, []]])
  const messages = []
  for (let i = 0; i < total; i++) {
    const key = `key-${i % 17}`
    const value = String(i)
    messages.push({ key, value })
    expected.get(partitioner({ topic, partitionMetadata, message: { key } })).push(value)
  }
  for (let i = 0; i < total; i += 1000) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) })
  }

  const consumer = await startConsumer(kafka, { topics: [topic], eachBatch: true })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(total)
  assert.equal(records.length, total)
  const partitions = byPartition(records)
  for (const [partition, values] of expected) {
    const got = partitions.get(partition) || []
    assert.deepEqual(
      got.map((r) => r.offset),
      values.map((_, i) => String(i)),
      `offsets of partition ${partition}`,
    )
    assert.deepEqual(
      got.map((r) => r.value.toString()),
      values,
      `values of partition ${partition} in send order`,
    )
  }
}, { timeout: DEADLINE_MS * 2 })
