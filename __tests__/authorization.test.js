'use strict'

// ACLs enforced (`startKafka({ authorization })`) as Kafka's StandardAuthorizer does, seen by a
// kafkajs client. Until a listener authenticates, every client is User:ANONYMOUS; the ACLs its
// tests need are set with `kafka.createAcls`, which no client principal could do.

if (require('./helpers').emulatorOnlyFile('ACL enforcement is the startKafka authorization option')) return

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = require('kafkajs')
const { startKafka, client, defer, uniqueName, startConsumer, PACKAGE_DIR } = require('./helpers')

const ANONYMOUS = 'User:ANONYMOUS'

/** The Kafka error name an error carries, however kafkajs wrapped it. */
function kafkaErrorType(err) {
  for (let e = err; e; e = e.cause || e.originalError || (e.errors && e.errors[0])) {
    if (e.type) return e.type
  }
  return `${err && err.name}: ${err && err.message}`
}

/** An assert.rejects matcher for a Kafka error. */
const failsWith = (type) => (err) => {
  assert.equal(kafkaErrorType(err), type)
  return true
}

/** An ACL allowing (or with `permissionType: 'DENY'`, denying) `principal` an operation. */
function acl(resourceType, resourceName, operation, extra = {}) {
  return { resourceType, resourceName, principal: ANONYMOUS, operation, permissionType: 'ALLOW', ...extra }
}

/** Whether the broker answered `api` with `error` (its request log). */
function answered(kafka, api, error) {
  return kafka.requests().some((r) => r.api === api && r.error === error)
}

async function connectedProducer(t, kafka, options = {}) {
  const producer = client(kafka).producer(options)
  await producer.connect()
  defer(t, () => producer.disconnect())
  return producer
}

async function connectedAdmin(t, kafka) {
  const admin = client(kafka).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  return admin
}

const message = (value) => ({ messages: [{ key: 'k', value }] })

