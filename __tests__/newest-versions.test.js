// The Java client 4.1 at the newest versions of the APIs Kafka 4.1 added them to (conformance/java's
// VersionsDriver): what it is answered must be what Kafka answers, and the request log says it
// used those versions.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { startBroker, emulatorOnly, uniqueName, waitUntil } = require('./helpers')
const { uvarint, compactBytes, request, rawConnection } = require('./wire')
const { prepareJavaDriver, javaClasspath } = require('./java')

const javaMissing = prepareJavaDriver('VersionsDriver')
// Without a JVM the tests skip locally; CI must have one.
const skip = javaMissing && !process.env.CI ? `Java client unavailable (${javaMissing}); CI fails here` : false

/** Runs VersionsDriver; resolves with its name=value lines as an object. */
function runDriver(bootstrap, prefix, mode) {
  if (javaMissing) assert.fail(`the Java client is needed (CI=true): ${javaMissing}`)
  return new Promise((resolve, reject) => {
    const args = ['-cp', javaClasspath('VersionsDriver'), 'dev.kafkaemulator.conformance.VersionsDriver', bootstrap, prefix, mode]
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const lines = stdout.trim().split('\n')
      if (code !== 0 || lines.at(-1) !== 'OK') {
        reject(new Error(`VersionsDriver exited ${code}:\n${stdout}\n${stderr}`))
        return
      }
      resolve(Object.fromEntries(lines.filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])))
    })
  })
}

let broker
before(async () => {
  broker = await startBroker({ requestLogSize: 10_000 })
})
after(async () => {
  await broker?.stop()
})

test('the Java admin gets the answers of the newest versions: latest tiered offset, transactions by pattern, reassignments to unknown brokers, unknown classic groups', { skip, timeout: 120_000 }, async () => {
  const prefix = uniqueName('newest')
  const seen = await runDriver(broker.brokers[0], prefix, 'all')
  assert.equal(seen.fenced, '', 'no broker is fenced')
  assert.equal(seen.latestTiered, '-1', 'no tiered storage: no latest tiered offset')
  assert.equal(seen.earliestLocal, '0')
  assert.equal(seen.txPattern, `${prefix}-tx`, 'the whole id matches the pattern')
  assert.equal(seen.txNoMatch, '', 'a pattern must match the whole id')
  assert.match(seen.txBadPattern, /^InvalidRegularExpression: /)
  assert.equal(seen.reassign, 'InvalidReplicaAssignmentException: The manual partition assignment includes broker 1000, but no such broker is registered.')
  // The Java admin gives the error's own message, not the broker's ("Group ... not found.").
  assert.match(seen.classicMissing, /^GroupIdNotFoundException: /)

  assert.equal(seen.plainOffset, '0')
  // Transactions v2: two committed transactions, each with its offsets (the aborted one unseen).
  assert.equal(seen.committedValues, 'plain,committed-1,committed-2')
  assert.equal(seen.committedOffset, '2')

  if (broker.external) return
  assertVersionsUsed(broker, prefix, {
    // Transactions v2 needs Produce v12 or later: the Java client takes v13.
    producer: 13,
    committer: 13,
    expected: {
      DescribeCluster: 2,
      ListOffsets: 10,
      ListTransactions: 2,
      AlterPartitionReassignments: 1,
      DescribeGroups: 6,
      FindCoordinator: 6,
      Metadata: 13,
      // The read_committed reader: Fetch v18 (topic ids since v13).
      Fetch: 18,
      // Transactions v2 (transaction.version 2 is finalized): partitions and groups join a
      // transaction through Produce v12 and TxnOffsetCommit v5; EndTxn v5 bumps the epoch.
      EndTxn: 5,
      TxnOffsetCommit: 5,
    },
    unused: ['AddPartitionsToTxn', 'AddOffsetsToTxn'],
  })
})

/**
 * Checks the request log: the highest version of each API the driver's clients used, the Produce
 * version of each transactional producer, and APIs they never sent.
 */
function assertVersionsUsed(broker, prefix, { producer, committer, expected, unused }) {
  const used = new Map()
  const produced = new Map()
  for (const r of broker.requests()) {
    if (!r.clientId?.startsWith(prefix)) continue
    used.set(r.api, Math.max(used.get(r.api) ?? -1, r.version))
    if (r.api === 'Produce') produced.set(r.clientId, r.version)
  }
  // A plain producer names topics by id (v13); transactional ones stop at v11 under
  // transactions v1.
  assert.equal(produced.get(`${prefix}-plain`), 13)
  assert.equal(produced.get(`${prefix}-producer`), producer)
  assert.equal(produced.get(`${prefix}-committer`), committer)
  for (const [api, version] of Object.entries(expected)) {
    assert.equal(used.get(api), version, `${api} at v${version}`)
  }
  for (const api of unused) assert.equal(used.get(api), undefined, `${api} is not sent`)
}

