'use strict'

// The test-runner integrations as a user gets them: the package and its linux-x64-gnu binary
// package, packed by `npm run package` into dist/, are copied into a temp dir; each example of examples/ is copied beside
// them and installed from those tarballs (npm's cache serves jest, vitest and kafkajs once it
// has them), then run: jest through `preset: 'kafka-emulator'`, vitest through
// `globalSetup: ['kafka-emulator/vitest']`, and the startParallel script.
// scripts/test-examples.sh runs just this file.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PACKAGE_DIR, emulatorOnlyFile, startBroker } = require('./helpers')

if (emulatorOnlyFile('the examples start emulators through the test-runner integrations')) return

const PLATFORM_PACKAGE = 'kafka-emulator-linux-x64-gnu'
const BINARY = 'kafka-emulator.linux-x64-gnu.node'
const EXAMPLES = ['jest', 'vitest', 'start-parallel']
/** npm install of one example, or one run of it, may take this long before the test fails. */
const STEP_MS = 240_000

const supported = process.platform === 'linux' && process.arch === 'x64' &&
  fs.existsSync(path.join(PACKAGE_DIR, BINARY))
const skip = supported ? false : `the examples use the ${PLATFORM_PACKAGE} package: needs linux x64 and ${BINARY} built at the package root (npm run build)`

/** The environment of every child: never a real cluster's KAFKA_BROKERS, no npm chatter. */
function childEnv(extra = {}) {
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...extra }
  if (!('KAFKA_BROKERS' in extra)) delete env.KAFKA_BROKERS
  return env
}

/** Runs a command; resolves { code, output } (stdout and stderr together) once it exits. */
function run(cmd, args, { cwd, env = childEnv(), ms = STEP_MS } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} in ${cwd} did not exit within ${ms} ms; output:\n${output}`))
    }, ms)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, output }) })
  })
}

/** Fails with the command's output unless it exited 0. */
async function ok(cmd, args, options) {
  const result = await run(cmd, args, options)
  assert.equal(result.code, 0, `${cmd} ${args.join(' ')} exited ${result.code ?? result.signal}:\n${result.output}`)
  return result.output
}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx'

describe('test-runner integrations (examples/)', { skip }, () => {
  let tmp
  const dir = (name) => path.join(tmp, 'examples', name)

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-emulator-examples-'))
    // The tarballs `npm run package` wrote (npm test writes them before the tests run), as a
    // user's install pulls them; the examples name ../../dist/<name>-<version>.tgz.
    const packed = path.join(PACKAGE_DIR, 'dist')
    const tarballs = fs.existsSync(packed) ? fs.readdirSync(packed).filter((f) => f.endsWith('.tgz')) : []
    assert.ok(tarballs.some((f) => f.startsWith(PLATFORM_PACKAGE)), `no ${PLATFORM_PACKAGE} tarball in dist/: run npm run package`)
    fs.mkdirSync(path.join(tmp, 'dist'))
    for (const file of tarballs) fs.copyFileSync(path.join(packed, file), path.join(tmp, 'dist', file))
    // Installs run side by side; --ignore-scripts: nothing of the examples needs a build step.
    await Promise.all(EXAMPLES.map(async (name) => {
      fs.cpSync(path.join(PACKAGE_DIR, 'examples', name), dir(name), {
        recursive: true,
        filter: (src) => !/[\\/](node_modules|package-lock\.json)$/.test(src),
      })
      await ok(NPM, ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: dir(name) })
    }))
  })

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  test('jest: preset kafka-emulator, two files in workers, exits by itself, no open handles', async () => {
    const output = await ok(NPX, ['jest', '--detectOpenHandles', '--ci', '--maxWorkers=2'], { cwd: dir('jest') })
    assert.match(output, /Tests:\s+4 passed, 4 total/, output)
    assert.doesNotMatch(output, /open handle|did not exit/i, output)
  })

  test('jest: with KAFKA_BROKERS set, runs against that cluster and starts none', async () => {
    // The example's kafka-emulator.config.js asks for 3 partitions: so must this cluster.
    const kafka = await startBroker({ numPartitions: 3 })
    try {
      const output = await ok(NPX, ['jest', '--ci'], { cwd: dir('jest'), env: childEnv({ KAFKA_BROKERS: kafka.brokers.join(',') }) })
      assert.match(output, /Tests:\s+4 passed, 4 total/, output)
      assert.ok(kafka.requests().some((r) => r.api === 'Produce'), 'the tests produced to the cluster named in KAFKA_BROKERS')
    } finally {
      await kafka.stop()
    }
  })

  test('vitest: globalSetup kafka-emulator/vitest, inject(kafkaBrokers)', async () => {
    const output = await ok(NPX, ['vitest', 'run'], { cwd: dir('vitest'), env: childEnv({ NO_COLOR: '1', CI: 'true' }) })
    assert.match(output, /Tests\s+2 passed \(2\)/, output)
  })

  test('startParallel: the kafka service, then kafkajs on localhost:port', async () => {
    const output = await ok(process.execPath, ['index.js'], { cwd: dir('start-parallel') })
    assert.match(output, /kafka service on port \d+/, output)
    assert.match(output, /consumed: hello world/, output)
  })
})
