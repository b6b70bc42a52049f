#!/usr/bin/env node
'use strict'

// Runs a kafka-emulator broker in the foreground until SIGINT/SIGTERM.

const { parseArgs } = require('node:util')
const fs = require('node:fs')
const path = require('node:path')
const { StartOptions, checkValue, closest, CODE } = require('../lib/options.js')

const USAGE = `Usage: kafka-emulator [options]

Runs a Kafka broker on this machine until interrupted (Ctrl-C, SIGTERM).

Options:
  --port <port>             port to listen on; 0 picks a free one (default 9092)
  --host <host>             address to bind and advertise (default 127.0.0.1)
  --num-partitions <n>      partitions of auto-created topics (default 1)
  --no-auto-create-topics   refuse unknown topics instead of creating them
  --log-level <level>       off, error, warn, info, debug or trace (default: the
                            KAFKA_EMULATOR_LOG environment variable, else warn)
  --console-port <port>     port of the web console (default: a free one)
  --console-host <host>     address the console binds (default 127.0.0.1; another
                            address lets whoever reaches it change the cluster)
  --console-principal <principal>
                            with --authorization-super-user, the principal the console
                            acts as (default: it acts as a super user)
  --no-console              serve no web console
  -h, --help                show this help

SASL (the listener becomes SASL_PLAINTEXT, or SASL_SSL with TLS):
  --sasl-user <name:password>
                            a user that may log in with PLAIN and SCRAM; repeatable
  --sasl-mechanisms <list>  sasl.enabled.mechanisms, comma-separated, of PLAIN,
                            SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (default: the first three)

TLS (the listener becomes SSL, or SASL_SSL with SASL):
  --tls                     generate a CA and a server certificate for <host>; the CA
                            (PEM) is printed after the "listening on" line
  --tls-ca-out <file>       write the CA certificate (PEM) clients should trust to <file>
                            instead of printing it
  --tls-cert <file>         the server's own certificate chain, PEM (with --tls-key)
  --tls-key <file>          its private key, PEM
  --tls-ca <file>           the CA (PEM) that signs client certificates (with --tls-cert)
  --tls-request-cert        require clients to present a certificate signed by --tls-ca
                            (ssl.client.auth=required); their principal is User:<subject>

Authorization (enforce ACLs, as Kafka's StandardAuthorizer does):
  --authorization-super-user <principal>
                            super.users, e.g. User:admin; repeatable
  --allow-everyone-if-no-acl-found
                            allow.everyone.if.no.acl.found=true

Delegation tokens (KIP-48, for SASL clients):
  --delegation-token-secret-key <key>
                            delegation.token.secret.key: enables delegation tokens

Prints "kafka-emulator listening on <host>:<port>" once clients can connect, then
"console: <url>" (the web console) unless --no-console.`

