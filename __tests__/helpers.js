'use strict'

// Shared by the test files; not a test itself (node --test runs only *.test.js here).

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const path = require('node:path')
const { Kafka, logLevel } = require('kafkajs')

/** The package root, so child processes can require it by absolute path. */
const PACKAGE_DIR = path.resolve(__dirname, '..')
/** The package's startKafka, loaded on first use: external mode runs without the native addon. */
function startKafka(...args) {
  return require(PACKAGE_DIR).startKafka(...args)
}

/** How long any single wait may take before the test fails with what it was waiting for. */
const DEADLINE_MS = 15_000

/**
 * External mode: with KAFKA_BROKERS=host:port[,host:port...] set (`npm run test:external`), the
 * tests run against that already-running broker (Apache Kafka, scripts/apache-kafka.sh) instead
 * of starting emulators, to check that the emulator behaves as Kafka does.
 *
 * - Start brokers with `startBroker(options)`, never `startKafka` directly: in external mode it
 *   returns `{ brokers, host, port, stop() }` for the external broker (stop() does nothing) and
 *   ignores `options`, so a test must not depend on them (or be emulator-only).
 * - Every test shares that one broker, across files and runs: name topics, groups and
 *   transactional ids with `uniqueName`, never assume an empty cluster, and wait on conditions
 *   with deadlines (`waitUntil`): Kafka propagates new topics, partitions, ACLs and commit markers
 *   a moment after it answers. After creating a topic to produce to, `partitionsServed()`.
 * - Mark what needs the emulator with `emulatorOnly(reason)`, which gives node:test options that
 *   skip the test or suite in external mode and run it otherwise:
 *     test('drops a connection', emulatorOnly('fault injection'), async () => { ... })
 *     describe('three brokers', emulatorOnly('multi-broker cluster'), () => { ... })
 *   Where the emulator knowingly differs from Kafka, mark the test `knownDifference(what)`
 *   instead, and add the difference to docs/compatibility.md.
 *   Emulator-only: fault injection, the request log, killing connections, multi-broker
 *   clusters, startKafka options a test depends on, the test helpers (messages(), reset(),
 *   applyRetention()...), the CLI, the lifecycle of startKafka. (Malformed frames are not: Kafka
 *   closes the connection too, and those tests pass on both.)
 */
const EXTERNAL_BROKERS = process.env.KAFKA_BROKERS
  ? process.env.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean)
  : null
const external = EXTERNAL_BROKERS !== null

/** node:test options: skip in external mode, saying why; run against the emulator. */
function emulatorOnly(reason) {
  return { skip: external ? `emulator only: ${reason}` : false }
}

/**
 * node:test options for a test of emulator behaviour that Apache Kafka does not share (each one
 * recorded in docs/compatibility.md): skipped in external mode, saying what differs.
 */
function knownDifference(what) {
  return { skip: external ? `differs from Apache Kafka: ${what} (docs/compatibility.md)` : false }
}

/**
 * For a file whose every test needs the emulator (startKafka options such as sasl, tls or
 * authorization, or the request log): in external mode it registers one skipped test saying
 * why and returns true, and the file returns before defining its tests:
 *     if (emulatorOnlyFile('SASL listeners are startKafka options')) return
 */
function emulatorOnlyFile(reason) {
  if (!external) return false
  require('node:test').test('this file', emulatorOnly(reason), () => {})
  return true
}

/**
 * A broker for a test: a new emulator (`startKafka(options)`), or in external mode the external
 * broker, whose `stop()` leaves it running.
 */
async function startBroker(options) {
  if (!external) return startKafka(options)
  const [host, port] = EXTERNAL_BROKERS[0].split(':')
  return {
    external: true,
    brokers: [...EXTERNAL_BROKERS],
    host,
    port: Number(port),
    stop: async () => {},
  }
}

/**
 * In external mode, waits until the broker serves every partition of `topic` (ListOffsets on
 * each answers): Kafka's broker takes a moment after CreateTopics to host new partitions, and a
 * produce to several partitions that is refused for one is retried whole by kafkajs, writing
 * the others twice. Call it after creating a topic that a test produces to. No-op otherwise.
 */
async function partitionsServed(admin, topic) {
  if (!external) return
  await waitUntil(() => admin.fetchTopicOffsets(topic).then(() => true), `the partitions of ${topic}`)
}

/**
 * Polls `check` (sync or async; truthy = done) every `intervalMs` until it holds, and returns its
 * value; fails with `what` and the last error once `ms` have passed. For state that has no event
 * to wait on, such as metadata a real broker propagates asynchronously.
 */
