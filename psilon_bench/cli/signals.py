"""Ctrl-C and SIGTERM during `psilon-bench run`: the first SIGINT raises
KeyboardInterrupt and the first SIGTERM raises `Terminated` in the main thread, so every
`finally` and cleanup runs (no DONE is ever written for unfinished work); the signal is
remembered, so the CLI reports it in one line (exit 130 / 143) even when it surfaced as
another error (e.g. inside an interrupted import). Later signals are ignored while the
process cleans up."""

from __future__ import annotations

import signal
from typing import Any


class Terminated(BaseException):  # noqa: N818
    """SIGTERM, raised in the main thread like KeyboardInterrupt for SIGINT."""


EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
_received: list[str] = []


def _handler(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    if _received:  # already stopping: let the cleanup finish
        return
    _received.append(name)
    raise KeyboardInterrupt() if name == "SIGINT" else Terminated()


def install() -> None:
    """Take over SIGINT and SIGTERM in this (main) process."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def received() -> str | None:
    """ "SIGINT" / "SIGTERM" once one arrived, else None."""
    return _received[0] if _received else None
