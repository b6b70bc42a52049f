'use strict'

// A service definition for startParallel-style runners, and a small startParallel:
//   const instance = await startParallel({ services: [{ name: 'kafka' }] })
//   const port = instance.services.get('kafka').port
//   ...
//   await instance.stop()

const DEFAULT_PORT = 9092

/** The kafka service: an emulated cluster on port 9092, or a free port when 9092 is taken. */
const service = {
  name: 'kafka',
  /**
   * @param {import('../index').StartOptions} [options] startKafka options; an explicit `port`
   *   must be free.
   */
  async start(options = {}) {
    const { startKafka } = require('..')
    let kafka
    if (options.port !== undefined) {
      kafka = await startKafka(options)
    } else {
      try {
        kafka = await startKafka({ ...options, port: DEFAULT_PORT })
      } catch (err) {
        if (!err || err.code !== 'EADDRINUSE') throw err
        kafka = await startKafka({ ...options, port: 0 })
      }
    }
    kafka.unref()
    const brokers = kafka.brokers
    return {
      name: 'kafka',
      host: kafka.host,
      port: kafka.port,
      brokers,
      env: { KAFKA_BROKERS: brokers.join(',') },
      kafka,
      stop: () => kafka.stop(),
    }
  },
}

/** Service definitions `{ name }` entries resolve to. */
const services = { kafka: service }

/**
 * Starts services concurrently. Each entry is `{ name, options? }` naming a known service
 * (`kafka`), or a full definition `{ name, start(options), options? }`. If one fails to start,
 * those that started are stopped and the error is thrown.
 * @param {{ services: Array<{ name: string, options?: any, start?: (options?: any) => Promise<any> }> }} config
 */
async function startParallel({ services: entries } = { services: [] }) {
  if (!Array.isArray(entries)) throw new TypeError('startParallel: `services` must be an array')
  const definitions = entries.map((entry) => {
    if (!entry || typeof entry.name !== 'string') throw new TypeError('startParallel: each service needs a name')
    if (typeof entry.start === 'function') return entry
    const known = services[entry.name]
    if (!known) throw new TypeError(`startParallel: unknown service '${entry.name}' (known: ${Object.keys(services).join(', ')})`)
    return { ...known, options: entry.options }
  })
  const names = new Set()
  for (const d of definitions) {
    if (names.has(d.name)) throw new TypeError(`startParallel: service '${d.name}' listed twice`)
    names.add(d.name)
  }
  const results = await Promise.allSettled(definitions.map((d) => d.start(d.options)))
  const started = new Map()
  const failures = []
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') started.set(definitions[i].name, { name: definitions[i].name, ...r.value })
    else failures.push(r.reason)
  })
  const stop = async () => {
    const running = [...started.values()]
    started.clear()
    const stops = await Promise.allSettled(running.map((s) => (typeof s.stop === 'function' ? s.stop() : undefined)))
    const failed = stops.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
  }
  if (failures.length > 0) {
    await stop().catch(() => {})
    throw failures[0]
  }
  const env = Object.assign({}, ...[...started.values()].map((s) => s.env || {}))
  return { services: new Map(started), env, stop }
}

module.exports = { service, services, startParallel, DEFAULT_PORT }
