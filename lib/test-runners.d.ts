import type { Kafka, StartOptions } from '../index'

/** The file of `startKafka` options the test-runner integrations read from the project root. */
export declare const CONFIG_FILE: 'kafka-emulator.config.js'
/** Where `globalThis` keeps the cluster between jest's globalSetup and globalTeardown. */
export declare const GLOBAL_KEY: unique symbol

/** The cluster a whole test run shares. */
export interface GlobalKafka {
  /** The emulator, or null when KAFKA_BROKERS named a cluster and none was started. */
  kafka: Kafka | null
  /** Bootstrap addresses, `host:port`. */
  brokers: string[]
  /** Whether an emulator was started. */
  started: boolean
  /** Stops the emulator (if one was started) and restores KAFKA_BROKERS. */
  stop(): Promise<void>
}

/** The brokers of KAFKA_BROKERS, or null when it is unset or empty. */
export declare function brokersFromEnv(env?: Record<string, string | undefined>): string[] | null
/** The options of `kafka-emulator.config.js` in `rootDir`, or `{}` without that file. */
export declare function loadConfig(rootDir?: string): Promise<StartOptions>
/** Starts the shared cluster unless KAFKA_BROKERS names one; sets KAFKA_BROKERS. */
export declare function startGlobal(rootDir?: string): Promise<GlobalKafka>
