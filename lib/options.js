'use strict'

// The options of `startKafka` and the arguments of every control method, described once
// (mirroring index.d.ts) and checked before they reach the binding. napi's own conversion
// ignores unknown keys and names only a type ("Value is none of these types `u32`,
// `StartOptions`"); these checks name the path of what is wrong instead:
//   options.sasl.users[0].pasword is not an option (did you mean password?)
//
// The rule: a value of the wrong shape (an unknown key, a wrong type, a number out of range,
// a name outside a fixed set) throws a TypeError with code ERR_KAFKA_EMULATOR_INVALID_OPTION,
// synchronously, before anything starts. Well-formed options the broker refuses (an impossible
// cluster, an unknown Kafka API or error name, a certificate that does not parse) throw as
// before, with code ERR_INVALID_ARG_VALUE.

const CODE = 'ERR_KAFKA_EMULATOR_INVALID_OPTION'

const I16 = 2 ** 15 - 1
const I32 = 2 ** 31 - 1
const U32 = 2 ** 32 - 1

// ---- The types an option may have ----

/**
 * An integer from `min` to `max`; without `max`, up to `limit` (what the binding's field holds),
 * which is only mentioned once exceeded. `also` is one more value allowed outside the range.
 */
const integer = (min, max, { limit = Number.MAX_SAFE_INTEGER, also } = {}) => ({ kind: 'integer', min, max, limit, also })
const number = (min, max) => ({ kind: 'number', min, max })
const string = { kind: 'string' }
const boolean = { kind: 'boolean' }
const func = { kind: 'function' }
/** A Buffer (or any typed array or DataView), a string or null: a record's key, value or header. */
const bytes = { kind: 'bytes' }
/** One of `values`; `ignoreCase` where the broker matches names that way. */
const oneOf = (values, { ignoreCase = false } = {}) => ({ kind: 'enum', values, ignoreCase })
const arrayOf = (item) => ({ kind: 'array', item })
/** An object of any keys, each value of type `value` (topic configs, headers). */
const recordOf = (value) => ({ kind: 'record', value })
/** An object with exactly these keys; wrap a field in `required` if it must be given. */
const object = (fields, label) => ({ kind: 'object', fields, label })
const either = (...types) => ({ kind: 'either', types })
const required = (type) => ({ ...type, required: true })
const labelled = (label, type) => ({ ...type, label })

const port = integer(0, 65535)
const brokerId = integer(0, undefined, { limit: I32 })
const ms = integer(0, undefined, { limit: U32 })

// ---- startKafka ----

const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']
const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER']
const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace', 'off']

const ListenerOptions = object({
  port,
  host: string,
  name: string,
  security: oneOf(SECURITY_PROTOCOLS, { ignoreCase: true }),
  advertisedHost: string,
  advertisedPort: port,
})

const BrokerOptions = object({
  id: required(brokerId),
  host: string,
  listeners: arrayOf(ListenerOptions),
})

const ScramPassword = object({ password: required(string), iterations: integer(4096, 16384) })
const scramCredential = either(string, ScramPassword)
// The broker says when a user has neither a password nor a SCRAM credential.
const SaslUser = object({
  username: required(string),
  password: string,
  scram: object({ 'SCRAM-SHA-256': scramCredential, 'SCRAM-SHA-512': scramCredential }),
})

const SaslOptions = object({
  mechanisms: arrayOf(oneOf(SASL_MECHANISMS, { ignoreCase: true })),
  users: arrayOf(SaslUser),
  connectionsMaxReauthMs: integer(0),
})

const TlsOptions = object({ cert: string, key: string, ca: string, requestCert: boolean })

const AuthorizationOptions = object({ superUsers: arrayOf(string), allowEveryoneIfNoAclFound: boolean })

const DelegationTokenOptions = object({ secretKey: required(string), maxLifetimeMs: integer(1), expiryTimeMs: integer(1) })
const ConsoleOptions = object({ port, host: string, principal: string })

