// The cluster administration APIs kafkajs has no call for, through the Java Admin (kafka-clients
// 4.1, conformance/java's AdminDriver): DescribeQuorum, ListConfigResources, UnregisterBroker,
// AlterReplicaLogDirs, AddRaftVoter/RemoveRaftVoter and the delegation token APIs.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startBroker, startKafka, uniqueName, emulatorOnly, defer, withDeadline, client, partitionsServed } = require('./helpers')
const readline = require('node:readline')
const { prepareJavaDriver, clientPropertiesFile, spawnJavaDriver } = require('./java')

const javaMissing = prepareJavaDriver('AdminDriver')
// Without a JVM these skip locally; CI must have one.
const skip = javaMissing && !process.env.CI ? `Java client unavailable (${javaMissing})` : false

/**
 * One AdminDriver JVM for test `t`, connected to `bootstrap` (with client `properties`, if any):
 * `run(...commands)` resolves with one JSON verdict per command; `login(properties)` switches to
 * a new Admin client with those properties (security.protocol, sasl.*).
 */
function javaAdmin(t, bootstrap, properties) {
  if (javaMissing) assert.fail(`the Java client is needed (CI=true): ${javaMissing}`)
  const file = (props) => (props ? clientPropertiesFile(t, props) : '-')
  const child = spawnJavaDriver(t, 'AdminDriver', [bootstrap, file(properties)], { logLevel: 'error', stdin: 'pipe' })
  const verdicts = []
  let wake = () => {}
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return
    verdicts.push(JSON.parse(line))
    wake()
  })
  child.on('exit', () => wake())
  child.stdin.on('error', () => {}) // it exited: the verdicts say why
  defer(t, () => child.stdin.end())
  let queue = Promise.resolve()
  const run = (...commands) => {
    const answered = queue.then(async () => {
      const from = verdicts.length
      child.stdin.write(`${commands.join('\n')}\n`)
      const all = new Promise((resolve, reject) => {
        wake = () => {
          if (verdicts.length >= from + commands.length) resolve()
          else if (child.exitCode !== null) reject(new Error(`AdminDriver exited: ${child.stderrTail}`))
        }
        wake()
      })
      await withDeadline(all, 60_000, `the Java Admin answering ${commands.join(', ')}`)
      return verdicts.slice(from, from + commands.length)
    })
    queue = answered.catch(() => {})
    return answered
  }
  return { run, login: async (props) => (await run(`login:${file(props)}`))[0] }
}

function bootstrapOf(kafka) {
  return kafka.brokers[0]
}

async function describeCluster(t, kafka) {
  const admin = client(kafka).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  return admin.describeCluster()
}

test('DescribeQuorum: the active controller leads, a voter caught up to the high watermark', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const { controller } = await describeCluster(t, kafka)
  const [quorum] = await javaAdmin(t, bootstrapOf(kafka)).run('describeQuorum')
  assert.equal(quorum.ok, true, quorum.message)
  assert.equal(quorum.leaderId, controller)
  assert.ok(quorum.leaderEpoch >= 1)
  assert.ok(quorum.highWatermark > 0)
  const leader = quorum.voters.find((v) => v.replicaId === controller)
  assert.ok(leader, 'the leader votes')
  // A static quorum (kraft.version 0): no directory ids.
  assert.equal(leader.replicaDirectoryId, 'AAAAAAAAAAAAAAAAAAAAAA')
  assert.ok(leader.logEndOffset > 0 && leader.logEndOffset <= quorum.highWatermark)
  assert.ok(leader.lastFetchTimestamp > 0)
  // A combined broker is the voter itself: no observers.
  assert.deepEqual(quorum.observers, [])
  const node = quorum.nodes.find((n) => n.nodeId === controller)
  assert.equal(node.endpoints[0].name, 'CONTROLLER')
})

test('DescribeQuorum on three brokers: each votes; when the controller stops, the next leads at a new epoch', { skip: skip || emulatorOnly('multi-broker cluster').skip }, async (t) => {
  const kafka = await startBroker({ brokers: 3 })
  defer(t, () => kafka.stop())
  const admin = javaAdmin(t, kafka.brokers[1])
  const [before] = await admin.run('describeQuorum')
  assert.deepEqual(before.voters.map((v) => v.replicaId), [0, 1, 2])
  assert.equal(before.leaderId, 0)
  await kafka.stopBroker(0)
  const [after] = await admin.run('describeQuorum')
  assert.equal(after.leaderId, 1)
  assert.equal(after.leaderEpoch, before.leaderEpoch + 1)
  const stopped = after.voters.find((v) => v.replicaId === 0)
  assert.ok(stopped.lastFetchTimestamp <= before.voters[0].lastFetchTimestamp, 'a stopped voter fetches no more')
  assert.ok(after.highWatermark >= before.highWatermark)
})

