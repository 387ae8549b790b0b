#!/usr/bin/env bash
# Runs the benchmark suite and writes its tables (median per call, overhead and ratio to
# the bare service, Hardy's ratio to each peer) to target/benchmarks.md.
#
#   benches/run.sh            full criterion runs (several minutes per bench)
#   benches/run.sh --quick    short warm-up and measurement: a first look in minutes
#   benches/run.sh --quick stack breaker    only the named benches
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
if [ "${1:-}" = "--quick" ]; then
    args=(--warm-up-time 1 --measurement-time 2 --sample-size 20)
    shift
fi
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
    benches=(floor timeout retry breaker bulkhead rate_limit load_shed pool fallback chaos stack)
fi

rm -rf target/criterion
for bench in "${benches[@]}"; do
    echo "==> $bench" >&2
    cargo bench -p hardy-benches --bench "$bench" -- "${args[@]}" >&2
done
cargo run --quiet --release -p hardy-benches --bin report -- target/criterion > target/benchmarks.md
echo "wrote target/benchmarks.md" >&2
cat target/benchmarks.md
