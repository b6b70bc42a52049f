#!/usr/bin/env node
'use strict'

// The crash soak: a 3-broker cluster (topic with 6 partitions, replication factor 3,
// min.insync.replicas 2) whose brokers stop and start on a schedule while librdkafka
// (conformance/python/soak.py) and Java (conformance/java SoakDriver) producers write unique
// values with acks=all, idempotent and not, and consumer groups of each client (classic and
// KIP-848 protocol) consume and commit. Connections are dropped and faults injected (failNext,
// delay) along the way. Then scripts/soak/check.js proves from the producers' acks, the members' logs and the stored
// partitions that no acked record was lost, none an idempotent producer wrote is stored twice,
// acks of a partition come in offset order, and the groups committed only what they consumed.
//
//   npm run soak -- [--minutes 3] [--rate 1000] [--seed 1] [--out DIR] [--no-java] [--no-python]
//                   [--restart-every-ms 400] [--fault-every-ms 1000] [--faults name,name...]
//                   [--request-log N] [--no-kip848] [--kafkajs] [--os-ports]
//
// --rate is records per second per producer (0: as fast as they go); --restart-every-ms 0 keeps
// every broker up; --faults picks from FAULTS below (default all; '' for none); --request-log N
// keeps the broker's last N requests and writes the groups' ones to group-requests.json. Each
// client has a group on the classic protocol and one on KIP-848's (--no-kip848: classic only).
// --kafkajs adds kafkajs producers, whose losses (kafkajs#1303) are shown but not judged.
// --os-ports lets the OS pick the brokers' ports (see startCluster).
// The producers' and members' files, the clients' logs (*.stderr) and report.json stay in --out
// (default a new directory under the OS's temp dir). Exits 1 if the check fails.
// __tests__/soak.test.js runs a short one.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { startKafka } = require('..')
const { prepareJavaDriver, javaClasspath } = require('../__tests__/java')
const check = require('./soak/check')

const ROOT = path.join(__dirname, '..')
const TOPIC = 'soak'
const PARTITIONS = 6
const BROKERS = 3