test('ListConfigResources lists the brokers, their loggers and the topics, or the types asked for', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const topic = uniqueName('config-resources')
  const admin = client(kafka).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  const { brokers } = await admin.describeCluster()
  const [all, topics, clientMetrics] = await javaAdmin(t, bootstrapOf(kafka)).run('listConfigResources', 'listConfigResources:TOPIC', 'listConfigResources:clientMetrics')
  assert.equal(all.ok, true, all.message)
  const has = (list, type, name) => list.resources.some((r) => r.type === type && r.name === name)
  for (const { nodeId } of brokers) {
    assert.ok(has(all, 'BROKER', String(nodeId)), `broker ${nodeId}`)
    assert.ok(has(all, 'BROKER_LOGGER', String(nodeId)), `broker ${nodeId}'s loggers`)
  }
  assert.ok(has(all, 'TOPIC', topic))
  assert.ok(has(topics, 'TOPIC', topic))
  assert.deepEqual([...new Set(topics.resources.map((r) => r.type))], ['TOPIC'])
  // No client metrics subscriptions.
  assert.deepEqual(clientMetrics, { ok: true, resources: [] })
})

test('UnregisterBroker of an id no broker has is BROKER_ID_NOT_REGISTERED', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const [result] = await javaAdmin(t, bootstrapOf(kafka)).run('unregisterBroker:4242')
  assert.deepEqual(result, {
    ok: false,
    type: 'BrokerIdNotRegisteredException',
    message: 'Broker ID 4242 is not currently registered',
  })
})

test('UnregisterBroker forgets a stopped or a live broker until it starts again', { skip: skip || emulatorOnly('multi-broker cluster, stopBroker').skip }, async (t) => {
  const kafka = await startBroker({ brokers: 3 })
  defer(t, () => kafka.stop())
  await kafka.stopBroker(2)
  const results = await javaAdmin(t, kafka.brokers[0]).run('unregisterBroker:2', 'unregisterBroker:2', 'unregisterBroker:1')
  assert.deepEqual(results.map((r) => r.ok), [true, false, true])
  assert.equal(results[1].type, 'BrokerIdNotRegisteredException')
  const ids = async () => (await describeCluster(t, kafka)).brokers.map((b) => b.nodeId).sort()
  assert.deepEqual(await ids(), [0])
  await kafka.startBroker(2)
  assert.deepEqual(await ids(), [0, 2])
  // A broker that kept running registers again at a reset.
  await kafka.reset()
  assert.deepEqual(await ids(), [0, 1, 2])
})

test('AlterReplicaLogDirs: to the dir the replica is in, to an unknown dir, of an unknown partition', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const topic = uniqueName('log-dirs')
  const admin = client(kafka).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await partitionsServed(admin, topic)
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
  const broker = metadata.topics[0].partitions[0].leader
  const java = javaAdmin(t, bootstrapOf(kafka))
  const [logDirs] = await java.run(`logDirs:${broker}`)
  assert.equal(logDirs.ok, true, logDirs.message)
  const { dirs } = logDirs
  assert.equal(dirs.length, 1)
  const results = await java.run(
    `alterReplicaLogDirs:${topic}:0:${broker}:${dirs[0]}`,
    `alterReplicaLogDirs:${topic}:0:${broker}:/no/such/dir`,
    `alterReplicaLogDirs:${topic}:7:${broker}:${dirs[0]}`,
  )
  assert.deepEqual(results.map((r) => r.ok ? 'moved' : r.type), ['moved', 'LogDirNotFoundException', 'UnknownTopicOrPartitionException'])
})

test('AddRaftVoter and RemoveRaftVoter: a static quorum cannot change its voters', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const results = await javaAdmin(t, bootstrapOf(kafka)).run('addRaftVoter:3000', 'removeRaftVoter:0')
  assert.deepEqual(results, [
    { ok: false, type: 'UnsupportedVersionException', message: "Cluster doesn't support adding voter because the kraft.version feature is 0" },
    { ok: false, type: 'UnsupportedVersionException', message: "Cluster doesn't support removing voter because the kraft.version feature is 0" },
  ])
})

