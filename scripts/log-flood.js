#!/usr/bin/env node
'use strict'

// How much a flood of bad frames makes a broker log (issue 15). Starts a broker in a child
// process (its stderr is what a test runner would show), opens connection after connection that
// each send a random or mutated frame, then stops the broker and counts the lines it wrote:
//
//   node scripts/log-flood.js [--seconds 10] [--concurrency 64] [--log-level warn]
//
// prints the figures as JSON (frames sent, connections, lines written, the lines themselves).
// The flood and the child broker are also used by __tests__/logging.test.js.

const { spawn } = require('node:child_process')
const net = require('node:net')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { int16, int32 } = require('../__tests__/wire')

const PACKAGE_DIR = path.resolve(__dirname, '..')

// The child: a broker on a free port, its port on stdout, stopped when stdin closes.
const BROKER_SCRIPT = `
const { startKafka } = require(${JSON.stringify(PACKAGE_DIR)})
const options = JSON.parse(process.argv[1])
startKafka(options).then((kafka) => {
  process.stdout.write(kafka.port + '\\n')
  process.stdin.resume()
  process.stdin.on('end', () => kafka.stop().then(() => process.exit(0)))
})
`

/**
 * Starts a broker in a child process with `options` for startKafka and `env` added to (or, for
 * undefined values, removed from) this process's environment. Resolves once it listens, with
 * its `brokers`, `port`, the `stderr` it wrote so far, and `stop()`, which resolves once the
 * child has exited with its exit code and all of its stderr.
 */
function startBrokerProcess({ options = {}, env = {} } = {}) {
  const childEnv = { ...process.env }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name]
    else childEnv[name] = value
  }
  const child = spawn(process.execPath, ['-e', BROKER_SCRIPT, JSON.stringify({ port: 0, ...options })], {
    env: childEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stderr })),
  )
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      stdout += chunk
      const newline = stdout.indexOf('\n')
      if (newline === -1) return
      child.stdout.off('data', onData)
      const port = Number(stdout.slice(0, newline))
      resolve({
        port,
        brokers: [`127.0.0.1:${port}`],
        get stderr() {
          return stderr
        },
        stop() {
          child.stdin.end()
          return exited
        },
      })
    }
    child.stdout.on('data', onData)
    exited.then(({ code, signal }) =>
      reject(new Error(`the broker process exited (${code ?? signal}) before listening:\n${stderr}`)),
    )
  })
}

function randomBytes(n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(Math.random() * 256)
  return b
}

function framed(payload) {
  return Buffer.concat([int32(payload.length), payload])
}

/** A well-formed request header: api key, version, correlation id, client id. */
function header(apiKey, version) {
  return Buffer.concat([int16(apiKey), int16(version), int32(1), int16(5), Buffer.from('flood')])
}

/** A Metadata v1 request for no topic in particular: valid, to be mutated. */
const METADATA = framed(Buffer.concat([header(3, 1), int32(-1)]))

/** One frame a Kafka client would never send, picked at random among kinds of breakage. */
function badFrame() {
  switch (Math.floor(Math.random() * 7)) {
    case 0: // a negative length prefix
      return int32(-1 - Math.floor(Math.random() * 1000))
    case 1: // beyond socket.request.max.bytes
      return int32(0x7fff0000 + Math.floor(Math.random() * 0xffff))
    case 2: // random bytes in a well-formed frame
      return framed(randomBytes(1 + Math.floor(Math.random() * 64)))
    case 3: // an API key Kafka does not define
      return framed(Buffer.concat([header(1000 + Math.floor(Math.random() * 30000), 0), randomBytes(8)]))
    case 4: // a known API at a version nobody speaks
      return framed(Buffer.concat([header(0, 99), randomBytes(16)]))
    case 5: // a Metadata request with its topic count mutated to two billion
      return framed(Buffer.concat([header(3, 1), int32(0x7fffffff)]))
    default: {
      // a valid request with a few bytes flipped after the length prefix
      const mutated = Buffer.from(METADATA)
      for (let i = 0; i < 3; i++) {
        const at = 4 + Math.floor(Math.random() * (mutated.length - 4))
        mutated[at] ^= 1 + Math.floor(Math.random() * 255)
      }
      return mutated
    }
  }
}

/**
 * Opens a connection, sends one bad frame and half-closes; resolves once it is closed. A mutated
 * frame can be a valid request the broker holds (a Fetch waiting for data): such a connection
 * is dropped after a second.
 */
function oneConnection(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.end(badFrame()))
    socket.setTimeout(1000, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('close', resolve)
  })
}

/**
 * Floods a broker for `seconds` from `concurrency` connections at a time, each sending one bad
 * frame. Resolves with how many frames and connections were sent.
 */
async function flood({ host = '127.0.0.1', port, seconds, concurrency = 64 }) {
  const deadline = Date.now() + seconds * 1000
  let connections = 0
  const worker = async () => {
    while (Date.now() < deadline) {
      connections += 1
      await oneConnection(host, port)
    }
  }
  const started = Date.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  // One frame per connection.
  return { frames: connections, connections, ms: Date.now() - started }
}

/** The lines of a process's stderr. */
function lines(text) {
  return text === '' ? [] : text.replace(/\n$/, '').split('\n')
}

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '64' },
      'log-level': { type: 'string' },
    },
  })
  const options = values['log-level'] ? { logLevel: values['log-level'] } : {}
  const broker = await startBrokerProcess({ options, env: { KAFKA_EMULATOR_LOG: undefined } })
  const sent = await flood({
    port: broker.port,
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
  })
  const { code, stderr } = await broker.stop()
  const written = lines(stderr)
  process.stdout.write(
    `${JSON.stringify(
      {
        seconds: sent.ms / 1000,
        frames: sent.frames,
        connections: sent.connections,
        lines: written.length,
        brokerExit: code,
        stderr: written,
      },
      null,
      2,
    )}\n`,
  )
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`)
    process.exit(1)
  })
}

module.exports = { startBrokerProcess, flood, badFrame, lines }
