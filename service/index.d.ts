import type { Kafka, StartOptions } from '../index'

/** A started kafka service. */
export interface StartedKafkaService {
  name: 'kafka'
  /** Host of the first broker's first listener. */
  host: string
  /** Its port: 9092, or a free one when 9092 was taken, or `options.port`. */
  port: number
  /** Bootstrap addresses, `host:port`. */
  brokers: string[]
  /** Environment for the code under test: `KAFKA_BROKERS` (comma list). */
  env: { KAFKA_BROKERS: string }
  /** The emulated cluster, for its test helpers (reset(), failNext()...). */
  kafka: Kafka
  /** Stops the cluster. */
  stop(): Promise<void>
}

/** What any started service offers. */
export interface StartedService {
  name: string
  host?: string
  port?: number
  env?: Record<string, string>
  stop(): Promise<void> | void
  [key: string]: unknown
}

/** A service definition: a name and how to start it. */
export interface ServiceDefinition<Options = any, Started extends Omit<StartedService, 'name'> = Omit<StartedService, 'name'>> {
  name: string
  start(options?: Options): Promise<Started>
  options?: Options
}

/** The kafka service: an emulated cluster on port 9092, or a free port when it is taken. */
export declare const service: {
  name: 'kafka'
  start(options?: StartOptions): Promise<StartedKafkaService>
}

/** Service definitions `{ name }` entries resolve to. */
export declare const services: { kafka: typeof service }

/** The default port of the kafka service. */
export declare const DEFAULT_PORT: 9092

/** An entry of `startParallel({ services })`. */
export type ServiceEntry = { name: 'kafka'; options?: StartOptions } | { name: string; options?: unknown } | ServiceDefinition

/** Started services. */
export interface ParallelInstance {
  /** Each started service by name (`get('kafka')` is a StartedKafkaService). */
  services: Map<string, StartedService> & { get(name: 'kafka'): StartedKafkaService | undefined }
  /** Every service's `env` merged. */
  env: Record<string, string>
  /** Stops every service. */
  stop(): Promise<void>
}

/**
 * Starts services concurrently; if one fails, stops those that started and rejects with its
 * error.
 */
export declare function startParallel(config: { services: ServiceEntry[] }): Promise<ParallelInstance>
