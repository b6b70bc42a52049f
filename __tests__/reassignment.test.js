'use strict'

// Partition reassignments (KIP-455) through kafkajs' admin on a three-broker cluster: one that
// adds replicas is listed in progress, with the replicas being added and removed, until they have
// caught up; then the partition has its new replicas. The reference broker has one node, so
// nothing can be added there: these tests are emulator-only.

if (require('./helpers').emulatorOnlyFile('adding replicas needs a multi-broker cluster')) return

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startKafka, client, defer, uniqueName, waitUntil } = require('./helpers')

async function adminOf(t, kafka) {
  const admin = client(kafka).admin()
  await admin.connect()
  defer(t, () => admin.disconnect())
  return admin
}

async function partitionOf(admin, topic) {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  const { leader, replicas, isr } = topics[0].partitions[0]
  return { leader, replicas, isr }
}

test('a reassignment that adds replicas is in progress until they have caught up, then completes', async (t) => {
  const kafka = await startKafka({ brokers: 3 })
  defer(t, () => kafka.stop())
  const admin = await adminOf(t, kafka)
  const topic = uniqueName('reassigned')
  await admin.createTopics({ topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [0] }] }] })
  const producer = client(kafka).producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({ topic, messages: [{ value: 'before' }] })

  await admin.alterPartitionReassignments({
    topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [1, 2] }] }],
  })
  // Under way: the target replicas then the one being removed, as Kafka lists them; the leader
  // stays and the new replicas are not in sync yet.
  const listed = await admin.listPartitionReassignments({ topics: [{ topic, partitions: [0] }] })
  assert.deepEqual(listed.topics, [
    { name: topic, partitions: [{ partition: 0, replicas: [1, 2, 0], addingReplicas: [1, 2], removingReplicas: [0] }] },
  ])
  assert.deepEqual(await partitionOf(admin, topic), { leader: 0, replicas: [1, 2, 0], isr: [0] })

  // Every reassignment under way (topics null) lists it too, until it completes.
  await waitUntil(async () => {
    const { topics } = await admin.listPartitionReassignments({})
    return !topics.some((t) => t.name === topic)
  }, 'the reassignment to complete')
  assert.deepEqual(await partitionOf(admin, topic), { leader: 1, replicas: [1, 2], isr: [1, 2] })
  // The new leader serves what the old one had.
  const [offsets] = await admin.fetchTopicOffsets(topic)
  assert.deepEqual([offsets.low, offsets.high], ['0', '1'])
})

test('a reassignment that only drops replicas completes at once', async (t) => {
  const kafka = await startKafka({ brokers: 3 })
  defer(t, () => kafka.stop())
  const admin = await adminOf(t, kafka)
  const topic = uniqueName('shrunk')
  await admin.createTopics({ topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [0, 1, 2] }] }] })
  await admin.alterPartitionReassignments({
    topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [2, 0] }] }],
  })
  assert.deepEqual((await admin.listPartitionReassignments({})).topics, [])
  assert.deepEqual(await partitionOf(admin, topic), { leader: 0, replicas: [2, 0], isr: [2, 0] })
})
