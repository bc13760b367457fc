#!/usr/bin/env bash
# Feed serving benchmark for BENCHMARKS.md: wrk against `podops serve` (release) serving the
# published feed of a 300-episode show, and in the same run nginx serving the same bytes as a
# static file, plain and with gzip_static (a `gzip -9` copy beside it), as ratios.
# Needs: wrk, nginx (with gzip_static: Debian's nginx-light has it), curl, ffmpeg.
# Usage: bench/feeds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin podops >/dev/null 2>&1
work=$(mktemp -d); chmod 755 "$work"   # nginx workers run as www-data
trap 'kill $srv $ngx 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/wrk.sh   # cwd is the repository (see the cd above)
p1=$(free_port); p2=$(free_port)
./target/release/podops serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --no-rate-limits --rebuild-delay 3600 --log-format json 2>/dev/null & srv=$!
wait_for http://127.0.0.1:$p1/
API=http://127.0.0.1:$p1; AUTH="Authorization: Bearer $(cat "$work/data/admin-token")"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
PROD=$(curl -s -X POST $API/a/v1/production -H "$AUTH" -H 'Content-Type: application/json' -d '{"name":"feed_bench","title":"B"}' | json '["guid"]')
curl -s -o /dev/null -X POST $API/a/v1/resource/$PROD/show/aaaaaaaaaaaa -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"title":"Feed Bench","description":"A show of 300 episodes.","language":"en","category":"Technology","image":"https://example.com/art.jpg","author":"Ann","owner":{"name":"Ann","email":"ann@example.com"}}'
ffmpeg -v error -nostdin -f lavfi -i sine=frequency=440:duration=5 -c:a libmp3lame -b:a 64k "$work/tone.mp3"
ASSET=$(curl -s -X POST "$API/a/v1/upload/$PROD?filename=tone.mp3" -H "$AUTH" -H 'Content-Type: audio/mpeg' --data-binary @"$work/tone.mp3" | json '["guid"]')
for _ in $(seq 1 100); do
  [ "$(curl -s $API/a/v1/resource/$PROD/asset/$ASSET -H "$AUTH" | json '["state"]')" = ready ] && break; sleep 0.2
done
# 300 published episodes with summaries of varied words (seeded), like a real show's:
# the feed is about 150 KB and compresses as text does, not 20:1.
python3 - "$work/episodes" "$ASSET" <<'PY'
import json, random, sys, os
random.seed(7); os.makedirs(sys.argv[1], exist_ok=True)
words = "the a show guest talks about music science history city night radio story week news interview live studio \
season listener question answer episode host friend travel book film game code design data market climate food".split()
for i in range(1, 301):
    summary = " ".join(random.choice(words) for _ in range(random.randint(40, 70))).capitalize() + "."
    body = {"title": f"Episode {i}: " + " ".join(random.choice(words) for _ in range(5)), "summary": summary,
            "published": 1700000000 + i * 86400, "season": 1 + i // 100, "episode": i, "enclosure": sys.argv[2]}
    open(f"{sys.argv[1]}/{i:012x}.json", "w").write(json.dumps(body))
PY
for f in "$work"/episodes/*.json; do
  curl -s -o /dev/null -X POST "$API/a/v1/resource/$PROD/episode/$(basename "$f" .json)" -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$f"
done
curl -s -o /dev/null -X POST $API/a/v1/build -H "$AUTH" -H 'Content-Type: application/json' -d "{\"production\":\"$PROD\"}"
FEED=$API/feeds/feed_bench/feed.xml
mkdir -p "$work/static"; curl -s "$FEED" > "$work/static/feed.xml"; gzip -9 -k "$work/static/feed.xml"
cat > "$work/nginx.conf" <<NGX
worker_processes 1; pid $work/nginx.pid; error_log /dev/null; daemon off;
events { worker_connections 1024; }
http { access_log off; default_type application/rss+xml; gzip_static on; etag on;
       server { listen 127.0.0.1:$p2; root $work/static; } }
NGX
nginx -c "$work/nginx.conf" & ngx=$!
wait_for http://127.0.0.1:$p2/feed.xml
echo "| target | req/s (median) | p50 | p99 | req/s of the 3 runs |"; echo "|---|---|---|---|---|"
run podops-feed "$FEED"; run nginx-feed "http://127.0.0.1:$p2/feed.xml"
run podops-feed-gzip "$FEED" 'Accept-Encoding: gzip'; run nginx-feed-gzip_static "http://127.0.0.1:$p2/feed.xml" 'Accept-Encoding: gzip'
run podops-feed-br "$FEED" 'Accept-Encoding: br'
python3 - "$work" <<'PY'
import sys; w=sys.argv[1]; r=lambda n: float(open(f"{w}/{n}.rps").read())
print(f"\nratios (podops / nginx): feed {r('podops-feed')/r('nginx-feed'):.2f}, gzipped feed {r('podops-feed-gzip')/r('nginx-feed-gzip_static'):.2f} (nginx gzip_static)")
PY
echo; echo "bytes: feed $(wc -c < "$work/static/feed.xml"), gzip -9 $(wc -c < "$work/static/feed.xml.gz"), podops gzip $(curl -s -H 'Accept-Encoding: gzip' "$FEED" | wc -c), podops br $(curl -s -H 'Accept-Encoding: br' "$FEED" | wc -c)"
