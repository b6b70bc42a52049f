'use strict'

// The checker of the crash soak (scripts/soak.js): reads what the producers and consumer group
// members wrote (conformance/python/soak.py, conformance/java SoakDriver) and every partition of
// the topic as stored, and counts what went wrong. Nothing here touches the cluster.

const fs = require('node:fs')
const path = require('node:path')

/** A value "ID:SEQ" as a number: the producer's index * 2^32 + SEQ; -1 if no producer wrote it. */
function encoder(producerIds) {
  const index = new Map(producerIds.map((id, i) => [id, i]))
  return (value) => {
    const colon = value.lastIndexOf(':')
    const i = colon < 0 ? undefined : index.get(value.slice(0, colon))
    const seq = Number(value.slice(colon + 1))
    return i === undefined || !Number.isInteger(seq) ? -1 : i * 2 ** 32 + seq
  }
}

function lines(file) {
  if (!fs.existsSync(file)) return []
  const text = fs.readFileSync(file, 'utf8')
  const all = text.split('\n')
  all.pop() // the empty string after the last newline (or a partly written last line)
  return all
}

/**
 * The stored log as the checker needs it: per partition, the code of the value at each offset
 * (Float64Array, offset = index; the topic's log start is 0 as nothing is deleted).
 */
function readLog(kafka, topic, partitions, encode) {
  const log = []
  for (let p = 0; p < partitions; p++) {
    const messages = kafka.messages(topic, { partition: p })
    const end = messages.length ? messages[messages.length - 1].offset + 1 : 0
    const codes = new Float64Array(end).fill(-2) // -2: no record at this offset
    for (const m of messages) codes[m.offset] = m.value ? encode(m.value.toString()) : -1
    log.push(codes)
  }
  return log
}

/**
 * Checks every producer's acks against the log: each acked value is stored (at the offset it was
 * acked with), once for an idempotent producer, and a producer's acks of one partition name
 * increasing offsets.
 */
function checkProducers(dir, producers, log, encode) {
  const results = []
  producers.forEach((producer, index) => {
    const acks = lines(path.join(dir, `${producer.id}.acks`))
    const failed = lines(path.join(dir, `${producer.id}.failed`))
    let maxSeq = -1
    const parsed = acks.map((l) => {
      const [seq, partition, offset] = l.split(' ').map(Number)
      if (seq > maxSeq) maxSeq = seq
      return { seq, partition, offset }
    })
    for (const l of failed) maxSeq = Math.max(maxSeq, Number(l.split(' ')[0]))
    // Occurrences of each of its values in the log, and the first one's place.
    const base = index * 2 ** 32
    for (const codes of log) {
      for (const code of codes) if (code >= base && code < base + 2 ** 32) maxSeq = Math.max(maxSeq, code - base)
    }
    const copies = new Uint16Array(maxSeq + 1)
    for (const codes of log) {
      for (const code of codes) if (code >= base && code < base + 2 ** 32) copies[code - base] += 1
    }
    const acked = new Uint8Array(maxSeq + 1)
    const r = {
      id: producer.id,
      kind: producer.kind,
      idempotent: producer.idempotent,
      knownBug: producer.knownBug ?? null,
      acked: 0,
      failed: failed.length,
      lost: 0,
      duplicated: 0,
      extraCopies: 0,
      reordered: 0,
      misplaced: 0,
      ackedTwice: 0,
      unackedStored: 0,
      examples: [],
    }
    const example = (what) => r.examples.length < 5 && r.examples.push(what)
    const last = new Map()
    for (const { seq, partition, offset } of parsed) {
      if (acked[seq]) {
        r.ackedTwice += 1
        continue
      }
      acked[seq] = 1
      r.acked += 1
      const code = base + seq
      if (copies[seq] === 0) {
        r.lost += 1
        example(`lost ${producer.id}:${seq} (acked at ${partition}/${offset})`)
        continue
      }
      const codes = log[partition]
      if (offset < 0) continue // kafkajs acked it without naming its partition (kafkajs#1303)
      if (!codes || codes[offset] !== code) {
        r.misplaced += 1
        example(`${producer.id}:${seq} acked at ${partition}/${offset}, which holds something else`)
      }
      if (last.has(partition) && offset <= last.get(partition)) {
        r.reordered += 1
        example(`${producer.id}:${seq} acked at ${partition}/${offset} after an ack at ${partition}/${last.get(partition)}`)
      }
      last.set(partition, offset)
    }
    for (let seq = 0; seq <= maxSeq; seq++) {
      if (copies[seq] > 1) {
        r.duplicated += 1
        r.extraCopies += copies[seq] - 1
        if (producer.idempotent) example(`${producer.id}:${seq} stored ${copies[seq]} times`)
      }
      if (copies[seq] > 0 && !acked[seq]) r.unackedStored += 1
    }
    results.push(r)
  })
  return results
}

/**
 * Checks a consumer group: every record a member was given is the one stored at its offset, a
 * member commits only offsets it consumed up to, the group consumed every offset below what it
 * committed, committed offsets (as sampled from the coordinator) never go backwards, and the
 * group ends committed at the end of every partition.
 */
