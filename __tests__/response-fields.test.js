'use strict'

// Optional fields of responses as Kafka fills them, seen through kafkajs' own decoders on a
// real socket: an error message Kafka leaves null on success is null (kafkajs decodes a null
// string as null, an empty one as ''), and FindCoordinator's is 'NONE', Errors.NONE's message,
// which Kafka writes there. Each test passes against Apache Kafka too (npm run test:external).

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const {
  logLevel,
  AclResourceTypes,
  AclOperationTypes,
  AclPermissionTypes,
  ResourcePatternTypes,
  ConfigResourceTypes,
} = require('kafkajs')
const { kafkajsBroker, startBroker, uniqueName, waitUntil } = require('./helpers')
const { int32, uvarint, request, rawConnection } = require('./wire')


function compactString(s) {
  const bytes = Buffer.from(s, 'utf8')
  return Buffer.concat([uvarint(bytes.length + 1), bytes])
}

/** Reads flexible-version fields off a response frame. */
function reader(frame) {
  let at = 0
  const uvarintAt = () => {
    let value = 0
    let shift = 0
    for (;;) {
      const byte = frame[at++]
      value |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
      shift += 7
    }
  }
  return {
    int16: () => ((at += 2), frame.readInt16BE(at - 2)),
    int32: () => ((at += 4), frame.readInt32BE(at - 4)),
    uvarint: uvarintAt,
    /** COMPACT_NULLABLE_STRING: null for a length of 0 (null), '' for 1. */
    compactString: () => {
      const length = uvarintAt() - 1
      if (length < 0) return null
      at += length
      return frame.toString('utf8', at - length, at)
    },
    taggedFields: () => {
      for (let n = uvarintAt(); n > 0; n--) {
        uvarintAt()
        at += uvarintAt()
      }
    },
  }
}

