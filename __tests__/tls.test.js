'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

// TLS listeners (SSL, SASL_SSL): kafkajs trusting the generated CA, mutual TLS with client
// certificates, the caller's own certificates, and SASL over TLS.

if (require('./helpers').emulatorOnlyFile('TLS listeners are the startKafka tls option')) return

const { test } = require('node:test')
const assert = require('node:assert/strict')
const tls = require('node:tls')
const { startKafka, client, defer, startConsumer, uniqueName, withDeadline, DEADLINE_MS } =
  require('./helpers')

/** Produces one message and reads it back with a consumer group. */
async function roundTrip(t, kafka) {
  const topic = uniqueName('tls')
  const producer = kafka.producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({ topic, messages: [{ value: 'encrypted' }] })
  const consumer = await startConsumer(kafka, { topics: [topic] })
  defer(t, () => consumer.disconnect())
  const [record] = await consumer.waitFor(1)
  assert.equal(record.value.toString(), 'encrypted')
}

/** Whether a TLS handshake with these options completes (client-side verification included). */
function handshake(port, options) {
  return withDeadline(
    new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () =>
        resolve({ ok: true, protocol: socket.getProtocol(), socket }),
      )
      socket.once('error', (error) => resolve({ ok: false, error }))
    }),
    DEADLINE_MS,
    'a TLS handshake',
  )
}

test('tls: true serves SSL with a generated CA that kafkajs can trust', async (t) => {
  const kafka = await startKafka({ tls: true })
  defer(t, () => kafka.stop())
  assert.deepEqual(
    kafka.listeners.map((l) => l.security),
    ['SSL'],
  )
  assert.match(kafka.tls.ca, /^-----BEGIN CERTIFICATE-----/)
  assert.equal(kafka.tls.requestCert, false)
  await roundTrip(t, client(kafka, { ssl: { ca: [kafka.tls.ca] } }))
})

test('a client that does not trust the CA cannot connect', async (t) => {
  const kafka = await startKafka({ tls: true })
  defer(t, () => kafka.stop())
  const other = await startKafka({ tls: true })
  defer(t, () => other.stop())
  const result = await handshake(kafka.port, { ca: [other.tls.ca] })
  assert.equal(result.ok, false)
  assert.match(String(result.error), /self.signed|unable to verify|certificate/i)
  const trusted = await handshake(kafka.port, { ca: [kafka.tls.ca] })
  assert.equal(trusted.ok, true)
  assert.match(trusted.protocol, /^TLSv1\.[23]$/)
  trusted.socket.destroy()
})

test('a PLAINTEXT cluster has no tls', async (t) => {
  const kafka = await startKafka()
  defer(t, () => kafka.stop())
  assert.equal(kafka.tls, null)
})

