#!/usr/bin/env bash
# Runs the benchmark suite and writes its tables (median per call, overhead and ratio to
# the bare service, Hardy's ratio to each peer) to benchmarks.md in the target directory.
# Criterion's results are read from where criterion writes them: $CRITERION_HOME if set,
# else criterion/ in the target directory ($CARGO_TARGET_DIR, the workspace's
# build.target-dir, or target/).
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
    benches=(floor timeout retry breaker bulkhead rate_limit load_shed pool fallback chaos hedge stack contention redis)
    if ! command -v redis-server >/dev/null; then
        echo "redis-server is not installed (bash .ci/setup installs it): skipping the redis bench" >&2
        benches=("${benches[@]/redis/}")
    fi
fi

target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-target}
criterion_dir=${CRITERION_HOME:-$target_dir/criterion}
# Only the results of this run: a bench that fails must not leave an old table behind.
rm -rf "$criterion_dir"
for bench in "${benches[@]}"; do
    [ -n "$bench" ] || continue
    echo "==> $bench" >&2
    cargo bench -p hardy-benches --bench "$bench" -- "${args[@]}" >&2
done
mkdir -p "$target_dir"
cargo run --quiet --release -p hardy-benches --bin report -- "$criterion_dir" > "$target_dir/benchmarks.md"
echo "wrote $target_dir/benchmarks.md from $criterion_dir" >&2
cat "$target_dir/benchmarks.md"
