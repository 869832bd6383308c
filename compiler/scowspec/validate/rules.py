"""Rules the schema cannot say: LLaMA-Factory 0.9.4's own checks, SCOW-AI's path rules, cross-field sense.

Each rule is a small function (RuleContext) → diagnostics; RULES lists them in report order.
Messages quote LLaMA-Factory's own error where it has one, so users can search for it.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath, describe
from scowspec.model.effective import REQUIRED_AFTER_MERGE
from scowspec.model.steps import max_steps_bound
from scowspec.validate import lfchecks
from scowspec.validate.context import RuleContext

Rule = Callable[[RuleContext], Iterable[Diagnostic]]

# SCOW-AI refuses mount targets equal to or under these (libs/utils path validators).
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)
# Set by the portal or the scheduler inside the container; a spec must not fight them.
RESERVED_ENV = {
    "WORK_DIR": "set from `work_dir`",
    "VC_GPU_NUM": "set by the scheduler (the portal strips it)",
    "XDL_IP": "set by the scheduler (the portal strips it)",
    "RANK": "set by the scheduler for distributed jobs",
    "WORLD_SIZE": "set by the scheduler for distributed jobs",
    "MASTER_ADDR": "set by the scheduler for distributed jobs",
    "MASTER_PORT": "set by the scheduler for distributed jobs",
}
# Variables that hold credentials: the payload's env and command are stored in the portal's job records,
# which its admins (and anyone reading the repository) can read.
SECRET_ENV = re.compile(r"^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|.*_(KEY|SECRET|TOKEN|PASSWORD))$", re.IGNORECASE)
DATA_EXTENSIONS = ("arrow", "csv", "json", "jsonl", "parquet", "txt")
LORA_ONLY_REJECTED = ("loraplus_lr_ratio", "use_rslora", "use_dora", "pissa_init")  # LLaMA-Factory raises
LORA_ONLY_IGNORED = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "create_new_adapter")  # silently unused
_IMAGE = re.compile(
    r"^(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/(?P<repo>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def required_after_merge(ctx: RuleContext) -> Iterator[Diagnostic]:
    for name in REQUIRED_AFTER_MERGE:
        if name not in ctx.eff:
            yield ctx.at("required", f"`{name}` is required: set it in the spec or in scowspec.yaml", ())


def asset_forms(ctx: RuleContext) -> Iterator[Diagnostic]:
    for field in ("model", "dataset"):
        ref = ctx.eff.get(field)
        if not isinstance(ref, dict):
            continue
        forms = [f for f in ("name", "version_id", "path") if f in ref]
        if len(forms) != 1:
            said = " and ".join(f"`{f}`" for f in forms) or "none of them"
            yield ctx.at(
                "asset-form",
                f"`{field}` needs exactly one of `name`, `version_id` or `path` (found {said})",
                (field,),
                key=True,
            )
            continue
        if forms[0] == "path" and "scope" in ref:
            yield ctx.at(
                "asset-form",
                f"`{field}.scope` means nothing with `path`: a host path is always yours",
                (field, "scope"),
                key=True,
            )
        if forms[0] != "path" and "scope" not in ref:
            yield ctx.at(
                "asset-form",
                f"`{field}` needs `scope: public` (the shared copy) or `scope: mine` (your own)",
                (field,),
                key=True,
            )
        if "version" in ref and forms[0] != "name":
            yield ctx.at("asset-form", f"`{field}.version` goes with `name`", (field, "version"), key=True)


def dataset_file(ctx: RuleContext) -> Iterator[Diagnostic]:
    ds = ctx.eff.get("dataset")
    if not isinstance(ds, dict):
        return
    file = ds.get("file", "")
    ext = file.rsplit(".", 1)[1].lower() if "." in file.rsplit("/", 1)[-1] else ""
    if ext and ext not in DATA_EXTENSIONS:
        yield ctx.at(
            "dataset-file",
            f"LLaMA-Factory reads only {', '.join(DATA_EXTENSIONS)} files, not `.{ext}`",
            ("dataset", "file"),
        )
    if ".." in file.split("/"):
        yield ctx.at("dataset-file", "`dataset.file` must stay inside the dataset", ("dataset", "file"))
    if ds.get("placeholders") and ext not in ("json", "jsonl"):
        yield ctx.at(
            "placeholders",
            "`dataset.placeholders` needs `dataset.file` naming a .json or .jsonl file to rewrite",
            ("dataset", "placeholders"),
            key=True,
        )


def image(ctx: RuleContext) -> Iterator[Diagnostic]:
    img = ctx.eff.get("image")
    if not isinstance(img, str):
        return
    m = _IMAGE.match(img)
    host = m.group("host") if m else ""
    if not m or not ("." in host or ":" in host or host.startswith("localhost")):
        yield ctx.at(
            "image",
            f"`image` must name its registry, a lowercase repository and a tag, like "
            f"`app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4`; got `{img}`",
            ("image",),
        )
    elif not m.group("tag") and not m.group("digest"):
        yield ctx.at("image", f"`image` needs an explicit tag or digest (e.g. `{img}:0.9.4`)", ("image",))
    elif m.group("tag") == "latest":
        yield ctx.at(
            "image", "`image` tag `latest` can change under a running job; pin a version", ("image",), warning=True
        )


# LLaMA-Factory 0.9.4 imports these packages only when the key asks for them (_check_extra_dependencies,
# the model loader), so a missing one fails after the GPUs are allocated. Its images are built with the
# extras `metrics` and `deepspeed` on a PyTorch image with flash-attn (docker/docker-cuda/Dockerfile and
# Dockerfile.base at v0.9.4), so none of these is in them.
QUANTIZATION_PACKAGES = {"bnb": "bitsandbytes", "hqq": "hqq", "eetq": "eetq"}
# transformers' optimizers (OptimizerNames) that import a package the image lacks; the rest are PyTorch's.
OPTIMIZER_PACKAGES = (
    (re.compile(r"^galore_"), "galore-torch"),
    (re.compile(r"^apollo_"), "apollo-torch"),
    (re.compile(r"bnb|8bit|32bit|^paged_|^lion_|^ademamix"), "bitsandbytes"),
    (re.compile(r"^adamw_torch_4bit$"), "torchao"),
    (re.compile(r"^(ada)?lomo$"), "lomo-optim"),
    (re.compile(r"^grokadamw$"), "grokadamw"),
    (re.compile(r"^schedule_free_"), "schedulefree"),
    (re.compile(r"^stable_adamw$"), "torch-optimi"),
    (re.compile(r"^adamw_anyprecision$"), "torchdistx"),
    (re.compile(r"^adamw_apex_fused$"), "apex"),
    (re.compile(r"_xla$|_npu_fused$"), "torch_xla or torch_npu"),
)
# Integrations transformers' Trainer imports for `report_to`: none is in LLaMA-Factory's requirements.
REPORT_PACKAGES = (
    "azure_ml",
    "comet_ml",
    "mlflow",
    "neptune",
    "trackio",
    "wandb",
    "codecarbon",
    "clearml",
    "dagshub",
    "flyte",
    "dvclive",
)
EXTRA_PACKAGES = {
    "enable_liger_kernel": "liger-kernel",
    "use_unsloth": "unsloth",
    "mixture_of_depths": "mixture-of-depth",
    "use_kt": "ktransformers",
    "use_galore": "galore-torch",
    "use_apollo": "apollo-torch",
    "use_badam": "badam",
    "use_adam_mini": "adam-mini",
    "use_swanlab": "swanlab",
}


def official_image(ctx: RuleContext) -> bool:
    """LLaMA-Factory's own image (`…/llamafactory:<tag>`); a custom image may well contain more."""
    img = ctx.eff.get("image")
    m = _IMAGE.match(img) if isinstance(img, str) else None
    return bool(m and m.group("tag") and m.group("repo").rsplit("/", 1)[-1] == "llamafactory")


