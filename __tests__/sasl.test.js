'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// SASL authentication (SASL_PLAINTEXT listeners): kafkajs with each mechanism, wrong passwords,
// requests before authentication, SaslHandshake v0, SCRAM credentials set through
// AlterUserScramCredentials, and re-authentication (KIP-368). Raw frames are built by hand where
// kafkajs cannot send what the test needs.

if (require('./helpers').emulatorOnlyFile('SASL listeners are the startKafka sasl option')) return

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const {
  startKafka,
  client,
  defer,
  startConsumer,
  uniqueName,
  DEADLINE_MS,
} = require('./helpers')
const { int32, string, uvarint, compactBytes, request, rawConnection } = require('./wire')

const SASL_HANDSHAKE = 17
const SASL_AUTHENTICATE = 36
const METADATA = 3
const ALTER_USER_SCRAM_CREDENTIALS = 51

const UNSUPPORTED_SASL_MECHANISM = 33
const ILLEGAL_SASL_STATE = 34
const SASL_AUTHENTICATION_FAILED = 58

const USERS = [
  { username: 'alice', password: 'alice-secret' },
  { username: 'bob', password: 'bob-secret' },
]

let broker

before(async () => {
  broker = await startKafka({ sasl: { users: USERS } })
})

after(async () => {
  await broker.stop()
})

function saslClient(kafka, sasl, options = {}) {
  return client(kafka, { sasl, ...options })
}

/** Produces one message and reads it back with a consumer group, both authenticated. */
async function roundTrip(t, kafka) {
  const topic = uniqueName('sasl')
  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({ topic, messages: [{ key: 'k', value: 'authenticated' }] })
  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const [record] = await consumer.waitFor(1)
  assert.equal(record.value.toString(), 'authenticated')
}

test('the listener is SASL_PLAINTEXT', () => {
  assert.deepEqual(
    broker.listeners.map((l) => [l.name, l.security]),
    [['SASL_PLAINTEXT', 'SASL_PLAINTEXT']],
  )
})

for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
  test(`kafkajs authenticated with ${mechanism} produces and consumes`, async (t) => {
    await roundTrip(t, saslClient(broker, { mechanism, username: 'alice', password: 'alice-secret' }))
  })
}

for (const [mechanism, message] of [
  ['plain', 'Authentication failed: Invalid username or password'],
  [
    'scram-sha-256',
    'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256',
  ],
  [
    'scram-sha-512',
    'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
  ],
]) {
  test(`a wrong password with ${mechanism} fails with SASL_AUTHENTICATION_FAILED, and others carry on`, async (t) => {
    const good = saslClient(broker, { mechanism, username: 'bob', password: 'bob-secret' })
    const goodProducer = good.producer()
    await goodProducer.connect()
    defer(t, () => goodProducer.disconnect())

    const bad = saslClient(
      broker,
      { mechanism, username: 'bob', password: 'wrong' },
      { retry: { retries: 0 } },
    )
    const admin = bad.admin()
    await assert.rejects(admin.connect(), (err) => {
      assert.equal(err.name, 'KafkaJSSASLAuthenticationError')
      assert.match(err.message, new RegExp(message))
      return true
    })
    const topic = uniqueName('after-failure')
    await goodProducer.send({ topic, messages: [{ value: 'still served' }] })
    await roundTrip(t, good)
  })
}

test('every broker of a cluster authenticates its clients', async (t) => {
  const cluster = await startKafka({ brokers: 3, numPartitions: 3, sasl: { users: USERS } })
  defer(t, () => cluster.stop())
  assert.deepEqual(
    cluster.listeners.map((l) => l.security),
    ['SASL_PLAINTEXT', 'SASL_PLAINTEXT', 'SASL_PLAINTEXT'],
  )
  const kafka = saslClient(cluster, { mechanism: 'scram-sha-512', username: 'bob', password: 'bob-secret' })
  const topic = uniqueName('spread')
  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({
    topic,
    messages: [0, 1, 2].map((partition) => ({ partition, value: `p${partition}` })),
  })
  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const records = await consumer.waitFor(3)
  assert.deepEqual(records.map((r) => r.partition).sort(), [0, 1, 2])
  // Every broker served an authenticated client.
  const authenticatedOn = new Set(
    cluster
      .requests()
      .filter((r) => r.api === 'SaslAuthenticate' && r.errorCode === 0)
      .map((r) => r.broker),
  )
  assert.deepEqual([...authenticatedOn].sort(), [0, 1, 2])
})

