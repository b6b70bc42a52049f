'use strict'

// The conformance scenario with kcat (librdkafka inside), as far as kcat goes.
// Usage: node scenario.js <bootstrap host:port>   (the broker must auto-create topics with
// 3 partitions: kcat has no admin API to create one)
//
// What kcat cannot do, and so this scenario does not:
// - create a topic: kcat has no admin API; the first produce auto-creates it (num.partitions=3)
//   and the metadata listing (-L) checks it has 3 partitions.
// - list or describe groups, or read a group's committed offsets: kcat has no group admin; the
//   commit is checked by what a restarted member of the group reads.
// - abort a transaction on request: kcat commits its transaction when its input ends, and aborts
//   only on a signal that reaches it between messages (a signal while it waits for more input
//   leaves it hung or failing without an abort). So the aborted transaction here is one whose
//   producer dies mid-transaction (SIGKILL): the coordinator aborts it when the next kcat with the
//   same transactional.id initialises (InitProducerId fences the old epoch), as Kafka does.
// - per-message headers in one invocation: -H applies to every message of that run, so each
//   message with its own headers is produced by its own kcat run.
// Every step asserts what it saw and prints one line; any mismatch exits non-zero.

const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')

const bootstrap = process.argv[2]
if (!bootstrap) {
  console.error('usage: node scenario.js <host:port>')
  process.exit(2)
}

const run = `${process.pid}-${Date.now()}`
const TOPIC = `conformance-kcat-${run}`
const TXN_TOPIC = `conformance-kcat-txn-${run}`
const GROUP = `conformance-kcat-group-${run}`
const TRANSACTIONAL_ID = `conformance-kcat-tx-${run}`
const STEP_DEADLINE_MS = 20_000
// KCAT_DEBUG=eos,protocol passes -d to every kcat run.
const DEBUG = process.env.KCAT_DEBUG ? ['-d', process.env.KCAT_DEBUG] : []

const START = Date.now()
let last = START
/** Prints a step with how long it took and the time since the scenario started. */
function step(name, detail) {
  const now = Date.now()
  console.log(`step ${name}: ${detail} (${now - last} ms, at ${now - START} ms)`)
  last = now
}

/** -e exits at the end of the partitions, which a consumer learns from a fetch that waited its
 * fetch.wait.max.ms (500 ms by default) for more. */
const QUICK_EOF = ['-X', 'fetch.wait.max.ms=50']

/** Runs kcat to completion; fails with its stderr unless it exits 0. */
function kcat(args, input) {
  const r = spawnSync('kcat', ['-b', bootstrap, ...DEBUG, ...args], {
    input: input ?? '',
    encoding: 'utf8',
    timeout: STEP_DEADLINE_MS,
    // kcat ignores SIGTERM while librdkafka waits on the broker
    killSignal: 'SIGKILL',
  })
  if (DEBUG.length > 0) process.stderr.write(r.stderr)
  if (r.error) throw new Error(`kcat ${args.join(' ')}: ${r.error.message}`)
  assert.equal(r.status, 0, `kcat ${args.join(' ')} exited ${r.status} (signal ${r.signal}): ${r.stderr}`)
  return r.stdout
}

/** kcat -J consumer output: one JSON envelope a line; headers come as [name, value, ...]. */
function records(output) {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const r = JSON.parse(line)
      const headers = {}
      for (let i = 0; i < (r.headers || []).length; i += 2) headers[r.headers[i]] = r.headers[i + 1]
      return { partition: r.partition, offset: r.offset, key: r.key, value: r.payload, headers }
    })
}

/** A balanced-consumer (-G) member that reads to the end of every assigned partition (-e), then
 * leaves; enable.auto.commit (librdkafka's default) commits what it consumed when it closes. */
function consumeGroup(group, topic) {
  return records(kcat(['-G', group, '-X', 'auto.offset.reset=earliest', ...QUICK_EOF, '-e', '-J', '-q', topic]))
}

/** Reads partition 0 of `topic` from the beginning to its end with an isolation level. */
function readPartition(topic, isolation) {
  return kcat(['-C', '-t', topic, '-p', '0', '-o', 'beginning', ...QUICK_EOF, '-e', '-q', '-X', `isolation.level=${isolation}`])
    .split('\n')
    .filter((line) => line !== '')
}

function produceTransaction(values) {
  kcat(['-P', '-t', TXN_TOPIC, '-p', '0', '-X', `transactional.id=${TRANSACTIONAL_ID}`], values.map((v) => `${v}\n`).join(''))
}

/** Leaves a transaction with `values` open: kcat reads stdin in 1 KiB blocks, so a partial line
 * after them makes it produce them and wait for more; then it is killed, as in a crash. */
