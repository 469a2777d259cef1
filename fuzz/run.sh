#!/usr/bin/env bash
# Run every fuzz target for SECONDS each, on the stable toolchain.
#
#   fuzz/run.sh 20          # 20 s per target; exits non-zero on the first crash
#
# cargo-fuzz passes -Z flags (sanitizer coverage) that only nightly rustc accepts; RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them, so no nightly toolchain is needed. No sanitizer is used
# (`-s none`): the code under test is safe Rust, and ASan would need an instrumented std (nightly).
# Each target starts from its seeds (fuzz/seeds/<target>, in the repository) and grows
# fuzz/corpus/<target> (not in the repository). A crash leaves its input in fuzz/artifacts/<target>.
set -euo pipefail
secs=${1:?usage: fuzz/run.sh SECONDS}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "== cargo fuzz build (stable + RUSTC_BOOTSTRAP=1, no sanitizer)"
cargo fuzz build -s none
summary=()
for t in $(cargo fuzz list); do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== $t: ${secs}s"
  log=$(mktemp)
  if ! cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t failed; the input is in fuzz/artifacts/$t" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  summary+=("$t: $execs executions in ${secs}s ($cov)")
  rm -f "$log"
done
echo "== summary"
printf '%s\n' "${summary[@]}"
