'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// The broker's own log (issue 15): quiet by default, rate-limited under a flood of bad
// connections, one line per entry, to a `log` callback when given, silenced by
// KAFKA_EMULATOR_LOG=off. Brokers whose stderr is counted run in child processes.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const {
  PACKAGE_DIR,
  DEADLINE_MS,
  startKafka,
  client,
  startConsumer,
  uniqueName,
  withDeadline,
  emulatorOnlyFile,
} = require('./helpers')
const wire = require('./wire')
const { startBrokerProcess, flood, lines } = require('../scripts/log-flood')

if (emulatorOnlyFile('the log is the emulator’s own')) return

// The brokers started in this process log at the default level whatever the caller's
// environment says (the children get the environment each test gives them).
delete process.env.KAFKA_EMULATOR_LOG

const BAD_LENGTH = Buffer.from([0xff, 0xff, 0xff, 0xfe])

/** Sends a frame with a negative length on a new connection; resolves once the broker hung up. */
async function sendBadFrame(port) {
  const conn = await wire.rawConnection(port)
  conn.send(BAD_LENGTH)
  await conn.closed()
}

/** Produces a record with kafkajs and consumes it back. */
async function roundTrip(broker) {
  const kafka = client(broker)
  const topic = uniqueName('logging')
  const producer = kafka.producer()
  await producer.connect()
  try {
    await producer.send({ topic, messages: [{ value: 'after the flood' }] })
    const consumer = await startConsumer(kafka, { topics: [topic] })
    try {
      const [record] = await consumer.waitFor(1)
      assert.equal(record.value.toString(), 'after the flood')
    } finally {
      await consumer.disconnect()
    }
  } finally {
    await producer.disconnect()
  }
}

test('a flood of bad frames from thousands of connections writes a few lines and a summary to stderr', async () => {
  const broker = await startBrokerProcess({ env: { KAFKA_EMULATOR_LOG: undefined } })
  let sent
  let stopped
  try {
    sent = await flood({ port: broker.port, seconds: 3, concurrency: 32 })
    assert.ok(sent.connections > 500, `only ${sent.connections} connections in 3 s`)
    await roundTrip(broker)
  } finally {
    stopped = await broker.stop()
  }
  const { code, stderr } = stopped
  assert.equal(code, 0, stderr)
  const written = lines(stderr)
  const seconds = sent.ms / 1000
  // Five lines of a kind per 10 s window, then one summary: far below a line per connection.
  assert.ok(
    written.length <= 12,
    `${written.length} lines for ${sent.connections} connections in ${seconds} s:\n${stderr}`,
  )
  for (const line of written) {
    assert.match(line, /^kafka-emulator: (ERROR|WARN) \S/, `a line that is blank or unprefixed: ${JSON.stringify(line)}`)
  }
  const summary = written.find((l) => /more connections closed for malformed frames in the last \d+ s$/.test(l))
  assert.ok(summary, `no summary line:\n${stderr}`)
  const suppressed = Number(summary.match(/… ([\d,]+) more/)[1].replace(/,/g, ''))
  assert.ok(suppressed > sent.connections / 2, `the summary counts ${suppressed} of ${sent.connections}`)
})

/**
 * Runs a broker with `options` and a `log` callback: a kafkajs round trip, then a bad frame.
 * Resolves with the entries received up to the one about the bad frame.
 */
async function entriesOf(options) {
  const entries = []
  let sawBadFrame
  const badFrameLogged = new Promise((resolve) => (sawBadFrame = resolve))
  const broker = await startKafka({
    ...options,
    log: (entry) => {
      entries.push(entry)
      if (entry.event === 'connection.malformed-frame') sawBadFrame()
    },
  })
  try {
    await roundTrip(broker)
    await sendBadFrame(broker.port)
    await withDeadline(badFrameLogged, DEADLINE_MS, 'the entry about the bad frame')
    // Entries are delivered in order: the bad frame's is the last one awaited.
    return entries.slice(0, entries.findIndex((e) => e.event === 'connection.malformed-frame') + 1)
  } finally {
    await broker.stop()
  }
}

test('the log callback receives entries with a level, and more of them at logLevel debug', async () => {
  const quiet = await entriesOf({})
  const verbose = await entriesOf({ logLevel: 'debug' })
  for (const entry of [...quiet, ...verbose]) {
    assert.ok(['error', 'warn', 'info', 'debug', 'trace'].includes(entry.level), JSON.stringify(entry))
    assert.equal(typeof entry.message, 'string')
    assert.doesNotMatch(entry.message, /[\n\r]/)
    assert.equal(typeof entry.time, 'number')
    assert.ok(Math.abs(entry.time - Date.now()) < 60_000, `time ${entry.time} is not now`)
    assert.equal(typeof entry.event, 'string')
  }
  // By default, the round trip logs nothing: only the bad frame, a warning.
  assert.deepEqual(quiet.map((e) => [e.level, e.event]), [['warn', 'connection.malformed-frame']])
  const [malformed] = quiet
  assert.match(malformed.message, /^closing connection from 127\.0\.0\.1:\d+: invalid frame length -2$/)
  assert.match(malformed.peer, /^127\.0\.0\.1:\d+$/)
  assert.ok(verbose.length > quiet.length, `${verbose.length} entries at debug, ${quiet.length} by default`)
  assert.ok(
    verbose.some((e) => e.level === 'debug' && e.event === 'connection.accepted'),
    JSON.stringify(verbose, null, 2),
  )
})

