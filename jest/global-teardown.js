'use strict'

// jest globalTeardown: stops the cluster global-setup.js started (if it started one).

const { GLOBAL_KEY } = require('../lib/test-runners.js')

module.exports = async function globalTeardown() {
  const global = globalThis[GLOBAL_KEY]
  delete globalThis[GLOBAL_KEY]
  if (global) await global.stop()
}
