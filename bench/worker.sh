#!/usr/bin/env bash
# Worker benchmark for BENCHMARKS.md (issue 4). Runs the release `podops serve --workers 0`
# and one `podops worker` (concurrency 1) on a fresh data directory, and in the same run:
#  (a) one hour of generated stereo 44.1 kHz audio → MP3 128k by the worker (the job's wall
#      time from claim to done: copy of the source to scratch, encode, store), against bare
#      `ffmpeg` run with exactly the arguments the worker logged;
#  (b) the -16 LUFS MP3 128k rendition against the plain one (both worker jobs);
#  (c) import of a 1 GiB file from nginx on loopback (`localhost`, which the worker is told to
#      allow with --import-allow; the API refuses loopback addresses written in a URL) against `curl -o` of the same URL, and
#      the worker's peak RSS (a fresh worker process, VmHWM after the import).
# Needs: ffmpeg, nginx (Debian: apt-get install ffmpeg nginx-light), curl. Usage: bench/worker.sh
# (or PODOPS_BIN=target/release/podops bench/worker.sh to use an existing release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
# PODOPS_BIN=path skips the build (e.g. to reuse a release binary while other builds hold the lock).
if [ -z "${PODOPS_BIN:-}" ]; then cargo build --release --bin podops >/dev/null 2>&1; fi
PODOPS=${PODOPS_BIN:-$(pwd)/target/release/podops}
work=$(mktemp -d); chmod 755 "$work"   # nginx workers run as www-data
srv=""; wrk=""; ngx=""
trap 'kill $srv $wrk $ngx 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
p1=$(free_port); p2=$(free_port)
"$PODOPS" serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --workers 0 --no-rate-limits --log-format json 2>"$work/serve.log" & srv=$!
wait_for http://127.0.0.1:$p1/
start_worker() { "$PODOPS" worker --data-dir "$work/data" --concurrency 1 --log-format json --import-allow 127.0.0.1 --import-allow ::1 2>>"$work/worker.log" & wrk=$!; }
start_worker
API=http://127.0.0.1:$p1; ADMIN="Authorization: Bearer $(cat "$work/data/admin-token")"
PROD=$(curl -s -X POST $API/a/v1/production -H "$ADMIN" -H 'Content-Type: application/json' -d '{"name":"worker_bench","title":"B"}' | json '["guid"]')
# The elapsed_ms the worker logged for a job.
job_ms() { python3 - "$work/worker.log" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("message") == "job handled" and e.get("job") == sys.argv[2]: ms = e["elapsed_ms"]
print(ms)
PY
}
wait_job() { for _ in $(seq 1 6000); do grep -q "\"job handled\".*\"job\":\"$1\"\|\"job\":\"$1\".*\"job handled\"" "$work/worker.log" && return 0; sleep 0.1; done; echo "job $1 never ended" >&2; exit 1; }

echo "generating one hour of stereo 44.1 kHz audio (pink noise, a different seed per channel)"
ffmpeg -v error -nostdin -f lavfi -i "anoisesrc=color=pink:sample_rate=44100:amplitude=0.2:duration=3600:seed=1" \
  -f lavfi -i "anoisesrc=color=pink:sample_rate=44100:amplitude=0.2:duration=3600:seed=2" \
  -filter_complex "[0][1]join=inputs=2:channel_layout=stereo" -c:a pcm_s16le "$work/hour.wav"
ID=$(curl -s -X POST -T "$work/hour.wav" -H "$ADMIN" -H 'Content-Type: audio/wav' "$API/a/v1/upload/$PROD?filename=hour.wav" | json '["guid"]')
wait_job "probe-$ID"; echo "probe (ffprobe + ebur128 with true peak) of the hour: $(job_ms "probe-$ID") ms"

