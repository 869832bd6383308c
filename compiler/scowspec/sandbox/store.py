"""Sandbox state in SQLite: jobs survive a restart; states move on a clock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL, cluster TEXT NOT NULL, name TEXT NOT NULL, session TEXT NOT NULL,
  submitted REAL NOT NULL, forced_state TEXT, ended REAL, body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Clock:
    """PENDING for `pending_s`, RUNNING for `run_s`, then COMPLETED (a run_s of 0 means forever)."""

    pending_s: float = 2.0
    run_s: float = 0.0

    def state(self, submitted: float, now: float) -> str:
        elapsed = now - submitted
        if elapsed < self.pending_s:
            return "PENDING"
        if self.run_s <= 0 or elapsed < self.pending_s + self.run_s:
            return "RUNNING"
        return "COMPLETED"


class Store:
    def __init__(self, path: str, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, user: str, cluster: str, name: str, body: dict[str, Any]) -> int:
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO jobs (user, cluster, name, session, submitted, body) VALUES (?, ?, ?, '', ?, ?)",
                (user, cluster, name, now, json.dumps(body, ensure_ascii=False)),
            )
            job_id = int(cur.lastrowid or 0)
            session = f"{cluster}-job-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{job_id}"
            self._db.execute("UPDATE jobs SET session = ? WHERE id = ?", (session, job_id))
        return job_id

    def _row(self, row: tuple[Any, ...], now: float) -> dict[str, Any]:
        job_id, user, cluster, name, session, submitted, forced, ended, body = row
        state = forced or self.clock.state(submitted, now)
        return {
            "jobId": job_id,
            "user": user,
            "cluster": cluster,
            "jobName": name,
            "sessionId": session,
            "submitted": submitted,
            "state": state,
            "ended": ended,
            "body": json.loads(body),
        }

    def jobs(self, user: str, cluster: str) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, user, cluster, name, session, submitted, forced_state, ended, body FROM jobs "
                "WHERE user = ? AND cluster = ? ORDER BY submitted DESC, id DESC",
                (user, cluster),
            ).fetchall()
        return [self._row(r, now) for r in rows]

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, user, cluster, name, session, submitted, forced_state, ended, body FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
        return self._row(row, time.time()) if row else None

    def force_state(self, job_id: int, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET forced_state = ?, ended = ? WHERE id = ?", (state, time.time(), job_id))

    def add_many(self, rows: list[tuple[str, str, str, dict[str, Any], str | None]]) -> None:
        """Bulk insert (user, cluster, name, body, forced state) for benchmarks."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            for user, cluster, name, body, state in rows:
                cur = self._db.execute(
                    "INSERT INTO jobs (user, cluster, name, session, submitted, forced_state, body) VALUES (?, ?, ?, '', ?, ?, ?)",
                    (user, cluster, name, now, state, json.dumps(body)),
                )
                self._db.execute(
                    "UPDATE jobs SET session = ? WHERE id = ?", (f"{cluster}-job-bulk-{cur.lastrowid}", cur.lastrowid)
                )
            self._db.execute("COMMIT")