const StartOptions = object(
  {
    port,
    host: string,
    brokerId,
    brokers: either(integer(1, undefined, { limit: U32 }), arrayOf(BrokerOptions)),
    clusterId: string,
    // Names and ranges are the broker's to check (state/features.rs).
    features: recordOf(integer(0, I16)),
    autoCreateTopics: boolean,
    numPartitions: integer(1, undefined, { limit: I32 }),
    defaultReplicationFactor: integer(1, I16),
    messageMaxBytes: integer(0, undefined, { limit: U32 }),
    groupInitialRebalanceDelayMs: ms,
    groupMinSessionTimeoutMs: ms,
    groupMaxSessionTimeoutMs: ms,
    groupConsumerHeartbeatIntervalMs: integer(1, undefined, { limit: U32 }),
    groupConsumerSessionTimeoutMs: integer(1, undefined, { limit: U32 }),
    groupConsumerMaxSize: integer(1, undefined, { limit: U32 }),
    groupShareHeartbeatIntervalMs: integer(1, undefined, { limit: U32 }),
    groupShareSessionTimeoutMs: integer(1, undefined, { limit: U32 }),
    groupShareRecordLockDurationMs: integer(1, undefined, { limit: U32 }),
    groupShareDeliveryCountLimit: integer(2, 10),
    authorization: AuthorizationOptions,
    delegationTokens: DelegationTokenOptions,
    // -1: no time limit, as in Kafka.
    logRetentionMs: integer(-1),
    // The periodic check cannot run every 0 ms.
    logRetentionCheckIntervalMs: integer(1, undefined, { limit: U32 }),
    requestLogSize: integer(0, undefined, { limit: U32 }),
    maxConnections: integer(1, undefined, { limit: U32 }),
    connectionsMaxIdleMs: integer(1, undefined, { limit: U32 }),
    sasl: SaslOptions,
    tls: either(boolean, TlsOptions),
    logLevel: oneOf(LOG_LEVELS),
    log: func,
    console: either(boolean, ConsoleOptions),
  },
  'an object of options',
)

const START_KAFKA = [['options', either(labelled('a port (an integer 0-65535)', port), StartOptions)]]

// ---- The methods of Kafka and KafkaTls ----

const ACL_RESOURCE_TYPES = ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID', 'DELEGATION_TOKEN', 'USER']
const ACL_PATTERN_TYPES = ['LITERAL', 'PREFIXED']
const ACL_OPERATIONS = [
  'ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION',
  'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE', 'CREATE_TOKENS', 'DESCRIBE_TOKENS',
]
const ACL_PERMISSIONS = ['ALLOW', 'DENY']
/** An ACL enum: its Kafka name, or its code (the broker says whether it knows the code). */
const aclEnum = (names) => either(integer(-128, 127), oneOf(names, { ignoreCase: true }))

const AclOptions = object({
  resourceType: required(aclEnum(ACL_RESOURCE_TYPES)),
  resourceName: required(string),
  resourcePatternType: aclEnum(ACL_PATTERN_TYPES),
  principal: required(string),
  host: string,
  operation: required(aclEnum(ACL_OPERATIONS)),
  permissionType: required(aclEnum(ACL_PERMISSIONS)),
})

const partition = integer(0, undefined, { limit: I32 })
const count = integer(1, undefined, { limit: U32 })

const ProducerRecord = object({
  key: bytes,
  value: bytes,
  headers: recordOf(bytes),
  partition,
  // kafkajs' form is a string of ms; the broker parses it.
  timestamp: either(integer(Number.MIN_SAFE_INTEGER), string),
})

const DropResponseOptions = object({ api: required(string), count })
const FaultOptions = object({
  api: required(string),
  error: either(string, integer(-(2 ** 15), I16)),
  drop: oneOf(['request', 'response']),
  count,
  topic: string,
  broker: brokerId,
  clientId: string,
})
// The broker's own check allows up to a day.
const DelayOptions = object({ api: string, broker: brokerId, ms: required(number(0, 86_400_000)) })
const DisconnectOptions = object({ broker: brokerId, clientId: string })
const CreateTopicOptions = object({
  // -1: the cluster's default, as in CreateTopics.
  partitions: integer(1, undefined, { limit: I32, also: -1 }),
  replicationFactor: integer(1, I16, { also: -1 }),
  configs: recordOf(string),
})
const MessagesOptions = object({ partition, fromOffset: integer(0) })
const WaitOptions = object({ timeoutMs: ms })

/**
 * Each method's parameters, in order, as index.d.ts names them. Methods without parameters
 * (stop, reset, groups...) are listed too, so that an argument given to them is not ignored.
 */
const KAFKA_METHODS = {
  stop: [],
  applyRetention: [],
  ref: [],
  unref: [],
  clearFaults: [],
  reset: [],
  groups: [],
  requests: [],
  clearRequests: [],
  dropNextResponse: [['options', required(DropResponseOptions)]],
  failNext: [['options', required(FaultOptions)]],
  delay: [['options', required(DelayOptions)]],
  stopBroker: [['brokerId', required(brokerId)]],
  startBroker: [['brokerId', required(brokerId)]],
  disconnect: [['options', DisconnectOptions]],
  moveLeader: [
    ['topic', required(string)],
    ['partition', required(partition)],
    ['brokerId', required(brokerId)],
  ],
  createAcls: [['acls', required(arrayOf(AclOptions))]],
  createTopic: [
    ['name', required(string)],
    ['options', CreateTopicOptions],
  ],
  produce: [
    ['topic', required(string)],
    ['messages', required(arrayOf(ProducerRecord))],
  ],
  messages: [
    ['topic', required(string)],
    ['options', MessagesOptions],
  ],
  waitForMessages: [
    ['topic', required(string)],
    ['count', required(integer(0, undefined, { limit: U32 }))],
    ['options', WaitOptions],
  ],
  offsets: [['groupId', required(string)]],
}