rendition() { # query job-name → the job's ms
  curl -s -o /dev/null "$API/a/v1/asset/$PROD/$ID/content?$1" -H "$ADMIN"
  wait_job "transcode-$ID-$2"; job_ms "transcode-$ID-$2"
}
# A first rendition (mono) only to learn the worker's exact ffmpeg arguments.
rendition "format=mp3&bitrate=128000&channels=1" "mp3-128000-1" >/dev/null
# Bare ffmpeg with the worker's own arguments, on the stored source, in the same run.
src=$(ls "$work"/data/media/objects/media/$PROD/$ID.wav)
python3 - "$work/worker.log" "$src" "$work/bare.mp3" > "$work/bare.args" <<'PY'
import json, sys
cmd = None
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("message") == "ffmpeg transcode" and "libmp3lame" in e["command"] and "volume=" not in e["command"]: cmd = json.loads(e["command"])
i = cmd.index("-i"); cmd[i + 1] = "file:" + sys.argv[2]; cmd[-1] = "file:" + sys.argv[3]
cmd[cmd.index("-ac") + 1] = "2"   # the measured rendition is the stereo one
print("\n".join(cmd))
PY
mapfile -t bare_args < "$work/bare.args"
bare() { local t0 t1; t0=$(date +%s%N); ffmpeg "${bare_args[@]}"; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
# Bare runs bracket the worker's (before and after), so load from elsewhere drifts out of the ratio.
bare1_ms=$(bare)
plain_ms=$(rendition "format=mp3&bitrate=128000&channels=2" "mp3-128000-2")
bare2_ms=$(bare)
bare_ms=$(( (bare1_ms + bare2_ms) / 2 ))
# The worker's own ffmpeg time for that job (the rest of the job is the worker's overhead).
inner_ms=$(python3 - "$work/worker.log" <<'PY'
import json, sys
last_cmd, ms = None, None
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("message") == "ffmpeg transcode": last_cmd = e["command"]
    if e.get("message") == "ffmpeg transcode ended" and last_cmd and '"-ac","2"' in last_cmd.replace(" ", "") and "volume=" not in last_cmd: ms = e["elapsed_ms"]
print(ms)
PY
)
loud_ms=$(rendition "format=mp3&bitrate=128000&channels=2&loudness=-16" "mp3-128000-2-l16")
echo "bare ffmpeg command: ffmpeg ${bare_args[*]}"; echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# (c) 1 GiB import vs curl, with a fresh worker process for a clean peak RSS.
kill $wrk; wait $wrk 2>/dev/null || true; start_worker
mkdir -p "$work/static"; head -c 1073741824 /dev/urandom > "$work/static/big.mp3"
cat > "$work/nginx.conf" <<NGX
worker_processes 1; pid $work/nginx.pid; error_log /dev/null; daemon off;
events { worker_connections 64; }
http { access_log off; sendfile on; types { audio/mpeg mp3; } server { listen 127.0.0.1:$p2; root $work/static; } }
NGX
nginx -c "$work/nginx.conf" & ngx=$!
wait_for http://127.0.0.1:$p2/big.mp3 2>/dev/null || true
cat "$work/static/big.mp3" > /dev/null
# Three alternating rounds; medians. Each import is a new asset (the later ones share the first's
# object by content, after storing and hashing their own copy like the first).
curls=(); imports=()
for round in 1 2 3; do
  t0=$(date +%s%N); curl -s -o "$work/curl.bin" http://localhost:$p2/big.mp3; t1=$(date +%s%N); rm "$work/curl.bin"
  curls+=($(( (t1 - t0) / 1000000 )))
  IMP=$(curl -s -X POST $API/_t/import -H "$ADMIN" -H 'Content-Type: application/json' -d "{\"production\":\"$PROD\",\"url\":\"http://localhost:$p2/big.mp3\"}" | json '["guid"]')
  wait_job "import-$IMP"; imports+=($(job_ms "import-$IMP"))
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
curl_ms=$(median "${curls[@]}"); import_ms=$(median "${imports[@]}")
echo "curl -o runs (ms): ${curls[*]}; import runs (ms): ${imports[*]}"
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$wrk/status)
python3 - "$plain_ms" "$bare_ms" "$loud_ms" "$curl_ms" "$import_ms" "$rss_kb" "$bare1_ms" "$bare2_ms" "$inner_ms" <<'PY'
import sys
plain, bare, loud, curl, imp, rss, b1, b2, inner = map(int, sys.argv[1:10])
print(f"(a) MP3 128k of 1 h: worker job {plain/1000:.1f} s (its ffmpeg {inner/1000:.1f} s, the rest {(plain-inner)/1000:.2f} s), "
      f"bare ffmpeg {bare/1000:.1f} s (before {b1/1000:.1f}, after {b2/1000:.1f}), ratio {plain/bare:.3f} (target <= 1.05)")
print(f"(b) -16 LUFS MP3 128k: {loud/1000:.1f} s vs plain {plain/1000:.1f} s, ratio {loud/plain:.3f} (target <= 1.2)")
print(f"(c) import 1 GiB (medians of 3): worker job {imp/1000:.2f} s ({1024/(imp/1000):.0f} MiB/s), curl -o {curl/1000:.2f} s ({1024/(curl/1000):.0f} MiB/s), "
      f"speed ratio {curl/imp:.2f} (target >= 0.8); worker peak RSS {rss/1024:.1f} MiB (target < 100)")
PY
