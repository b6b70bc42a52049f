'use strict'

// `preset: 'kafka-emulator'` in a jest config: one emulated cluster for the whole run, its
// addresses in process.env.KAFKA_BROKERS. Options for it go in kafka-emulator.config.js.

const path = require('node:path')

/** @type {import('./jest-preset').KafkaEmulatorJestPreset} */
module.exports = {
  globalSetup: path.join(__dirname, 'jest', 'global-setup.js'),
  globalTeardown: path.join(__dirname, 'jest', 'global-teardown.js'),
}
