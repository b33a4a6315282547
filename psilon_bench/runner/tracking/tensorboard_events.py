"""`logger=tensorboard`: one event folder per member, `<root>/<member name>`, holding its
learning curves (`curve/<column>` at their steps), its record's numbers (at the run's last
step) and its parameters as a text table. `<root>` is the run folder's `tensorboard/`, or
`<logger.save_dir>/<run id>`; `tensorboard --logdir results` shows every run.

The writer is `torch.utils.tensorboard.SummaryWriter` (it needs the `tensorboard`
package). A failure or interruption removes `<root>` again, so a redone job logs once.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psilon_bench.records import io
from psilon_bench.runner.tracking.base import MemberLog, load


def log_root(node: Any, run_dir: Path, run_id: str) -> Path:
    """Where a run's member folders go (see the module's docstring)."""
    if node.save_dir is None:
        return Path(run_dir) / io.TENSORBOARD
    return Path(str(node.save_dir)).absolute() / run_id


def params_table(params: dict[str, str]) -> str:
    """The parameters as a two-column Markdown table (TensorBoard's text tab renders it)."""
    rows = [f"| {k} | {v} |" for k, v in params.items()]
    return "\n".join(["| parameter | value |", "| --- | --- |", *rows])


def log_members(node: Any, run_dir: Path, run_id: str, logs: Sequence[MemberLog]) -> None:
    """Write every member's event folder below `log_root` (emptied first)."""
    load("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    root = log_root(node, run_dir, run_id)
    shutil.rmtree(root, ignore_errors=True)  # a redone job's earlier attempt
    try:
        for log in logs:
            # a queue that holds the member's every event: add_scalar never waits on the
            # writer's thread (the default of 10 made each event a thread hand-off)
            events = len(log.metrics) + sum(len(v) for _, v in log.curves) + 1
            writer = SummaryWriter(log_dir=str(root / log.name), max_queue=events)
            try:
                for step, values in log.curves:
                    for key, value in values.items():
                        writer.add_scalar(key, value, step)
                for key, value in log.metrics.items():
                    writer.add_scalar(key, value, log.step)
                writer.add_text("params", params_table(log.params), log.step)
            finally:
                writer.close()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
