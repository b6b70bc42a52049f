// Share groups (KIP-932, "queues") with the real Java client (kafka-clients 4.1's
// KafkaShareConsumer, explicit acknowledgement), driven through conformance/java's ShareDriver.
// scripts/apache-kafka.sh formats the reference broker with share.version=1 and the same share
// settings as the emulator here (2 s acquisition locks, delivery count limit 3, 200 ms heartbeats).
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')
const { startBroker, startKafka, uniqueName, emulatorOnly, partitionsServed, waitUntil } = require('./helpers')
const { prepareJavaDriver, JavaClients } = require('./java')

const javaMissing = prepareJavaDriver('ShareDriver')
const skip = javaMissing && !process.env.CI ? `Java client unavailable (${javaMissing}); CI fails here` : false

const SHARE_OPTIONS = {
  groupShareHeartbeatIntervalMs: 200,
  groupShareSessionTimeoutMs: 3000,
  groupShareRecordLockDurationMs: 2000,
  groupShareDeliveryCountLimit: 3,
}

let broker
let kafka
let admin
let producer
let clients

before(async () => {
  broker = await startBroker(SHARE_OPTIONS)
  kafka = new Kafka({ brokers: broker.brokers, clientId: 'share-test', logLevel: logLevel.NOTHING })
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
  if (!javaMissing) clients = new JavaClients('ShareDriver', broker.brokers[0])
})

after(async () => {
  await clients?.exit()
  await producer?.disconnect()
  await admin?.disconnect()
  await broker?.stop()
})

function requireJava() {
  if (javaMissing) assert.fail(`the Java client is needed (CI=true): ${javaMissing}`)
}

const records = (pred) => clients.events.filter((e) => e.event === 'record' && pred(e))

async function newTopic(prefix, numPartitions = 1) {
  const topic = uniqueName(prefix)
  await admin.createTopics({ topics: [{ topic, numPartitions }] })
  await partitionsServed(admin, topic)
  return topic
}

/** Starts share consumers `names` in `group` and waits until each has been delivered a record.
 * A share group starts at the latest offset (share.auto.offset.reset) when it first fetches a
 * partition, so warm-up records go out until every consumer has fetched. */
async function startConsumers(group, topic, names, partitions = 1, via = clients) {
  for (const name of names) via.send(`share ${name} ${group} ${topic}`)
  const from = via.events.length
  const got = (name) => via.events.slice(from).some((e) => e.event === 'record' && e.consumer === name)
  let i = 0
  const warm = setInterval(() => {
    producer.send({ topic, messages: [{ value: `warm-${i}`, partition: i++ % partitions }] }).catch(() => {})
  }, 200)
  try {
    await via.until(() => names.every(got), `${names.join(', ')} to be delivered records`, 60000)
  } finally {
    clearInterval(warm)
  }
}

async function closeAll(names) {
  const from = clients.events.length
  for (const name of names) clients.send(`close ${name}`)
  for (const name of names) {
    await clients.event((e) => e.consumer === name && (e.event === 'closed' || e.event === 'error'), `${name} to close`, from)
  }
}

test('two members of one share group split a topic\'s records, each record delivered once', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = await newTopic('share-split', 2)
  const group = uniqueName('share-split')
  // Each member is delivered records (startConsumers waits for that), none of them twice.
  await startConsumers(group, topic, ['s1', 's2'], 2)
  const messages = Array.from({ length: 40 }, (_, i) => ({ value: `r${i}`, partition: i % 2 }))
  await producer.send({ topic, messages })
  const mine = (e) => e.consumer === 's1' || e.consumer === 's2'
  const isBatch = (e) => /^r\d+$/.test(e.value)
  await clients.until(() => new Set(records((e) => mine(e) && isBatch(e)).map((e) => e.value)).size === 40, 'all 40 records to be delivered')
  const delivered = records(mine)
  assert.equal(new Set(delivered.map((e) => e.value)).size, delivered.length, 'no record delivered twice')
  assert.ok(delivered.every((e) => e.deliveryCount === 1))
  const by = (name) => delivered.filter((e) => e.consumer === name).length
  assert.ok(by('s1') > 0 && by('s2') > 0, `both members got records (s1 ${by('s1')}, s2 ${by('s2')})`)

  // The Java admin describes the group (ShareGroupDescribe).
  const from = clients.events.length
  clients.send(`describe ${group}`)
  const described = await clients.event((e) => e.event === 'described', 'describeShareGroups', from)
  assert.equal(described.state, 'Stable')
  assert.deepEqual(described.members.map((m) => m.clientId).sort(), ['s1', 's2'])
  // Every partition has a member (Kafka's assignor may give one to both).
  assert.deepEqual([...new Set(described.members.flatMap((m) => m.partitions))].sort(), [0, 1])
  await closeAll(['s1', 's2'])
})

