"""Every option of every config group and every preset composes, validates and builds;
every declared range rejects a value just outside it with a one-line message."""

from __future__ import annotations

import copy
import dataclasses
import functools
import typing

import pytest
from conftest import CONF, compose_config
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from psilon_bench import baselines, models
from psilon_bench import config as schemas
from psilon_bench.config.validation import validate
from psilon_bench.errors import ConfigError

GROUPS = [
    "model",
    "regularizer",
    "dataset",
    "optimizer",
    "schedule",
    "trainer",
    "pruning",
    "logger",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_default_config_composes_and_validates():
    cfg = compose_config()
    validate(cfg)
    assert (
        cfg.model.name == "mlp" and cfg.dataset.name == "breast_cancer" and cfg.experiment is None
    )


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_validates_and_builds(group, option):
    cfg = compose_config([f"{group}={option}"])
    validate(cfg)
    assert OmegaConf.get_type(cfg[group]) is not dict, f"{group}/{option}.yaml names no schema"
    if group == "model" and baselines.is_baseline(cfg.model):
        task = "regression" if option == "sklearn_ridge" else "classification"
        assert hasattr(baselines.estimator(cfg.model, task, 1.0, seed=0), "fit")
    elif group == "model":
        net = models.build(cfg.model, d_in=4, d_out=3, seeds=[0, 1])
        assert net.n_members == 2


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_validates_and_builds(preset):
    cfg = compose_config([f"experiment={preset}", "trainer=quick"])
    validate(cfg)
    models.build(cfg.model, d_in=4, d_out=3, seeds=[0])


def _schemas() -> list[type]:
    return list(dict.fromkeys(schemas.SCHEMAS.values())) + [
        schemas.SplitConfig,
        schemas.PreprocessConfig,
        schemas.MetricsConfig,
        schemas.SyntheticConfig,
    ]


def _numeric(f: dataclasses.Field, owner: type) -> bool:
    hint = typing.get_type_hints(owner)[f.name]
    args = typing.get_args(hint)
    return hint in (int, float) or any(a in (int, float) for a in args)


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: s.__name__)
def test_every_numeric_field_declares_a_range(schema):
    exempt = {"seed", "openml_id", "n_rows", "n_features"}  # identifiers and registry facts
    for f in dataclasses.fields(schema):
        if f.name in exempt:
            continue
        if _numeric(f, schema) or "range" in f.metadata:
            assert "range" in f.metadata, f"{schema.__name__}.{f.name} has no declared range"


def _outside(interval: schemas.Interval) -> list[float]:
    bad = []
    if interval.lo is not None:
        bad.append(interval.lo - 1e-9 if interval.closed in ("both", "left") else interval.lo)
    if interval.hi is not None:
        bad.append(interval.hi + 1e-9 if interval.closed in ("both", "right") else interval.hi)
    return bad


def _range_cases():
    where = {
        schemas.MLPConfig: ("model", "mlp"),
        schemas.WeightNormConfig: ("model", "psilon_net"),
        schemas.SklearnLinearConfig: ("model", "sklearn_logistic"),
        schemas.SklearnForestConfig: ("model", "sklearn_rf"),
        schemas.SklearnHGBConfig: ("model", "sklearn_hgb"),
        schemas.RegularizerConfig: ("regularizer", "l2"),
        schemas.LpBridgeConfig: ("regularizer", "lp_bridge"),
        schemas.SoftDiamondConfig: ("regularizer", "soft_diamond"),
        schemas.PsilonProjectionConfig: ("pruning", "psilon_projection"),
        schemas.MagnitudePruningConfig: ("pruning", "magnitude"),
        schemas.NeuronNormPruningConfig: ("pruning", "neuron_norm"),
        schemas.OptimizerConfig: ("optimizer", "adam"),
        schemas.ScheduleConfig: ("schedule", "one_cycle"),
        schemas.TrainerConfig: ("trainer", "cpu"),
        schemas.SplitConfig: ("split", None),
        schemas.MetricsConfig: ("metrics", None),
        schemas.SyntheticConfig: ("dataset.synthetic", "sparse_teacher"),
    }
    cases = []
    for schema, (key, option) in where.items():
        for f in dataclasses.fields(schema):
            if "range" not in f.metadata:
                continue
            for value in _outside(f.metadata["range"]):
                if typing.get_type_hints(schema)[f.name] in (int, int | None):
                    value = (
                        int(value) if value == int(value) else int(value) - (1 if value < 0 else 0)
                    )
                    if f.metadata["range"].contains(value):
                        value -= 1
                if typing.get_origin(typing.get_type_hints(schema)[f.name]) is list:
                    value = f"[{value}]"
                cases.append((schema.__name__, key, option, f.name, value))
    return cases


