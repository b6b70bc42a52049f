// Several brokers in one cluster, driven by kafkajs: leaders spread over brokers, brokers that
// stop and come back, leaders that move, and listeners described as server.properties does.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { Kafka, logLevel } = require('kafkajs')
const { startKafka, emulatorOnly, withDeadline, DEADLINE_MS } = require('./helpers')

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
function within(ms, what, promise) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Event handlers call `changed()`; `until(predicate)` resolves once the predicate holds. */
function condition() {
  const waiters = new Set()
  return {
    changed() {
      for (const check of [...waiters]) check()
    },
    until(predicate, ms, what) {
      return within(ms, what, new Promise((resolve) => {
        const check = () => {
          if (predicate()) {
            waiters.delete(check)
            resolve()
          }
        }
        waiters.add(check)
        check()
      }))
    },
  }
}

/** Refuses a connection: resolves true if `port` accepts one, false if refused. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Ports that were free a moment ago, for a cluster on fixed ports. */
async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => resolve(server))
  })))
  const ports = servers.map((s) => s.address().port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

describe('a three-broker cluster', emulatorOnly('multi-broker cluster'), () => {
  let kafka
  let client
  let admin
  const clients = []

  before(async () => {
    // Short sessions let a consumer that restarts replace its old self quickly.
    kafka = await startKafka({ brokers: 3, defaultReplicationFactor: 3, groupMinSessionTimeoutMs: 500 })
    client = new Kafka({
      clientId: 'cluster-test',
      brokers: kafka.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 50, retries: 8 },
    })
    admin = client.admin()
    await admin.connect()
  })

  after(async () => {
    // Bounded: a client that never finishes disconnecting must not hold the suite.
    for (const c of clients) await withDeadline(c.disconnect(), DEADLINE_MS, 'a client to disconnect').catch(() => {})
    await withDeadline(admin.disconnect(), DEADLINE_MS, 'the admin to disconnect').catch(() => {})
    await kafka.stop()
  })

  async function producer(options) {
    const p = client.producer(options)
    clients.push(p)
    await p.connect()
    return p
  }

  function consumer(groupId, options = {}) {
    const c = client.consumer({ groupId, maxWaitTimeInMs: 100, heartbeatInterval: 100, ...options })
    clients.push(c)
    return c
  }

  async function partitionsOf(topic) {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    return topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId)
  }

  test('Metadata lists every broker and spreads partition leaders and replicas round-robin', async () => {
    assert.equal(kafka.brokers.length, 3)
    const { brokers, controller } = await admin.describeCluster()
    assert.deepEqual(
      brokers.map((b) => `${b.host}:${b.port}`).sort(),
      [...kafka.brokers].sort(),
    )
    assert.deepEqual(brokers.map((b) => b.nodeId).sort(), [0, 1, 2])
    assert.equal(controller, 0)

    await admin.createTopics({ topics: [{ topic: 'spread', numPartitions: 6, replicationFactor: 2 }] })
    const partitions = await partitionsOf('spread')
    assert.deepEqual(partitions.map((p) => p.leader), [0, 1, 2, 0, 1, 2])
    assert.deepEqual(partitions[1].replicas, [1, 2])
    assert.deepEqual(partitions[2].isr, [2, 0], 'every live replica is in sync')

    // defaultReplicationFactor applies to auto-created topics.
    const p = await producer()
    await p.send({ topic: 'auto-created', messages: [{ value: 'x' }] })
    assert.equal((await partitionsOf('auto-created'))[0].replicas.length, 3)

    // More replicas than brokers is refused, as Kafka does.
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'too-many', replicationFactor: 4 }] }),
      (e) => JSON.stringify(e.errors ?? e.message).includes('INVALID_REPLICATION_FACTOR') || /replicat/i.test(e.message),
    )
  })

  test('kafkajs produces to and consumes from partitions led by different brokers', async () => {
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 6, replicationFactor: 3 }] })
    const p = await producer()
    const sent = Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 6 }))
    await p.send({ topic: 'orders', messages: sent })

    const produced = kafka.requests().filter((r) => r.api === 'Produce' && r.clientId === 'cluster-test')
    assert.deepEqual([...new Set(produced.map((r) => r.broker))].sort(), [0, 1, 2], 'each leader got its batch')
    assert.ok(produced.every((r) => r.errorCode === 0))

    const c = consumer('orders-group')
    const seen = []
    const progress = condition()
    await c.connect()
    await c.subscribe({ topic: 'orders', fromBeginning: true })
    await c.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ partition, key: message.key.toString(), value: message.value.toString() })
        progress.changed()
      },
    })
    await progress.until(() => seen.length === 60, 15000, '60 messages')
    const fetchedFrom = kafka.requests().filter((r) => r.api === 'Fetch' && r.clientId === 'cluster-test')
    assert.deepEqual([...new Set(fetchedFrom.map((r) => r.broker))].sort(), [0, 1, 2], 'fetched from each leader')
    assert.deepEqual(
      seen.sort((a, b) => Number(a.key.slice(1)) - Number(b.key.slice(1))),
      sent.map((m) => ({ partition: m.partition, key: m.key, value: m.value })),
    )
  })

  test('a producer with stale metadata is told NOT_LEADER_OR_FOLLOWER and follows a moved leader', async () => {
    await admin.createTopics({ topics: [{ topic: 'moving', numPartitions: 1, replicationFactor: 2 }] })
    const p = await producer()
    await p.send({ topic: 'moving', messages: [{ value: 'before' }] })
    assert.equal((await partitionsOf('moving'))[0].leader, 0)

    const moved = kafka.moveLeader('moving', 0, 2)
    assert.deepEqual(moved, { leader: 2, leaderEpoch: 1, replicas: [2, 1] }, 'broker 2 replaces leader 0 in the replica set')
    kafka.clearRequests()
    await p.send({ topic: 'moving', messages: [{ value: 'after' }] })

    const produces = kafka.requests().filter((r) => r.api === 'Produce')
    assert.deepEqual(
      produces.map((r) => [r.broker, r.error]),
      [[0, 'NOT_LEADER_OR_FOLLOWER'], [2, null]],
      'the old leader refuses, the new one accepts',
    )
    const [partition] = await partitionsOf('moving')
    assert.equal(partition.leader, 2)
    assert.deepEqual(kafka.messages('moving').map((m) => m.value.toString()), ['before', 'after'])
    assert.throws(() => kafka.moveLeader('moving', 7, 1), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    assert.throws(() => kafka.moveLeader('moving', 0, 9), { code: 'BROKER_NOT_AVAILABLE' })
  })

  test('a stopped broker leaves Metadata, its partitions fail over, and it comes back on its port', async () => {
    await admin.createTopics({ topics: [{ topic: 'failover', numPartitions: 3, replicationFactor: 2 }] })
    const p = await producer()
    await p.send({ topic: 'failover', messages: [0, 1, 2].map((partition) => ({ partition, value: 'a' })) })
    const port = kafka.listeners.find((l) => l.brokerId === 1).port
    assert.equal(await accepts(port), true)

    await kafka.stopBroker(1)
    assert.equal(await accepts(port), false, 'the port refuses connections')
    assert.deepEqual(kafka.listeners.map((l) => l.running), [true, false, true])
    const { brokers } = await admin.describeCluster()
    assert.deepEqual(brokers.map((b) => b.nodeId).sort(), [0, 2])
    const partitions = await partitionsOf('failover')
    // Partition 1 (replicas 1, 2) is now led by 2 with a new epoch; the others keep theirs.
    assert.deepEqual(partitions.map((p) => p.leader), [0, 2, 2])
    assert.deepEqual(partitions[1].isr, [2])
    assert.deepEqual(partitions[1].offlineReplicas, [1])

    // The producer finds the new leaders and writes to every partition.
    await p.send({ topic: 'failover', messages: [0, 1, 2].map((partition) => ({ partition, value: 'b' })) })
    assert.deepEqual(
      kafka.messages('failover').map((m) => `${m.partition}:${m.value}`),
      ['0:a', '0:b', '1:a', '1:b', '2:a', '2:b'],
    )

    await kafka.startBroker(1)
    assert.equal(await accepts(port), true, 'back on the same port')
    assert.deepEqual((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort(), [0, 1, 2])
    assert.deepEqual((await partitionsOf('failover'))[1].isr.sort(), [1, 2])
  })

  test('a partition with no live replica has no leader until its broker returns', async () => {
    await admin.createTopics({ topics: [{ topic: 'single-replica', numPartitions: 3, replicationFactor: 1 }] })
    await kafka.stopBroker(2)
    try {
      const impatient = new Kafka({ clientId: 'impatient', brokers: kafka.brokers.slice(0, 2), logLevel: logLevel.NOTHING, retry: { retries: 0 } })
      const p = impatient.producer()
      clients.push(p)
      await p.connect()
      await assert.rejects(p.send({ topic: 'single-replica', messages: [{ partition: 2, value: 'x' }] }))
      // Metadata reports the partition without a leader, as Kafka does.
      const metadata = kafka.requests().filter((r) => r.clientId === 'impatient' && r.api === 'Metadata')
      assert.ok(metadata.some((r) => r.error === 'LEADER_NOT_AVAILABLE'), JSON.stringify(metadata))
    } finally {
      await kafka.startBroker(2)
    }
    const p = await producer()
    await p.send({ topic: 'single-replica', messages: [{ partition: 2, value: 'y' }] })
    assert.deepEqual(kafka.messages('single-replica').map((m) => m.value.toString()), ['y'])
  })

  test('acks=all is refused with NOT_ENOUGH_REPLICAS while fewer replicas than min.insync.replicas are in sync', async () => {
    await admin.createTopics({
      topics: [{ topic: 'min-isr', numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }],
    })
    const leader = (await partitionsOf('min-isr'))[0].leader
    const followers = [0, 1, 2].filter((id) => id !== leader)
    const impatient = new Kafka({ clientId: 'min-isr', brokers: kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const p = impatient.producer()
    clients.push(p)
    await p.connect()
    await p.send({ topic: 'min-isr', acks: -1, messages: [{ value: 'three in sync' }] })
    await kafka.stopBroker(followers[0])
    try {
      await p.send({ topic: 'min-isr', acks: -1, messages: [{ value: 'two in sync' }] })
      await kafka.stopBroker(followers[1])
      try {
        kafka.clearRequests()
        await assert.rejects(p.send({ topic: 'min-isr', acks: -1, messages: [{ value: 'refused' }] }), /fewer in-sync replicas/)
        const produce = kafka.requests().filter((r) => r.clientId === 'min-isr' && r.api === 'Produce')
        assert.deepEqual(produce.map((r) => r.error), ['NOT_ENOUGH_REPLICAS'])
        // acks=1 does not wait for replicas, so the leader alone takes it.
        await p.send({ topic: 'min-isr', acks: 1, messages: [{ value: 'acks=1' }] })
      } finally {
        await kafka.startBroker(followers[1])
      }
    } finally {
      await kafka.startBroker(followers[0])
    }
    assert.deepEqual(
      kafka.messages('min-isr').map((m) => m.value.toString()),
      ['three in sync', 'two in sync', 'acks=1'],
    )
  })

  test('a transaction spans partitions led by different brokers and commits through its coordinator', async () => {
    await admin.createTopics({ topics: [{ topic: 'txn-spread', numPartitions: 3, replicationFactor: 2 }] })
    const p = await producer({ transactionalId: 'spread-tx', maxInFlightRequests: 1, idempotent: true })
    const txn = await p.transaction()
    await txn.send({ topic: 'txn-spread', messages: [0, 1, 2].map((partition) => ({ partition, value: `v${partition}` })) })
    await txn.commit()

    const txnRequests = kafka.requests().filter((r) => ['AddPartitionsToTxn', 'EndTxn'].includes(r.api))
    assert.ok(txnRequests.length >= 2 && txnRequests.every((r) => r.error === null), JSON.stringify(txnRequests))
    assert.equal(new Set(txnRequests.map((r) => r.broker)).size, 1, 'one transaction coordinator')
    const produced = kafka.requests().filter((r) => r.api === 'Produce' && r.clientId === 'cluster-test')
    assert.ok(new Set(produced.slice(-3).map((r) => r.broker)).size >= 2, 'written to several leaders')
    assert.deepEqual(kafka.messages('txn-spread').map((m) => `${m.partition}:${m.value}`), ['0:v0', '1:v1', '2:v2'])
  })

  test('a consumer group survives the stop of its coordinator', async () => {
    await admin.createTopics({ topics: [{ topic: 'coordinated', numPartitions: 3, replicationFactor: 3 }] })
    const group = 'survivor-group'
    // kafkajs meets the dead coordinator with connection errors and looks for the new one
    // (restarting the consumer if its retries run out: then its old member id must expire,
    // after the session timeout, as it would in Kafka).
    const c = consumer(group, { sessionTimeout: 2000, retry: { retries: 2, initialRetryTime: 50 } })
    const seen = []
    const progress = condition()
    // Commits and heartbeats are when the group's state may have changed.
    c.on(c.events.COMMIT_OFFSETS, () => progress.changed())
    c.on(c.events.HEARTBEAT, () => progress.changed())
    await c.connect()
    await c.subscribe({ topic: 'coordinated', fromBeginning: true })
    await c.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        progress.changed()
      },
    })
    const p = await producer()
    await p.send({ topic: 'coordinated', messages: [{ value: 'one' }, { value: 'two' }, { value: 'three' }] })
    await progress.until(() => seen.length === 3, 15000, 'the first 3 messages')

    const [before] = kafka.groups().filter((g) => g.groupId === group)
    assert.equal(before.state, 'Stable')
    const coordinator = before.coordinator
    await kafka.stopBroker(coordinator)
    try {
      const [moved] = kafka.groups().filter((g) => g.groupId === group)
      assert.notEqual(moved.coordinator, coordinator, 'the coordinator moved to a live broker')

      await p.send({ topic: 'coordinated', messages: [{ value: 'four' }, { value: 'five' }] })
      await progress.until(() => new Set(seen).size === 5, 20000, 'the messages sent after the coordinator stopped')
      assert.deepEqual([...new Set(seen)].sort(), ['five', 'four', 'one', 'three', 'two'])

      // The group commits to its new coordinator and is Stable there.
      await progress.until(
        () => kafka.offsets(group).reduce((sum, o) => sum + o.offset, 0) === 5,
        20000,
        'offsets committed through the new coordinator',
      )
      const commits = kafka.requests().filter((r) => r.api === 'OffsetCommit' && r.errorCode === 0)
      assert.ok(commits.some((r) => r.broker === moved.coordinator))
      await progress.until(
        () => kafka.groups().some((g) => g.groupId === group && g.state === 'Stable' && g.members.length === 1),
        20000,
        'the group to be Stable with one member',
      )
    } finally {
      await kafka.startBroker(coordinator)
    }
  })
})

