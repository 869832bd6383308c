"""Ctrl-C while changes run: a flag the workers read, never an exception in the middle of the bookkeeping.

Python raises KeyboardInterrupt wherever the main thread happens to be. Raised while apply hands changes to its
worker pool, or while it reports a finished one, it skipped the stop flag the workers look at, and the pool's exit
then waited for every queued submit: one Ctrl-C that sent them all (CI saw 3 of 5 submits land after it). So while
changes run, Ctrl-C only sets the flag: calls in flight finish and are recorded, nothing new starts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) sets `stop` instead of raising; the previous handler comes back after.

    Off the main thread Python can't take signals, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        # Not stop.set() here: the handler runs on the main thread between two of its bytecodes, maybe inside
        # stop.wait() holding the Event's lock (services wait at the submit gate on the main thread), and set()
        # would wait for that lock forever. Another thread waits for it instead.
        threading.Thread(target=stop.set, name="scowspec-ctrl-c", daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        # None: a handler not installed from Python; the default is the closest we can put back.
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
