// Client conformance: the same scenario with the Java client (kafka-clients 4.1 at its defaults,
// conformance/java's ScenarioDriver) and franz-go (kgo defaults and kadm, conformance/go):
// create 3-partition topics, produce keyed records with headers, consume with a group and
// commit, resume from the commit in a new member, a committed and an aborted transaction read
// read_committed, consume-transform-produce with the offsets in the transaction, admin listing
// and describing of topics and groups, and a second member sharing the partitions. Each program
// asserts every step itself and prints what it saw; the test checks its exit, its steps, that
// the client logged no warning, and what the broker's request log says the client sent.
'use strict'

if (require('./helpers').emulatorOnlyFile("checks the broker's request log")) return

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')
const { startKafka } = require('..')
const { uniqueName } = require('./helpers')
const { prepareJavaDriver, javaClasspath } = require('./java')

const CONFORMANCE = path.join(__dirname, '..', 'conformance')
const GO_DIR = path.join(CONFORMANCE, 'go')
const GO_BINARY = path.join(os.tmpdir(), 'kafka-emulator-conformance', 'franz-go')

const STEPS = [
  'create topics',
  'produce keyed records with headers',
  'consume with a group and commit',
  'committed offsets',
  'a new consumer in the same group resumes from the commit',
  'a committed and an aborted transaction, read with read_committed',
  'consume-transform-produce in a transaction with the group\'s offsets',
  'admin: list and describe topics',
  'admin: list and describe groups',
  'a second member joins and the partitions are shared',
]

// Errors that mean the broker misunderstood or cannot serve what a client sent: none may appear.
const BROKER_FAULTS = new Set([
  'UNSUPPORTED_VERSION',
  'INVALID_REQUEST',
  'CORRUPT_MESSAGE',
  'UNKNOWN_SERVER_ERROR',
  'INVALID_RECORD',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_TXN_STATE',
  'UNKNOWN_PRODUCER_ID',
  'OFFSET_OUT_OF_RANGE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'FETCH_SESSION_ID_NOT_FOUND',
  'INVALID_FETCH_SESSION_EPOCH',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'STALE_MEMBER_EPOCH',
  'FENCED_MEMBER_EPOCH',
  'INCONSISTENT_GROUP_PROTOCOL',
  'UNSUPPORTED_ASSIGNOR',
])

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...options })
  return r.error ? { ok: false, out: r.error.message } : { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
}

/** Builds the franz-go program (modules from the Go proxy, cached in ~/go). Returns why it
 * cannot run, or null. */
function prepareGo() {
  if (!run('go', ['version']).ok) return 'go is not installed'
  const build = run('go', ['build', '-buildvcs=false', '-o', GO_BINARY, '.'], { cwd: GO_DIR })
  return build.ok ? null : `go build failed: ${build.out}`
}

function timed(fn) {
  const started = Date.now()
  const missing = fn()
  return { missing, ms: Date.now() - started }
}

const java = timed(() => prepareJavaDriver('ScenarioDriver'))
const go = timed(prepareGo)

/** Locally a missing runtime skips with its reason; under CI it must fail, so no skip there. */
function skipUnless(missing, client) {
  return missing && !process.env.CI ? `${client} unavailable (${missing}); CI fails here` : false
}

let broker
before(async () => {
  // Members of consumer protocol groups learn of a new assignment at their next heartbeat: every
  // 500 ms rather than Kafka's 5 s keeps the two-member step short.
  broker = await startKafka({ requestLogSize: 100_000, groupConsumerHeartbeatIntervalMs: 500 })
})
after(async () => {
  await broker?.stop()
})

/** Runs a scenario program to its end; resolves with its exit code, output and duration. */
function runScenario(cmd, args) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** What the clients whose client id is `prefix` or starts with `prefix-` sent: counts by API
 * and version, and the errors the broker answered with. */
function requestsOf(prefix) {
  const apis = {}
  const errors = {}
  for (const r of broker.requests()) {
    if (r.clientId !== prefix && !r.clientId.startsWith(`${prefix}-`)) continue
    const key = `${r.api} v${r.version}`
    apis[key] = (apis[key] ?? 0) + 1
    if (r.error) errors[`${r.api} ${r.error}`] = (errors[`${r.api} ${r.error}`] ?? 0) + 1
  }
  // `api` alone, or `api vN` for that version.
  const used = (api) => Object.keys(apis).some((k) => (api.includes(' v') ? k === api : k.startsWith(`${api} v`)))
  return { apis, errors, used }
}

function checkRun(t, result, prefix, expectedApis) {
  const output = `exit ${result.code ?? result.signal}\nstdout:\n${result.stdout}\nstderr (last part):\n${result.stderr.slice(-5000)}`
  assert.equal(result.code, 0, output)
  const lines = result.stdout.trim().split('\n')
  assert.equal(lines.at(-1), 'OK', output)
  assert.ok(!lines.some((l) => l.startsWith('FAIL')), output)
  for (const step of STEPS) {
    assert.ok(lines.some((l) => l.startsWith(`step "${step}" passed`)), `step "${step}" did not pass:\n${output}`)
  }
  // Both programs log their client's warnings and errors on stderr (slf4j-simple, kgo's logger).
  const complaints = result.stderr.split('\n').filter((l) => / WARN |\[WARN\]| ERROR |\[ERROR\]/.test(l))
  assert.deepEqual(complaints, [], `the client complained:\n${output}`)
  const { apis, errors, used } = requestsOf(prefix)
  for (const api of expectedApis) assert.ok(used(api), `the client never sent ${api}: ${JSON.stringify(apis)}`)
  const faults = Object.keys(errors).filter((e) => BROKER_FAULTS.has(e.split(' ')[1]))
  assert.deepEqual(faults, [], `the broker answered with errors: ${JSON.stringify(errors)}`)
  t.diagnostic(`scenario took ${result.ms} ms`)
  for (const line of lines.filter((l) => l.startsWith('step '))) t.diagnostic(line)
  t.diagnostic(`requests: ${JSON.stringify(apis)}`)
  t.diagnostic(`errors answered: ${JSON.stringify(errors)}`)
}

