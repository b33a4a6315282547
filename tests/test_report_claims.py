"""`psilon-bench table --claims` and `--cost-relative-to` on a real sweep (the session's
shared sweeps of test_report_tables), checked against an independent computation from the
raw records (json + pandas, exact Wilcoxon and sign-test p-values by enumeration), and the
committed claims tables re-evaluated from the committed selections."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli
from test_report_tables import ENV, chosen_records, raw_records, sweep  # noqa: F401

from psilon_bench.report import claims as cl

PROTOCOLS = ["psilon_tabular", "psilon_deep", "lp_bridge", "soft_diamond", "ewn", "small_data"]


def exact_wilcoxon_greater(x) -> float:
    """P(W+ >= observed) over all 2^n sign flips of the ranks of |x| (zeros dropped)."""
    x = np.asarray([v for v in x if v != 0], dtype=float)
    if not len(x):
        return 1.0
    ranks = pd.Series(np.abs(x)).rank().to_numpy()
    observed = ranks[x > 0].sum()
    flips = list(itertools.product([0, 1], repeat=len(x)))
    return sum(np.dot(f, ranks) >= observed - 1e-12 for f in flips) / len(flips)


def exact_sign_greater(x) -> float:
    wins, n = sum(v > 0 for v in x), sum(v != 0 for v in x)
    if not n:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


CLAIMS = """
claims:
  - id: across
    claim: L_p decay is more accurate than L2
    metric: test.accuracy
    a: "mlp+lp*"
    b: mlp+l2
    op: ">"
    paper: a number
  - id: one-set
    claim: on iris alone
    metric: test.accuracy
    a: mlp+lp_bridge
    b: mlp+l2
    op: ">"
    at: {data: iris}
  - id: zeros
    claim: L_p decay gives more exact zeros
    metric: sparsity.exact
    a: mlp+lp_bridge
    b: mlp+l2
    op: ">"
    test: sign
  - id: rmse
    claim: L_p decay's RMSE within 0.1 of L2's
    metric: test.rmse
    a: mlp+lp_bridge
    b: mlp+l2
    op: "<"
    margin: 0.1
