"""Collect + selection on hand-made records in real run folders (docs/protocols.md, Selection)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from psilon_bench.errors import UserError
from psilon_bench.records.io import FAILED, write_run
from psilon_bench.report.collect import collect
from psilon_bench.report.select import select, summarize


def rec(member, seed, strength, val, test, status="ok", reg="l2", p=None, **extra):
    r = {
        "member": member,
        "seed": seed,
        "strength": strength,
        "status": status,
        "dataset": "d",
        "task": "classification",
        "val.log_loss": val,
        "val.accuracy": 1.0 - (val if val is not None else 1.0) / 10,
        "test.accuracy": test,
        "cfg.model.name": "mlp",
        "cfg.regularizer.name": reg,
        "cfg.pruning.name": "none",
        "cfg.regularizer.strength": [0.0, 0.1, 1.0],
    }
    if p is not None:
        r["cfg.regularizer.p"] = p
    r.update(extra)
    return r


def pick(sel, method, seed):
    row = sel[(sel["method"] == method) & (sel["seed"] == seed)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.fixture
def sweep(tmp_path):
    # seed 0: strength 0.1 is best; seed 1: 0.0 and 1.0 tie -> the larger strength (1.0);
    # the diverged member with the lowest loss and the member with a null loss never win
    write_run(
        tmp_path / "multirun" / "0",
        "",
        [
            rec(0, 0, 0.0, 0.50, 0.70),
            rec(1, 0, 0.1, 0.30, 0.80),
            rec(2, 0, 1.0, 0.40, 0.90),
            rec(3, 1, 0.0, 0.35, 0.60),
            rec(4, 1, 0.1, 0.01, 0.99, status="diverged"),
            rec(5, 1, 1.0, 0.35, 0.75),
            rec(6, 1, 2.0, None, 1.0),
        ],
    )
    write_run(tmp_path / "multirun" / "1", "", [rec(0, 0, 0.0, 0.2, 0.5, reg="lp_bridge", p=0.5)])
    write_run(
        tmp_path / "multirun" / "2",
        "",
        [
            rec(0, 0, 0.0, 0.9, 0.1, reg="lp_bridge", p=0.8, status="diverged"),
            rec(1, 0, 0.1, None, 0.2, reg="lp_bridge", p=0.8),
        ],
    )
    (tmp_path / "multirun" / "3").mkdir()
    (tmp_path / "multirun" / "3" / "config.yaml").write_text("")
    (tmp_path / "multirun" / "multirun.yaml").write_text("")
    (tmp_path / "multirun" / "5" / ".hydra").mkdir(parents=True)  # a job killed at start
    (tmp_path / "multirun" / "4").mkdir()
    (tmp_path / "multirun" / "4" / FAILED).write_text("data error: iris.csv missing\n")
    return tmp_path


def test_collect_names_methods_and_counts_incomplete_and_failed(sweep):
    c = collect([sweep])
    assert sorted(c.records["method"].unique()) == [
        "mlp+l2",
        "mlp+lp_bridge(p=0.5)",
        "mlp+lp_bridge(p=0.8)",
    ]
    assert [p.name for p in c.runs] == ["0", "1", "2"]
    assert [p.name for p in c.incomplete] == ["3", "5"]
    assert {p.name: m for p, m in c.failed.items()} == {"4": "data error: iris.csv missing"}
    notes = "\n".join(c.notes())
    assert "3 complete, 1 failed, 2 incomplete" in notes and "iris.csv missing" in notes
    # older records: no lr / fold / prune.amount columns -> filled
    assert c.records["fold"].isna().all() and (c.records["prune.amount"] == 0).all()


def test_selection_best_validation_ties_and_diverged(sweep):
    sel = select(collect([sweep]).records)
    assert pick(sel, "mlp+l2", 0)["strength"] == 0.1
    assert pick(sel, "mlp+l2", 0)["test.accuracy"] == 0.80
    one = pick(sel, "mlp+l2", 1)
    assert one["strength"] == 1.0 and one["test.accuracy"] == 0.75  # tie -> larger strength
    assert one["selected_on"] == "val.log_loss" and one["selected_value"] == 0.35
    failed = pick(sel, "mlp+lp_bridge(p=0.8)", 0)  # one diverged, one null metric
    assert not failed["selected"] and math.isnan(failed.get("test.accuracy", math.nan))


def test_selection_on_a_maximized_metric(sweep):
    sel = select(collect([sweep]).records, select_on="val.accuracy")
    # val.accuracy = 1 - val.log_loss / 10: same winners, maximized
    assert pick(sel, "mlp+l2", 0)["strength"] == 0.1
    assert pick(sel, "mlp+l2", 1)["strength"] == 1.0


def test_summary_mean_std_over_seeds(sweep):
    sel = select(collect([sweep]).records)
    summ = summarize(sel, ["test.accuracy"]).set_index("method")
    row = summ.loc["mlp+l2"]
    assert row["test.accuracy.mean"] == pytest.approx(np.mean([0.80, 0.75]))
    assert row["test.accuracy.std"] == pytest.approx(np.std([0.80, 0.75], ddof=1))
    assert row["n"] == 2 and row["n_failed"] == 0 and row["strength"] == 1.0
    bad = summ.loc["mlp+lp_bridge(p=0.8)"]
    assert bad["n"] == 0 and bad["n_failed"] == 1 and math.isnan(bad["test.accuracy.mean"])


def test_pruned_records_follow_the_selected_member(tmp_path):
    amounts = {"cfg.pruning.name": "neuron_norm"}
    records = []
    for member, (s, val) in enumerate([(0.0, 0.5), (0.1, 0.2)]):
        for amount, test in [(0.0, 0.9), (0.5, 0.8 - s)]:
            records.append(
                rec(
                    member,
                    0,
                    s,
                    val if amount == 0 else 0.0,
                    test,
                    **amounts,
                    **{"prune.amount": amount},
                )
            )
    write_run(tmp_path / "r", "", records)
    sel = select(collect([tmp_path]).records)
    assert sorted(sel["prune.amount"]) == [0.0, 0.5]
    assert (sel["strength"] == 0.1).all()  # selected on the unpruned record
    assert sel.set_index("prune.amount").loc[0.5, "test.accuracy"] == pytest.approx(0.7)
    assert (sel["method"] == "mlp+l2+neuron_norm").all()


def test_user_errors(sweep, tmp_path):
    with pytest.raises(UserError, match="--select-on 'val.nope' is not a metric.*val.log_loss"):
        select(collect([sweep]).records, select_on="val.nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no complete run"):
        collect([tmp_path / "empty"])
    with pytest.raises(UserError, match="is not a folder"):
        collect([tmp_path / "missing"])


def test_report_imports_only_io_and_analysis_libraries():
    """report/ reads records, never models: its imports, parsed from the source."""
    import ast
    from pathlib import Path

    import psilon_bench.report as report

    allowed = {"psilon_bench", "pandas", "numpy", "scipy", "statsmodels", "autorank"}
    allowed |= {"matplotlib", "rich", "argparse", "contextlib", "dataclasses", "io", "json"}
    allowed |= {"math", "pathlib", "re", "warnings", "__future__", "collections", "typing"}
    allowed |= {"textwrap", "fnmatch", "base64", "html", "shlex"}
    allowed |= {"yaml"}  # claims files and the sweeps' multirun.yaml (report.claims, .html)
    ours = {"psilon_bench.records", "psilon_bench.errors", "psilon_bench.report"}
    ours |= {"psilon_bench.__version__"}  # the version the HTML report names
    for path in Path(report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(
                node, ast.ImportFrom
            ):  # `from psilon_bench.records import io` -> psilon_bench.records
                base = node.module or ""
                names = [f"{base}.{a.name}" if base == "psilon_bench" else base for a in node.names]
            for name in names:
                assert name.split(".")[0] in allowed, (path.name, name)
                if name.startswith("psilon_bench"):
                    assert name.startswith(tuple(ours)), (path.name, name)


def test_sklearn_names_and_select_on_falls_back_per_task(tmp_path):
    write_run(
        tmp_path / "a",
        "",
        [rec(0, 0, 0.1, 0.3, 0.9, reg="none", **{"cfg.model.name": "sklearn_logistic"})],
    )
    regression = {"task": "regression", "dataset": "r", "val.rmse": 1.0, "val.accuracy": None}
    write_run(tmp_path / "b", "", [{**rec(0, 0, 0.1, None, None), **regression}])
    c = collect([tmp_path])
    assert sorted(c.records["method"].unique()) == ["mlp+l2", "sklearn_logistic"]
    sel = select(c.records, select_on="val.accuracy").set_index("data")
    assert sel.loc["d", "selected_on"] == "val.accuracy"
    assert sel.loc["r", "selected_on"] == "val.rmse" and sel.loc["r", "selected"]


def test_direction_of_best_per_metric():
    from psilon_bench.report.select import higher_is_better

    for metric in (
        "test.accuracy",
        "val.balanced_accuracy",
        "test.r2",
        "sparsity.exact",
        "sparsity.threshold_1e-2",
    ):
        assert higher_is_better(metric), metric
    for metric in ("val.log_loss", "test.rmse", "path_norm", "lipschitz.spectral"):
        assert not higher_is_better(metric), metric


def test_terminal_table_keeps_names_whole_when_they_fit(tmp_path):
    """A dataset name longer than every method name stays on one line at 80 columns."""
    from conftest import run_cli

    records = [
        rec(s, s, 0.0, 0.3, 0.9, reg="none", dataset="breast_cancer", data="breast_cancer")
        for s in (0, 1)
    ]
    write_run(tmp_path / "r", "", records)
    args = ["table", str(tmp_path / "r"), "--out", str(tmp_path / "out")]
    res = run_cli([*args, "--metrics", "test.accuracy"], cwd=tmp_path, env={"COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    assert any("breast_cancer" in line and "mlp+none" in line for line in res.stdout.splitlines())


def test_a_method_without_learning_rate_is_selected_beside_ones_with_it(tmp_path):
    """A scikit-learn baseline's records carry lr null while the networks' carry rates: the
    baseline is still selected (a null axis value matches null, it once matched nothing)."""
    net = [rec(e, 0, s, 0.5 - e / 10, 0.7, lr=lr) for e, (s, lr) in
           enumerate([(0.0, 1e-3), (0.0, 1e-2), (0.1, 1e-3)])]  # fmt: skip
    forest = [
        rec(e, 0, s, v, t, **{"cfg.model.name": "sklearn_rf", "cfg.regularizer.name": "none"},
            lr=None)
        for e, (s, v, t) in enumerate([(1.0, 0.4, 0.81), (8.0, 0.2, 0.85)])
    ]  # fmt: skip
    write_run(tmp_path / "net", "", net)
    write_run(tmp_path / "rf", "", forest)
    sel = select(collect([tmp_path]).records)
    assert set(sel["method"]) == {"mlp+l2", "sklearn_rf"}
    rf = pick(sel, "sklearn_rf", 0)
    assert rf["strength"] == 8.0 and rf["test.accuracy"] == 0.85 and pd.isna(rf["lr"])
    assert pick(sel, "mlp+l2", 0)["lr"] == 1e-3 and pick(sel, "mlp+l2", 0)["strength"] == 0.1


def test_one_sort_per_block_picks_what_group_by_group_picks():
    """`_pick_each` (one sort of a whole block) against `_pick` run group by group, on random
    records with ties, diverged members, missing metrics and an all-diverged group."""
    from psilon_bench.report.select import GROUP, _pick, _pick_each

    rng = np.random.default_rng(0)
    rows = []
    for seed in range(6):
        for fold in (-1, 2):
            for member, (strength, lr) in enumerate(
                [(s, lr) for s in (0.0, 0.1, 1.0) for lr in (1e-3, 1e-2)]
            ):
                val = float(rng.choice([0.2, 0.3, 0.3, np.nan]))
                status = "diverged" if (seed == 5 or rng.random() < 0.15) else "ok"
                rows.append({"data": "d", "method": "m", "task": "classification", "dataset": "d",
                             "seed": seed, "fold": fold,
                             "strength": strength, "lr": lr, "member": member,
                             "path": f"run{seed % 2}", "status": status,
                             "val.log_loss": val, "test.accuracy": rng.random(),
                             "prune.amount": 0.0})  # fmt: skip
    block = pd.DataFrame(rows)
    axes = ["strength", "lr"]
    fast = _pick_each(block, axes, "val.log_loss")
    slow = [
        row
        for key, group in block.groupby(GROUP[2:], sort=True, dropna=False)
        for row in _pick(group, block, axes, "val.log_loss", key)
    ]
    assert len(fast) == len(slow) == 12
    assert any(not row["selected"] for row in slow)  # seed 5: every member diverged
    for a, b in zip(fast, slow):
        assert a.keys() == b.keys()
        for k in a:
            assert (pd.isna(a[k]) and pd.isna(b[k])) or a[k] == b[k], k


def test_the_same_config_run_twice_is_named(tmp_path, capsys):
    from psilon_bench.cli.main import main

    records = [rec(0, 0, 0.1, 0.3, 0.9), rec(1, 1, 0.1, 0.2, 0.8)]
    for run in ("first/0", "again/0"):  # a sweep re-run in a new folder
        write_run(tmp_path / run, "", records, done="abc123def4567890")
    write_run(tmp_path / "other/0", "", records, done="fedcba")
    collected = collect([tmp_path])
    assert collected.repeated == {"abc123def4567890": [tmp_path / "again/0", tmp_path / "first/0"]}
    (line,) = [n for n in collected.notes() if "the same config" in n]
    assert "ran 2 times (config hash abc123def456)" in line and str(tmp_path / "first/0") in line
    assert main(["table", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "the same config ran 2 times" in capsys.readouterr().out
    write_run(tmp_path / "solo/0", "", records, done="only")
    assert collect([tmp_path / "solo"]).repeated == {}
