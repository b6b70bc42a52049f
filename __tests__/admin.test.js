// kafkajs' admin client against the emulator: topics, partitions, configs, offsets, records.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')
const { startBroker, emulatorOnly, external, uniqueName, waitUntil, withDeadline, partitionsServed, DEADLINE_MS } = require('./helpers')

/** Config sources as kafkajs reports them (Kafka's DescribeConfigs enum). */
const SOURCE = { TOPIC: 1, STATIC_BROKER: 4, DEFAULT: 5 }
const RESOURCE = { TOPIC: 2, BROKER: 4 }

describe('admin', () => {
  let broker
  let kafka
  let admin
  let producer

  before(async () => {
    broker = await startBroker({ logRetentionMs: 3600000, numPartitions: 2 })
    // No retries on the emulator, so any error shows at once; Kafka answers retriable errors
    // (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER) while a new topic propagates.
    const retry = external ? { retries: 8, initialRetryTime: 100 } : { retries: 0 }
    kafka = new Kafka({ clientId: 'admin-test', brokers: broker.brokers, logLevel: logLevel.NOTHING, retry })
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

  const configOf = async (topic, name) => {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: RESOURCE.TOPIC, name: topic, configNames: [name] }],
      includeSynonyms: false,
    })
    return resources[0].configEntries.find((e) => e.configName === name)
  }

  test('createTopics keeps configs, refuses bad ones, and validateOnly creates nothing', async () => {
    const withConfigs = uniqueName('with-configs')
    const onlyValidated = uniqueName('only-validated')
    assert.equal(
      await admin.createTopics({
        topics: [{ topic: withConfigs, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '60000' }] }],
      }),
      true,
    )
    const retention = await configOf(withConfigs, 'retention.ms')
    assert.equal(retention.configValue, '60000')
    assert.equal(retention.configSource, SOURCE.TOPIC)

    // validateOnly creates nothing, so there are no leaders to wait for.
    assert.equal(
      await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: onlyValidated }] }),
      true,
    )
    assert.ok(!(await admin.listTopics()).includes(onlyValidated))

    await assert.rejects(
      admin.createTopics({ topics: [{ topic: uniqueName('bad-config'), configEntries: [{ name: 'retention.ms', value: 'forever' }] }] }),
      (err) => err.errors?.[0]?.type === 'INVALID_CONFIG' || /INVALID_CONFIG|Invalid value/.test(String(err.errors?.[0]?.message ?? err.message)),
    )
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'bad name!' }] }),
      (err) => err.errors?.[0]?.type === 'INVALID_TOPIC_EXCEPTION',
    )
    assert.equal(await admin.createTopics({ topics: [{ topic: withConfigs }] }), false, 'already exists')
  })

  test('fetchTopicMetadata and listTopics describe partitions; defaults come from broker options', emulatorOnly('startKafka options (numPartitions)'), async () => {
    await admin.createTopics({ topics: [{ topic: 'meta' }] })
    const { topics } = await admin.fetchTopicMetadata({ topics: ['meta'] })
    assert.equal(topics[0].name, 'meta')
    assert.equal(topics[0].partitions.length, 2, 'numPartitions broker option')
    for (const p of topics[0].partitions) {
      assert.equal(p.leader, 0)
      assert.deepEqual(p.replicas, [0])
      assert.deepEqual(p.isr, [0])
    }
    assert.ok((await admin.listTopics()).includes('meta'))
  })

  test('createPartitions only increases the count', async () => {
    const grow = uniqueName('grow')
    await admin.createTopics({ topics: [{ topic: grow, numPartitions: 1 }] })
    await admin.createPartitions({ topicPartitions: [{ topic: grow, count: 4 }] })
    // Kafka's Metadata shows the new partitions a moment after CreatePartitions answers.
    const partitions = await waitUntil(async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [grow] })
      return topics[0].partitions.length === 4 && topics[0].partitions
    }, 'Metadata to list 4 partitions')
    assert.deepEqual(partitions.map((p) => p.partitionId).sort(), [0, 1, 2, 3])
    // Kafka's broker serves a new partition a moment after Metadata lists it (this client does
    // not retry): send until it is taken.
    await waitUntil(
      () => producer.send({ topic: grow, messages: [{ partition: 3, value: 'new partition works' }] }),
      'the new partition to take a record',
    )
    await assert.rejects(
      admin.createPartitions({ topicPartitions: [{ topic: grow, count: 2 }] }),
      (err) => err.type === 'INVALID_PARTITIONS',
    )
  })

  test('a CreateTopics asking for more than 10,000 partitions is a policy violation, as on Kafka', async () => {
    const huge = uniqueName('huge')
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: huge, numPartitions: 2_000_000_000 }] }),
      (err) => err.errors?.[0]?.type === 'POLICY_VIOLATION' || err.type === 'POLICY_VIOLATION',
    )
    assert.ok(!(await admin.listTopics()).includes(huge))
  })

  test('a CreatePartitions adding more than 10,000 partitions is a policy violation', emulatorOnly('Kafka answers it from a bounded record list'), async () => {
    const grow = uniqueName('grow-huge')
    await admin.createTopics({ topics: [{ topic: grow, numPartitions: 1 }] })
    await assert.rejects(
      admin.createPartitions({ topicPartitions: [{ topic: grow, count: 2_000_000_000 }] }),
      (err) => err.type === 'POLICY_VIOLATION',
    )
    await admin.createPartitions({ topicPartitions: [{ topic: grow, count: 10_001 }] })
  })

  test('fetchTopicOffsets and fetchTopicOffsetsByTimestamp', async () => {
    const topic = uniqueName('offsets')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await partitionsServed(admin, topic)
    const base = Date.now() - 100000
    for (let i = 0; i < 5; i++) {
      await producer.send({ topic, messages: [{ value: `v${i}`, timestamp: String(base + i * 1000) }] })
    }
    const [offsets] = await admin.fetchTopicOffsets(topic)
    assert.deepEqual([offsets.low, offsets.high], ['0', '5'])
    const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, base + 2500)
    assert.equal(byTime.offset, '3', 'first record at or after the timestamp')
    const [future] = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 100000)
    assert.equal(future.offset, '5', 'kafkajs falls back to the high watermark when none is that late')
  })

  test('deleteTopicRecords moves the low watermark and consumers start there', async () => {
    const topic = uniqueName('truncate')
    const groupId = uniqueName('truncate-reader')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await partitionsServed(admin, topic)
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}` })) })
    // kafkajs finds partition leaders in its metadata cache: load the topic into it first.
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '6' }] })
    const [offsets] = await admin.fetchTopicOffsets(topic)
    assert.deepEqual([offsets.low, offsets.high], ['6', '10'])

    // Retries (this client has none): Kafka's group coordinator may still be loading.
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, retry: { retries: 10, initialRetryTime: 100 } })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const seen = []
    const done = new Promise((resolve) =>
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.offset)
          if (seen.length === 4) resolve()
        },
      }),
    )
    await withDeadline(done, DEADLINE_MS, 'the 4 records after the low watermark').finally(() => consumer.disconnect())
    assert.deepEqual(seen, ['6', '7', '8', '9'])
  })

  test('describeConfigs reports values with their sources and synonyms; alterConfigs replaces them', emulatorOnly('startKafka options (logRetentionMs, numPartitions)'), async () => {
    await admin.createTopics({ topics: [{ topic: 'configs', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    const { resources } = await admin.describeConfigs({
      resources: [{ type: RESOURCE.TOPIC, name: 'configs' }],
      includeSynonyms: true,
    })
    const entries = Object.fromEntries(resources[0].configEntries.map((e) => [e.configName, e]))
    assert.equal(entries['cleanup.policy'].configValue, 'compact')
    assert.equal(entries['cleanup.policy'].configSource, SOURCE.TOPIC)
    assert.equal(entries['retention.ms'].configValue, '3600000', 'logRetentionMs broker option')
    assert.equal(entries['retention.ms'].configSource, SOURCE.STATIC_BROKER)
    assert.deepEqual(
      entries['retention.ms'].configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]),
      [['log.retention.ms', '3600000', SOURCE.STATIC_BROKER], ['log.retention.hours', '168', SOURCE.DEFAULT]],
    )
    assert.equal(entries['segment.bytes'].configValue, '1073741824')
    assert.equal(entries['segment.bytes'].configSource, SOURCE.DEFAULT)
    assert.equal(entries['min.insync.replicas'].configValue, '1')

    await admin.alterConfigs({
      resources: [{ type: RESOURCE.TOPIC, name: 'configs', configEntries: [{ name: 'retention.bytes', value: '1000' }] }],
    })
    assert.equal((await configOf('configs', 'retention.bytes')).configValue, '1000')
    // AlterConfigs is not incremental: what it did not name went back to its default.
    const policy = await configOf('configs', 'cleanup.policy')
    assert.equal(policy.configValue, 'delete')
    assert.equal(policy.configSource, SOURCE.DEFAULT)

    await assert.rejects(
      admin.alterConfigs({
        resources: [{ type: RESOURCE.TOPIC, name: 'configs', configEntries: [{ name: 'min.insync.replicas', value: '0' }] }],
      }),
      (err) => err.type === 'INVALID_CONFIG',
    )

    const brokerConfigs = await admin.describeConfigs({
      resources: [{ type: RESOURCE.BROKER, name: '0' }],
      includeSynonyms: false,
    })
    const brokerEntries = Object.fromEntries(brokerConfigs.resources[0].configEntries.map((e) => [e.configName, e]))
    assert.equal(brokerEntries['num.partitions'].configValue, '2')
    assert.equal(brokerEntries['num.partitions'].configSource, SOURCE.STATIC_BROKER)
    assert.equal(brokerEntries['auto.create.topics.enable'].configValue, 'true')
    assert.equal(brokerEntries['auto.create.topics.enable'].configSource, SOURCE.DEFAULT)
    assert.equal(brokerEntries['group.initial.rebalance.delay.ms'].configValue, '0')
  })

  test('describeCluster names this broker as controller', async () => {
    const cluster = await admin.describeCluster()
    assert.equal(cluster.controller, 0)
    assert.deepEqual(cluster.brokers, [{ nodeId: 0, host: '127.0.0.1', port: broker.port }])
    assert.match(cluster.clusterId, /^[A-Za-z0-9_-]{22}$/, 'a Kafka cluster id: 16 bytes in URL-safe base64')
  })

  test('deleteTopics removes a topic; recreating it starts from offset 0', async () => {
    const topic = uniqueName('short-lived')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await partitionsServed(admin, topic)
    await producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }] })
    await admin.deleteTopics({ topics: [topic] })
    assert.ok(!(await admin.listTopics()).includes(topic))
    await assert.rejects(admin.deleteTopics({ topics: [topic] }), (err) =>
      [err.type, err.originalError?.type, err.cause?.type].includes('UNKNOWN_TOPIC_OR_PARTITION'))
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await partitionsServed(admin, topic)
    const [offsets] = await admin.fetchTopicOffsets(topic)
    assert.deepEqual([offsets.low, offsets.high], ['0', '0'])
  })

  test('a compacted topic keeps only the latest value per key after compaction', emulatorOnly('the applyRetention() test helper'), async () => {
    await admin.createTopics({ topics: [{ topic: 'compacted', numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    for (let round = 0; round < 3; round++) {
      await producer.send({
        topic: 'compacted',
        messages: ['a', 'b', 'c'].map((key) => ({ key, value: `${key}${round}` })),
      })
    }
    await producer.send({ topic: 'compacted', messages: [{ key: 'b', value: null }] })
    assert.ok(broker.applyRetention() > 0)

    const consumer = kafka.consumer({ groupId: 'compacted-reader', maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: 'compacted', fromBeginning: true })
    const seen = []
    await new Promise((resolve) =>
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.push([message.offset, message.key.toString(), message.value?.toString() ?? null])
          if (message.offset === '9') resolve()
        },
      }),
    )
    await consumer.disconnect()
    assert.deepEqual(seen, [['6', 'a', 'a2'], ['8', 'c', 'c2'], ['9', 'b', null]], 'offsets kept, a recent tombstone kept')
    await assert.rejects(
      producer.send({ topic: 'compacted', messages: [{ value: 'no key' }] }),
      (err) => err.type === 'INVALID_RECORD' || err.cause?.type === 'INVALID_RECORD',
    )
  })

  test('a topic with retention.ms drops old data', emulatorOnly('the applyRetention() test helper'), async () => {
    await admin.createTopics({ topics: [{ topic: 'retained', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '60000' }] }] })
    await producer.send({ topic: 'retained', messages: [{ value: 'old', timestamp: String(Date.now() - 120000) }] })
    await producer.send({ topic: 'retained', messages: [{ value: 'new' }] })
    broker.applyRetention()
    const [offsets] = await admin.fetchTopicOffsets('retained')
    assert.deepEqual([offsets.low, offsets.high], ['1', '2'])
  })

  test('a record over max.message.bytes is refused with MESSAGE_TOO_LARGE', async () => {
    const topic = uniqueName('small')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1024' }] }] })
    await partitionsServed(admin, topic)
    await assert.rejects(
      producer.send({ topic, messages: [{ value: Buffer.alloc(2048, 1) }] }),
      (err) => err.type === 'MESSAGE_TOO_LARGE' || err.cause?.type === 'MESSAGE_TOO_LARGE',
    )
    await producer.send({ topic, messages: [{ value: Buffer.alloc(512, 1) }] })
  })
})
