"""A write-ahead record of submits in flight (`.scowspec/journal.json` in the project folder).

The portal has no idempotency key: a submit whose answer was lost may or may not have made a job,
and the portal may list it only later (a slow submit that outlived the client's timeout). Every
submit is recorded before it is sent and cleared once its answer came. An entry that stays is "in
doubt": until the job appears on the portal or GRACE_S has passed, no apply submits that job again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from scowspec.errors import ScowspecError

# How long a submit without an answer stays in doubt: a portal that accepted it lists it well before.
GRACE_S = 600.0


def age_s(entry: dict[str, Any], now: float) -> float | None:
    """Seconds since the entry's submit began, or None when the entry does not say (edited by hand)."""
    since = entry.get("since_s")
    if isinstance(since, int | float) and not isinstance(since, bool) and since == since:
        return now - float(since)
    return None


def in_doubt(entry: dict[str, Any], now: float) -> bool:
    """Whether the entry still blocks a new submit (an entry without a time is treated as expired)."""
    age = age_s(entry, now)
    return age is not None and age < GRACE_S


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {"pending": {}}
        except (OSError, ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise ScowspecError(
                f"{self.path}: unreadable journal ({reason}); move it aside after checking the portal"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("pending"), dict):
            return {"pending": {}}
        # An entry that is not a record (edited by hand) still names a submit; keep it, without a time.
        data["pending"] = {str(k): v if isinstance(v, dict) else {} for k, v in data["pending"].items()}
        return data

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
            now = time.time()
            data["pending"][job_name] = {
                "cluster": cluster,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "since_s": now,
            }
            self._write(data)

    def entry(self, job_name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._read()["pending"].get(job_name)
            return dict(found) if found is not None else None

    def settle(self, listed: set[str]) -> None:
        """Clear the entries of jobs the portal now lists: their submit got through."""
        with self._lock:
            try:
                data = self._read()
                done = [name for name in data["pending"] if name in listed]
                for name in done:
                    del data["pending"][name]
                if done:
                    self._write(data)
            except ScowspecError:
                pass  # the entries stay; each only makes apply look its job up first

    def end(self, job_name: str) -> None:
        with self._lock:
            try:
                data = self._read()
                if data["pending"].pop(job_name, None) is not None:
                    self._write(data)
            except ScowspecError:
                # The call it records is over; a stale entry only makes the next apply look the job up first.
                pass