describe('a cluster laid out as server.properties describes it', emulatorOnly('multi-broker cluster and startKafka listener options'), () => {
  test('each listener advertises its own addresses to the clients that use it, on fixed ports', async () => {
    const ports = await freePorts(6)
    const kafka = await startKafka({
      brokers: [0, 1, 2].map((id) => ({
        id,
        listeners: [
          { name: 'INTERNAL', port: ports[id] },
          { name: 'EXTERNAL', port: ports[3 + id] },
        ],
      })),
    })
    const clients = []
    try {
      assert.deepEqual(kafka.brokers, ports.slice(0, 3).map((p) => `127.0.0.1:${p}`))
      assert.deepEqual(
        kafka.listeners.map((l) => `${l.brokerId}:${l.name}:${l.security}:${l.port}`),
        [0, 1, 2].flatMap((id) => [`${id}:INTERNAL:PLAINTEXT:${ports[id]}`, `${id}:EXTERNAL:PLAINTEXT:${ports[3 + id]}`]),
      )
      for (const [name, expected] of [['INTERNAL', ports.slice(0, 3)], ['EXTERNAL', ports.slice(3)]]) {
        const admin = new Kafka({
          clientId: `via-${name}`,
          brokers: [`127.0.0.1:${expected[1]}`],
          logLevel: logLevel.NOTHING,
        }).admin()
        clients.push(admin)
        await admin.connect()
        const { brokers } = await admin.describeCluster()
        assert.deepEqual(brokers.sort((a, b) => a.nodeId - b.nodeId).map((b) => b.port), expected, name)
      }
      // A group coordinator is also given on the listener the client came through.
      const external = new Kafka({ clientId: 'ext', brokers: [`127.0.0.1:${ports[3]}`], logLevel: logLevel.NOTHING })
      const c = external.consumer({ groupId: 'ext-group', maxWaitTimeInMs: 100 })
      clients.push(c)
      await c.connect()
      await c.subscribe({ topic: 'ext-topic' })
      const joined = new Promise((resolve) => c.on(c.events.GROUP_JOIN, resolve))
      await c.run({ eachMessage: async () => {} })
      await within(15000, 'the group join', joined)
      const viaExternal = kafka.requests().filter((r) => r.clientId === 'ext' && r.api === 'JoinGroup')
      assert.ok(viaExternal.length > 0)
      const coordinator = kafka.groups()[0].coordinator
      assert.ok(viaExternal.every((r) => r.broker === coordinator))
    } finally {
      for (const client of clients) await client.disconnect().catch(() => {})
      await kafka.stop()
    }
  })

  test('SSL and SASL listeners without tls or sasl settings are refused with a clear error', () => {
    assert.throws(
      () => startKafka({ brokers: [{ id: 0, listeners: [{ port: 0 }, { port: 0, security: 'SSL' }] }] }),
      (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /uses SSL, which needs TLS settings/.test(e.message),
    )
    assert.throws(
      () => startKafka({ brokers: [{ id: 0, listeners: [{ name: 'A' }] }, { id: 1, listeners: [{ name: 'B' }] }] }),
      (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /same listener names/.test(e.message),
    )
    assert.throws(() => startKafka({ brokers: [{ id: 0, listeners: [{ security: 'TLS' }] }] }), {
      code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
      message: /^options\.brokers\[0\]\.listeners\[0\]\.security must be one of "PLAINTEXT", .*, got "TLS"$/,
    })
  })

  test('a stopped broker keeps its ports: nothing else can take them, and it starts again on them', async () => {
    const kafka = await startKafka({ brokers: 2 })
    try {
      const port = kafka.listeners.find((l) => l.brokerId === 1).port
      await kafka.stopBroker(1)
      const squatter = net.createServer()
      const error = await new Promise((resolve) => {
        squatter.once('error', resolve)
        squatter.listen(port, '127.0.0.1', () => resolve(null))
      })
      squatter.close()
      assert.equal(error?.code, 'EADDRINUSE', 'another listener took the stopped broker\'s port')
      const refused = await new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1')
        socket.once('connect', () => resolve(false)).once('error', (e) => resolve(e.code === 'ECONNREFUSED'))
      })
      assert.ok(refused, 'a stopped broker refuses connections')
      await kafka.startBroker(1)
      assert.equal(kafka.listeners.find((l) => l.brokerId === 1).port, port)
      const accepted = await new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1')
        socket.once('connect', () => resolve(socket.destroy() || true)).once('error', () => resolve(false))
      })
      assert.ok(accepted, 'the restarted broker accepts on its port')
    } finally {
      await kafka.stop()
    }
  })

  test('brokers: n with a port puts the brokers on consecutive ports', async () => {
    const [port] = await freePorts(1)
    // The next two ports are very likely free too; if not, the start fails loudly.
    const kafka = await startKafka({ brokers: 3, port, brokerId: 1 })
    try {
      assert.deepEqual(kafka.brokers, [port, port + 1, port + 2].map((p) => `127.0.0.1:${p}`))
      assert.deepEqual(kafka.listeners.map((l) => l.brokerId), [1, 2, 3])
    } finally {
      await kafka.stop()
    }
  })
})
