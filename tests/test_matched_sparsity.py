"""Accuracy at matched sparsity on hand-made Pareto fronts, against values computed by hand
(linear interpolation between front points, NaN outside a method's range), through
`psilon-bench table --matched-sparsity` and its files read back."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from psilon_bench.errors import UserError
from psilon_bench.records.io import write_run
from psilon_bench.report.collect import collect
from psilon_bench.report.matched import matched_sparsity, on_front, pareto_front

# (strength, exact sparsity, test accuracy) per member, the mean of two seeds (+-0.01)
FRONTS = {
    "l1": [(1e-3, 0.1, 0.90), (1e-2, 0.5, 0.85), (3e-2, 0.3, 0.80), (1e-1, 0.8, 0.70)],
    "lp_bridge": [(1e-3, 0.2, 0.88), (1e-2, 0.6, 0.86), (1e-1, 0.4, 0.84)],
}
# by hand: l1's front is 0.1 -> 0.90, 0.5 -> 0.85, 0.8 -> 0.70 ((0.3, 0.80) is dominated);
# lp_bridge's is 0.2 -> 0.88, 0.6 -> 0.86 ((0.4, 0.84) is dominated by (0.6, 0.86))
EXPECTED = {  # (level, method) -> accuracy
    (0.1, "l1"): 0.90, (0.1, "lp_bridge"): math.nan,  # below lp_bridge's range
    (0.2, "l1"): 0.90 + (0.85 - 0.90) * (0.2 - 0.1) / (0.5 - 0.1), (0.2, "lp_bridge"): 0.88,
    (0.5, "l1"): 0.85, (0.5, "lp_bridge"): 0.88 + (0.86 - 0.88) * (0.5 - 0.2) / (0.6 - 0.2),
    (0.6, "l1"): 0.85 + (0.70 - 0.85) * (0.6 - 0.5) / (0.8 - 0.5), (0.6, "lp_bridge"): 0.86,
    (0.8, "l1"): 0.70, (0.8, "lp_bridge"): math.nan,  # above lp_bridge's range
}  # fmt: skip


def _write(root):
    for reg, members in FRONTS.items():
        rows = []
        for s, x, acc in members:
            for seed, delta in ((0, -0.01), (1, 0.01)):
                rows.append({
                    "member": len(rows), "seed": seed, "strength": s, "status": "ok",
                    "dataset": "d", "task": "classification", "val.log_loss": 1 - acc,
                    "test.accuracy": acc + delta, "test.log_loss": 1 - acc,
                    "sparsity.exact": x, "sparsity.threshold_1e-2": x,
                    "cfg.model.name": "mlp", "cfg.regularizer.name": reg,
                    "cfg.pruning.name": "none",
                })  # fmt: skip
        write_run(root / reg, "", rows, done=reg)


def test_front_and_interpolation_by_hand():
    x = np.array([0.1, 0.5, 0.3, 0.8])
    y = np.array([0.90, 0.85, 0.80, 0.70])
    assert pareto_front(x, y).tolist() == [True, True, False, True]
    got = on_front(x, y, [0.05, 0.1, 0.3, 0.65, 0.8, 0.9])
    want = [np.nan, 0.90, 0.875, 0.775, 0.70, np.nan]
    np.testing.assert_allclose(got, want, equal_nan=True)
    # lower is better (RMSE): the front is the low side
    assert pareto_front(x, 1 - y, higher=False).tolist() == [True, True, False, True]


def test_matched_sparsity_of_hand_made_fronts(tmp_path):
    _write(tmp_path)
    table = matched_sparsity(collect([tmp_path]).records, "sparsity.exact")
    got = {
        (round(r["sparsity.exact"], 6), r["method"].removeprefix("mlp+")): r["value"]
        for _, r in table.iterrows()
    }
    assert set(got) == set(EXPECTED)
    for key, want in EXPECTED.items():
        assert (math.isnan(got[key]) and math.isnan(want)) or got[key] == pytest.approx(want), key
    levels = table.drop_duplicates("sparsity.exact").set_index("sparsity.exact")["level_of"]
    assert levels.to_dict() == {
        0.1: "mlp+l1", 0.2: "mlp+lp_bridge", 0.5: "mlp+l1", 0.6: "mlp+lp_bridge", 0.8: "mlp+l1",
    }  # fmt: skip
    assert (table["metric"] == "test.accuracy").all()


def test_table_writes_matched_sparsity_when_asked(tmp_path):
    _write(tmp_path / "runs")
    args = ["table", "runs", "--out", "out", "--metrics", "test.accuracy,sparsity.exact"]
    res = run_cli([*args, "--matched-sparsity", "sparsity.exact"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "matched_sparsity.csv" in res.stdout
    back = pd.read_csv(tmp_path / "out" / "matched_sparsity.csv")
    row = back[(back["sparsity.exact"] == 0.6) & (back["method"] == "mlp+l1")]
    assert row["value"].item() == pytest.approx(EXPECTED[(0.6, "l1")])
    md = (tmp_path / "out" / "matched_sparsity.md").read_text()
    assert "| sparsity | reached by | mlp+l1 | mlp+lp_bridge |" in md
    assert "| 0.600 | mlp+lp_bridge | 0.800 | 0.860 |" in md  # level 0.6 is lp_bridge's
    assert "| 0.100 | mlp+l1 | 0.900 | - |" in md  # below lp_bridge's front: not extrapolated
    assert len([line for line in md.splitlines() if line.startswith("| 0.")]) == 5
    # the other files are those of the same command without the option
    plain = run_cli([*args[:3], "plain", *args[4:]], tmp_path)
    assert plain.returncode == 0, plain.stderr
    for name in ("table.csv", "table.md", "table.tex", "selected.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
    assert not (tmp_path / "plain" / "matched_sparsity.csv").exists()


def test_a_column_that_is_not_sparsity_is_a_one_line_error(tmp_path):
    _write(tmp_path / "runs")
    res = run_cli(
        ["table", "runs", "--out", "out", "--matched-sparsity", "test.accuracy"], tmp_path
    )
    assert res.returncode == 2
    assert "--matched-sparsity 'test.accuracy'" in res.stderr
    assert "allowed: sparsity.exact, sparsity.threshold_1e-2" in res.stderr
    assert not (tmp_path / "out").exists()  # nothing written
    with pytest.raises(UserError, match="allowed: sparsity.exact"):
        matched_sparsity(collect([tmp_path / "runs"]).records, "sparsity.nope")