test('Delegation tokens are refused on a connection that did not authenticate', { skip }, async (t) => {
  const kafka = await startBroker()
  defer(t, () => kafka.stop())
  const results = await javaAdmin(t, bootstrapOf(kafka)).run('createToken', 'describeTokens', 'renewToken:1000', 'expireToken:-1')
  for (const result of results) {
    assert.deepEqual(result, {
      ok: false,
      type: 'UnsupportedByAuthenticationException',
      message: 'Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.',
    })
  }
})

/** SCRAM client properties; `tokenauth` logs in with a delegation token. */
function scram(username, password, tokenauth = false) {
  const extension = tokenauth ? ' tokenauth="true"' : ''
  return {
    'security.protocol': 'SASL_PLAINTEXT',
    'sasl.mechanism': 'SCRAM-SHA-256',
    'sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="${username}" password="${password}"${extension};`,
  }
}

test('Delegation tokens: created by a SASL user, renewed up to their max lifetime, logged in with as their owner, expired', { skip: skip || emulatorOnly('sasl and delegationTokens are startKafka options').skip }, async (t) => {
  const kafka = await startKafka({
    sasl: { mechanisms: ['SCRAM-SHA-256'], users: ['alice', 'bob', 'carol'].map((u) => ({ username: u, password: `${u}-secret` })) },
    delegationTokens: { secretKey: 'the-secret', maxLifetimeMs: 3_600_000, expiryTimeMs: 600_000 },
  })
  defer(t, () => kafka.stop())
  const bootstrap = kafka.brokers[0]
  const java = javaAdmin(t, bootstrap, scram('alice', 'alice-secret'))
  const [created, described, renewed, beyondMax, byOwner] = await java.run(
    'createToken:60000:bob', 'describeTokens', 'renewToken:30000', 'renewToken:999999999', 'describeTokens:bob',
  )
  assert.equal(created.ok, true, created.message)
  assert.equal(created.owner, 'User:alice')
  assert.equal(created.requester, 'User:alice')
  assert.deepEqual(created.renewers, ['User:bob'])
  assert.equal(created.maxTimestamp - created.issueTimestamp, 60_000, 'the lifetime asked for')
  assert.equal(created.expiryTimestamp - created.issueTimestamp, 60_000, 'expiry.time.ms is longer than the max')
  assert.equal(created.tokenId.length, 22)
  assert.deepEqual(described.tokens.map((tk) => tk.tokenId), [created.tokenId])
  assert.equal(described.tokens[0].hmac, created.hmac)
  assert.ok(renewed.expiryTimestamp < created.maxTimestamp)
  assert.equal(beyondMax.expiryTimestamp, created.maxTimestamp, 'never past the max lifetime')
  // bob renews it: he finds it under his name.
  assert.deepEqual(byOwner.tokens.map((tk) => tk.tokenId), [created.tokenId])

  // The token logs in as alice, and may not ask for tokens itself.
  await java.login(scram(created.tokenId, created.hmac, true))
  const [asToken, tokenCreates] = await java.run('listConfigResources:BROKER', 'createToken')
  assert.equal(asToken.ok, true, asToken.message)
  assert.equal(tokenCreates.type, 'UnsupportedByAuthenticationException')

  // carol neither owns nor renews it; bob renews it.
  await java.login(scram('carol', 'carol-secret'))
  const [carolRenews] = await java.run(`renewToken:1000:${created.hmac}`)
  assert.equal(carolRenews.type, 'DelegationTokenOwnerMismatchException')
  await java.login(scram('bob', 'bob-secret'))
  const [bobRenews] = await java.run(`renewToken:30000:${created.hmac}`)
  assert.equal(bobRenews.ok, true, bobRenews.message)
  assert.ok(bobRenews.expiryTimestamp <= created.maxTimestamp)

  // Expired now, the token is gone and logs in no more.
  await java.login(scram('alice', 'alice-secret'))
  const [expired, afterwards] = await java.run(`expireToken:-1:${created.hmac}`, 'describeTokens')
  assert.equal(expired.ok, true, expired.message)
  assert.deepEqual(afterwards.tokens, [])
  await java.login(scram(created.tokenId, created.hmac, true))
  const [refused] = await java.run('listConfigResources:BROKER')
  assert.equal(refused.type, 'SaslAuthenticationException')
})
