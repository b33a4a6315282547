"""What every logger sends, member by member (`member_logs`), `check` (the chosen logger's
package is installed, before a run) and `load` (import it, when the run logs).

A member's log holds its config (the run's flattened config with the member's own
strength and learning rate in place of the run's lists) and its axes as parameters, its
record's numbers as metrics, its learning curves (`curves.jsonl`) as step metrics
`curve/<column>`, and tags naming the run (run id, folder, sweep folder, method, status).
With a list of pruning amounts a member has one record per amount, and one log each.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psilon_bench.config import choice
from psilon_bench.config.validation import package_installed
from psilon_bench.errors import ConfigError, UserError

#: logger -> the module it imports (the extra `psilon-bench[<logger>]` installs it)
PACKAGES = {"mlflow": "mlflow", "tensorboard": "tensorboard"}
#: config keys whose run value is a list of members' values -> the member's own field
MEMBER_KEYS = {"regularizer.strength": "strength", "optimizer.lr": "lr"}
#: record fields sent as tags (text that names the run, not a number to plot)
TAG_FIELDS = ("run_id", "config_hash", "dataset", "model", "regularizer", "pruning", "status")
#: the prefix of learning-curve metrics (TensorBoard groups a panel by it)
CURVE = "curve/"


class TrackingError(UserError):
    """A logger could not write (its store unreachable, a folder not writable)."""


def install_line(name: str) -> str:
    return f"pip install 'psilon-bench[{name}]'"


def logger_name(cfg: Any) -> str:
    """The chosen logger (`none` for a config composed without the group)."""
    node = cfg.get("logger") if hasattr(cfg, "get") else None
    return "none" if node is None else choice(node.name)


def check(cfg: Any) -> None:
    """One-line ConfigError when the chosen logger's package is not installed."""
    name = logger_name(cfg)
    module = PACKAGES.get(name)
    if module is not None and not package_installed(module):
        raise ConfigError(
            f"logger={name} needs the {module} package, which is not installed; "
            f"install it with: {install_line(name)} (or choose logger=none)"
        )


def load(name: str) -> Any:
    """Import the chosen logger's library (ConfigError naming the install command)."""
    try:
        return importlib.import_module(PACKAGES[name])
    except ImportError as err:
        raise ConfigError(
            f"logger={name} cannot import {PACKAGES[name]} ({err}); "
            f"install it with: {install_line(name)}"
        ) from None


@dataclass
class MemberLog:
    """What a logger writes for one record: `name` (unique within the run), parameters
    (text), metrics (finite numbers at `step`, the run's last optimizer step), tags and the
    learning curves as (step, {`curve/<column>`: value})."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    step: int
    curves: list[tuple[int, dict[str, float]]] = field(default_factory=list)


@functools.cache
def member_fields() -> tuple[str, ...]:
    """Record fields that say which member a record is (parameters, not metrics): its index,
    every axis of the member grid (`runner.grid.AXES`), its split seed and pruning amount."""
    from psilon_bench.runner.grid import AXES

    return ("member", *(name for name, _ in AXES), "split_seed", "prune.amount")


def param_text(value: Any) -> str:
    """A parameter value as text: null, true/false, numbers and strings as written."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value: Any) -> float | None:
    """A finite int or float (bools and NaN/inf are no metric), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def member_params(record: Mapping[str, Any]) -> dict[str, str]:
    """The member's config (`cfg.` keys without the prefix; its own strength and learning
    rate in place of the run's lists) and its axes."""
    params = {k[4:]: param_text(v) for k, v in record.items() if k.startswith("cfg.")}
    for key, axis in MEMBER_KEYS.items():
        if key in params and record.get(axis) is not None:
            params[key] = param_text(record[axis])
    params.update({k: param_text(record[k]) for k in member_fields() if k in record})
    return params


def member_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number of the record that is neither config nor a member axis."""
    out = {}
    for key, value in record.items():
        if key.startswith("cfg.") or key in member_fields():
            continue
        x = number(value)
        if x is not None:
            out[key] = x
    return out


def curve_points(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[tuple[int, dict]]]:
    """curves.jsonl rows -> member -> [(step, {`curve/<column>`: value})] (nulls left out)."""
    skip = {"run_id", "step", *member_fields()}
    out: dict[int, list[tuple[int, dict[str, float]]]] = {}
    for row in rows:
        values = {f"{CURVE}{k}": number(v) for k, v in row.items() if k not in skip}
        values = {k: x for k, x in values.items() if x is not None}
        out.setdefault(int(row["member"]), []).append((int(row["step"]), values))
    return out


def member_logs(
    records: Sequence[Mapping[str, Any]],
    curves: Sequence[Mapping[str, Any]] | None,
    run_dir: Path,
    sweep_dir: Path | None,
) -> list[MemberLog]:
    """One MemberLog per record, in record order."""
    import pandas as pd

    from psilon_bench.report.collect import method_names

    if not records:
        return []
    # one config per run, so one method name (the report's rule, on the first record)
    method = str(method_names(pd.DataFrame([dict(records[0])])).iloc[0])
    points = curve_points(curves or [])
    several = len({r["member"] for r in records}) < len(records)  # a list of pruning amounts
    logs = []
    for record in records:
        e = int(record["member"])
        name = f"member_{e}"
        if several:
            name += f"_pruned_{record.get('prune.amount', 0):g}"
        tags = {k: param_text(record[k]) for k in TAG_FIELDS if k in record}
        tags |= {"method": method, "member": str(e), "run_dir": str(Path(run_dir).absolute())}
        if sweep_dir is not None:
            tags["sweep"] = str(Path(sweep_dir).absolute())
        step = number(record.get("time.steps")) or 0.0
        logs.append(
            MemberLog(
                name=name,
                params=member_params(record),
                metrics=member_metrics(record),
                tags=tags,
                step=int(step),
                curves=points.get(e, []),
            )
        )
    return logs