test('an unknown user cannot authenticate with SCRAM', async () => {
  const admin = saslClient(
    broker,
    { mechanism: 'scram-sha-256', username: 'mallory', password: 'alice-secret' },
    { retry: { retries: 0 } },
  ).admin()
  await assert.rejects(admin.connect(), { name: 'KafkaJSSASLAuthenticationError' })
})

// --- raw frames ---------------------------------------------------------------------------------

const handshake = (mechanism, version = 1) =>
  request(SASL_HANDSHAKE, version, 1, string(mechanism))
const authenticate = (token) =>
  request(SASL_AUTHENTICATE, 1, 2, Buffer.concat([int32(token.length), token]))
const metadata = (correlationId = 3) => request(METADATA, 1, correlationId, int32(-1))
const plainToken = (username, password) => Buffer.from(`\0${username}\0${password}`)

/** SaslHandshake v0/v1 response body (after the correlation id). */
function parseHandshake(frame) {
  let at = 4
  const errorCode = frame.readInt16BE(at)
  at += 2
  const count = frame.readInt32BE(at)
  at += 4
  const mechanisms = []
  for (let i = 0; i < count; i++) {
    const len = frame.readInt16BE(at)
    at += 2
    mechanisms.push(frame.toString('utf8', at, at + len))
    at += len
  }
  return { errorCode, mechanisms }
}

/** SaslAuthenticate v1 response body. */
function parseAuthenticate(frame) {
  let at = 4
  const errorCode = frame.readInt16BE(at)
  at += 2
  const messageLength = frame.readInt16BE(at)
  at += 2
  const errorMessage = messageLength < 0 ? null : frame.toString('utf8', at, at + messageLength)
  at += Math.max(messageLength, 0)
  const authLength = frame.readInt32BE(at)
  at += 4 + authLength
  const sessionLifetimeMs = Number(frame.readBigInt64BE(at))
  return { errorCode, errorMessage, sessionLifetimeMs }
}

test('a request before authentication closes the connection unanswered', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(metadata())
  await conn.closed()
  assert.equal(conn.received.length, 0)
})

test('a request after the handshake but before SaslAuthenticate is answered with ILLEGAL_SASL_STATE, then the connection closes', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  assert.equal(parseHandshake(await conn.readFrame()).errorCode, 0)
  // Metadata v1 for one topic.
  conn.send(request(METADATA, 1, 5, Buffer.concat([int32(1), string('secret-topic')])))
  const response = await conn.readFrame()
  assert.equal(response.readInt32BE(0), 5)
  // No brokers, the controller id, then the one topic with its error.
  assert.equal(response.readInt32BE(4), 0, 'brokers listed to a client that has not logged in')
  assert.equal(response.readInt32BE(12), 1)
  assert.equal(response.readInt16BE(16), ILLEGAL_SASL_STATE)
  await conn.closed()
})

test('an unsupported mechanism gets UNSUPPORTED_SASL_MECHANISM with the enabled ones, then the connection closes', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('GSSAPI'))
  const response = parseHandshake(await conn.readFrame())
  assert.equal(response.errorCode, UNSUPPORTED_SASL_MECHANISM)
  assert.deepEqual(response.mechanisms, ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'])
  await conn.closed()
})

test('SaslHandshake v1 and SaslAuthenticate v1 authenticate a raw connection', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  const hello = parseHandshake(await conn.readFrame())
  assert.deepEqual(hello, { errorCode: 0, mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] })
  conn.send(authenticate(plainToken('alice', 'alice-secret')))
  const done = parseAuthenticate(await conn.readFrame())
  // Kafka leaves the message at its schema default, the empty string.
  assert.deepEqual(done, { errorCode: 0, errorMessage: '', sessionLifetimeMs: 0 })
  conn.send(metadata(7))
  const answer = await conn.readFrame()
  assert.equal(answer.readInt32BE(0), 7)
  // Without re-authentication configured, a second exchange is refused as Kafka refuses it.
  conn.send(authenticate(plainToken('alice', 'alice-secret')))
  assert.equal(parseAuthenticate(await conn.readFrame()).errorCode, ILLEGAL_SASL_STATE)
})

