"""One apply at a time per project folder (an flock on `.scowspec/apply.lock`)."""

from __future__ import annotations

import fcntl
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scowspec.errors import RefusedError, UsageError


@contextmanager
def apply_lock(folder: Path, timeout_s: float) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / "apply.lock").open("a+")
    except OSError as exc:
        raise UsageError(
            f"{folder / 'apply.lock'}: cannot create the apply lock: {exc.strerror}; nothing was changed",
            hint="apply keeps its lock and journal beside scowspec.yaml: run it where that folder is writable",
        ) from exc
    if not math.isfinite(timeout_s) or timeout_s < 0:
        handle.close()
        raise UsageError(f"--lock-timeout must be a number of seconds, 0 or more, not {timeout_s}")
    with handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RefusedError(
                        f"another scowspec apply holds {folder / 'apply.lock'}; nothing was changed",
                        hint="wait for it, or raise --lock-timeout",
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
