'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const {
  startKafka,
  emulatorOnly,
  client,
  defer,
  startConsumer,
  withDeadline,
  PACKAGE_DIR,
  DEADLINE_MS,
} = require('./helpers')

const CLI = path.join(PACKAGE_DIR, 'bin', 'kafka-emulator.js')

/**
 * Spawns the CLI. `listening` resolves with the address from its "listening on" line (or fails
 * if it exits first), `exited` with its exit code, signal and output.
 */
function spawnCli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }))
  })
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d
      const match = /^kafka-emulator listening on (\S+):(\d+)\n/.exec(stdout)
      if (match) resolve({ host: match[1], port: Number(match[2]) })
    })
    exited.then(({ exitCode }) =>
      reject(new Error(`the CLI exited (${exitCode}) before listening:\n${stdout}\n${stderr}`)),
    )
  })
  // Only tests that wait for the line care that it never came.
  listening.catch(() => {})
  return {
    child,
    listening: () => withDeadline(listening, DEADLINE_MS, 'the "listening on" line'),
    exited: () => withDeadline(exited, DEADLINE_MS, 'the CLI to exit'),
    kill: () => child.kill('SIGKILL'),
  }
}

function refused(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err) => resolve(err.code === 'ECONNREFUSED'))
  })
}

test('the CLI on --port 0 prints its address, serves kafkajs, and exits 0 on SIGINT', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli(['--port', '0', '--num-partitions', '3'])
  defer(t, () => cli.kill())
  const { host, port } = await cli.listening()
  assert.equal(host, '127.0.0.1')
  assert.ok(port > 0)

  const kafka = client({ brokers: [`${host}:${port}`] })
  const producer = kafka.producer()
  const admin = kafka.admin()
  let consumer
  try {
    await producer.connect()
    // The topic is auto-created with --num-partitions partitions.
    const sent = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))
    await producer.send({ topic: 'via-cli', messages: sent })
    await admin.connect()
    const [metadata] = (await admin.fetchTopicMetadata({ topics: ['via-cli'] })).topics
    assert.equal(metadata.partitions.length, 3)

    consumer = await startConsumer(kafka, { topics: ['via-cli'] })
    const records = await consumer.waitFor(sent.length)
    assert.deepEqual(records.map((r) => r.value.toString()).sort(), sent.map((m) => m.value).sort())
  } finally {
    if (consumer) await consumer.disconnect()
    await admin.disconnect()
    await producer.disconnect()
  }

  cli.child.kill('SIGINT')
  const { exitCode, signal, stderr } = await cli.exited()
  assert.equal(signal, null)
  assert.equal(exitCode, 0, stderr)
  assert.ok(await refused(port), 'the port still accepts connections after the CLI exited')
})

test('the CLI exits 0 on SIGTERM, even with a client still connected', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli(['--port', '0'])
  defer(t, () => cli.kill())
  const { port } = await cli.listening()
  const admin = client({ brokers: [`127.0.0.1:${port}`] }).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  await admin.listTopics()

  cli.child.kill('SIGTERM')
  const { exitCode, signal, stderr } = await cli.exited()
  assert.equal(signal, null)
  assert.equal(exitCode, 0, stderr)
})

test('the CLI with --no-auto-create-topics refuses unknown topics', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli(['--port', '0', '--no-auto-create-topics'])
  defer(t, () => cli.kill())
  const { port } = await cli.listening()
  const kafka = client({ brokers: [`127.0.0.1:${port}`] }, { retry: { retries: 0 } })
  const admin = kafka.admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  await assert.rejects(admin.fetchTopicMetadata({ topics: ['never-created'] }), {
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
  })
  assert.deepEqual(await admin.listTopics(), [])
  cli.child.kill('SIGINT')
  assert.equal((await cli.exited()).exitCode, 0)
})

test('the CLI on a busy port exits 1 and says the port is in use', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const broker = await startKafka()
  defer(t, () => broker.stop())
  const cli = spawnCli(['--port', String(broker.port)])
  defer(t, () => cli.kill())
  const { exitCode, stdout, stderr } = await cli.exited()
  assert.equal(exitCode, 1)
  assert.equal(stdout, '')
  assert.match(stderr, new RegExp(`port ${broker.port} is already in use`))
})

test('the CLI prints usage for --help, and exits 2 with usage on a bad option', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const help = spawnCli(['--help'])
  defer(t, () => help.kill())
  const shown = await help.exited()
  assert.equal(shown.exitCode, 0)
  assert.match(shown.stdout, /^Usage: kafka-emulator/)
  assert.match(shown.stdout, /--no-auto-create-topics/)

  const bad = spawnCli(['--port', 'ninety'])
  defer(t, () => bad.kill())
  const refusedRun = await bad.exited()
  assert.equal(refusedRun.exitCode, 2)
  assert.match(refusedRun.stderr, /--port must be an integer/)
  assert.match(refusedRun.stderr, /Usage: kafka-emulator/)
})
