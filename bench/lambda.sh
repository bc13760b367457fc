#!/usr/bin/env bash
# The Lambda functions' sizes and cold starts (issue 6): starts moto unless
# PODOPS_TEST_AWS_ENDPOINT points at an emulator, builds the release binaries
# (the functions, and `podops` for the `podops serve` baseline), runs the
# cold_start bench (functions/lambda/benches/cold_start.rs) and prints the
# table in BENCHMARKS.md. With cargo-lambda installed (`pip install
# cargo-lambda`), also the size of each arm64 bootstrap as deployed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/.venv/bin:$PATH"

moto_pid=""
cleanup() { if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT INT TERM
if [ -z "${PODOPS_TEST_AWS_ENDPOINT:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p target
  moto_server -H 127.0.0.1 -p "$port" >target/moto-bench-lambda.log 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
  export PODOPS_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test} AWS_REGION=${AWS_REGION:-us-east-1}

cargo build --release -p podops -p podops-lambda
cargo bench -p podops-lambda --bench cold_start

if command -v cargo-lambda >/dev/null 2>&1; then
  cargo lambda build --release --arm64 -p podops-lambda
  echo
  echo "| function | arm64 bootstrap (cargo lambda build --release --arm64) |"
  echo "|---|---|"
  for f in target/lambda/podops-*/bootstrap; do
    awk -v n="$(basename "$(dirname "$f")")" -v s="$(stat -c %s "$f")" 'BEGIN { printf "| %s | %.1f MB |\n", n, s / 1e6 }'
  done
fi
