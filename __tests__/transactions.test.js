// Transactions with kafkajs: what read_committed and read_uncommitted consumers see, exactly-once
// consume-transform-produce across a crash, fencing, and the coordinator's timeout.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { Kafka, logLevel } = require('kafkajs')
const { startBroker, uniqueName, external, partitionsServed, waitUntil } = require('./helpers')

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
function within(ms, what, promise) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** The Kafka error type of a kafkajs error, looking through the retrier's wrapping. */
function errorType(e) {
  for (let cause = e; cause; cause = cause.cause) {
    if (cause.type) return cause.type
  }
  return undefined
}

const FENCED = ['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']

/**
 * Consume-transform-produce, one transaction per input message: the output and the input's
 * offset commit in the same transaction. Runs here and, as source, in a child process that
 * kills itself mid-transaction when it reaches `crashAt`.
 */
async function runProcessor(kafkajs, { brokers, input, output, groupId, transactionalId, crashAt, onCommitted }) {
  const kafka = new kafkajs.Kafka({
    clientId: 'processor',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 20 },
  })
  const producer = kafka.producer({ transactionalId, maxInFlightRequests: 1, idempotent: true })
  const consumer = kafka.consumer({ groupId, sessionTimeout: 1000, heartbeatInterval: 100, maxWaitTimeInMs: 50 })
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topic: input, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      const txn = await producer.transaction()
      await txn.send({ topic: output, messages: [{ key: message.key, value: `out-${message.value}` }] })
      if (Number(message.offset) === crashAt) {
        // The output is in the log, its transaction open, the input offset not committed.
        console.log('CRASHING')
        process.kill(process.pid, 'SIGKILL')
      }
      const next = (Number(message.offset) + 1).toString()
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: next }] }] })
      await txn.commit()
      if (onCommitted) onCommitted(Number(message.offset))
    },
  })
  return { producer, consumer }
}

