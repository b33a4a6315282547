"""One `validate(cfg)` for value ranges and cross-field rules (STYLE.md §5).

OmegaConf already rejects unknown keys, wrong types and invalid Enum choices at
composition. What a type cannot say lives as field metadata in `psilon_bench.config`
(`ranged(...)`), and the few rules that tie two fields together are checked below. Every
error is one line naming the dotted key, what is allowed and what was given.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from psilon_bench.config import SCHEMAS, SUMMARY_SELECT_ON, Interval, choice
from psilon_bench.config.safety import walk
from psilon_bench.errors import ConfigError

#: what a split size means, quoted in every split error
SPLIT_SIZES = "an int is a row count, a float a fraction in (0, 1) of the rows"


def validate(cfg: DictConfig) -> None:
    """Check finiteness, the schema's keys, every declared range and the cross-field rules;
    raise ConfigError on the first."""
    _check_missing(cfg)
    _check_finite(cfg)
    _check_ranges(cfg, "")
    _check_rules(cfg)


def _check_missing(cfg: DictConfig) -> None:
    """Every mandatory value is set (`~model` or a preset can leave `???` behind)."""
    missing = []
    for top in cfg:
        if top == "hydra":
            continue
        if OmegaConf.is_missing(cfg, top):
            missing.append(str(top))
        elif OmegaConf.is_config(cfg._get_node(top)):
            missing += [f"{top}.{k}" for k in OmegaConf.missing_keys(cfg[top])]
    for key in sorted(missing):
        if key:
            group = key.split(".")[0]
            raise ConfigError(
                f"{key} has no value (???); set it, e.g. {group}=<option> for a group "
                "(psilon-bench run --help lists the options)"
            )


def _check_finite(cfg: DictConfig) -> None:
    """NaN and infinities are refused in every key (none of them means anything here)."""
    for top in cfg:
        if top == "hydra":
            continue
        node = cfg._get_node(top)
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else None
        leaves = walk(value, f"{top}.") if isinstance(value, (dict, list)) else []
        for key, v in [(str(top), OmegaConf.select(cfg, str(top))), *leaves]:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{key} must be a finite number; got {v}")


def validate_launcher(cfg: DictConfig) -> None:
    """`hydra.launcher.n_jobs` (joblib): a positive count, or negative (-1: one per core)."""
    n_jobs = OmegaConf.select(cfg, "hydra.launcher.n_jobs", default=None)
    if n_jobs is None:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ConfigError(
            "hydra.launcher.n_jobs must be a positive number of parallel jobs, or -1 for one "
            f"per CPU core; got {n_jobs!r}"
        )


def _check_ranges(node: Any, prefix: str) -> None:
    if not isinstance(node, DictConfig):
        return
    schema = OmegaConf.get_type(node)
    fields = (
        {f.name: f for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else {}
    )
    for key in node:
        if key == "hydra":
            continue
        dotted = f"{prefix}{key}"
        if fields and str(key) not in fields and not _forced_sibling_key(node, dotted):
            parent = prefix[:-1] or "the config"  # `+model.foo=1` adds keys past the schema
            raise ConfigError(
                f"{dotted} is not a key of {parent}; allowed keys: {', '.join(fields)}"
            )
        value = OmegaConf.select(node, str(key), throw_on_missing=False) if key in node else None
        f = fields.get(str(key))
        if f is not None and "range" in f.metadata:
            _check_value(
                dotted,
                value,
                f.metadata["range"],
                f.metadata.get("many", False),
                f.metadata.get("optional", False),
            )
        if isinstance(value, DictConfig):
            _check_ranges(value, dotted + ".")


def _forced_sibling_key(root: Any, dotted: str) -> bool:
    """`++group.key=v` may set a key that another option of the group has (a sweep over
    options with different keys, e.g. `-m regularizer=l2,lp_bridge ++regularizer.p=2`);
    `+` and typos (no option has the key) stay errors."""
    group, _, key = dotted.partition(".")
    if "." in key:
        return False
    siblings = {
        f.name
        for (g, _), schema in SCHEMAS.items()
        if g == group
        for f in dataclasses.fields(schema)
    }
    return key in siblings and dotted in _forced_keys(root)


def _forced_keys(node: Any) -> set[str]:
    """Keys set with `++` on the command line (from the config's own `hydra` node when it has
    one, else from Hydra's running job)."""
    root = node._get_root() if isinstance(node, DictConfig) else node
    overrides = OmegaConf.select(root, "hydra.overrides.task", default=None)
    if overrides is None:
        from hydra.core.hydra_config import HydraConfig

        overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    return {str(o)[2:].split("=", 1)[0] for o in overrides if str(o).startswith("++")}


def _check_value(key: str, value: Any, interval: Interval, many: bool, optional: bool) -> None:
    if value is None:
        if optional:
            return
        raise ConfigError(f"{key} must be a number in {interval}; got null")
    values = list(value) if isinstance(value, (list, ListConfig)) else [value]
    if isinstance(value, (list, ListConfig)) and not many:
        raise ConfigError(f"{key} must be a single number in {interval}; got a list {list(value)}")
    if not values:
        raise ConfigError(
            f"{key} must be a number in {interval} or a non-empty list of them; got []"
        )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            kind = "a number or a list of numbers" if many else "a number"
            raise ConfigError(f"{key} must be {kind} in {interval}; got {v!r}")
        if not interval.contains(float(v)):
            raise ConfigError(f"{key} must be in {interval}; got {v}")


def member_seeds(seeds: Any) -> list[int]:
    """`seeds`: a count n (seeds 0..n-1) or a list of distinct non-negative integers."""
    if isinstance(seeds, bool):
        raise ConfigError(
            f"seeds must be a positive count or a list of integers >= 0; got {seeds!r}"
        )
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(
                f"seeds must be a positive count or a list of integers >= 0; got {seeds}"
            )
        return list(range(seeds))
    if isinstance(seeds, (list, ListConfig)) and seeds:
        out = list(seeds)
        if all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out):
            if len(set(out)) != len(out):
                raise ConfigError(f"seeds must be distinct; got {out}")
            return out
    raise ConfigError(f"seeds must be a positive count or a list of integers >= 0; got {seeds!r}")


