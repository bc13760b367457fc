#!/usr/bin/env bash
# No enumeration by timing (issue 14): POST /a/v1/login for known and unknown addresses, interleaved,
# against `podops serve` (release) with sign-up closed — the case where only a known address gets a
# mail. Prints the distributions of both and their ratio. Needs curl, python3. Usage: bench/login_timing.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
cargo build --release --bin podops >/dev/null 2>&1
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/podops serve --listen 127.0.0.1:$port --data-dir "$work/data" --no-rate-limits --signup closed --workers 0 --log-format json 2>/dev/null & srv=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/ >/dev/null && break; sleep 0.1; done
API=http://127.0.0.1:$port; ADMIN=$(cat "$work/data/admin-token")
PROD=$(curl -s -X POST $API/a/v1/production -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"name":"timing_bench","title":"T"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["guid"])')
# Known users: invited as members (users without a sign-in yet).
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -X PUT "$API/a/v1/production/$PROD/member/known$i@example.com" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"role":"viewer"}'
done
for i in $(seq 1 "$N"); do
  # Which goes first alternates, so neither pays for going first.
  if (( i % 2 )); then order="known unknown"; else order="unknown known"; fi
  for who in $order; do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST "$API/a/v1/login" -H 'Content-Type: application/json' -d "{\"email\":\"$who$i@example.com\"}")
    echo "$who $t"
  done
done > "$work/times"
sleep 0.5  # mails leave after a random pause of up to 200 ms
python3 - "$work/times" "$work/data/outbox" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
codes = {c for _, c, _ in rows}
assert codes == {"202"}, codes
t = {w: sorted(float(s) * 1000 for who, _, s in rows if who == w) for w in ("known", "unknown")}
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
print("| address | n | median ms | p90 ms | p99 ms |\n|---|---|---|---|---|")
for w, xs in t.items():
    print(f"| {w} | {len(xs)} | {statistics.median(xs):.3f} | {q(xs, .9):.3f} | {q(xs, .99):.3f} |")
print(f"\nmedian ratio known/unknown: {statistics.median(t['known']) / statistics.median(t['unknown']):.3f}")
mails = len([f for f in os.listdir(sys.argv[2]) if f.endswith('.eml')])
print(f"mails written: {mails} (one per known address; none for unknown ones)")
PY
