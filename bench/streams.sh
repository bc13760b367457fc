#!/usr/bin/env bash
# Live-stream benchmark for BENCHMARKS.md (the "CPU/memory bench of 20 streams" of docs/streams.md).
# Runs the release `podops serve` (its in-process worker runs the streams, --max-streams 20) and an
# Icecast 2 on loopback, then for N=1 and N=20 tone streams (MP3 32k, 22.05 kHz mono, one Icecast
# output each) measures over a 30 s window of steady state, in the same window:
#  - the CPU time (utime+stime from /proc/<pid>/stat) of the podops process itself (supervisor:
#    pump, heartbeats, API) and of its child FFmpegs (per stream a source and an encoder), and
#    their memory (VmRSS, and PSS from smaps_rollup, which splits shared library pages);
#  - the same N encodes done by bare `ffmpeg -re -f lavfi -i sine=… … icecast://…`, one process
#    per stream, side by side (so load from elsewhere hits both alike);
#  - the store writes of each stream's run record (`LIVE#<id>`: its `version` grows by one per
#    write) and new log chunks, read from <data-dir>/podops.db at both ends of the window.
# Checks that every stream is still `running` at the end and that Icecast lists N sources of each.
# Needs: ffmpeg, icecast2 (Debian: apt-get install ffmpeg icecast2), curl, python3.
# Usage: bench/streams.sh (or PODOPS_BIN=target/release/podops bench/streams.sh to use an existing
# release binary). Uses the Icecast at PODOPS_TEST_ICECAST (with PODOPS_TEST_ICECAST_PASSWORD) when
# set, else starts one (scripts/receivers.sh). The markdown for BENCHMARKS.md goes to stdout (also
# appended to $BENCH_APPEND when set), progress to stderr. BENCH_STREAMS="1 20", BENCH_WINDOW=30,
# BENCH_SETTLE=5 (seconds between "all running" and the window) and BENCH_START_TIMEOUT=180 change
# the run; BENCH_KEEP=1 keeps the temp dir (data dir, server log, bare FFmpegs' logs).
set -euo pipefail
cd "$(dirname "$0")/.."
# PODOPS_BIN=path skips the build (e.g. to reuse a release binary while other builds hold the lock).
if [ -z "${PODOPS_BIN:-}" ]; then cargo build --release --bin podops >/dev/null 2>&1; fi
PODOPS=${PODOPS_BIN:-$(pwd)/target/release/podops}
COUNTS=${BENCH_STREAMS:-1 20}; WINDOW=${BENCH_WINDOW:-30}; SETTLE=${BENCH_SETTLE:-5}
MAX=0; for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done
TCK=$(getconf CLK_TCK)
RUN=$$   # in every mount name, so a shared Icecast never mixes two runs

say() { printf '==> %s\n' "$*" >&2; }   # receivers.sh keeps ours: progress on stderr
source scripts/receivers.sh