test('on a cluster with transaction.version 1 the Java producer runs transactions v1', { skip: skip || emulatorOnly('a cluster started with other features').skip, timeout: 120_000 }, async () => {
  const cluster = await startBroker({ requestLogSize: 10_000, features: { 'transaction.version': 1 } })
  try {
    const prefix = uniqueName('tv1')
    const seen = await runDriver(cluster.brokers[0], prefix, 'all')
    assert.equal(seen.committedValues, 'plain,committed-1,committed-2')
    assert.equal(seen.committedOffset, '2')
    assertVersionsUsed(cluster, prefix, {
      producer: 11,
      committer: 11,
      expected: { EndTxn: 4, AddOffsetsToTxn: 4, TxnOffsetCommit: 4, AddPartitionsToTxn: 3 },
      unused: [],
    })
  } finally {
    await cluster.stop()
  }
})

test('UpdateFeatures refuses what Kafka refuses and validates downgrades without applying them', { skip, timeout: 120_000 }, async () => {
  const seen = await runDriver(broker.brokers[0], uniqueName('features'), 'features')
  const refused = 'InvalidUpdateVersionException: The update failed for all features since the following feature had an error: Invalid update version'
  assert.equal(seen.transactionVersion, '2')
  assert.equal(seen.unknownFeature, `${refused} 1 for feature no.such.version. Local controller 0 does not support this feature.`)
  assert.equal(seen.tooHigh, `${refused} 3 for feature transaction.version. Local controller 0 only supports versions 0-2`)
  assert.equal(seen.downgradeAsUpgrade, `${refused} 1 for feature transaction.version. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.`)
  assert.equal(seen.safeDowngradeValidated, 'ok')
  assert.equal(seen.sameLevel, 'ok')
  assert.equal(seen.metadataVersionZero, `${refused} 0 for feature metadata.version. Local controller 0 only supports versions 7-27`)
  assert.equal(seen.transactionVersionAfter, '2', 'validate-only changes nothing')
})

test('UpdateFeatures downgrades transaction.version and reset() restores it', { skip: skip || emulatorOnly('changing a feature of the shared reference broker').skip, timeout: 120_000 }, async () => {
  const cluster = await startBroker()
  try {
    const seen = await runDriver(cluster.brokers[0], uniqueName('downgrade'), 'downgrade-transactions')
    assert.equal(seen.downgrade, 'ok')
    assert.equal(seen.transactionVersionAfter, '1')
    await cluster.reset()
    const after = await runDriver(cluster.brokers[0], uniqueName('downgrade'), 'features')
    assert.equal(after.transactionVersion, '2')
  } finally {
    await cluster.stop()
  }
})

test('with two brokers, a reassignment to both is refused when replication factor changes are not allowed, and a stopped broker is listed as fenced', { skip: skip || emulatorOnly('a multi-broker cluster').skip, timeout: 120_000 }, async () => {
  const cluster = await startBroker({ brokers: 2 })
  try {
    const prefix = uniqueName('two')
    const seen = await runDriver(cluster.brokers[0], prefix, 'two-brokers')
    assert.equal(seen.reassignTwo, 'InvalidReplicationFactorException: The replication factor is changed from 1 to 2')
    assert.equal(seen.fenced, '')
    await cluster.stopBroker(1)
    const after = await runDriver(cluster.brokers[0], prefix, 'cluster')
    assert.equal(after.nodes, '0,1', 'DescribeCluster v2 with fenced brokers lists the stopped one')
    assert.equal(after.fenced, '1')
  } finally {
    await cluster.stop()
  }
})

/** FindCoordinator (key 10) at `version` (4+) for one key of `keyType`: the coordinator's error code. */
async function findCoordinatorError(port, version, keyType, key) {
  const body = Buffer.concat([Buffer.from([keyType]), uvarint(2), compactBytes(Buffer.from(key)), uvarint(0)])
  const conn = await rawConnection(port)
  try {
    conn.send(request(10, version, 7, body, true))
    const frame = await conn.readFrame()
    // correlation id, header tags, throttle time, coordinators count, then the key.
    let at = 4 + 1 + 4 + 1
    const keyLength = frame[at] - 1
    at += 1 + keyLength
    at += 4 // node id
    at += frame[at] // host (compact string: length + 1, then bytes)
    at += 4 // port
    return frame.readInt16BE(at)
  } finally {
    conn.destroy()
  }
}

const SHARE = 2
const INVALID_REQUEST = 42

test('FindCoordinator refuses share keys below v6 and malformed ones at v6 with INVALID_REQUEST', async () => {
  const valid = `${uniqueName('share')}:AAAAAAAAAAAAAAAAAAAAAQ:0`
  assert.equal(await findCoordinatorError(broker.port, 5, SHARE, valid), INVALID_REQUEST)
  for (const key of ['g:not-a-topic-id:0', 'g:AAAAAAAAAAAAAAAAAAAAAQ', 'g:AAAAAAAAAAAAAAAAAAAAAQ:x']) {
    assert.equal(await findCoordinatorError(broker.port, 6, SHARE, key), INVALID_REQUEST, key)
  }
})

test('a valid share key names a coordinator once share groups are served', async () => {
  const key = `${uniqueName('share')}:AAAAAAAAAAAAAAAAAAAAAQ:0`
  // Kafka answers COORDINATOR_NOT_AVAILABLE while it creates __share_group_state on the first ask.
  await waitUntil(async () => (await findCoordinatorError(broker.port, 6, SHARE, key)) === 0, 'a share coordinator')
})
