import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    globalSetup: ['kafka-emulator/vitest'],
  },
})