test('a log callback that throws does not crash the process', async () => {
  const calls = []
  const called = () => new Promise((resolve) => calls.push(resolve))
  const broker = await startKafka({
    log: () => {
      calls.shift()?.()
      throw new Error('a log callback that throws')
    },
  })
  try {
    for (const time of ['first', 'second']) {
      const call = called()
      await sendBadFrame(broker.port)
      await withDeadline(call, DEADLINE_MS, `the log callback, a ${time} time`)
    }
    await roundTrip(broker)
  } finally {
    await broker.stop()
  }
})

test('a logLevel that is not a level is refused', () => {
  assert.throws(() => startKafka({ logLevel: 'loud' }), {
    name: 'TypeError',
    code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
    message: 'options.logLevel must be one of "error", "warn", "info", "debug", "trace", "off", got "loud"',
  })
})

/** Sends `count` bad frames to a broker process, then stops it; resolves with its stderr lines. */
async function stderrAfterBadFrames(startOptions, count = 20) {
  const broker = await startBrokerProcess(startOptions)
  let stopped
  try {
    for (let i = 0; i < count; i++) await sendBadFrame(broker.port)
  } finally {
    stopped = await broker.stop()
  }
  const { code, stderr } = stopped
  assert.equal(code, 0, stderr)
  return lines(stderr)
}

test('KAFKA_EMULATOR_LOG=off silences the broker', async () => {
  assert.deepEqual(await stderrAfterBadFrames({ env: { KAFKA_EMULATOR_LOG: 'off' } }), [])
})

test('the logLevel option takes precedence over KAFKA_EMULATOR_LOG', async () => {
  const written = await stderrAfterBadFrames({
    env: { KAFKA_EMULATOR_LOG: 'off' },
    options: { logLevel: 'warn' },
  })
  assert.equal(written.length, 6, written.join('\n'))
  assert.match(written[5], /^kafka-emulator: WARN … 15 more connections closed for malformed frames in the last \d+ s$/)
})

test('KAFKA_EMULATOR_LOG=debug adds connection entries; a bad value is reported and means warn', async () => {
  const debug = await stderrAfterBadFrames({ env: { KAFKA_EMULATOR_LOG: 'DEBUG' } }, 1)
  assert.ok(debug.some((l) => /^kafka-emulator: DEBUG broker 0 accepted a connection from /.test(l)), debug.join('\n'))
  const bad = await stderrAfterBadFrames({ env: { KAFKA_EMULATOR_LOG: 'loud' } }, 1)
  assert.match(bad[0], /^kafka-emulator: WARN KAFKA_EMULATOR_LOG="loud" is not a level/)
  assert.match(bad[1], /^kafka-emulator: WARN closing connection from/)
  assert.equal(bad.length, 2, bad.join('\n'))
})

test('a log callback keeps Node alive neither while the broker runs nor after stop()', async () => {
  // Each script ends with the broker still running (unref'd by default) or stopped; either way
  // the process must exit by itself once its work is done.
  const script = (stop) => `
    const net = require('node:net')
    require(${JSON.stringify(PACKAGE_DIR)}).startKafka({ log: () => {} }).then(async (kafka) => {
      await new Promise((resolve) => {
        const socket = net.connect(kafka.port, '127.0.0.1', () => socket.end(Buffer.from([255, 255, 255, 254])))
        socket.on('error', () => {})
        socket.on('close', resolve)
      })
      ${stop ? 'await kafka.stop()' : ''}
    })`
  for (const stop of [false, true]) {
    const child = spawn(process.execPath, ['-e', script(stop)], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const code = await withDeadline(
      new Promise((resolve) => child.once('close', resolve)),
      DEADLINE_MS,
      `the process to exit by itself (stop: ${stop})`,
    ).catch((err) => {
      child.kill('SIGKILL')
      throw err
    })
    assert.equal(code, 0, stderr)
  }
})

test('the CLI takes --log-level', async () => {
  const cli = spawn(
    process.execPath,
    [path.join(PACKAGE_DIR, 'bin', 'kafka-emulator.js'), '--port', '0', '--log-level', 'debug'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KAFKA_EMULATOR_LOG: 'off' } },
  )
  let stdout = ''
  let stderr = ''
  cli.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => cli.once('close', resolve))
  try {
    const port = await withDeadline(
      new Promise((resolve, reject) => {
        cli.stdout.on('data', (d) => {
          stdout += d
          const match = /listening on \S+:(\d+)\n/.exec(stdout)
          if (match) resolve(Number(match[1]))
        })
        exited.then(() => reject(new Error(`the CLI exited before listening:\n${stderr}`)))
      }),
      DEADLINE_MS,
      'the "listening on" line',
    )
    await sendBadFrame(port)
  } finally {
    cli.kill('SIGTERM')
  }
  assert.equal(await withDeadline(exited, DEADLINE_MS, 'the CLI to exit'), 0, stderr)
  assert.match(stderr, /^kafka-emulator: DEBUG broker 0 accepted a connection from /m)
  assert.match(stderr, /^kafka-emulator: WARN closing connection from .*: invalid frame length -2$/m)
})