test('a RELEASEd record comes back with delivery count 2; a REJECTed one never does', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = await newTopic('share-ack')
  const group = uniqueName('share-ack')
  await startConsumers(group, topic, ['a1'])
  await producer.send({ topic, messages: [{ value: 'release-once' }, { value: 'reject' }, { value: 'after' }] })
  await clients.until(() => records((e) => e.value === 'release-once' && e.deliveryCount === 2).length, 'the released record again')
  await clients.until(() => records((e) => e.consumer === 'a1' && e.value === 'after').length, 'the record after')
  await closeAll(['a1'])
  assert.deepEqual(records((e) => e.value === 'release-once').map((e) => e.deliveryCount), [1, 2])
  assert.deepEqual(records((e) => e.value === 'reject').map((e) => e.deliveryCount), [1])
})

test('a record whose acquisition lock expires is delivered again, to another member', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = await newTopic('share-lock')
  const group = uniqueName('share-lock')
  // The holder runs in a JVM of its own, paused (SIGSTOP) once it holds the record: it neither
  // acknowledges nor fetches again, its connections stay open (a closed one would release the
  // record at once), and the lock runs out before its session does.
  const holder = new JavaClients('ShareDriver', broker.brokers[0])
  try {
    await startConsumers(group, topic, ['l1'], 1, holder)
    const sent = Date.now()
    await producer.send({ topic, messages: [{ value: 'hold-once' }] })
    await holder.event((e) => e.event === 'holding', 'l1 to hold the record')
    holder.child.kill('SIGSTOP')
    clients.send(`share l2 ${group} ${topic}`)
    const again = await clients.event((e) => e.value === 'hold-once' && e.consumer === 'l2', 'the held record to come back to l2')
    assert.equal(again.deliveryCount, 2)
    assert.ok(Date.now() - sent >= 1900, 'not before the 2 s lock ran out')
    assert.deepEqual(holder.events.filter((e) => e.value === 'hold-once').map((e) => e.deliveryCount), [1])
  } finally {
    holder.child.kill('SIGKILL')
  }
  await closeAll(['l2'])
})

test('a record released as often as the delivery count limit is archived', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = await newTopic('share-limit')
  const group = uniqueName('share-limit')
  await startConsumers(group, topic, ['d1'])
  await producer.send({ topic, messages: [{ value: 'release-always' }, { value: 'last' }] })
  await clients.until(() => records((e) => e.value === 'release-always' && e.deliveryCount === 3).length, 'the third delivery')
  await clients.until(() => records((e) => e.consumer === 'd1' && e.value === 'last').length, 'the record after')
  // Another round trip: an archived record would have come back by then.
  await producer.send({ topic, messages: [{ value: 'later' }] })
  await clients.until(() => records((e) => e.consumer === 'd1' && e.value === 'later').length, 'a later record')
  await closeAll(['d1'])
  assert.deepEqual(records((e) => e.value === 'release-always').map((e) => e.deliveryCount), [1, 2, 3])
})

/** Sends an admin command and waits for its answer ("failed" included). */
async function adminCommand(command, answer) {
  const from = clients.events.length
  clients.send(command)
  return clients.event((e) => e.event === answer || e.event === 'failed', `${command} -> ${answer}`, from)
}

