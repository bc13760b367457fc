#!/usr/bin/env bash
# Client upload benchmark for BENCHMARKS.md: a 1 GiB file sent to `podops serve` (release) by
# `podops upload` (8 MiB parts, 4 at once, sha256 while reading, resumable) and, in the same run,
# by `curl -T` to a presigned single-PUT URL of the same server, and copied with `cp`.
# Median of 3 runs each. Needs: curl, python3. Usage: bench/upload.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin podops >/dev/null 2>&1
size_mib=${1:-1024}
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/podops serve --listen 127.0.0.1:$port --data-dir "$work/data" --workers 0 --no-rate-limits --log-format json 2>/dev/null & srv=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/ >/dev/null && break; sleep 0.1; done
API=http://127.0.0.1:$port
export XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state"
podops() { ./target/release/podops "$@"; }
podops login --api $API --token "$(cat "$work/data/admin-token")" 2>/dev/null
podops production create upload-bench --title Bench >/dev/null
podops use upload-bench 2>/dev/null
head -c $((size_mib << 20)) /dev/urandom > "$work/file.wav"
sha=$(sha256sum "$work/file.wav" | cut -d' ' -f1)
PROD=$(podops production list -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["guid"])')
AUTH="Authorization: Bearer $(cat "$work/data/admin-token")"
now() { date +%s.%N; }
median() { sort -n | sed -n 2p; }
t_cli=""; t_curl=""; t_cp=""
for _ in 1 2 3; do
  # Each sender starts with no dirty pages left by the one before (writeback would slow it).
  sync
  s=$(now); podops upload "$work/file.wav" -o json > "$work/out.json" 2>/dev/null; e=$(now)
  python3 -c "import json,sys; a=json.load(open('$work/out.json')); assert a['sha256']=='$sha', a" 
  t_cli+="$(echo "$e - $s" | bc -l)"$'\n'
  sync
  # curl: declare, PUT the whole file to the signed URL, complete (the server hashes on the way in).
  s=$(now)
  out=$(curl -s -X POST $API/a/v1/upload/$PROD -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"filename\":\"file.wav\",\"size\":$((size_mib << 20)),\"content_type\":\"audio/wav\"}")
  url=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["upload"]["url"])' <<<"$out")
  complete=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["upload"]["complete"])' <<<"$out")
  curl -s -o /dev/null -T "$work/file.wav" -H 'Content-Type: audio/wav' "$url"
  curl -s -o /dev/null -X POST "$API$complete" -H "$AUTH"
  e=$(now); t_curl+="$(echo "$e - $s" | bc -l)"$'\n'
  sync
  s=$(now); cp "$work/file.wav" "$work/copy.wav"; sync "$work/copy.wav"; e=$(now); rm -f "$work/copy.wav"
  t_cp+="$(echo "$e - $s" | bc -l)"$'\n'
done
c=$(printf %s "$t_cli" | median); u=$(printf %s "$t_curl" | median); p=$(printf %s "$t_cp" | median)
printf 'file: %d MiB, %s\n' "$size_mib" "$(nproc) vCPU"
printf '| podops upload | %.2f s | %.0f MB/s |\n' "$c" "$(echo "$size_mib * 1.048576 / $c" | bc -l)"
printf '| curl -T (presigned single PUT + complete) | %.2f s | %.0f MB/s |\n' "$u" "$(echo "$size_mib * 1.048576 / $u" | bc -l)"
printf '| cp + sync | %.2f s | |\n' "$p"
printf 'ratio podops/curl throughput: %.2f\n' "$(echo "$u / $c" | bc -l)"
