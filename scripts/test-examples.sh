#!/usr/bin/env bash
# Installs examples/jest, examples/vitest and examples/start-parallel from
# the tarballs npm run package writes (packed here first) in a temp dir and runs them (__tests__/integrations.test.js). Needs the native
# addon built at the package root (npm run build) and npm's registry or cache for jest, vitest
# and kafkajs.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/package.js --skip-build
exec node --test --test-timeout=300000 __tests__/integrations.test.js