test('share.auto.offset.reset=earliest as a GROUP config; the Java admin lists, alters and deletes share group offsets and the group', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = await newTopic('share-admin')
  const group = uniqueName('share-admin')
  await producer.send({ topic, messages: ['p0', 'p1', 'p2', 'p3', 'p4'].map((value) => ({ value })) })

  const bad = await adminCommand(`config ${group} share.auto.offset.reset sometimes`, 'config')
  assert.equal(bad.event, 'failed')
  assert.equal(bad.type, 'InvalidConfigurationException')
  const config = await adminCommand(`config ${group} share.auto.offset.reset earliest`, 'config')
  assert.deepEqual([config.value, config.source], ['earliest', 'DYNAMIC_GROUP_CONFIG'])

  // Records written before the group's first fetch are delivered: it starts at the earliest.
  clients.send(`share o1 ${group} ${topic}`)
  await clients.until(() => records((e) => e.consumer === 'o1').length === 5, 'o1 to be delivered p0..p4')
  await closeAll(['o1'])
  const startOffset = async () => (await adminCommand(`offsets ${group}`, 'offsets')).offsets
  const listed = await adminCommand('list', 'listed')
  assert.deepEqual(listed.groups.filter((g) => g.group === group), [{ group, type: 'Share', state: 'Empty' }])

  // Offsets can be altered. (What the group then consumes is not compared: Kafka 4.1.1 lists
  // start offset 0 and keeps serving the share-partition as it was; see docs/compatibility.md.)
  const altered = await adminCommand(`alter ${group} ${topic} 0 2`, 'altered')
  assert.equal(altered.event, 'altered', JSON.stringify(altered))
  assert.deepEqual((await startOffset()).map((o) => o.partition), [0])
  clients.send(`share o2 ${group} ${topic}`)
  await waitUntil(async () => (await adminCommand(`describe ${group}`, 'described')).members?.length === 1, 'o2 to join')
  const refused = await adminCommand(`delete ${group}`, 'deleted')
  assert.equal(refused.type, 'GroupNotEmptyException')
  await closeAll(['o2'])

  assert.equal((await adminCommand(`deleteoffsets ${group} ${topic}`, 'deletedOffsets')).event, 'deletedOffsets')
  assert.equal((await adminCommand(`delete ${group}`, 'deleted')).event, 'deleted')
  const after = await adminCommand('list', 'listed')
  assert.deepEqual(after.groups.filter((g) => g.group === group), [])
})

test('with share.version 0 a share consumer is refused, as by Kafka without the feature', { skip: skip || emulatorOnly('the features start option').skip, timeout: 60000 }, async () => {
  requireJava()
  const off = await startKafka({ features: { 'share.version': 0 } })
  const offClients = new JavaClients('ShareDriver', off.brokers[0])
  try {
    offClients.send('share o1 g-off t-off')
    const failed = await offClients.event((e) => e.event === 'error' && e.consumer === 'o1', 'the share consumer to fail')
    assert.match(failed.type, /UnsupportedVersion/)
  } finally {
    await offClients.exit()
    await off.stop()
  }
})

test('kafka.groups() shows a share group, its members and the records they hold', { skip: skip || emulatorOnly('kafka.groups()').skip, timeout: 60000 }, async () => {
  requireJava()
  const topic = await newTopic('share-view')
  const group = uniqueName('share-view')
  await startConsumers(group, topic, ['v1'])
  const from = clients.events.length
  await producer.send({ topic, messages: [{ value: 'hold-once' }] })
  await clients.event((e) => e.event === 'holding' && e.consumer === 'v1', 'v1 to hold the record', from)
  const share = broker.groups().find((g) => g.groupId === group)
  assert.equal(share.type, 'share')
  assert.equal(share.state, 'Stable')
  assert.deepEqual(share.members.map((m) => [m.clientId, m.assignment[topic]]), [['v1', [0]]])
  const [partition] = share.sharePartitions
  assert.equal(partition.topic, topic)
  assert.ok(partition.acquired >= 1 && partition.inFlight >= partition.acquired, JSON.stringify(partition))
  assert.ok(broker.groups().filter((g) => g.type === 'classic').every((g) => g.sharePartitions === null || g.sharePartitions === undefined))
  await closeAll(['v1'])
})

