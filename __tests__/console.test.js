'use strict'

// The web console (startKafka({ console: true })), driven in headless Chromium by role and
// text, as a person would use it: topics, the message browser, producing, groups with lag,
// live updates, faults and brokers. Emulator-only: Kafka has no console.

const { test, before, after, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')

const { emulatorOnlyFile, startKafka, uniqueName, client, defer, DEADLINE_MS } = require('./helpers.js')
const { browserSupport } = require('./console-browser.js')

if (emulatorOnlyFile('the web console is the emulator\'s own')) return

const support = browserSupport()
const skip = support.missing ? `needs a browser: ${support.missing}` : false

let kafka
let browser
let page
/** Uncaught errors and console errors of the page in the current test. */
let pageErrors = []

before(async () => {
  if (skip) return
  kafka = await startKafka({ port: 0, console: true })
  browser = await support.launch()
})

after(async () => {
  await browser?.close()
  await kafka?.stop()
})

async function open(hash) {
  pageErrors = []
  page = await browser.newPage()
  page.setDefaultTimeout(DEADLINE_MS)
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()))
  await page.goto(`${kafka.consoleUrl}#${hash}`)
  // The page says it is live once its event stream is open.
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor()
  return page
}

afterEach(async () => {
  if (!page) return
  await page.close()
  page = null
  assert.deepEqual(pageErrors, [], 'the page raised no errors')
})

test('the topic list shows a created topic with its partitions', { skip }, async () => {
  const topic = uniqueName('console-list')
  kafka.createTopic(topic, { partitions: 3 })
  await open('/topics')
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: topic }) })
  await row.waitFor()
  assert.equal(await row.getByRole('cell').nth(1).textContent(), '3')
  await page.getByRole('link', { name: topic }).click()
  await page.getByRole('heading', { name: `Topic ${topic}` }).waitFor()
  assert.equal(await page.getByRole('table', { name: 'Partitions' }).getByRole('row').count(), 4)
})

test('a topic\'s messages show key, value and headers, newest first; JSON pretty-printed, binary as hex', { skip }, async () => {
  const topic = uniqueName('console-messages')
  kafka.createTopic(topic, { partitions: 1 })
  kafka.produce(topic, [
    { key: 'first-key', value: 'plain text value', headers: { trace: 'abc' } },
    { key: 'json-key', value: '{"id":7,"items":["a"]}' },
    { key: 'bin-key', value: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]) },
  ])
  await open(`/topics/${topic}`)
  const messages = page.getByRole('table', { name: /matching record/ })
  await messages.getByRole('cell', { name: 'first-key' }).waitFor()
  const rows = messages.getByRole('row')
  assert.equal(await rows.count(), 4)
  // Newest first: offset 2 (binary), then 1 (JSON), then 0.
  assert.match(await rows.nth(1).textContent(), /bin-key.*hex, 5 B.*de ad be ef 00/)
  assert.match(await rows.nth(2).textContent(), /json-key/)
  assert.equal(await rows.nth(2).locator('pre').nth(1).textContent(), '{\n  "id": 7,\n  "items": [\n    "a"\n  ]\n}')
  assert.match(await rows.nth(3).textContent(), /first-key.*plain text value.*trace.*abc/)

  const search = page.getByRole('search', { name: 'Messages' })
  await search.getByLabel('Search').fill('json')
  await search.getByRole('button', { name: 'Show messages' }).click()
  await messages.filter({ hasText: '1 of 1 matching' }).waitFor()
  await search.getByLabel('Search').fill('')
  await search.getByLabel('From offset').fill('1')
  await search.getByRole('button', { name: 'Show messages' }).click()
  await messages.filter({ hasText: '2 of 2 matching' }).waitFor()
})

test('a record produced from the page is in kafka.messages()', { skip }, async () => {
  const topic = uniqueName('console-produce')
  kafka.createTopic(topic, { partitions: 2 })
  await open(`/topics/${topic}`)
  const form = page.getByRole('form', { name: 'Produce a record' })
  await form.getByLabel('Key').fill('from-page')
  await form.getByLabel('Value').fill('{"made":"in the browser"}')
  await form.getByLabel('Headers (JSON)').fill('{"source":"console"}')
  await form.getByLabel('Partition').fill('1')
  await form.getByRole('button', { name: 'Produce' }).click()
  await page.getByRole('status').filter({ hasText: 'Produced to partition 1 at offset 0' }).waitFor()
  const [stored] = await kafka.waitForMessages(topic, 1, { timeoutMs: DEADLINE_MS })
  assert.equal(stored.partition, 1)
  assert.equal(stored.key.toString(), 'from-page')
  assert.equal(stored.value.toString(), '{"made":"in the browser"}')
  assert.equal(stored.headers.source.toString(), 'console')
  await page.getByRole('table', { name: /matching record/ }).getByRole('cell', { name: 'from-page' }).waitFor()
})

