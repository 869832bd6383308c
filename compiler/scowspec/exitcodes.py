"""Exit codes: one meaning each, the same for every command (documented in the README)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # success, valid, or no changes
    ERROR = 1  # unexpected error: portal, transport, internal
    CHANGES = 2  # a difference exists (plan --detailed-exitcode, status --check)
    INVALID = 3  # the spec is invalid (user-fixable)
    REFUSED = 4  # refused with nothing changed: stale plan, guard, declined, no one to confirm
    PARTIAL = 5  # apply partly failed: some actions done, the rest reported
    USAGE = 64  # bad flags or arguments (Click's own default, 2, would collide with CHANGES)
    INTERRUPTED = 130  # Ctrl-C
