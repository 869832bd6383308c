"""What the fuzzer checks besides exit codes: the run command's shape, and values as LLaMA-Factory reads them."""

from __future__ import annotations

import json
import math
import subprocess
from functools import cache
from importlib import resources
from typing import Any

from scowspec.compile.command import JOB_EOF, PREPARE_EOF


def injection(command: str, spec_file: str) -> str:
    """Why `command` lets spec text reach the shell's parser ('' when it does not).

    The command's shape is fixed: two comment lines, `set -euo pipefail`, and values only inside the
    quoted here-document. Anything else before `set`, a here-document that does not end where it should,
    or a job description that is not exactly the spec's, means text from the spec became shell code.
    """
    lines = command.split("\n")
    try:
        start = lines.index("set -euo pipefail")
    except ValueError:
        return "no `set -euo pipefail` line"
    if start != 2 or not all(line.startswith("#") for line in lines[:start]):
        return f"{start} lines before `set -euo pipefail`, not 2 comment lines"
    opener = f"cat > \"$JOB_FILE\" <<'{JOB_EOF}'"
    if lines.count(opener) != 1:
        return "the job description's here-document is not opened exactly once"
    begin = lines.index(opener) + 1
    try:
        end = lines.index(JOB_EOF, begin)
    except ValueError:
        return "the job description's here-document never ends"
    try:
        job = json.loads("\n".join(lines[begin:end]))
    except ValueError:
        return "the job description's here-document ends early (its text is not JSON)"
    if job.get("spec") != spec_file:
        return f"the job description names spec {job.get('spec')!r}, not {spec_file!r}"
    if lines.count(JOB_EOF) != 1 or lines.count(PREPARE_EOF) != 1:
        return "a here-document terminator appears more than once"
    proc = subprocess.run(["bash", "-n"], input=command, text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        return f"bash -n: {proc.stderr.strip()[:200]}"
    return ""


def job_description(command: str) -> dict[str, Any]:
    lines = command.split("\n")
    begin = lines.index(f"cat > \"$JOB_FILE\" <<'{JOB_EOF}'") + 1
    loaded: dict[str, Any] = json.loads("\n".join(lines[begin : lines.index(JOB_EOF, begin)]))
    return loaded


@cache
def _prepare_dump() -> Any:
    """The runtime helper's own `dump` (how it writes train.json), without running its main()."""
    text = resources.files("scowspec.compile.runtime").joinpath("prepare.py").read_text("utf-8")
    namespace: dict[str, Any] = {"__name__": "scowspec_fuzz_prepare"}
    exec(compile(text.rsplit("\nmain()", 1)[0], "prepare.py", "exec"), namespace)
    return namespace["dump"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _read_as_llamafactory(text: str) -> Any:
    """LLaMA-Factory 0.9.4 reads train.json with OmegaConf (a YAML reader that resolves `${…}`)."""
    try:
        from omegaconf import OmegaConf
    except ImportError:  # without omegaconf: its YAML reader, and interpolation marked as unreadable
        import yaml

        data = yaml.safe_load(text)
        if "${" in text:
            raise ValueError("`${` would be interpolated by OmegaConf") from None
        return data
    return OmegaConf.to_container(OmegaConf.create(text), resolve=True)


def not_verbatim(job: dict[str, Any]) -> list[str]:
    """Values that LLaMA-Factory would read differently from the spec (or not at all)."""
    problems: list[str] = []
    dump = _prepare_dump()
    for section in ("train", "merge"):
        cfg = job.get(section)
        if not isinstance(cfg, dict):
            continue
        try:
            read = _read_as_llamafactory(dump(cfg) + "\n")
        except Exception as exc:
            problems.append(f"{section}: unreadable ({type(exc).__name__}: {str(exc)[:120]})")
            continue
        if not _same(read, cfg):
            diff = [k for k in cfg if not (isinstance(read, dict) and k in read and _same(read[k], cfg[k]))]
            problems.append(f"{section}: changed {diff[:5]}")
    key = job.get("dataset", {}).get("key", "")
    if [part.strip() for part in str(key).split(",")] != [key]:
        problems.append(f"dataset name {key!r} is split or stripped by LLaMA-Factory")
    return problems
