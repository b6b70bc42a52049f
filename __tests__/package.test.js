'use strict'

// What a user gets from `npm install kafka-emulator`: the tarballs `npm run package` writes to
// dist/ (npm test writes them before the tests run), installed into an empty project on a PATH
// without cargo or rustc, must install quickly, compile nothing and serve a real client.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PACKAGE_DIR, emulatorOnly } = require('./helpers')

const dist = path.join(PACKAGE_DIR, 'dist')
const { version } = require('../package.json')

/** A PATH with node and the system's tools, but no Rust toolchain. */
function pathWithoutRust() {
  const dirs = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin']
  const found = dirs.filter((dir) => ['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(dir, tool))))
  assert.deepEqual(found, [], 'these PATH directories hold a Rust toolchain')
  return [...new Set(dirs)].join(path.delimiter)
}

test('the packed tarballs install into an empty project without Rust in under 60 s and serve kafkajs', emulatorOnly('installs the emulator'), (t) => {
  const tarballs = fs.existsSync(dist) ? fs.readdirSync(dist).filter((f) => f.endsWith('.tgz')) : []
  assert.ok(tarballs.includes(`kafka-emulator-${version}.tgz`), `dist/ holds no main package: run npm run package (found ${tarballs})`)
  assert.ok(tarballs.some((f) => f.startsWith('kafka-emulator-') && f !== `kafka-emulator-${version}.tgz`), 'dist/ holds no platform package')

  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-emulator-install-'))
  try {
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    const env = { ...process.env, PATH: pathWithoutRust(), npm_config_cache: path.join(app, '.npm-cache') }
    for (const key of Object.keys(env)) if (key.startsWith('npm_') && key !== 'npm_config_cache') delete env[key]

    const started = process.hrtime.bigint()
    const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
    execFileSync(process.execPath, [npmCli, 'install', '--no-audit', '--no-fund', ...tarballs.map((f) => path.join(dist, f))], { cwd: app, env, stdio: 'pipe' })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    t.diagnostic(`npm install of ${tarballs.join(', ')}: ${seconds.toFixed(1)} s`)
    assert.ok(seconds < 60, `npm install took ${seconds.toFixed(1)} s`)

    // Nothing else came along: the package has no runtime dependencies, and no addon was compiled.
    const installed = fs.readdirSync(path.join(app, 'node_modules')).filter((d) => !d.startsWith('.'))
    assert.deepEqual(installed.sort(), tarballs.map((f) => f.replace(`-${version}.tgz`, '')).sort())
    assert.deepEqual(fs.readdirSync(path.join(app, 'node_modules', 'kafka-emulator')).filter((f) => f.endsWith('.node')), [])

    const script = `
      const { Kafka, logLevel } = require(${JSON.stringify(path.join(PACKAGE_DIR, 'node_modules', 'kafkajs'))})
      const { startKafka } = require('kafka-emulator')
      ;(async () => {
        const kafka = await startKafka()
        const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
        const producer = client.producer()
        await producer.connect()
        await producer.send({ topic: 'installed', messages: [{ key: 'k', value: 'from the tarball' }] })
        await producer.disconnect()
        const [message] = kafka.messages('installed')
        await kafka.stop()
        const esm = await import('kafka-emulator')
        console.log(JSON.stringify({ value: message.value.toString(), esm: esm.startKafka === startKafka }))
      })().catch((e) => { console.error(e); process.exit(1) })`
    const run = spawnSync(process.execPath, ['-e', script], { cwd: app, env, encoding: 'utf8', timeout: 60_000 })
    assert.equal(run.status, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop()), { value: 'from the tarball', esm: true })

    const cli = spawnSync(path.join(app, 'node_modules', '.bin', 'kafka-emulator'), ['--help'], { cwd: app, env, encoding: 'utf8' })
    assert.equal(cli.status, 0, cli.stderr)
    assert.match(cli.stdout, /kafka-emulator/)
  } finally {
    fs.rmSync(app, { recursive: true, force: true })
  }
})

test('a platform without a prebuilt binary gets an error naming it and how to build from source', emulatorOnly('loads the addon'), () => {
  const script = `Object.defineProperty(process, 'platform', { value: 'freebsd' })
    try { require(${JSON.stringify(PACKAGE_DIR)}) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
  const { code, message } = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  assert.equal(code, 'ERR_KAFKA_EMULATOR_NO_BINARY')
  assert.match(message, /freebsd-x64/)
  assert.match(message, /build from source/i)
})
