#!/usr/bin/env node
'use strict'

// Runs a kafka-emulator broker in the foreground until SIGINT/SIGTERM.

const { parseArgs } = require('node:util')
const path = require('node:path')

const USAGE = `Usage: kafka-emulator [options]

Runs a Kafka broker on this machine until interrupted (Ctrl-C, SIGTERM).

Options:
  --port <port>             port to listen on; 0 picks a free one (default 9092)
  --host <host>             address to bind and advertise (default 127.0.0.1)
  --num-partitions <n>      partitions of auto-created topics (default 1)
  --no-auto-create-topics   refuse unknown topics instead of creating them
  -h, --help                show this help

Prints "kafka-emulator listening on <host>:<port>" once clients can connect.`

function fail(message) {
  process.stderr.write(`kafka-emulator: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

function integer(name, text, min, max) {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    fail(`--${name} must be an integer from ${min} to ${max}, not "${text}"`)
  }
  return Number(text)
}

function parseOptions(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'num-partitions': { type: 'string' },
        'no-auto-create-topics': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (err) {
    fail(err.message)
  }
  const { values } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const options = {
    port: values.port === undefined ? 9092 : integer('port', values.port, 0, 65535),
    autoCreateTopics: !values['no-auto-create-topics'],
  }
  if (values.host !== undefined) options.host = values.host
  if (values['num-partitions'] !== undefined) {
    options.numPartitions = integer('num-partitions', values['num-partitions'], 1, 1_000_000)
  }
  return options
}

async function main() {
  const options = parseOptions(process.argv.slice(2))
  const { startKafka } = require(path.join(__dirname, '..'))
  let kafka
  try {
    kafka = await startKafka(options)
  } catch (err) {
    if (err.code === 'EADDRINUSE') {
      process.stderr.write(
        `kafka-emulator: port ${options.port} is already in use; stop whatever listens there or pass --port <another port> (0 picks a free one)\n`,
      )
    } else {
      process.stderr.write(`kafka-emulator: cannot start: ${err.message}\n`)
    }
    process.exit(1)
  }
  kafka.ref()

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
}

main().catch((err) => {
  process.stderr.write(`kafka-emulator: ${err.stack || err}\n`)
  process.exit(1)
})