"""


def test_claims_match_an_independent_computation(sweep, tmp_path):  # noqa: F811
    spec = tmp_path / "claims.yaml"
    spec.write_text(CLAIMS)
    out = tmp_path / "out"
    res = run_cli(["table", str(sweep), "--out", str(out), "--claims", str(spec)], tmp_path, ENV)
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(out / "claims.csv").set_index("id")
    chosen = chosen_records(sweep)

    def values(metric, reg, datasets):
        return {
            (d, s): chosen[(d, reg, s)][metric]
            for (d, r, s) in chosen
            if r == reg and d in datasets
        }

    def check(cid, metric, datasets, sign, margin=0.0, test="wilcoxon"):
        a, b = values(metric, "lp_bridge", datasets), values(metric, "l2", datasets)
        if len(datasets) >= 5:  # per-dataset means, paired on datasets
            a = pd.Series(a).groupby(level=0).mean()
            b = pd.Series(b).groupby(level=0).mean()
        else:  # 1-4 datasets: paired on the (dataset, seed) splits
            a, b = pd.Series(a), pd.Series(b)
        x = sign * (a - b)
        p = (exact_sign_greater if test == "sign" else exact_wilcoxon_greater)(x + margin)
        q = (exact_sign_greater if test == "sign" else exact_wilcoxon_greater)(-(x + margin))
        row = got.loc[cid]
        unit = (
            "datasets"
            if len(datasets) >= 5
            else "seeds"
            if len(datasets) == 1
            else "dataset x seed pairs"
        )
        assert row["n"] == len(x) and row["unit"] == unit
        assert row["a_mean"] == pytest.approx(a.mean()) and row["b_mean"] == pytest.approx(b.mean())
        assert row["a_std"] == pytest.approx(a.std(ddof=1))
        assert row["diff_mean"] == pytest.approx((a - b).mean())
        assert (row["wins"], row["losses"]) == ((x > 0).sum(), (x < 0).sum())
        assert row["p"] == pytest.approx(p) and row["p_opposite"] == pytest.approx(q)
        want = "holds" if p < 0.05 else "does not hold" if q < 0.05 else "not significant"
        assert row["verdict"] == want

    check("across", "test.accuracy", ["iris", "wine", "moons"], +1)
    check("one-set", "test.accuracy", ["iris"], +1)
    check("zeros", "sparsity.exact", ["iris", "wine", "moons", "diabetes"], +1, test="sign")
    check("rmse", "test.rmse", ["diabetes"], -1, margin=0.1)
    assert got.loc["across", "a"] == "mlp+lp_bridge" and got.loc["across", "paper"] == "a number"
    md = (out / "claims.md").read_text()
    assert md.count("\n| ") == 1 + 4 and "`mlp+lp_bridge > mlp+l2`" in md
    assert "`mlp+lp_bridge ≤ mlp+l2 + 0.1`" in md and "claims" in res.stdout


def test_report_claims_on_selected_csv_equal_table_claims(sweep, tmp_path):  # noqa: F811
    """`report --claims` (the selection table wrote) gives the claims `table --claims` gave."""
    spec = tmp_path / "claims.yaml"
    spec.write_text(CLAIMS.split("  - id: zeros")[0])  # metrics the table shows
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(["table", str(sweep), "--out", str(a), "--claims", str(spec)], tmp_path, ENV)
    assert run_cli(["table", str(sweep), "--out", str(b)], tmp_path, ENV).returncode == 0
    res = run_cli(["report", str(b), "--claims", str(spec)], tmp_path, ENV)
    assert res.returncode == 0, res.stderr
    assert (a / "claims.csv").read_text() == (b / "claims.csv").read_text()
    assert (a / "claims.md").read_text() == (b / "claims.md").read_text()


BAD = [
    ("metric: test.accuracy", "metric: test.acc", "metric 'test.acc' is not a recorded metric"),
    ("a: mlp+lp_bridge", "a: mlp+nope", "a 'mlp+nope' matches no method here; methods: mlp+l2"),
    ("b: mlp+l2", "b: 'mlp+*'", "matches 2 methods (mlp+l2, mlp+lp_bridge); it must match one"),
    ('op: ">"', 'op: ">>"', "op '>>' is not allowed; allowed: >, <"),
    ("paper: x", "paprer: x", "unknown key 'paprer'; allowed: id, claim"),
    ("paper: x", "at: {dataa: iris}", "at key 'dataa' is not a record column; allowed: data,"),
    ("paper: x", "at: {data: irs}", "at data=irs matches no selected record; values of data:"),
    ("paper: x", "margin: -1", "margin -1 must be a number >= 0"),
    ("paper: x", "test: t", "test 't' is not allowed; allowed: wilcoxon, sign"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_claims_are_one_line_errors_and_nothing_is_written(sweep, tmp_path, old, new, message):  # noqa: F811
    good = "claims:\n  - id: c\n    claim: t\n    metric: test.accuracy\n"
    good += '    a: mlp+lp_bridge\n    b: mlp+l2\n    op: ">"\n    paper: x\n'
    assert old in good
    spec = tmp_path / "claims.yaml"
    spec.write_text(good.replace(old, new))
    out = tmp_path / "out"
    res = run_cli(["table", str(sweep), "--out", str(out), "--claims", str(spec)], tmp_path, ENV)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert message in res.stderr and not out.exists()


def test_claims_file_errors(tmp_path):
    res = run_cli(["report", str(REPO / "results" / "ewn"), "--claims", "nope.yaml"], tmp_path)
    assert res.returncode == 2 and "--claims nope.yaml: no such file" in res.stderr
    bad = tmp_path / "bad.yaml"
    for text, message in [
        ("claims: [", "not valid YAML"),
        ("other: 1", "expected a non-empty list under the key 'claims'"),
        ("claims:\n  - id: a\n", "missing key 'claim'"),
    ]:
        bad.write_text(text)
        with pytest.raises(cl.UserError, match=message):
            cl.load(bad)


def test_cost_relative_to_l2_from_the_records_timings(sweep, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    args = ["table", str(sweep), "--out", str(out), "--cost-relative-to", "l2"]
    res = run_cli(args, tmp_path, ENV)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "table.csv")
    per_run = defaultdict(list)
    seen = set()
    for r in raw_records(sweep):
        if r["run_id"] in seen:
            continue
        seen.add(r["run_id"])
        s = r["time.wall_s"] / (r["time.steps"] * r["time.members"])
        per_run[(r["dataset"], r["cfg.regularizer.name"])].append(s)
    for _, row in table.iterrows():
        reg = row["method"].split("+")[1]
        want = np.median(per_run[(row["data"], reg)]) / np.median(per_run[(row["data"], "l2")])
        assert row["cost.vs_l2.mean"] == pytest.approx(want)
    assert (table.loc[table["method"] == "mlp+l2", "cost.vs_l2.mean"] == 1.0).all()
    assert "cost vs l2" in (out / "table.md").read_text()
    res = run_cli(
        ["table", str(sweep), "--out", str(tmp_path / "x"), "--cost-relative-to", "l9"],
        tmp_path,
        ENV,
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert (
        "--cost-relative-to 'l9' is not a regularizer of these runs; allowed: l2, lp_bridge"
        in res.stderr
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_committed_claims_tables_are_the_claims_of_the_committed_selection(protocol, tmp_path):
    """Every protocol's claims file evaluates on its committed selection and gives the
    committed claims.csv (what `report --claims` or `table --claims` wrote)."""
    res = REPO / "results" / protocol
    copy = tmp_path / protocol
    copy.mkdir()
    shutil.copy(res / "selected.csv", copy)
    shutil.copy(res / "table.md", copy)
    out = run_cli(
        ["report", str(copy), "--claims", str(REPO / "claims" / f"{protocol}.yaml")], tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert (copy / "claims.csv").read_text() == (res / "claims.csv").read_text()
    assert (copy / "claims.md").read_text() == (res / "claims.md").read_text()


def test_ewn_claims_against_pandas_on_the_committed_selection():
    """The P5 claims (cells at a pruning amount, paired on seeds) recomputed with pandas."""
    sel = pd.read_csv(REPO / "results" / "ewn" / "selected.csv")
    got = cl.evaluate(cl.load(REPO / "claims" / "ewn.yaml"), sel).set_index("id")
    for cid, amount, other in [
        ("p5-ewn-plain-80", 0.8, "mlp+none+neuron_norm"),
        ("p5-ewn-swn-90", 0.9, "swn_mlp+none+neuron_norm"),
    ]:
        at = sel[np.isclose(sel["prune.amount"], amount)].pivot_table(
            index="seed", columns="method", values="test.accuracy"
        )
        x = at["ewn_mlp+none+neuron_norm"] - at[other]
        row = got.loc[cid]
        assert row["n"] == len(x) == 3 and row["b"] == other
        assert row["diff_mean"] == pytest.approx(x.mean())
        assert row["p"] == pytest.approx(exact_wilcoxon_greater(x))


def test_claims_csv_columns_are_documented():
    doc = (REPO / "docs" / "guide" / "claims.md").read_text()
    cols = pd.read_csv(REPO / "results" / "ewn" / "claims.csv").columns
    missing = [c for c in cols if f"`{c}`" not in doc]
    assert not missing, missing
    assert json.dumps(sorted(cl.KEYS))  # every claim key is named in the guide too
    assert not [k for k in cl.KEYS if f"`{k}`" not in doc]


def test_python_api_returns_the_claims_the_cli_writes(sweep, tmp_path):  # noqa: F811
    import psilon_bench as pb

    spec = tmp_path / "claims.yaml"
    spec.write_text(CLAIMS)
    frames = pb.table(sweep, claims=spec, cost_relative_to="l2")
    out = tmp_path / "out"
    args = ["table", str(sweep), "--out", str(out), "--claims", str(spec)]
    assert run_cli([*args, "--cost-relative-to", "l2"], tmp_path, ENV).returncode == 0
    for name in ("claims", "table"):
        pd.testing.assert_frame_equal(frames[name], pd.read_csv(out / f"{name}.csv"))