def package_installed(module: str) -> bool:
    """Whether the optional package `module` can be imported, looked up without importing it
    (a module blocked in sys.modules or a broken install counts as missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_name(name: Any) -> None:
    """`name` names a folder (results/runs/<name>/...): one path component, never `.` or `..`."""
    text = str(name)
    if not text or text in (".", "..") or "/" in text or "\\" in text:
        raise ConfigError(
            f"name={text!r} must be one folder name (no '/' or '\\', not '.' or '..'): it names "
            "the run folder results/runs/<name>/; put runs elsewhere with paths.results_dir"
        )


def _check_two_stage(cfg: DictConfig) -> None:
    """`split.kind=two_stage` needs `dataset=uci`; `split.select_on` is a validation metric."""
    select_on = cfg.split.get("select_on")
    if select_on is not None and select_on not in SUMMARY_SELECT_ON:
        raise ConfigError(
            f"split.select_on must be null (the task's default) or one of "
            f"{', '.join(SUMMARY_SELECT_ON)}; got {select_on!r}"
        )
    source = choice(cfg.dataset.source)
    if choice(cfg.split.kind) == "two_stage" and source != "uci":
        raise ConfigError(
            "split.kind=two_stage needs dataset=uci (a folder of the UCI collection's layout: "
            "select on conxuntos.dat, refit on conxuntos_kfold.dat); "
            f"{cfg.dataset.name} has dataset.source={source}"
        )


def _check_rules(cfg: DictConfig) -> None:
    member_seeds(cfg.seeds)
    check_name(cfg.name)
    select_on = cfg.summary.select_on
    if select_on is not None and select_on not in SUMMARY_SELECT_ON:
        raise ConfigError(
            f"summary.select_on must be null (the task's default) or one of "
            f"{', '.join(SUMMARY_SELECT_ON)}; got {select_on!r}"
        )
    _check_two_stage(cfg)
    trainer = cfg.trainer
    if trainer.epochs is None and trainer.steps is None:
        raise ConfigError("trainer.epochs and trainer.steps are both null; set one of them")
    floor, ceiling = trainer.get("min_steps"), trainer.get("max_steps")
    if floor is not None and ceiling is not None and floor > ceiling:
        raise ConfigError(
            f"trainer.min_steps={floor} is above trainer.max_steps={ceiling}; "
            "the floor must be at most the ceiling"
        )
    reg = cfg.regularizer
    if "dispersion" in reg and "scale" in reg:
        if (reg.scale is None) == (reg.dispersion is None):
            raise ConfigError(
                "regularizer.scale and regularizer.dispersion: set exactly one "
                f"(scale = dispersion^(1/alpha)); got scale={reg.scale}, dispersion={reg.dispersion}"
            )
    if trainer.get("loss_adaptive") and choice(cfg.optimizer.name) != "sgd":
        raise ConfigError(
            "trainer.loss_adaptive=true needs optimizer=sgd (Adam's step ignores the loss "
            f"scale); got optimizer={choice(cfg.optimizer.name)}"
        )
    pruning = cfg.pruning
    for key in ("fraction", "sparsity"):
        if isinstance(pruning.get(key), ListConfig) and pruning.get("finetune_steps", 0) > 0:
            raise ConfigError(
                f"pruning.{key} may be a list only with pruning.finetune_steps=0 (the amounts are "
                f"evaluated on one trained model); got finetune_steps={pruning.finetune_steps}"
            )
    if "start" in pruning and "ramp" in pruning and pruning.start + pruning.ramp > 1.0 + 1e-12:
        raise ConfigError(
            "pruning.start + pruning.ramp must be <= 1 (the projection must finish within training); "
            f"got {pruning.start} + {pruning.ramp}"
        )
    split = cfg.split
    for key in ("n_train", "n_val", "n_test"):
        v = split[key]
        if isinstance(v, float) and v >= 1:
            hint = f"write {int(v)} for {int(v)} rows" if v.is_integer() else "use an int count"
            raise ConfigError(
                f"split.{key}={v} is ambiguous: {SPLIT_SIZES}; {hint}, or a fraction below 1"
            )
    fractions = [v for v in (split.n_train, split.n_val, split.n_test) if isinstance(v, float)]
    if sum(fractions) > 1.0 + 1e-9:
        raise ConfigError(
            f"split fractions n_train + n_val + n_test must be <= 1; got {sum(fractions):g}"
        )
