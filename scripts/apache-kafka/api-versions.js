#!/usr/bin/env node
'use strict'

// Prints every API whose advertised versions differ between the emulator and a running Kafka
// broker: node scripts/apache-kafka/api-versions.js KAFKA_PORT (needs the built addon).
// docs/compatibility.md's version table comes from this; __tests__/api-versions.test.js uses its
// apiVersions() and NAMES.

const net = require('node:net')
const path = require('node:path')

const NAMES = {
  0: 'Produce', 1: 'Fetch', 2: 'ListOffsets', 3: 'Metadata', 8: 'OffsetCommit', 9: 'OffsetFetch',
  10: 'FindCoordinator', 11: 'JoinGroup', 12: 'Heartbeat', 13: 'LeaveGroup', 14: 'SyncGroup',
  15: 'DescribeGroups', 16: 'ListGroups', 17: 'SaslHandshake', 18: 'ApiVersions', 19: 'CreateTopics',
  20: 'DeleteTopics', 21: 'DeleteRecords', 22: 'InitProducerId', 23: 'OffsetForLeaderEpoch',
  24: 'AddPartitionsToTxn', 25: 'AddOffsetsToTxn', 26: 'EndTxn', 27: 'WriteTxnMarkers',
  28: 'TxnOffsetCommit', 29: 'DescribeAcls', 30: 'CreateAcls', 31: 'DeleteAcls', 32: 'DescribeConfigs',
  33: 'AlterConfigs', 34: 'AlterReplicaLogDirs', 35: 'DescribeLogDirs', 36: 'SaslAuthenticate',
  37: 'CreatePartitions', 38: 'CreateDelegationToken', 39: 'RenewDelegationToken',
  40: 'ExpireDelegationToken', 41: 'DescribeDelegationToken', 42: 'DeleteGroups', 43: 'ElectLeaders',
  44: 'IncrementalAlterConfigs', 45: 'AlterPartitionReassignments', 46: 'ListPartitionReassignments',
  47: 'OffsetDelete', 48: 'DescribeClientQuotas', 49: 'AlterClientQuotas',
  50: 'DescribeUserScramCredentials', 51: 'AlterUserScramCredentials', 55: 'DescribeQuorum',
  57: 'UpdateFeatures', 60: 'DescribeCluster', 61: 'DescribeProducers', 64: 'UnregisterBroker',
  65: 'DescribeTransactions', 66: 'ListTransactions', 68: 'ConsumerGroupHeartbeat',
  69: 'ConsumerGroupDescribe', 71: 'GetTelemetrySubscriptions', 72: 'PushTelemetry',
  74: 'ListConfigResources', 75: 'DescribeTopicPartitions', 76: 'ShareGroupHeartbeat',
  77: 'ShareGroupDescribe', 78: 'ShareFetch', 79: 'ShareAcknowledge', 80: 'AddRaftVoter',
  81: 'RemoveRaftVoter', 83: 'InitializeShareGroupState', 84: 'ReadShareGroupState',
  85: 'WriteShareGroupState', 86: 'DeleteShareGroupState', 87: 'ReadShareGroupStateSummary',
  90: 'DescribeShareGroupOffsets', 91: 'AlterShareGroupOffsets', 92: 'DeleteShareGroupOffsets',
}

/** ApiVersions v0 on a raw socket: Map of api key -> [min, max]. */
function apiVersions(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    const request = Buffer.alloc(15)
    request.writeInt32BE(11, 0) // size
    request.writeInt16BE(18, 4) // ApiVersions
    request.writeInt16BE(0, 6) // v0
    request.writeInt32BE(1, 8) // correlation id
    request.writeInt16BE(1, 12) // client id "x"
    request.write('x', 14)
    let buffered = Buffer.alloc(0)
    socket.on('connect', () => socket.write(request))
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < 4 || buffered.length < 4 + buffered.readInt32BE(0)) return
      socket.destroy()
      const body = buffered.subarray(8) // past size and correlation id
      const versions = new Map()
      const count = body.readInt32BE(2)
      for (let i = 0; i < count; i++) {
        const at = 6 + i * 6
        versions.set(body.readInt16BE(at), [body.readInt16BE(at + 2), body.readInt16BE(at + 4)])
      }
      resolve(versions)
    })
  })
}

async function main() {
  const kafkaPort = Number(process.argv[2])
  const { startKafka } = require(path.resolve(__dirname, '..', '..'))
  const emulator = await startKafka()
  const [ours, theirs] = await Promise.all([apiVersions(emulator.port), apiVersions(kafkaPort)])
  await emulator.stop()
  const range = (v) => (v ? `${v[0]}-${v[1]}` : 'none')
  console.log('| key | API | emulator | Apache Kafka |\n| --- | --- | --- | --- |')
  const keys = [...new Set([...ours.keys(), ...theirs.keys()])].sort((a, b) => a - b)
  for (const key of keys) {
    if (range(ours.get(key)) === range(theirs.get(key))) continue
    console.log(`| ${key} | ${NAMES[key] ?? '?'} | ${range(ours.get(key))} | ${range(theirs.get(key))} |`)
  }
}

module.exports = { apiVersions, NAMES }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
