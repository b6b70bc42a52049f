#!/usr/bin/env node
'use strict'

// Waits until a Kafka broker answers on HOST:PORT: an ApiVersions request gets error 0, a
// Metadata request lists at least one broker (a KRaft broker opens its listener only once it has
// caught up with the metadata log and been unfenced, so this is when clients can use it), and
// FindCoordinator for a group gets error 0. Kafka creates __consumer_offsets (50 partitions) on
// the first FindCoordinator and answers COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR until it is
// loaded; doing that here keeps the first test's group from racing it.
// Polls until DEADLINE_MS passes; gives up early if process PID (optional) has exited.
// Usage: node ready.js HOST PORT DEADLINE_MS [PID]. Exit 0 when ready, 1 otherwise.
// Raw frames on purpose: this runs before `npm install` may have brought any Kafka client.

const net = require('node:net')

const [host, portArg, deadlineArg, pidArg] = process.argv.slice(2)
const port = Number(portArg)
const deadline = Date.now() + Number(deadlineArg || 60_000)
const pid = pidArg ? Number(pidArg) : null

const API_VERSIONS = 18
const METADATA = 3
const FIND_COORDINATOR = 10

function request(apiKey, apiVersion, correlationId, body) {
  const clientId = Buffer.from('apache-kafka-ready')
  const header = Buffer.alloc(2 + 2 + 4 + 2)
  header.writeInt16BE(apiKey, 0)
  header.writeInt16BE(apiVersion, 2)
  header.writeInt32BE(correlationId, 4)
  header.writeInt16BE(clientId.length, 8)
  const size = Buffer.alloc(4)
  size.writeInt32BE(header.length + clientId.length + body.length, 0)
  return Buffer.concat([size, header, clientId, body])
}

/** One connection: ApiVersions v0, Metadata v4 (all topics), FindCoordinator v0; true if all say ready. */
function probe() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    let buffered = Buffer.alloc(0)
    let step = 0
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2_000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
    socket.on('connect', () => socket.write(request(API_VERSIONS, 0, 1, Buffer.alloc(0))))
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < 4) return
      const size = buffered.readInt32BE(0)
      if (buffered.length < 4 + size) return
      const frame = buffered.subarray(4, 4 + size)
      buffered = buffered.subarray(4 + size)
      if (step === 0) {
        // correlation id, then error_code
        if (frame.readInt32BE(0) !== 1 || frame.readInt16BE(4) !== 0) return done(false)
        step = 1
        // topics: null (-1) = all; allow_auto_topic_creation: false
        const body = Buffer.alloc(5)
        body.writeInt32BE(-1, 0)
        socket.write(request(METADATA, 4, 2, body))
      } else if (step === 1) {
        // correlation id, throttle_time_ms, then the brokers array's length
        if (frame.readInt32BE(0) !== 2 || frame.readInt32BE(8) < 1) return done(false)
        step = 2
        // FindCoordinator v0: the group id
        const group = Buffer.from('apache-kafka-ready')
        const body = Buffer.alloc(2)
        body.writeInt16BE(group.length, 0)
        socket.write(request(FIND_COORDINATOR, 0, 3, Buffer.concat([body, group])))
      } else {
        // correlation id, then error_code
        done(frame.readInt32BE(0) === 3 && frame.readInt16BE(4) === 0)
      }
    })
  })
}

function alive() {
  if (pid === null) return true
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function main() {
  while (Date.now() < deadline) {
    if (!alive()) {
      console.error(`process ${pid} exited before the broker on ${host}:${port} answered`)
      process.exit(1)
    }
    if (await probe()) process.exit(0)
    await new Promise((r) => setTimeout(r, 250))
  }
  console.error(`no answer from a broker on ${host}:${port} before the deadline`)
  process.exit(1)
}

main()
