# Shared by the wrk benchmarks (bench/api.sh, bench/feeds.sh): sourced after `work` is set.

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits (up to 10 s) until a URL answers.
wait_for() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
run() { # name url [header] — three 10 s runs, the median by req/s is reported
  local rows=""
  for _ in 1 2 3; do
    local out; out=$(wrk -t2 -c32 -d10s --latency ${3:+-H "$3"} "$2")
    rows+="$(awk '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, p50, p99}' <<<"$out")"$'\n'
  done
  local med; med=$(sort -n <<<"${rows%$'\n'}" | sed -n 2p)
  read -r rps p50 p99 <<<"$med"
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$(cut -d' ' -f1 <<<"${rows%$'\n'}" | tr '\n' ' ')"
  echo "$rps" > "$work/$1.rps"
}

# pair nameA urlA headerA nameB urlB [headerB] — A and B alternate, five 10 s runs each, so a
# drift of the machine (a noisy neighbour) weighs on both alike; each median is reported as
# `run` does, and the ratio of the medians.
pair() {
  local a="" b=""
  once() { wrk -t2 -c32 -d10s --latency ${2:+-H "$2"} "$1" | awk '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, p50, p99}'; }
  for _ in 1 2 3 4 5; do
    a+="$(once "$2" "$3")"$'\n'
    b+="$(once "$5" "${6:-}")"$'\n'
  done
  local name rows med rps p50 p99
  for name in "$1" "$4"; do
    if [ "$name" = "$1" ]; then rows=$a; else rows=$b; fi
    med=$(sort -n <<<"${rows%$'\n'}" | sed -n 3p)
    read -r rps p50 p99 <<<"$med"
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$(cut -d' ' -f1 <<<"${rows%$'\n'}" | tr '\n' ' ')"
    echo "$rps" > "$work/$name.rps"
  done
}