async function waitUntil(check, what, { ms = DEADLINE_MS, intervalMs = 50 } = {}) {
  const deadline = Date.now() + ms
  let lastError = null
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const cause = lastError ? `; last error: ${lastError.message}` : ''
      throw new Error(`timed out after ${ms} ms waiting for ${what}${cause}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

let counter = 0
/** When this process started, so names stay unique across runs on one external broker. */
const RUN = Date.now().toString(36)
/** A name no other test uses, in this process or another run (topics, groups). */
function uniqueName(prefix) {
  counter += 1
  return `${prefix}-${process.pid}-${RUN}-${counter}`
}

/** A kafkajs client for a running broker; quiet, and quick to give up so failures surface fast. */
function client(broker, options = {}) {
  return new Kafka({
    clientId: 'kafka-emulator-tests',
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 100 },
    ...options,
  })
}

const deferred = new WeakMap()
/**
 * Registers `fn` to run when test `t` ends, last registered first (like Go's defer), so clients
 * disconnect before the broker they talk to stops. Every cleanup runs even if one throws.
 */
function defer(t, fn) {
  if (!deferred.has(t)) {
    const stack = []
    deferred.set(t, stack)
    t.after(async () => {
      let failure = null
      while (stack.length > 0) {
        try {
          await stack.pop()()
        } catch (err) {
          failure = failure || err
        }
      }
      if (failure) throw failure
    })
  }
  deferred.get(t).push(fn)
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
async function withDeadline(promise, ms, what) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Connects a consumer group member, subscribes and runs it (with eachMessage, or eachBatch if
 * `eachBatch: true`), recording every message it is given.
 * `waitFor(n)` (or a predicate over the records) resolves once enough arrived, or fails the test at
 * the deadline saying how many did. Call `disconnect()` (tests register it with `defer`).
 */
async function startConsumer(kafka, options) {
  const {
    topics,
    groupId = uniqueName('group'),
    fromBeginning = true,
    consumerOptions = {},
    eachBatch = false,
    afterRun,
  } = options
  // A short maxWaitTime keeps disconnect() quick: kafkajs waits for the fetch in flight.
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, ...consumerOptions })
  const records = []
  const waiters = new Set()
  let fatal = null
  let lastCrash = null

  const settle = () => {
    for (const waiter of waiters) waiter.check()
  }
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    lastCrash = payload.error
    if (!payload.restart) {
      fatal = payload.error
      settle()
    }
  })

  try {
    await consumer.connect()
    await consumer.subscribe({ topics, fromBeginning })
    const record = (topic, partition, message) =>
      records.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers: message.headers,
        timestamp: message.timestamp,
      })
    await consumer.run(
      eachBatch
        ? {
            eachBatch: async ({ batch }) => {
              for (const message of batch.messages) record(batch.topic, batch.partition, message)
              settle()
            },
          }
        : {
            eachMessage: async ({ topic, partition, message }) => {
              record(topic, partition, message)
              settle()
            },
          },
    )
    if (afterRun) afterRun(consumer)
  } catch (err) {
    await consumer.disconnect().catch(() => {})
    throw err
  }

  function waitFor(until, { timeoutMs = DEADLINE_MS } = {}) {
    const done = typeof until === 'number' ? (r) => r.length >= until : until
    const what =
      typeof until === 'number' ? `${until} messages` : `messages matching ${until.toString()}`
    return new Promise((resolve, reject) => {
      const waiter = {
        check() {
          if (fatal) {
            finish()
            reject(fatal)
          } else if (done(records)) {
            finish()
            resolve(records)
          }
        },
      }
      const timer = setTimeout(() => {
        finish()
        const crash = lastCrash ? `; the consumer crashed with ${lastCrash.name}: ${lastCrash.message}` : ''
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${records.length}${crash}`,
          ),
        )
      }, timeoutMs)
      const finish = () => {
        clearTimeout(timer)
        waiters.delete(waiter)
      }
      waiters.add(waiter)
      waiter.check()
    })
  }

  return {
    consumer,
    groupId,
    records,
    waitFor,
    disconnect: () => consumer.disconnect(),
  }
}

/** Groups records by partition, each list in the order the consumer saw them. */
function byPartition(records) {
  const partitions = new Map()
  for (const r of records) {
    if (!partitions.has(r.partition)) partitions.set(r.partition, [])
    partitions.get(r.partition).push(r)
  }
  return partitions
}

/**
 * kafkajs' Broker, one level below its admin, connected to `address` (host:port): its methods
 * send one request and return kafkajs' decoding of the response, every field included.
 */
async function kafkajsBroker(address, clientId) {
  const Broker = require('kafkajs/src/broker')
  const ConnectionPool = require('kafkajs/src/network/connectionPool')
  const socketFactory = require('kafkajs/src/network/socketFactory')
  const { createLogger } = require('kafkajs/src/loggers')
  const LoggerConsole = require('kafkajs/src/loggers/console')
  const [host, port] = address.split(':')
  const logger = createLogger({ level: logLevel.NOTHING, logCreator: LoggerConsole })
  const connectionPool = new ConnectionPool({
    host,
    port: Number(port),
    logger,
    socketFactory: socketFactory(),
    clientId,
    requestTimeout: 30_000,
    connectionTimeout: 5_000,
  })
  const broker = new Broker({ connectionPool, logger })
  await broker.connect()
  return broker
}

module.exports = {
  PACKAGE_DIR,
  kafkajsBroker,
  DEADLINE_MS,
  startKafka,
  external,
  emulatorOnly,
  emulatorOnlyFile,
  knownDifference,
  startBroker,
  waitUntil,
  partitionsServed,
  logLevel,
  uniqueName,
  client,
  defer,
  withDeadline,
  startConsumer,
  byPartition,
}
