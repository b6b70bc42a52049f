'use strict'

// Dynamic broker configs (KIP-226) through kafkajs: AlterConfigs on a BROKER resource (its id,
// or "" for the cluster-wide default) is stored and shown by DescribeConfigs with its source,
// and what Kafka refuses is refused with Kafka's error. Each test passes against Apache Kafka
// too (npm run test:external), which applies a change a moment after it answers.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')
const { requests } = require('kafkajs/src/protocol/requests')
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys')
const { kafkajsBroker, startBroker, uniqueName, waitUntil } = require('./helpers')
const { int16, int32, string, request, rawConnection } = require('./wire')

const BROKER = ConfigResourceTypes.BROKER
const TOPIC = ConfigResourceTypes.TOPIC
const SOURCE = { DYNAMIC_BROKER_CONFIG: 2, DYNAMIC_DEFAULT_BROKER_CONFIG: 3, DEFAULT_CONFIG: 5 }


describe('dynamic broker configs', () => {
  let cluster
  let admin
  let broker
  let brokerId

  before(async () => {
    cluster = await startBroker()
    admin = new Kafka({ clientId: 'broker-configs-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    broker = await kafkajsBroker(cluster.brokers[0], 'broker-configs-test')
    const { brokers } = await admin.describeCluster()
    brokerId = String(brokers[0].nodeId)
  })

  after(async () => {
    await broker?.disconnect()
    await admin?.disconnect()
    await cluster?.stop()
  })

  const alterBroker = (configEntries, name = brokerId) =>
    admin.alterConfigs({ resources: [{ type: BROKER, name, configEntries }] })

  /** The entries of a config resource by name, with their synonyms. */
  async function entries(type, name, configNames) {
    const { resources } = await broker.describeConfigs({
      resources: [{ type, name, configNames }],
      includeSynonyms: true,
    })
    return Object.fromEntries(resources[0].configEntries.map((e) => [e.configName, e]))
  }

  test("AlterConfigs on a broker's id sets dynamic configs that DescribeConfigs shows as DYNAMIC_BROKER_CONFIG", async () => {
    const topic = uniqueName('dynamic-retention')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await alterBroker([
      { name: 'log.retention.ms', value: '3600000' },
      { name: 'log.cleaner.threads', value: '2' },
    ])
    try {
      const described = await waitUntil(async () => {
        const e = await entries(BROKER, brokerId, ['log.retention.ms', 'log.cleaner.threads'])
        return e['log.cleaner.threads']?.configValue === '2' && e
      }, 'the dynamic configs of the broker')
      for (const [name, value] of [
        ['log.retention.ms', '3600000'],
        ['log.cleaner.threads', '2'],
      ]) {
        const entry = described[name]
        assert.deepEqual(
          [entry.configValue, entry.configSource, entry.readOnly, entry.configSynonyms[0]],
          [value, SOURCE.DYNAMIC_BROKER_CONFIG, false, { configName: name, configValue: value, configSource: SOURCE.DYNAMIC_BROKER_CONFIG }],
          name,
        )
      }
      // A topic without its own retention.ms falls back to the broker's dynamic one.
      const retention = (await entries(TOPIC, topic, ['retention.ms']))['retention.ms']
      assert.deepEqual([retention.configValue, retention.configSource], ['3600000', SOURCE.DYNAMIC_BROKER_CONFIG])
    } finally {
      // AlterConfigs replaces the whole set: an empty one removes them.
      await alterBroker([])
    }
    // (Kafka can show the source a moment before the value.)
    await waitUntil(async () => {
      const e = (await entries(BROKER, brokerId, ['log.cleaner.threads']))['log.cleaner.threads']
      return e.configSource === SOURCE.DEFAULT_CONFIG && e.configValue === '1'
    }, 'the dynamic configs to be removed, back to the default')
  })

  test('a name Kafka does not know is stored, its value hidden', async () => {
    await alterBroker([{ name: 'no.such.config', value: 'x' }])
    try {
      const entry = await waitUntil(
        async () => (await entries(BROKER, brokerId, ['no.such.config']))['no.such.config'],
        'the unknown config',
      )
      assert.deepEqual(
        [entry.configValue, entry.configSource, entry.readOnly, entry.isSensitive],
        [null, SOURCE.DYNAMIC_BROKER_CONFIG, true, true],
      )
    } finally {
      await alterBroker([])
    }
  })

  test("the cluster-wide default (name '') is DYNAMIC_DEFAULT_BROKER_CONFIG, and lists only what is set there", async () => {
    const alterDefault = async (configEntries) => {
      const { resources } = await broker.alterConfigs({
        resources: [{ type: BROKER, name: '', configEntries }],
      })
      assert.deepEqual(resources.map((r) => [r.errorCode, r.errorMessage]), [[0, null]])
    }
    // What is there already (Kafka 4.1 keeps min.insync.replicas there), kept by the change.
    const before = Object.values(await entries(BROKER, '', undefined)).map((e) => ({
      name: e.configName,
      value: e.configValue,
    }))
    // (Kafka takes at most double the threads it has: 1.)
    await alterDefault([...before, { name: 'log.cleaner.threads', value: '2' }])
    try {
      const own = await waitUntil(async () => {
        const e = await entries(BROKER, brokerId, ['log.cleaner.threads'])
        return e['log.cleaner.threads'].configValue === '2' && e['log.cleaner.threads']
      }, 'the cluster-wide config on the broker')
      assert.equal(own.configSource, SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG)
      const cluster = await entries(BROKER, '', undefined)
      assert.deepEqual(Object.keys(cluster).sort(), [...before.map((c) => c.name), 'log.cleaner.threads'].sort())
      assert.deepEqual(cluster['log.cleaner.threads'].configSynonyms, [
        { configName: 'log.cleaner.threads', configValue: '2', configSource: SOURCE.DYNAMIC_DEFAULT_BROKER_CONFIG },
      ])
    } finally {
      await alterDefault(before)
    }
  })

  test("IncrementalAlterConfigs sets and deletes one of a broker's dynamic configs", async () => {
    const [, port] = cluster.brokers[0].split(':')
    const connection = await rawConnection(Number(port))
    let correlationId = 0
    // IncrementalAlterConfigs v0 (kafkajs has none) of one op on this broker: errors by resource.
    const incremental = async (name, operation, value) => {
      const op = Buffer.concat([
        string(name),
        Buffer.from([operation]),
        value === null ? int16(-1) : string(value),
      ])
      const resource = Buffer.concat([Buffer.from([BROKER]), string(brokerId), int32(1), op])
      const body = Buffer.concat([int32(1), resource, Buffer.from([0])])
      connection.send(request(44, 0, ++correlationId, body))
      const frame = await connection.readFrame()
      // correlation id, throttle, one response: error code, error message
      const errorCode = frame.readInt16BE(4 + 4 + 4)
      const messageLength = frame.readInt16BE(4 + 4 + 4 + 2)
      const errorMessage = messageLength < 0 ? null : frame.toString('utf8', 14 + 2, 14 + 2 + messageLength)
      return { errorCode, errorMessage }
    }
    const SET = 0
    const DELETE = 1
    try {
      assert.deepEqual(await incremental('log.cleaner.threads', SET, '2'), { errorCode: 0, errorMessage: null })
      const set = await waitUntil(async () => {
        const e = (await entries(BROKER, brokerId, ['log.cleaner.threads']))['log.cleaner.threads']
        return e.configValue === '2' && e
      }, 'the config to be set')
      assert.equal(set.configSource, SOURCE.DYNAMIC_BROKER_CONFIG)
      assert.equal((await incremental('num.partitions', SET, '5')).errorCode, 42)
      assert.deepEqual(await incremental('log.cleaner.threads', DELETE, null), { errorCode: 0, errorMessage: null })
      await waitUntil(async () => {
        const e = (await entries(BROKER, brokerId, ['log.cleaner.threads']))['log.cleaner.threads']
        return e.configSource === SOURCE.DEFAULT_CONFIG && e.configValue === '1'
      }, 'the config to be deleted, back to the default')
    } finally {
      connection.destroy()
    }
  })

  test('what Kafka cannot change at runtime is refused with INVALID_REQUEST', async () => {
    // kafkajs' own request and decoder, without the parse that turns an error into a throw.
    const refused = async (configEntries, name = brokerId) => {
      const request = broker.lookupRequest(apiKeys.AlterConfigs, requests.AlterConfigs)({
        resources: [{ type: BROKER, name, configEntries }],
        validateOnly: false,
      })
      const { resources } = await broker.connectionPool.send({
        ...request,
        response: { ...request.response, parse: async (data) => data },
      })
      const { errorCode, errorMessage } = resources[0]
      return { errorCode, errorMessage }
    }
    const invalidRequest = 42
    assert.deepEqual(await refused([{ name: 'num.partitions', value: '3' }]), {
      errorCode: invalidRequest,
      errorMessage: 'Cannot update these configs dynamically: Set(num.partitions)',
    })
    for (const [entries, name] of [
      [[{ name: 'log.retention.ms', value: 'soon' }], brokerId],
      [[{ name: 'listeners', value: 'PLAINTEXT://:1' }], ''],
      [[{ name: 'log.retention.ms', value: '1' }], String(Number(brokerId) + 1)],
      [
        [
          { name: 'log.retention.ms', value: '1' },
          { name: 'log.retention.ms', value: '2' },
        ],
        brokerId,
      ],
    ]) {
      assert.equal((await refused(entries, name)).errorCode, invalidRequest, JSON.stringify({ entries, name }))
    }
    // kafkajs' admin sees the error too, and nothing changed.
    await assert.rejects(alterBroker([{ name: 'node.id', value: '7' }]), (err) => err.type === 'INVALID_REQUEST')
    const nodeId = (await entries(BROKER, brokerId, ['node.id']))['node.id']
    assert.equal(nodeId.configValue, brokerId)
  })
})
