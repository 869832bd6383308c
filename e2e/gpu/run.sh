#!/usr/bin/env bash
# The GPU proof, one command on a machine with 4 GPUs (2 "nodes" x 2 GPUs) or 2 (2 x 1):
#   python e2e/gpu/build.py                 # here: compile the jobs with scowspec -> e2e/gpu/build/
#   bash e2e/gpu/run.sh [PHASE...]          # there, repository root, wheels in .whl/
# Phases (default: all): setup assets keytable check tiny big  (and, on request: verify stepbench)
#   check  every spec in specs/: the compiled command runs with a `llamafactory-cli` that is LLaMA-Factory's
#          real parser (get_train_args / get_infer_args) applied to the configs the command wrote
#   tiny   tiny model: 2x2 (world size 4), the same job resubmitted into the same folder, 1 node x 2 GPUs, TensorBoard
#   big    Qwen2.5-1.5B-shaped model: the tutorial's literal command vs scowspec's compiled command (and candidates)
#   verify one node x one GPU: in-job verification of a model that learned the identity rows and of one that did
#          not; wall time to a merged model, the tutorial's command vs scowspec's (which also verifies)
#   stepbench  where a step's time goes (e2e/gpu/stepbench.py), one variant per GPU at a time; VARIANTS=...
# Each node runs the entry script as SCOW-AI does: bash in WORK_DIR with RANK, WORLD_SIZE, MASTER_ADDR,
# MASTER_PORT, SCOW_AI_MODEL_PATH, SCOW_AI_DATASET_PATH and VC_GPU_NUM; nodes get disjoint CUDA_VISIBLE_DEVICES.
# LOCAL_CPU=1: a CPU smoke test (1 process per node over gloo; build with --cpu). Results: $OUT (summary.md, logs).
set -u
REPO=$(pwd)
OUTD=${OUT:-$REPO/e2e/gpu/out}
W=${WORK:-/tmp/scowspec-e2e}
BUILD=${BUILD:-$REPO/e2e/gpu/build}  # what `build.py --out` wrote
SITE=${SITE:-/tmp/site}
LOG=$W/logs
BUDGET=${BUDGET:-540}
TMO_TINY=${TMO_TINY:-150}
TMO_BIG=${TMO_BIG:-240}
ONLY=${ONLY:-}
T0=$(date +%s)
mkdir -p "$LOG" "$OUTD"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export NCCL_SOCKET_IFNAME=lo GLOO_SOCKET_IFNAME=lo NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if [ "${LOCAL_CPU:-0}" = 1 ]; then
  DEV0=""; DEV1=""; DEVS=""; NGPU=0
  export PYTHONPATH=$REPO/e2e/gpu/hook${EXTRA_PYTHONPATH:+:$EXTRA_PYTHONPATH}
else
  NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "$NGPU" -ge 4 ]; then DEV0=0,1; DEV1=2,3; DEVS=0,1; elif [ "$NGPU" -ge 2 ]; then DEV0=0; DEV1=1; DEVS=0,1; else DEV0=0; DEV1=0; DEVS=0; fi
  export PYTHONPATH=$REPO/e2e/gpu/hook:$SITE PATH=$SITE/bin:$PATH
fi
PHASES=${*:-setup assets keytable check tiny big}
if [ ! -f "$BUILD/manifest.json" ]; then  # normally built where scowspec is installed; try here too
  gpus=2; [ "${NGPU:-0}" -lt 4 ] && gpus=1
  PYTHONPATH=$REPO/compiler:${PYTHONPATH:-} python3 "$REPO/e2e/gpu/build.py" --gpus-per-node "$gpus" \
    || { echo "e2e: no $BUILD: run \`python e2e/gpu/build.py\` where scowspec is installed and carry the folder" >&2; exit 2; }
fi
PORT=29600