const KAFKA_TLS_METHODS = {
  issueClientCertificate: [
    ['commonName', required(string)],
    ['hosts', arrayOf(string)],
  ],
}

// ---- Checking ----

/** What a value of `type` is, for messages: "an integer 0-65535". */
function describe(type) {
  if (type.label) return type.label
  switch (type.kind) {
    case 'integer': {
      const range = type.max === undefined ? `>= ${type.min}` : `${type.min}${type.min < 0 ? ' to ' : '-'}${type.max}`
      return `an integer ${range}${type.also === undefined ? '' : ` or ${type.also}`}`
    }
    case 'number':
      return `a number ${type.min}-${type.max}`
    case 'string':
      return 'a string'
    case 'boolean':
      return 'a boolean'
    case 'function':
      return 'a function'
    case 'bytes':
      return 'a Buffer, a string or null'
    case 'enum':
      return `one of ${type.values.map((v) => JSON.stringify(v)).join(', ')}`
    case 'array':
      return 'an array'
    case 'object':
    case 'record':
      return 'an object'
    case 'either':
      return type.types.map(describe).join(' or ')
  }
  throw new Error(`unknown option type ${type.kind}`)
}

/** A value as a message shows it: strings quoted, numbers as they are, objects by kind. */
function show(value) {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'symbol') return String(value)
  if (value === null || typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return 'an array'
  if (Buffer.isBuffer(value)) return 'a Buffer'
  const name = Object.getPrototypeOf(value)?.constructor?.name
  return name && name !== 'Object' ? `a ${name}` : 'an object'
}

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value)

/** Whether `value` is of the JS kind `type` takes, right or wrong in detail. */
function sameKind(type, value) {
  switch (type.kind) {
    case 'integer':
    case 'number':
      return typeof value === 'number'
    case 'enum':
      return typeof value === 'string'
    case 'array':
      return Array.isArray(value)
    case 'object':
    case 'record':
      return isObject(value)
    case 'bytes':
      return typeof value === 'string' || value === null || ArrayBuffer.isView(value)
    case 'either':
      return type.types.some((t) => sameKind(t, value))
  }
  return typeof value === type.kind
}

