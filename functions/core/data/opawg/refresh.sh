#!/usr/bin/env bash
# Refreshes the vendored OPAWG user-agents-v2 lists (MIT, see LICENSE here) from GitHub:
# the runtime patterns PodOps classifies with, and the examples its tests check them against.
# Usage: functions/core/data/opawg/refresh.sh [commit-or-branch]   (default: main)
set -euo pipefail
cd "$(dirname "$0")"
ref=${1:-main}
base="https://raw.githubusercontent.com/opawg/user-agents-v2/$ref"
for f in apps bots libraries browsers; do
  curl -fsSL "$base/build/$f.runtime.json" -o "$f.runtime.json"
  curl -fsSL "$base/build/$f.examples.json" -o "$f.examples.json"
done
curl -fsSL "$base/LICENSE" -o LICENSE
git ls-remote https://github.com/opawg/user-agents-v2 "$ref" | cut -f1 > COMMIT
echo "refreshed from opawg/user-agents-v2@$(cat COMMIT); run the tests: cargo nextest run -p podops-core analytics"
