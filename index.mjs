// ESM entry: the same objects as the CommonJS one (one addon instance per process).
import { createRequire } from 'node:module'

const cjs = createRequire(import.meta.url)('./index.js')

export const { Kafka, KafkaTls, startKafka } = cjs
export default cjs
