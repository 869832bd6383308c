#!/usr/bin/env bash
# The whole GitOps loop on this machine: a local SCOW-AI sandbox, then
# validate -> plan -> apply -> plan (no changes) -> status over specs/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PORT=${SCOWSPEC_DEMO_PORT:-8765}
STATE=$(mktemp -d)
"$BIN/scowspec" sandbox --port "$PORT" --state "$STATE/sandbox.db" --pending-seconds 1 &
SANDBOX=$!
cleanup() { kill "$SANDBOX" 2>/dev/null || true; wait "$SANDBOX" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
export SCOWSPEC_PORTAL_URL="http://127.0.0.1:$PORT/ai" SCOWSPEC_TOKEN=sandbox-token
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step scowspec validate specs;                  "$BIN/scowspec" validate specs
step scowspec plan specs;                      "$BIN/scowspec" plan specs
step scowspec apply --yes specs;               "$BIN/scowspec" apply --yes specs
step scowspec plan --detailed-exitcode specs;  "$BIN/scowspec" plan --detailed-exitcode specs
step scowspec status specs;                    "$BIN/scowspec" status specs
printf '\nThe portal matches the specs. Edit a spec (e.g. learning_rate) and plan again to see a replace.\n'
cleanup
trap - EXIT
