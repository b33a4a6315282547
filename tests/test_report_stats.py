"""Statistics across datasets on a fixed matrix, against scipy and hand computations
(Demsar 2006: mean ranks, Friedman, Nemenyi CD; Wilcoxon + Holm; wins/ties/losses)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sst

from psilon_bench.report import stats
from psilon_bench.report.tables import Block

METHODS = ["mlp+none", "mlp+l2", "psilon_net+path_norm", "mlp+l1"]
# rows: datasets; columns: METHODS; test accuracy (higher is better)
ACC = np.array(
    [
        [0.80, 0.82, 0.85, 0.79],
        [0.70, 0.74, 0.73, 0.70],
        [0.90, 0.91, 0.95, 0.88],
        [0.60, 0.65, 0.66, 0.61],
        [0.75, 0.75, 0.80, 0.74],
        [0.85, 0.84, 0.88, 0.83],
    ]
)


def block(acc=ACC, metric="test.accuracy") -> Block:
    rows = [
        {
            "task": "classification",
            "data": f"d{i}",
            "method": m,
            "prune.amount": 0.0,
            f"{metric}.mean": acc[i, j],
            f"{metric}.std": 0.01,
            "n": 3,
            "n_failed": 0,
        }
        for i in range(acc.shape[0])
        for j, m in enumerate(METHODS)
    ]
    return Block("classification", ["data"], [metric], pd.DataFrame(rows))


def holm_by_hand(p):
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def test_ranks_friedman_nemenyi_wilcoxon_holm():
    res = stats.compute(block(), baseline=None)  # default baseline: mlp+none
    t = res.table.set_index("method")
    ranks = np.array([sst.rankdata(-row) for row in ACC])  # rank 1 = best, ties averaged
    for j, m in enumerate(METHODS):
        assert t.loc[m, "mean_rank"] == pytest.approx(ranks[:, j].mean())
    f = sst.friedmanchisquare(*ACC.T)
    assert t["friedman_stat"].iloc[0] == pytest.approx(f.statistic)
    assert t["friedman_p"].iloc[0] == pytest.approx(f.pvalue)
    # Demsar (2006) table 5: q_0.05 = 2.569 for k = 4 classifiers
    assert t["cd"].iloc[0] == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 6)), rel=1e-3)
    assert res.rank_result.cd == pytest.approx(t["cd"].iloc[0], rel=1e-4)  # autorank agrees
    assert (t["baseline"] == "mlp+none").all()
    others = METHODS[1:]
    p = [sst.wilcoxon(ACC[:, j], ACC[:, 0]).pvalue for j in (1, 2, 3)]
    assert [t.loc[m, "wilcoxon_p"] for m in others] == pytest.approx(p)
    assert [t.loc[m, "wilcoxon_p_holm"] for m in others] == pytest.approx(holm_by_hand(np.array(p)))
    d = ACC[:, 1] - ACC[:, 0]  # mlp+l2 vs mlp+none: 4 wins, 1 tie, 1 loss
    assert (
        (t.loc["mlp+l2", ["wins", "ties", "losses"]].tolist())
        == [
            (d > 0).sum(),
            (d == 0).sum(),
            (d < 0).sum(),
        ]
        == [4, 1, 1]
    )
    assert math.isnan(t.loc["mlp+none", "wilcoxon_p"])
    assert list(t.index) == sorted(t.index, key=lambda m: t.loc[m, "mean_rank"])
    fig = stats.cd_figure(res)  # methods under their display names, titled
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert "PSiLON Net + path norm" in texts and "MLP + L2" in texts and "MLP" in texts
    assert not any("+path_norm" in x for x in texts)
    assert fig.axes[0].get_title() == (
        "test accuracy, classification: mean ranks over 6 datasets\n"
        f"Friedman p = {f.pvalue:.3g}; Nemenyi critical difference at \u03b1 = 0.05"
    )


def test_lower_is_better_metric_ranks_the_smallest_first():
    res = stats.compute(block(1 - ACC, metric="test.rmse"), baseline="mlp+l2")
    t = res.table.set_index("method")
    ranks = np.array([sst.rankdata(row) for row in 1 - ACC])
    assert t.loc["psilon_net+path_norm", "mean_rank"] == pytest.approx(ranks[:, 2].mean())
    assert t.loc["mlp+none", "wins"] == ((1 - ACC[:, 0]) < (1 - ACC[:, 1])).sum()


def test_skipped_with_fewer_than_three_datasets_and_small_samples_without_diagram():
    res = stats.compute(block(ACC[:2]), baseline=None)
    assert res.skipped() and "2 dataset(s)" in res.notes[-1] and "at least 3" in res.notes[-1]
    res = stats.compute(block(ACC[:4]), baseline=None)  # Friedman yes, CD diagram needs 5
    assert not res.skipped() and res.rank_result is None
    assert any("at least 5 datasets" in n for n in res.notes)


def test_several_baselines_give_one_block_of_tests_each():
    """`--baseline A,B`: the rows against A (as with A alone), then those against B (as with
    B alone); ranks and Friedman are the same in both."""
    both = stats.compute(block(), baseline=["mlp+none", "mlp+l2"]).table
    alone = [stats.compute(block(), baseline=b).table for b in ("mlp+none", "mlp+l2")]
    assert both["baseline"].tolist() == ["mlp+none"] * 4 + ["mlp+l2"] * 4
    pd.testing.assert_frame_equal(both.iloc[:4].reset_index(drop=True), alone[0])
    pd.testing.assert_frame_equal(both.iloc[4:].reset_index(drop=True), alone[1])
    versus_l2 = both[both["baseline"] == "mlp+l2"].set_index("method")
    p = [sst.wilcoxon(ACC[:, j], ACC[:, 1]).pvalue for j in (0, 2, 3)]
    assert [versus_l2.loc[m, "wilcoxon_p"] for m in (METHODS[0], *METHODS[2:])] == pytest.approx(p)
    assert math.isnan(versus_l2.loc["mlp+l2", "wilcoxon_p"])
