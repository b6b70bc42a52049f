'use strict'

// librdkafka (through kcat) decides from ApiVersions whether the broker takes compressed
// batches: releases before the fix of confluentinc/librdkafka#4956 (Debian's 2.0.2, say) send
// gzip only if Produce v0 is advertised. Kafka 4 advertises v0 for that reason (KAFKA-18659)
// though it refuses v0-v2; the emulator does the same. Runs on both (npm run test:external).

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const { startBroker, client, defer, startConsumer, uniqueName, withDeadline, DEADLINE_MS } = require('./helpers')

const probe = spawnSync('kcat', ['-V'], { encoding: 'utf8' })
const kcatMissing = probe.error || probe.status !== 0 ? 'kcat is not installed (apt-get install -y kcat)' : null

let broker
before(async () => {
  broker = await startBroker()
})
after(async () => {
  await broker.stop()
})

/** Runs kcat as a producer of `lines` with debug logging; resolves with its exit code and log. */
function kcatProduce(topic, codec, lines) {
  const child = spawn('kcat', ['-b', broker.brokers[0], '-P', '-t', topic, '-z', codec, '-d', 'msg'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr.on('data', (d) => (log += d))
  child.stdin.end(lines.map((l) => `${l}\n`).join(''))
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, log })))
  return withDeadline(exited, DEADLINE_MS, 'kcat to produce').finally(() => child.kill())
}

test('librdkafka sends gzip batches (Produce advertised from v0) and they are read back', { skip: kcatMissing || false }, async (t) => {
  const topic = uniqueName('rdkafka-gzip')
  const lines = Array.from({ length: 5 }, (_, i) => `compressible line ${i} `.repeat(10))
  const { code, log } = await kcatProduce(topic, 'gzip', lines)
  assert.equal(code, 0, log)
  assert.doesNotMatch(log, /does not support compression type/, 'librdkafka fell back to uncompressed batches')
  assert.match(log, /Produce MessageSet with \d+ message\(s\) .*gzip\)/, 'librdkafka sent a gzip batch')

  const consumer = await startConsumer(client(broker), { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(lines.length)
  assert.deepEqual(records.map((r) => r.value.toString()), lines)
})
