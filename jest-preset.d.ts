declare namespace preset {
  /** The jest preset `preset: 'kafka-emulator'` names. */
  interface KafkaEmulatorJestPreset {
    /** Absolute path of `kafka-emulator/jest/global-setup`. */
    globalSetup: string
    /** Absolute path of `kafka-emulator/jest/global-teardown`. */
    globalTeardown: string
  }
}
declare const preset: preset.KafkaEmulatorJestPreset
export = preset
