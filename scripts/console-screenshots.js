#!/usr/bin/env node
'use strict'

// Regenerates docs/console/*.png, the README's pictures of the web console: a cluster with
// sample topics, records (JSON, text, binary), a running group, a stopped group with lag, logged
// requests and an armed fault, each page taken in headless Chromium.
//   node scripts/console-screenshots.js
// Needs the built addon, playwright-core and Chromium (see __tests__/console-browser.js).

const path = require('node:path')
const fs = require('node:fs')
const { Kafka, logLevel } = require('kafkajs')
const { startKafka } = require('..')
const { browserSupport } = require('../__tests__/console-browser.js')

const OUT = path.join(__dirname, '..', 'docs', 'console')

async function sampleCluster() {
  const kafka = await startKafka({ port: 0, brokers: 3, console: true })
  kafka.createTopic('orders', { partitions: 3, replicationFactor: 3 })
  kafka.createTopic('payments', { partitions: 2, replicationFactor: 2, configs: { 'cleanup.policy': 'compact' } })
  kafka.createTopic('audit-log', { partitions: 1 })
  const at = Date.parse('2026-01-15T09:30:00Z')
  kafka.produce('orders', Array.from({ length: 12 }, (_, i) => ({
    key: `order-${1000 + i}`,
    value: JSON.stringify({ id: 1000 + i, customer: ['ada', 'grace', 'linus'][i % 3], total: 19.5 + i, items: i % 4 + 1 }),
    headers: { 'content-type': 'application/json', 'trace-id': `t-${(i * 7919).toString(16)}` },
    timestamp: at + i * 60_000,
  })))
  kafka.produce('payments', [
    { key: 'order-1000', value: Buffer.from([0x0a, 0x04, 0x31, 0x30, 0x30, 0x30, 0x10, 0xc8, 0x01]), timestamp: at },
    { key: 'order-1001', value: 'settled', timestamp: at + 60_000 },
  ])
  kafka.produce('audit-log', [{ value: 'user ada signed in', timestamp: at }])

  const client = new Kafka({ clientId: 'shipping-service', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
  const consumer = client.consumer({ groupId: 'shipping', maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic: 'orders', fromBeginning: true })
  let consumed = 0
  let done
  const all = new Promise((resolve) => { done = resolve })
  await consumer.run({ eachMessage: async () => { if (++consumed === 12) done() } })
  await all
  const admin = client.admin()
  await admin.connect()
  await admin.setOffsets({ groupId: 'billing', topic: 'orders', partitions: [0, 1, 2].map((partition) => ({ partition, offset: '1' })) })
  await admin.disconnect()
  kafka.failNext({ api: 'Produce', error: 'NOT_LEADER_OR_FOLLOWER', count: 2, topic: 'payments' })
  return { kafka, consumer }
}

async function main() {
  const support = browserSupport()
  if (support.missing) throw new Error(support.missing)
  fs.mkdirSync(OUT, { recursive: true })
  const { kafka, consumer } = await sampleCluster()
  const browser = await support.launch()
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const shots = [
      ['overview', '/', () => page.getByRole('table', { name: 'Brokers' })],
      ['topics', '/topics', () => page.getByRole('link', { name: 'orders' })],
      ['messages', '/topics/orders', () => page.getByRole('cell', { name: 'order-1011' })],
      ['groups', '/groups', () => page.getByRole('region', { name: 'Group billing' })],
      ['requests', '/requests', () => page.getByRole('table', { name: 'Request log' }).getByRole('cell', { name: 'shipping-service' }).first()],
      ['faults', '/faults', () => page.getByRole('cell', { name: 'NOT_LEADER_OR_FOLLOWER' })],
    ]
    for (const [name, hash, ready] of shots) {
      await page.goto(`${kafka.consoleUrl}#${hash}`)
      await ready().waitFor()
      await page.getByRole('status').filter({ hasText: 'live' }).waitFor()
      const file = path.join(OUT, `${name}.png`)
      await page.screenshot({ path: file, fullPage: !['requests', 'messages'].includes(name) })
      process.stdout.write(`${path.relative(process.cwd(), file)}\n`)
    }
  } finally {
    await browser.close()
    await consumer.disconnect()
    await kafka.stop()
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`)
  process.exit(1)
})
