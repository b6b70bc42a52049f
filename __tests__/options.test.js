'use strict'

// Wrong options fail at once with a TypeError naming where they are wrong (lib/options.js),
// from startKafka, from every control method and from the CLI; right ones still work.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { startKafka, emulatorOnlyFile, client, defer, uniqueName, withDeadline, PACKAGE_DIR, DEADLINE_MS } = require('./helpers')

if (emulatorOnlyFile('startKafka options and the control methods are the emulator\'s')) return

const { Kafka } = require(PACKAGE_DIR)
const CODE = 'ERR_KAFKA_EMULATOR_INVALID_OPTION'

/** assert.throws for the checks' error: a TypeError with CODE and exactly `message`. */
function refuses(fn, message) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof TypeError, `${err.name}: ${err.message}`)
    assert.equal(err.code, CODE)
    assert.equal(err.message, message)
    return true
  })
}

test('a misspelt option is named, with the option meant, where it was passed', () => {
  refuses(() => startKafka({ prot: 9092 }), 'options.prot is not an option (did you mean port?)')
  refuses(() => startKafka({ 'num.partitions': 3 }), 'options["num.partitions"] is not an option (did you mean numPartitions?)')
  assert.throws(
    () => require(PACKAGE_DIR).startKafka({ prot: 9092 }),
    (err) => /options\.test\.js/.test(err.stack.split('\n')[1]),
    'the stack starts at the call',
  )
})

test('a misspelt key deep inside the options is named by its path', () => {
  refuses(
    () => startKafka({ sasl: { users: [{ username: 'alice', pasword: 'secret' }] } }),
    'options.sasl.users[0].pasword is not an option (did you mean password?)',
  )
  refuses(() => startKafka({ tls: { cret: 'PEM' } }), 'options.tls.cret is not an option (did you mean cert?)')
  refuses(
    () => startKafka({ brokers: [{ id: 0 }, { id: 1, listeners: [{ prot: 0 }] }] }),
    'options.brokers[1].listeners[0].prot is not an option (did you mean port?)',
  )
})

test('a value of the wrong type or out of range says what was expected and what came', () => {
  refuses(() => startKafka({ port: 'x' }), 'options.port must be an integer 0-65535, got "x"')
  refuses(() => startKafka({ numPartitions: -3 }), 'options.numPartitions must be an integer >= 1, got -3')
  refuses(() => startKafka({ numPartitions: 1.5 }), 'options.numPartitions must be an integer >= 1, got 1.5')
  refuses(() => startKafka(70000), 'options must be a port (an integer 0-65535), got 70000')
  refuses(() => startKafka({ tls: 'yes' }), 'options.tls must be a boolean or an object, got "yes"')
  refuses(() => startKafka({ host: null }), 'options.host must be a string, got null')
  refuses(() => startKafka({ sasl: { users: [{ password: 'secret' }] } }), 'options.sasl.users[0].username is required: a string')
  refuses(
    () => startKafka({ sasl: { mechanisms: ['SCRAM-SHA256'] } }),
    'options.sasl.mechanisms[0] must be one of "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", got "SCRAM-SHA256" (did you mean "SCRAM-SHA-256"?)',
  )
  refuses(
    () => startKafka({ logLevel: 'verbose' }),
    'options.logLevel must be one of "error", "warn", "info", "debug", "trace", "off", got "verbose"',
  )
  refuses(() => startKafka({ log: 'console' }), 'options.log must be a function, got "console"')
})

