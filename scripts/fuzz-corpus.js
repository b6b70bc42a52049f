#!/usr/bin/env node
'use strict'
// Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/) from real client traffic: a proxy
// between kafkajs / @platformatic/kafka and a broker records every byte the clients send while
// they create topics, produce with every codec, consume in groups, commit, run a transaction and
// use the admin APIs.
//   session/  one file a connection: the client's length-prefixed frames, as sent
//   frame/    one file a request frame (no length prefix)
//   records/  one file a Produce partition's records field (record batches, each codec)
// Run: node scripts/fuzz-corpus.js   (needs the built addon; rewrites the three folders)

const net = require('node:net')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')
const zstd = require('@mongodb-js/zstd')
const { startKafka } = require('..')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: (encoder) => zstd.compress(encoder.buffer),
  decompress: (buffer) => zstd.decompress(buffer),
})

const CORPUS = path.join(__dirname, '..', 'fuzz', 'corpus')
/** A session seed longer than this is cut at a frame boundary: libFuzzer prefers small inputs. */
const MAX_SESSION_BYTES = 64 * 1024

function write(target, bytes) {
  const name = crypto.createHash('sha1').update(bytes).digest('hex')
  fs.writeFileSync(path.join(CORPUS, target, name), bytes)
}

/** Splits a client's byte stream into its frames (each without its length prefix). */
function frames(stream) {
  const out = []
  for (let at = 0; at + 4 <= stream.length; ) {
    const len = stream.readInt32BE(at)
    if (at + 4 + len > stream.length) break
    out.push(stream.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  return out
}

/** The records fields of a Produce request frame (api key 0), any version from 3 on. */
function produceRecords(frame) {
  if (frame.readInt16BE(0) !== 0) return []
  const version = frame.readInt16BE(2)
  const flexible = version >= 9
  let at = 8
  const varint = () => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = frame[at++]
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
  }
  const skipTags = () => {
    for (let n = varint(); n > 0; n--) {
      varint()
      at += varint()
    }
  }
  const string = () => {
    const len = flexible ? varint() - 1 : frame.readInt16BE((at += 2) - 2)
    if (len > 0) at += len
  }
  const count = () => (flexible ? varint() - 1 : frame.readInt32BE((at += 4) - 4))
  const clientIdLen = frame.readInt16BE(8)
  at = 10 + Math.max(clientIdLen, 0)
  if (flexible) skipTags()
  string() // transactional id
  at += 6 // acks, timeout
  const out = []
  for (let topics = count(); topics > 0; topics--) {
    string()
    for (let partitions = count(); partitions > 0; partitions--) {
      at += 4
      const len = count()
      if (len > 0) out.push(frame.subarray(at, at + len))
      at += Math.max(len, 0)
      if (flexible) skipTags()
    }
    if (flexible) skipTags()
  }
  return out
}

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** A recording proxy; the broker advertises its port, so every client connection passes it. */
async function proxy() {
  const captured = []
  let brokerPort
  const server = net.createServer((client) => {
    const chunks = []
    captured.push(chunks)
    const upstream = net.connect(brokerPort, '127.0.0.1')
    client.on('data', (chunk) => chunks.push(chunk))
    client.pipe(upstream).pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    captured,
    forwardTo: (port) => (brokerPort = port),
    close: () => server.close(),
  }
}

async function kafkajsTraffic(port) {
  const kafka = new Kafka({ clientId: 'fuzz-corpus', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    topics: [
      { topic: 'seeds', numPartitions: 2 },
      { topic: 'compacted', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ],
  })
  await admin.describeConfigs({ resources: [{ type: 2, name: 'seeds' }], includeSynonyms: true })
  await admin.alterConfigs({ resources: [{ type: 2, name: 'seeds', configEntries: [{ name: 'retention.ms', value: '600000' }] }] })
  await admin.createPartitions({ topicPartitions: [{ topic: 'seeds', count: 3 }] })
  await admin.fetchTopicMetadata({ topics: ['seeds'] })
  await admin.fetchTopicOffsets('seeds')

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD]) {
    await producer.send({
      topic: 'seeds',
      compression,
      messages: [
        { key: 'k', value: 'a value', headers: { h: 'v', empty: '' } },
        { key: null, value: JSON.stringify({ n: compression }) },
        { partition: 1, value: Buffer.alloc(300, compression) },
      ],
    })
  }
  await producer.send({ topic: 'compacted', messages: [{ key: 'a', value: '1' }, { key: 'a', value: null }] })
  await producer.disconnect()

  const txn = kafka.producer({ transactionalId: 'fuzz-txn', idempotent: true, maxInFlightRequests: 1 })
  await txn.connect()
  const transaction = await txn.transaction()
  await transaction.send({ topic: 'seeds', messages: [{ value: 'in a transaction' }] })
  await transaction.sendOffsets({ consumerGroupId: 'fuzz-group', topics: [{ topic: 'seeds', partitions: [{ partition: 0, offset: '1' }] }] })
  await transaction.commit()
  await txn.disconnect()

  const consumer = kafka.consumer({ groupId: 'fuzz-group', maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topic: 'seeds', fromBeginning: true })
  let seen = 0
  await new Promise((resolve, reject) => {
    consumer.run({ eachMessage: async () => { if (++seen >= 10) resolve() } }).catch(reject)
  })
  await consumer.disconnect()

  await admin.describeGroups(['fuzz-group'])
  await admin.listGroups()
  await admin.fetchOffsets({ groupId: 'fuzz-group', topics: ['seeds'] })
  await admin.resetOffsets({ groupId: 'fuzz-group', topic: 'seeds', earliest: true })
  await admin.deleteTopicRecords({ topic: 'seeds', partitions: [{ partition: 0, offset: '1' }] })
  await admin.createAcls({ acl: [{ resourceType: 2, resourceName: 'seeds', resourcePatternType: 3, principal: 'User:a', host: '*', operation: 3, permissionType: 3 }] }).catch(() => {})
  await admin.describeAcls({ resourceType: 1, resourcePatternType: 1, operation: 1, permissionType: 1 }).catch(() => {})
  await admin.deleteGroups(['fuzz-group'])
  await admin.deleteTopics({ topics: ['compacted'] })
  await admin.disconnect()
}

async function platformaticTraffic(port) {
  // Newer, flexible request versions than kafkajs sends (its snappy/lz4/zstd need optional
  // native modules; kafkajs covers those codecs).
  const { Producer, Consumer, Admin, stringSerializers, stringDeserializers } = await import('@platformatic/kafka')
  const bootstrapBrokers = [`127.0.0.1:${port}`]
  const admin = new Admin({ clientId: 'fuzz-corpus-pk', bootstrapBrokers })
  await admin.createTopics({ topics: ['seeds-pk'], partitions: 2, replicas: 1 })
  await admin.listTopics()
  const producer = new Producer({ clientId: 'fuzz-corpus-pk', bootstrapBrokers, serializers: stringSerializers, idempotent: true })
  for (const compression of ['none', 'gzip']) {
    await producer.send({ messages: [{ topic: 'seeds-pk', key: 'k', value: `v-${compression}`, headers: new Map([['h', 'v']]) }], compression })
  }
  await producer.close()
  const consumer = new Consumer({ clientId: 'fuzz-corpus-pk', groupId: 'fuzz-group-pk', bootstrapBrokers, deserializers: stringDeserializers, maxWaitTime: 50 })
  const stream = await consumer.consume({ topics: ['seeds-pk'], mode: 'earliest', autocommit: true })
  let seen = 0
  for await (const message of stream) {
    await message.commit()
    if (++seen >= 2) break
  }
  await stream.close()
  await consumer.close()
  await admin.listGroups()
  await admin.close()
}

async function main() {
  for (const target of ['session', 'frame', 'records']) {
    fs.rmSync(path.join(CORPUS, target), { recursive: true, force: true })
    fs.mkdirSync(path.join(CORPUS, target), { recursive: true })
  }
  const tap = await proxy()
  // The broker's own port must be known to the proxy, and `kafka.port` is the advertised one.
  const port = await freePort()
  const kafka = await startKafka({ brokers: [{ id: 0, listeners: [{ port, advertisedPort: tap.port }] }] })
  tap.forwardTo(port)
  try {
    await kafkajsTraffic(tap.port)
    await platformaticTraffic(tap.port)
  } finally {
    tap.close()
    await kafka.stop()
  }
  const counts = { session: 0, frame: 0, records: 0 }
  for (const chunks of tap.captured) {
    const stream = Buffer.concat(chunks)
    let sessionEnd = 0
    for (const frame of frames(stream)) {
      write('frame', frame)
      counts.frame++
      for (const records of produceRecords(frame)) {
        write('records', records)
        counts.records++
      }
      if (sessionEnd + 4 + frame.length <= MAX_SESSION_BYTES) sessionEnd += 4 + frame.length
    }
    if (sessionEnd > 0) {
      write('session', stream.subarray(0, sessionEnd))
      counts.session++
    }
  }
  const files = (target) => fs.readdirSync(path.join(CORPUS, target)).length
  console.log(
    `fuzz corpus: ${files('session')} sessions, ${files('frame')} distinct frames (of ${counts.frame}), ` +
      `${files('records')} distinct records fields (of ${counts.records}) in ${path.relative(process.cwd(), CORPUS)}`,
  )
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
