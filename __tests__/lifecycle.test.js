'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { spawn } = require('node:child_process')
const {
  startKafka,
  emulatorOnly,
  client,
  defer,
  withDeadline,
  PACKAGE_DIR,
  DEADLINE_MS,
} = require('./helpers')

/** Resolves with 'connected' or the error code of a TCP connection attempt to `port`. */
function tryConnect(port, host = '127.0.0.1') {
  return withDeadline(
    new Promise((resolve) => {
      const socket = net.connect({ port, host })
      socket.once('connect', () => {
        socket.destroy()
        resolve('connected')
      })
      socket.once('error', (err) => resolve(err.code))
    }),
    DEADLINE_MS,
    `connecting to ${host}:${port}`,
  )
}

/** Runs `code` in a fresh node process; resolves with its exit code and output, or fails at the deadline. */
function runNode(code, timeoutMs = DEADLINE_MS) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the child was still running after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.once('error', reject)
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer)
      resolve({ exitCode, signal, stdout, stderr })
    })
  })
}

const requirePackage = `const { startKafka } = require(${JSON.stringify(PACKAGE_DIR)});`

test('startKafka() listens on a free port and says where', emulatorOnly('startKafka lifecycle'), async () => {
  const broker = await startKafka()
  try {
    assert.ok(Number.isInteger(broker.port) && broker.port > 0, `port ${broker.port}`)
    assert.equal(broker.host, '127.0.0.1')
    assert.deepEqual(broker.brokers, [`127.0.0.1:${broker.port}`])
    assert.equal(await tryConnect(broker.port), 'connected')
  } finally {
    await broker.stop()
  }
})

test('two brokers in one process are independent: a topic created in one is not in the other', emulatorOnly('startKafka lifecycle'), async (t) => {
  const a = await startKafka()
  defer(t, () => a.stop())
  const b = await startKafka(0)
  defer(t, () => b.stop())
  assert.notEqual(a.port, b.port)

  const adminA = client(a).admin()
  await adminA.connect()
  defer(t, () => adminA.disconnect())
  const adminB = client(b).admin()
  await adminB.connect()
  defer(t, () => adminB.disconnect())

  assert.equal(await adminA.createTopics({ topics: [{ topic: 'only-in-a', numPartitions: 2 }] }), true)
  assert.equal(await adminB.createTopics({ topics: [{ topic: 'only-in-b' }] }), true)
  assert.deepEqual(await adminA.listTopics(), ['only-in-a'])
  assert.deepEqual(await adminB.listTopics(), ['only-in-b'])

  // Each reports only itself as the cluster.
  const clusterA = await adminA.describeCluster()
  const clusterB = await adminB.describeCluster()
  assert.deepEqual(clusterA.brokers.map((x) => x.port), [a.port])
  assert.deepEqual(clusterB.brokers.map((x) => x.port), [b.port])
  assert.notEqual(clusterA.clusterId, clusterB.clusterId)
})

test('stop() frees the port: connections are refused, and a new broker starts on the same port', emulatorOnly('startKafka lifecycle'), async (t) => {
  const first = await startKafka()
  const { port } = first
  await first.stop()
  assert.equal(await tryConnect(port), 'ECONNREFUSED')

  const second = await startKafka(port)
  defer(t, () => second.stop())
  assert.equal(second.port, port)
  const admin = client(second).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  // A fresh broker: nothing of the first one survives.
  assert.deepEqual(await admin.listTopics(), [])
})

test('stop() resolves promptly while clients are still connected', emulatorOnly('startKafka lifecycle'), async () => {
  const broker = await startKafka()
  const kafka = client(broker, { retry: { retries: 0 } })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'left-open', messages: [{ value: 'x' }] })
  try {
    await withDeadline(broker.stop(), 5000, 'stop() with a connected producer')
    assert.equal(await tryConnect(broker.port), 'ECONNREFUSED')
  } finally {
    await producer.disconnect()
  }
})

test('starting on a busy port rejects with err.code EADDRINUSE', emulatorOnly('startKafka lifecycle'), async (t) => {
  const broker = await startKafka()
  defer(t, () => broker.stop())
  await assert.rejects(startKafka(broker.port), (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'EADDRINUSE')
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${broker.port}`))
    return true
  })
  await assert.rejects(startKafka({ port: broker.port }), { code: 'EADDRINUSE' })

  // A port held by something else than a broker, too.
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(t, () => new Promise((resolve) => server.close(resolve)))
  await assert.rejects(startKafka(server.address().port), { code: 'EADDRINUSE' })

  // The broker that owns the port is unharmed.
  assert.equal(await tryConnect(broker.port), 'connected')
})

test(
  'a stopped cluster holds no file descriptors, even while JS still holds it',
  emulatorOnly('startKafka lifecycle'),
  { skip: process.platform !== 'linux' && 'counts /proc/self/fd' },
  async () => {
    const openFds = () => require('node:fs').readdirSync('/proc/self/fd').length
    const held = [await startKafka()]
    await held[0].stop()
    const before = openFds()
    for (let i = 0; i < 50; i++) {
      const kafka = await startKafka()
      await kafka.stop()
      held.push(kafka)
    }
    // Each live runtime has an epoll and an event descriptor: 50 held clusters would add 100+.
    assert.ok(openFds() - before < 10, `${openFds() - before} more descriptors with 50 stopped clusters held`)
  },
)

test('stop() twice is harmless', emulatorOnly('startKafka lifecycle'), async () => {
  const broker = await startKafka()
  await broker.stop()
  await broker.stop()
  assert.equal(await tryConnect(broker.port), 'ECONNREFUSED')
})

test(
  'while stop() is in flight, a second stop() and the port/host/brokers getters still work',
  emulatorOnly('startKafka lifecycle'),
  async () => {
    const broker = await startKafka()
    const first = broker.stop()
    try {
      assert.equal(typeof broker.port, 'number')
      assert.deepEqual(broker.brokers, [`127.0.0.1:${broker.port}`])
      await broker.stop()
    } finally {
      await first
    }
    assert.equal(await tryConnect(broker.port), 'ECONNREFUSED')
  },
)

test('a process that starts a broker and never stops it exits by itself', emulatorOnly('startKafka lifecycle'), async () => {
  const { exitCode, signal, stdout, stderr } = await runNode(`${requirePackage}
    startKafka(0).then((kafka) => console.log('listening on', kafka.port));`)
  assert.equal(signal, null)
  assert.equal(exitCode, 0, stderr)
  assert.match(stdout, /^listening on \d+\n$/)
})

test('ref() keeps the process alive until unref()', emulatorOnly('startKafka lifecycle'), async () => {
  // The timer is unref'd: only the broker can keep the process alive until it fires.
  const { exitCode, stdout, stderr } = await runNode(`${requirePackage}
    startKafka(0).then((kafka) => {
      kafka.ref();
      console.log('ref');
      setTimeout(() => { console.log('still alive'); kafka.unref(); }, 300).unref();
    });`)
  assert.equal(exitCode, 0, stderr)
  assert.equal(stdout, 'ref\nstill alive\n')
})

test('ref() keeps the process alive until stop()', emulatorOnly('startKafka lifecycle'), async () => {
  const { exitCode, stdout, stderr } = await runNode(`${requirePackage}
    startKafka(0).then((kafka) => {
      kafka.ref();
      kafka.ref();
      console.log('ref');
      setTimeout(async () => { await kafka.stop(); console.log('stopped'); }, 300).unref();
    });`)
  assert.equal(exitCode, 0, stderr)
  assert.equal(stdout, 'ref\nstopped\n')
})
