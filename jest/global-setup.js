'use strict'

// jest globalSetup: starts one cluster (options from kafka-emulator.config.js in rootDir) and
// sets KAFKA_BROKERS for the test files; nothing is started when KAFKA_BROKERS is already set.

const { GLOBAL_KEY, startGlobal } = require('../lib/test-runners.js')

/**
 * @param {{ rootDir?: string }} [globalConfig]
 * @param {{ rootDir?: string }} [projectConfig]
 */
module.exports = async function globalSetup(globalConfig, projectConfig) {
  const rootDir = (projectConfig && projectConfig.rootDir) || (globalConfig && globalConfig.rootDir) || process.cwd()
  const previous = globalThis[GLOBAL_KEY]
  if (previous) await previous.stop()
  globalThis[GLOBAL_KEY] = await startGlobal(rootDir)
}
