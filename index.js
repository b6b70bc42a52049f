'use strict'
// The package's entry point. `binding.js` is napi-rs' generated loader: it picks the prebuilt
// addon for this platform (a `kafka-emulator-<platform>` optional dependency, or a local
// `kafka-emulator.<platform>.node` built from source). This file turns its failure into an
// error that says which platform is missing and how to build one, and is where JS-side
// checks of the public API sit.

const options = require('./lib/options.js')

const PREBUILT = ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc']

/** The suffix napi-rs names platform packages by: linux-x64-gnu, darwin-arm64, win32-x64-msvc. */
function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    // Node's report names the glibc it runs on; a musl Node has none.
    const header = process.report?.getReport?.()?.header
    return `linux-${arch}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

let binding
try {
  binding = require('./binding.js')
} catch (cause) {
  const suffix = platformSuffix()
  const why = PREBUILT.includes(suffix)
    ? `its prebuilt binary, the optional dependency kafka-emulator-${suffix}, is not installed: reinstall ` +
      `without --omit=optional / --no-optional (a package-lock.json written on another platform can also leave it out).\n` +
      `Or build`
    : `kafka-emulator has no prebuilt binary for it (prebuilt: ${PREBUILT.join(', ')}).\nBuild`
  const error = new Error(
    `kafka-emulator cannot load its native addon on ${suffix} (Node ${process.version}): ${why}` +
      ` from source (needs Rust, https://rustup.rs): clone the repository, run \`npm install\` there ` +
      `(it compiles the addon into kafka-emulator.${suffix}.node), then \`npm install /path/to/clone\` in your project.`,
    { cause },
  )
  error.code = 'ERR_KAFKA_EMULATOR_NO_BINARY'
  throw error
}

// Every option and argument is checked against lib/options.js before it reaches the binding,
// which would ignore unknown keys and name only a type. The methods are replaced on the
// classes' prototypes, so instances stay `instanceof Kafka` and the types stay index.d.ts'.
options.guardMethods(binding.Kafka.prototype, 'kafka', options.KAFKA_METHODS)
options.guardMethods(binding.KafkaTls.prototype, 'kafka.tls', options.KAFKA_TLS_METHODS)

/** `binding.startKafka`, after checking its options (a bad one throws, as the binding does). */
function startKafka(...args) {
  try {
    options.checkStartOptions(...args)
  } catch (err) {
    Error.captureStackTrace(err, startKafka)
    throw err
  }
  return binding.startKafka(...args)
}

module.exports = {
  Kafka: binding.Kafka,
  KafkaTls: binding.KafkaTls,
  startKafka,
}
