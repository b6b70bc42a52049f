#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/): `npm run fuzz -- [seconds] [target...]`, each target for
# `seconds` (default 60), seeded from fuzz/corpus/<target> (committed; `cargo test` replays it)
# and growing fuzz/corpus-work/<target> (not committed). A crash lands in fuzz/artifacts/<target>;
# minimise it with `cargo +nightly fuzz tmin --fuzz-dir fuzz <target> <file>` and add it to the
# committed corpus once fixed. Needs a nightly toolchain and cargo-fuzz (installed if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(frame session records)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus-work/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target.log"
  echo "== $target: ${seconds}s"
  # -timeout: a single input running 10 s is a hang; -rss_limit_mb: memory per input.
  if ! cargo +nightly fuzz run --fuzz-dir fuzz -O "$target" "fuzz/corpus-work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    grep -E "ERROR|SUMMARY|panicked|Test unit written" "$log" || tail -20 "$log"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$log" | tr '\n' ' '
  echo
done
