"""A stand-in `llamafactory-cli` that runs LLaMA-Factory's real argument parser on the config it is given.

The compiled command runs unchanged; where it would train or export, this checks the exact file it wrote:
`train` → get_train_args (+ the template and dataset checks the parser leaves to run time), `export` →
get_infer_args. One JSON line per call goes to $SCOWSPEC_CHECK_LOG; exit 1 on the first problem.
"""

from __future__ import annotations

import json
import os
import sys

# A node's torchrun variables would make accelerate join a process group: the check is one process.
for var in (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "NNODES",
    "NPROC_PER_NODE",
    "FORCE_TORCHRUN",
):
    os.environ.pop(var, None)
if "CUDA_VISIBLE_DEVICES" not in os.environ or "," in os.environ["CUDA_VISIBLE_DEVICES"]:
    os.environ["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]


def main() -> int:
    command, path = sys.argv[1], sys.argv[2]
    from omegaconf import OmegaConf  # LLaMA-Factory's own loader (read_args)

    cfg = OmegaConf.to_container(OmegaConf.load(path))
    record: dict[str, object] = {"command": command, "config": path, "ok": False}
    try:
        import torch

        if command == "train":
            from llamafactory.data.parser import get_dataset_list
            from llamafactory.data.template import TEMPLATES
            from llamafactory.hparams import get_train_args

            model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(cfg))
            assert data_args.template in TEMPLATES, f"template {data_args.template} does not exist"
            datasets = get_dataset_list(data_args.dataset, data_args.dataset_dir)
            for attr in datasets:
                target = os.path.join(data_args.dataset_dir, attr.dataset_name)
                assert os.path.exists(target), f"dataset file {target} does not exist"
            record.update(
                stage=finetuning_args.stage,
                finetuning_type=finetuning_args.finetuning_type,
                do_train=training_args.do_train,
                bf16=training_args.bf16,
                logging_steps=training_args.logging_steps,
                report_to=training_args.report_to,
                output_dir=training_args.output_dir,
                cuda=torch.cuda.is_available(),
            )
        elif command == "export":
            from llamafactory.hparams import get_infer_args

            model_args, data_args, finetuning_args, _ = get_infer_args(dict(cfg))
            assert model_args.export_dir, "Please specify `export_dir` to save model."
            assert model_args.adapter_name_or_path, "no adapter to merge"
            record.update(
                export_dir=model_args.export_dir,
                export_size=model_args.export_size,
                export_device=model_args.export_device,
                adapter=model_args.adapter_name_or_path,
            )
        else:
            raise ValueError(f"unexpected command {command}")
        record["ok"] = True
    except BaseException as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    line = json.dumps(record, default=str)
    print(f"lf_check: {line}", flush=True)
    with open(os.environ.get("SCOWSPEC_CHECK_LOG", "/dev/null"), "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return 0 if record["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
