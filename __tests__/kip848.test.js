// The consumer group protocol of KIP-848 with the real Java client (kafka-clients 4.1,
// group.protocol=consumer), driven through conformance/java's Kip848Driver: one JVM runs the
// consumers, each on its own thread, and reports rebalance callbacks and records as JSON lines.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel } = require('kafkajs')
const { startBroker, uniqueName, knownDifference, partitionsServed } = require('./helpers')
const { prepareJavaDriver, JavaClients } = require('./java')


const javaMissing = prepareJavaDriver('Kip848Driver')
// Without a JVM the tests skip locally; CI must have one.
const skip = javaMissing && !process.env.CI ? `Java client unavailable (${javaMissing}); CI fails here` : false

/** Who owns which partition according to the rebalance callbacks; notes any partition that two
 * consumers own at once, or any record read by a consumer not owning its partition. */
function trackOwnership(clients) {
  const owned = new Map() // consumer -> Set of partitions
  const violations = []
  const of = (c) => owned.get(c) ?? owned.set(c, new Set()).get(c)
  clients.onEvent((e) => {
    if (e.event === 'assigned') {
      for (const p of e.partitions) {
        for (const [other, set] of owned) {
          if (other !== e.consumer && set.has(p)) violations.push(`${e.consumer} got ${p} still owned by ${other}`)
        }
        of(e.consumer).add(p)
      }
    } else if (e.event === 'revoked' || e.event === 'lost') {
      for (const p of e.partitions) of(e.consumer).delete(p)
    } else if (e.event === 'closed' || e.event === 'error') {
      of(e.consumer).clear()
    } else if (e.event === 'record' && !of(e.consumer).has(e.partition)) {
      violations.push(`${e.consumer} read ${e.partition}@${e.offset} without owning it`)
    }
  })
  return { owned: (c) => [...of(c)].sort(), violations }
}

let broker
let kafka
let admin
let producer
let clients

