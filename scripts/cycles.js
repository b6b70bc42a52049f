#!/usr/bin/env node
'use strict'

// startKafka/stop cycles in one process, to show they leave nothing behind: each cycle starts a
// 3-broker cluster, produces to it, opens a connection to every broker (left open across stop()),
// then stops it. Prints one JSON object: the process's RSS, threads (/proc/self/status) and open
// file descriptors (/proc/self/fd) after a warm-up and at the end, sampled every `--every`
// cycles, and how long the cycles took. Linux only.
//
// Each figure is taken "settled": after a full garbage collection and a turn of the event loop,
// because a stopped cluster's Kafka object keeps its runtime's handle, and with it 3 descriptors
// (the I/O driver's epoll and eventfd), until it is collected. `fdsUnsettled` is the count
// before that.
//
//   node scripts/cycles.js [--cycles 1000] [--warmup 20] [--every 100]

const fs = require('node:fs')
const net = require('node:net')
const v8 = require('node:v8')
const vm = require('node:vm')
const { startKafka } = require('..')

function resources() {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))[1])
  return {
    rssMb: Math.round(field('VmRSS') / 102.4) / 10,
    threads: field('Threads'),
    fds: fs.readdirSync('/proc/self/fd').length,
  }
}

/** An ApiVersions v0 request: the connection is then one the broker has served. */
function apiVersions(correlationId) {
  const clientId = Buffer.from('cycles')
  const body = Buffer.alloc(10 + clientId.length)
  body.writeInt16BE(18, 0)
  body.writeInt16BE(0, 2)
  body.writeInt32BE(correlationId, 4)
  body.writeInt16BE(clientId.length, 8)
  clientId.copy(body, 10)
  const size = Buffer.alloc(4)
  size.writeInt32BE(body.length)
  return Buffer.concat([size, body])
}

/** Connects, gets an ApiVersions answer, and resolves with the socket and a promise of its close. */
function connectServed(address) {
  const [host, port] = address.split(':')
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port) })
    const closed = new Promise((done) => socket.once('close', done))
    socket.once('error', reject)
    socket.once('connect', () => socket.write(apiVersions(1)))
    socket.once('data', () => {
      socket.removeListener('error', reject)
      socket.on('error', () => {}) // the reset stop() gives it
      resolve({ socket, closed })
    })
  })
}

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/** Collects garbage, lets finalizers run, and reads the figures. */
async function settled() {
  const fdsUnsettled = fs.readdirSync('/proc/self/fd').length
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  return { ...resources(), fdsUnsettled }
}

async function cycle(i) {
  const kafka = await startKafka({ brokers: 3 })
  kafka.produce('cycles', [{ value: `cycle ${i}` }])
  const connections = await Promise.all(kafka.brokers.map(connectServed))
  await kafka.stop()
  // The broker closed them; wait for this side to see it, then free them.
  await Promise.all(connections.map((c) => c.closed))
}

async function runCycles({ cycles = 1000, warmup = 20, every = 100 } = {}) {
  for (let i = 0; i < warmup; i++) await cycle(i)
  const before = await settled()
  const samples = []
  const started = process.hrtime.bigint()
  for (let i = 0; i < cycles; i++) {
    await cycle(i)
    if ((i + 1) % every === 0) samples.push({ cycle: i + 1, ...(await settled()) })
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  const after = await settled()
  return { cycles, warmup, totalMs: Math.round(ms), msPerCycle: Math.round((ms / cycles) * 10) / 10, before, after, samples }
}

if (require.main === module) {
  const args = process.argv.slice(2)
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`)
    return i < 0 ? fallback : Number(args[i + 1])
  }
  runCycles({ cycles: option('cycles', 1000), warmup: option('warmup', 20), every: option('every', 100) }).then(
    (result) => console.log(JSON.stringify(result)),
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}

module.exports = { runCycles }
