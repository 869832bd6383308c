"""One apply per project across clones and machines: a lock on the portal, in `~/.scowspec/locks/<project>`.

The local lock (apply.lock) only covers one clone; a laptop and a CI runner share nothing but the portal. The file
routes have no small-file upload, so the lock is a name: a child folder of the lock folder,
`until-<epoch s>-by-<user@host-pid-nonce>`. An apply writes its name, then lists the folder, and holds the lock
only if no other live name (one whose expiry has not passed) is there; else it takes its name back and tries again
after a random pause (two that wrote at once may both back off: the pause parts them). This assumes that a listing
shows every mkdir answered before it, as one file system behind scowd or SSH does: then of two names written, the
later writer sees the earlier, so two applies never both hold the lock.

Nothing here relies on mkdir being atomic, and it is not: the portal looks (409 when the folder exists), then makes
it in a second call, and on scowd that call is `mkdir -p`, which does not fail on a folder made meanwhile.

A heartbeat renews the name while the apply runs, and the name is deleted at the end (the folder stays: deleting
it could take a newer name with it). A holder that died leaves its name to expire; the next apply deletes that name
and writes its own. Only names are ever deleted, and only expired ones or one's own.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from scowspec.errors import ConflictError, NotFoundError, PortalError, RefusedError
from scowspec.portal.project_home import Files, state_path

LOCK_TTL_S = 600.0  # renewed every third of it while held: only a dead holder's lock ever expires
POLL_S = 0.2
_HOLDER = re.compile(r"^until-(?P<until>[0-9]+)-by-(?P<owner>[A-Za-z0-9._@-]+)$")


@dataclass(frozen=True)
class Holder:
    name: str  # the child folder's name
    owner: str
    until: float  # epoch seconds

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.until, UTC).strftime("%H:%M:%S UTC")
        return f"held by {self.owner} until {when}"


def _owner_token() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    raw = f"{user}@{socket.gethostname()}-pid{os.getpid()}-{secrets.token_hex(3)}"
    return re.sub(r"[^A-Za-z0-9._@-]", "_", raw)[:120]


def _holders(client: Files, cluster: str, path: str) -> list[Holder]:
    out = []
    for entry in client.list_directory(cluster, path):
        m = _HOLDER.match(str(entry.get("name", "")))
        if m:
            out.append(Holder(m.group(0), m.group("owner"), float(m.group("until"))))
    return sorted(out, key=lambda h: h.until)


def lock_path(client: Files, cluster: str, project: str) -> str:
    return state_path(client, cluster, "locks", project)


def holders_now(client: Files, cluster: str, project: str) -> list[Holder] | None:
    """The names in the project's lock folder now, oldest expiry first; None when there is no lock folder."""
    try:
        return _holders(client, cluster, lock_path(client, cluster, project))
    except NotFoundError:
        return None


@dataclass
class PortalLock:
    client: Files
    cluster: str
    project: str
    ttl_s: float = LOCK_TTL_S
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.path = lock_path(self.client, self.cluster, self.project)
        self.owner = _owner_token()
        self.held: Holder | None = None
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None

    # -- acquiring ------------------------------------------------------------------------
    def _claim(self) -> None:
        until = int(self.clock() + self.ttl_s)
        name = f"until-{until}-by-{self.owner}"
        self.client.mkdir(self.cluster, f"{self.path}/{name}")
        self.held = Holder(name, self.owner, until)

    def _others_live(self) -> list[Holder]:
        """Names of other applies whose expiry has not passed; expired ones are deleted on the way (best effort:
        a name deleted twice, by two waiters, is no harm)."""
        now = self.clock()
        live = []
        for h in _holders(self.client, self.cluster, self.path):
            if h.owner == self.owner:
                continue
            if h.until >= now:
                live.append(h)
            else:
                with contextlib.suppress(PortalError):
                    self.client.delete(self.cluster, f"{self.path}/{h.name}", folder=True)
        return live

    def _take_back(self) -> None:
        mine, self.held = self.held, None
        if mine is not None:
            with contextlib.suppress(PortalError):
                self.client.delete(self.cluster, f"{self.path}/{mine.name}", folder=True)

    def _try(self) -> list[Holder]:
        """Write our name and keep it if no other live name is there: [] when we hold the lock, else who does
        (or [] with `self.held` None: the folder went, or two wrote at once; try again)."""
        try:
            self._claim()
        except NotFoundError:  # no lock folder (SSH makes one level): make it, then write again
            with contextlib.suppress(ConflictError):
                self.client.mkdir(self.cluster, self.path)
            return []
        except PortalError:
            self._take_back()  # never the folder: another apply's name may be in it
            raise
        try:
            others = self._others_live()
        except NotFoundError:
            others = []  # the folder went right after our name went in: try again
            self._take_back()
        if others:
            self._take_back()
        return others

    def acquire(self, timeout_s: float) -> None:
        parent = self.path.rpartition("/")[0]
        self.client.ensure_dir(self.cluster, parent)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                live = self._others_live()
            except NotFoundError:
                live = []
            if not live:
                try:
                    live = self._try()
                except NotFoundError:  # the locks folder itself went
                    self.client.ensure_dir(self.cluster, parent, fresh=True)
                if self.held is not None:
                    return
                if live:  # written at once with another apply: part at random
                    time.sleep(random.uniform(0, 2 * POLL_S))
            if time.monotonic() >= deadline:
                who = live[-1].describe() if live else "applies starting at the same moment"
                raise RefusedError(
                    f"another scowspec apply of project `{self.project}` holds the portal lock {self.path} "
                    f"({who}); nothing was changed",
                    hint="wait for it, or raise --lock-timeout; a lock whose holder died is taken over once it expires",
                )
            time.sleep(POLL_S if live else POLL_S / 4)

    # -- holding and releasing --------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            old = self.held
            try:
                self._claim()
                if old is not None:
                    self.client.delete(self.cluster, f"{self.path}/{old.name}", folder=True)
            except PortalError:
                continue  # the next beat tries again; the lock stays valid until its expiry

    def start_heartbeat(self) -> None:
        self._heart = threading.Thread(target=self._beat, name="scowspec-lock-heartbeat", daemon=True)
        self._heart.start()

    def release(self) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.join()
        with contextlib.suppress(PortalError):  # every name of ours (a renewal may have left an old one)
            for h in _holders(self.client, self.cluster, self.path):
                if h.owner == self.owner:
                    self.client.delete(self.cluster, f"{self.path}/{h.name}", folder=True)
        self.held = None


@contextmanager
def portal_lock(client: Files, cluster: str, project: str, timeout_s: float) -> Iterator[PortalLock]:
    lock = PortalLock(client, cluster, project)
    lock.acquire(timeout_s)
    lock.start_heartbeat()
    try:
        yield lock
    finally:
        lock.release()
