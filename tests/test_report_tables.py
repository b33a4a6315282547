"""`psilon-bench table` and `plot` on a tiny REAL sweep (real Hydra, real run folders),
checked against the records read independently with json."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from psilon_bench.cli.main import main
from psilon_bench.errors import UserError
from psilon_bench.report import figures
from psilon_bench.report.collect import collect
from psilon_bench.report.tables import fmt_mean_std

QUICK = ["trainer=quick", "trainer.threads=1", "seeds=2"]
ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "80"}


def _sweep(tmp_path_factory, name: str, overrides: list[str]) -> Path:
    """A real sweep, built once per test session: under pytest-xdist the first worker that
    needs it builds it in the session's shared folder while the others wait on a lock, and
    every worker reads the same one (tests write their output elsewhere)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        cwd = tmp_path_factory.mktemp(name)
    else:
        cwd = tmp_path_factory.getbasetemp().parent / f"shared-{name}"  # this session's
    lock_path = cwd.parent / f"{cwd.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cwd / "sweep" / "multirun.yaml").exists() or worker is None:
            cwd.mkdir(exist_ok=True)
            args = ["run", "-m", *overrides, *QUICK, "hydra.sweep.dir=sweep"]
            res = run_cli(args, cwd, env=ENV)
            assert res.returncode == 0, res.stderr
            (cwd / "complete").write_text("")
        assert (cwd / "complete").exists(), f"the shared sweep {cwd} was not finished"
    return cwd / "sweep"


@pytest.fixture(scope="session")
def sweep(tmp_path_factory) -> Path:
    """3 classification datasets + 1 regression dataset x 2 regularizers x 2 strengths."""
    grid = ["dataset=iris,wine,moons,diabetes", "regularizer=l2,lp_bridge"]
    return _sweep(tmp_path_factory, "sweep", [*grid, "regularizer.strength=[0.001,0.1]"])


@pytest.fixture(scope="session")
def pruned(tmp_path_factory) -> Path:
    """Neuron-norm pruning at 0 and 0.5 of the units (one run per fraction)."""
    grid = ["dataset=iris", "pruning=neuron_norm", "pruning.fraction=0.0,0.5"]
    return _sweep(tmp_path_factory, "pruned", grid)


def raw_records(root: Path) -> list[dict]:
    out = []
    for done in root.rglob("DONE"):
        lines = (done.parent / "records.jsonl").read_text().splitlines()
        out += [json.loads(line) for line in lines if line.strip()]
    return out


def chosen_records(root: Path) -> dict:
    """The selection recomputed from the raw records: per (dataset, regularizer, seed) the
    strength with the lowest validation log-loss / rmse (ties: the larger strength)."""
    groups = defaultdict(list)
    for r in raw_records(root):
        groups[(r["dataset"], r["cfg.regularizer.name"], r["seed"])].append(r)
    chosen = {}
    for key, recs in groups.items():
        metric = "val.log_loss" if recs[0]["task"] == "classification" else "val.rmse"
        chosen[key] = min(recs, key=lambda r: (r[metric], -r["strength"]))
    return chosen


