// The emulator's ApiVersions against Apache Kafka's: every version of every API a client can
// send that Kafka advertises, the emulator must advertise too, except the gaps listed in
// docs/compatibility.md ("ApiVersions gaps"). With KAFKA_BROKERS set, both brokers are asked and
// the test prints every gap, failing on one the list does not have (a regression, or something new
// in Kafka) and on a listed gap that is closed (the list must stay honest). Without it, the
// emulator's own ranges must not overlap the listed gaps.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { apiVersions, NAMES } = require('../scripts/apache-kafka/api-versions')
const { startKafka } = require('./helpers')

const COMPATIBILITY = path.join(__dirname, '..', 'docs', 'compatibility.md')
const EXTERNAL = process.env.KAFKA_BROKERS?.split(',')[0]?.trim()

/** APIs only brokers send to each other: no client sends them, so they are not compared. */
const BROKER_TO_BROKER = new Set([
  27, // WriteTxnMarkers (transaction coordinator to partition leaders)
  83, 84, 85, 86, 87, // Initialize/Read/Write/Delete/ReadSummary ShareGroupState (to the share coordinator)
])

/**
 * The documented gaps: `- Name: vA–vB` (those versions are missing), `- Name: vA` or
 * `- Name: not served`, between the markers in docs/compatibility.md. Map of name -> gap text.
 */
function documentedGaps() {
  const text = fs.readFileSync(COMPATIBILITY, 'utf8')
  const block = text.match(/<!-- api-versions-gaps -->\n([\s\S]*?)<!-- \/api-versions-gaps -->/)
  assert.ok(block, 'docs/compatibility.md has an api-versions-gaps block')
  const gaps = new Map()
  for (const line of block[1].split('\n').filter((l) => l.startsWith('- '))) {
    const m = line.match(/^- (\w+): (not served|v\d+(?:–v\d+)?)(?: |$)/)
    assert.ok(m, `a gap line reads "- Name: vA–vB" or "- Name: not served": ${line}`)
    gaps.set(m[1], m[2])
  }
  return gaps
}

function describeGap(ours, theirs) {
  if (!ours) return 'not served'
  const from = Math.max(ours[1] + 1, theirs[0])
  if (from > theirs[1]) return null
  return from === theirs[1] ? `v${from}` : `v${from}–v${theirs[1]}`
}

/** The versions a gap names, [from, to], or null for "not served". */
function gapRange(gap) {
  const m = gap.match(/^v(\d+)(?:–v(\d+))?$/)
  return m ? [Number(m[1]), Number(m[2] ?? m[1])] : null
}

test('the emulator advertises every version Apache Kafka does of the APIs clients send, but the documented gaps', { skip: EXTERNAL ? false : 'needs KAFKA_BROKERS (npm run test:external)' }, async () => {
  const [host, port] = EXTERNAL.split(':')
  const emulator = await startKafka()
  let ours, theirs
  try {
    ;[ours, theirs] = await Promise.all([apiVersions(emulator.port), apiVersions(Number(port), host)])
  } finally {
    await emulator.stop()
  }
  const documented = documentedGaps()
  const found = new Map()
  for (const [key, range] of theirs) {
    if (BROKER_TO_BROKER.has(key)) continue
    const gap = describeGap(ours.get(key), range)
    if (gap) found.set(NAMES[key] ?? `key ${key}`, gap)
  }
  console.log(`ApiVersions gaps against ${EXTERNAL}:\n${[...found].map(([name, gap]) => `- ${name}: ${gap}`).join('\n') || '(none)'}`)
  const undocumented = [...found].filter(([name, gap]) => documented.get(name) !== gap)
  const closed = [...documented].filter(([name]) => !found.has(name))
  assert.deepEqual(undocumented.map(([name, gap]) => `${name}: ${gap}`), [], 'gaps not in docs/compatibility.md (or listed differently)')
  assert.deepEqual(closed.map(([name, gap]) => `${name}: ${gap}`), [], 'gaps listed in docs/compatibility.md that are closed: remove them')
})

test('the documented ApiVersions gaps are versions the emulator does not advertise', async () => {
  const emulator = await startKafka()
  let ours
  try {
    ours = await apiVersions(emulator.port)
  } finally {
    await emulator.stop()
  }
  const byName = new Map(Object.entries(NAMES).map(([key, name]) => [name, Number(key)]))
  for (const [name, gap] of documentedGaps()) {
    assert.ok(byName.has(name), `${name} is an API name`)
    const served = ours.get(byName.get(name))
    const missing = gapRange(gap)
    if (!missing) {
      assert.equal(served, undefined, `${name} is listed as not served`)
    } else if (served) {
      assert.ok(served[1] < missing[0], `${name} is listed as missing ${gap} but the emulator advertises v${served[0]}–v${served[1]}`)
    }
  }
})