/** A small seeded generator (mulberry32), so a schedule can be replayed with --seed. */
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Python with confluent-kafka (the venv .ci/run makes, else python3), or why there is none. */
function pythonClient() {
  const venv = path.join(ROOT, 'conformance', 'python', '.venv', 'bin', 'python')
  const python = fs.existsSync(venv) ? venv : 'python3'
  const r = spawnSync(python, ['-c', 'import confluent_kafka as c; print(c.version(), c.libversion()[0])'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return { missing: `confluent-kafka is not importable by ${python}` }
  return { command: [python, path.join(ROOT, 'conformance', 'python', 'soak.py')], version: `confluent-kafka ${r.stdout.trim()}` }
}

function javaClient() {
  const missing = prepareJavaDriver('SoakDriver')
  if (missing) return { missing }
  return { command: ['java', '-cp', javaClasspath('SoakDriver'), 'dev.kafkaemulator.conformance.SoakDriver'], version: 'kafka-clients (conformance/java/pom.xml)' }
}

/**
 * kafkajs producers (no group): they lose acknowledged records under this schedule
 * (tulios/kafkajs#1303, docs/kafkajs-1303.md), so their figures are shown but not judged.
 */
function kafkajsClient() {
  let version
  try {
    version = require(require.resolve('kafkajs/package.json', { paths: [ROOT] })).version
  } catch {
    return { missing: 'the npm package kafkajs is not installed' }
  }
  return {
    command: [process.execPath, path.join(__dirname, 'soak', 'kafkajs-driver.js')],
    version: `kafkajs ${version}`,
    producersOnly: true,
    knownBug: 'tulios/kafkajs#1303',
  }
}

/** The clients this machine can run, each with its producers and consumer groups. */
function clients({ java = true, python = true, kafkajs = false } = {}) {
  const all = []
  if (python) all.push({ kind: 'librdkafka', prefix: 'rdkafka', ...pythonClient() })
  if (java) all.push({ kind: 'java', prefix: 'java', ...javaClient() })
  if (kafkajs) all.push({ kind: 'kafkajs', prefix: 'kafkajs', ...kafkajsClient() })
  return all
}

/**
 * A driver process: lines it prints are kept and can be waited for; stderr (client logs) goes
 * to a file in the run's directory.
 */
function startDriver(client, args, dir, name = client.prefix) {
  const [cmd, ...pre] = client.command
  const stderr = fs.openSync(path.join(dir, `${name}.stderr`), 'w')
  const child = spawn(cmd, [...pre, ...args], { stdio: ['pipe', 'pipe', stderr] })
  fs.closeSync(stderr)
  const seen = []
  const waiters = new Set()
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    for (const w of waiters) w.check()
    resolve({ code, signal })
  }))
  let exit = null
  exited.then((e) => (exit = e))
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    seen.push(line)
    for (const w of [...waiters]) w.check()
  })
  return {
    client,
    child,
    seen,
    exited,
    send(line) {
      if (child.stdin.writable) child.stdin.write(`${line}\n`)
    },
    /** Resolves with the lines matching `predicate` once there are `count` of them. */
    waitFor(predicate, count, ms, what) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${client.kind}: ${what}`)), ms)
        const done = (err, value) => {
          clearTimeout(timer)
          waiters.delete(waiter)
          if (err) reject(err)
          else resolve(value)
        }
        const waiter = {
          check() {
            const found = seen.filter(predicate)
            if (found.length >= count) done(null, found)
            else if (exit) done(new Error(`${client.kind} exited (${JSON.stringify(exit)}) while waiting for ${what}; see ${name}.stderr`))
          },
        }
        waiters.add(waiter)
        waiter.check()
      })
    },
  }
}

/** The faults injected between broker restarts, picked at random. */
const FAULTS = [
  ['disconnect-all', (kafka) => kafka.disconnect()],
  ['disconnect-broker', (kafka, pick) => kafka.disconnect({ broker: pick(BROKERS) })],
  ['produce-not-leader', (kafka) => kafka.failNext({ api: 'Produce', error: 'NOT_LEADER_OR_FOLLOWER', count: 3 })],
  ['produce-not-enough-replicas', (kafka) => kafka.failNext({ api: 'Produce', error: 'NOT_ENOUGH_REPLICAS', count: 2 })],
  ['produce-lost-response', (kafka) => kafka.failNext({ api: 'Produce', drop: 'response', count: 2 })],
  ['produce-dropped-request', (kafka) => kafka.failNext({ api: 'Produce', drop: 'request' })],
  ['fetch-not-leader', (kafka) => kafka.failNext({ api: 'Fetch', error: 'NOT_LEADER_OR_FOLLOWER', count: 2 })],
  ['fetch-dropped-request', (kafka) => kafka.failNext({ api: 'Fetch', drop: 'request' })],
  ['commit-coordinator-unavailable', (kafka) => kafka.failNext({ api: 'OffsetCommit', error: 'COORDINATOR_NOT_AVAILABLE' })],
  ['commit-lost-response', (kafka) => kafka.failNext({ api: 'OffsetCommit', drop: 'response' })],
  ['heartbeat-not-coordinator', (kafka) => kafka.failNext({ api: 'Heartbeat', error: 'NOT_COORDINATOR' })],
  // 150 ms more on one broker's Produce for 0.5 s (removed by setting the same pair to 0).
  ['produce-delay', (kafka, pick, later) => {
    const broker = pick(BROKERS)
    kafka.delay({ api: 'Produce', broker, ms: 150 })
    later(500, () => kafka.delay({ api: 'Produce', broker, ms: 0 }))
  }],
]

/**
 * The cluster, on ports below the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
 * 32768-60999 by default on Linux). On a port the OS picked, a stopped broker may fail to listen
 * again: while it is down, the port is free for any socket of the machine, such as a client
 * connection's local end or another process's listener on port 0 ("Address already in use" on
 * startBroker). Kafka's fixed ports do not meet that.
 */
async function startCluster(pick, requestLogSize, osPorts) {
  for (let attempt = 0; ; attempt++) {
    const port = osPorts ? 0 : 20000 + pick(12000)
    try {
      // KIP-848 members learn of new assignments at their heartbeats: every 0.5 s, not 5 s.
      return await startKafka({ port, brokers: BROKERS, defaultReplicationFactor: 3, requestLogSize, groupConsumerHeartbeatIntervalMs: 500 })
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || attempt === 20) throw err
    }
  }
}

/**
 * Runs the soak for `durationMs` and checks it. Resolves with the report (see check.format);
 * `report.failures` lists what went wrong (empty when the check passed).
 */
async function runSoak({
  durationMs = 3 * 60_000,
  rate = 1000,
  seed = 1,
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-soak-')),
  java = true,
  python = true,
  restartEveryMs = 400,
  faultEveryMs = 1000,
  faults: faultNames = FAULTS.map(([name]) => name),
  requestLogSize = 0,
  kip848 = true,
  kafkajs = false,
  osPorts = false,
  log = (line) => console.log(line),
} = {}) {
  const chosen = clients({ java, python, kafkajs })
  const missing = chosen.filter((c) => c.missing)
  if (missing.length) throw new Error(missing.map((c) => `${c.kind}: ${c.missing}`).join('; '))
  if (!chosen.length) throw new Error('no client to soak with')
  fs.mkdirSync(dir, { recursive: true })
  const pick = ((rnd) => (n) => Math.floor(rnd() * n))(random(seed))
  const menu = FAULTS.filter(([name]) => faultNames.includes(name))
  const unknown = faultNames.filter((name) => !FAULTS.some(([n]) => n === name))
  if (unknown.length) throw new Error(`unknown faults ${unknown.join(', ')}; known: ${FAULTS.map(([n]) => n).join(', ')}`)

  const kafka = await startCluster(pick, requestLogSize, osPorts)
  const drivers = []
  const timers = []
  try {
    kafka.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
    const bootstrap = kafka.brokers.join(',')
    const producers = []
    const groups = []
    // One process for a client's producers, one per group (so that Python's lock is not shared).
    const driver = (client, name, roles) => {
      const d = startDriver(client, [bootstrap, TOPIC, dir, String(rate), ...roles], dir, name)
      d.producers = roles.filter((r) => r.startsWith('produce:')).length
      d.members = roles.length - d.producers
      drivers.push(d)
    }
    for (const client of chosen) {
      const roles = []
      for (const [suffix, idempotent] of [['idem', true], ['plain', false]]) {
        const id = `${client.prefix}-${suffix}`
        producers.push({ id, kind: client.kind, idempotent, knownBug: client.knownBug })
        roles.push(`produce:${id}:${idempotent ? 1 : 0}`)
      }
      driver(client, `${client.prefix}-producers`, roles)
      if (client.producersOnly) continue
      for (const protocol of kip848 ? ['classic', 'consumer'] : ['classic']) {
        const id = protocol === 'classic' ? `${client.prefix}-group` : `${client.prefix}-848-group`
        const group = { id, kind: `${client.kind} (${protocol})`, members: ['a', 'b'] }
        groups.push(group)
        driver(client, id, group.members.map((m) => `consume:${group.id}:${m}:${protocol}`))
      }
    }
    await Promise.all(drivers.map((d) => d.waitFor((l) => l === 'ready', 1, 60_000, 'ready')))
    log(`soak: ${chosen.map((c) => c.version).join(', ')}; ${durationMs / 1000} s, ${rate || 'unlimited'} records/s per producer, files in ${dir}`)

    // The fault schedule. Broker restarts are chained so that one broker at most is down.
    const started = Date.now()
    const faults = {}
    let brokerStops = 0
    const restartFailures = []
    let down = null
    let chaos = true
    let restarts = Promise.resolve()
    const restart = () => {
      if (!chaos) return
      restarts = restarts.then(async () => {
        if (down === null) {
          down = pick(BROKERS)
          brokerStops += 1
          await kafka.stopBroker(down)
        } else {
          await kafka.startBroker(down)
          down = null
        }
      }).catch((err) => {
        // Counted and reported; the broker stays down and is started again at the next turn.
        restartFailures.push(err.message)
        const port = err.message.match(/:(\d+): Address already in use/)?.[1]
        const holders = port ? spawnSync('ss', ['-tanp', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' }).stdout : ''
        log(`soak: ${err.message}${holders ? `\n${holders}` : ''}`)
      })
      timers.push(setTimeout(restart, restartEveryMs))
    }
    if (restartEveryMs > 0) timers.push(setTimeout(restart, restartEveryMs))
    const faulty = setInterval(() => {
      if (!menu.length) return
      const [name, inject] = menu[pick(menu.length)]
      faults[name] = (faults[name] ?? 0) + 1
      const later = (ms, fn) => timers.push(setTimeout(fn, ms))
      Promise.resolve(inject(kafka, pick, later)).catch((err) => log(`fault ${name} failed: ${err.message}`))
    }, faultEveryMs)
    timers.push(faulty)
    // The coordinator's committed offsets, for "never backwards".
    const samples = new Map(groups.map((g) => [g.id, []]))
    const sampler = setInterval(() => {
      for (const g of groups) {
        const at = Date.now()
        samples.get(g.id).push(kafka.offsets(g.id).filter((o) => o.topic === TOPIC).map(({ partition, offset }) => ({ partition, offset, at })))
      }
    }, 100)
    timers.push(sampler)
    const progress = setInterval(() => log(`soak: ${Math.round((Date.now() - started) / 1000)} s, broker stops ${brokerStops}`), 30_000)
    timers.push(progress)

    await new Promise((resolve) => timers.push(setTimeout(resolve, durationMs)))
    chaos = false
    clearInterval(faulty)
    await restarts
    if (down !== null) await kafka.startBroker(down)
    if (restartFailures.length) log(`soak: ${restartFailures.length} broker restarts failed`)
    kafka.clearFaults()

    // Producers stop and flush; the groups then catch up with the end of every partition.
    for (const d of drivers) d.send('stop-producing')
    const flushed = await Promise.all(drivers.map((d) => d.waitFor((l) => l.startsWith('flushed '), d.producers, 240_000, 'the producers to flush')))
    log(`soak: producers flushed (${flushed.flat().join('; ')})`)
    const encode = check.encoder(producers.map((p) => p.id))
    const stored = check.readLog(kafka, TOPIC, PARTITIONS, encode)
    const ends = stored.map((codes) => codes.length)
    const caughtUp = () => groups.every((g) => {
      const offsets = kafka.offsets(g.id)
      return ends.every((end, partition) => offsets.find((o) => o.topic === TOPIC && o.partition === partition)?.offset === end)
    })
    const deadline = Date.now() + 120_000
    while (!caughtUp() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    clearInterval(sampler)
    for (const d of drivers) d.send('stop')
    for (const d of drivers) d.child.stdin.end()
    await Promise.all(drivers.map((d) => d.waitFor((l) => l.startsWith('closed '), d.members, 60_000, 'the consumers to leave')))
    await Promise.all(drivers.map((d) => d.exited))

    const report = {
      durationMs,
      brokers: BROKERS,
      partitions: PARTITIONS,
      replicationFactor: 3,
      stored: ends.reduce((a, b) => a + b, 0),
      foreign: stored.reduce((n, codes) => n + codes.filter((c) => c < 0).length, 0),
      brokerStops,
      restartFailures,
      faults,
      producers: check.checkProducers(dir, producers, stored, encode),
      groups: groups.map((g) => {
        const final = kafka.offsets(g.id).filter((o) => o.topic === TOPIC).map(({ partition, offset }) => ({ partition, offset }))
        return check.checkGroup(dir, g, stored, encode, samples.get(g.id), final)
      }),
      dir,
    }
    report.failures = check.failures(report)
    if (requestLogSize > 0) {
      // For looking into a failure: the groups' requests, as the broker saw them.
      const members = new Set(groups.flatMap((g) => g.members.map((m) => `${g.id}.${m}`)))
      const requests = kafka.requests().filter((r) => members.has(r.clientId) && r.api !== 'Fetch')
      fs.writeFileSync(path.join(dir, 'group-requests.json'), JSON.stringify(requests))
    }
    fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2))
    return report
  } finally {
    for (const t of timers) clearTimeout(t)
    for (const d of drivers) if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL')
    await kafka.stop()
  }
}

function parseArgs(argv) {
  const options = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined || !Number.isFinite(Number(v))) throw new Error(`${arg} needs a number`)
      return Number(v)
    }
    if (arg === '--minutes') options.durationMs = value() * 60_000
    else if (arg === '--seconds') options.durationMs = value() * 1000
    else if (arg === '--rate') options.rate = value()
    else if (arg === '--seed') options.seed = value()
    else if (arg === '--restart-every-ms') options.restartEveryMs = value()
    else if (arg === '--fault-every-ms') options.faultEveryMs = value()
    else if (arg === '--request-log') options.requestLogSize = value()
    else if (arg === '--faults') options.faults = (argv[++i] ?? '').split(',').filter(Boolean)
    else if (arg === '--out') options.dir = path.resolve(argv[++i])
    else if (arg === '--no-java') options.java = false
    else if (arg === '--no-python') options.python = false
    else if (arg === '--no-kip848') options.kip848 = false
    else if (arg === '--kafkajs') options.kafkajs = true
    else if (arg === '--os-ports') options.osPorts = true
    else throw new Error(`unknown option ${arg} (see the top of scripts/soak.js)`)
  }
  return options
}

if (require.main === module) {
  runSoak(parseArgs(process.argv.slice(2))).then(
    (report) => {
      console.log(check.format(report))
      console.log(`files and report.json in ${report.dir}`)
      process.exitCode = report.failures.length ? 1 : 0
    },
    (err) => {
      console.error(err)
      process.exitCode = 2
    },
  )
}

module.exports = { runSoak, clients, startDriver, TOPIC, PARTITIONS }