describe('transactions', () => {
  let broker
  let kafka
  let admin
  const clients = []

  before(async () => {
    // Short sessions are allowed so a crashed processor's group member expires quickly.
    broker = await startBroker({ groupMinSessionTimeoutMs: 100 })
    kafka = new Kafka({
      clientId: 'transactions-test',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 50, retries: 20 },
    })
    admin = kafka.admin()
    await admin.connect()
  })

  after(async () => {
    for (const client of clients) await client.disconnect().catch(() => {})
    await admin.disconnect()
    await broker.stop()
  })

  function track(client) {
    clients.push(client)
    return client
  }

  async function producer(options = {}) {
    const p = track(kafka.producer(options))
    await p.connect()
    return p
  }

  /** A transactional producer; its id is made unique from `prefix`, as topic names are. */
  function transactional(prefix, options = {}) {
    const transactionalId = uniqueName(prefix)
    return producer({ transactionalId, maxInFlightRequests: 1, idempotent: true, ...options })
  }

  /** A new topic named after `prefix` (unique, so tests can share an external broker). */
  async function topic(prefix, numPartitions = 1) {
    const name = uniqueName(prefix)
    await admin.createTopics({ topics: [{ topic: name, numPartitions }] })
    await partitionsServed(admin, name)
    return name
  }

  /**
   * Starts a consumer of `t` from the beginning; `seen` fills with the values it delivers and
   * `until(n)` resolves once it holds `n` of them.
   */
  async function reader(t, { readUncommitted = false, maxWaitTimeInMs = 2000 } = {}) {
    const c = track(kafka.consumer({
      groupId: `${t}-${readUncommitted ? 'uncommitted' : 'committed'}-${clients.length}`,
      readUncommitted,
      maxWaitTimeInMs,
    }))
    const seen = []
    const waiters = []
    // Resolves when the consumer sends its first fetch, which the broker then long-polls.
    const fetching = new Promise((resolve) => {
      const remove = c.on(c.events.FETCH_START, () => {
        remove()
        resolve()
      })
    })
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    await c.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        for (const w of [...waiters]) w()
      },
    })
    const until = (n, ms = 10000) => within(ms, `${n} messages from ${t}`, new Promise((resolve) => {
      const check = () => {
        if (seen.length >= n) {
          waiters.splice(waiters.indexOf(check), 1)
          resolve(seen)
        }
      }
      waiters.push(check)
      check()
    }))
    return { consumer: c, seen, until, fetching }
  }

  test('read_committed consumers see committed transactions only; read_uncommitted ones see everything', async () => {
    const t = await topic('txn-visibility')
    const p = await transactional('visibility')
    const aborted = await p.transaction()
    await aborted.send({ topic: t, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] })
    await aborted.abort()
    const committed = await p.transaction()
    await committed.send({ topic: t, messages: [{ value: 'committed-1' }] })
    await committed.send({ topic: t, messages: [{ value: 'committed-2' }] })
    await committed.commit()
    const plain = await producer()
    await plain.send({ topic: t, messages: [{ value: 'after' }] })

    const readCommitted = await reader(t)
    const readUncommitted = await reader(t, { readUncommitted: true })
    assert.deepEqual(await readCommitted.until(3), ['committed-1', 'committed-2', 'after'])
    assert.deepEqual(
      await readUncommitted.until(5),
      ['aborted-1', 'aborted-2', 'committed-1', 'committed-2', 'after'],
    )
    // Offsets: 2 aborted, 1 marker, 2 committed, 1 marker, 1 plain.
    const [{ high }] = await admin.fetchTopicOffsets(t)
    assert.equal(high, '7')
  })

  test('a read_committed consumer parked behind an open transaction wakes when it commits', async (ctx) => {
    const t = await topic('txn-wake')
    // A long poll far longer than the test: only a wake-up can deliver in time.
    const r = await reader(t, { maxWaitTimeInMs: 5000 })
    await within(10000, 'the consumer to fetch', r.fetching)
    const p = await transactional('wake')
    const txn = await p.transaction()
    await txn.send({ topic: t, messages: [{ value: 'in-txn' }] })
    const plain = await producer()
    await plain.send({ topic: t, messages: [{ value: 'after' }] })
    const [{ offset: lso }] = await admin.fetchTopicOffsets(t)
    assert.equal(lso, '0', 'ListOffsets in read_committed answers the last stable offset')
    assert.deepEqual(r.seen, [], 'nothing is delivered past the last stable offset')
    const started = Date.now()
    await txn.commit()
    assert.deepEqual(await r.until(2), ['in-txn', 'after'])
    const latency = Date.now() - started
    ctx.diagnostic(`commit to delivery: ${latency} ms`)
    assert.ok(latency < 2000, `delivered ${latency} ms after the commit`)
  })

  test('consume-transform-produce: after a crash mid-transaction each input is in the output once', async () => {
    const input = await topic('ctp-in')
    const output = await topic('ctp-out')
    const groupId = uniqueName('ctp-group')
    const transactionalId = uniqueName('ctp-processor')
    const total = 10
    const crashAt = 4
    const plain = await producer()
    await plain.send({
      topic: input,
      messages: Array.from({ length: total }, (_, i) => ({ key: `${i}`, value: `${i}` })),
    })

    const config = { brokers: broker.brokers, input, output, groupId, transactionalId, crashAt }
    const child = spawn(process.execPath, ['-e', `
      (${runProcessor.toString()})(require(${JSON.stringify(require.resolve('kafkajs'))}), ${JSON.stringify(config)})
    `], { stdio: ['ignore', 'pipe', 'inherit'] })
    const crashed = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal)))
    assert.equal(await within(20000, 'the processor to crash', crashed), 'SIGKILL')

    // The crash left its output in an open transaction: visible only to read_uncommitted.
    const raw = await reader(output, { readUncommitted: true })
    await raw.until(crashAt + 1)
    assert.deepEqual(raw.seen.slice(0, crashAt + 1), Array.from({ length: crashAt + 1 }, (_, i) => `out-${i}`))

    // Restart with the same transactional id and group: the open transaction is aborted (its
    // producer fenced) and processing resumes from the last committed input offset.
    let resolveDone
    const done = new Promise((resolve) => (resolveDone = resolve))
    const restarted = await runProcessor(require('kafkajs'), {
      ...config,
      crashAt: -1,
      onCommitted: (offset) => offset === total - 1 && resolveDone(),
    })
    track(restarted.producer)
    track(restarted.consumer)
    await within(20000, 'the restarted processor to finish the input', done)

    const out = await reader(output)
    const values = await out.until(total)
    assert.deepEqual([...values].sort(), Array.from({ length: total }, (_, i) => `out-${i}`).sort())
    const offsets = await admin.fetchOffsets({ groupId, topics: [input] })
    assert.deepEqual(offsets[0].partitions.map((p) => p.offset), [`${total}`])
    // The aborted attempt is still in the log, skipped by read_committed consumers.
    await raw.until(total + 1)
    assert.equal(raw.seen.filter((v) => v === `out-${crashAt}`).length, 2)
    assert.equal(out.seen.length, total, 'nothing beyond the committed outputs')
  })

  test('a second producer with the same transactional id fences the first', async () => {
    const t = await topic('txn-fencing')
    const transactionalId = uniqueName('fenced-id')
    const zombie = await producer({ transactionalId, maxInFlightRequests: 1, idempotent: true })
    const zombieTxn = await zombie.transaction()
    await zombieTxn.send({ topic: t, messages: [{ value: 'zombie-1' }] })

    const successor = await producer({ transactionalId, maxInFlightRequests: 1, idempotent: true })
    const txn = await successor.transaction()
    await txn.send({ topic: t, messages: [{ value: 'successor' }] })
    await txn.commit()

    await assert.rejects(
      zombieTxn.send({ topic: t, messages: [{ value: 'zombie-2' }] }),
      (e) => FENCED.includes(errorType(e)),
    )
    await assert.rejects(zombieTxn.commit(), (e) => FENCED.includes(errorType(e)))

    const r = await reader(t)
    const plain = await producer()
    await plain.send({ topic: t, messages: [{ value: 'end' }] })
    assert.deepEqual(await r.until(2), ['successor', 'end'])
  })

  test('an abandoned transaction is aborted after its timeout and stops blocking read_committed consumers', async (ctx) => {
    const t = await topic('txn-timeout')
    const timeout = 1000
    const abandoned = await transactional('abandoned', { transactionTimeout: timeout })
    const txn = await abandoned.transaction()
    const started = Date.now()
    await txn.send({ topic: t, messages: [{ value: 'abandoned' }] })
    const plain = await producer()
    await plain.send({ topic: t, messages: [{ value: 'after' }] })

    // The consumer long-polls for 5 s: delivery soon after the timeout means the abort woke it.
    // Kafka looks for timed-out transactions every 10 s
    // (transaction.abort.timed.out.transaction.cleanup.interval.ms); the emulator at the timeout.
    const lateness = external ? 10_000 : 0
    const r = await reader(t, { maxWaitTimeInMs: 5000 })
    await r.until(1, timeout + lateness + 5000)
    const elapsed = Date.now() - started
    ctx.diagnostic(`abandoned transaction unblocked consumers after ${elapsed} ms (timeout ${timeout} ms)`)
    assert.deepEqual(r.seen, ['after'])
    assert.ok(elapsed >= timeout - 50, `unblocked after ${elapsed} ms, before the timeout`)
    assert.ok(elapsed < timeout + lateness + 2500, `unblocked only after ${elapsed} ms`)
    const [{ offset }] = await admin.fetchTopicOffsets(t)
    assert.equal(offset, '3', 'the abort marker moved the last stable offset to the end')
    // The coordinator fenced the abandoned producer when it aborted.
    await assert.rejects(txn.commit(), (e) => FENCED.includes(errorType(e)))
  })

  test('a transaction commits in a few milliseconds', async (ctx) => {
    const t = await topic('txn-latency')
    const p = await transactional('latency')
    const rounds = 50
    let commitTotal = 0
    const started = process.hrtime.bigint()
    for (let i = 0; i < rounds; i++) {
      const txn = await p.transaction()
      await txn.send({ topic: t, messages: [{ value: `${i}` }] })
      const commitStarted = process.hrtime.bigint()
      await txn.commit()
      commitTotal += Number(process.hrtime.bigint() - commitStarted) / 1e6
    }
    const perTxn = Number(process.hrtime.bigint() - started) / 1e6 / rounds
    const perCommit = commitTotal / rounds
    ctx.diagnostic(`per transaction (begin, send, commit): ${perTxn.toFixed(2)} ms; EndTxn round trip: ${perCommit.toFixed(2)} ms`)
    assert.ok(perCommit < 50, `EndTxn took ${perCommit} ms on average`)
    // Kafka answers EndTxn before it writes the markers: the last one lands a moment later.
    await waitUntil(
      async () => (await admin.fetchTopicOffsets(t))[0].high === `${rounds * 2}`,
      `one record and one marker per transaction: a high watermark of ${rounds * 2}`,
    )
  })
})
