'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const {
  startKafka,
  emulatorOnly,
  client,
  defer,
  startConsumer,
  uniqueName,
  withDeadline,
  waitUntil,
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
    output: () => stdout,
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

test('the CLI serves the web console and prints its URL; --no-console serves none', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli(['--port', '0', '--console-port', '0'])
  defer(t, () => cli.kill())
  const { port } = await cli.listening()
  const url = await waitUntil(() => /^console: (\S+)\n/m.exec(cli.output())?.[1], 'the console line')
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  const overview = await (await fetch(`${url}api/cluster`)).json()
  assert.equal(overview.brokers[0].listeners[0].port, port)
  cli.child.kill('SIGINT')
  assert.equal((await cli.exited()).exitCode, 0)

  const quiet = spawnCli(['--port', '0', '--no-console'])
  defer(t, () => quiet.kill())
  await quiet.listening()
  quiet.child.kill('SIGINT')
  const { exitCode, stdout } = await quiet.exited()
  assert.equal(exitCode, 0)
  assert.doesNotMatch(stdout, /console/)

  // A console port already taken stops the CLI, saying which port.
  const taken = net.createServer()
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve))
  defer(t, () => taken.close())
  const busy = spawnCli(['--port', '0', '--console-port', String(taken.address().port)])
  defer(t, () => busy.kill())
  const failed = await busy.exited()
  assert.equal(failed.exitCode, 1)
  assert.match(failed.stderr, new RegExp(`the console's port ${taken.address().port} is already in use`))
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

/**
 * Sends a message to a fresh topic and reads it back through `kafka`, disconnecting before it
 * returns: a client left connected would keep reconnecting once the CLI is stopped.
 */
async function roundTrip(kafka) {
  const topic = uniqueName('cli-secure')
  const producer = kafka.producer()
  let consumer
  try {
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'k', value: 'over the secured listener' }] })
    consumer = await startConsumer(kafka, { topics: [topic] })
    const [record] = await consumer.waitFor(1)
    assert.equal(record.value.toString(), 'over the secured listener')
  } finally {
    if (consumer) await consumer.disconnect()
    await producer.disconnect()
  }
}

test('the CLI with --sasl-user serves kafkajs logging in with SCRAM-SHA-256, and --authorization-super-user enforces ACLs', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli([
    '--port', '0',
    '--sasl-mechanisms', 'PLAIN,SCRAM-SHA-256',
    '--sasl-user', 'admin:admin:secret',
    '--sasl-user', 'bob:bob-secret',
    '--authorization-super-user', 'User:admin',
  ])
  defer(t, () => cli.kill())
  const { host, port } = await cli.listening()
  const brokers = [`${host}:${port}`]
  const as = (username, password, mechanism = 'scram-sha-256') =>
    client({ brokers }, { retry: { retries: 0 }, sasl: { mechanism, username, password } })

  // The password is everything after the first colon.
  await roundTrip(as('admin', 'admin:secret'))

  const wrong = as('admin', 'admin').admin()
  await assert.rejects(wrong.connect(), { name: 'KafkaJSSASLAuthenticationError' })
  // SCRAM-SHA-512 is not among --sasl-mechanisms.
  const notEnabled = as('admin', 'admin:secret', 'scram-sha-512').admin()
  await assert.rejects(notEnabled.connect(), { type: 'UNSUPPORTED_SASL_MECHANISM' })

  // bob authenticates but, not being a super user and named by no ACL, may not create topics.
  const bob = as('bob', 'bob-secret').admin()
  await bob.connect()
  defer(t, () => bob.disconnect())
  await assert.rejects(
    bob.createTopics({ topics: [{ topic: uniqueName('bobs') }] }),
    (err) => {
      let e = err
      while (e && !e.type) e = e.cause || e.originalError || (e.errors && e.errors[0])
      assert.equal(e && e.type, 'TOPIC_AUTHORIZATION_FAILED', String(err))
      return true
    },
  )
})

test('the CLI with --tls --tls-ca-out writes the CA that lets kafkajs connect over SSL', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-emulator-cli-'))
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }))
  const caFile = path.join(dir, 'ca.pem')
  const cli = spawnCli(['--port', '0', '--tls', '--tls-ca-out', caFile])
  defer(t, () => cli.kill())
  const { host, port } = await cli.listening()
  const ca = fs.readFileSync(caFile, 'utf8')
  assert.match(ca, /^-----BEGIN CERTIFICATE-----/)

  await roundTrip(client({ brokers: [`${host}:${port}`] }, { ssl: { ca: [ca] } }))

  // A client that trusts only the system CAs refuses the generated certificate.
  const refusedHandshake = await new Promise((resolve) => {
    const socket = require('node:tls').connect({ host, port }, () => {
      socket.destroy()
      resolve(null)
    })
    socket.once('error', resolve)
  })
  assert.ok(refusedHandshake, 'the handshake succeeded without trusting the CA')

  cli.child.kill('SIGINT')
  const { exitCode, stdout } = await cli.exited()
  assert.equal(exitCode, 0)
  // The CA went to the file, not to stdout.
  assert.doesNotMatch(stdout, /BEGIN CERTIFICATE/)
})

test('the CLI with --tls alone prints the CA after the listening line; bad security options exit 2', emulatorOnly('the kafka-emulator CLI'), async (t) => {
  const cli = spawnCli(['--port', '0', '--tls'])
  defer(t, () => cli.kill())
  await cli.listening()
  cli.child.kill('SIGINT')
  const { exitCode, stdout } = await cli.exited()
  assert.equal(exitCode, 0)
  assert.match(stdout, /^kafka-emulator listening on \S+\nconsole: http:\/\/127\.0\.0\.1:\d+\/\n[^\n]*\n-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/)

  for (const [args, message] of [
    [['--sasl-user', 'nopassword'], /--sasl-user must be name:password/],
    [['--sasl-mechanisms', 'GSSAPI'], /--sasl-mechanisms must be one of "PLAIN", .*, got "GSSAPI"/],
    [['--tls-cert', 'cert.pem'], /--tls-cert and --tls-key go together/],
    [['--tls-ca-out', 'ca.pem'], /--tls-ca-out needs --tls/],
    [['--authorization-super-user', 'admin'], /must be a principal/],
  ]) {
    const bad = spawnCli(['--port', '0', ...args])
    defer(t, () => bad.kill())
    const result = await bad.exited()
    assert.equal(result.exitCode, 2, args.join(' '))
    assert.match(result.stderr, message)
  }
})