/** `path.key`, or `path["a.key"]` for one that is not an identifier. */
function childPath(path, key) {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`
}

/**
 * The edit distance between two strings, a swap of neighbours counting as one edit (optimal
 * string alignment), ignoring case: `prot` is one edit from `port`.
 */
function distance(a, b) {
  a = a.toLowerCase()
  b = b.toLowerCase()
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The candidate closest to `word`, if it is close enough to be what was meant. */
function closest(word, candidates) {
  let best
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = distance(word, candidate)
    if (d < bestDistance && d <= Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3))) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** What is wrong with `value` as a `type` at `path`, or undefined if nothing is. */
function problem(type, value, path) {
  const wrong = () => `${path} must be ${describe(type)}, got ${show(value)}`
  switch (type.kind) {
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrong()
      if (value === type.also) return undefined
      if (value < type.min || value > (type.max ?? type.limit)) {
        const limit = type.max === undefined && value > type.limit ? ` (at most ${type.limit})` : ''
        return `${path} must be ${describe(type)}${limit}, got ${show(value)}`
      }
      return undefined
    }
    case 'number':
      return typeof value === 'number' && value >= type.min && value <= type.max ? undefined : wrong()
    case 'string':
    case 'boolean':
    case 'function':
      return typeof value === type.kind ? undefined : wrong()
    case 'bytes':
      return sameKind(type, value) ? undefined : wrong()
    case 'enum': {
      if (typeof value !== 'string') return wrong()
      const fold = (s) => (type.ignoreCase ? s.toUpperCase() : s)
      if (type.values.some((v) => fold(v) === fold(value))) return undefined
      const meant = closest(value, type.values)
      return meant === undefined ? wrong() : `${wrong()} (did you mean ${JSON.stringify(meant)}?)`
    }
    case 'array': {
      if (!Array.isArray(value)) return wrong()
      for (let i = 0; i < value.length; i++) {
        const found = problem(type.item, value[i], `${path}[${i}]`)
        if (found) return found
      }
      return undefined
    }
    case 'record': {
      if (!isObject(value)) return wrong()
      for (const key of Object.keys(value)) {
        // The binding skips a key whose value is undefined, as JSON does.
        if (value[key] === undefined) continue
        const found = problem(type.value, value[key], childPath(path, key))
        if (found) return found
      }
      return undefined
    }
    case 'object': {
      if (!isObject(value)) return wrong()
      const known = Object.keys(type.fields)
      // Unknown keys first: a misspelt required key would otherwise read as a missing one.
      for (const key of Object.keys(value)) {
        if (Object.hasOwn(type.fields, key)) continue
        const meant = closest(key, known)
        const hint = meant === undefined ? `the options are ${known.join(', ')}` : `did you mean ${meant}?`
        return `${childPath(path, key)} is not an option (${hint})`
      }
      for (const key of known) {
        const field = type.fields[key]
        const given = value[key]
        // As the binding reads them, an absent field is undefined; null is a value.
        if (given === undefined) {
          if (field.required) return `${childPath(path, key)} is required: ${describe(field)}`
          continue
        }
        const found = problem(field, given, childPath(path, key))
        if (found) return found
      }
      return undefined
    }
    case 'either': {
      const problems = type.types.map((t) => problem(t, value, path))
      if (problems.includes(undefined)) return undefined
      // A value of the kind one branch takes gets that branch's own, more precise, message.
      const branch = type.types.findIndex((t) => sameKind(t, value))
      return branch === -1 ? wrong() : problems[branch]
    }
  }
  throw new Error(`unknown option type ${type.kind}`)
}

function invalid(message) {
  const error = new TypeError(message)
  error.code = CODE
  return error
}

/** Throws if `value` is not a `type`, naming `path` ("options.port", "--port"). */
function checkValue(type, value, path) {
  const found = problem(type, value, path)
  if (found) throw invalid(found)
}

/**
 * Throws if the `args` given to `callee` (`kafka.failNext`) do not fit its `parameters`
 * (`[name, type]` pairs). `prefix` starts each message about an argument (`kafka.failNext: `);
 * an optional parameter may be undefined or null, as the binding takes either for "not given".
 */
function checkArguments(callee, prefix, parameters, args) {
  let given = args.length
  while (given > 0 && args[given - 1] === undefined) given--
  if (given > parameters.length) {
    const takes = parameters.length === 0 ? 'no arguments' : `${parameters.length} argument${parameters.length === 1 ? '' : 's'} (${parameters.map(([name]) => name).join(', ')})`
    throw invalid(`${callee} takes ${takes}, got ${given}`)
  }
  parameters.forEach(([name, type], i) => {
    const value = args[i]
    if (value === undefined || value === null) {
      if (type.required) throw invalid(`${prefix}${name} is required: ${describe(type)}`)
      return
    }
    checkValue(type, value, `${prefix}${name}`)
  })
}

/** Throws if `options` are not options `startKafka` takes. */
function checkStartOptions(...args) {
  checkArguments('startKafka', '', START_KAFKA, args)
}

const GUARDED = Symbol('kafka-emulator.options-guarded')

/**
 * Replaces each method of `prototype` that `methods` describes with one that checks its
 * arguments first (messages start with `${owner}.${method}: `), then calls the original.
 * Guarding a prototype twice does nothing.
 */
function guardMethods(prototype, owner, methods) {
  if (Object.hasOwn(prototype, GUARDED)) return
  for (const [name, parameters] of Object.entries(methods)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name)
    if (!descriptor || typeof descriptor.value !== 'function') continue
    const original = descriptor.value
    const callee = `${owner}.${name}`
    const guarded = {
      [name](...args) {
        try {
          checkArguments(callee, `${callee}: `, parameters, args)
        } catch (err) {
          // The stack starts where the method was called, not in here.
          Error.captureStackTrace(err, guarded)
          throw err
        }
        return original.apply(this, args)
      },
    }[name]
    Object.defineProperty(prototype, name, { ...descriptor, value: guarded })
  }
  Object.defineProperty(prototype, GUARDED, { value: true })
}

/** The option objects by their names in index.d.ts. */
const TYPES = {
  StartOptions,
  BrokerOptions,
  ListenerOptions,
  SaslOptions,
  SaslUser,
  ScramPassword,
  TlsOptions,
  AuthorizationOptions,
  ConsoleOptions,
  AclOptions,
  ProducerRecord,
  DropResponseOptions,
  FaultOptions,
  DelayOptions,
  DisconnectOptions,
  CreateTopicOptions,
  MessagesOptions,
  WaitOptions,
}

module.exports = {
  CODE,
  StartOptions,
  TYPES,
  KAFKA_METHODS,
  KAFKA_TLS_METHODS,
  checkStartOptions,
  checkArguments,
  checkValue,
  guardMethods,
  closest,
}
