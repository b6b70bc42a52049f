'use strict'

// A headless Chromium for the console's tests and screenshots: playwright-core (the
// devDependency, or the copy PLAYWRIGHT_CORE names: a package directory or an installed prefix)
// driving Debian's chromium (/usr/bin/chromium, or CHROMIUM_PATH). Not a test itself.

const fs = require('node:fs')
const path = require('node:path')

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

/** playwright-core, or the reason it cannot be loaded. */
function loadPlaywright() {
  const given = process.env.PLAYWRIGHT_CORE
  const candidates = given
    ? [given, path.join(given, 'node_modules', 'playwright-core')]
    : ['playwright-core']
  let lastError = null
  for (const candidate of candidates) {
    try {
      return { playwright: require(candidate) }
    } catch (err) {
      lastError = err
    }
  }
  return { missing: `playwright-core cannot be loaded (${lastError.message.split('\n')[0]})` }
}

/**
 * `{ chromium }` ready to launch, or `{ missing }` saying what is not installed. In CI
 * (`CI=true`) a missing browser is a failure, not a reason to skip: .ci/run installs it.
 */
function browserSupport() {
  const { playwright, missing } = loadPlaywright()
  const why = missing ?? (fs.existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)
  if (why && process.env.CI) throw new Error(`the console tests need a browser in CI: ${why}`)
  if (why) return { missing: why }
  return {
    launch: () => playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI, containers) Chromium refuses its sandbox.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    }),
  }
}

module.exports = { browserSupport }