def extra_packages(ctx: RuleContext) -> Iterator[Diagnostic]:
    if not official_image(ctx):
        return  # an untagged image is reported by `image`
    wanted = dict(EXTRA_PACKAGES)
    method = ctx.train.get("quantization_method", "bnb")
    if method in QUANTIZATION_PACKAGES:  # on-the-fly quantization loads the method's package
        wanted["quantization_bit"] = QUANTIZATION_PACKAGES[method]
    for key, package in wanted.items():
        if ctx.train.get(key) not in (None, False):
            yield ctx.at(
                "extra-package",
                f"`train.{key}` needs the `{package}` package, which LLaMA-Factory's images do not contain "
                f"(PyTorch, flash-attn and the extras metrics and deepspeed): training would stop with an "
                f"import error after the GPUs are allocated. Use an image that adds it, or drop the key",
                ("train", key),
                key=True,
            )
    optim = ctx.train.get("optim")
    package = next((p for pattern, p in OPTIMIZER_PACKAGES if isinstance(optim, str) and pattern.search(optim)), "")
    if package:
        yield ctx.at(
            "extra-package",
            f"`train.optim: {optim}` needs `{package}`, which LLaMA-Factory's images do not contain; "
            "PyTorch's own are adamw_torch, adamw_torch_fused, adafactor, sgd, adagrad, rmsprop",
            ("train", "optim"),
        )
    report = ctx.train.get("report_to")
    names = report if isinstance(report, list) else [report]
    for name in names:
        if name in REPORT_PACKAGES:
            yield ctx.at(
                "extra-package",
                f"`report_to: {name}` needs its package, which LLaMA-Factory's requirements do not include: "
                "unless the image adds it, the trainer stops at setup",
                ("train", "report_to"),
                warning=True,
            )