async function produceOpenTransaction(values) {
  const child = spawn('kcat', ['-b', bootstrap, '-P', '-t', TXN_TOPIC, '-p', '0', '-X', `transactional.id=${TRANSACTIONAL_ID}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.stdin.write(values.map((v) => `${v}\n`).join('') + 'p'.repeat(1100))
  const deadline = Date.now() + STEP_DEADLINE_MS
  // Wait until the records are in the log (visible to read_uncommitted), polling with a deadline.
  for (;;) {
    const seen = readPartition(TXN_TOPIC, 'read_uncommitted')
    if (values.every((v) => seen.includes(v))) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`the open transaction's records never reached the log; saw ${JSON.stringify(seen)}; kcat said ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  await exited
}

async function main() {
  const version = spawnSync('kcat', ['-V'], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.includes('librdkafka'))
  console.log(version.trim())

  // 1. Keyed messages with headers, one kcat run each (their headers differ); the first
  // auto-creates the topic.
  const first = Array.from({ length: 6 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}`, headers: { trace: `t-${i}`, client: 'kcat' } }))
  for (const m of first) {
    const headers = Object.entries(m.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`])
    kcat(['-P', '-t', TOPIC, '-K', ':', ...headers], `${m.key}:${m.value}\n`)
  }
  step('produce', `${first.length} keyed messages with headers`)

  // 2. Metadata listing: the topic has 3 partitions, each led by the one broker.
  const metadata = JSON.parse(kcat(['-L', '-J']))
  assert.equal(metadata.brokers.length, 1, 'one broker')
  const brokerId = metadata.brokers[0].id
  const listed = metadata.topics.find((t) => t.topic === TOPIC)
  assert.ok(listed, `-L lists ${TOPIC}: ${JSON.stringify(metadata.topics.map((t) => t.topic))}`)
  assert.deepEqual(
    listed.partitions.map((p) => [p.partition, p.leader, p.replicas.map((r) => r.id), p.isrs.map((r) => r.id)]).sort((a, b) => a[0] - b[0]),
    [0, 1, 2].map((p) => [p, brokerId, [brokerId], [brokerId]]),
    'the topic has partitions 0-2 led by the broker',
  )
  step('metadata', `-L lists ${metadata.topics.length} topics; ${TOPIC} has 3 partitions led by broker ${brokerId}`)

  // 3. A balanced consumer group reads them all and commits as it leaves.
  const one = consumeGroup(GROUP, TOPIC)
  const seen = one.map(({ key, value, headers }) => ({ key, value, headers })).sort((a, b) => a.key.localeCompare(b.key))
  assert.deepEqual(seen, first, 'the group sees every message with its key, value and headers')
  const committed = new Map()
  for (const r of one) committed.set(r.partition, Math.max(committed.get(r.partition) ?? 0, r.offset + 1))
  step('consume-commit', `group ${GROUP} saw ${one.length} messages`)

  // 4. After the commit, one more message on each partition; a new member of the same group
  // resumes from the commit (auto.offset.reset=earliest would replay everything if it were lost).
  const second = [0, 1, 2].map((p) => ({ partition: p, key: `after-${p}`, value: `after-value-${p}`, headers: { trace: `after-${p}` } }))
  for (const m of second) {
    kcat(['-P', '-t', TOPIC, '-p', String(m.partition), '-K', ':', '-H', `trace=${m.headers.trace}`], `${m.key}:${m.value}\n`)
  }
  const two = consumeGroup(GROUP, TOPIC)
  const resumed = two.map(({ partition, key, value, headers }) => ({ partition, key, value, headers })).sort((a, b) => a.partition - b.partition)
  assert.deepEqual(resumed, second, 'the restarted consumer sees only the messages produced after the commit')
  for (const r of two) assert.ok(r.offset >= (committed.get(r.partition) ?? 0), `offset ${r.offset} of partition ${r.partition} is before the commit`)
  // A third member finds nothing left: the second one committed too.
  assert.deepEqual(consumeGroup(GROUP, TOPIC), [], 'nothing is left after the second commit')
  step('resume', `a new consumer of ${GROUP} saw only ${JSON.stringify(resumed.map((r) => r.key))}`)

  // 5. A committed transaction, one whose producer is killed and that the coordinator aborts when
  // the next producer with the same transactional.id starts, and another committed one.
  produceTransaction(['committed-1', 'committed-2'])
  await produceOpenTransaction(['aborted-1', 'aborted-2'])
  produceTransaction(['committed-3'])
  const readCommitted = readPartition(TXN_TOPIC, 'read_committed')
  assert.deepEqual(readCommitted, ['committed-1', 'committed-2', 'committed-3'], 'read_committed sees only committed transactions')
  const readUncommitted = readPartition(TXN_TOPIC, 'read_uncommitted')
  assert.deepEqual(
    readUncommitted,
    ['committed-1', 'committed-2', 'aborted-1', 'aborted-2', 'committed-3'],
    'read_uncommitted sees the aborted records too',
  )
  step('transactions', `read_committed saw ${JSON.stringify(readCommitted)}`)

  console.log(`scenario passed in ${Date.now() - START} ms`)
}

main().catch((err) => {
  console.error(`scenario failed: ${err.stack || err}`)
  process.exit(1)
})