test('a share consumer rides out failed ShareFetches (failNext), and reset() deletes share groups', { skip: skip || emulatorOnly('failNext and reset()').skip, timeout: 60000 }, async () => {
  requireJava()
  const topic = await newTopic('share-faults')
  const group = uniqueName('share-faults')
  await startConsumers(group, topic, ['f1'])
  broker.failNext({ api: 'ShareFetch', error: 'UNKNOWN_SERVER_ERROR', count: 2 })
  await producer.send({ topic, messages: [{ value: 'after-faults' }] })
  await clients.until(() => records((e) => e.consumer === 'f1' && e.value === 'after-faults').length, 'the record after the faults')
  const failed = broker.requests().filter((r) => r.api === 'ShareFetch' && r.errorCode === -1)
  assert.equal(failed.length, 2)
  await closeAll(['f1'])
  await broker.reset()
  assert.deepEqual(broker.groups().filter((g) => g.type === 'share'), [])
})

test('a share consumer carries on when its group coordinator stops', { skip: skip || emulatorOnly('a cluster of two brokers, stopBroker').skip, timeout: 90000 }, async () => {
  requireJava()
  const cluster = await startKafka({ brokers: 2, ...SHARE_OPTIONS })
  const two = new JavaClients('ShareDriver', cluster.brokers.join(','))
  const twoKafka = new Kafka({ brokers: cluster.brokers, clientId: 'share-two', logLevel: logLevel.NOTHING })
  const twoProducer = twoKafka.producer()
  try {
    await twoProducer.connect()
    const topic = uniqueName('share-failover')
    const group = uniqueName('share-failover')
    await cluster.createTopic(topic, { partitions: 2 })
    two.send(`share c1 ${group} ${topic}`)
    let i = 0
    const send = () => twoProducer.send({ topic, messages: [{ value: `m${i++}` }] }).catch(() => {})
    const warm = setInterval(send, 200)
    try {
      await two.event((e) => e.event === 'record' && e.consumer === 'c1', 'c1 to be delivered a record')
      const coordinator = cluster.groups().find((g) => g.groupId === group).coordinator
      await cluster.stopBroker(coordinator)
      const from = two.events.length
      await two.event((e) => e.event === 'record' && e.consumer === 'c1', 'a record after the coordinator stopped', from, 60000)
      assert.notEqual(cluster.groups().find((g) => g.groupId === group).coordinator, coordinator)
    } finally {
      clearInterval(warm)
    }
  } finally {
    await two.exit()
    await twoProducer.disconnect()
    await cluster.stop()
  }
})

test('a share consumer is refused the id of a classic group', { skip, timeout: 60000 }, async () => {
  requireJava()
  const topic = await newTopic('share-classic')
  const group = uniqueName('share-classic')
  const classic = kafka.consumer({ groupId: group })
  await classic.connect()
  try {
    await classic.subscribe({ topic })
    const joined = new Promise((resolve) => classic.on(classic.events.GROUP_JOIN, resolve))
    await classic.run({ eachMessage: async () => {} })
    await joined
    clients.send(`share x1 ${group} ${topic}`)
    const failed = await clients.event((e) => e.event === 'error' && e.consumer === 'x1', 'the share consumer to fail')
    assert.match(`${failed.type}: ${failed.message}`, /GroupIdNotFound.*is not a share group/)
  } finally {
    await classic.disconnect()
  }
})

test('a classic consumer is refused the id of a share group (INCONSISTENT_GROUP_PROTOCOL)', { skip, timeout: 60000 }, async () => {
  requireJava()
  const topic = await newTopic('share-taken')
  const group = uniqueName('share-taken')
  await startConsumers(group, topic, ['t1'])
  const classic = kafka.consumer({ groupId: group, retry: { retries: 0 } })
  const crashed = new Promise((resolve) => classic.on(classic.events.CRASH, (e) => resolve(e.payload.error)))
  try {
    await classic.connect()
    await classic.subscribe({ topic })
    await classic.run({ eachMessage: async () => {} })
    const error = await crashed
    assert.equal(error.type, 'INCONSISTENT_GROUP_PROTOCOL')
  } finally {
    await classic.disconnect().catch(() => {})
    await closeAll(['t1'])
  }
})
