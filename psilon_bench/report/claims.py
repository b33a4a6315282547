"""Claims checked from the records: a YAML file of comparisons between two methods on one
metric (e.g. "EWN's test accuracy > the plain MLP's after pruning 80 % of the units"),
evaluated on the selected members (`report.select`) with a paired one-sided test.

A claim holds when the test in the claimed direction gives p < 0.05, does not hold when
the test in the opposite direction does, and is "not significant" otherwise. Pairs are the
datasets (per-dataset means over seeds, as in Demsar 2006) when the compared cells span at
least `MIN_DATASETS` datasets (fewer cannot reach p < 0.05 with a one-sided Wilcoxon test),
else the (dataset, seed, fold) units, the members of both methods that share one split. Tests: the Wilcoxon
signed-rank test (`scipy.stats.wilcoxon`, default) or the sign test (`scipy.stats.binomtest`).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

from psilon_bench.errors import UserError
from psilon_bench.report.rules import SPLIT_METRIC_PREFIXES
from psilon_bench.report.tables import fmt_mean_std, fmt_number

ALPHA = 0.05
OPS = (">", "<")
TESTS = ("wilcoxon", "sign")
KEYS = ("id", "claim", "metric", "a", "b", "op", "margin", "at", "paper", "test")
REQUIRED = ("id", "claim", "metric", "a", "b", "op")
VERDICTS = ("holds", "does not hold", "not significant")
METRIC_PREFIXES = (*SPLIT_METRIC_PREFIXES, "sparsity.", "path_norm", "lipschitz.", "params.")


@dataclass
class Claim:
    """One comparison: `a` (a method name or glob pattern; one row per method it matches)
    against `b` (exactly one method) on `metric`, in the cell `at` (record column -> value;
    unpruned records unless `prune.amount` is given). `op` '>' claims a higher value for `a`,
    '<' a lower one; `margin` >= 0 relaxes the claim to "not worse than `b` by more than
    `margin`" (non-inferiority)."""

    id: str
    claim: str
    metric: str
    a: str
    b: str
    op: str = ">"
    margin: float = 0.0
    at: dict = field(default_factory=dict)
    paper: str = ""
    test: str = "wilcoxon"

    def comparison(self, method: str, base: str) -> str:
        """E.g. `ewn_mlp+none > mlp+none` or `a >= b - 0.01`."""
        if not self.margin:
            return f"{method} {self.op} {base}"
        sign = "-" if self.op == ">" else "+"
        rel = "\u2265" if self.op == ">" else "\u2264"
        return f"{method} {rel} {base} {sign} {self.margin:g}"

    def where(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.at.items())