test('a control method names itself and the argument that is wrong', async (t) => {
  const kafka = await startKafka()
  defer(t, () => kafka.stop())
  refuses(() => kafka.failNext({ apii: 'Produce', error: 'NOT_LEADER_OR_FOLLOWER' }), 'kafka.failNext: options.apii is not an option (did you mean api?)')
  refuses(() => kafka.failNext({ api: 'Produce', drop: 'reply' }), 'kafka.failNext: options.drop must be one of "request", "response", got "reply"')
  refuses(() => kafka.createTopic('t', { partitions: 0 }), 'kafka.createTopic: options.partitions must be an integer >= 1 or -1, got 0')
  refuses(() => kafka.createTopic('t', { configs: { 'retention.ms': 1000 } }), 'kafka.createTopic: options.configs["retention.ms"] must be a string, got 1000')
  refuses(() => kafka.produce('t', [{ value: 'a' }, { vlaue: 'b' }]), 'kafka.produce: messages[1].vlaue is not an option (did you mean value?)')
  refuses(() => kafka.messages('t', { fromOfset: 1 }), 'kafka.messages: options.fromOfset is not an option (did you mean fromOffset?)')
  refuses(() => kafka.delay({ api: 'Produce' }), 'kafka.delay: options.ms is required: a number 0-86400000')
  refuses(() => kafka.stopBroker('0'), 'kafka.stopBroker: brokerId must be an integer >= 0, got "0"')
  refuses(() => kafka.disconnect({ client: 'x' }), 'kafka.disconnect: options.client is not an option (did you mean clientId?)')
  refuses(() => kafka.reset({ force: true }), 'kafka.reset takes no arguments, got 1')
  refuses(
    () => kafka.createAcls([{ resourceType: 'TOPIK', resourceName: 't', principal: 'User:a', operation: 'READ', permissionType: 'ALLOW' }]),
    'kafka.createAcls: acls[0].resourceType must be one of "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER", got "TOPIK" (did you mean "TOPIC"?)',
  )
  refuses(() => kafka.failNext({ api: 'Produce', error: 1e6 }), 'kafka.failNext: options.error must be an integer -32768 to 32767, got 1000000')
  // A refused call does nothing: not even the first, valid, record was written.
  assert.throws(() => kafka.messages('t'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
})

test('the TLS side of the cluster checks its arguments too', async (t) => {
  const kafka = await startKafka({ tls: true })
  defer(t, () => kafka.stop())
  refuses(() => kafka.tls.issueClientCertificate(5), 'kafka.tls.issueClientCertificate: commonName must be a string, got 5')
  refuses(() => kafka.tls.issueClientCertificate('broker', 'localhost'), 'kafka.tls.issueClientCertificate: hosts must be an array, got "localhost"')
  assert.match(kafka.tls.issueClientCertificate('alice', ['localhost']).cert, /BEGIN CERTIFICATE/)
})

test('well-formed options the broker refuses keep their ERR_INVALID_ARG_VALUE', () => {
  assert.throws(() => startKafka({ authorization: { superUsers: ['admin'] } }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'super user admin is not a principal: write it as User:admin',
  })
})

test('valid options, logLevel and log included, start a broker kafkajs produces to', async (t) => {
  const kafka = await startKafka({
    port: 0,
    host: '127.0.0.1',
    numPartitions: 2,
    autoCreateTopics: true,
    defaultReplicationFactor: 1,
    groupMinSessionTimeoutMs: 100,
    logRetentionMs: -1,
    requestLogSize: 0,
    sasl: undefined,
    logLevel: 'warn',
    log: () => {},
  })
  defer(t, () => kafka.stop())
  assert.ok(kafka instanceof Kafka)

  const topic = uniqueName('options')
  kafka.createTopic(topic, { partitions: -1, replicationFactor: -1, configs: { 'cleanup.policy': 'delete' } })
  const producer = client(kafka).producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({ topic, messages: [{ key: 'k', value: 'checked' }] })

  const stored = kafka.messages(topic, { fromOffset: 0 })
  assert.deepEqual(stored.map((m) => m.value.toString()), ['checked'])
  assert.ok(stored[0].partition < 2, 'the topic took numPartitions partitions')
  kafka.produce(topic, [
    { key: Buffer.from('k'), value: null, headers: { h: 'v', skipped: undefined }, partition: 0, timestamp: '1700000000000' },
  ])
  assert.equal((await kafka.waitForMessages(topic, 2, { timeoutMs: DEADLINE_MS })).length, 2)
  kafka.produce(topic, [{ key: new Uint8Array([1]), value: new DataView(new ArrayBuffer(1)) }])
})

test('lib/options.js describes every option and method index.d.ts declares', () => {
  const { TYPES, KAFKA_METHODS, KAFKA_TLS_METHODS } = require(path.join(PACKAGE_DIR, 'lib', 'options.js'))
  const dts = fs.readFileSync(path.join(PACKAGE_DIR, 'index.d.ts'), 'utf8')
  const body = (declaration) => new RegExp(`^export ${declaration} \\{\\n([\\s\\S]*?)^\\}`, 'm').exec(dts)?.[1]
  for (const [name, type] of Object.entries(TYPES)) {
    const declared = body(`interface ${name}`)
    assert.ok(declared, `index.d.ts declares no interface ${name}`)
    const fields = [...declared.matchAll(/^ {2}(\w+)(\??):/gm)]
    assert.deepEqual(
      fields.map(([, field, optional]) => `${field}${optional}`).sort(),
      Object.entries(type.fields)
        .map(([field, t]) => `${field}${t.required ? '' : '?'}`)
        .sort(),
      name,
    )
  }
  for (const [cls, methods] of [['Kafka', KAFKA_METHODS], ['KafkaTls', KAFKA_TLS_METHODS]]) {
    const declared = [...body(`declare class ${cls}`).matchAll(/^ {2}(\w+)\((.*)\):/gm)]
    assert.deepEqual(
      Object.fromEntries(declared.map(([, method, params]) => [method, [...params.matchAll(/(\w+)(\??): /g)].map(([, p, o]) => `${p}${o}`)])),
      Object.fromEntries(Object.entries(methods).map(([method, params]) => [method, params.map(([p, t]) => `${p}${t.required ? '' : '?'}`)])),
      cls,
    )
  }
})

test('the CLI names a bad flag or value in one line and exits 2', async () => {
  const cli = path.join(PACKAGE_DIR, 'bin', 'kafka-emulator.js')
  const run = (args) =>
    withDeadline(
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
        let stderr = ''
        child.stderr.on('data', (d) => (stderr += d))
        child.once('error', reject)
        child.once('close', (exitCode) => resolve({ exitCode, firstLine: stderr.split('\n')[0] }))
      }),
      DEADLINE_MS,
      `kafka-emulator ${args.join(' ')} to exit`,
    )
  assert.deepEqual(await run(['--prot', '9092']), {
    exitCode: 2,
    firstLine: 'kafka-emulator: --prot is not an option (did you mean --port?)',
  })
  assert.deepEqual(await run(['--port', 'x']), {
    exitCode: 2,
    firstLine: 'kafka-emulator: --port must be an integer 0-65535, got "x"',
  })
  assert.deepEqual(await run(['--num-partitions=-3']), {
    exitCode: 2,
    firstLine: 'kafka-emulator: --num-partitions must be an integer >= 1, got -3',
  })
  assert.deepEqual(await run(['--num-partitions', '-3']), {
    exitCode: 2,
    firstLine: 'kafka-emulator: --num-partitions needs a value; give one that starts with a dash as --num-partitions=-3',
  })
})
