"""LLaMA-Factory 0.9.4 behind a socket: imported once, one forked child per `llamafactory-cli` call.

Runs in the oracle's own venv (LLaMA-Factory with the image's pins). Importing torch, transformers and
LLaMA-Factory takes ~17 s on this machine; forking after the import makes each call cost what the call
itself costs. The child runs what `llamafactory-cli train|export CONFIG` runs without torchrun
(`run_exp` / `export_model`, which read the config through LLaMA-Factory's own `read_args`).

Hardware stand-ins (the image runs on H200s with flash-attn; this machine has CPUs only). Each one only
answers a probe the way the image's machine would; none skips a check:
- bf16 and tf32 support probes answer yes (transformers' TrainingArguments, LLaMA-Factory's parser);
- `is_flash_attn_2_available` answers yes, and a model LLaMA-Factory configured for flash_attention_2 is
  built with SDPA instead (same maths, no CUDA kernels);
- fp16 mixed precision, which accelerate refuses on a CPU, runs as bf16;
- files the image ships under /app (examples/deepspeed/*.json) are read from the oracle's copy;
- a job launched through torchrun (FORCE_TORCHRUN=1, or more than one GPU per node, where
  `llamafactory-cli` starts torchrun itself) runs as rank 0 of a one-process gloo group, so
  `parallel_mode` is DISTRIBUTED as on the cluster.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import traceback

os.environ.setdefault("DISABLE_VERSION_CHECK", "0")
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[var] = "1"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Imported once, before any fork. deepspeed, torch._dynamo and the workflows are what the first train
# call would import anyway (~20 s together on this machine).
import accelerate.accelerator  # noqa: E402
import deepspeed  # noqa: E402, F401
import llamafactory.hparams.parser as lf_parser  # noqa: E402
import llamafactory.model.patcher as lf_patcher  # noqa: E402
import llamafactory.train.dpo.workflow  # noqa: E402
import llamafactory.train.kto.workflow  # noqa: E402
import llamafactory.train.pt.workflow  # noqa: E402
import llamafactory.train.rm.workflow  # noqa: E402
import llamafactory.train.sft.workflow  # noqa: E402, F401
import torch._dynamo  # noqa: E402, F401
import transformers.training_args as hf_args  # noqa: E402
import transformers.utils  # noqa: E402
from llamafactory.hparams.parser import read_args  # noqa: E402
from llamafactory.model.model_utils import attention  # noqa: E402
from llamafactory.train.tuner import export_model, run_exp  # noqa: E402


def _yes(*_: object, **__: object) -> bool:
    return True


hf_args.is_torch_bf16_gpu_available = _yes
hf_args.is_torch_tf32_available = _yes
lf_parser.is_torch_bf16_gpu_available = _yes
transformers.utils.is_flash_attn_2_available = _yes
_configure = attention.configure_attn_implementation


def _configure_attn(config, model_args):  # type: ignore[no-untyped-def]
    _configure(config, model_args)
    if getattr(config, "_attn_implementation", None) == "flash_attention_2":
        config._attn_implementation = "sdpa"


lf_patcher.configure_attn_implementation = _configure_attn
_Accelerator_init = accelerate.accelerator.Accelerator.__init__


def _accelerator_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    if kwargs.get("mixed_precision") == "fp16" or os.environ.get("ACCELERATE_MIXED_PRECISION") == "fp16":
        kwargs["mixed_precision"] = "bf16"
        os.environ["ACCELERATE_MIXED_PRECISION"] = "bf16"
    _Accelerator_init(self, *args, **kwargs)


accelerate.accelerator.Accelerator.__init__ = _accelerator_init


def _image_paths(args: object) -> object:
    """Files the image ships under /app (e.g. examples/deepspeed/*.json) are read from the oracle's copy."""
    root = os.environ.get("ORACLE_APP_ROOT", "")
    if isinstance(args, dict) and root:
        return {k: root + v[4:] if isinstance(v, str) and v.startswith("/app/") else v for k, v in args.items()}
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(request: dict) -> int:  # type: ignore[type-arg]
    argv, env = request["argv"], request["env"]
    os.environ.clear()
    os.environ.update(env)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    os.chdir(request["cwd"])
    torchrun = (
        os.environ.get("FORCE_TORCHRUN", "0").lower() in ("1", "true", "y") or int(env.get("ORACLE_GPUS", "1")) > 1
    )
    for var in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "NODE_RANK",
        "NNODES",
        "NPROC_PER_NODE",
        "MASTER_ADDR",
        "MASTER_PORT",
    ):
        os.environ.pop(var, None)
    if torchrun and argv[0] == "train":
        os.environ.update(
            RANK="0",
            WORLD_SIZE="1",
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(_free_port()),
        )
    sys.argv = ["llamafactory-cli", *argv[1:]]  # what cli.main leaves after popping the command
    try:
        args = _image_paths(read_args())
        if argv[0] == "train":
            run_exp(args=args)
        elif argv[0] == "export":
            export_model(args=args)
        else:
            raise ValueError(f"unexpected command {argv[0]}")
    except BaseException as exc:  # what the real CLI would die of
        traceback.print_exc()
        print(f"ORACLE-ERROR: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", flush=True)
        return 1
    return 0


def _serve(conn: socket.socket) -> None:
    with conn:
        request = json.loads(conn.makefile("r", encoding="utf-8").readline())
        pid = os.fork()
        if pid == 0:
            fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 1
            try:
                code = _child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        conn.sendall((json.dumps({"rc": rc}) + "\n").encode())


def main() -> None:
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    print("oracle server: ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
