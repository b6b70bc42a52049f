/**
 * jest globalSetup: starts one cluster (options from `kafka-emulator.config.js` in rootDir)
 * and sets `process.env.KAFKA_BROKERS`; starts nothing when KAFKA_BROKERS is already set.
 */
declare function globalSetup(globalConfig?: { rootDir?: string }, projectConfig?: { rootDir?: string }): Promise<void>
export = globalSetup