def _show(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def load(path: Path) -> list[Claim]:
    """The claims of a YAML file (`claims:` list); a one-line UserError naming the file and
    the key for a missing file, bad YAML or a bad claim."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--claims {path}: no such file")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        line = str(err).splitlines()[0]
        raise UserError(f"--claims {path}: not valid YAML ({line})") from None
    items = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise UserError(f"--claims {path}: expected a non-empty list under the key 'claims'")
    claims, seen = [], set()
    for i, item in enumerate(items):
        claim = _claim(path, i, item)
        if claim.id in seen:
            raise UserError(f"--claims {path}: claim id {claim.id!r} appears twice")
        seen.add(claim.id)
        claims.append(claim)
    return claims


def _claim(path: Path, i: int, item: object) -> Claim:
    where = f"--claims {path}: claim {i + 1}"
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
    if "id" in item:
        where = f"--claims {path}: claim {item['id']!r}"
    unknown = sorted(set(item) - set(KEYS))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
    missing = [k for k in REQUIRED if k not in item]
    if missing:
        raise UserError(f"{where}: missing key {missing[0]!r} (required: {', '.join(REQUIRED)})")
    if item["op"] not in OPS:
        raise UserError(f"{where}: op {item['op']!r} is not allowed; allowed: {', '.join(OPS)}")
    test = item.get("test", "wilcoxon")
    if test not in TESTS:
        raise UserError(f"{where}: test {test!r} is not allowed; allowed: {', '.join(TESTS)}")
    margin = item.get("margin", 0.0)
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin < 0:
        raise UserError(f"{where}: margin {margin!r} must be a number >= 0")
    at = item.get("at") or {}
    if not isinstance(at, dict):
        raise UserError(f"{where}: at must map record columns to values, e.g. {{data: iris}}")
    return Claim(
        id=str(item["id"]),
        claim=str(item["claim"]),
        metric=str(item["metric"]),
        a=str(item["a"]),
        b=str(item["b"]),
        op=item["op"],
        margin=float(margin),
        at={str(k): v for k, v in at.items()},
        paper=str(item.get("paper") or ""),
        test=test,
    )


def _cell(c: Claim, selected: pd.DataFrame) -> pd.DataFrame:
    """The selected rows of claim `c`'s cell (before choosing the methods)."""
    where = f"claim {c.id!r}"
    numeric = [
        m
        for m in selected.columns
        if m.startswith(METRIC_PREFIXES)
        and pd.api.types.is_numeric_dtype(selected[m])
        and selected[m].notna().any()
    ]
    if c.metric not in numeric:
        raise UserError(
            f"{where}: metric {c.metric!r} is not a recorded metric here; "
            f"allowed: {', '.join(sorted(numeric))}"
        )
    rows = selected[selected["selected"].astype(bool)]
    at = dict(c.at)
    at.setdefault("prune.amount", rows["prune.amount"].min() if len(rows) else 0.0)
    for key, value in at.items():
        if key not in rows.columns:
            cols = sorted(k for k in ("data", "dataset", "task", "prune.amount") if k in rows)
            cols += sorted(k for k in rows.columns if k.startswith("cfg."))
            raise UserError(
                f"{where}: at key {key!r} is not a record column; allowed: {', '.join(cols)}"
            )
        hit = _matches(rows[key], value)
        if not hit.any():
            present = sorted({_show(v) for v in rows[key].dropna().unique()})
            raise UserError(
                f"{where}: at {key}={_show(value)} matches no selected record; "
                f"values of {key}: {', '.join(present)}"
            )
        rows = rows[hit]
    return rows


def _matches(column: pd.Series, value: object) -> pd.Series:
    num = pd.to_numeric(column, errors="coerce")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and num.notna().any():
        return np.isclose(num.astype(float), float(value), rtol=0, atol=1e-12)
    return column.astype(str) == str(value)


def _methods(c: Claim, cell: pd.DataFrame) -> tuple[list[str], str]:
    """The methods `a` matches and the one method `b` names, within the claim's `cell`."""
    present = sorted(cell["method"].unique())
    a = [m for m in present if fnmatch.fnmatchcase(m, c.a)]
    b = [m for m in present if fnmatch.fnmatchcase(m, c.b)]
    where = f"claim {c.id!r}"
    if not a:
        raise UserError(f"{where}: a {c.a!r} matches no method here; methods: {', '.join(present)}")
    if len(b) != 1:
        what = "no method" if not b else f"{len(b)} methods ({', '.join(b)}); it must match one"
        raise UserError(f"{where}: b {c.b!r} matches {what}; methods: {', '.join(present)}")
    a = [m for m in a if m != b[0]]
    if not a:
        raise UserError(f"{where}: a {c.a!r} matches only b's method {b[0]!r}")
    return a, b[0]


def evaluate(claims: list[Claim], selected: pd.DataFrame) -> pd.DataFrame:
    """One row per claim and method `a` matches: the paired values' means, stds and n, the
    wins/ties/losses of `a`, the test's one-sided p in the claimed direction (`p`) and in the
    opposite one (`p_opposite`), and the verdict. Every claim is checked before any is
    evaluated: an unknown metric, cell or method is a one-line UserError naming the claim,
    the key and what exists."""
    checked = []
    for c in claims:
        cell = _cell(c, selected)
        checked.append((c, cell, *_methods(c, cell)))
    rows = []
    for c, cell, methods, base in checked:
        for method in methods:
            rows.append(_evaluate_one(c, cell, method, base))
    return pd.DataFrame(rows)


#: the fewest datasets that are the pairs themselves: n = 5 is the smallest n whose exact
#: one-sided Wilcoxon p can fall below 0.05 (1/32)
MIN_DATASETS = 5


def _paired(cell: pd.DataFrame, metric: str, a: str, b: str) -> tuple[pd.DataFrame, str]:
    """(a, b) values paired on datasets (per-dataset means) when the cell spans at least
    `MIN_DATASETS` datasets, else on (dataset, seed, fold); the unit's name."""
    rows = cell[cell["method"].isin([a, b])].copy()
    rows[metric] = pd.to_numeric(rows[metric], errors="coerce")
    rows = rows[rows[metric].notna()]  # e.g. test.rmse of the classification sets
    rows["fold"] = rows["fold"].astype(object).where(rows["fold"].notna(), -1)
    n_data = rows["data"].nunique()
    keys = ["data"] if n_data >= MIN_DATASETS else ["data", "seed", "fold"]
    means = rows.groupby([*keys, "method"])[metric].mean().unstack("method")
    pairs = means.reindex(columns=[a, b]).dropna()
    unit = (
        "datasets" if n_data >= MIN_DATASETS else "seeds" if n_data == 1 else "dataset x seed pairs"
    )
    return pairs.rename(columns={a: "a", b: "b"}), unit


def one_sided_p(x: np.ndarray, test: str) -> float:
    """p of the one-sided test that the paired differences `x` are > 0 (1.0 when every
    difference is 0 or there are none)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0 or np.all(x == 0):
        return 1.0
    if test == "sign":
        wins, losses = int((x > 0).sum()), int((x < 0).sum())
        return float(st.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)
    return float(st.wilcoxon(x, alternative="greater").pvalue)


def smallest_p(n: int) -> float:
    """The smallest one-sided p either test can give with n non-zero pairs: 1/2^n."""
    return 0.5**n if n else 1.0


def _evaluate_one(c: Claim, cell: pd.DataFrame, method: str, base: str) -> dict:
    pairs, unit = _paired(cell, c.metric, method, base)
    d = (pairs["a"] - pairs["b"]).to_numpy()
    x = d if c.op == ">" else -d  # > 0: in the claimed direction
    p = one_sided_p(x + c.margin, c.test)
    p_opp = one_sided_p(-(x + c.margin), c.test)
    verdict = "holds" if p < ALPHA else "does not hold" if p_opp < ALPHA else "not significant"
    n = len(pairs)
    note = ""
    if verdict == "not significant" and smallest_p(n) >= ALPHA:
        note = f"{n} {unit}: p cannot fall below {smallest_p(n):.3g}"
    return {
        "id": c.id,
        "claim": c.claim,
        "comparison": c.comparison(method, base),
        "metric": c.metric,
        "a": method,
        "b": base,
        "op": c.op,
        "margin": c.margin,
        "at": c.where(),
        "paper": c.paper,
        "unit": unit,
        "n": n,
        "a_mean": pairs["a"].mean() if n else np.nan,
        "a_std": pairs["a"].std(ddof=1) if n > 1 else np.nan,
        "b_mean": pairs["b"].mean() if n else np.nan,
        "b_std": pairs["b"].std(ddof=1) if n > 1 else np.nan,
        "diff_mean": d.mean() if n else np.nan,
        "wins": int((x > 0).sum()),
        "ties": int((x == 0).sum()),
        "losses": int((x < 0).sum()),
        "test": f"{'Wilcoxon signed-rank' if c.test == 'wilcoxon' else 'sign'}, one-sided",
        "p": p,
        "p_opposite": p_opp,
        "verdict": verdict,
        "note": note,
    }


def ours(row: pd.Series) -> str:
    """`a mean +- std vs b mean +- std (n datasets|seeds; W/T/L)`."""
    a = fmt_mean_std(row["a_mean"], row["a_std"])
    b = fmt_mean_std(row["b_mean"], row["b_std"])
    wtl = f"{int(row['wins'])}/{int(row['ties'])}/{int(row['losses'])}"
    return f"{a} vs {b} (n = {int(row['n'])} {row['unit']}; W/T/L {wtl})"


def markdown(result: pd.DataFrame) -> str:
    """The claims table: claim | paper | ours (mean +- std, n) | test | verdict."""
    head = ["claim", "compared", "paper", "ours (mean \u00b1 std, n)", "test (p)", "verdict"]
    lines = ["### claims", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in result.iterrows():
        where = f"; {r['at']}" if r["at"] else ""
        compared = f"`{r['comparison']}` ({r['metric']}{where})"
        p = "-" if _nan(r["p"]) else fmt_number(r["p"]) if r["p"] >= 1e-3 else f"{r['p']:.1e}"
        verdict = f"**{r['verdict']}**" + (f" ({r['note']})" if r["note"] else "")
        cells = [r["claim"], compared, r["paper"] or "-", ours(r), f"{r['test']} (p = {p})"]
        lines.append(
            "| " + " | ".join(str(x).replace("|", "\\|") for x in [*cells, verdict]) + " |"
        )
    note = (
        "Paired one-sided tests at the 0.05 level on the members selected on validation: over "
        "datasets (per-dataset means) when a claim spans at least 5, else over (dataset, seed) "
        "pairs, the members of both methods on one split. "
        "*holds*: p < 0.05 in the claimed direction; *does not hold*: p < 0.05 in the "
        "opposite direction; *not significant*: neither. W/T/L: pairs where the first method "
        "is better / level / worse. A margin m turns a claim into 'not worse by more than m'."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


def _nan(v: object) -> bool:
    return isinstance(v, float) and math.isnan(v)


def csv(result: pd.DataFrame) -> str:
    return result.to_csv(index=False)
