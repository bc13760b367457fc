#!/usr/bin/env bash
# Enclosure range benchmark for BENCHMARKS.md: wrk asking `podops serve` (release) for 1 MiB
# byte ranges of a 10-minute MP3 through its signed /media URL (what a feed's enclosure and a
# podcast app's resumed download use), and in the same run nginx serving the same file as a
# static file with the same Range header, as a ratio; then the whole file (streamed in chunks);
# then the ranges again with download recording (analytics) off, for its cost.
# Needs: wrk, nginx (Debian: nginx-light), curl, ffmpeg. Usage: bench/ranges.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin podops >/dev/null 2>&1
work=$(mktemp -d); chmod 755 "$work"   # nginx workers run as www-data
trap 'kill $srv $ngx 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/wrk.sh   # cwd is the repository (see the cd above)
p1=$(free_port); p2=$(free_port)
./target/release/podops serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --no-rate-limits --log-format json 2>/dev/null & srv=$!
wait_for http://127.0.0.1:$p1/
API=http://127.0.0.1:$p1; AUTH="Authorization: Bearer $(cat "$work/data/admin-token")"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
PROD=$(curl -s -X POST $API/a/v1/production -H "$AUTH" -H 'Content-Type: application/json' -d '{"name":"range_bench","title":"B"}' | json '["guid"]')
ffmpeg -v error -nostdin -f lavfi -i sine=frequency=440:duration=600 -c:a libmp3lame -b:a 128k "$work/episode.mp3"
ASSET=$(curl -s -X POST "$API/a/v1/upload/$PROD?filename=episode.mp3" -H "$AUTH" -H 'Content-Type: audio/mpeg' --data-binary @"$work/episode.mp3" | json '["guid"]')
for _ in $(seq 1 100); do
  [ "$(curl -s $API/a/v1/resource/$PROD/asset/$ASSET -H "$AUTH" | json '["state"]')" = ready ] && break; sleep 0.2
done
# The signed URL the content route redirects to: the bytes a feed's enclosure points at.
url=$(curl -s -o /dev/null -w '%{redirect_url}' "$API/a/v1/asset/$PROD/$ASSET/content" -H "$AUTH")
mkdir -p "$work/static"; cp "$work/episode.mp3" "$work/static/episode.mp3"; chmod -R a+rX "$work/static"
cat > "$work/nginx.conf" <<NGX
worker_processes 1; pid $work/nginx.pid; error_log /dev/null; daemon off;
events { worker_connections 1024; }
http { access_log off; sendfile on; default_type audio/mpeg; server { listen 127.0.0.1:$p2; root $work/static; } }
NGX
nginx -c "$work/nginx.conf" & ngx=$!
wait_for http://127.0.0.1:$p2/episode.mp3
range="Range: bytes=1048576-2097151"
[ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "$range" "$url")" = "206 1048576" ] || { echo "podops did not answer 206 with 1 MiB" >&2; exit 1; }
echo "file: $(stat -c %s "$work/episode.mp3") bytes; each request: $range (1 MiB)"
echo "| target | req/s (median) | p50 | p99 | req/s of the 3 runs |"; echo "|---|---|---|---|---|"
run podops-range "$url" "$range"; run nginx-range "http://127.0.0.1:$p2/episode.mp3" "$range"
run podops-whole "$url"; run nginx-whole "http://127.0.0.1:$p2/episode.mp3"
# The same ranges with download recording (analytics) off: the server again on the same data.
kill $srv; wait $srv 2>/dev/null || true
./target/release/podops serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --no-rate-limits --log-format json --analytics-flush 0 2>/dev/null & srv=$!
wait_for http://127.0.0.1:$p1/
run podops-range-unrecorded "$url" "$range"
python3 - "$work" <<'PY'
import sys; w=sys.argv[1]; r=lambda n: float(open(f"{w}/{n}.rps").read())
print(f"\nratios (podops / nginx): 1 MiB range {r('podops-range')/r('nginx-range'):.2f} ({r('podops-range')/1024:.2f} vs {r('nginx-range')/1024:.2f} GiB/s); "
      f"whole file {r('podops-whole')/r('nginx-whole'):.2f} ({r('podops-whole')*9.16/1024:.2f} vs {r('nginx-whole')*9.16/1024:.2f} GiB/s)")
print(f"download recording (analytics): 1 MiB ranges at {r('podops-range'):.0f} req/s recorded, {r('podops-range-unrecorded'):.0f} unrecorded: "
      f"cost {100 * (1 - r('podops-range') / r('podops-range-unrecorded')):.1f}%")
PY
