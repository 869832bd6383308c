"""Sandbox state in SQLite: jobs and the users' files survive a restart; job states move on a clock."""

from __future__ import annotations

import json
import posixpath
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL, cluster TEXT NOT NULL, name TEXT NOT NULL, session TEXT NOT NULL,
  submitted REAL NOT NULL, forced_state TEXT, ended REAL, body TEXT NOT NULL,
  listed INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS files (
  user TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, content BLOB, mtime REAL NOT NULL,
  PRIMARY KEY (user, path)
);
"""
_JOB_COLUMNS = "id, user, cluster, name, session, submitted, forced_state, ended, body"


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

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement under the store's lock, for sandbox modules that keep tables of their own."""
        with self._lock:
            return self._db.execute(query, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ---------------------------------------------------------------------------------
    def add(self, user: str, cluster: str, name: str, body: dict[str, Any], session: str = "") -> int:
        """A new job row. Without `session`, one that never collides (jobs made by hand or by a test)."""
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO jobs (user, cluster, name, session, submitted, body) VALUES (?, ?, ?, ?, ?, ?)",
                (user, cluster, name, session, now, json.dumps(body, ensure_ascii=False)),
            )
            job_id = int(cur.lastrowid or 0)
            if not session:
                self._db.execute("UPDATE jobs SET session = ? WHERE id = ?", (f"{cluster}-job-made-{job_id}", job_id))
        return job_id

    def listed_with_session(self, user: str, cluster: str, session: str) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE user = ? AND cluster = ? AND session = ? AND listed = 1",
                (user, cluster, session),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def unlist(self, job_id: int) -> None:
        """The job's entry in total_sessions.json was replaced: it runs on, but no list shows it."""
        with self._lock:
            self._db.execute("UPDATE jobs SET listed = 0 WHERE id = ?", (job_id,))

    def replace_body(self, job_id: int, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET body = ? WHERE id = ?", (json.dumps(body, ensure_ascii=False), job_id))

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
        """The jobs a list shows (listed ones), newest first."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs "
                "WHERE user = ? AND cluster = ? AND listed = 1 ORDER BY submitted DESC, id DESC",
                (user, cluster),
            ).fetchall()
        return [self._row(r, now) for r in rows]

    def all_jobs(self, user: str, cluster: str) -> list[dict[str, Any]]:
        """Every job the scheduler knows, listed or not (tests count collisions with it)."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE user = ? AND cluster = ? ORDER BY id", (user, cluster)
            ).fetchall()
        return [self._row(r, now) for r in rows]

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(row, time.time()) if row else None

    def jobs_named(self, user: str, names: list[str]) -> list[dict[str, Any]]:
        """The user's jobs (listed or not) with one of these names."""
        if not names:
            return []
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE user = ? AND name IN ({', '.join('?' * len(names))})",
                (user, *names),
            ).fetchall()
        return [self._row(r, now) for r in rows]

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

    # -- files (one tree per user; what scowd would show that user) -------------------------------
    def file(self, user: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT kind, content, mtime FROM files WHERE user = ? AND path = ?", (user, _norm(path))
            ).fetchone()
        return {"kind": row[0], "content": row[1] or b"", "mtime": row[2]} if row else None

    def put(self, user: str, path: str, kind: str, content: bytes = b"", *, parents: bool = True) -> bool:
        """Create (or overwrite a file's content); False when a folder already exists there."""
        path = _norm(path)
        with self._lock:
            if parents:
                parent = posixpath.dirname(path)
                while parent not in ("/", ""):
                    self._db.execute(
                        "INSERT OR IGNORE INTO files (user, path, kind, content, mtime) VALUES (?, ?, 'DIR', NULL, ?)",
                        (user, parent, time.time()),
                    )
                    parent = posixpath.dirname(parent)
            if kind == "DIR":
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO files (user, path, kind, content, mtime) VALUES (?, ?, 'DIR', NULL, ?)",
                    (user, path, time.time()),
                )
                return cur.rowcount == 1
            self._db.execute(
                "INSERT OR REPLACE INTO files (user, path, kind, content, mtime) VALUES (?, ?, 'FILE', ?, ?)",
                (user, path, content, time.time()),
            )
        return True

    def children(self, user: str, path: str) -> list[dict[str, Any]]:
        path = _norm(path)
        prefix = path.rstrip("/") + "/"
        with self._lock:
            rows = self._db.execute(
                "SELECT path, kind, length(content), mtime FROM files WHERE user = ? AND path LIKE ? ESCAPE '\\'",
                (user, _like(prefix) + "%"),
            ).fetchall()
        return [
            {"name": p[len(prefix) :], "kind": k, "size": int(size or 0), "mtime": m}
            for p, k, size, m in rows
            if "/" not in p[len(prefix) :]
        ]

    def delete(self, user: str, path: str) -> None:
        path = _norm(path)
        with self._lock:
            self._db.execute(
                "DELETE FROM files WHERE user = ? AND (path = ? OR path LIKE ? ESCAPE '\\')",
                (user, path, _like(path.rstrip("/") + "/") + "%"),
            )


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