function checkGroup(dir, group, log, encode, samples, finalOffsets) {
  const covered = log.map((codes) => new Uint8Array(codes.length))
  const r = {
    group: group.id,
    kind: group.kind,
    members: group.members.length,
    consumed: 0,
    redelivered: 0,
    wrongValue: 0,
    commits: 0,
    committedUnconsumed: 0,
    skipped: 0,
    backwards: 0,
    backwardsByClient: 0,
    notCaughtUp: 0,
    examples: [],
  }
  const example = (what) => r.examples.length < 5 && r.examples.push(what)
  // Offsets members were told they committed, per partition: a committed offset that goes
  // back to one of these was written by the client, not lost by the broker. librdkafka 2.16
  // does it when the coordinator moves: it sends again a commit refused with NOT_COORDINATOR
  // after a newer commit of the same partitions succeeded at the new coordinator.
  const accepted = log.map(() => new Set())
  for (const member of group.members) {
    const mine = log.map((codes) => new Uint8Array(codes.length + 1))
    for (const line of lines(path.join(dir, `${group.id}.${member}.log`))) {
      const [type, p, o, value] = line.split(' ')
      const partition = Number(p)
      const offset = Number(o)
      if (type === 'c') {
        r.consumed += 1
        if (log[partition]?.[offset] !== encode(value)) {
          r.wrongValue += 1
          example(`${group.id}.${member} was given ${value} at ${partition}/${offset}`)
          continue
        }
        if (covered[partition][offset]) r.redelivered += 1
        covered[partition][offset] = 1
        mine[partition][offset] = 1
      } else if (type === 'C') {
        r.commits += 1
        accepted[partition]?.add(offset)
        if (offset > 0 && !mine[partition]?.[offset - 1]) {
          r.committedUnconsumed += 1
          example(`${group.id}.${member} committed ${partition}/${offset} before consuming offset ${offset - 1}`)
        }
      }
    }
  }
  // The coordinator's view, sampled while the soak ran, then at the end.
  const last = new Map()
  for (const sample of [...samples, finalOffsets]) {
    for (const { partition, offset, at } of sample) {
      if (last.has(partition) && offset < last.get(partition)) {
        const byClient = accepted[partition]?.has(offset)
        if (byClient) r.backwardsByClient += 1
        else r.backwards += 1
        example(`${group.id}'s committed offset of partition ${partition} went from ${last.get(partition)} to ${offset}` +
          `${at ? ` at ${new Date(at).toISOString()}` : ''}${byClient ? ' (a member committed it)' : ''}`)
      }
      last.set(partition, offset)
      if (offset > 0 && !covered[partition]?.[offset - 1]) {
        r.committedUnconsumed += 1
        example(`${group.id} has ${partition}/${offset} committed, but no member consumed offset ${offset - 1}`)
      }
    }
  }
  log.forEach((codes, partition) => {
    const committed = finalOffsets.find((o) => o.partition === partition)?.offset ?? 0
    if (committed !== codes.length) {
      r.notCaughtUp += 1
      example(`${group.id} ended at ${partition}/${committed}, the partition at ${codes.length}`)
    }
    for (let o = 0; o < Math.min(committed, codes.length); o++) {
      if (!covered[partition][o]) {
        r.skipped += 1
        if (r.skipped <= 3) example(`${group.id} committed past ${partition}/${o} without consuming it`)
      }
    }
  })
  return r
}

/** What must be zero for the soak to pass (non-idempotent producers may duplicate). */
function failures(report) {
  const found = []
  for (const p of report.producers) {
    if (p.knownBug) continue
    for (const key of ['lost', 'misplaced', 'reordered', 'ackedTwice', 'failed']) {
      if (p[key] > 0) found.push(`${p.id}: ${key} ${p[key]}`)
    }
    if (p.idempotent && p.duplicated > 0) found.push(`${p.id}: duplicated ${p.duplicated} (idempotent)`)
    if (p.acked === 0) found.push(`${p.id}: nothing acked`)
  }
  for (const g of report.groups) {
    for (const key of ['wrongValue', 'committedUnconsumed', 'skipped', 'backwards', 'notCaughtUp']) {
      if (g[key] > 0) found.push(`${g.group}: ${key} ${g[key]}`)
    }
  }
  if (report.restartFailures?.length) found.push(`${report.restartFailures.length} broker restarts failed: ${report.restartFailures[0]}`)
  if (report.foreign > 0) found.push(`${report.foreign} stored records no producer wrote`)
  return found
}

function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((row) => String(row[c]).length)))
  const line = (cells) => cells.map((cell, i) => String(cell).padStart(widths[i])).join('  ')
  return [line(columns), ...rows.map((row) => line(columns.map((c) => row[c])))].join('\n')
}

/** The report as text: one row per producer and per group. */
function format(report) {
  const out = []
  out.push(
    `soak: ${(report.durationMs / 1000).toFixed(0)} s, ${report.brokers} brokers, ${report.partitions} partitions (RF ${report.replicationFactor}), ` +
      `${report.stored} records stored; broker stops ${report.brokerStops}, faults ${JSON.stringify(report.faults)}`,
  )
  out.push(table(report.producers, ['id', 'kind', 'idempotent', 'acked', 'failed', 'lost', 'duplicated', 'reordered', 'misplaced', 'unackedStored']))
  out.push(table(report.groups, ['group', 'kind', 'members', 'consumed', 'redelivered', 'wrongValue', 'commits', 'committedUnconsumed', 'skipped', 'backwards', 'backwardsByClient', 'notCaughtUp']))
  for (const r of [...report.producers, ...report.groups]) for (const e of r.examples) out.push(`  ${e}`)
  for (const p of report.producers.filter((p) => p.knownBug)) {
    out.push(`${p.id}: not judged, a known client bug (${p.knownBug}): lost ${p.lost} of ${p.acked} acked`)
  }
  const found = failures(report)
  out.push(found.length ? `FAIL: ${found.join('; ')}` : 'OK: no acked record lost, no idempotent duplicate, no reordering, every commit consumed')
  return out.join('\n')
}

module.exports = { encoder, readLog, checkProducers, checkGroup, failures, format }