say() { echo "[e2e $(date +%T) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG/run.log"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
pack() {  # few files come back from a lent machine: the logs travel as one archive
  tar -czf "$OUTD/logs.tgz" -C "$LOG" . 2>/dev/null; cp "$LOG"/run.log "$LOG"/runs.jsonl "$OUTD"/ 2>/dev/null; python3 "$REPO/e2e/gpu/summarize.py" "$W" > "$OUTD/summary.md" 2>>"$LOG/run.log"; }
kib() { if [ -d "$1" ]; then du -sk "$1" | cut -f1; else echo 0; fi; }
kill_leftovers() {
  command -v nvidia-smi >/dev/null || return 0
  for pid in $(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
}

node_env() {  # NAME NODE DEVICES NODES MODEL DATA -> env assignments for `env`
  local name=$1 node=$2 devs=$3 nodes=$4 model=$5 data=$6
  echo "WORK_DIR=$W/work/$name SCOW_AI_MODEL_PATH=$W/assets/models/$model SCOW_AI_DATASET_PATH=$W/assets/data/$data"
  # Fresh Triton and CUDA JIT caches per node and run, as in a new container (SCOW-AI mounts only WORK_DIR and
  # the spec's mounts, so ~/.nv/ComputeCache starts empty in every job): kernels JIT-compiled in a job count in
  # its time. cuDNN's SDPA kernels are compiled at run time and land in the CUDA cache: with one shared cache,
  # only the first run on a machine paid for them (session 3).
  echo "VC_GPU_NUM=2 CUDA_VISIBLE_DEVICES=$devs HF_HOME=$W/hf/$name-$node TRITON_CACHE_DIR=$W/triton/$name-$node"
  echo "CUDA_CACHE_PATH=$W/cuda-cache/$name-$node"
  echo "SCOWSPEC_E2E_HOOK=1 SCOWSPEC_E2E_TAG=$name"
  [ "$nodes" -gt 1 ] && echo "RANK=$node WORLD_SIZE=$nodes MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT"
}

run_job() {  # NAME NODES MODEL DATA TIMEOUT [PATH_PREFIX]: start every node together, wait, record wall and rc
  local name=$1 nodes=$2 model=$3 data=$4 tmo=$5 prefix=${6:-}
  PORT=$((PORT + 1)); mkdir -p "$W/work/$name"
  local start; start=$(date +%s.%N); local pids=() node
  local smi=""
  if [ "$NGPU" -gt 0 ]; then
    nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 500 > "$LOG/$name.smi.csv" 2>/dev/null & smi=$!
  fi
  for ((node = 0; node < nodes; node++)); do
    local devs=$DEVS; [ "$nodes" -gt 1 ] && { [ "$node" = 0 ] && devs=$DEV0 || devs=$DEV1; }
    # shellcheck disable=SC2046
    (cd "$W/work/$name" && exec env ${prefix:+PATH=$prefix:$PATH} $(node_env "$name" "$node" "$devs" "$nodes" "$model" "$data") \
      timeout -k 10 "$tmo" bash "$BUILD/$name.sh") > "$LOG/$name-node$node.log" 2>&1 &
    pids+=($!)
  done
  local rcs=""; for pid in "${pids[@]}"; do wait "$pid"; rcs="$rcs $?"; done
  [ -n "$smi" ] && kill "$smi" 2>/dev/null
  local wall; wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  local rc_list; rc_list=$(echo $rcs | tr ' ' ',')
  echo "{\"name\": \"$name\", \"nodes\": $nodes, \"rc\": [$rc_list], \"wall_s\": $wall}" >> "$LOG/runs.jsonl"
  say "$name: rc${rcs} wall ${wall}s, JIT caches (CUDA, Triton): $(kib "$W/cuda-cache/$name-0") KiB, $(kib "$W/triton/$name-0") KiB"
  kill_leftovers
}

manifest() { python3 -c "import json,sys; [print(r['name'], r['nodes'], r['model'], r['data']) for r in json.load(open('$BUILD/manifest.json')) if r['kind']=='$1']"; }

for phase in $PHASES; do
  if [ "$(left)" -le 30 ]; then say "budget spent: skipping $phase"; continue; fi
  case $phase in
    setup)
      if [ "${LOCAL_CPU:-0}" != 1 ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$REPO"/.whl/*.whl 2>&1 | tail -2
      fi
      python3 - <<'PY' 2>&1 | tee -a "$LOG/run.log"
import torch, transformers, peft, trl, accelerate, datasets, llamafactory
print("versions:", "torch", torch.__version__, "| transformers", transformers.__version__, "| peft", peft.__version__,
      "| trl", trl.__version__, "| accelerate", accelerate.__version__, "| datasets", datasets.__version__,
      "| llamafactory", llamafactory.__version__)
print("gpus:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
for mod in ("tensorboard", "tensorboardX"):
    try:
        __import__(mod); print(mod, "importable")
    except ImportError:
        print(mod, "missing")
PY
      ;;
    assets)
      kinds=${ASSETS:-tiny,qwen15b}; [ "${LOCAL_CPU:-0}" = 1 ] && kinds=${ASSETS:-tiny}
      python3 "$REPO/e2e/gpu/assets.py" "$W/assets" "$REPO/tests/testdata/identity.json" "$kinds" 2>&1 | grep -v Warning | tee -a "$LOG/run.log" ;;
    keytable)
      python3 "$REPO/e2e/gpu/keytable.py" 2>&1 | grep '^keytable' | tee -a "$LOG/run.log" ;;
    check)
      mkdir -p "$W/shim"; printf '#!/bin/sh\nexec python3 %s "$@"\n' "$REPO/e2e/gpu/lf_check.py" > "$W/shim/llamafactory-cli"; chmod +x "$W/shim/llamafactory-cli"
      export SCOWSPEC_CHECK_LOG=$LOG/parser-check.jsonl
      while read -r name nodes model data; do run_job "$name" "$nodes" "$model" "$data" 300 "$W/shim"; done < <(manifest check) ;;
    tiny)
      while read -r name nodes model data; do
        [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]] && continue
        run_job "$name" "$nodes" "$model" "$data" "$TMO_TINY"
        if [ "$name" = tiny-2x2 ]; then  # resubmitted into the same WORK_DIR: must not resume into a hang
          cp "$BUILD/tiny-2x2.sh" "$BUILD/tiny-2x2-again.sh"; cp -a "$W/work/tiny-2x2" "$W/work/tiny-2x2-again" 2>/dev/null
          run_job tiny-2x2-again "$nodes" "$model" "$data" "$TMO_TINY"
        fi
      done < <(manifest tiny) ;;
    big)
      # ONLY, when given, also sets the order, and a name given again is run again as NAME-r2, NAME-r3, ...:
      # ONLY="big-compiled big-literal big-literal big-compiled" alternates the order to expose drift.
      declare -A jobs=() seen=()
      while read -r name nodes model data; do jobs[$name]="$nodes $model $data"; done < <(manifest big)
      order=${ONLY:-$(manifest big | cut -d' ' -f1)}
      for base in $order; do
        [ -n "${jobs[$base]:-}" ] || continue
        seen[$base]=$(( ${seen[$base]:-0} + 1 )); name=$base
        if [ "${seen[$base]}" -gt 1 ]; then name=$base-r${seen[$base]}; cp "$BUILD/$base.sh" "$BUILD/$name.sh"; fi
        if [ "$(left)" -le 60 ]; then say "budget spent: skipping $name"; continue; fi
        # shellcheck disable=SC2086
        run_job "$name" ${jobs[$base]} "$TMO_BIG"
        pack  # after each run: a command cut off by its time limit still returns what it measured
      done ;;
    verify)
      # One node, one GPU: the verification proof (a model that learned the identity rows passes, one that did not
      # fails its job) and the wall time to a (verified) merged model, tutorial vs scowspec. ONLY picks runs.
      while read -r name nodes model data; do
        [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]] && continue
        if [ "$(left)" -le 45 ]; then say "budget spent: skipping $name"; continue; fi
        run_job "$name" "$nodes" "$model" "$data" "$TMO_BIG"
        for f in "$W/work/$name"/*/verify.json; do [ -f "$f" ] && cp "$f" "$LOG/$name.verify.json"; done
        grep -h '^scowspec: ' "$LOG/$name-node0.log" | tee -a "$LOG/run.log"
        python3 "$REPO/e2e/gpu/verify_summary.py" "$LOG" > "$OUTD/verify-summary.md"
        pack
      done < <(manifest verify) ;;
    stepbench)
      set -- ${VARIANTS:-literal compiled noamp liger liger-noamp compile}
      slots=$NGPU; [ "$slots" -lt 1 ] && slots=1
      while [ $# -gt 0 ]; do
        pids=(); gpu=0
        while [ $# -gt 0 ] && [ "$gpu" -lt "$slots" ]; do
          CUDA_VISIBLE_DEVICES=$gpu TRITON_CACHE_DIR=$W/triton/stepbench-$1 timeout -k 5 "${TMO_BENCH:-240}" \
            python3 "$REPO/e2e/gpu/stepbench.py" "$W/assets/models/qwen15b" "$W/assets/data/filled/identity.json" "$1" \
            > "$LOG/stepbench-$1.log" 2>&1 &
          pids+=($!); shift; gpu=$((gpu + 1))
        done
        for pid in "${pids[@]}"; do wait "$pid"; done
      done
      grep -h '^\[stepbench\]' "$LOG"/stepbench-*.log | tee -a "$LOG/run.log" "$LOG/stepbench.jsonl" ;;
    *) say "unknown phase $phase" ;;
  esac
  pack
done
pack
cat "$OUTD/summary.md"