// Both clients run transactions v2 (KIP-890), transaction.version 2 being finalized as on Kafka
// 4.1: partitions and groups join the transaction through Produce and TxnOffsetCommit v5
// (no AddPartitionsToTxn or AddOffsetsToTxn), and EndTxn v5 bumps the epoch.
const JAVA_APIS = ['ApiVersions', 'Metadata', 'CreateTopics', 'Produce', 'InitProducerId', 'FindCoordinator', 'OffsetCommit',
  'OffsetFetch', 'Fetch', 'ListOffsets', 'OffsetForLeaderEpoch', 'TxnOffsetCommit v5', 'EndTxn v5',
  'DescribeConfigs', 'ListGroups', 'DeleteRecords']

async function javaScenario(t, groupProtocol, strategy, apis) {
  if (java.missing) assert.fail(`the Java client is needed (CI=true): ${java.missing}`)
  t.diagnostic(`kafka-clients ready in ${java.ms} ms (dependencies, javac)`)
  const prefix = uniqueName('java')
  const args = [
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp',
    javaClasspath('ScenarioDriver'),
    'dev.kafkaemulator.conformance.ScenarioDriver',
    broker.brokers[0],
    prefix,
    groupProtocol,
    ...(strategy ? [strategy] : []),
  ]
  const result = await runScenario('java', args)
  checkRun(t, result, prefix, [...JAVA_APIS, ...apis])
  return { ...result, prefix }
}

const javaSkip = skipUnless(java.missing, 'Java client')
const goSkip = skipUnless(go.missing, 'franz-go')

const GO_APIS = ['ApiVersions', 'Metadata', 'CreateTopics', 'Produce', 'InitProducerId', 'FindCoordinator', 'OffsetCommit',
  'OffsetFetch', 'Fetch', 'ListOffsets', 'OffsetForLeaderEpoch', 'TxnOffsetCommit v5', 'EndTxn v5',
  'DescribeConfigs', 'ListGroups']

async function goScenario(t, groupProtocol, apis) {
  if (go.missing) assert.fail(`franz-go is needed (CI=true): ${go.missing}`)
  t.diagnostic(`franz-go built in ${go.ms} ms`)
  const prefix = uniqueName('franz-go')
  const result = await runScenario(GO_BINARY, [broker.brokers[0], prefix, groupProtocol])
  checkRun(t, result, prefix, [...GO_APIS, ...apis])
  return { ...result, prefix }
}

// The scenarios are independent (their own topics and groups) and mostly wait on the clients'
// timers, so they run side by side.
describe('client conformance', { concurrency: true }, () => {
  test('Java client, classic group protocol with the default assignors (range first)', { skip: javaSkip, timeout: 180_000 }, async (t) => {
    const result = await javaScenario(t, 'classic', null, ['JoinGroup', 'SyncGroup', 'LeaveGroup', 'DescribeGroups'])
    assert.match(result.stdout, /assignor range, 1 member owning 3 partitions/)
  })

  test('Java client, classic group protocol with the cooperative-sticky assignor', { skip: javaSkip, timeout: 180_000 }, async (t) => {
    const result = await javaScenario(t, 'classic', 'org.apache.kafka.clients.consumer.CooperativeStickyAssignor', [
      'JoinGroup',
      'SyncGroup',
      'LeaveGroup',
      'DescribeGroups',
    ])
    assert.match(result.stdout, /assignor cooperative-sticky, 1 member owning 3 partitions/)
  })

  test('Java client, consumer group protocol (KIP-848)', { skip: javaSkip, timeout: 180_000 }, async (t) => {
    const result = await javaScenario(t, 'consumer', null, ['ConsumerGroupHeartbeat', 'ConsumerGroupDescribe'])
    assert.match(result.stdout, /Consumer, Stable, assignor uniform, 1 member owning 3 partitions/)
    assert.ok(!requestsOf(result.prefix).used('JoinGroup'), 'a consumer protocol member never joins the classic way')
  })

  test('franz-go (kgo defaults, kadm), classic group protocol', { skip: goSkip, timeout: 180_000 }, async (t) => {
    const result = await goScenario(t, 'classic', ['JoinGroup', 'SyncGroup', 'LeaveGroup', 'DescribeGroups'])
    assert.match(result.stdout, /type classic, state Empty, protocol type consumer/)
  })

  test('franz-go (kgo, kadm), consumer group protocol (KIP-848)', { skip: goSkip, timeout: 180_000 }, async (t) => {
    const result = await goScenario(t, 'consumer', ['ConsumerGroupHeartbeat', 'ConsumerGroupDescribe'])
    assert.match(result.stdout, /type consumer, state Empty, epoch \d+/)
    assert.ok(!requestsOf(result.prefix).used('JoinGroup'), 'a consumer protocol member never joins the classic way')
  })
})