def nodes_and_gpus(ctx: RuleContext) -> Iterator[Diagnostic]:
    res = ctx.eff.get("resources")
    if not isinstance(res, dict):
        return
    nodes, gpus = res.get("nodes", 1), res.get("gpus_per_node", 0)
    if nodes > 1 and gpus == 0:
        yield ctx.at(
            "gpus",
            "a job of more than one node needs `gpus_per_node` ≥ 1 (LLaMA-Factory launches one process per GPU)",
            ("resources", "gpus_per_node"),
        )
    if "framework" in ctx.eff and nodes == 1:
        yield ctx.at(
            "framework",
            "`framework` is only sent for jobs of more than one node; it is ignored here",
            ("framework",),
            key=True,
            warning=True,
        )


def export_rules(ctx: RuleContext) -> Iterator[Diagnostic]:
    export = ctx.eff.get("export")
    if not isinstance(export, dict):
        return
    ftype = ctx.train.get("finetuning_type", "lora")
    if ftype not in ("lora", "oft"):  # an OFT adapter is merged like a LoRA one (PEFT reads its type)
        yield ctx.at(
            "export-needs-lora",
            f"`export` merges an adapter, but `train.finetuning_type` is `{ftype}`, which saves a whole model "
            '(LLaMA-Factory: "Adapter is only valid for the LoRA method."); use lora or oft, or drop `export`',
            ("export",),
            key=True,
        )
    if "quantization_bit" in ctx.train:
        yield ctx.at(
            "export-quantized",
            'cannot merge a LoRA adapter into a quantized model (LLaMA-Factory: "Cannot merge '
            'adapters to a quantized model."); drop `train.quantization_bit` or `export`',
            ("train", "quantization_bit"),
            key=True,
        )
    if "export_quantization_bit" in export:
        need = (
            ""
            if "export_quantization_dataset" in export
            else (
                '; it would also need `export.export_quantization_dataset` (LLaMA-Factory: "Quantization dataset is '
                'necessary for exporting.")'
            )
        )
        yield ctx.at(
            "export-quantized",
            "`export.export_quantization_bit` cannot be used: the export merges this job's adapter, and "
            f'LLaMA-Factory quantizes merged models only ("Please merge adapters before quantizing the model."){need}',
            ("export", "export_quantization_bit"),
            key=True,
        )


