"""One apply per project across clones and machines: a lock folder on the portal, `~/.scowspec/locks/<project>`.

The local lock (apply.lock) only covers one clone; a laptop and a CI runner share nothing but the portal. The lock
is the folder and its one child, which names the holder and an expiry, `until-<epoch s>-by-<user@host-pid-nonce>`
(the file routes have no small-file upload). A heartbeat renews it while the apply runs; it is deleted at the end;
a holder that died leaves it to expire, and the next apply takes it over then (through an mkdir of its own, so two
waiters never both do).

The portal's mkdir is not atomic: it looks (409 when the folder exists), then makes it in a second call, and on
scowd that call is `mkdir -p`, which does not fail on a folder made meanwhile. Two applies starting together can
both "make" the lock folder. So whoever made it writes its name and then lists the folder: it holds the lock only
if no other live name is there; else it takes its name back and tries again after a random pause (both may, and
the pause parts them). Of two names written, the later writer always sees the earlier, so two never both hold.
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
# A lock folder without a holder child is an apply between its two mkdirs, or one that died there.
UNNAMED_GRACE_S = 60.0
# After backing off from a lock folder two applies made at once, how long one may write its name into that folder
# again without waiting out UNNAMED_GRACE_S (the other backed off too, or holds it now: the listing tells).
CONTENDED_S = 5.0
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


def _age_s(client: Files, cluster: str, path: str, now: float) -> float:
    """How long ago the lock folder was made (its mtime in the parent's listing); 0 when unknown."""
    parent, _, name = path.rpartition("/")
    for entry in client.list_directory(cluster, parent):
        if entry.get("name") == name:
            with contextlib.suppress(ValueError, TypeError):
                made = datetime.fromisoformat(str(entry.get("mtime", "")).replace("Z", "+00:00"))
                return max(0.0, now - made.timestamp())
    return 0.0


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

    def _take_over(self, stale: Holder | None) -> None:
        """Delete an expired lock; the takeover is itself an mkdir, so of two waiters only one deletes."""
        marker = f"{self.path}/takeover-{stale.name if stale else 'unnamed'}"
        try:
            self.client.mkdir(self.cluster, marker)
        except (ConflictError, NotFoundError):
            return  # another waiter is taking it over, or it is gone already
        now = _holders(self.client, self.cluster, self.path)
        if (now[-1].name if now else None) != (stale.name if stale else None):
            with contextlib.suppress(PortalError):  # renewed meanwhile: it was not dead
                self.client.delete(self.cluster, marker, folder=True)
            return
        self.client.delete(self.cluster, self.path, folder=True)

    def _claim_alone(self) -> bool:
        """Write our name into the lock folder and keep it only if no other live name is there."""
        try:
            self._claim()
        except NotFoundError:
            return False  # the folder went meanwhile (a release, a takeover): start again
        except PortalError:
            with contextlib.suppress(PortalError):
                self.client.delete(self.cluster, self.path, folder=True)
            raise
        mine = self.held
        now = self.clock()
        try:
            others = [h for h in _holders(self.client, self.cluster, self.path) if mine is None or h.name != mine.name]
        except NotFoundError:
            others = []  # deleted right after our name went in: nobody holds it; try again
            self.held = None
            return False
        if not [h for h in others if h.until >= now]:
            return True
        # Made at once by two applies (see the module's note): take our name back, pause at random, try again.
        self.held = None
        if mine is not None:
            with contextlib.suppress(PortalError):
                self.client.delete(self.cluster, f"{self.path}/{mine.name}", folder=True)
        time.sleep(random.uniform(0, 2 * POLL_S))
        return False

    def acquire(self, timeout_s: float) -> None:
        self.client.ensure_dir(self.cluster, self.path.rpartition("/")[0])
        deadline = time.monotonic() + timeout_s
        contended_until = float("-inf")  # monotonic: we backed off from a folder made at once with another apply
        while True:
            try:
                self.client.mkdir(self.cluster, self.path)
                made = True
            except ConflictError:
                made = False
            except NotFoundError:  # the locks folder itself went: make it again
                self.client.ensure_dir(self.cluster, self.path.rpartition("/")[0])
                continue
            current: Holder | None = None
            if made:
                if self._claim_alone():
                    return
                contended_until = time.monotonic() + CONTENDED_S
                self._give_up_after(deadline, current)
                continue
            try:
                holders = _holders(self.client, self.cluster, self.path)
                current = holders[-1] if holders else None
                now = self.clock()
                if current is None:
                    if time.monotonic() < contended_until:
                        if self._claim_alone():
                            return
                        self._give_up_after(deadline, current)
                        continue
                    if _age_s(self.client, self.cluster, self.path, now) > UNNAMED_GRACE_S:
                        self._take_over(None)
                        continue
                elif current.until < now:
                    self._take_over(current)
                    continue
            except NotFoundError:
                continue  # released meanwhile: try again at once
            self._give_up_after(deadline, current)
            time.sleep(POLL_S)

    def _give_up_after(self, deadline: float, current: Holder | None) -> None:
        if time.monotonic() >= deadline:
            who = current.describe() if current else "its holder is still writing its name"
            raise RefusedError(
                f"another scowspec apply of project `{self.project}` holds the portal lock {self.path} "
                f"({who}); nothing was changed",
                hint="wait for it, or raise --lock-timeout; a lock whose holder died is taken over once it expires",
            )

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
        with contextlib.suppress(PortalError):
            mine = {h.name for h in _holders(self.client, self.cluster, self.path) if h.owner == self.owner}
            if mine:  # never delete a lock someone took over after ours expired
                self.client.delete(self.cluster, self.path, folder=True)


@contextmanager
def portal_lock(client: Files, cluster: str, project: str, timeout_s: float) -> Iterator[PortalLock]:
    lock = PortalLock(client, cluster, project)
    lock.acquire(timeout_s)
    lock.start_heartbeat()
    try:
        yield lock
    finally:
        lock.release()
