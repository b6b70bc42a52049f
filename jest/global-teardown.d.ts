/** jest globalTeardown: stops the cluster `kafka-emulator/jest/global-setup` started. */
declare function globalTeardown(): Promise<void>
export = globalTeardown
