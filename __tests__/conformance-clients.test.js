// Client conformance: the same scenario run by real clients of other stacks, each a program of its
// own under conformance/<client>/ that asserts every step and prints what it saw:
// create a 3-partition topic, produce keyed messages with headers, consume them with a group and
// commit, restart the consumer and resume from the commit, a committed and an aborted transaction
// read with read_committed, and list/describe topics and groups through the client's admin API
// (kcat does what it can; conformance/kcat/scenario.js says what it cannot and why). The clients
// that speak the consumer group protocol of KIP-848 run the scenario a second time with it.
//
// A client that is not installed skips here with the reason; under CI=true it fails instead
// (.ci/run installs them all).

if (require('./helpers').emulatorOnlyFile("checks the broker's request log")) return

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { startKafka } = require('..')

const ROOT = path.join(__dirname, '..')
const CONFORMANCE = path.join(ROOT, 'conformance')
/** A scenario is a handful of round trips per step; this only bounds a hung client. */
const SCENARIO_DEADLINE_MS = 120_000
const STEPS = ['produce', 'consume-commit', 'resume', 'transactions']

function probe(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 })
  if (r.error) return { ok: false, out: r.error.message }
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() }
}

function nodeModule(name) {
  try {
    require.resolve(name, { paths: [ROOT] })
    return null
  } catch {
    return `the npm package ${name} is not installed (npm install)`
  }
}

/** The Python with confluent-kafka: the venv .ci/run makes, else python3 on the PATH. */
function pythonWithConfluentKafka() {
  const venv = path.join(CONFORMANCE, 'python', '.venv', 'bin', 'python')
  const python = fs.existsSync(venv) ? venv : 'python3'
  const r = probe(python, ['-c', 'import confluent_kafka as c; print(c.version(), c.libversion()[0])'])
  if (!r.ok) {
    return { missing: `confluent-kafka is not importable by ${python} (pip install -r conformance/python/requirements.txt): ${r.out}` }
  }
  return { python, version: r.out }
}

const python = pythonWithConfluentKafka()
const kcat = probe('kcat', ['-V'])

const CLIENTS = [
  {
    name: 'kafkajs',
    missing: nodeModule('kafkajs'),
    command: [process.execPath, path.join(CONFORMANCE, 'kafkajs', 'scenario.js')],
    steps: ['create-topic', ...STEPS, 'admin'],
  },
  {
    name: '@platformatic/kafka',
    missing: nodeModule('@platformatic/kafka'),
    command: [process.execPath, path.join(CONFORMANCE, 'platformatic', 'scenario.js')],
    steps: ['create-topic', ...STEPS, 'admin'],
  },
  {
    name: '@platformatic/kafka (consumer group protocol, KIP-848)',
    missing: nodeModule('@platformatic/kafka'),
    command: [process.execPath, path.join(CONFORMANCE, 'platformatic', 'scenario.js')],
    args: ['consumer'],
    kip848: true,
    steps: ['create-topic', ...STEPS, 'admin'],
  },
  {
    name: 'confluent-kafka (Python, librdkafka)',
    missing: python.missing ?? null,
    version: python.version,
    command: [python.python, path.join(CONFORMANCE, 'python', 'scenario.py')],
    steps: ['create-topic', ...STEPS, 'admin'],
  },
  {
    name: 'confluent-kafka (Python, librdkafka; consumer group protocol, KIP-848)',
    missing: python.missing ?? null,
    command: [python.python, path.join(CONFORMANCE, 'python', 'scenario.py')],
    args: ['consumer'],
    kip848: true,
    steps: ['create-topic', ...STEPS, 'admin'],
  },
  {
    name: 'kcat',
    missing: kcat.ok ? null : `kcat is not installed (apt-get install -y kcat): ${kcat.out}`,
    version: kcat.ok ? kcat.out.split('\n').find((l) => l.includes('librdkafka')) : undefined,
    command: [process.execPath, path.join(CONFORMANCE, 'kcat', 'scenario.js')],
    // kcat has no admin API: no topic creation, no group listing (see its scenario).
    steps: ['metadata', ...STEPS],
  },
]

/** Runs a scenario program against `bootstrap`; resolves with its exit and output. */
function runScenario(command, bootstrap, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], [...command.slice(1), bootstrap, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`scenario did not finish within ${SCENARIO_DEADLINE_MS} ms; output so far:\n${stdout}\n${stderr}`))
    }, SCENARIO_DEADLINE_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

for (const client of CLIENTS) {
  // Locally a missing client skips; CI must have every one, so there it fails below.
  const skip = client.missing && !process.env.CI ? `${client.name} unavailable: ${client.missing}` : false
  test(`${client.name} runs the conformance scenario against the broker`, { skip }, async (t) => {
    assert.equal(client.missing, null, `${client.name} is required under CI: ${client.missing}`)
    // num.partitions=3 so kcat's first produce auto-creates the 3-partition topic; the other
    // clients create theirs through their admin API.
    const broker = await startKafka({ numPartitions: 3, requestLogSize: 10_000 })
    t.after(() => broker.stop())
    const started = process.hrtime.bigint()
    const result = await runScenario(client.command, broker.brokers[0], client.args)
    const elapsedMs = Number((process.hrtime.bigint() - started) / 1_000_000n)
    const report = `exit ${result.code} (signal ${result.signal})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`
    assert.equal(result.code, 0, `the ${client.name} scenario failed: ${report}`)
    for (const step of client.steps) {
      assert.match(result.stdout, new RegExp(`^step ${step}: `, 'm'), `step ${step} did not run: ${report}`)
    }
    assert.match(result.stdout, /^scenario passed in \d+ ms$/m, report)
    // A client must not have had to fall back from a version the broker advertised.
    const requests = broker.requests()
    assert.deepEqual(
      requests.filter((r) => r.error === 'UNSUPPORTED_VERSION').map((r) => `${r.api} v${r.version}`),
      [],
      'no request was refused as UNSUPPORTED_VERSION',
    )
    const versions = new Map()
    for (const r of requests) versions.set(r.api, new Set([...(versions.get(r.api) ?? []), r.version]))
    if (client.kip848) {
      // The members joined through ConsumerGroupHeartbeat, never through JoinGroup.
      assert.ok(versions.has('ConsumerGroupHeartbeat'), `no ConsumerGroupHeartbeat: ${[...versions.keys()]}`)
      assert.ok(!versions.has('JoinGroup'), 'a member joined with the classic protocol')
    }
    t.diagnostic(`${client.name} used ${[...versions].map(([api, vs]) => `${api} v${[...vs].join('/')}`).join(', ')}`)
    if (client.version) t.diagnostic(`${client.name}: ${client.version}`)
    const inside = result.stdout.match(/^scenario passed in (\d+) ms$/m)[1]
    t.diagnostic(`${client.name} scenario took ${inside} ms (${elapsedMs} ms from process start to exit)`)
    for (const line of result.stdout.split('\n').filter((l) => l.startsWith('step '))) t.diagnostic(`  ${line}`)
  })
}
