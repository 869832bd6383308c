"""One apply per project across clones and machines: a lock on the portal, in `~/.scowspec/locks/<project>`.

The local lock (apply.lock) only covers one clone; a laptop and a CI runner share nothing but the portal. The file
routes have no small-file upload, so the lock is a name: a child folder of the lock folder,
`until-<epoch s>-by-<user@host-pid-nonce>`. An apply writes its name, then lists the folder, and holds the lock
only if no other live name (one whose expiry has not passed) is there; else it takes its name back and tries again
later (of names written at once, only the first in order keeps its place, so they do not back off in step). Two
applies never both hold the lock, assuming: a listing shows every mkdir answered before it (one file system behind
scowd or SSH), so of two names written the later writer sees the earlier; the machines' clocks agree within
SKEW_S (an expiry is written by one and judged by another); and a holder renews within its lifetime. A holder that
finds it did not (its renewal came too late, or its name was deleted as expired: a machine asleep) has lost the
lock: `lost` says why, and apply starts nothing more.

A name can outlive its apply: `kill -9`, or a mkdir whose answer was lost but which the portal carried out later.
It blocks other applies until it expires (LOCK_TTL_S); `scowspec doctor` names it.

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

LOCK_TTL_S = 600.0  # renewed every third of it while held; a holder that misses two renewals has lost it (`lost`)
POLL_S = 0.2
# How far apart the clocks of two machines applying one project may be: an expiry is written by one and judged by
# the other. Renewals come every third of LOCK_TTL_S, so a live name has at least 400 s left to a reader with the
# same clock; clocks further apart than that would see a live holder's name as expired.
SKEW_S = 120.0
_HOLDER = re.compile(r"^until-(?P<until>[0-9]+)-by-(?P<owner>[A-Za-z0-9._@-]+)$")


@dataclass(frozen=True)
class Holder:
    name: str  # the child folder's name
    owner: str
    until: float  # epoch seconds

    def describe(self) -> str:
        try:
            when = datetime.fromtimestamp(self.until, UTC).strftime("%H:%M:%S UTC")
        except (ValueError, OverflowError, OSError):
            when = f"{self.until:.0f} (epoch seconds)"
        return f"held by {self.owner} until {when}"

    def live(self, now: float, ttl_s: float) -> bool:
        """Not expired, and not written further ahead than one lifetime (a clock far off, or a hand-made name:
        it would block every apply until then)."""
        return now <= self.until <= now + ttl_s + SKEW_S


def _owner_token() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who = re.sub(r"[^A-Za-z0-9._@-]", "_", f"{user}@{socket.gethostname()}")[:80]
    return f"{who}-pid{os.getpid()}-{secrets.token_hex(3)}"  # what makes it unique is never cut


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
        # Why the lock was lost while held ('' while it is not): a renewal came after our expiry, or another apply
        # deleted our name as expired (a machine asleep, clocks too far apart). `on_lost` is called then.
        self.lost = ""
        self.on_lost: Callable[[], None] = lambda: None
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None

    # -- acquiring ------------------------------------------------------------------------
    def _claim(self) -> None:
        """Write a new name. `held` names it before the call: an answer lost or refused may hide a made folder,
        and whatever takes it back must know its name."""
        until = int(self.clock() + self.ttl_s)
        name = f"until-{until}-by-{self.owner}"
        previous, self.held = self.held, Holder(name, self.owner, until)
        try:
            self.client.mkdir(self.cluster, f"{self.path}/{name}")
        except NotFoundError:
            self.held = previous  # no folder to write into: nothing was made
            raise

    def _others_live(self) -> list[Holder]:
        """Names of other applies whose expiry has not passed; expired ones are deleted on the way (best effort:
        a name deleted twice, by two waiters, is no harm)."""
        now = self.clock()
        live = []
        for h in _holders(self.client, self.cluster, self.path):
            if h.owner == self.owner:
                continue
            if h.live(now, self.ttl_s):
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

    def _make_folder(self) -> None:
        """The lock folder our name goes in (over SSH, mkdir makes one level); the locks folder first if it went
        (ensure_dir remembers it as made)."""
        try:
            with contextlib.suppress(ConflictError):
                self.client.mkdir(self.cluster, self.path)
        except NotFoundError:
            self.client.ensure_dir(self.cluster, self.path.rpartition("/")[0], fresh=True)

    def _try(self) -> list[Holder]:
        """Look, and with no other live name there, write ours and keep it if first (`_keep_if_first`). The other
        live names; `self.held` tells whether ours stays."""
        try:
            live = self._others_live()
        except NotFoundError:
            self._make_folder()
            return []
        if live:
            return live
        try:
            self._claim()
        except NotFoundError:  # the folder went between the look and the write
            self._make_folder()
            return []
        except PortalError:
            self._take_back()  # never the folder: another apply's name may be in it
            raise
        live = self._keep_if_first()
        if live and self.held is None:  # written at once with another apply, after it in order: part at random
            time.sleep(random.uniform(0, 2 * POLL_S))
        return live

    def _keep_if_first(self) -> list[Holder]:
        """List: alone, we hold the lock ([]). With others, only the first name in order keeps its place (so that
        applies written at once do not back off in step for ever); it holds once the others took theirs back. The
        rest take theirs back."""
        try:
            others = self._others_live()
        except NotFoundError:
            self._take_back()  # the folder went right after our name went in: try again
            return []
        mine = self.held
        if others and (mine is None or any(h.name < mine.name for h in others)):
            self._take_back()
        return others

    def acquire(self, timeout_s: float) -> None:
        self.client.ensure_dir(self.cluster, self.path.rpartition("/")[0])
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                # First in order among names written at once: see whether the rest took theirs back.
                live = self._keep_if_first() if self.held is not None else self._try()
                if self.held is not None and not live:
                    return
                if time.monotonic() >= deadline:
                    who = live[-1].describe() if live else "applies starting at the same moment"
                    raise RefusedError(
                        f"another scowspec apply of project `{self.project}` holds the portal lock {self.path} "
                        f"({who}); nothing was changed",
                        hint="wait for it, or raise --lock-timeout; a lock whose holder died is taken over once it "
                        "expires",
                    )
                time.sleep(POLL_S if live else POLL_S / 4)
        except BaseException:  # a refusal, a portal error, Ctrl-C: leave no name of ours behind
            self._stop.set()
            self._delete_mine()
            raise

    # -- holding and releasing --------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            old = self.held
            try:
                if old is not None and self.clock() > old.until:
                    raise _Lost(f"no renewal before {old.describe()}")
                self._claim()
                names = _holders(self.client, self.cluster, self.path)
                if old is not None and old.name not in {h.name for h in names}:
                    raise _Lost("another apply deleted our name as expired")  # (SSH's rm -rf would not say)
                now = self.clock()
                if taken := [h for h in names if h.owner != self.owner and h.live(now, self.ttl_s)]:
                    raise _Lost(f"another apply wrote its name: {taken[-1].describe()}")
                if old is not None:
                    self.client.delete(self.cluster, f"{self.path}/{old.name}", folder=True)
            except PortalError:
                continue  # the next beat tries again; the name is good until its expiry
            except Exception as exc:  # _Lost, or a failure of this thread that must not pass unseen
                self.lost = exc.args[0] if isinstance(exc, _Lost) else f"the renewal failed: {exc!r}"
                self.on_lost()
                return

    def _delete_mine(self) -> None:
        """Every name of ours (a renewal, a lost answer may have left more than one), each on its own."""
        names = {self.held.name} if self.held is not None else set()
        with contextlib.suppress(PortalError):
            names |= {h.name for h in _holders(self.client, self.cluster, self.path) if h.owner == self.owner}
        for name in sorted(names):
            with contextlib.suppress(PortalError):
                self.client.delete(self.cluster, f"{self.path}/{name}", folder=True)
        self.held = None

    def start_heartbeat(self) -> None:
        self._heart = threading.Thread(target=self._beat, name="scowspec-lock-heartbeat", daemon=True)
        self._heart.start()

    def release(self) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.join()
        self._delete_mine()


class _Lost(Exception):
    pass


@contextmanager
def portal_lock(client: Files, cluster: str, project: str, timeout_s: float) -> Iterator[PortalLock]:
    lock = PortalLock(client, cluster, project)
    lock.acquire(timeout_s)
    lock.start_heartbeat()
    try:
        yield lock
    finally:
        lock.release()