test('the page updates live as records arrive, without a reload', { skip }, async () => {
  const topic = uniqueName('console-live')
  kafka.createTopic(topic, { partitions: 1 })
  await open(`/topics/${topic}`)
  await page.getByRole('table', { name: /matching record/ }).filter({ hasText: 'No messages.' }).waitFor()
  await page.evaluate(() => { window.notReloaded = true })
  kafka.produce(topic, [{ key: 'arrived', value: 'while watching' }])
  await page.getByRole('cell', { name: 'while watching' }).waitFor()
  // A client produces over the wire too: the request log page shows its Produce live.
  await page.getByRole('link', { name: 'Requests' }).click()
  const producer = client(kafka, { clientId: 'console-live-producer' }).producer()
  await producer.connect()
  try {
    await producer.send({ topic, messages: [{ value: 'over the wire' }] })
  } finally {
    await producer.disconnect()
  }
  const log = page.getByRole('table', { name: 'Request log' })
  await log.getByRole('row').filter({ hasText: 'console-live-producer' }).filter({ hasText: 'Produce' }).first().waitFor()
  await page.getByRole('form', { name: 'Request log' }).getByLabel('Filter').fill('console-live-producer')
  const apis = await log.getByRole('row').locator('td:nth-child(4)').allTextContents()
  assert.ok(apis.length > 0 && apis.every((clientId) => clientId === 'console-live-producer'), apis.join())
  assert.equal(await page.evaluate(() => window.notReloaded), true)
})

