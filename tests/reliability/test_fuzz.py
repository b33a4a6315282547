"""Issue 8: property-based fuzzing of the config schema. A random value for any numeric key
(of every group option below) either runs a 1-step training (exit 0, a complete folder) or
is refused with one `error:` line (exit 2, nothing left behind; 3 when every member
diverged, with its records); never a traceback. The fast test runs a fixed, bounded set of
examples; the slow one explores more."""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import pytest
from conftest import compose_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoke import files_under, invoke
from omegaconf import OmegaConf

from psilon_bench.config.safety import walk

BASE = ["trainer=quick", "trainer.steps=1", "seeds=1", "dataset=iris", "trainer.threads=1"]
COMBOS = [
    [],
    ["model=psilon_net", "regularizer=path_norm", "pruning=psilon_projection"],
    ["model=psilon_resnet", "schedule=one_cycle", "optimizer=sgd"],
    ["model=ewn_mlp", "regularizer=lp_bridge", "pruning=neuron_norm", "schedule=cosine"],
    ["regularizer=soft_diamond", "pruning=magnitude"],
    ["dataset=sparse_teacher", "model=standard_net", "regularizer=length_l2"],
]


def _numeric_keys(combo: list[str]) -> list[str]:
    cfg = compose_config([*BASE, *combo])
    tree = OmegaConf.to_container(cfg, resolve=False)
    keys = []
    for key, value in walk(tree, ""):
        numbers = value if isinstance(value, list) else [value]
        if "[" in key or not numbers or any(isinstance(v, (bool, str, dict)) for v in numbers):
            continue
        if all(isinstance(v, (int, float)) for v in numbers) or value is None:
            keys.append(key)
    return keys


@functools.cache
def numeric_keys(index: int) -> list[str]:
    """The numeric keys of COMBOS[index], composed once per process on first use (not at
    collection, which every test worker pays)."""
    return _numeric_keys(COMBOS[index])


SPECIAL = [0, -1, 1, 2, 3, 0.0, -0.0, 0.5, 1.0, 1.5, 2.5, 1e-300, 1e300, -1e300, 1e-8, 100]
VALUES = st.one_of(
    st.sampled_from(SPECIAL + [math.inf, -math.inf, math.nan]),
    st.integers(-5, 40),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.sampled_from([0.0, 1e-3, 0.5, -1.0, math.inf]), min_size=0, max_size=3),
)


@st.composite
def cases(draw) -> list[str]:
    index = draw(st.sampled_from(range(len(COMBOS))))
    key = draw(st.sampled_from(numeric_keys(index)))
    value = draw(VALUES)
    text = f"[{','.join(map(repr, value))}]" if isinstance(value, list) else repr(value)
    base = [a for a in [*BASE, *COMBOS[index]] if a.split("=")[0] != key]
    return ["run", *base, f"{key}={text}"]


def _check(args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        res = invoke(args, cwd, env={"PSILON_BENCH_CACHE": str(cwd.parent / "psb-fuzz-cache")})
        assert res.code in (0, 2, 3), (args, res.code, res.err[-3000:])
        if res.code == 0:
            assert all(line.startswith("warning: ") for line in res.lines), (args, res.err)
            assert len(list(cwd.rglob("DONE"))) == 1, args
            return
        line = res.one_line_error()
        if res.code == 2:
            assert files_under(cwd) == [], (args, line)
        else:
            assert "diverged" in line and len(list(cwd.rglob("DONE"))) == 1, (args, line)


def test_every_combo_has_numeric_keys():
    keys = {i: numeric_keys(i) for i in range(len(COMBOS))}
    assert all(len(k) >= 10 for k in keys.values()), keys
    assert "optimizer.lr" in keys[0] and "regularizer.alpha" in keys[4]


@settings(
    max_examples=15,  # make test-full explores 300
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
def test_random_numeric_values_run_or_are_refused(args):
    _check(args)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_numeric_values_run_or_are_refused_many(args):
    _check(args)