def test_table_from_a_real_sweep(sweep, tmp_path):
    out = tmp_path / "out"
    res = run_cli(["table", str(sweep), "--out", str(out)], tmp_path, env=ENV)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "selected.csv",
        "stats.csv",
        "table.csv",
        "table.md",
        "table.tex",
    ]
    chosen = chosen_records(sweep)
    sel = pd.read_csv(out / "selected.csv")
    assert len(sel) == len(chosen) == 4 * 2 * 2
    for _, row in sel.iterrows():
        best = chosen[(row["dataset"], row["method"].split("+")[1], row["seed"])]
        assert row["strength"] == best["strength"]
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 4 * 2 and set(table["method"]) == {"mlp+l2", "mlp+lp_bridge"}
    row = table[(table["data"] == "wine") & (table["method"] == "mlp+l2")].iloc[0]
    acc = [chosen[("wine", "l2", s)]["test.accuracy"] for s in (0, 1)]
    assert row["test.accuracy.mean"] == pytest.approx(np.mean(acc))
    assert row["test.accuracy.std"] == pytest.approx(np.std(acc, ddof=1))
    reg = table[table["data"] == "diabetes"]
    assert reg["test.rmse.mean"].notna().all() and reg["test.accuracy.mean"].isna().all()
    # terminal: classification and regression blocks, 80 columns, numbers never broken
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "classification" in res.stdout and "regression" in res.stdout
    for _, r in table.iterrows():
        metric = "test.accuracy" if r["task"] == "classification" else "test.rmse"
        assert fmt_mean_std(r[f"{metric}.mean"], r[f"{metric}.std"]) in res.stdout
    assert "statistics (classification, test.accuracy, 3 datasets)" in res.stdout
    assert "statistics skipped (regression): 1 dataset(s)" in res.stdout
    stats = pd.read_csv(out / "stats.csv")
    assert (
        set(stats["method"]) == {"mlp+l2", "mlp+lp_bridge"}
        and (stats["baseline"] == "mlp+l2").all()
    )
    md = (out / "table.md").read_text()
    assert "### classification" in md and "### regression" in md and md.count("**") >= 2 * 4 * 2
    tex = (out / "table.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex and "mlp+lp\\_bridge" in tex


def test_table_options_metrics_select_on_by(sweep, tmp_path, capsys):
    out = tmp_path / "o"
    args = ["--metrics", "test.accuracy,val.accuracy", "--select-on", "val.accuracy"]
    args += ["--by", "dataset", "--baseline", "mlp+lp_bridge"]
    assert main(["table", str(sweep), "--out", str(out), *args]) == 0
    table = pd.read_csv(out / "table.csv")
    assert "val.accuracy.mean" in table.columns and "test.log_loss.mean" not in table.columns
    assert set(table["task"]) == {"classification"}  # no regression metric asked for
    sel = pd.read_csv(out / "selected.csv")
    on = sel.groupby("task")["selected_on"].unique()
    assert list(on["classification"]) == ["val.accuracy"]
    assert list(on["regression"]) == ["val.rmse"]  # the task default where val.accuracy is absent
    assert (pd.read_csv(out / "stats.csv")["baseline"] == "mlp+lp_bridge").all()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "test.nope"], "--metrics 'test.nope' is not a recorded metric; allowed:"),
        (["--select-on", "val.nope"], "--select-on 'val.nope' is not a metric"),
        (["--baseline", "resnet"], "--baseline 'resnet' is not a method here; allowed: mlp+l2"),
        (["--by", "colour"], "--by 'colour' is not a record column"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_table_bad_input_is_one_line_and_writes_nothing(sweep, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["table", str(sweep), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_no_runs_and_unknown_plot_kind(sweep, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["table", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no complete run" in err and err.count("\n") == 1
    assert main(["plot", str(sweep), "--kind", "pie", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "allowed: all, pareto, lambda-path, lipschitz, pruning, curves" in err
    )
    assert not (tmp_path / "o").exists()


def test_plot_kind_all_draws_what_the_records_give_and_names_the_rest(
    pruned, sweep, tmp_path, capsys
):
    from psilon_bench.report.figures import KINDS

    out = tmp_path / "all"  # one dataset, two runs: every figure small
    assert main(["plot", str(pruned), "--kind", "all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    drawn = {p.stem for p in out.glob("*.png")}
    skipped = {line.split()[1] for line in printed.splitlines() if line.startswith("skipped ")}
    assert drawn | skipped == set(KINDS) and not drawn & skipped, printed
    assert {"pruning", "curves"} <= drawn and {p.stem for p in out.glob("*.pdf")} == drawn
    assert all(f"skipped {k} (" in printed for k in skipped)  # each with its reason
    # a list names its kinds; one that does not fit is an error, and nothing is written
    bad = tmp_path / "bad"
    assert main(["plot", str(sweep), "--kind", "curves,pruning", "--out", str(bad)]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not bad.exists()


@pytest.mark.slow  # subprocesses; tests/test_layout.py checks the same statically, fast
def test_table_and_plot_import_neither_torch_nor_hydra(sweep, tmp_path):
    code = (
        "import sys; from psilon_bench.cli.main import main; "
        f"assert main(['table', {str(sweep)!r}, '--out', {str(tmp_path)!r}]) == 0; "
        f"assert main(['plot', {str(sweep)!r}, '--kind', 'pareto', '--out', {str(tmp_path)!r}]) == 0; "
        "print('torch' in sys.modules, 'hydra' in sys.modules, 'psilon_bench.models' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=None)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["False", "False", "False"]
    assert (tmp_path / "pareto.png").stat().st_size > 0 and (
        tmp_path / "pareto.pdf"
    ).stat().st_size > 0


def _labels(fig):
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.lines or ax.collections
    assert fig.legends  # one legend, outside the panels
    return axes


def test_figures_from_the_real_sweep(sweep):
    c = collect([sweep])
    fig = figures.draw("pareto", c)
    axes = _labels(fig)
    assert axes[0].get_xlabel().startswith(("exact sparsity", "sparsity"))
    fig = figures.draw("lambda-path", c)
    axes = _labels(fig)
    assert all(ax.get_xscale() == "log" for ax in axes)
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"MLP + L2", "selected \u03bb", "validation (dashed)"} <= legend
    fig = figures.draw("lipschitz", c)
    axes = _labels(fig)
    assert len(axes) == 4 * 2 and all(ax.get_yscale() == "log" for ax in axes)
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"1-path-norm", "empirical lower bound"} <= legend
    for ax in axes:  # the path norm wide under the bound it may equal; titles wrap
        widths = {line.get_label(): line.get_linewidth() for line in ax.get_lines()}
        assert widths["1-path-norm"] > max(w for k, w in widths.items() if k != "1-path-norm")
        assert all(len(line) <= 44 for line in ax.get_title().splitlines())
    with pytest.raises(UserError, match="no pruned records"):
        figures.draw("pruning", c)
    fig = figures.draw("curves", c)  # every run writes curves.jsonl by default
    assert _labels(fig)


def test_pruning_figure_and_pruned_rows(pruned, tmp_path):
    c = collect([pruned])
    assert sorted(c.records["prune.amount"].unique()) == [0.0, 0.5]
    (ax,) = _labels(figures.draw("pruning", c))
    assert ax.get_xlabel() == "fraction of units pruned" and ax.get_ylabel() == "test accuracy"
    res = run_cli(["table", str(pruned), "--out", str(tmp_path)], tmp_path, env=ENV)
    assert res.returncode == 0, res.stderr
    assert "[pruned 0.5]" in (tmp_path / "table.md").read_text()


def test_curves_figure_from_a_hand_written_curves_file(sweep, tmp_path):
    run = next(p.parent for p in sorted(sweep.rglob("DONE")))
    shutil.copytree(run, tmp_path / "run")
    records = raw_records(tmp_path / "run")
    lines = [
        json.dumps(
            {
                "member": r["member"],
                "seed": r["seed"],
                "strength": r["strength"],
                "lr": r.get("lr"),
                "step": step,
                "train.loss": 1.0 / step,
                "val.loss": 1.0 / step + r["strength"],
            }
        )
        for r in records
        for step in (10, 20, 30)
    ]
    (tmp_path / "run" / "curves.jsonl").write_text("\n".join(lines) + "\n")
    fig = figures.draw("curves", collect([tmp_path / "run"]))
    (ax,) = _labels(fig)
    assert ax.get_xlabel() == "optimizer step" and len(ax.lines) == 2  # one line per strength
    y = ax.lines[1].get_ydata()
    assert y == pytest.approx([1 / 10 + 0.1, 1 / 20 + 0.1, 1 / 30 + 0.1])
    fig.canvas.draw()  # less than a decade: plain numbers on the log axis, never 1.08x10^0
    ticks = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
    assert ticks and all(re.fullmatch(r"[0-9.e+-]+", t) for t in ticks), ticks


def test_unknown_metric_lists_the_unpruned_metrics_too(tmp_path):
    """Records of `pruning.compare_unpruned` carry `unpruned.<split>.*`: the error's allowed
    list names them beside the split metrics."""
    from psilon_bench.errors import UserError
    from psilon_bench.records.io import write_run
    from psilon_bench.report.collect import collect
    from psilon_bench.report.tables import check_metrics

    rec = {"member": 0, "seed": 0, "strength": 0.1, "status": "ok", "dataset": "d",
           "task": "classification", "val.log_loss": 0.3, "test.accuracy": 0.8,
           "unpruned.test.accuracy": 0.81, "cfg.model.name": "psilon_net",
           "cfg.regularizer.name": "path_norm", "cfg.pruning.name": "psilon_projection"}  # fmt: skip
    write_run(tmp_path / "run", "", [rec])
    records = collect([tmp_path]).records
    check_metrics(records, ["unpruned.test.accuracy"])  # a recorded metric: no error
    with pytest.raises(UserError, match=r"allowed: test\.accuracy, unpruned\.test\.accuracy, "):
        check_metrics(records, ["unpruned.test.acc"])


def test_one_colour_per_method_in_every_panel(tmp_path):
    """A method keeps its colour in every panel, also where another method is missing, so
    the figure's one legend is right (colours were once given per panel)."""
    from matplotlib.colors import to_hex

    from psilon_bench.records.io import write_run

    def rec(data, reg, strength, seed):
        acc = 0.9 - strength / 10 + seed / 100
        return {
            "member": int(10 * strength) * 2 + seed, "seed": seed, "strength": strength, "status": "ok", "dataset": data,
            "task": "classification", "val.log_loss": 1 - acc, "val.accuracy": acc,
            "test.accuracy": acc, "test.log_loss": 1 - acc, "sparsity.exact": strength / 2,
            "cfg.model.name": "mlp", "cfg.regularizer.name": reg, "cfg.pruning.name": "none",
            "cfg.regularizer.strength": [0.0, 0.1, 1.0],
        }  # fmt: skip

    for data, regs in (("a", ["l1", "l2"]), ("b", ["l2"])):  # mlp+l1 is missing from b
        for reg in regs:
            rows = [rec(data, reg, s, seed) for s in (0.0, 0.1, 1.0) for seed in (0, 1)]
            write_run(tmp_path / f"{data}-{reg}", "", rows, done=f"{data}{reg}")
    c = collect([tmp_path])
    for kind in ("lambda-path", "pareto"):
        fig = figures.draw(kind, c)
        seen = defaultdict(set)
        for ax in fig.axes:
            for line in ax.get_lines():
                if line.get_label().startswith("MLP + "):
                    seen[line.get_label()].add(to_hex(line.get_color()))
        assert set(seen) == {"MLP + L1", "MLP + L2"}, kind
        assert all(len(colours) == 1 for colours in seen.values()), (kind, seen)
        assert seen["MLP + L1"] != seen["MLP + L2"]
        legend = {
            t.get_text(): h
            for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)
        }
        for label, (colour,) in seen.items():
            assert to_hex(legend[label].get_color()) == colour, (kind, label)
