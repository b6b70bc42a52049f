'use strict'

// Shared by the jest preset, the vitest globalSetup and the startParallel service: where the
// options come from, and whether a real cluster was named in KAFKA_BROKERS.

const fs = require('node:fs')
const path = require('node:path')

/** The file of `startKafka` options the test-runner integrations read from the project root. */
const CONFIG_FILE = 'kafka-emulator.config.js'

/** Where `globalThis` keeps the cluster between jest's globalSetup and globalTeardown. */
const GLOBAL_KEY = Symbol.for('kafka-emulator.global')

/**
 * The brokers of KAFKA_BROKERS (`host:port,host:port`), or null when it is unset or empty:
 * set, the suite runs against that cluster and no emulator is started.
 * @returns {string[] | null}
 */
function brokersFromEnv(env = process.env) {
  const list = (env.KAFKA_BROKERS || '').split(',').map((b) => b.trim()).filter(Boolean)
  return list.length > 0 ? list : null
}

/**
 * The options exported by `kafka-emulator.config.js` in `rootDir` (an object, or a function,
 * possibly async, returning one), or `{}` without that file.
 * @param {string} rootDir
 */
async function loadConfig(rootDir) {
  const file = path.resolve(rootDir || process.cwd(), CONFIG_FILE)
  if (!fs.existsSync(file)) return {}
  let config = require(file)
  if (config && config.__esModule && 'default' in config) config = config.default
  if (typeof config === 'function') config = await config()
  if (config == null) return {}
  if (typeof config !== 'object') {
    throw new TypeError(`${file} must export an object of startKafka options (or a function returning one)`)
  }
  return config
}

/**
 * Starts the cluster a whole test run shares, with the options of `rootDir`'s config file,
 * unless KAFKA_BROKERS names one already. Sets KAFKA_BROKERS for the test files (and worker
 * processes started after it); `stop()` stops the cluster and restores KAFKA_BROKERS.
 * @param {string} rootDir
 */
async function startGlobal(rootDir) {
  const external = brokersFromEnv()
  if (external) return { kafka: null, brokers: external, started: false, async stop() {} }
  const options = await loadConfig(rootDir)
  const { startKafka } = require('..')
  const kafka = await startKafka(options)
  // The broker runs on its own threads; it must not keep the runner's process alive.
  kafka.unref()
  const brokers = kafka.brokers
  const previous = process.env.KAFKA_BROKERS
  process.env.KAFKA_BROKERS = brokers.join(',')
  let stopped = false
  return {
    kafka,
    brokers,
    started: true,
    async stop() {
      if (stopped) return
      stopped = true
      if (previous === undefined) delete process.env.KAFKA_BROKERS
      else process.env.KAFKA_BROKERS = previous
      await kafka.stop()
    },
  }
}

module.exports = { CONFIG_FILE, GLOBAL_KEY, brokersFromEnv, loadConfig, startGlobal }
