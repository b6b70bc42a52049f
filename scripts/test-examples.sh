#!/usr/bin/env bash
# Packs the package, installs examples/jest, examples/vitest and examples/start-parallel from
# the tarballs in a temp dir and runs them (__tests__/integrations.test.js). Needs the native
# addon built at the package root (npm run build) and npm's registry or cache for jest, vitest
# and kafkajs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --test --test-timeout=300000 __tests__/integrations.test.js
