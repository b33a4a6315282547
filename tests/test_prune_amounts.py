"""Pruning amounts as a list (`pruning.fraction` / `pruning.sparsity`, issue 7): every
amount is evaluated on a copy of ONE trained model. The records must equal separate runs
with each scalar amount (same seeds), and the unpruned record a `pruning=none` run."""

from __future__ import annotations

import math

import pytest
from conftest import compose_config, run_cli

from psilon_bench.config.validation import validate
from psilon_bench.errors import ConfigError
from psilon_bench.runner.experiment import run_experiment

BASE = ["dataset=iris", "seeds=[0,1]", "trainer.steps=40", "trainer.threads=1"]
SKIP = ("time.", "env.", "cfg.", "run_id", "config_hash", "pruning", "prune.")


def run(tmp_path, name: str, overrides: list[str]) -> list[dict]:
    return run_experiment(compose_config(BASE + overrides), tmp_path / name, threads=1)


def assert_same_metrics(got: dict, want: dict) -> None:
    keys = [k for k in want if not k.startswith(SKIP)]
    assert keys and set(keys) <= set(got)
    for k in keys:
        a, b = got[k], want[k]
        if isinstance(b, float) and isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-6, abs=1e-9) or (math.isnan(a) and math.isnan(b)), k
        else:
            assert a == b, k


@pytest.mark.parametrize(
    "kind, key, extra",
    [
        ("neuron_norm", "fraction", ["trainer.keep_best=val", "trainer.eval_every=10"]),
        ("magnitude", "sparsity", ["pruning.scope=layer"]),
    ],
)
def test_list_equals_separate_scalar_runs(tmp_path, kind, key, extra):
    amounts = [0.5, 0.8]
    common = [f"pruning={kind}", *extra]
    records = run(tmp_path, "list", [*common, f"pruning.{key}=[{amounts[0]},{amounts[1]}]"])
    assert [(r["member"], r["prune.amount"]) for r in records] == [
        (m, a) for m in (0, 1) for a in (0.0, *amounts)
    ]
    assert {r["prune.kind"] for r in records} == {kind}
    for a in amounts:
        scalar = run(tmp_path, f"s{a}", [*common, f"pruning.{key}={a}"])
        assert [(r["prune.kind"], r["prune.amount"]) for r in scalar] == [(kind, a)] * 2
        for want in scalar:
            (got,) = [
                r for r in records if r["member"] == want["member"] and r["prune.amount"] == a
            ]
            assert_same_metrics(got, want)
    none = run(tmp_path, "none", ["pruning=none", *(e for e in extra if e.startswith("trainer."))])
    assert all("prune.amount" not in r and "prune.kind" not in r for r in none)
    for want in none:
        (got,) = [r for r in records if r["member"] == want["member"] and r["prune.amount"] == 0]
        assert_same_metrics(got, want)
    # the pruned copies really are pruned, and the unpruned model is not
    by = {(r["member"], r["prune.amount"]): r for r in records}
    assert by[(0, 0.0)]["sparsity.exact"] < 0.1 < by[(0, 0.5)]["sparsity.exact"]


def test_list_with_finetuning_is_one_line_error(tmp_path):
    cfg = compose_config(
        BASE + ["pruning=magnitude", "pruning.sparsity=[0.5,0.9]", "pruning.finetune_steps=5"]
    )
    with pytest.raises(ConfigError, match=r"^pruning\.sparsity may be a list only with") as e:
        validate(cfg)
    assert "\n" not in str(e.value)
    cli = run_cli(["run", *BASE, "pruning=magnitude", "pruning.sparsity=[0.5,0.9]",
                   "pruning.finetune_steps=5", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)  # fmt: skip
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1, cli.stderr
    assert "pruning.sparsity" in cli.stderr and not (tmp_path / "r" / "records.jsonl").exists()


def test_list_elements_are_range_checked(tmp_path):
    cfg = compose_config(BASE + ["pruning=neuron_norm", "pruning.fraction=[0.5,1.0]"])
    with pytest.raises(ConfigError, match=r"pruning\.fraction must be in \[0, 1\); got 1.0"):
        validate(cfg)


def test_plot_pruning_renders_from_a_list_run(tmp_path):
    run(tmp_path, "runs/one", ["pruning=neuron_norm", "pruning.fraction=[0.5,0.9]"])
    out = tmp_path / "fig"
    cli = run_cli(
        ["plot", str(tmp_path / "runs"), "--kind", "pruning", "--out", str(out)], tmp_path
    )
    assert cli.returncode == 0, cli.stderr
    figures = [p for p in out.iterdir() if p.suffix in (".png", ".pdf", ".svg")]
    assert figures and all(p.stat().st_size > 1000 for p in figures)
