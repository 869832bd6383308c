"""Values must reach LLaMA-Factory exactly as written.

The job writes train.json and merge.json as JSON, and LLaMA-Factory 0.9.4 reads them with OmegaConf:
a YAML 1.1 reader that then resolves `${…}` interpolations. Some strings cannot survive that:
- `${` starts an interpolation (an error, or another value in its place);
- DEL, C1 controls (NEL among them), U+2028/U+2029 and lone surrogates: the YAML reader refuses
  them or reads them as line breaks (a space), and the JSON writer leaves them as they are.
And LLaMA-Factory splits `dataset` at commas and strips each name, so a dataset name with a comma or
surrounding spaces names another data set. These are refused here, located, rather than failing or
changing after the GPUs are allocated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath
from scowspec.load.document import Document

# The spec values that go into train.json or merge.json (dataset_info.json and the data are read as JSON).
ROOTS: tuple[JsonPath, ...] = (
    ("train",),
    ("export",),
    ("dataset", "name"),
    ("tensorboard", "log_dir"),
    ("model", "path"),
)
_UNREADABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _strings(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(str(k), (*path, k))  # keys become config keys too
            yield from _strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


def _at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def check(doc: Document, effective: Mapping[str, Any]) -> list[Diagnostic]:
    """Strings under ROOTS that LLaMA-Factory would not read back verbatim."""
    out: list[Diagnostic] = []
    for root in ROOTS:
        for path, text in _strings(_at(effective, root), root):
            if "${" in text:
                out.append(
                    doc.diagnostic(
                        "not-verbatim",
                        "`${` would be read as an interpolation by OmegaConf, which LLaMA-Factory reads its "
                        "configs with; scowspec cannot write it verbatim",
                        path,
                    )
                )
            bad = _UNREADABLE.search(text)
            if bad:
                out.append(
                    doc.diagnostic(
                        "not-verbatim",
                        f"the character U+{ord(bad.group()):04X} cannot reach LLaMA-Factory's config as written "
                        "(its YAML reader refuses it or reads a line break); remove it",
                        path,
                    )
                )
    name = _at(effective, ("dataset", "name"))
    if isinstance(name, str) and ("," in name or name != name.strip()):
        out.append(
            doc.diagnostic(
                "not-verbatim",
                "LLaMA-Factory splits `dataset` at commas and strips spaces, so this name would not be found; "
                "rename the data set",
                ("dataset", "name"),
            )
        )
    return out