before(async () => {
  // scripts/apache-kafka.sh configures the reference broker with the same two settings.
  broker = await startBroker({ groupConsumerHeartbeatIntervalMs: 200, groupConsumerSessionTimeoutMs: 3000 })
  kafka = new Kafka({ brokers: broker.brokers, clientId: 'kip848-test', logLevel: logLevel.NOTHING })
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
  if (!javaMissing) clients = new JavaClients('Kip848Driver', broker.brokers[0])
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

async function produce(topic, prefix, count, partitions = 4) {
  const messages = Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}`, partition: i % partitions }))
  await producer.send({ topic, messages })
}

/** Distinct partition@offset read by `consumer` (or by anyone). */
function recordsRead(consumer) {
  const seen = new Set()
  for (const e of clients.events) {
    if (e.event === 'record' && (!consumer || e.consumer === consumer)) seen.add(`${e.partition}@${e.offset}`)
  }
  return seen.size
}

test('two consumers using the consumer protocol share a topic, hand partitions over without overlap, and commit offsets', { skip, timeout: 180000 }, async (t) => {
  requireJava()
  const topic = uniqueName('orders-848')
  const group = uniqueName('group-848')
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
  await partitionsServed(admin, topic)
  await produce(topic, 'a', 20)
  const ownership = trackOwnership(clients)

  const started = Date.now()
  clients.send(`consumer c1 ${group} ${topic}`)
  await clients.until(() => ownership.owned('c1').length === 4, 'c1 to own the 4 partitions')
  t.diagnostic(`first assignment after ${Date.now() - started} ms (JVM already running)`)
  await clients.until(() => recordsRead('c1') === 20, 'c1 to read the first 20 records')

  // A second member: c1 revokes two partitions first, then c2 gets them.
  const joined = Date.now()
  clients.send(`consumer c2 ${group} ${topic}`)
  await clients.until(
    () => ownership.owned('c1').length === 2 && ownership.owned('c2').length === 2,
    'each consumer to own 2 partitions',
  )
  t.diagnostic(`rebalance to 2+2 took ${Date.now() - joined} ms`)
  await produce(topic, 'b', 20)
  await clients.until(() => recordsRead() === 40, 'the next 20 records to be read')
  const split = { c1: ownership.owned('c1'), c2: ownership.owned('c2') }
  for (const e of clients.events.filter((e) => e.event === 'record' && e.value.startsWith('b'))) {
    assert.ok(split[e.consumer].includes(e.partition), `${e.consumer} read ${e.value} of partition ${e.partition}`)
  }

  // The Java admin sees a consumer group (ConsumerGroupDescribe, ListGroups v5).
  let from = clients.events.length
  clients.send(`describe ${group}`)
  const described = await clients.event((e) => e.event === 'described', 'describeConsumerGroups', from)
  assert.equal(described.type, 'Consumer')
  assert.equal(described.state, 'Stable')
  assert.equal(described.assignor, 'uniform')
  assert.deepEqual(described.members.map((m) => m.partitions.length).sort(), [2, 2])
  assert.ok(described.members.every((m) => m.memberEpoch === described.groupEpoch))
  from = clients.events.length
  clients.send('list')
  const listed = await clients.event((e) => e.event === 'listed', 'listGroups', from)
  assert.deepEqual(listed.groups.find((g) => g.group === group), { group, type: 'Consumer', protocol: 'consumer' })
  const { groups } = await admin.listGroups()
  assert.deepEqual(groups.find((g) => g.groupId === group), { groupId: group, protocolType: 'consumer' })

  from = clients.events.length
  clients.send('commit c1')
  clients.send('commit c2')
  const commits = await clients.until(() => {
    const done = clients.events.slice(from).filter((e) => e.event === 'committed')
    return done.length === 2 && done
  }, 'both commits')
  assert.deepEqual(Object.assign({}, ...commits.map((c) => c.offsets)), { 0: 10, 1: 10, 2: 10, 3: 10 })

  // c2 leaves: c1 takes all four partitions at its next heartbeat.
  const left = Date.now()
  clients.send('close c2')
  await clients.until(() => ownership.owned('c1').length === 4, 'c1 to own all 4 partitions again')
  t.diagnostic(`c1 owned all partitions ${Date.now() - left} ms after c2 started closing`)
  await produce(topic, 'c', 4)
  await clients.until(() => recordsRead() === 44, 'c1 to read the records of every partition')
  from = clients.events.length
  clients.send('commit c1')
  const commit = await clients.event((e) => e.event === 'committed', 'c1 commit', from)
  assert.deepEqual(commit.offsets, { 0: 11, 1: 11, 2: 11, 3: 11 })
  from = clients.events.length
  clients.send('close c1')
  await clients.event((e) => e.event === 'closed' && e.consumer === 'c1', 'c1 to close', from)

  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  assert.deepEqual(
    offsets.partitions.map((p) => [p.partition, p.offset]).sort(),
    [[0, '11'], [1, '11'], [2, '11'], [3, '11']],
  )

  // A restarted consumer resumes from the committed offsets.
  await produce(topic, 'd', 4)
  clients.send(`consumer c3 ${group} ${topic}`)
  await clients.until(() => recordsRead('c3') === 4, 'c3 to read the 4 new records')
  const resumed = clients.events.filter((e) => e.event === 'record' && e.consumer === 'c3')
  assert.deepEqual(resumed.map((e) => e.value).sort(), ['d0', 'd1', 'd2', 'd3'])
  assert.ok(resumed.every((e) => e.offset === 11), 'nothing before the commit is read again')
  from = clients.events.length
  clients.send('close c3')
  await clients.event((e) => e.event === 'closed' && e.consumer === 'c3', 'c3 to close', from)

  assert.deepEqual(ownership.violations, [])
  assert.ok(!clients.events.some((e) => e.event === 'error'), 'no consumer failed')
})

// Kafka 4.1 converts a non-empty group between the protocols (group.consumer.migration.policy,
// bidirectional by default); the emulator refuses, as Kafka does with the policy disabled.
const migration = knownDifference('non-empty groups do not migrate between the classic and consumer protocols').skip
test('a classic group with members and a consumer protocol group cannot share a group id', { skip: skip || migration, timeout: 120000 }, async () => {
  requireJava()
  const topic = uniqueName('shared-848')
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  await partitionsServed(admin, topic)
  await produce(topic, 'x', 2, 2)
  const classicGroup = uniqueName('classic-group')
  const consumerGroup = uniqueName('consumer-group')

  // A kafkajs (classic protocol) member holds "classic-group": the Java consumer is refused.
  const classic = kafka.consumer({ groupId: classicGroup })
  const intruder = kafka.consumer({ groupId: consumerGroup, retry: { retries: 0 } })
  try {
    await classic.connect()
    await classic.subscribe({ topic, fromBeginning: true })
    const joined = new Promise((resolve) => classic.on(classic.events.GROUP_JOIN, resolve))
    let readBoth
    const bothRead = new Promise((resolve) => (readBoth = resolve))
    const read = []
    await classic.run({
      eachMessage: async ({ message }) => {
        read.push(message.value.toString())
        if (read.length === 2) readBoth()
      },
    })
    await joined
    let from = clients.events.length
    clients.send(`consumer j1 ${classicGroup} ${topic}`)
    const refused = await clients.event((e) => e.event === 'error' && e.consumer === 'j1', 'j1 to fail', from)
    assert.equal(refused.type, 'GroupIdNotFoundException')

    // Once the classic members are gone, the consumer protocol takes the group over, offsets
    // and all.
    await bothRead
    await classic.disconnect()
    from = clients.events.length
    await produce(topic, 'y', 2, 2)
    clients.send(`consumer j2 ${classicGroup} ${topic}`)
    const records = await clients.until(() => {
      const got = clients.events.slice(from).filter((e) => e.event === 'record' && e.consumer === 'j2')
      return got.length === 2 && got
    }, 'j2 to read the 2 records after the classic commits')
    assert.deepEqual(records.map((e) => e.value).sort(), ['y0', 'y1'])
    clients.send('close j2')

    // A Java member holds "consumer-group": a kafkajs member's JoinGroup is refused.
    from = clients.events.length
    clients.send(`consumer j3 ${consumerGroup} ${topic}`)
    await clients.event((e) => e.event === 'assigned' && e.consumer === 'j3' && e.partitions.length === 2, 'j3 assignment', from)
    await intruder.connect()
    await intruder.subscribe({ topic, fromBeginning: true })
    const crashed = new Promise((resolve) => intruder.on(intruder.events.CRASH, resolve))
    await intruder.run({ eachMessage: async () => {} })
    const crash = await crashed
    assert.equal(crash.payload.error.type, 'INCONSISTENT_GROUP_PROTOCOL')
    from = clients.events.length
    clients.send('close j3')
    await clients.event((e) => e.event === 'closed' && e.consumer === 'j3', 'j3 to close', from)
  } finally {
    await classic.disconnect()
    await intruder.disconnect()
  }
})

test('a static member keeps its partitions across a quick restart and loses them once its session times out', { skip, timeout: 120000 }, async () => {
  requireJava()
  const topic = uniqueName('static-848')
  const group = uniqueName('static-group')
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
  await partitionsServed(admin, topic)
  const ownership = trackOwnership(clients)
  clients.send(`consumer s1 ${group} ${topic} group.instance.id=i1`)
  await clients.until(() => ownership.owned('s1').length === 4, 's1 to own the 4 partitions')
  clients.send(`consumer s2 ${group} ${topic} group.instance.id=i2`)
  await clients.until(() => ownership.owned('s1').length === 2 && ownership.owned('s2').length === 2, 'a 2+2 split')
  const s1Partitions = ownership.owned('s1')

  // The instance id is taken: a second process with it is refused.
  let from = clients.events.length
  clients.send(`consumer dup ${group} ${topic} group.instance.id=i1`)
  const refused = await clients.event((e) => e.event === 'error' && e.consumer === 'dup', 'dup to fail', from)
  assert.equal(refused.type, 'UnreleasedInstanceIdException')

  // s1 restarts (its close leaves with epoch -2): s2 is not given s1's partitions, and the new
  // process gets them back.
  from = clients.events.length
  clients.send('close s1')
  await clients.event((e) => e.event === 'closed' && e.consumer === 's1', 's1 to close', from)
  clients.send(`consumer s1b ${group} ${topic} group.instance.id=i1`)
  await clients.until(() => ownership.owned('s1b').length === 2, 's1b to own 2 partitions')
  assert.deepEqual(ownership.owned('s1b'), s1Partitions)
  assert.ok(
    !clients.events.slice(from).some((e) => e.consumer === 's2' && (e.event === 'assigned' || e.event === 'revoked') && e.partitions.length),
    's2 kept its partitions, no more, no fewer',
  )

  // s1b goes away for good: s2 gets everything once the 3 s session timeout fences it.
  from = clients.events.length
  clients.send('close s1b')
  const closed = await clients.event((e) => e.event === 'closed' && e.consumer === 's1b', 's1b to close', from)
  await clients.until(() => ownership.owned('s2').length === 4, 's2 to own the 4 partitions', 15000)
  const handover = clients.events.slice(from).find((e) => e.event === 'assigned' && e.consumer === 's2' && e.partitions.length)
  assert.ok(handover.at - closed.at >= 2000, `fenced after the session timeout, not at once (${handover.at - closed.at} ms)`)
  from = clients.events.length
  clients.send('close s2')
  await clients.event((e) => e.event === 'closed' && e.consumer === 's2', 's2 to close', from)
  assert.deepEqual(ownership.violations, [])
})