describe('response fields as Kafka fills them', () => {
  let cluster
  let broker

  before(async () => {
    cluster = await startBroker()
    broker = await kafkajsBroker(cluster.brokers[0], 'response-fields-test')
  })

  after(async () => {
    await broker?.disconnect()
    await cluster?.stop()
  })

  test('a created topic comes back with a null error message', async () => {
    const topic = uniqueName('fields-created')
    const response = await broker.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    })
    assert.deepEqual(
      response.topicErrors.map(({ topic, errorCode, errorMessage }) => ({ topic, errorCode, errorMessage })),
      [{ topic, errorCode: 0, errorMessage: null }],
    )
  })

  test('a topic whose configs were altered comes back with a null error message', async () => {
    const topic = uniqueName('fields-altered')
    await broker.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
    const response = await waitUntil(
      () =>
        broker.alterConfigs({
          resources: [
            { type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '60000' }] },
          ],
        }),
      `AlterConfigs on ${topic}`,
    )
    assert.deepEqual(response.resources, [
      { errorCode: 0, errorMessage: null, resourceType: ConfigResourceTypes.TOPIC, resourceName: topic },
    ])
    // DescribeConfigs is not one of them: Kafka leaves its error message at the schema's ''.
    const described = await broker.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
    })
    assert.equal(described.resources[0].errorMessage, '')
  })

  test('FindCoordinator v1-v3 answers with the error message NONE', async () => {
    const response = await broker.findGroupCoordinator({ groupId: uniqueName('fields-group') })
    assert.equal(response.errorCode, 0)
    assert.equal(response.errorMessage, 'NONE')
  })

  test('FindCoordinator v4 answers each coordinator with an empty error message', async () => {
    const [host, port] = cluster.brokers[0].split(':')
    assert.equal(host, '127.0.0.1')
    const connection = await rawConnection(Number(port))
    try {
      const groups = [uniqueName('fields-a'), uniqueName('fields-b')]
      // key_type 0 (group), coordinator_keys, no tagged fields.
      const body = Buffer.concat([
        Buffer.from([0]),
        uvarint(groups.length + 1),
        ...groups.map(compactString),
        uvarint(0),
      ])
      connection.send(request(10, 4, 7, body, true))
      const r = reader(await connection.readFrame())
      assert.equal(r.int32(), 7, 'correlation id')
      r.taggedFields()
      r.int32() // throttle_time_ms
      const coordinators = []
      for (let n = r.uvarint() - 1; n > 0; n--) {
        const key = r.compactString()
        r.int32() // node_id
        r.compactString() // host
        r.int32() // port
        const errorCode = r.int16()
        const errorMessage = r.compactString()
        r.taggedFields()
        coordinators.push({ key, errorCode, errorMessage })
      }
      assert.deepEqual(
        coordinators,
        // Unlike v1-v3's top-level field, Kafka leaves these at the schema's ''.
        groups.map((key) => ({ key, errorCode: 0, errorMessage: '' })),
      )
    } finally {
      connection.destroy()
    }
  })

  test('partition reassignments come back with null error messages', async () => {
    const topic = uniqueName('fields-reassigned')
    await broker.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
    const [, port] = cluster.brokers[0].split(':')
    const { nodeId } = await broker.findGroupCoordinator({ groupId: uniqueName('fields-node') }).then((r) => r.coordinator)
    const connection = await rawConnection(Number(port))
    try {
      // AlterPartitionReassignments v0: the partition onto the replica it has (a no-op).
      const alter = Buffer.concat([
        int32(30_000),
        uvarint(2),
        compactString(topic),
        uvarint(2),
        int32(0),
        uvarint(2),
        int32(nodeId),
        uvarint(0),
        uvarint(0),
        uvarint(0),
      ])
      const altered = await waitUntil(async () => {
        connection.send(request(45, 0, 1, alter, true))
        const r = reader(await connection.readFrame())
        r.int32()
        r.taggedFields()
        r.int32() // throttle_time_ms
        const top = { errorCode: r.int16(), errorMessage: r.compactString() }
        r.uvarint() // one topic
        r.compactString()
        r.uvarint() // one partition
        r.int32()
        const partition = { errorCode: r.int16(), errorMessage: r.compactString() }
        // Kafka hosts a new topic a moment after CreateTopics answers.
        return partition.errorCode === 0 && { top, partition }
      }, `AlterPartitionReassignments on ${topic}`)
      assert.deepEqual(altered, {
        top: { errorCode: 0, errorMessage: null },
        partition: { errorCode: 0, errorMessage: null },
      })
      // ListPartitionReassignments v0 of every partition (topics null).
      connection.send(request(46, 0, 2, Buffer.concat([int32(30_000), uvarint(0), uvarint(0)]), true))
      const r = reader(await connection.readFrame())
      r.int32()
      r.taggedFields()
      r.int32() // throttle_time_ms
      assert.deepEqual({ errorCode: r.int16(), errorMessage: r.compactString() }, { errorCode: 0, errorMessage: null })
    } finally {
      connection.destroy()
    }
  })

  test('deleted ACLs come back with null error messages', async () => {
    const run = uniqueName('fields-acl')
    const acl = {
      resourceType: AclResourceTypes.TOPIC,
      resourceName: `${run}-topic`,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: `User:${run}`,
      host: '*',
      operation: AclOperationTypes.READ,
      permissionType: AclPermissionTypes.ALLOW,
    }
    const created = await broker.createAcls({ acl: [acl] })
    // CreateAcls leaves its message at the schema's '', as Kafka does.
    assert.deepEqual(created.creationResponses, [{ errorCode: 0, errorMessage: '' }])
    const described = await waitUntil(async () => {
      const response = await broker.describeAcls(acl)
      return response.resources.length > 0 && response
    }, `the ACL of ${run}`)
    assert.equal(described.errorMessage, '')
    const deleted = await broker.deleteAcls({ filters: [acl] })
    assert.equal(deleted.filterResponses.length, 1)
    const [filter] = deleted.filterResponses
    assert.equal(filter.errorMessage, null)
    assert.deepEqual(
      filter.matchingAcls.map(({ errorCode, errorMessage, resourceName }) => ({ errorCode, errorMessage, resourceName })),
      [{ errorCode: 0, errorMessage: null, resourceName: `${run}-topic` }],
    )
  })
})
