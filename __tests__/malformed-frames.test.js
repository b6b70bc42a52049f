'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// Bytes a Kafka client would never send, written by hand on raw sockets. Each must close that
// one connection (or, for ApiVersions, be answered) while kafkajs clients on the same broker
// carry on as if nothing happened.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startBroker, client, startConsumer, uniqueName } = require('./helpers')
const wire = require('./wire')

const API_VERSIONS = 18
const UNSUPPORTED_VERSION = 35

let broker
let producer
let consumer
let topic
let canaries = 0

before(async () => {
  // The broker logs why it closes each connection; that is expected here.
  broker = await startBroker()
  const kafka = client(broker)
  topic = uniqueName('canary')
  producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value: 'canary-0' }] })
  consumer = await startConsumer(kafka, { topics: [topic] })
  await consumer.waitFor(1)
})

after(async () => {
  await consumer.disconnect()
  await producer.disconnect()
  await broker.stop()
})

/** Proves the broker still serves the kafkajs clients connected before the bad frame. */
async function assertClientsStillWork() {
  canaries += 1
  const value = `canary-${canaries}`
  await producer.send({ topic, messages: [{ value }] })
  await consumer.waitFor((records) => records.some((r) => r.value.toString() === value))
}

/** A raw TCP connection to the broker that records what it receives and when it is closed. */
function rawConnection() {
  return wire.rawConnection(broker.port)
}

/** A length-prefixed frame around `body`. */
function frame(body) {
  const length = Buffer.alloc(4)
  length.writeInt32BE(body.length)
  return Buffer.concat([length, body])
}

/**
 * A request header: api key, version, correlation id, client id, and for flexible (v2) headers
 * an empty tagged-field section.
 */
function header(apiKey, version, correlationId, { flexible = false } = {}) {
  const clientId = Buffer.from('raw-test')
  const fixed = Buffer.alloc(10)
  fixed.writeInt16BE(apiKey, 0)
  fixed.writeInt16BE(version, 2)
  fixed.writeInt32BE(correlationId, 4)
  fixed.writeInt16BE(clientId.length, 8)
  return Buffer.concat([fixed, clientId, flexible ? Buffer.from([0]) : Buffer.alloc(0)])
}

/** Reads an ApiVersions v0 response: correlation id, error code, and (key, min, max) triples. */
function parseApiVersionsV0(response) {
  let at = 0
  const correlationId = response.readInt32BE(at)
  at += 4
  const errorCode = response.readInt16BE(at)
  at += 2
  const count = response.readInt32BE(at)
  at += 4
  const apis = new Map()
  for (let i = 0; i < count; i++) {
    const key = response.readInt16BE(at)
    const min = response.readInt16BE(at + 2)
    const max = response.readInt16BE(at + 4)
    apis.set(key, { min, max })
    at += 6
  }
  assert.equal(at, response.length, 'bytes left over after the api_keys array of a v0 response')
  return { correlationId, errorCode, apis }
}

async function assertClosedWithoutAnswer(bytes) {
  const conn = await rawConnection()
  conn.send(bytes)
  await conn.closed()
  assert.equal(conn.received.length, 0, 'the broker answered a frame it should have refused')
  await assertClientsStillWork()
}

test('a negative length prefix closes that connection only', async () => {
  await assertClosedWithoutAnswer(Buffer.from([0xff, 0xff, 0xff, 0xfe]))
})

test('a huge length prefix closes that connection only', async () => {
  await assertClosedWithoutAnswer(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]))
})

test('garbage bytes in a well-formed frame close that connection only', async () => {
  await assertClosedWithoutAnswer(frame(Buffer.from('this is not a kafka request at all')))
})

test('a frame shorter than a request header closes that connection only', async () => {
  await assertClosedWithoutAnswer(frame(Buffer.from([0, 3])))
})

test('a Metadata request whose topic array claims two billion entries closes that connection only', async () => {
  const body = Buffer.alloc(4)
  body.writeInt32BE(0x7fffffff)
  await assertClosedWithoutAnswer(frame(Buffer.concat([header(3, 1, 1), body])))
})

test('an unknown API key (9999) closes that connection only', async () => {
  await assertClosedWithoutAnswer(frame(Buffer.concat([header(9999, 0, 1), Buffer.alloc(8)])))
})

test('Produce v2, advertised but removed by KIP-896, closes that connection only', async () => {
  // acks, timeout, an empty topic array: a well-formed v2 body.
  const body = Buffer.alloc(10)
  body.writeInt16BE(1, 0)
  body.writeInt32BE(1000, 2)
  await assertClosedWithoutAnswer(frame(Buffer.concat([header(0, 2, 1), body])))
})

test('Produce at unsupported version 99 closes that connection only', async () => {
  await assertClosedWithoutAnswer(
    frame(Buffer.concat([header(0, 99, 1, { flexible: true }), Buffer.alloc(16)])),
  )
})

test('ApiVersions v99 is answered with UNSUPPORTED_VERSION and the ApiVersions range in a v0 response', async () => {
  const conn = await rawConnection()
  try {
    // An ApiVersions v3-shaped body: client software name and version (compact strings), no tags.
    const body = Buffer.concat([
      Buffer.from([5]), Buffer.from('test'),
      Buffer.from([2]), Buffer.from('1'),
      Buffer.from([0]),
    ])
    conn.send(frame(Buffer.concat([header(API_VERSIONS, 99, 4242, { flexible: true }), body])))
    const refused = parseApiVersionsV0(await conn.readFrame())
    assert.equal(refused.correlationId, 4242)
    assert.equal(refused.errorCode, UNSUPPORTED_VERSION)
    // As Kafka answers (KIP-511): the range of ApiVersions alone, for the client's retry.
    assert.deepEqual([...refused.apis], [[API_VERSIONS, { min: 0, max: 4 }]])

    // The connection stays open: a client retries at v0 and gets every range without error.
    conn.send(frame(header(API_VERSIONS, 0, 4243)))
    const accepted = parseApiVersionsV0(await conn.readFrame())
    assert.equal(accepted.correlationId, 4243)
    assert.equal(accepted.errorCode, 0)
    assert.deepEqual(accepted.apis.get(API_VERSIONS), { min: 0, max: 4 })
    for (const key of [0, 1, 2, 3, 19, 20]) {
      assert.ok(accepted.apis.has(key), `api key ${key} is missing from the supported ranges`)
    }
    // As Kafka 4 does, for librdkafka's sake, though v0-v2 requests are refused (test above).
    assert.equal(accepted.apis.get(0).min, 0, 'Produce advertised from v0')
    for (const [key, { min, max }] of accepted.apis) {
      assert.ok(min >= 0 && min <= max, `api key ${key}: min ${min} max ${max}`)
    }
  } finally {
    conn.destroy()
  }
  await assertClientsStillWork()
})

test('a bad frame on one connection does not disturb another raw connection', async () => {
  const good = await rawConnection()
  const bad = await rawConnection()
  try {
    bad.send(Buffer.from([0xff, 0xff, 0xff, 0xff]))
    await bad.closed()
    good.send(frame(header(API_VERSIONS, 0, 7)))
    const answer = parseApiVersionsV0(await good.readFrame())
    assert.equal(answer.correlationId, 7)
    assert.equal(answer.errorCode, 0)
  } finally {
    good.destroy()
  }
})
