/**
 * vitest globalSetup: `globalSetup: ['kafka-emulator/vitest']`. Starts one cluster (options
 * from `kafka-emulator.config.js` in the project root), provides its addresses as
 * `inject('kafkaBrokers')` and sets `process.env.KAFKA_BROKERS`; starts nothing when
 * KAFKA_BROKERS is already set. Resolves with the teardown that stops the cluster.
 */
declare function setup(project?: {
  provide?: (key: 'kafkaBrokers', value: string[]) => void
  config?: { root?: string }
}): Promise<() => Promise<void>>

export default setup
export { setup }

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap addresses (`host:port`) of the cluster `kafka-emulator/vitest` started. */
    kafkaBrokers: string[]
  }
}
