"""What a run shows while it works: one bar for the whole run (members x optimizer steps
over every member chunk, the chunk in training, time left) and a status line for data
loading and evaluation once they take more than a second. Only on a terminal: when stdout
is not one (a pipe, a log) or the job is one of several parallel workers, nothing live is
drawn; the summary's lines are what such a job prints."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: a status line appears once its step has taken this long (seconds)
STATUS_DELAY_S = 1.0


def live_output(setting: str, parallel: bool) -> bool:
    """`trainer.progress`: `auto` draws on a terminal unless the job is a parallel worker;
    `on` and `off` force it (workers stay quiet even with `on`: their bars would overwrite
    one another)."""
    if parallel:
        return False
    if setting == "auto":
        return sys.stdout.isatty()
    return setting == "on"


class RunProgress:
    """The run's progress on the terminal (a no-op when `enabled` is False)."""

    def __init__(self, n_members: int, enabled: bool, console: Any = None):
        self.n_members, self.enabled = n_members, enabled
        self.done_members = 0  # members of the chunks already trained
        self.progress: Any = None
        self.task: Any = None
        self.console = console

    def __enter__(self) -> RunProgress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=None),
                TextColumn("{task.fields[detail]}"),  # steps and loss; empty on status lines
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
                expand=False,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # ---------------------------------------------------------------------------- status

    @contextmanager
    def status(self, text: str) -> Iterator[None]:
        """Show `text` with a spinner if the block takes more than `STATUS_DELAY_S`."""
        if self.progress is None:
            yield
            return
        shown: list[Any] = []

        def show() -> None:
            shown.append(self.progress.add_task(text, total=None, detail=""))
            self.progress.refresh()  # drawn now, not at the next refresh tick

        timer = threading.Timer(STATUS_DELAY_S, show)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            timer.join()
            for task in shown:
                self.progress.remove_task(task)

    # ----------------------------------------------------------------------------- steps

    def chunk(self, members: slice) -> ChunkProgress:
        """The progress of training one chunk of members (what `train.fit` updates)."""
        return ChunkProgress(self, members)


class ChunkProgress:
    """`train.fit`'s view: `begin(n_steps)`, `update(step, losses, alive)` (cheap: a host
    sync about 100 times per chunk), `end()`."""

    def __init__(self, run: RunProgress, members: slice):
        self.run, self.members = run, members
        self.size = members.stop - members.start
        self.every = 1
        self.n_steps = 0

    def begin(self, n_steps: int) -> None:
        run = self.run
        self.n_steps, self.every = n_steps, max(n_steps // 100, 1)
        if run.progress is None:
            return
        label = f"{run.n_members} member{'s' if run.n_members != 1 else ''}"
        if self.size < run.n_members:  # the chunk in training
            label = f"members {self.members.start + 1}-{self.members.stop} of {run.n_members}"
        total = run.n_members * n_steps
        if run.task is None:
            detail = f"0/{total} member-steps  loss -"
            run.task = run.progress.add_task(label, total=total, detail=detail)
        run.progress.update(run.task, description=label)

    def update(self, step: int, losses: Any, alive: Any) -> None:
        run = self.run
        if run.task is None or ((step + 1) % self.every and step + 1 != self.n_steps):
            return
        live = losses.detach().cpu()[alive.cpu()]
        loss = f"{live.mean().item():.4f}" if live.numel() else "diverged"
        done = run.done_members * self.n_steps + self.size * (step + 1)
        detail = f"{done}/{run.n_members * self.n_steps} member-steps  loss {loss}"
        run.progress.update(run.task, completed=done, detail=detail)

    def end(self) -> None:
        self.run.done_members += self.size
