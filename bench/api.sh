#!/usr/bin/env bash
# API benchmark for BENCHMARKS.md: wrk against `podops serve` (release) and, in the same run,
# nginx serving the same JSON bytes as static files (the two alternate, five runs each, medians
# reported); then a 1 GiB upload against `cp`.
# Needs: wrk, nginx (Debian: apt-get install wrk nginx-light), curl. Usage: bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin podops >/dev/null 2>&1
work=$(mktemp -d); chmod 755 "$work"   # nginx workers run as www-data
trap 'kill $srv $ngx 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/wrk.sh   # cwd is the repository (see the cd above)
p1=$(free_port); p2=$(free_port)
./target/release/podops serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --no-rate-limits --log-format json 2>/dev/null & srv=$!
wait_for http://127.0.0.1:$p1/
API=http://127.0.0.1:$p1; ADMIN=$(cat "$work/data/admin-token")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -s -X POST $API/_a/token -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"client_id":"bench","scopes":["production:read","production:write","resource:read","resource:write"]}' | json '["token"]')
AUTH="Authorization: Bearer $TOKEN"
PROD=$(curl -s -X POST $API/a/v1/production -H "$AUTH" -H 'Content-Type: application/json' -d '{"name":"benchmark_show","title":"B"}' | json '["guid"]')
for i in $(seq 1 100); do
  id=$(printf '%012x' $i)
  curl -s -o /dev/null -X POST $API/a/v1/resource/$PROD/episode/$id -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"title\":\"Episode $i\",\"summary\":\"A summary of episode $i with a few words in it.\",\"published\":1795000000,\"season\":1,\"episode\":$i,\"tracks\":[{\"artist\":\"Beirut\",\"title\":\"Elephant Gun\",\"offset\":754}]}"
done
one=/a/v1/resource/$PROD/episode/000000000001; list="/a/v1/resource/$PROD/episode?limit=100"
mkdir -p "$work/static"; curl -s "$API$one" -H "$AUTH" > "$work/static/one.json"; curl -s "$API$list" -H "$AUTH" > "$work/static/list.json"
cat > "$work/nginx.conf" <<NGX
worker_processes 1; pid $work/nginx.pid; error_log /dev/null; daemon off;
events { worker_connections 1024; }
http { access_log off; default_type application/json; server { listen 127.0.0.1:$p2; root $work/static; } }
NGX
nginx -c "$work/nginx.conf" & ngx=$!
wait_for http://127.0.0.1:$p2/one.json
echo "| target | req/s (median of 5) | p50 | p99 | req/s of the 5 runs |"; echo "|---|---|---|---|---|"
pair podops-get "$API$one" "$AUTH" nginx-get "http://127.0.0.1:$p2/one.json"
pair podops-list100 "$API$list" "$AUTH" nginx-list100 "http://127.0.0.1:$p2/list.json"
python3 - "$work" <<'PY'
import sys; w=sys.argv[1]; r=lambda n: float(open(f"{w}/{n}.rps").read())
print(f"\nratios (podops / nginx): get {r('podops-get')/r('nginx-get'):.2f}, list of 100 {r('podops-list100')/r('nginx-list100'):.2f}")
PY
echo; echo "bytes: one episode $(wc -c < "$work/static/one.json"), list of 100 $(wc -c < "$work/static/list.json")"

# 1 GiB upload vs cp (same disk), and the server's peak RSS.
head -c 1073741824 /dev/urandom > "$work/big.bin"; sync
t0=$(date +%s.%N); cp "$work/big.bin" "$work/copy.bin"; sync; t1=$(date +%s.%N); rm "$work/copy.bin"
rss_before=$(awk '/VmHWM/ {print $2}' /proc/$srv/status)
t2=$(date +%s.%N)
code=$(curl -s -o "$work/up.json" -w '%{http_code}' -X POST -T "$work/big.bin" -H "$AUTH" -H 'Content-Type: audio/mpeg' "$API/a/v1/upload/$PROD?filename=big.mp3"); sync
t3=$(date +%s.%N)
rss_after=$(awk '/VmHWM/ {print $2}' /proc/$srv/status)
python3 - "$t0" "$t1" "$t2" "$t3" "$code" "$rss_before" "$rss_after" <<'PY'
import sys; t0,t1,t2,t3=map(float,sys.argv[1:5]); code=sys.argv[5]; rb,ra=int(sys.argv[6]),int(sys.argv[7])
cp=t1-t0; up=t3-t2
print(f"upload 1 GiB: HTTP {code}, {up:.2f} s ({1024/up:.0f} MiB/s); cp: {cp:.2f} s ({1024/cp:.0f} MiB/s); speed ratio upload/cp = {cp/up:.2f}")
print(f"server peak RSS (VmHWM): before upload {rb/1024:.1f} MiB, after {ra/1024:.1f} MiB")
PY
