'use strict'
// Kafka's socket-server limits: max.connections, connections.max.idle.ms, and back-pressure on a
// client that never reads its responses.

if (require('./helpers').emulatorOnlyFile('sets broker limits through startKafka options')) return

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { startKafka, defer, waitUntil, withDeadline, DEADLINE_MS } = require('./helpers')
const wire = require('./wire')

const apiVersions = (correlationId) => wire.request(18, 0, correlationId, Buffer.alloc(0))

test('beyond maxConnections a broker accepts nothing until a connection closes', async (t) => {
  const kafka = await startKafka({ maxConnections: 2 })
  defer(t, () => kafka.stop())
  const first = await wire.rawConnection(kafka.port)
  const second = await wire.rawConnection(kafka.port)
  for (const conn of [first, second]) {
    conn.send(apiVersions(1))
    await conn.readFrame()
  }
  // The third connects (the listen backlog takes it) but is not served...
  const third = await wire.rawConnection(kafka.port)
  defer(t, () => third.destroy())
  third.send(apiVersions(3))
  for (let i = 0; i < 3; i++) {
    second.send(apiVersions(10 + i))
    await second.readFrame()
  }
  assert.equal(third.received.length, 0, 'the third connection was served at the limit')
  // ...until one of the two closes.
  first.destroy()
  const frame = await third.readFrame()
  assert.equal(frame.readInt32BE(0), 3)
  second.destroy()
})

test('a connection silent for connectionsMaxIdleMs is closed', async (t) => {
  const kafka = await startKafka({ connectionsMaxIdleMs: 300 })
  defer(t, () => kafka.stop())
  const conn = await wire.rawConnection(kafka.port)
  conn.send(apiVersions(1))
  await conn.readFrame()
  const since = Date.now()
  await conn.closed()
  assert.ok(Date.now() - since >= 250, `closed after ${Date.now() - since} ms`)
})

function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1])
}

test('a client that never reads its responses does not grow the broker', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  // The broker in its own process, so that its memory is not this test's socket buffers.
  const cli = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'kafka-emulator.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  defer(t, () => cli.kill())
  const port = await withDeadline(
    new Promise((resolve, reject) => {
      let out = ''
      cli.stdout.on('data', (chunk) => {
        out += chunk
        const match = /listening on \S+:(\d+)/.exec(out)
        if (match) resolve(Number(match[1]))
      })
      cli.once('exit', (code) => reject(new Error(`the CLI exited with ${code}`)))
    }),
    DEADLINE_MS,
    'the CLI to listen',
  )
  const probe = await wire.rawConnection(port)
  probe.send(apiVersions(1))
  await probe.readFrame()
  const before = rssKiB(cli.pid)

  // 400,000 ApiVersions requests (10 MB) asking for ~200 MB of responses, none of them read.
  const hog = net.connect({ host: '127.0.0.1', port })
  defer(t, () => hog.destroy())
  hog.pause()
  hog.on('error', () => {})
  await new Promise((resolve) => hog.once('connect', resolve))
  const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => apiVersions(i)))
  for (let i = 0; i < 400; i++) hog.write(batch)
  // The broker stops reading once its answers back up: what this side could not send stays
  // queued here, unchanged from one look to the next.
  let queued = -1
  await waitUntil(() => {
    const settled = hog.writableLength > 0 && hog.writableLength === queued
    queued = hog.writableLength
    return settled
  }, 'the broker to stop reading the hog', { intervalMs: 250 })

  // It stays responsive to others while it waits for the hog to read.
  for (let i = 0; i < 20; i++) {
    probe.send(apiVersions(100 + i))
    assert.equal((await probe.readFrame()).readInt32BE(0), 100 + i)
  }
  const grown = rssKiB(cli.pid) - before
  assert.ok(grown < 32 * 1024, `the broker grew by ${grown} KiB`)
  probe.destroy()
})