describe('a broker enforcing ACLs, everyone denied where no ACL allows', () => {
  let kafka

  before(async () => {
    kafka = await startKafka({
      authorization: { superUsers: ['User:admin'], allowEveryoneIfNoAclFound: false },
    })
  })

  after(() => kafka.stop())

  test('produce and fetch are refused with TOPIC_AUTHORIZATION_FAILED where the ACLs do not allow them', async (t) => {
    const [open, readOnly, writeOnly, denied] = ['open', 'read-only', 'write-only', 'denied'].map(uniqueName)
    for (const topic of [open, readOnly, writeOnly, denied]) kafka.createTopic(topic)
    const [group, otherGroup] = [uniqueName('group'), uniqueName('group')]
    kafka.createAcls([
      acl('TOPIC', open, 'READ'),
      acl('TOPIC', open, 'WRITE'),
      acl('TOPIC', readOnly, 'READ'),
      acl('TOPIC', writeOnly, 'WRITE'),
      // Everyone may do anything with `denied`, except the anonymous user: DENY wins.
      acl('TOPIC', denied, 'ALL', { principal: 'User:*' }),
      acl('TOPIC', denied, 'ALL', { permissionType: 'DENY' }),
      acl('GROUP', group, 'READ'),
      acl('GROUP', otherGroup, 'READ'),
    ])

    const producer = await connectedProducer(t, kafka)
    await producer.send({ topic: open, ...message('allowed') })
    // READ implies DESCRIBE, so the topic is found; writing it is refused by Produce itself.
    await assert.rejects(
      (await connectedProducer(t, kafka)).send({ topic: readOnly, ...message('x') }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
    assert.ok(answered(kafka, 'Produce', 'TOPIC_AUTHORIZATION_FAILED'), 'Produce refused')
    await assert.rejects(
      (await connectedProducer(t, kafka)).send({ topic: denied, ...message('x') }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
    await (await connectedProducer(t, kafka)).send({ topic: writeOnly, ...message('written') })

    const reader = await startConsumer(client(kafka), { topics: [open], groupId: group })
    defer(t, () => reader.disconnect())
    const [record] = await reader.waitFor(1)
    assert.equal(record.value.toString(), 'allowed')

    const refused = await startConsumer(client(kafka), { topics: [writeOnly], groupId: otherGroup })
    defer(t, () => refused.disconnect())
    await assert.rejects(refused.waitFor(1), failsWith('TOPIC_AUTHORIZATION_FAILED'))
    assert.ok(answered(kafka, 'Fetch', 'TOPIC_AUTHORIZATION_FAILED'), 'Fetch refused')
    assert.deepEqual(kafka.messages(writeOnly).map((m) => m.value.toString()), ['written'])
    assert.deepEqual(kafka.messages(readOnly), [], 'nothing written where WRITE is not allowed')
  })

  test('metadata hides the topics the principal may not describe', async (t) => {
    const [visible, hidden, prefixed] = [uniqueName('visible'), uniqueName('hidden'), uniqueName('team-a')]
    for (const topic of [visible, hidden, prefixed]) kafka.createTopic(topic)
    kafka.createAcls([
      acl('TOPIC', visible, 'DESCRIBE'),
      acl('TOPIC', 'team-a', 'DESCRIBE', { resourcePatternType: 'PREFIXED' }),
    ])
    const admin = await connectedAdmin(t, kafka)
    const listed = await admin.listTopics()
    assert.ok(listed.includes(visible) && listed.includes(prefixed), `listed ${listed}`)
    assert.ok(!listed.includes(hidden), 'the undescribable topic is not listed')

    const { topics } = await admin.fetchTopicMetadata({ topics: [visible] })
    assert.equal(topics[0].name, visible)
    await assert.rejects(
      admin.fetchTopicMetadata({ topics: [hidden] }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
    // A missing topic it may not describe looks the same as an existing one.
    await assert.rejects(
      admin.fetchTopicMetadata({ topics: [uniqueName('missing')] }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
  })

  test('auto-creation needs CREATE on the topic or the cluster', async (t) => {
    const [creatable, notCreatable] = [uniqueName('creatable'), uniqueName('not-creatable')]
    kafka.createAcls([
      acl('TOPIC', creatable, 'CREATE'),
      acl('TOPIC', creatable, 'WRITE'),
      acl('TOPIC', notCreatable, 'WRITE'),
    ])
    await (await connectedProducer(t, kafka)).send({ topic: creatable, ...message('v') })
    assert.equal(kafka.messages(creatable).length, 1)
    await assert.rejects(
      (await connectedProducer(t, kafka)).send({ topic: notCreatable, ...message('v') }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
    const admin = await connectedAdmin(t, kafka)
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: notCreatable }] }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
  })

  test('a consumer whose group may not be read fails with GROUP_AUTHORIZATION_FAILED', async (t) => {
    const topic = uniqueName('topic')
    kafka.createTopic(topic)
    const [describeOnly, unnamed] = [uniqueName('describe-only'), uniqueName('unnamed')]
    kafka.createAcls([acl('TOPIC', topic, 'READ'), acl('GROUP', describeOnly, 'DESCRIBE')])

    // It finds its coordinator (DESCRIBE) but may not join (READ).
    const joining = await startConsumer(client(kafka), { topics: [topic], groupId: describeOnly })
    defer(t, () => joining.disconnect())
    await assert.rejects(joining.waitFor(1), failsWith('GROUP_AUTHORIZATION_FAILED'))
    assert.ok(answered(kafka, 'JoinGroup', 'GROUP_AUTHORIZATION_FAILED'), 'JoinGroup refused')

    // Without any ACL on the group it is not even told the coordinator (which kafkajs reports
    // as not found).
    const finding = await startConsumer(client(kafka), { topics: [topic], groupId: unnamed })
    defer(t, () => finding.disconnect())
    await assert.rejects(finding.waitFor(1), { name: 'KafkaJSGroupCoordinatorNotFound' })
    assert.ok(answered(kafka, 'FindCoordinator', 'GROUP_AUTHORIZATION_FAILED'), 'FindCoordinator refused')
  })

  test('a transactional producer needs WRITE on its transactional id', async (t) => {
    const topic = uniqueName('txn-topic')
    kafka.createTopic(topic)
    const [allowedId, describeOnlyId, unnamedId] = ['allowed', 'describe-only', 'unnamed'].map(uniqueName)
    kafka.createAcls([
      acl('TOPIC', topic, 'WRITE'),
      acl('TRANSACTIONAL_ID', allowedId, 'WRITE'),
      acl('TRANSACTIONAL_ID', describeOnlyId, 'DESCRIBE'),
    ])
    const transactional = (transactionalId) =>
      connectedProducer(t, kafka, { transactionalId, idempotent: true, maxInFlightRequests: 1 })

    const producer = await transactional(allowedId)
    const txn = await producer.transaction()
    await txn.send({ topic, ...message('in a transaction') })
    await txn.commit()
    assert.equal(kafka.messages(topic).length, 1)

    await assert.rejects((await transactional(describeOnlyId)).transaction(), failsWith('TRANSACTIONAL_ID_AUTHORIZATION_FAILED'))
    assert.ok(answered(kafka, 'InitProducerId', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'), 'InitProducerId refused')
    // Without DESCRIBE it is not even told its coordinator (which kafkajs reports as not found).
    kafka.clearRequests()
    await assert.rejects((await transactional(unnamedId)).transaction(), { name: 'KafkaJSGroupCoordinatorNotFound' })
    assert.ok(answered(kafka, 'FindCoordinator', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'), 'FindCoordinator refused')
  })

  test('ACL administration needs ALTER or DESCRIBE on the cluster: CLUSTER_AUTHORIZATION_FAILED', async (t) => {
    // A broker of its own: the ALTER on the cluster granted below would open the others' tests.
    const kafka = await startKafka({ authorization: {} })
    defer(t, () => kafka.stop())
    const admin = await connectedAdmin(t, kafka)
    const binding = {
      resourceType: AclResourceTypes.TOPIC,
      resourceName: uniqueName('acl-topic'),
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: 'User:alice',
      host: '*',
      operation: AclOperationTypes.READ,
      permissionType: AclPermissionTypes.ALLOW,
    }
    const anyAcl = {
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    }
    await assert.rejects(admin.createAcls({ acl: [binding] }), failsWith('CLUSTER_AUTHORIZATION_FAILED'))
    await assert.rejects(admin.describeAcls(anyAcl), failsWith('CLUSTER_AUTHORIZATION_FAILED'))
    await assert.rejects(admin.describeCluster().then(() => admin.describeConfigs({
      resources: [{ type: 4, name: '0' }],
      includeSynonyms: false,
    })), failsWith('CLUSTER_AUTHORIZATION_FAILED'))

    kafka.createAcls([acl('CLUSTER', 'kafka-cluster', 'ALTER')])
    await admin.createAcls({ acl: [binding] })
    // ALTER implies DESCRIBE.
    const described = await admin.describeAcls({ ...anyAcl, principal: 'User:alice' })
    assert.equal(described.resources[0].resourceName, binding.resourceName)
  })
})

describe('an idempotent producer', () => {
  test('needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic: CLUSTER_AUTHORIZATION_FAILED', async (t) => {
    const kafka = await startKafka({ authorization: {} })
    defer(t, () => kafka.stop())
    const topic = uniqueName('idempotent')
    kafka.createTopic(topic)
    kafka.createAcls([acl('TOPIC', topic, 'DESCRIBE')])
    const idempotent = () => connectedProducer(t, kafka, { idempotent: true, maxInFlightRequests: 1 })
    // kafkajs asks for its producer id as it connects.
    await assert.rejects(idempotent(), failsWith('CLUSTER_AUTHORIZATION_FAILED'))
    assert.ok(answered(kafka, 'InitProducerId', 'CLUSTER_AUTHORIZATION_FAILED'), 'InitProducerId refused')
    kafka.createAcls([acl('TOPIC', topic, 'WRITE')])
    await (await idempotent()).send({ topic, ...message('once') })
    assert.deepEqual(kafka.messages(topic).map((m) => m.value.toString()), ['once'])
  })
})

describe('ListGroups', () => {
  test('groups the principal may not describe are left out of ListGroups, unless it may describe the cluster', async (t) => {
    // A broker of its own: DESCRIBE on the cluster would open other tests' ACL administration.
    const kafka = await startKafka({ authorization: {} })
    defer(t, () => kafka.stop())
    const topic = uniqueName('listed')
    kafka.createTopic(topic)
    const [shown, hidden] = [uniqueName('shown'), uniqueName('hidden')]
    kafka.createAcls([acl('TOPIC', topic, 'READ'), acl('GROUP', shown, 'READ'), acl('GROUP', hidden, 'READ')])
    const admin = await connectedAdmin(t, kafka)
    for (const groupId of [shown, hidden]) {
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] })
    }
    const listed = async () => (await admin.listGroups()).groups.map((g) => g.groupId).filter((id) => [shown, hidden].includes(id)).sort()
    assert.deepEqual(await listed(), [hidden, shown].sort())
    kafka.createAcls([acl('GROUP', hidden, 'DESCRIBE', { permissionType: 'DENY' })])
    assert.deepEqual(await listed(), [shown])
    kafka.createAcls([acl('CLUSTER', 'kafka-cluster', 'DESCRIBE')])
    assert.deepEqual(await listed(), [hidden, shown].sort())
  })

})

describe('a super user', () => {
  test('may do everything without any ACL', async (t) => {
    const kafka = await startKafka({ authorization: { superUsers: [ANONYMOUS] } })
    defer(t, () => kafka.stop())
    const topic = uniqueName('super')
    const producer = await connectedProducer(t, kafka)
    await producer.send({ topic, ...message('auto-created and written') })
    const consumer = await startConsumer(client(kafka), { topics: [topic] })
    defer(t, () => consumer.disconnect())
    await consumer.waitFor(1)
    const admin = await connectedAdmin(t, kafka)
    await admin.createAcls({
      acl: [{
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: ANONYMOUS,
        host: '*',
        operation: AclOperationTypes.ALL,
        permissionType: AclPermissionTypes.DENY,
      }],
    })
    // Even a DENY naming the super user does not apply to it.
    await producer.send({ topic, ...message('still allowed') })
    const doomed = uniqueName('doomed')
    kafka.createTopic(doomed)
    await admin.deleteTopics({ topics: [doomed] })
    assert.ok(!(await admin.listTopics()).includes(doomed))
  })
})

describe('allowEveryoneIfNoAclFound', () => {
  test('lets anyone use a resource no ACL names, but not one an ACL names for someone else', async (t) => {
    const kafka = await startKafka({ authorization: { allowEveryoneIfNoAclFound: true } })
    defer(t, () => kafka.stop())
    const [free, bobs] = [uniqueName('free'), uniqueName('bobs')]
    kafka.createTopic(bobs)
    kafka.createAcls([acl('TOPIC', bobs, 'ALL', { principal: 'User:bob' })])
    await (await connectedProducer(t, kafka)).send({ topic: free, ...message('v') })
    const consumer = await startConsumer(client(kafka), { topics: [free] })
    defer(t, () => consumer.disconnect())
    await consumer.waitFor(1)
    await assert.rejects(
      (await connectedProducer(t, kafka)).send({ topic: bobs, ...message('v') }),
      failsWith('TOPIC_AUTHORIZATION_FAILED'),
    )
    const admin = await connectedAdmin(t, kafka)
    assert.ok(!(await admin.listTopics()).includes(bobs))
  })
})

describe('without authorization', () => {
  test('ACLs are stored and described but not enforced', async (t) => {
    const kafka = await startKafka()
    defer(t, () => kafka.stop())
    const topic = uniqueName('unenforced')
    const admin = await connectedAdmin(t, kafka)
    await admin.createAcls({
      acl: [{
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: 'User:*',
        host: '*',
        operation: AclOperationTypes.ALL,
        permissionType: AclPermissionTypes.DENY,
      }],
    })
    const described = await admin.describeAcls({
      resourceType: AclResourceTypes.TOPIC,
      resourceName: topic,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    })
    assert.equal(described.resources.length, 1)
    await (await connectedProducer(t, kafka)).send({ topic, ...message('v') })
    const consumer = await startConsumer(client(kafka), { topics: [topic] })
    defer(t, () => consumer.disconnect())
    await consumer.waitFor(1)
  })
})

describe('kafka.createAcls', () => {
  test('refuses an ACL Kafka would refuse, adding none', async (t) => {
    const kafka = await startKafka({ authorization: {} })
    defer(t, () => kafka.stop())
    assert.throws(
      () => kafka.createAcls([acl('TOPIC', 't', 'READ'), acl('TOPIC', 't', 'READ', { principal: 'alice' })]),
      (err) => err.code === 'ERR_INVALID_ARG_VALUE' && /principal/.test(err.message),
    )
    assert.throws(() => kafka.createAcls([acl('TOPIK', 't', 'READ')]), {
      code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
      message: /^kafka\.createAcls: acls\[0\]\.resourceType must be .*, got "TOPIK" \(did you mean "TOPIC"\?\)$/,
    })
    assert.throws(() => startKafka({ authorization: { superUsers: ['admin'] } }), /User:admin/)
    // Nothing was added: with no ACL at all the cluster is closed, and ACLs may not be read.
    const admin = await connectedAdmin(t, kafka)
    await assert.rejects(admin.listTopics().then(() => admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    })), failsWith('CLUSTER_AUTHORIZATION_FAILED'))
  })
})

// Real principals come from SASL (another part of issue 6); this runs once startKafka has it.
const saslAvailable = /\bsasl\?:/.test(fs.readFileSync(path.join(PACKAGE_DIR, 'index.d.ts'), 'utf8'))

describe('two SASL users', { skip: !saslAvailable && 'startKafka has no sasl option yet' }, () => {
  test('each may use only what its ACLs allow', async (t) => {
    const kafka = await startKafka({
      sasl: {
        mechanisms: ['PLAIN'],
        users: [
          { username: 'alice', password: 'alice-secret' },
          { username: 'bob', password: 'bob-secret' },
          { username: 'admin', password: 'admin-secret' },
        ],
      },
      authorization: { superUsers: ['User:admin'] },
    })
    defer(t, () => kafka.stop())
    const as = (username) => client(kafka, { sasl: { mechanism: 'plain', username, password: `${username}-secret` } })
    const topic = uniqueName('alices')
    const admin = as('admin').admin()
    await admin.connect()
    defer(t, () => admin.disconnect())
    await admin.createTopics({ topics: [{ topic }] })
    await admin.createAcls({
      acl: [{
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: 'User:alice',
        host: '*',
        operation: AclOperationTypes.WRITE,
        permissionType: AclPermissionTypes.ALLOW,
      }],
    })
    const alice = as('alice').producer()
    await alice.connect()
    defer(t, () => alice.disconnect())
    await alice.send({ topic, ...message('from alice') })

    const bob = as('bob').producer()
    await bob.connect()
    defer(t, () => bob.disconnect())
    await assert.rejects(bob.send({ topic, ...message('from bob') }), failsWith('TOPIC_AUTHORIZATION_FAILED'))
    const bobsAdmin = as('bob').admin()
    await bobsAdmin.connect()
    defer(t, () => bobsAdmin.disconnect())
    await assert.rejects(
      bobsAdmin.deleteAcls({ filters: [{
        resourceType: AclResourceTypes.ANY,
        resourcePatternType: ResourcePatternTypes.ANY,
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      }] }),
      failsWith('CLUSTER_AUTHORIZATION_FAILED'),
    )
    assert.deepEqual(kafka.messages(topic).map((m) => m.value.toString()), ['from alice'])
  })
})
