'use strict'

// vitest globalSetup (`globalSetup: ['kafka-emulator/vitest']`): starts one cluster (options
// from kafka-emulator.config.js in the project root), provides its addresses as
// `inject('kafkaBrokers')` and sets KAFKA_BROKERS; nothing is started when KAFKA_BROKERS is
// already set. The returned function stops the cluster.

const { startGlobal } = require('../lib/test-runners.js')

/**
 * @param {{ provide?: (key: string, value: unknown) => void, config?: { root?: string } }} [project]
 * @returns {Promise<() => Promise<void>>}
 */
async function setup(project) {
  const root = (project && project.config && project.config.root) || process.cwd()
  const global = await startGlobal(root)
  if (project && typeof project.provide === 'function') project.provide('kafkaBrokers', global.brokers)
  return () => global.stop()
}

module.exports = setup
module.exports.default = setup
module.exports.setup = setup