test('a group shows its lag per partition, and a stopped group\'s offsets reset from the page', { skip }, async (t) => {
  const topic = uniqueName('console-lag')
  const groupId = uniqueName('console-group')
  kafka.createTopic(topic, { partitions: 2 })
  kafka.produce(topic, Array.from({ length: 5 }, (_, i) => ({ value: `v${i}`, partition: 0 })))
  kafka.produce(topic, [{ value: 'w', partition: 1 }])
  // A member commits, then leaves: the group is Empty with offsets 2 and 1.
  const consumer = client(kafka).consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  defer(t, () => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  let joined
  const running = new Promise((resolve) => { joined = resolve })
  await consumer.run({ autoCommit: false, eachMessage: async () => joined() })
  await running
  await consumer.commitOffsets([{ topic, partition: '0', offset: '2' }, { topic, partition: '1', offset: '1' }])
  await consumer.disconnect()

  await open('/groups')
  const group = page.getByRole('region', { name: `Group ${groupId}` })
  const lag = group.getByRole('table', { name: `Lag of ${groupId}` })
  const partition0 = lag.getByRole('row').filter({ has: page.getByRole('cell', { name: '0', exact: true }) }).first()
  await partition0.waitFor()
  assert.deepEqual(await partition0.getByRole('cell').allTextContents(), [topic, '0', '2', '5', '3', '-'])
  await group.getByText('Total lag').waitFor()
  assert.match(await group.textContent(), /StateEmpty/)

  const reset = group.getByRole('form', { name: `Reset offsets of ${groupId}` })
  await reset.getByLabel('Reset to').selectOption('latest')
  await reset.getByRole('button', { name: 'Reset offsets' }).click()
  await page.getByRole('status').filter({ hasText: `Reset the offsets of ${groupId}` }).waitFor()
  await lag.getByRole('row').filter({ hasText: `${topic}0550-` }).waitFor()
  assert.deepEqual(
    kafka.offsets(groupId).map((o) => [o.partition, o.offset]),
    [[0, 5], [1, 1]],
  )
})

test('a live group lists its members and cannot be reset while they run', { skip }, async (t) => {
  const topic = uniqueName('console-members')
  const groupId = uniqueName('console-members-group')
  kafka.createTopic(topic, { partitions: 1 })
  kafka.produce(topic, [{ value: 'one' }])
  const consumer = client(kafka, { clientId: 'console-member' }).consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  defer(t, () => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  let seen
  const consumed = new Promise((resolve) => { seen = resolve })
  await consumer.run({ eachMessage: async () => seen() })
  await consumed
  await open('/groups')
  const group = page.getByRole('region', { name: `Group ${groupId}` })
  await group.getByRole('table', { name: `Members of ${groupId}` }).getByRole('cell', { name: 'console-member', exact: true }).waitFor()
  assert.match(await group.textContent(), /StateStable/)
  assert.match(await group.textContent(), /TypeclassicProtocol typeconsumer/)
  assert.equal(await group.getByRole('button', { name: 'Reset offsets' }).isDisabled(), true)
})

test('faults are injected and a broker stopped and started from the page', { skip }, async (t) => {
  await open('/faults')
  const form = page.getByRole('form', { name: 'Inject a fault' })
  const topic = uniqueName('console-faults')
  await form.getByLabel('API').fill('Produce')
  await form.getByLabel('Error').fill('NOT_LEADER_OR_FOLLOWER')
  await form.getByLabel('Topic').fill(topic)
  await form.getByRole('button', { name: 'Inject fault' }).click()
  const armed = page.getByRole('table', { name: 'Armed faults' })
  await armed.getByRole('cell', { name: 'NOT_LEADER_OR_FOLLOWER' }).waitFor()
  // kafkajs retries the refused Produce; the request log shows the one the page armed.
  const producer = client(kafka, { clientId: 'console-fault-victim' }).producer()
  await producer.connect()
  defer(t, () => producer.disconnect())
  await producer.send({ topic, messages: [{ value: 'after a retry' }] })
  const fired = kafka.requests().find((r) => r.clientId === 'console-fault-victim' && r.injected)
  assert.equal(fired?.error, 'NOT_LEADER_OR_FOLLOWER')
  await armed.filter({ hasText: 'No faults armed.' }).waitFor()

  await form.getByLabel('Error').fill('NOT_A_KAFKA_ERROR')
  await form.getByRole('button', { name: 'Inject fault' }).click()
  await page.getByRole('alert').filter({ hasText: 'unknown Kafka error "NOT_A_KAFKA_ERROR"' }).waitFor()
  // Chromium logs the refused call; that one was meant.
  pageErrors = pageErrors.filter((m) => !m.includes('status of 400'))

  await page.getByRole('link', { name: 'Overview' }).click()
  await page.getByRole('button', { name: 'Stop broker 0' }).click()
  await page.getByRole('button', { name: 'Start broker 0' }).waitFor()
  assert.equal(kafka.listeners[0].running, false)
  await page.getByRole('button', { name: 'Start broker 0' }).click()
  await page.getByRole('button', { name: 'Stop broker 0' }).waitFor()
  assert.equal(kafka.listeners[0].running, true)
  await producer.send({ topic, messages: [{ value: 'after the restart' }] })
})

// ---- Without a browser: the option, the API's authorization, and stopping ----

test('the console listens on loopback only when asked, and closes its port with the cluster', async () => {
  const plain = await startKafka({ port: 0 })
  assert.equal(plain.consoleUrl, null)
  await plain.stop()

  const served = await startKafka({ port: 0, console: { port: 0 } })
  const url = served.consoleUrl
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  const overview = await (await fetch(`${url}api/cluster`)).json()
  assert.equal(overview.brokers[0].running, true)
  assert.match(overview.actingAs, /no principal/)
  await served.stop()
  await assert.rejects(fetch(`${url}api/cluster`), (err) => err.cause?.code === 'ECONNREFUSED')

  assert.throws(() => startKafka({ port: 0, console: { principal: 'admin' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /console\.principal must be a principal/ })
  assert.throws(() => startKafka({ port: 0, console: { prot: 1 } }), { code: 'ERR_KAFKA_EMULATOR_INVALID_OPTION' })
})

test('with ACLs enforced the console acts as its principal and says so', async (t) => {
  const secured = await startKafka({
    port: 0,
    authorization: { superUsers: ['User:admin'] },
    console: { principal: 'User:viewer' },
  })
  defer(t, () => secured.stop())
  secured.createTopic('visible')
  secured.createTopic('hidden')
  secured.createAcls([
    { resourceType: 'TOPIC', resourceName: 'visible', principal: 'User:viewer', operation: 'READ', permissionType: 'ALLOW' },
  ])
  const call = async (path, init) => {
    const response = await fetch(`${secured.consoleUrl}${path}`, init)
    return { status: response.status, body: await response.json() }
  }
  assert.match((await call('api/cluster')).body.actingAs, /^User:viewer, authorized by the cluster's ACLs$/)
  assert.deepEqual((await call('api/topics')).body.map((topic) => topic.name), ['visible'])
  assert.equal((await call('api/topics/visible/messages')).status, 200)
  const refused = await call('api/topics/visible/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: 'no' }),
  })
  assert.equal(refused.status, 403)
  assert.equal(refused.body.code, 'TOPIC_AUTHORIZATION_FAILED')
  assert.equal(secured.messages('visible').length, 0)
  assert.equal((await call('api/topics/hidden/messages')).status, 403)
})

test('the console refuses requests for another host, and changes not sent as JSON', async (t) => {
  const served = await startKafka({ port: 0, console: true })
  defer(t, () => served.stop())
  const { port } = new URL(served.consoleUrl)
  const call = (method, path, headers) => new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      response.resume()
      response.once('end', () => resolve(response.statusCode))
    })
    request.once('error', reject)
    request.end()
  })
  // A page of another site that resolves its name to 127.0.0.1 (DNS rebinding) names itself.
  assert.equal(await call('GET', '/api/topics', { host: `rebound.example:${port}` }), 403)
  assert.equal(await call('GET', '/api/topics', { host: `localhost:${port}` }), 200)
  // A cross-site form or no-cors fetch cannot send JSON without a preflight.
  assert.equal(await call('POST', '/api/brokers/0/stop', { 'content-type': 'text/plain' }), 415)
  assert.equal(served.listeners[0].running, true)
})
