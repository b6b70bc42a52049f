'use strict'

// The Java client for the tests that drive it (kip848, tls, conformance-jvm-go): kafka-clients
// and its dependencies copied once by Maven from conformance/java/pom.xml, and one driver class
// compiled on its own, into its own directory, so test files running side by side never write
// the same classes. Not a test itself.

const { spawn, spawnSync } = require('node:child_process')
const readline = require('node:readline')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { defer, uniqueName, withDeadline } = require('./helpers')

const JAVA_DIR = path.join(__dirname, '..', 'conformance', 'java')
const LIB = path.join(JAVA_DIR, 'target', 'lib')
const DRIVERS = path.join(JAVA_DIR, 'src', 'main', 'java', 'dev', 'kafkaemulator', 'conformance')
// Jackson is for the OAUTHBEARER login module: an older copy of target/lib may lack it.
const REQUIRED_JARS = ['kafka-clients-', 'jackson-databind-']

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000 })
  return r.error ? { ok: false, out: r.error.message } : { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
}

function classesOf(driver) {
  return path.join(JAVA_DIR, 'target', `${driver}-classes`)
}

/** The classpath that runs `driver` (e.g. 'Kip848Driver') once prepareJavaDriver succeeded. */
function javaClasspath(driver) {
  return [classesOf(driver), path.join(LIB, '*')].join(path.delimiter)
}

/**
 * Fetches the dependencies once (offline first) and compiles `driver` when its source changed.
 * Returns why the Java client cannot run here, or null.
 */
function prepareJavaDriver(driver) {
  for (const tool of ['java', 'javac']) {
    if (!run(tool, ['-version']).ok) return `${tool} is not installed`
  }
  const jars = fs.existsSync(LIB) ? fs.readdirSync(LIB) : []
  if (!REQUIRED_JARS.every((jar) => jars.some((f) => f.startsWith(jar)))) {
    if (!run('mvn', ['-v']).ok) return 'mvn is not installed (needed once to fetch kafka-clients)'
    const args = ['-q', 'dependency:copy-dependencies']
    if (!run('mvn', ['-o', ...args], JAVA_DIR).ok) {
      const copy = run('mvn', args, JAVA_DIR)
      if (!copy.ok) return `mvn could not fetch the dependencies: ${copy.out}`
    }
  }
  const source = path.join(DRIVERS, `${driver}.java`)
  const classes = classesOf(driver)
  const stamp = path.join(classes, '.compiled')
  if (!fs.existsSync(stamp) || fs.statSync(source).mtimeMs > fs.statSync(stamp).mtimeMs) {
    fs.mkdirSync(classes, { recursive: true })
    const javac = run('javac', ['-nowarn', '-d', classes, '-cp', path.join(LIB, '*'), source])
    if (!javac.ok) return `javac failed: ${javac.out}`
    fs.writeFileSync(stamp, '')
  }
  return null
}

/**
 * Writes client properties (security.protocol, sasl.*, ssl.*) to a file that goes when test `t`
 * ends; returns its path.
 */
function clientPropertiesFile(t, properties) {
  const file = path.join(os.tmpdir(), `${uniqueName('java-client')}.properties`)
  // Properties files read "\n" as a newline: PEM blocks fit on one line.
  const escape = (v) => String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
  fs.writeFileSync(
    file,
    Object.entries(properties)
      .map(([k, v]) => `${k}=${escape(v)}`)
      .join('\n'),
  )
  defer(t, () => fs.rmSync(file, { force: true }))
  return file
}

/** Starts `driver` (prepared) with `args`; it is killed when test `t` ends. */
function spawnJavaDriver(t, driver, args, { logLevel = 'off', stdin = 'ignore' } = {}) {
  const child = spawn(
    'java',
    [
      `-Dorg.slf4j.simpleLogger.defaultLogLevel=${logLevel}`,
      '-cp',
      javaClasspath(driver),
      `dev.kafkaemulator.conformance.${driver}`,
      ...args,
    ],
    { stdio: [stdin, 'pipe', 'pipe'] },
  )
  child.stderrTail = ''
  child.stderr.on('data', (d) => (child.stderrTail = (child.stderrTail + d).slice(-5000)))
  defer(t, () => child.kill())
  return child
}

/** Runs `driver` (prepared) with `args` until it exits, killed if test `t` ends first. */
async function runJavaDriver(t, driver, args, options) {
  const child = spawnJavaDriver(t, driver, args, options)
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  const exited = new Promise((resolve) => child.on('exit', resolve))
  await withDeadline(exited, 60_000, `the Java client (${driver})`)
  return { stdout, stderr: child.stderrTail }
}

/** A driver's process (`driver` as prepareJavaDriver got it): commands in, events out. Every event is kept; `until` waits for a
 * condition to hold after some event. */
class JavaClients {
  constructor(driver, bootstrap) {
    this.events = []
    this.waiters = []
    this.stderr = ''
    this.child = spawn(
      'java',
      [
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        javaClasspath(driver),
        `dev.kafkaemulator.conformance.${driver}`,
        bootstrap,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    this.exited = new Promise((resolve) => this.child.on('exit', resolve))
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-20000)
    })
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event
      try {
        event = JSON.parse(line)
      } catch {
        return
      }
      this.events.push(event)
      for (const listener of this.listeners ?? []) listener(event)
      this.waiters = this.waiters.filter((w) => !w.check())
    })
  }

  send(command) {
    this.child.stdin.write(`${command}\n`)
  }

  onEvent(listener) {
    ;(this.listeners ??= []).push(listener)
  }

  /** Resolves with `cond()`'s value once it is truthy, checked now and after each event. */
  until(cond, what, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const value = cond()
          if (!value) return false
          clearTimeout(waiter.timer)
          resolve(value)
          return true
        },
      }
      if (waiter.check()) return
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        const recent = this.events.slice(-15).map((e) => JSON.stringify(e)).join('\n')
        reject(new Error(`timed out waiting for ${what}\nlast events:\n${recent}\nstderr:\n${this.stderr.slice(-3000)}`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  /** The first event (at or after index `from`) that `pred` accepts. */
  event(pred, what, from = 0, timeoutMs) {
    return this.until(() => this.events.slice(from).find(pred), what, timeoutMs)
  }

  async exit() {
    if (this.child.exitCode !== null) return
    this.send('exit')
    const timer = setTimeout(() => this.child.kill(), 30000)
    await this.exited
    clearTimeout(timer)
  }
}

module.exports = { prepareJavaDriver, javaClasspath, clientPropertiesFile, spawnJavaDriver, runJavaDriver, JavaClients }
