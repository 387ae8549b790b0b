#!/usr/bin/env bash
# The overload harness: four servers (no protection; tower's ConcurrencyLimit + LoadShed
# + Timeout; tower-resilience's bulkhead + time limiter + breaker; Hardy's adaptive load
# shedder + timeout + breaker) in front of the same backend of known capacity, under
# open-loop load at 0.5, 1, 2 and 4 × capacity, a step from 1 to 2 ×, and a 4 × burst.
# Then one load point again with oha, an independent load generator, as a cross-check.
#
# Everything runs on loopback; each run is bounded in time and request count. Results
# go to target/load/ (overload.md, overload.svg, oha.json).
#
#   benches/load.sh                 the whole harness, then the oha check
#   benches/load.sh --seconds 4     shorter load points
#   SKIP_OHA=1 benches/load.sh      without the oha check
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/load
mkdir -p "$out"
cargo build --release -p hardy-benches --bin load
load=target/release/load
"$load" --out "$out" "$@"

[ -n "${SKIP_OHA:-}" ] && exit 0

# The cross-check: Hardy's server at 2 × capacity (as the harness measured it), for
# 5 s, measured by oha from each request's scheduled time (--latency-correction), as
# the harness measures.
if ! command -v oha >/dev/null; then
    echo "installing oha (cargo install oha)" >&2
    cargo install --locked oha
fi
url_file=$(mktemp)
trap 'rm -f "$url_file"; [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true' EXIT
"$load" serve --server hardy --for 15 > "$url_file" &
server=$!
for _ in $(seq 100); do
    [ "$(wc -l < "$url_file")" -ge 2 ] && break
    sleep 0.1
done
url=$(sed -n 1p "$url_file")
rate=$(sed -n 2p "$url_file")
[ -n "$url" ] && [ -n "$rate" ] || { echo "the server did not start" >&2; exit 1; }
echo "oha: $rate requests/s for 5 s against $url" >&2
oha --no-tui -z 5s -q "$rate" --latency-correction -c 512 --output-format json "$url" > "$out/oha.json"
wait "$server" || true
server=""
# The harness's own view of the same point, and oha's, side by side.
"$load" --seconds 6 point --server hardy --load 2 | tee "$out/cross-check.txt"
python3 - "$out/oha.json" <<'PY' | tee -a "$out/cross-check.txt"
import json, sys
d = json.load(open(sys.argv[1]))
codes = d["statusCodeDistribution"]
total = sum(codes.values())
seconds = d["summary"]["total"]
p = d["latencyPercentiles"]
print(
    f"oha at the same rate: {codes.get('200', 0) / seconds:.0f} answered 200 a second, "
    f"{codes.get('503', 0) / total * 100:.1f} % answered 503, every answer p50 "
    f"{p['p50'] * 1000:.1f} ms p99 {p['p99'] * 1000:.1f} ms p99.9 {p['p99.9'] * 1000:.1f} ms"
)
PY