test('a wrong password over raw frames is answered with the reason, then the connection closes', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  await conn.readFrame()
  conn.send(authenticate(plainToken('alice', 'nope')))
  const failed = parseAuthenticate(await conn.readFrame())
  assert.equal(failed.errorCode, SASL_AUTHENTICATION_FAILED)
  assert.equal(failed.errorMessage, 'Authentication failed: Invalid username or password')
  await conn.closed()
})

test('SaslHandshake v0 is followed by raw SASL tokens', async (t) => {
  const conn = await rawConnection(broker.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN', 0))
  assert.equal(parseHandshake(await conn.readFrame()).errorCode, 0)
  const token = plainToken('bob', 'bob-secret')
  conn.send(Buffer.concat([int32(token.length), token]))
  // PLAIN's server answer is empty: a zero-length frame.
  const reply = await conn.readFrame()
  assert.equal(reply.length, 0)
  conn.send(metadata(9))
  assert.equal((await conn.readFrame()).readInt32BE(0), 9)

  const refused = await rawConnection(broker.port)
  defer(t, () => refused.destroy())
  refused.send(handshake('PLAIN', 0))
  await refused.readFrame()
  const wrong = plainToken('bob', 'wrong')
  refused.send(Buffer.concat([int32(wrong.length), wrong]))
  await refused.closed()
  assert.equal(refused.received.length, 0)
})

test('SaslHandshake on a listener without SASL is refused with ILLEGAL_SASL_STATE', async (t) => {
  const plain = await startKafka()
  defer(t, () => plain.stop())
  const conn = await rawConnection(plain.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  assert.deepEqual(parseHandshake(await conn.readFrame()), { errorCode: ILLEGAL_SASL_STATE, mechanisms: [] })
  conn.send(metadata(4))
  assert.equal((await conn.readFrame()).readInt32BE(0), 4)
})

test('SCRAM credentials set with AlterUserScramCredentials authenticate', async (t) => {
  // A PLAINTEXT listener to administer from, a SASL one to authenticate on.
  const cluster = await startKafka({
    brokers: [{ id: 0, listeners: [{ security: 'PLAINTEXT' }, { security: 'SASL_PLAINTEXT' }] }],
    sasl: { mechanisms: ['SCRAM-SHA-256'], users: [] },
  })
  defer(t, () => cluster.stop())
  const [plaintext, sasl] = cluster.listeners
  assert.equal(sasl.security, 'SASL_PLAINTEXT')

  const salt = crypto.randomBytes(16)
  const iterations = 4096
  const saltedPassword = crypto.pbkdf2Sync('carol-secret', salt, iterations, 32, 'sha256')
  const name = Buffer.from('carol')
  const upsertion = Buffer.concat([
    compactBytes(name),
    Buffer.from([1]), // SCRAM-SHA-256
    int32(iterations),
    compactBytes(salt),
    compactBytes(saltedPassword),
    uvarint(0),
  ])
  const body = Buffer.concat([uvarint(1), uvarint(2), upsertion, uvarint(0)])
  const admin = await rawConnection(plaintext.port)
  defer(t, () => admin.destroy())
  admin.send(request(ALTER_USER_SCRAM_CREDENTIALS, 0, 11, body, true))
  const response = await admin.readFrame()
  // correlation id, header tags, throttle, results: [user, error code, ...]
  let at = 4 + 1 + 4
  assert.equal(response[at], 2, 'one result')
  at += 1
  const userLength = response[at] - 1
  at += 1
  assert.equal(response.toString('utf8', at, at + userLength), 'carol')
  assert.equal(response.readInt16BE(at + userLength), 0, 'no error')

  const kafka = client(
    { brokers: [`${sasl.host}:${sasl.port}`] },
    { sasl: { mechanism: 'scram-sha-256', username: 'carol', password: 'carol-secret' } },
  )
  await roundTrip(t, kafka)
  const wrong = client(
    { brokers: [`${sasl.host}:${sasl.port}`] },
    {
      sasl: { mechanism: 'scram-sha-256', username: 'carol', password: 'nope' },
      retry: { retries: 0 },
    },
  ).admin()
  await assert.rejects(wrong.connect(), { name: 'KafkaJSSASLAuthenticationError' })
})

/** Whether kafkajs logs in on `listener` with this mechanism, username and password. */
async function logsIn(listener, mechanism, username, password) {
  const admin = client(
    { brokers: [`${listener.host}:${listener.port}`] },
    { sasl: { mechanism, username, password }, retry: { retries: 0 } },
  ).admin()
  try {
    await admin.connect()
    return true
  } catch (err) {
    assert.equal(err.name, 'KafkaJSSASLAuthenticationError')
    return false
  } finally {
    await admin.disconnect()
  }
}

const DESCRIBE_USER_SCRAM_CREDENTIALS = 50

/** DescribeUserScramCredentials v0 of `users`: { user: [[mechanism, iterations], ...] }. */
async function describeScram(port, users) {
  const connection = await rawConnection(port)
  try {
    const body = Buffer.concat([
      uvarint(users.length + 1),
      ...users.map((u) => Buffer.concat([compactBytes(Buffer.from(u)), uvarint(0)])),
      uvarint(0),
    ])
    connection.send(request(DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 12, body, true))
    const frame = await connection.readFrame()
    // correlation id, header tags, throttle, error code, error message (null)
    let at = 4 + 1 + 4 + 2
    const skipString = () => {
      const length = frame[at++]
      at += Math.max(length - 1, 0)
    }
    skipString()
    const described = {}
    for (let n = frame[at++] - 1; n > 0; n--) {
      const length = frame[at++] - 1
      const user = frame.toString('utf8', at, at + length)
      at += length
      const errorCode = frame.readInt16BE(at)
      at += 2
      skipString()
      const infos = []
      for (let i = frame[at++] - 1; i > 0; i--) {
        infos.push([frame.readInt8(at), frame.readInt32BE(at + 1)])
        at += 5 + 1
      }
      at += 1
      described[user] = errorCode === 0 ? infos : errorCode
    }
    return described
  } finally {
    connection.destroy()
  }
}

test('each SCRAM mechanism authenticates only with its own password', async (t) => {
  const cluster = await startKafka({
    brokers: [{ id: 0, listeners: [{ security: 'PLAINTEXT' }, { security: 'SASL_PLAINTEXT' }] }],
    sasl: {
      users: [
        // SCRAM only: PLAIN does not know erin.
        {
          username: 'erin',
          scram: { 'SCRAM-SHA-256': 'erin-256', 'SCRAM-SHA-512': { password: 'erin-512', iterations: 8192 } },
        },
        // The password serves PLAIN and the SCRAM mechanism without an entry of its own.
        { username: 'frank', password: 'frank-pw', scram: { 'SCRAM-SHA-512': 'frank-512' } },
      ],
    },
  })
  defer(t, () => cluster.stop())
  const [plaintext, sasl] = cluster.listeners

  assert.equal(await logsIn(sasl, 'scram-sha-256', 'erin', 'erin-256'), true)
  assert.equal(await logsIn(sasl, 'scram-sha-256', 'erin', 'erin-512'), false)
  assert.equal(await logsIn(sasl, 'scram-sha-512', 'erin', 'erin-512'), true)
  assert.equal(await logsIn(sasl, 'scram-sha-512', 'erin', 'erin-256'), false)
  assert.equal(await logsIn(sasl, 'plain', 'erin', 'erin-256'), false)

  assert.equal(await logsIn(sasl, 'plain', 'frank', 'frank-pw'), true)
  assert.equal(await logsIn(sasl, 'scram-sha-256', 'frank', 'frank-pw'), true)
  assert.equal(await logsIn(sasl, 'scram-sha-512', 'frank', 'frank-pw'), false)
  assert.equal(await logsIn(sasl, 'scram-sha-512', 'frank', 'frank-512'), true)

  // DescribeUserScramCredentials shows the same store, iterations as stored (1 = SHA-256).
  assert.deepEqual(await describeScram(plaintext.port, ['erin', 'frank']), {
    erin: [
      [1, 4096],
      [2, 8192],
    ],
    frank: [
      [1, 4096],
      [2, 4096],
    ],
  })

  // AlterUserScramCredentials deletes erin's SCRAM-SHA-512 credential: that login is gone.
  const admin = await rawConnection(plaintext.port)
  defer(t, () => admin.destroy())
  const deletion = Buffer.concat([compactBytes(Buffer.from('erin')), Buffer.from([2]), uvarint(0)])
  admin.send(request(ALTER_USER_SCRAM_CREDENTIALS, 0, 13, Buffer.concat([uvarint(2), deletion, uvarint(1), uvarint(0)]), true))
  const altered = await admin.readFrame()
  // correlation id, header tags, throttle, one result: user "erin", error code
  assert.equal(altered.readInt16BE(4 + 1 + 4 + 1 + 1 + 4), 0, 'no error')
  assert.deepEqual(await describeScram(plaintext.port, ['erin']), { erin: [[1, 4096]] })
  assert.equal(await logsIn(sasl, 'scram-sha-512', 'erin', 'erin-512'), false)
  assert.equal(await logsIn(sasl, 'scram-sha-256', 'erin', 'erin-256'), true)
})

test('with connectionsMaxReauthMs, kafkajs re-authenticates on the same connection', async (t) => {
  const lifetime = 1500
  const cluster = await startKafka({
    sasl: { users: USERS, connectionsMaxReauthMs: lifetime },
  })
  defer(t, () => cluster.stop())
  const kafka = client(cluster, {
    sasl: { mechanism: 'scram-sha-256', username: 'alice', password: 'alice-secret' },
    // Re-authenticate once less than a second of the session is left.
    reauthenticationThreshold: 1000,
  })
  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  const topic = uniqueName('reauth')
  let sent = 0
  const reauthenticated = () => {
    const byConnection = new Map()
    for (const r of cluster.requests()) {
      if (r.api !== 'SaslAuthenticate' || r.errorCode !== 0) continue
      byConnection.set(r.connection, (byConnection.get(r.connection) || 0) + 1)
    }
    // SCRAM takes two SaslAuthenticate rounds per authentication.
    return [...byConnection.values()].some((n) => n >= 4)
  }
  const deadline = Date.now() + DEADLINE_MS
  while (!reauthenticated()) {
    assert.ok(Date.now() < deadline, 'kafkajs re-authenticated within the deadline')
    await producer.send({ topic, messages: [{ value: `m${sent}` }] })
    sent += 1
    // Polls the request log between sends.
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const messages = await cluster.waitForMessages(topic, sent)
  assert.equal(messages.length, sent)
  // No authentication failed, and the producer never had to reconnect.
  const exchanges = cluster
    .requests()
    .filter((r) => r.api === 'SaslHandshake' || r.api === 'SaslAuthenticate')
  assert.ok(exchanges.every((r) => r.errorCode === 0))
})

test('a session that expires without re-authentication is closed at its next request', async (t) => {
  const lifetime = 300
  const cluster = await startKafka({ sasl: { users: USERS, connectionsMaxReauthMs: lifetime } })
  defer(t, () => cluster.stop())
  const conn = await rawConnection(cluster.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  await conn.readFrame()
  conn.send(authenticate(plainToken('alice', 'alice-secret')))
  const done = parseAuthenticate(await conn.readFrame())
  assert.equal(done.sessionLifetimeMs, lifetime)
  conn.send(metadata(5))
  assert.equal((await conn.readFrame()).readInt32BE(0), 5)
  // Let the session run out: the expiry itself is what is tested.
  await new Promise((resolve) => setTimeout(resolve, lifetime + 100))
  conn.send(metadata(6))
  await conn.closed()
  assert.equal(conn.received.length, 0)
})

test('re-authentication must keep the principal', async (t) => {
  const cluster = await startKafka({ sasl: { users: USERS, connectionsMaxReauthMs: 60_000 } })
  defer(t, () => cluster.stop())
  const conn = await rawConnection(cluster.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('PLAIN'))
  await conn.readFrame()
  conn.send(authenticate(plainToken('alice', 'alice-secret')))
  assert.equal(parseAuthenticate(await conn.readFrame()).sessionLifetimeMs, 60_000)
  // The same user again: accepted, and the session renewed.
  conn.send(handshake('PLAIN'))
  assert.equal(parseHandshake(await conn.readFrame()).errorCode, 0)
  conn.send(authenticate(plainToken('alice', 'alice-secret')))
  assert.equal(parseAuthenticate(await conn.readFrame()).errorCode, 0)
  // Someone else: refused, and the connection closed.
  conn.send(handshake('PLAIN'))
  await conn.readFrame()
  conn.send(authenticate(plainToken('bob', 'bob-secret')))
  const refused = parseAuthenticate(await conn.readFrame())
  assert.equal(refused.errorCode, SASL_AUTHENTICATION_FAILED)
  assert.equal(
    refused.errorMessage,
    'Cannot change principals during re-authentication from User.alice: User.bob',
  )
  await conn.closed()
})

test('sasl options are checked', async () => {
  assert.throws(() => startKafka({ sasl: { mechanisms: ['GSSAPI'] } }), {
    name: 'TypeError',
    code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
    message: /^options\.sasl\.mechanisms\[0\] must be one of "PLAIN", .*, got "GSSAPI"$/,
  })
  assert.throws(
    () => startKafka({ brokers: [{ id: 0, listeners: [{ security: 'SASL_PLAINTEXT' }] }] }),
    { code: 'ERR_INVALID_ARG_VALUE', message: /needs SASL settings/ },
  )
  const withUser = (user) => () => startKafka({ sasl: { users: [{ username: 'u', ...user }] } })
  assert.throws(withUser({}), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /sasl user u has neither a password nor SCRAM credentials/,
  })
  assert.throws(withUser({ scram: { 'SCRAM-SHA-1': 'pw' } }), {
    name: 'TypeError',
    code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
    message: /^options\.sasl\.users\[0\]\.scram\["SCRAM-SHA-1"\] is not an option/,
  })
  assert.throws(withUser({ scram: { 'SCRAM-SHA-256': { password: 'pw', iterations: 1000 } } }), {
    name: 'TypeError',
    code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION',
    message: /^options\.sasl\.users\[0\]\.scram\["SCRAM-SHA-256"\]\.iterations must be an integer 4096-16384, got 1000$/,
  })
})

// --- OAUTHBEARER with unsecured JWTs ------------------------------------------------------------

/** An unsecured JWS (alg none, no signature), as Kafka's unsecured login module makes them. */
function unsecuredJwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${part({ alg: 'none' })}.${part(claims)}.`
}
const oauthToken = (jwt) => Buffer.from(`n,,\u0001auth=Bearer ${jwt}\u0001\u0001`)

test('kafkajs authenticated with OAUTHBEARER (an unsecured JWT) produces and consumes', async (t) => {
  const cluster = await startKafka({ sasl: { mechanisms: ['OAUTHBEARER'] } })
  defer(t, () => cluster.stop())
  const now = Math.floor(Date.now() / 1000)
  const kafka = client(cluster, {
    sasl: {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: unsecuredJwt({ sub: 'carol', iat: now, exp: now + 3600 }) }),
    },
  })
  await roundTrip(t, kafka)
})

test('an expired OAUTHBEARER token is refused with invalid_token, then SASL_AUTHENTICATION_FAILED', async (t) => {
  const cluster = await startKafka({ sasl: { mechanisms: ['OAUTHBEARER'] } })
  defer(t, () => cluster.stop())
  const now = Math.floor(Date.now() / 1000)

  const conn = await rawConnection(cluster.port)
  defer(t, () => conn.destroy())
  conn.send(handshake('OAUTHBEARER'))
  assert.deepEqual(parseHandshake(await conn.readFrame()), { errorCode: 0, mechanisms: ['OAUTHBEARER'] })
  conn.send(authenticate(oauthToken(unsecuredJwt({ sub: 'carol', exp: now - 10 }))))
  const challenge = await conn.readFrame()
  assert.equal(parseAuthenticate(challenge).errorCode, 0)
  assert.ok(challenge.includes(Buffer.from('{"status":"invalid_token"}')))
  // The client acknowledges the error with a lone 0x01.
  conn.send(authenticate(Buffer.from([1])))
  const failed = parseAuthenticate(await conn.readFrame())
  assert.equal(failed.errorCode, SASL_AUTHENTICATION_FAILED)
  assert.equal(failed.errorMessage, '{"status":"invalid_token"}')
  await conn.closed()

  // A valid token's lifetime is the session's.
  const valid = await rawConnection(cluster.port)
  defer(t, () => valid.destroy())
  valid.send(handshake('OAUTHBEARER'))
  await valid.readFrame()
  valid.send(authenticate(oauthToken(unsecuredJwt({ sub: 'carol', exp: now + 60 }))))
  const done = parseAuthenticate(await valid.readFrame())
  assert.equal(done.errorCode, 0)
  assert.ok(done.sessionLifetimeMs > 50_000 && done.sessionLifetimeMs <= 60_000, `${done.sessionLifetimeMs}`)
})