def lora_only(ctx: RuleContext) -> Iterator[Diagnostic]:
    ftype = ctx.train.get("finetuning_type", "lora")
    if ftype == "lora":
        return
    for key in LORA_ONLY_REJECTED:
        if key in ctx.train:
            yield ctx.at(
                "lora-only",
                f"`train.{key}` needs `finetuning_type: lora` (LLaMA-Factory rejects it with `{ftype}`)",
                ("train", key),
                key=True,
            )
    for key in LORA_ONLY_IGNORED:
        if key in ctx.train:
            yield ctx.at(
                "lora-only",
                f"`train.{key}` has no effect with `finetuning_type: {ftype}`",
                ("train", key),
                key=True,
                warning=True,
            )


def quantization(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = ctx.train
    if "quantization_bit" not in t:
        return
    if t.get("finetuning_type", "lora") not in ("lora", "oft"):
        yield ctx.at(
            "quantization",
            "`train.quantization_bit` needs `finetuning_type` lora or oft (LLaMA-Factory: "
            '"Quantization is only compatible with the LoRA or OFT method.")',
            ("train", "quantization_bit"),
            key=True,
        )
    for key in ("pissa_init", "resize_vocab"):
        if t.get(key):
            yield ctx.at(
                "quantization", f"`train.{key}` cannot be combined with `quantization_bit`", ("train", key), key=True
            )


def precision(ctx: RuleContext) -> Iterator[Diagnostic]:
    if ctx.train.get("fp16") and ctx.train.get("bf16"):
        yield ctx.at(
            "precision",
            '`train.fp16` and `train.bf16` cannot both be true (transformers: "At most one of fp16 and '
            'bf16 can be True")',
            ("train", "bf16"),
            key=True,
        )


def stage_rules(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = ctx.train
    stage = t.get("stage", "sft")
    if stage != "sft":
        for key in ("predict_with_generate", "neat_packing", "train_on_prompt", "mask_history"):
            if t.get(key):
                yield ctx.at("stage", f"`train.{key}` works only with `stage: sft`", ("train", key), key=True)
    if stage in ("rm", "ppo") and t.get("load_best_model_at_end"):
        yield ctx.at(
            "stage",
            "RM and PPO stages do not support `load_best_model_at_end`",
            ("train", "load_best_model_at_end"),
            key=True,
        )
    if stage == "ppo":
        if "reward_model" not in t:
            yield ctx.at("stage", "`stage: ppo` needs `train.reward_model`", ("train", "stage"))
        report = t.get("report_to")
        first = report[0] if isinstance(report, list) and report else report
        if first not in (None, "wandb", "tensorboard"):
            yield ctx.at("stage", "PPO only accepts wandb or tensorboard in `report_to`", ("train", "report_to"))


def data_rules(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = ctx.train
    if t.get("neat_packing"):
        yield ctx.at(
            "neat-packing",
            "`train.neat_packing` fails with the transformers in LLaMA-Factory 0.9.4's image "
            "(needs transformers < 4.53); use `packing`",
            ("train", "neat_packing"),
            key=True,
        )
    if t.get("train_on_prompt") and t.get("mask_history"):
        yield ctx.at(
            "data",
            "`train.mask_history` and `train.train_on_prompt` are mutually exclusive",
            ("train", "mask_history"),
            key=True,
        )
    if t.get("train_on_prompt") and t.get("template") in ctx.table.efficient_eos_templates:
        yield ctx.at(
            "data",
            f"template `{t['template']}` does not support `train_on_prompt`",
            ("train", "train_on_prompt"),
            key=True,
        )
    if t.get("streaming"):
        if int(t.get("max_steps", -1)) <= 0:
            yield ctx.at("data", "`train.streaming` needs `train.max_steps`", ("train", "streaming"), key=True)
        if "max_samples" in t:
            yield ctx.at(
                "data", "`train.streaming` cannot be combined with `max_samples`", ("train", "max_samples"), key=True
            )


def optimizers(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = ctx.train
    used = [k for k in ("use_galore", "use_apollo", "use_badam") if t.get(k)]
    ftype = t.get("finetuning_type", "lora")
    if used and ftype == "lora":
        yield ctx.at("optimizer", f"`train.{used[0]}` cannot be combined with LoRA", ("train", used[0]), key=True)
    if len(used) > 1:
        yield ctx.at("optimizer", "use at most one of GaLore, APOLLO and BAdam", ("train", used[1]), key=True)
    if t.get("use_llama_pro") and ftype == "full":
        yield ctx.at(
            "optimizer",
            "`train.use_llama_pro` is not allowed with `finetuning_type: full`",
            ("train", "use_llama_pro"),
            key=True,
        )


def reporting(ctx: RuleContext) -> Iterator[Diagnostic]:
    report = ctx.train.get("report_to")
    names = set(report) if isinstance(report, list) else ({report} if report is not None else set())
    if "tensorboard" in ctx.eff and names and not names & {"tensorboard", "all"}:
        yield ctx.at(
            "tensorboard",
            "`tensorboard` is set but `train.report_to` does not include tensorboard: the portal's "
            "TensorBoard would stay empty",
            ("train", "report_to"),
        )
    if "tensorboard" not in ctx.eff and names & {"tensorboard"}:
        yield ctx.at(
            "tensorboard",
            "`train.report_to: tensorboard` without a `tensorboard:` block writes events inside the "
            "output folder only; add `tensorboard: {log_dir: ...}` to see them on the portal",
            ("train", "report_to"),
            warning=True,
        )


def logging_steps(ctx: RuleContext) -> Iterator[Diagnostic]:
    res = ctx.eff.get("resources")
    value = ctx.train.get("logging_steps")
    if not isinstance(res, dict) or not isinstance(value, int | float) or value <= 1:
        return
    bound = max_steps_bound(ctx.train, int(res.get("nodes", 1)), int(res.get("gpus_per_node", 1)))
    if bound is not None and value > bound:
        yield ctx.at(
            "logging-steps",
            f"`train.logging_steps` is {value:g} but this job makes at most {bound} optimizer steps: "
            "the loss curve (and TensorBoard) would get at most one point",
            ("train", "logging_steps"),
            warning=True,
        )


def _mount_list(ctx: RuleContext) -> list[tuple[JsonPath, str, str]]:
    """(where, host path, container target) of everything the job mounts; implicit mounts first,
    so that a clash is reported on the user's own `mounts` entry."""
    out: list[tuple[JsonPath, str, str]] = []
    for field in ("model", "dataset"):
        ref = ctx.eff.get(field)
        if isinstance(ref, dict) and isinstance(ref.get("path"), str):
            out.append(((field, "path"), ref["path"], ref["path"]))
    tb = ctx.eff.get("tensorboard")
    if isinstance(tb, dict) and isinstance(tb.get("log_dir"), str):
        out.append((("tensorboard", "log_dir"), tb["log_dir"], tb["log_dir"]))
    for i, m in enumerate(ctx.eff.get("mounts") or []):
        if isinstance(m, dict) and isinstance(m.get("path"), str) and isinstance(m.get("target"), str):
            out.append((("mounts", i), m["path"], m["target"]))
    return out


def _norm(path: str) -> str:
    # As the container sees it: `//etc` and `/./usr/bin` are /etc and /usr/bin (the schema refuses both forms;
    # this keeps the system-folder rule right for whatever reaches it).
    return posixpath.normpath("/" + path.lstrip("/")) if path.startswith("/") else path.rstrip("/") or "/"


def paths(ctx: RuleContext) -> Iterator[Diagnostic]:
    mounts = _mount_list(ctx)
    targets: dict[str, JsonPath] = {}
    hosts: dict[str, JsonPath] = {}
    work = ctx.eff.get("work_dir")
    if isinstance(work, str):
        hosts[_norm(work)] = ("work_dir",)
    for where, host, target in mounts:
        t = _norm(target)
        tpath = (*where, "target") if where[0] == "mounts" else where
        if t == "/" or any(t == d or t.startswith(d + "/") for d in SYSTEM_DIRS):
            yield ctx.at(
                "mount-target",
                f"mount target `{target}` is a system folder; SCOW-AI refuses `/` and anything under "
                f"{', '.join(SYSTEM_DIRS)}",
                tpath,
            )
        if t in targets:
            yield ctx.at(
                "mount-target", f"mount target `{target}` is used twice (also at `{describe(targets[t])}`)", tpath
            )
        targets.setdefault(t, tpath)
        h = _norm(host)
        hpath = (*where, "path") if where[0] == "mounts" else where
        if h in hosts and hosts[h] != ("work_dir",):
            yield ctx.at("mount-path", f"host path `{host}` is mounted twice (also at `{describe(hosts[h])}`)", hpath)
        elif h in hosts:
            yield ctx.at("mount-path", f"host path `{host}` is the work_dir, which is mounted already", hpath)
        hosts.setdefault(h, hpath)


def env(ctx: RuleContext) -> Iterator[Diagnostic]:
    values: Any = ctx.eff.get("env") or {}
    for key in values:
        if key in RESERVED_ENV:
            yield ctx.at("env", f"`env.{key}` cannot be set: {RESERVED_ENV[key]}", ("env", key), key=True)
        elif SECRET_ENV.match(key):
            yield ctx.at(
                "secret",
                f"`env.{key}` looks like a secret: a job's variables and command are stored in the portal's job "
                "records, which its admins can read, and the spec is committed. Keep it out of the spec: put it "
                "in a file under your home that only you can read (e.g. `huggingface-cli login` writes "
                "~/.cache/huggingface/token) or use portal models and data sets, which need no token",
                ("env", key),
                key=True,
            )
        elif key.startswith("SCOW_AI_"):
            yield ctx.at(
                "env", f"`env.{key}` cannot be set: SCOW_AI_* variables are set by the portal", ("env", key), key=True
            )


def template(ctx: RuleContext) -> Iterator[Diagnostic]:
    if "train" in ctx.eff and "template" not in ctx.train and not ctx.has(("train", "template")):
        yield ctx.at(
            "template",
            "no `train.template`: LLaMA-Factory falls back to the tokenizer's chat template (or `empty`); "
            "the merge also needs it",
            ("train",),
            key=True,
            warning=True,
        )


def finite_numbers(ctx: RuleContext) -> Iterator[Diagnostic]:
    """`.inf` and `.nan` are YAML numbers but no LLaMA-Factory argument takes them (and JSON cannot carry them)."""

    def walk(value: Any, path: JsonPath) -> Iterator[Diagnostic]:
        if isinstance(value, float) and not math.isfinite(value):
            yield ctx.at("value", f"`{describe(path)}` must be a finite number, got {value}", path)
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, (*path, i))

    yield from walk(dict(ctx.eff), ())


RULES: tuple[Rule, ...] = (
    finite_numbers,
    required_after_merge,
    asset_forms,
    dataset_file,
    image,
    extra_packages,
    nodes_and_gpus,
    export_rules,
    lora_only,
    quantization,
    precision,
    stage_rules,
    data_rules,
    lfchecks.evaluation,
    lfchecks.data_mixing,
    lfchecks.dataset_for_stage,
    lfchecks.launch,
    lfchecks.zero3_rules,
    lfchecks.model_args,
    lfchecks.lora_target,
    lfchecks.ppo_and_preference,
    lfchecks.trainer_steps,
    lfchecks.trainer_options,
    optimizers,
    reporting,
    logging_steps,
    paths,
    env,
    template,
)


def check(ctx: RuleContext) -> list[Diagnostic]:
    return [d for rule in RULES for d in rule(ctx)]
