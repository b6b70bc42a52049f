// Consumer groups against the emulator's coordinator, driven by kafkajs' own consumer and admin.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Kafka, logLevel } = require('kafkajs')
const { startBroker, uniqueName, partitionsServed } = require('./helpers')

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
function within(ms, what, promise) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** A promise with its resolve exposed. */
function signal() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * Something tests wait on: event handlers call `changed()`, and `until(predicate)` resolves as
 * soon as the predicate holds (checked now and after every change), or fails at its deadline.
 */
function condition() {
  const waiters = new Set()
  return {
    changed() {
      for (const check of [...waiters]) check()
    },
    until(predicate, ms, what) {
      return within(ms, what, new Promise((resolve) => {
        const check = () => {
          if (predicate()) {
            waiters.delete(check)
            resolve()
          }
        }
        waiters.add(check)
        check()
      }))
    },
  }
}

/** Waits for the first `event` of `consumer` whose payload satisfies `predicate`. */
function nextEvent(consumer, event, predicate = () => true) {
  return new Promise((resolve) => {
    const remove = consumer.on(event, (e) => {
      if (predicate(e.payload)) {
        remove()
        resolve(e.payload)
      }
    })
  })
}

describe('consumer groups', () => {
  let broker
  let kafka
  let admin
  const clients = []

  before(async () => {
    // Short session timeouts are allowed so eviction can be tested quickly.
    broker = await startBroker({ groupMinSessionTimeoutMs: 200 })
    kafka = new Kafka({ clientId: 'groups-test', brokers: broker.brokers, logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
  })

  after(async () => {
    for (const client of clients) await client.disconnect().catch(() => {})
    await admin.disconnect()
    await broker.stop()
  })

  function consumer(groupId, options = {}) {
    const c = kafka.consumer({ groupId, maxWaitTimeInMs: 100, heartbeatInterval: 100, ...options })
    clients.push(c)
    return c
  }

  async function producer() {
    const p = kafka.producer()
    clients.push(p)
    await p.connect()
    return p
  }

  /** A new topic named after `prefix` (unique, so tests can share an external broker). */
  async function topic(prefix, numPartitions) {
    const name = uniqueName(prefix)
    await admin.createTopics({ topics: [{ topic: name, numPartitions }] })
    await partitionsServed(admin, name)
    return name
  }

  const messages = (n, prefix = 'm') =>
    Array.from({ length: n }, (_, i) => ({ key: `key-${prefix}-${i}`, value: `${prefix}-${i}` }))

  test('the README example: consumer.run reads everything and its commits show in admin.fetchOffsets', async () => {
    const t = await topic('readme-orders', 3)
    const p = await producer()
    await p.send({ topic: t, messages: messages(30) })

    const group = uniqueName('readme-group')
    const c = consumer(group)
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    const seen = []
    const committed = new Map()
    const progress = condition()
    c.on(c.events.COMMIT_OFFSETS, ({ payload }) => {
      for (const { partitions } of payload.topics) {
        for (const { partition, offset } of partitions) committed.set(Number(partition), Number(offset))
      }
      progress.changed()
    })
    await c.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        progress.changed()
      },
    })
    await progress.until(() => seen.length === 30, 10000, '30 messages')
    await progress.until(() => [...committed.values()].reduce((a, b) => a + b, 0) === 30, 10000, 'the commit of all 30')
    assert.deepEqual(seen.sort(), messages(30).map((m) => m.value).sort())

    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [t] })
    const high = await admin.fetchTopicOffsets(t)
    for (const { partition, offset } of offsets.partitions) {
      assert.equal(offset, high.find((h) => h.partition === partition).high, `partition ${partition}`)
    }
  })

  test('three consumers share a 6-partition topic and take over when one leaves', async () => {
    const t = await topic('shared-6', 6)
    const group = uniqueName('share-group')
    const consumers = [consumer(group), consumer(group), consumer(group)]
    const seenBy = new Map() // "partition:offset" -> consumer index
    const duplicates = []
    const assignments = consumers.map(() => [])
    const committed = new Map()
    const progress = condition()

    for (const [i, c] of consumers.entries()) {
      c.on(c.events.GROUP_JOIN, ({ payload }) => {
        assignments[i] = payload.memberAssignment[t] || []
        progress.changed()
      })
      c.on(c.events.COMMIT_OFFSETS, ({ payload }) => {
        for (const { partitions } of payload.topics) {
          for (const { partition, offset } of partitions) committed.set(Number(partition), Number(offset))
        }
        progress.changed()
      })
      await c.connect()
      await c.subscribe({ topic: t, fromBeginning: true })
      await c.run({
        eachMessage: async ({ partition, message }) => {
          const id = `${partition}:${message.offset}`
          if (seenBy.has(id)) duplicates.push(id)
          seenBy.set(id, i)
          progress.changed()
        },
      })
    }
    await progress.until(() => assignments.every((a) => a.length === 2), 15000, 'two partitions each')
    assert.deepEqual(assignments.flat().sort(), [0, 1, 2, 3, 4, 5], 'every partition assigned once')

    const p = await producer()
    await p.send({ topic: t, messages: messages(60, 'before') })
    await progress.until(() => seenBy.size === 60, 10000, '60 messages')
    for (let partition = 0; partition < 6; partition++) {
      const owners = new Set([...seenBy].filter(([id]) => id.startsWith(`${partition}:`)).map(([, i]) => i))
      assert.ok(owners.size <= 1, `partition ${partition} consumed by ${[...owners]}`)
    }
    const high = await admin.fetchTopicOffsets(t)
    await progress.until(
      () => high.every((h) => (committed.get(h.partition) ?? 0) === Number(h.high)),
      10000,
      'the group to commit what it consumed',
    )

    // The third consumer leaves; the other two take its partitions.
    await consumers[2].disconnect()
    await progress.until(() => assignments[0].length + assignments[1].length === 6, 15000, 'the rebalance after a leave')

    await p.send({ topic: t, messages: messages(60, 'after') })
    await progress.until(() => seenBy.size === 120, 10000, '60 more messages')
    assert.deepEqual(duplicates, [], 'no message consumed twice')
    assert.ok([...seenBy.values()].slice(60).every((i) => i !== 2), 'the leaver consumed nothing after leaving')
  })

  test('a consumer that stops heartbeating is evicted after its session timeout and its partitions move', async () => {
    const t = await topic('eviction', 4)
    const group = uniqueName('eviction-group')
    // The doomed member lives in a child process that is killed without leaving the group.
    const child = spawn(process.execPath, ['-e', `
      const { Kafka, logLevel } = require(${JSON.stringify(require.resolve('kafkajs'))})
      const kafka = new Kafka({ clientId: 'doomed', brokers: ${JSON.stringify(broker.brokers)}, logLevel: logLevel.NOTHING })
      const c = kafka.consumer({ groupId: '${group}', sessionTimeout: 1000, heartbeatInterval: 100, maxWaitTimeInMs: 100 })
      c.on(c.events.GROUP_JOIN, (e) => console.log('JOINED ' + JSON.stringify(e.payload.memberAssignment)))
      c.connect().then(() => c.subscribe({ topic: '${t}' })).then(() => c.run({ eachMessage: async () => {} }))
    `], { stdio: ['ignore', 'pipe', 'inherit'] })
    const childJoined = new Promise((resolve) => {
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('JOINED')) resolve()
      })
    })
    await within(15000, 'the child consumer to join', childJoined)

    const survivor = consumer(group, { sessionTimeout: 1000 })
    const survivorAssignment = { partitions: [] }
    survivor.on(survivor.events.GROUP_JOIN, (e) => (survivorAssignment.partitions = e.payload.memberAssignment[t] || []))
    const shared = nextEvent(survivor, survivor.events.GROUP_JOIN, (p) => (p.memberAssignment[t] || []).length < 4)
    await survivor.connect()
    await survivor.subscribe({ topic: t, fromBeginning: true })
    const received = new Set()
    const allPartitions = signal()
    await survivor.run({
      eachMessage: async ({ partition }) => {
        received.add(partition)
        if (received.size === 4) allPartitions.resolve()
      },
    })
    await within(15000, 'the group to be shared by two members', shared)

    const killedAt = Date.now()
    const takeover = nextEvent(survivor, survivor.events.GROUP_JOIN, (p) => (p.memberAssignment[t] || []).length === 4)
    child.kill('SIGKILL')
    await within(15000, 'the survivor to take over every partition', takeover)
    const elapsed = Date.now() - killedAt
    assert.ok(elapsed >= 900, `evicted after ${elapsed} ms, before its 1000 ms session timeout`)

    const desc = await admin.describeGroups([group])
    assert.equal(desc.groups[0].members.length, 1)
    const p = await producer()
    await p.send({ topic: t, messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `p${partition}` })) })
    await within(10000, 'messages from every partition', allPartitions.promise)
  })

  test('a restarted consumer resumes from its committed offset', async () => {
    const t = await topic('resume', 1)
    const p = await producer()
    await p.send({ topic: t, messages: messages(5, 'first') })

    const group = uniqueName('resume-group')
    const first = consumer(group)
    await first.connect()
    await first.subscribe({ topic: t, fromBeginning: true })
    const firstDone = signal()
    let count = 0
    const committed = nextEvent(first, first.events.COMMIT_OFFSETS, (payload) =>
      payload.topics[0].partitions.some((p) => p.offset === '5'))
    await first.run({ eachMessage: async () => { if (++count === 5) firstDone.resolve() } })
    await within(10000, 'the first five', firstDone.promise)
    await within(10000, 'their commit', committed)
    await first.disconnect()

    await p.send({ topic: t, messages: messages(3, 'second') })
    const second = consumer(group)
    await second.connect()
    await second.subscribe({ topic: t, fromBeginning: true })
    const seen = []
    const secondDone = signal()
    await second.run({
      eachMessage: async ({ message }) => {
        seen.push({ offset: message.offset, value: message.value.toString() })
        if (seen.length === 3) secondDone.resolve()
      },
    })
    await within(10000, 'the three new messages', secondDone.promise)
    assert.deepEqual(seen.map((m) => m.offset), ['5', '6', '7'])
    assert.deepEqual(seen.map((m) => m.value), ['second-0', 'second-1', 'second-2'])
  })

  test('seek moves a running consumer to an earlier offset', async () => {
    const t = await topic('seek', 1)
    const p = await producer()
    await p.send({ topic: t, messages: messages(6, 'seek') })
    const c = consumer(uniqueName('seek-group'))
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    const offsets = []
    const done = signal()
    let sought = false
    await c.run({
      eachMessage: async ({ message }) => {
        offsets.push(message.offset)
        if (message.offset === '5' && !sought) {
          sought = true
          c.seek({ topic: t, partition: 0, offset: '2' })
        } else if (sought && message.offset === '5') {
          done.resolve()
        }
      },
    })
    await within(10000, 'the re-read after seek', done.promise)
    assert.deepEqual(offsets, ['0', '1', '2', '3', '4', '5', '2', '3', '4', '5'])
  })

  test('a paused partition delivers nothing until resumed', async () => {
    const t = await topic('pause', 2)
    const c = consumer(uniqueName('pause-group'))
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    const seen = []
    const waiters = []
    await c.run({
      eachMessage: async ({ partition, message }) => {
        seen.push(`${partition}:${message.value}`)
        for (const w of waiters.splice(0)) w()
      },
    })
    const seenValue = (value) =>
      within(10000, value, new Promise((resolve) => {
        const check = () => (seen.some((s) => s.endsWith(value)) ? resolve() : waiters.push(check))
        check()
      }))
    const p = await producer()
    await p.send({ topic: t, messages: [{ partition: 0, value: 'warmup' }] })
    await seenValue('warmup')

    c.pause([{ topic: t, partitions: [0] }])
    await p.send({ topic: t, messages: [{ partition: 0, value: 'held' }, { partition: 1, value: 'flows' }] })
    // Partition 1 is fetched after the pause; partition 0's message must not have been delivered.
    await seenValue('flows')
    assert.ok(!seen.includes('0:held'), 'paused partition delivered a message')
    c.resume([{ topic: t, partitions: [0] }])
    await seenValue('held')
  })

  test('two groups on the same topic each receive every message', async () => {
    const t = await topic('fanout', 2)
    const p = await producer()
    await p.send({ topic: t, messages: messages(20, 'fan') })
    const results = await Promise.all([uniqueName('fan-a'), uniqueName('fan-b')].map(async (group) => {
      const c = consumer(group)
      await c.connect()
      await c.subscribe({ topic: t, fromBeginning: true })
      const seen = []
      const done = signal()
      await c.run({ eachMessage: async ({ message }) => { seen.push(message.value.toString()); if (seen.length === 20) done.resolve() } })
      await within(10000, `group ${group}`, done.promise)
      return seen.sort()
    }))
    assert.deepEqual(results[0], messages(20, 'fan').map((m) => m.value).sort())
    assert.deepEqual(results[1], results[0])
  })

  test('admin describes, lists, sets, resets and deletes groups', async () => {
    const t = await topic('admin-groups', 2)
    const p = await producer()
    await p.send({ topic: t, messages: messages(10, 'adm') })
    const group = uniqueName('admin-group')
    const c = consumer(group)
    await c.connect()
    await c.subscribe({ topic: t, fromBeginning: true })
    const done = signal()
    let n = 0
    const joined = nextEvent(c, c.events.GROUP_JOIN)
    await c.run({ eachMessage: async () => { if (++n === 10) done.resolve() } })
    await within(10000, 'the join', joined)
    await within(10000, 'ten messages', done.promise)

    const { groups: [described] } = await admin.describeGroups([group])
    assert.equal(described.state, 'Stable')
    assert.equal(described.protocolType, 'consumer')
    assert.equal(described.members.length, 1)
    assert.equal(described.members[0].clientId, 'groups-test')
    assert.ok(described.members[0].memberAssignment.length > 0, 'assignment bytes present')

    const listed = await admin.listGroups()
    assert.ok(listed.groups.some((g) => g.groupId === group && g.protocolType === 'consumer'))

    await assert.rejects(admin.deleteGroups([group]), (err) => {
      assert.equal(err.groups[0].error.type, 'NON_EMPTY_GROUP')
      return true
    })
    await assert.rejects(
      admin.setOffsets({ groupId: group, topic: t, partitions: [{ partition: 0, offset: '1' }] }),
      /UNKNOWN_MEMBER_ID|not empty|running/i,
    )
    await c.disconnect()

    // kafkajs sets offsets through a paused consumer that waits out one fetch (maxWaitTimeInMs,
    // 5 s by default): run the three operations on three groups at once.
    const earliest = uniqueName('reset-earliest')
    const latest = uniqueName('reset-latest')
    const [setGroup, earliestGroup, latestGroup] = await Promise.all([
      admin.setOffsets({ groupId: group, topic: t, partitions: [{ partition: 0, offset: '1' }, { partition: 1, offset: '2' }] }).then(() => group),
      admin.resetOffsets({ groupId: earliest, topic: t, earliest: true }).then(() => earliest),
      admin.resetOffsets({ groupId: latest, topic: t }).then(() => latest),
    ])
    const offsetsOf = async (groupId) => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [t] })
      return offsets.partitions.map((p) => [p.partition, p.offset]).sort()
    }
    assert.deepEqual(await offsetsOf(setGroup), [[0, '1'], [1, '2']])
    assert.deepEqual(await offsetsOf(earliestGroup), [[0, '-2'], [1, '-2']], 'kafkajs commits -2 for earliest')
    assert.deepEqual(await offsetsOf(latestGroup), [[0, '-1'], [1, '-1']], 'kafkajs commits -1 for latest')

    const { groups: [empty] } = await admin.describeGroups([group])
    assert.equal(empty.state, 'Empty')

    assert.deepEqual(await admin.deleteGroups([group]), [{ groupId: group, errorCode: 0 }])
    await assert.rejects(admin.deleteGroups([group]), (err) => {
      assert.equal(err.groups[0].error.type, 'GROUP_ID_NOT_FOUND')
      return true
    })
    const after = await admin.listGroups()
    assert.ok(!after.groups.some((g) => g.groupId === group))
  })
})