test('mutual TLS: a client with a certificate from the CA is served, others are refused', async (t) => {
  const kafka = await startKafka({ tls: { requestCert: true } })
  defer(t, () => kafka.stop())
  assert.equal(kafka.tls.requestCert, true)
  const alice = kafka.tls.issueClientCertificate('alice')
  assert.match(alice.cert, /BEGIN CERTIFICATE/)
  assert.match(alice.key, /PRIVATE KEY/)
  await roundTrip(
    t,
    client(kafka, { ssl: { ca: [kafka.tls.ca], cert: alice.cert, key: alice.key } }),
  )

  // No certificate: refused.
  const anonymous = client(kafka, {
    ssl: { ca: [kafka.tls.ca] },
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin()
  await assert.rejects(anonymous.connect())

  // A certificate from another CA: refused.
  const stranger = await startKafka({ tls: true })
  defer(t, () => stranger.stop())
  const mallory = stranger.tls.issueClientCertificate('mallory')
  const forged = client(kafka, {
    ssl: { ca: [kafka.tls.ca], cert: mallory.cert, key: mallory.key },
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin()
  await assert.rejects(forged.connect())

  // The good client still works afterwards.
  const admin = client(kafka, { ssl: { ca: [kafka.tls.ca], cert: alice.cert, key: alice.key } }).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  assert.ok((await admin.describeCluster()).brokers.length === 1)
})

test("the caller's certificate, key and CA serve TLS and check client certificates", async (t) => {
  // A CA to sign with: one a generated cluster holds.
  const authority = await startKafka({ tls: true })
  defer(t, () => authority.stop())
  const server = authority.tls.issueClientCertificate('broker', ['127.0.0.1', 'localhost'])
  const bob = authority.tls.issueClientCertificate('bob')

  const kafka = await startKafka({
    tls: { cert: server.cert, key: server.key, ca: authority.tls.ca, requestCert: true },
  })
  defer(t, () => kafka.stop())
  assert.equal(kafka.tls.ca, authority.tls.ca)
  assert.throws(() => kafka.tls.issueClientCertificate('x'), { code: 'ERR_KAFKA_NO_CA' })
  await roundTrip(
    t,
    client(kafka, { ssl: { ca: [authority.tls.ca], cert: bob.cert, key: bob.key } }),
  )
})

test('SASL over TLS: SASL_SSL listeners authenticate encrypted connections', async (t) => {
  const kafka = await startKafka({
    tls: true,
    sasl: { users: [{ username: 'alice', password: 'alice-secret' }] },
  })
  defer(t, () => kafka.stop())
  assert.deepEqual(
    kafka.listeners.map((l) => l.security),
    ['SASL_SSL'],
  )
  for (const mechanism of ['plain', 'scram-sha-512']) {
    await roundTrip(
      t,
      client(kafka, {
        ssl: { ca: [kafka.tls.ca] },
        sasl: { mechanism, username: 'alice', password: 'alice-secret' },
      }),
    )
  }
  const wrong = client(kafka, {
    ssl: { ca: [kafka.tls.ca] },
    sasl: { mechanism: 'scram-sha-256', username: 'alice', password: 'wrong' },
    retry: { retries: 0 },
  }).admin()
  await assert.rejects(wrong.connect(), { name: 'KafkaJSSASLAuthenticationError' })
})

test('explicit SSL and SASL_SSL listeners use the cluster settings beside a PLAINTEXT one', async (t) => {
  const kafka = await startKafka({
    brokers: [
      {
        id: 0,
        listeners: [
          { security: 'PLAINTEXT' },
          { name: 'SECURE', security: 'SSL' },
          { security: 'SASL_SSL' },
        ],
      },
    ],
    tls: true,
    sasl: { users: [{ username: 'alice', password: 'alice-secret' }] },
  })
  defer(t, () => kafka.stop())
  const [plain, secure, saslSsl] = kafka.listeners
  assert.deepEqual(
    [plain, secure, saslSsl].map((l) => [l.name, l.security]),
    [
      ['PLAINTEXT', 'PLAINTEXT'],
      ['SECURE', 'SSL'],
      ['SASL_SSL', 'SASL_SSL'],
    ],
  )
  await roundTrip(t, client({ brokers: [`${plain.host}:${plain.port}`] }))
  await roundTrip(
    t,
    client({ brokers: [`${secure.host}:${secure.port}`] }, { ssl: { ca: [kafka.tls.ca] } }),
  )
  await roundTrip(
    t,
    client(
      { brokers: [`${saslSsl.host}:${saslSsl.port}`] },
      {
        ssl: { ca: [kafka.tls.ca] },
        sasl: { mechanism: 'scram-sha-256', username: 'alice', password: 'alice-secret' },
      },
    ),
  )
})

test('an SSL listener without tls settings is refused at start', () => {
  assert.throws(() => startKafka({ brokers: [{ id: 0, listeners: [{ security: 'SSL' }] }] }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /uses SSL, which needs TLS settings: start the cluster with the tls option/,
  })
  assert.throws(() => startKafka({ tls: { cert: 'nope', key: 'nope' } }), {
    code: 'ERR_INVALID_ARG_VALUE',
  })
  assert.throws(() => startKafka({ tls: { cert: 'x' } }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /tls.cert and tls.key go together/,
  })
})

// --- the Java client (kafka-clients 4.1, conformance/java) --------------------------------------
// It checks what kafkajs does not: SaslAuthenticate v2, the SCRAM server signature, and its own
// TLS stack with PEM trust and key stores.

const { prepareJavaDriver, clientPropertiesFile, runJavaDriver } = require('./java')

const javaMissing = prepareJavaDriver('SecurityDriver')
// Without a JVM these skip locally; CI must have one.
const skipJava = javaMissing && !process.env.CI ? `Java client unavailable (${javaMissing})` : false

/** Runs SecurityDriver against `bootstrap` with these client properties; its JSON verdict. */
async function javaRoundTrip(t, bootstrap, properties) {
  if (javaMissing) assert.fail(`the Java client is needed (CI=true): ${javaMissing}`)
  const file = clientPropertiesFile(t, properties)
  const { stdout, stderr } = await runJavaDriver(t, 'SecurityDriver', [bootstrap, uniqueName('java'), file])
  const line = stdout.trim().split('\n').pop()
  try {
    return JSON.parse(line)
  } catch {
    assert.fail(`no verdict from the Java client: ${stdout}\n${stderr}`)
  }
}

const jaas = (module, username, password) =>
  `org.apache.kafka.common.security.${module} required username="${username}" password="${password}";`

test('the Java client authenticates with SCRAM-SHA-512 over TLS (SASL_SSL)', { skip: skipJava }, async (t) => {
  const kafka = await startKafka({
    tls: true,
    sasl: { users: [{ username: 'alice', password: 'alice-secret' }] },
  })
  defer(t, () => kafka.stop())
  const verdict = await javaRoundTrip(t, kafka.brokers[0], {
    'security.protocol': 'SASL_SSL',
    'sasl.mechanism': 'SCRAM-SHA-512',
    'sasl.jaas.config': jaas('scram.ScramLoginModule', 'alice', 'alice-secret'),
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.certificates': kafka.tls.ca,
  })
  assert.deepEqual(verdict, { ok: true, records: ['a', 'b', 'c'] })
  // The Java client speaks the newest versions.
  const versions = kafka
    .requests()
    .filter((r) => r.api === 'SaslAuthenticate')
    .map((r) => r.version)
  assert.ok(versions.includes(2), `SaslAuthenticate versions ${versions}`)
})

test('the Java client is told why a wrong PLAIN password fails', { skip: skipJava }, async (t) => {
  const kafka = await startKafka({ sasl: { users: [{ username: 'alice', password: 'alice-secret' }] } })
  defer(t, () => kafka.stop())
  const verdict = await javaRoundTrip(t, kafka.brokers[0], {
    'security.protocol': 'SASL_PLAINTEXT',
    'sasl.mechanism': 'PLAIN',
    'sasl.jaas.config': jaas('plain.PlainLoginModule', 'alice', 'wrong'),
  })
  assert.equal(verdict.ok, false)
  assert.equal(verdict.type, 'SaslAuthenticationException')
  assert.match(verdict.message, /Authentication failed: Invalid username or password/)
})

test('the Java client presents a client certificate from PEM (mutual TLS)', { skip: skipJava }, async (t) => {
  const kafka = await startKafka({ tls: { requestCert: true } })
  defer(t, () => kafka.stop())
  const alice = kafka.tls.issueClientCertificate('alice')
  const verdict = await javaRoundTrip(t, kafka.brokers[0], {
    'security.protocol': 'SSL',
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.certificates': kafka.tls.ca,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.certificate.chain': alice.cert,
    'ssl.keystore.key': alice.key,
  })
  assert.deepEqual(verdict, { ok: true, records: ['a', 'b', 'c'] })
})

test('the Java client authenticates with OAUTHBEARER and its unsecured login module', { skip: skipJava }, async (t) => {
  const kafka = await startKafka({ sasl: { mechanisms: ['OAUTHBEARER'] } })
  defer(t, () => kafka.stop())
  const verdict = await javaRoundTrip(t, kafka.brokers[0], {
    'security.protocol': 'SASL_PLAINTEXT',
    'sasl.mechanism': 'OAUTHBEARER',
    'sasl.jaas.config':
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="carol";',
  })
  assert.deepEqual(verdict, { ok: true, records: ['a', 'b', 'c'] })
})