function fail(message) {
  process.stderr.write(`kafka-emulator: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

/**
 * The value of `--<name>` checked against `type`, the startKafka option's (lib/options.js), so
 * the flag and the option refuse the same values with the same words.
 */
function checked(name, text, type) {
  const value = /^-?\d+$/.test(text) ? Number(text) : text
  try {
    checkValue(type, value, `--${name}`)
  } catch (err) {
    fail(err.message)
  }
  return value
}

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'num-partitions': { type: 'string' },
  'no-auto-create-topics': { type: 'boolean' },
  'log-level': { type: 'string' },
  'sasl-user': { type: 'string', multiple: true },
  'sasl-mechanisms': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca-out': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-request-cert': { type: 'boolean' },
  'authorization-super-user': { type: 'string', multiple: true },
  'allow-everyone-if-no-acl-found': { type: 'boolean' },
  'delegation-token-secret-key': { type: 'string' },
  'console-port': { type: 'string' },
  'console-host': { type: 'string' },
  'console-principal': { type: 'string' },
  'no-console': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

/** parseArgs' complaint about `argv` in one line, naming the flag (and the one meant, for a typo). */
function parseError(err, argv) {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1]
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const meant = closest(flag.replace(/^--?/, ''), Object.keys(FLAGS))
    return `${flag} is not an option${meant ? ` (did you mean --${meant}?)` : ''}`
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    if (FLAGS[flag.slice(2)]?.type === 'boolean') return `${flag} takes no value`
    // parseArgs takes `--num-partitions -3` for two flags.
    const next = argv[argv.indexOf(flag) + 1]
    return next?.startsWith('-') && /ambiguous/.test(err.message)
      ? `${flag} needs a value; give one that starts with a dash as ${flag}=${next}`
      : `${flag} needs a value`
  }
  return err.message.split('\n')[0]
}

function parseOptions(argv) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false })
  } catch (err) {
    fail(parseError(err, argv))
  }
  const { values } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const options = {
    port: values.port === undefined ? 9092 : checked('port', values.port, StartOptions.fields.port),
    autoCreateTopics: !values['no-auto-create-topics'],
  }
  if (values.host !== undefined) options.host = values.host
  if (values['num-partitions'] !== undefined) {
    options.numPartitions = checked('num-partitions', values['num-partitions'], StartOptions.fields.numPartitions)
  }
  if (values['log-level'] !== undefined) {
    options.logLevel = checked('log-level', values['log-level'], StartOptions.fields.logLevel)
  }
  const sasl = saslOptions(values)
  if (sasl) options.sasl = sasl
  const tls = tlsOptions(values)
  if (tls !== undefined) options.tls = tls
  const authorization = authorizationOptions(values)
  if (authorization) options.authorization = authorization
  const secretKey = values['delegation-token-secret-key']
  if (secretKey !== undefined) options.delegationTokens = { secretKey }
  const console = consoleOptions(values)
  if (console) options.console = console
  return { options, tlsCaOut: values['tls-ca-out'] }
}

function saslOptions(values) {
  const users = values['sasl-user'] || []
  const mechanismList = values['sasl-mechanisms']
  if (users.length === 0 && mechanismList === undefined) return null
  const sasl = {
    users: users.map((user) => {
      const colon = user.indexOf(':')
      if (colon <= 0) fail(`--sasl-user must be name:password, got ${JSON.stringify(user)}`)
      return { username: user.slice(0, colon), password: user.slice(colon + 1) }
    }),
  }
  if (mechanismList !== undefined) {
    sasl.mechanisms = mechanismList.split(',').map((m) => m.trim().toUpperCase())
    const mechanism = StartOptions.fields.sasl.fields.mechanisms.item
    for (const name of sasl.mechanisms) checked('sasl-mechanisms', name, mechanism)
  }
  return sasl
}

function readPem(name, file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (err) {
    return fail(`cannot read --${name} ${file}: ${err.message}`)
  }
}

function tlsOptions(values) {
  const cert = values['tls-cert']
  const key = values['tls-key']
  const ca = values['tls-ca']
  const requestCert = values['tls-request-cert']
  const own = cert !== undefined || key !== undefined || ca !== undefined
  if (values.tls && own) fail('--tls generates a certificate; give either it or --tls-cert and --tls-key')
  if (own && (cert === undefined || key === undefined)) fail('--tls-cert and --tls-key go together')
  // With a generated CA nobody outside this process could get a client certificate.
  if (requestCert && ca === undefined) fail('--tls-request-cert needs --tls-cert, --tls-key and --tls-ca')
  if (values['tls-ca-out'] !== undefined && !values.tls && ca === undefined) {
    fail('--tls-ca-out needs --tls (or --tls-ca, whose certificate it copies)')
  }
  if (values.tls) return true
  if (!own) return undefined
  const tls = { cert: readPem('tls-cert', cert), key: readPem('tls-key', key) }
  if (ca !== undefined) tls.ca = readPem('tls-ca', ca)
  if (requestCert) tls.requestCert = true
  return tls
}

function authorizationOptions(values) {
  const superUsers = values['authorization-super-user'] || []
  const allowEveryone = values['allow-everyone-if-no-acl-found']
  if (superUsers.length === 0 && !allowEveryone) return null
  for (const principal of superUsers) {
    if (!/^[^:]+:.+/.test(principal)) {
      fail(`--authorization-super-user must be a principal such as User:admin, got ${JSON.stringify(principal)}`)
    }
  }
  return { superUsers, allowEveryoneIfNoAclFound: Boolean(allowEveryone) }
}

function consoleOptions(values) {
  const given = ['console-port', 'console-host', 'console-principal'].some((flag) => values[flag] !== undefined)
  if (values['no-console']) {
    if (given) fail('--no-console serves no console; leave out the other --console flags')
    return null
  }
  const fields = StartOptions.fields.console.types[1].fields
  const console = {}
  if (values['console-port'] !== undefined) console.port = checked('console-port', values['console-port'], fields.port)
  if (values['console-host'] !== undefined) console.host = values['console-host']
  if (values['console-principal'] !== undefined) console.principal = values['console-principal']
  return console
}

async function main() {
  const { options, tlsCaOut } = parseOptions(process.argv.slice(2))
  const { startKafka } = require(path.join(__dirname, '..'))
  let kafka
  try {
    kafka = await startKafka(options)
  } catch (err) {
    // The flags were checked above; this is for options the CLI itself got wrong.
    if (err.code === CODE) fail(err.message)
    if (err.code === 'EADDRINUSE' && /console/.test(err.message)) {
      process.stderr.write(
        `kafka-emulator: the console's port ${options.console.port} is already in use; pass --console-port <another port> (0 picks a free one) or --no-console\n`,
      )
    } else if (err.code === 'EADDRINUSE') {
      process.stderr.write(
        `kafka-emulator: port ${options.port} is already in use; stop whatever listens there or pass --port <another port> (0 picks a free one)\n`,
      )
    } else {
      process.stderr.write(`kafka-emulator: cannot start: ${err.message}\n`)
    }
    process.exit(1)
  }
  kafka.ref()

  if (tlsCaOut !== undefined) {
    try {
      fs.writeFileSync(tlsCaOut, kafka.tls.ca)
    } catch (err) {
      process.stderr.write(`kafka-emulator: cannot write --tls-ca-out ${tlsCaOut}: ${err.message}\n`)
      await kafka.stop()
      process.exit(1)
    }
  }

  let stopping = false
  const shutdown = async (signal) => {
    if (stopping) {
      process.stderr.write(`kafka-emulator: ${signal} again, exiting without waiting\n`)
      process.exit(1)
    }
    stopping = true
    await kafka.stop()
    process.exit(0)
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)

  process.stdout.write(`kafka-emulator listening on ${kafka.brokers[0]}\n`)
  if (kafka.consoleUrl) process.stdout.write(`console: ${kafka.consoleUrl}\n`)
  if (options.tls === true && tlsCaOut === undefined) {
    process.stdout.write(`TLS: clients should trust this CA certificate:\n${kafka.tls.ca}`)
  }
}

main().catch((err) => {
  process.stderr.write(`kafka-emulator: ${err.stack || err}\n`)
  process.exit(1)
})
