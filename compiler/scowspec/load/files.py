"""The file-system edge: which spec files to read, the project defaults file, and reading and writing files
with failures turned into one plain error line (never a traceback)."""

from __future__ import annotations

import os
from pathlib import Path

from scowspec.errors import UsageError

PROJECT_FILE = "scowspec.yaml"
SPEC_SUFFIXES = (".yaml", ".yml")


def discover(paths: list[Path]) -> list[Path]:
    """Spec files named by `paths` (files, or folders searched recursively), sorted, without duplicates.

    The project defaults file is not a spec and is skipped inside folders.
    """
    found: dict[Path, None] = {}
    for p in paths:
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.suffix in SPEC_SUFFIXES and child.is_file() and child.name != PROJECT_FILE:
                    found[child] = None
        elif p.is_file():
            found[p] = None  # a project file named here is checked as one (see pipeline.load_specs)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return list(found)


def find_project_file(start: Path) -> Path | None:
    """scowspec.yaml in the spec's folder or the nearest folder above it (stops at a git root)."""
    here = start.resolve().parent if start.is_file() or not start.exists() else start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def display(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when below it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{display(path)}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise UsageError(f"{display(path)}: cannot read: {exc.strerror}") from exc


def repository_root(path: Path) -> Path:
    """The git repository holding `path` (its nearest folder with .git), else the folder it is in."""
    here = path.absolute().parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def read_user_file(path: Path) -> str:
    """A spec or project file: a regular file inside its repository. A symlink that leads out of it (to a
    secret, say) is refused without being read, so none of its text can reach an error message."""
    try:
        real = path.resolve(strict=True)
        root = repository_root(path).resolve()
    except (OSError, RuntimeError) as exc:  # a dangling link or a loop
        raise UsageError(f"{display(path)}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    if not real.is_relative_to(root):
        raise UsageError(f"{display(path)}: a link to a file outside the repository; refused without reading it")
    if not real.is_file():
        raise UsageError(f"{display(path)}: not a regular file; refused without reading it")
    return read_text(path)


def write_text(path: Path, text: str) -> None:
    """Write `path` (creating its folders): a saved plan, a starter spec, a formatted spec, the schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise UsageError(f"{display(path)}: cannot write: {exc.strerror}") from exc


def write_bytes(path: Path, data: bytes) -> None:
    """Write binary `path` (creating its folders): a report's loss-curve PNG."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{display(path)}: cannot write: {exc.strerror}") from exc
