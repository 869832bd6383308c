#!/usr/bin/env bash
# The whole GitOps loop on this machine: a local SCOW-AI sandbox, then
# validate -> plan -> apply -> plan (no changes) -> status over specs/.
# Stops at the first failure, the sandbox's own included: a busy port must never send the demo's jobs elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PORT=${SCOWSPEC_DEMO_PORT:-8765}
STATE=$(mktemp -d)
"$BIN/scowspec" sandbox --port "$PORT" --state "$STATE/sandbox.db" --pending-seconds 1 2> "$STATE/sandbox.log" &
SANDBOX=$!
cleanup() { kill "$SANDBOX" 2>/dev/null || true; wait "$SANDBOX" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
# Ready when *our* sandbox says it listens (it prints that only after binding); not when anything answers the port.
for _ in $(seq 300); do
  if ! kill -0 "$SANDBOX" 2>/dev/null; then
    cat "$STATE/sandbox.log" >&2
    echo "demo: the sandbox did not start on port $PORT; nothing was run (set SCOWSPEC_DEMO_PORT to a free port)" >&2
    exit 1
  fi
  grep -q "SCOW-AI sandbox at" "$STATE/sandbox.log" && break
  sleep 0.1
done
grep -q "SCOW-AI sandbox at" "$STATE/sandbox.log" || { echo "demo: the sandbox did not start in 30 s" >&2; exit 1; }
export SCOWSPEC_PORTAL_URL="http://127.0.0.1:$PORT/ai" SCOWSPEC_TOKEN=sandbox-token
if [ -t 1 ]; then B=$'\033[1m' R=$'\033[0m'; else B='' R=''; fi
step() { printf '\n%s$ %s%s\n' "$B" "$*" "$R"; }
step scowspec validate specs;                  "$BIN/scowspec" validate specs
step scowspec plan specs;                      "$BIN/scowspec" plan specs
step scowspec apply --yes specs;               "$BIN/scowspec" apply --yes specs
step scowspec plan --detailed-exitcode specs;  "$BIN/scowspec" plan --detailed-exitcode specs
step scowspec status specs;                    "$BIN/scowspec" status specs
cat <<HINT

The portal matches the specs. The demo's sandbox stops now; to try a change yourself, run from this folder:
  $BIN/scowspec sandbox --port $PORT --state "\$(mktemp -d)/sandbox.db" & sleep 2
  export SCOWSPEC_PORTAL_URL=http://127.0.0.1:$PORT/ai SCOWSPEC_TOKEN=sandbox-token
  $BIN/scowspec apply --yes specs
  sed -i 's/learning_rate: 1.0e-4/learning_rate: 2.0e-4/' specs/qwen25-pku-identity.yaml
  $BIN/scowspec plan specs
  git checkout -- specs; kill %1
HINT
