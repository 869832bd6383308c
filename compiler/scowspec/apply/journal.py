"""A write-ahead record of submits in flight (`.scowspec/journal.json` in the project folder).

The portal has no idempotency key: a submit whose answer was lost may or may not have made a job.
Every submit is recorded before it is sent; the next apply looks the job up by name before
submitting anything, so no job is ever submitted twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from scowspec.errors import ScowspecError


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {"pending": {}}
        except (OSError, ValueError) as exc:
            raise ScowspecError(
                f"{self.path}: unreadable journal ({exc}); move it aside after checking the portal"
            ) from None
        return data if isinstance(data, dict) and isinstance(data.get("pending"), dict) else {"pending": {}}

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # from begin(): that job is not submitted (executor._run)
            raise ScowspecError(f"{self.path}: cannot write the journal: {exc.strerror}") from exc

    def pending(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._read()["pending"])

    def begin(self, job_name: str, cluster: str) -> None:
        with self._lock:
            data = self._read()
            data["pending"][job_name] = {
                "cluster": cluster,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._write(data)

    def end(self, job_name: str) -> None:
        with self._lock:
            try:
                data = self._read()
                if data["pending"].pop(job_name, None) is not None:
                    self._write(data)
            except ScowspecError:
                # The call it records is over; a stale entry only makes the next apply look the job up first.
                pass