@functools.cache
def _composed(overrides: tuple[str, ...]):
    return compose_config(list(overrides))


def _with_override(overrides: tuple[str, ...], override: str):
    """The config of `overrides` plus one `key=value` override, set as Hydra parses it on the
    composed config (each base composes once: 70 cases, a dozen compositions)."""
    parsed = OverridesParser.create().parse_override(override)
    cfg = copy.deepcopy(_composed(overrides))
    OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=False)
    return cfg


@pytest.mark.parametrize(
    ("schema", "key", "option", "name", "value"), _range_cases(), ids=lambda v: str(v)
)
def test_out_of_range_value_is_a_one_line_error_naming_the_key(schema, key, option, name, value):
    overrides = [] if option is None or "." in key else [f"{key}={option}"]
    if key == "dataset.synthetic":
        overrides = [f"dataset={option}"]
    if schema == "SoftDiamondConfig" and name in ("scale", "dispersion"):
        overrides.append(f"{key}.{'dispersion' if name == 'scale' else 'scale'}=null")
    cfg = _with_override(tuple(overrides), f"{key}.{name}={value}")
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert f"{key}.{name}" in message and "\n" not in message
    assert "must be" in message


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="trainer.epochs and trainer.steps"):
        validate(compose_config(["trainer.epochs=null", "trainer.steps=null"]))
    with pytest.raises(ConfigError, match="trainer.min_steps=50 is above trainer.max_steps=40"):
        validate(compose_config(["trainer.min_steps=50", "trainer.max_steps=40"]))
    with pytest.raises(ConfigError, match="regularizer.scale and regularizer.dispersion"):
        validate(
            compose_config(
                ["regularizer=soft_diamond", "regularizer.scale=0.1", "regularizer.dispersion=0.1"]
            )
        )
    with pytest.raises(ConfigError, match="split fractions"):
        validate(compose_config(["split.n_train=0.7", "split.n_val=0.2", "split.n_test=0.2"]))
    with pytest.raises(ConfigError, match="seeds"):
        validate(compose_config(["seeds=0"]))
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        validate(compose_config(["seeds=[1,1]"]))
    with pytest.raises(ConfigError, match=r"regularizer.strength must be in \[0, inf\); got -1"):
        validate(compose_config(["regularizer=l2", "regularizer.strength=[0.1,-1]"]))
    with pytest.raises(ConfigError, match=r"summary.select_on must be null .* val.r2; got 'acc'"):
        validate(compose_config(["summary.select_on=acc"]))
    validate(compose_config(["summary.select_on=val.balanced_accuracy"]))


def test_summary_select_on_allows_every_validation_task_metric():
    """The config's list (kept torch-free for start-up) is `METRIC_NAMES` on validation."""
    from psilon_bench.config import SUMMARY_SELECT_ON
    from psilon_bench.measure.metrics import METRIC_NAMES

    want = {f"val.{m}" for names in METRIC_NAMES.values() for m in names}
    assert set(SUMMARY_SELECT_ON) == want and len(SUMMARY_SELECT_ON) == len(want)


def test_summary_options_are_not_in_the_config_hash():
    """`summary.*` only changes what is printed: a finished run stays finished."""
    from psilon_bench.records.provenance import config_hash

    plain = config_hash(compose_config([]))
    assert config_hash(compose_config(["summary.select_on=val.accuracy"])) == plain
    assert config_hash(compose_config(["seeds=4"])) != plain


def test_schema_rejects_unknown_key_wrong_type_and_bad_choice_at_composition():
    from hydra.errors import ConfigCompositionException

    for bad in ["model.widht=3", "model.width=abc", "model=psilon_net model.norm=l3"]:
        with pytest.raises(ConfigCompositionException):
            compose_config(bad.split())
