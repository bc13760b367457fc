#!/usr/bin/env bash
# Feed import benchmark for BENCHMARKS.md: a generated 50 MB feed (20,000 items with show notes)
# served on loopback, imported by `podops serve` (release): a dry run (fetch to the scratch
# file, two streamed passes, the report) and a real import (one episode per item, no enclosure
# so no audio jobs). Measured side by side with `curl` fetching the same feed (the floor), as
# ratios, and podops' peak memory (VmHWM) above what it held before, against the feed's size.
# Needs: curl, python3. Usage: bench/feed_import.sh [items]
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-20000}
cargo build --release --bin podops >/dev/null 2>&1
work=$(mktemp -d)
trap 'kill $srv $web 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/wrk.sh   # free_port, wait_for
python3 - "$work/feed.xml" "$items" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
notes = ("<p>Show notes with <b>markup</b>, links to <a href=\"https://example.com/x\">sources</a> and a long "
         "paragraph of text that hosts put in every item. " * 8)
with open(path, "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Big Show</title><link>https://example.com/</link>'
            '<language>en</language><description>A very long-running show.</description>\n')
    for i in range(n):
        f.write(f'<item><title>Episode {i}</title><guid isPermaLink="false">big-{i}</guid><pubDate>Tue, 05 Mar 2024 11:00:00 GMT</pubDate>'
                f'<description><![CDATA[{notes}]]></description><content:encoded><![CDATA[{notes}]]></content:encoded>'
                f'<itunes:duration>01:02:03</itunes:duration><itunes:episode>{i + 1}</itunes:episode></item>\n')
    f.write('</channel></rss>\n')
PY
size=$(stat -c %s "$work/feed.xml")
p1=$(free_port); p2=$(free_port)
(cd "$work" && exec python3 -m http.server "$p2" --bind 127.0.0.1 >/dev/null 2>&1) & web=$!
wait_for "http://127.0.0.1:$p2/feed.xml"
./target/release/podops serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --no-rate-limits --allow-address 127.0.0.1 --log-format json 2>/dev/null & srv=$!
wait_for "http://127.0.0.1:$p1/"
API=http://127.0.0.1:$p1; AUTH="Authorization: Bearer $(cat "$work/data/admin-token")"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
hwm() { awk '/VmHWM/ {print $2}' /proc/$srv/status; }   # peak resident KiB so far
rss() { awk '/VmRSS/ {print $2}' /proc/$srv/status; }
import() { # body → seconds until done
  local start; start=$(date +%s.%N)
  local id; id=$(curl -s -X POST $API/a/v1/import/feed -H "$AUTH" -H 'Content-Type: application/json' -d "$1" | json 'd["id"]')
  while :; do
    local state; state=$(curl -s "$API/a/v1/import/feed/$id" -H "$AUTH" | json 'd["state"]')
    [ "$state" = done ] && break
    [ "$state" = failed ] && { curl -s "$API/a/v1/import/feed/$id" -H "$AUTH" >&2; exit 1; }
    sleep 0.05
  done
  python3 -c "import time; print(f'{time.time() - $start:.2f}')"
}
curl_s=$( { /usr/bin/time -f %e curl -s -o /dev/null "http://127.0.0.1:$p2/feed.xml"; } 2>&1 )
base_rss=$(rss)
dry_s=$(import "{\"url\": \"http://127.0.0.1:$p2/feed.xml\", \"dry_run\": true}")
dry_hwm=$(hwm)
real_s=$(import "{\"url\": \"http://127.0.0.1:$p2/feed.xml\", \"name\": \"big_show\"}")
real_hwm=$(hwm)
python3 - <<PY
size, items = $size, $items
curl_s, dry_s, real_s = $curl_s, $dry_s, $real_s
base, dry, real = $base_rss, $dry_hwm, $real_hwm
mb = lambda kib: kib / 1024
print(f"feed: {size / 1e6:.1f} MB, {items} items; podops held {mb(base):.0f} MiB before")
print("| step | seconds | ratio to curl | peak memory above the start | peak / feed size |")
print("|---|---|---|---|---|")
print(f"| curl fetching the feed | {curl_s:.2f} | 1.00 | — | — |")
print(f"| podops dry run (fetch, two streamed passes, report) | {dry_s:.2f} | {dry_s / max(curl_s, 0.01):.1f} | {mb(dry - base):.0f} MiB | {(dry - base) * 1024 / size:.2f} |")
print(f"| podops import ({items} episodes written) | {real_s:.2f} | {real_s / max(curl_s, 0.01):.1f} | {mb(real - base):.0f} MiB | {(real - base) * 1024 / size:.2f} |")
print(f"items per second: dry run {items / dry_s:.0f}, import {items / real_s:.0f}")
PY