work=$(mktemp -d)
srv=""; API=""; ADMIN=""; PROD=""; ids=(); bare=(); napping=""
# A sleep that a signal to this script interrupts at once (bash runs traps only between commands).
nap() { sleep "$1" & napping=$!; wait "$napping"; napping=""; }
stop_bare() {
  [ ${#bare[@]} -gt 0 ] || return 0
  kill "${bare[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "${bare[@]}" 2>/dev/null || break; sleep 0.1; done
  kill -9 "${bare[@]}" 2>/dev/null || true
  wait "${bare[@]}" 2>/dev/null || true
  bare=()
}
cleanup() {
  local rc=$? id _
  set +e
  [ -n "$napping" ] && kill "$napping" 2>/dev/null
  stop_bare
  if [ -n "$srv" ] && kill -0 "$srv" 2>/dev/null; then
    # Stop the streams through the API (encoders get end of input), then the server (SIGTERM).
    for id in "${ids[@]}"; do curl -s -m 5 -o /dev/null -X POST "$API/a/v1/stream/$PROD/$id/stop" -H "$ADMIN"; done
    for _ in $(seq 1 50); do
      [ ${#ids[@]} -eq 0 ] && break
      [ "$(status_summary "${ids[@]}" | cut -d' ' -f2)" -eq 0 ] 2>/dev/null && break
      sleep 0.2
    done
    kill -TERM "$srv"
    for _ in $(seq 1 150); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$srv" 2>/dev/null
  fi
  [ -n "$srv" ] && wait "$srv" 2>/dev/null
  stop_receivers
  if [ "$rc" -ne 0 ] && [ -f "$work/serve.log" ]; then
    echo "failed (exit $rc); the end of the server's log:" >&2; tail -n 30 "$work/serve.log" >&2
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# api METHOD PATH [BODY]: the response body; a status >= 400 fails with the body on stderr.
api() {
  local args=(-s -m 30 -w '\n%{http_code}' -X "$1" "$API$2" -H "$ADMIN") out code
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  out=$(curl "${args[@]}") || { echo "$1 $2: curl failed" >&2; return 1; }
  code=${out##*$'\n'}; out=${out%$'\n'*}
  if [ "$code" -ge 400 ]; then echo "$1 $2 → HTTP $code: $out" >&2; return 1; fi
  printf '%s\n' "$out"
}
# status_summary ID…: "<running with every output live> <running or starting> <state of each>".
status_summary() {
  local id
  for id in "$@"; do curl -s -m 5 "$API/a/v1/stream/$PROD/$id/status" -H "$ADMIN" || true; echo; done | python3 -c '
import json, sys
ok = busy = 0; states = []
for line in sys.stdin:
    if not line.strip(): continue
    try: s = json.loads(line)
    except ValueError: s = {}
    st = s.get("state", "?"); outs = s.get("outputs") or []
    live = st == "running" and len(outs) > 0 and all(o.get("state") == "live" for o in outs)
    ok += live; busy += st in ("queued", "starting", "running", "reconnecting", "paused", "stopping")
    states.append(st if live or st != "running" else "running(outputs:" + ",".join(o.get("state", "?") for o in outs) + ")")
print(ok, busy, " ".join(states))'
}
# Mount names (without the slash) of the sources Icecast lists.
icecast_mounts() {
  curl -s -m 5 "http://$PODOPS_TEST_ICECAST/status-json.xsl" | python3 -c '
import json, sys
try: src = json.load(sys.stdin)["icestats"].get("source", [])
except (ValueError, KeyError, TypeError): src = []
for s in [src] if isinstance(src, dict) else src: print(s.get("listenurl", "").rsplit("/", 1)[-1])'
}
count_mounts() { icecast_mounts | grep -c -- "$1" || true; }
stream_id() { printf 'b0000000%04x' "$1"; }
stream_body() { # i → the stream's JSON (the password may hold any character: built by json.dumps)
  python3 - "$1" "$PODOPS_TEST_ICECAST" "$PODOPS_TEST_ICECAST_PASSWORD" "$RUN" <<'PY'
import json, sys
i = int(sys.argv[1]); ice, pw, run = sys.argv[2:5]
print(json.dumps({"title": f"s{i}", "profile": "aaaaaaaaaaa1", "input": {"tone": {"frequency": 300 + i * 20}},
                  "outputs": [{"kind": "icecast", "url": f"icecast://{ice}/bench{i}-{run}.mp3", "password": pw}]}))
PY
}
# snapshot FILE: CPU ticks and memory of the server, its FFmpeg children and the bare FFmpegs, and the
# run records' versions in the store, at one instant.
snapshot() {
  python3 - "$1" "$srv" "$work/data/podops.db" "$PROD" "${ids[*]}" "${bare[*]:-}" <<'PY'
import json, os, sqlite3, sys, time
out, srv, db, prod, streams, bare = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(), [int(p) for p in sys.argv[6].split()]
t = time.time()
def kb(path, key):
    try:
        for line in open(path):
            if line.startswith(key): return int(line.split()[1])
    except OSError: pass
    return 0
def proc(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError: return None
    comm, f = s[s.index("(") + 1:s.rindex(")")], s[s.rindex(")") + 2:].split()
    return {"comm": comm, "ppid": int(f[1]), "ticks": int(f[11]) + int(f[12]), "cticks": int(f[13]) + int(f[14]),
            "rss": kb(f"/proc/{pid}/status", "VmRSS:"), "pss": kb(f"/proc/{pid}/smaps_rollup", "Pss:"),
            # only the encoder reports -progress (a URL source also reads stdin)
            "role": "encoder" if b"-progress" in args else "source"}
server = proc(srv)
children = {}
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != srv:
        q = proc(int(p))
        if q and q["ppid"] == srv and q["comm"] == "ffmpeg": children[p] = q
bares = {str(p): q for p in bare if (q := proc(p))}
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
rows = con.execute("SELECT sort, version FROM records WHERE partition = ? AND (sort GLOB 'LIVE#*' OR sort GLOB 'LIVELOG#*')", (f"PROD#{prod}",)).fetchall()
con.close()
live = {sort[5:]: v for sort, v in rows if sort.startswith("LIVE#") and sort[5:] in streams}
chunks = sum(1 for sort, _ in rows if sort.startswith("LIVELOG#"))
json.dump({"t": t, "server": server, "ffmpeg": children, "bare": bares, "live": live, "log_chunks": chunks,
           "loadavg": open("/proc/loadavg").read().split()[0]}, open(out, "w"))
PY
}

# 1. The server and the receiver.
p1=$(free_port)
"$PODOPS" serve --listen 127.0.0.1:$p1 --data-dir "$work/data" --workers 2 --max-streams "$MAX" --allow-address 127.0.0.1 --no-rate-limits --log-format json 2>"$work/serve.log" & srv=$!
start_icecast
wait_for http://127.0.0.1:$p1/
API=http://127.0.0.1:$p1; ADMIN="Authorization: Bearer $(cat "$work/data/admin-token")"
PW_ENC=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PODOPS_TEST_ICECAST_PASSWORD")

# 2. A production and the profile; the server's memory before any stream.
PROD=$(api POST /a/v1/production '{"name":"bench_streams","title":"Bench"}' | json '["guid"]')
api POST "/a/v1/resource/$PROD/profile/aaaaaaaaaaa1" '{"name":"low","format":"mp3","bitrate":32000,"sample_rate":22050,"channels":1}' >/dev/null
sleep 2; snapshot "$work/before.json"

{
  echo "## Live streams: CPU and memory per stream"
  echo
  echo "Command: \`${PODOPS_BIN:+PODOPS_BIN=$PODOPS_BIN }bench/streams.sh\` (needs ffmpeg and icecast2). Result of $(date +%F)."
  echo "Machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); $(ffmpeg -version | head -1 | cut -d' ' -f1-3)."
  echo
  echo "\`podops serve --workers 2 --max-streams $MAX --allow-address 127.0.0.1\` (release) and Icecast 2 on loopback."
  echo "Each stream: a tone (\`input.tone\`), profile MP3 32 kb/s, 22.05 kHz mono, one Icecast output;"
  echo "PodOps runs a source FFmpeg (lavfi sine → s16le on stdout), its pump, and an encoder FFmpeg (s16le on stdin → libmp3lame → icecast)."
  echo "Bare FFmpeg, in the same window: \`ffmpeg -re -f lavfi -i sine=frequency=F:sample_rate=22050 -c:a libmp3lame -b:a 32k -ar 22050 -ac 1 -content_type audio/mpeg -password … -f mp3 icecast://source@…\`, one process per stream."
  echo "CPU: utime+stime over a ${WINDOW} s window (after ${SETTLE} s of settling), as % of one core; the supervisor is the podops process itself (pump, heartbeats, API, scheduler)."
  echo "Memory per stream: (server RSS at the end − its RSS before any stream + the RSS of its FFmpegs) / N; PSS (smaps_rollup) shares library pages between processes."
  echo "Store writes: growth of each run record's \`version\` (\`LIVE#<id>\` in podops.db: one per write) over the window."
} > "$work/report.md"

# 3. For each N: start streams up to N, the same number of bare FFmpegs, measure.
created=0
for N in $COUNTS; do
  while [ "$created" -lt "$N" ]; do
    created=$((created + 1)); id=$(stream_id $created)
    api POST "/a/v1/resource/$PROD/stream/$id" "$(stream_body $created)" >/dev/null
    api POST "/a/v1/stream/$PROD/$id/start" >/dev/null
    ids+=("$id")
  done
  say "N=$N: waiting for ${#ids[@]} streams to run"
  for t in $(seq 1 ${BENCH_START_TIMEOUT:-180}); do
    read -r ok _ states <<<"$(status_summary "${ids[@]}")"
    [ "$ok" -eq "$N" ] && break
    if [ "$t" -eq "${BENCH_START_TIMEOUT:-180}" ]; then
      echo "not all running after $t s: $states" >&2
      for id in "${ids[@]}"; do api GET "/a/v1/stream/$PROD/$id/logs?limit=20" >&2 || true; done
      exit 1
    fi
    sleep 1
  done
  say "N=$N: all running after ~$t s; starting $N bare FFmpegs"
  for i in $(seq 1 "$N"); do
    ffmpeg -nostdin -hide_banner -v error -re -f lavfi -i "sine=frequency=$((300 + i * 20)):sample_rate=22050" \
      -c:a libmp3lame -b:a 32k -ar 22050 -ac 1 -content_type audio/mpeg -password "$PW_ENC" \
      -f mp3 "icecast://source@$PODOPS_TEST_ICECAST/bare$N-$i-$RUN.mp3" 2>"$work/bare-$N-$i.log" &
    bare+=($!)
  done
  for t in $(seq 1 100); do
    [ "$(count_mounts "^bare$N-[0-9]*-$RUN\.mp3$")" -eq "$N" ] && break
    if [ "$t" -eq 100 ]; then echo "Icecast does not list the $N bare sources:" >&2; tail -n 3 "$work"/bare-$N-*.log >&2; exit 1; fi
    sleep 0.2
  done
  nap "$SETTLE"
  say "N=$N: measuring for $WINDOW s"
  snapshot "$work/t0-$N.json"; nap "$WINDOW"; snapshot "$work/t1-$N.json"
  read -r ok _ states <<<"$(status_summary "${ids[@]}")"
  ours=$(count_mounts "^bench[0-9]*-$RUN\.mp3$"); theirs=$(count_mounts "^bare$N-[0-9]*-$RUN\.mp3$")
  alive=0; for p in "${bare[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
  stop_bare
  python3 - "$N" "$TCK" "$work/before.json" "$work/t0-$N.json" "$work/t1-$N.json" "$ok" "$ours" "$theirs" "$alive" "$states" "$SETTLE" >> "$work/report.md" <<'PY'
import json, sys
N, tck = int(sys.argv[1]), int(sys.argv[2])
before, a, b = (json.load(open(p)) for p in sys.argv[3:6])
ok, ours, theirs, alive, states, settle = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10], sys.argv[11]
win = b["t"] - a["t"]
pct = lambda ticks: ticks / tck / win * 100          # % of one core over the window
mib = lambda kb: kb / 1024
warn = []
def cpu(group, role=None):
    common = [p for p in a[group] if p in b[group] and (role is None or b[group][p]["role"] == role)]
    return pct(sum(b[group][p]["ticks"] - a[group][p]["ticks"] for p in common))
if set(a["ffmpeg"]) != set(b["ffmpeg"]):
    warn.append(f"PodOps' FFmpeg processes changed during the window ({len(set(a['ffmpeg']) ^ set(b['ffmpeg']))} started or ended): a restart; its CPU is only partly counted")
if len(b["ffmpeg"]) != 2 * N:
    warn.append(f"{len(b['ffmpeg'])} FFmpeg children of the server at the end, expected {2 * N}")
if set(a["bare"]) != set(b["bare"]) or len(b["bare"]) != N or alive != N:
    warn.append(f"only {alive} of {N} bare FFmpegs still ran at the end")
if ok != N: warn.append(f"only {ok} of {N} streams running with their output live at the end: {states}")
if ours != N: warn.append(f"Icecast lists {ours} PodOps sources, expected {N}")
if theirs != N: warn.append(f"Icecast lists {theirs} bare sources, expected {N}")

sup = pct(b["server"]["ticks"] - a["server"]["ticks"])
src, enc, ff = cpu("ffmpeg", "source"), cpu("ffmpeg", "encoder"), cpu("ffmpeg")
bare = cpu("bare")
podops = sup + ff
mem = {}
for k in ("rss", "pss"):
    delta = b["server"][k] - before["server"][k]
    ffk = sum(p[k] for p in b["ffmpeg"].values())
    mem[k] = (mib(delta) / N, mib(ffk) / N, mib(delta + ffk) / N, mib(sum(p[k] for p in b["bare"].values())) / max(len(b["bare"]), 1))
writes = sum(b["live"].get(s, 0) - v for s, v in a["live"].items())
chunks = b["log_chunks"] - a["log_chunks"]
per_hour = writes / N / win * 3600
r = lambda x, y: f"{x / y:.2f}" if y > 0 else "–"

print(f"\n### N = {N} stream{'s' if N > 1 else ''}\n")
print(f"Window {win:.1f} s after {settle} s of settling; load average {a['loadavg']} → {b['loadavg']}. "
      f"At the end: {ok}/{N} streams `running` with their output live, Icecast lists {ours} PodOps and {theirs} bare sources.\n")
print("| per stream | PodOps | bare `ffmpeg` | PodOps / bare |")
print("|---|---|---|---|")
print(f"| CPU, % of one core | **{podops / N:.2f}** = supervisor {sup / N:.2f} + FFmpeg {ff / N:.2f} (source {src / N:.2f}, encoder {enc / N:.2f}) | {bare / N:.2f} | **{r(podops, bare)}** |")
for k, name in (("rss", "RSS"), ("pss", "PSS")):
    d, f, t, bm = mem[k]
    print(f"| memory, MiB {name} | {t:.1f} = server Δ {d:.2f} + FFmpeg {f:.1f} (2 processes) | {bm:.1f} | {r(t, bm)} |")
print(f"| store writes per stream-hour (measured) | {per_hour:.0f} ± {3600 / win / N:.0f} ({writes} run-record writes by {N} stream{'s' if N > 1 else ''} in {win:.1f} s; {chunks} log chunks) | – | |")
print(f"\nWhole server: RSS {mib(before['server']['rss']):.1f} MiB before any stream → {mib(b['server']['rss']):.1f} MiB; "
      f"its own CPU {sup:.2f} % of one core, its FFmpegs {ff:.2f} %, bare FFmpegs {bare:.2f} % (all {N}).")
print(f"(Resolution: one clock tick is {pct(1):.3f} % of one core over this window, {pct(1) / N:.4f} % per stream.)")
for w in warn: print(f"\n**Warning:** {w}.")
PY
  say "N=$N: done"
done

cat >> "$work/report.md" <<'MD'

Store reads per stream-hour (from the code, not measured: SQLite counts no reads): 1,800 by the
heartbeat (one strongly consistent read of the run record every 2 s), plus one before each status
write (`update_live` reads the record back for its conditional replace: as many as the writes
above); while the worker has a free stream slot (N < `--max-streams`) its orphan scan also reads the
run record of every listed stream every 3 s (1,200 more per stream-hour, plus one `LIVE_STREAMS`
query per scan and worker); with every slot taken the scan is skipped. Writes: docs/streams.md
gives 720 per stream-hour (one per 5 s), but the status is written at a beat (every 2 s) once 5 s
have passed since the last write, i.e. every 6 s, 600 per hour; the measured rows are the check.
MD
cat "$work/report.md"
if [ -n "${BENCH_APPEND:-}" ]; then cat "$work/report.md" >> "$BENCH_APPEND"; fi
