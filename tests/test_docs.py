"""The documentation site (docs/, mkdocs.yml): `mkdocs build --strict` passes (no broken link
or anchor, no page missing from the nav, no warning) and catches such mistakes; every Python
example marked `<!-- test: run -->` runs; the claims the pages make about the code and the
committed results agree with them (the Design table with the import rules, the P5 and P6
tables with results/*/table.csv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

DOCS = REPO / "docs"
MARK = "<!-- test: run -->"


def build(root: Path, out: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site at `root` into `out` (offline; no banner)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", out],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_site_builds_strict(tmp_path):
    res = build(REPO, tmp_path / "site")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARNING" not in res.stderr, res.stderr
    site = tmp_path / "site"
    for page in ["index.html", "getting-started/index.html", "api/index.html"]:
        assert (site / page).exists(), page
    api = (site / "api" / "index.html").read_text()
    assert "Raises" in api and "multirun" in api  # the docstrings of psilon_bench.run
    changelog = (site / "changelog" / "index.html").read_text()
    assert "Unreleased" in changelog and "--8&lt;--" not in changelog  # CHANGELOG.md included
    protocols = (site / "protocols" / "index.html").read_text()
    assert "mlp+lp_bridge" in protocols  # results/lp_bridge/table.md included
    for src in re.findall(r'<img [^>]*src="\.\./([^"]+)"', protocols):
        assert (site / src).exists(), src  # the committed figures are files of the site


def test_strict_build_fails_on_a_broken_link_and_a_page_missing_from_the_nav(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(DOCS, root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    for name in ["CHANGELOG.md", "results", "psilon_bench"]:
        (root / name).symlink_to(REPO / name)
    with (root / "docs" / "index.md").open("a") as f:
        f.write("\nSee [nowhere](no-such-page.md).\n")
    (root / "docs" / "orphan.md").write_text("# Not in the nav\n")
    res = build(root, tmp_path / "site")
    assert res.returncode != 0
    assert "no-such-page.md" in res.stderr and "orphan.md" in res.stderr, res.stderr


def marked_examples() -> list[tuple[str, int, str]]:
    """(file, index, code) of every ```python block right after a `<!-- test: run -->` line, in
    the README and the docs."""
    found = []
    for page in [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]:
        text = page.read_text()
        pattern = "^" + re.escape(MARK) + r"\n```python\n(.*?)```"
        for i, code in enumerate(re.findall(pattern, text, re.S | re.M)):
            found.append((page.relative_to(REPO).as_posix(), i, code))
    return found


EXAMPLES = marked_examples()


def test_the_docs_have_marked_examples():
    pages = {page for page, _, _ in EXAMPLES}
    assert {"README.md", "docs/api.md"} <= pages, pages
    # a mark not followed by a python block is a mistake (the example would never run)
    files = [REPO / "README.md", *DOCS.rglob("*.md")]
    marks = sum(len(re.findall(f"^{re.escape(MARK)}$", p.read_text(), re.M)) for p in files)
    assert marks == len(EXAMPLES)


@pytest.mark.parametrize(
    ("page", "index", "code"), EXAMPLES, ids=[f"{p}#{i}" for p, i, _ in EXAMPLES]
)
def test_docs_example_runs(page, index, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, page, "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip(), "an example shows what it computes"
    if (page, index) == ("docs/api.md", 0):  # the API's run, sweep and table
        assert "test.accuracy" in printed and "mlp+l2" in printed
        assert (tmp_path / "runs" / "iris" / "DONE").exists()
        assert len(list((tmp_path / "sweeps" / "demo").glob("*/DONE"))) == 3
    if (page, index) == ("docs/api.md", 1):  # a mistake: the CLI's one line, nothing written
        assert "resnet50" in printed and "psilon_net" in printed
        assert not (tmp_path / "runs").exists()


def markdown_table(text: str, header_start: str) -> list[list[str]]:
    """The rows (cells stripped of ** and spaces) of the first table whose header starts so."""
    lines = text[text.index("| " + header_start) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("*").strip() for c in line.strip("|").split("|")])
    return rows


def test_design_table_is_the_import_rules():
    from test_layout import ALLOWED, PARTS

    rows = markdown_table((DOCS / "design.md").read_text(), "part | its job | may import")
    names = {r[0].strip("`").removesuffix("/").removesuffix(".py"): r[2] for r in rows}
    assert set(names) == {*PARTS, "errors"}
    for part, may in names.items():
        if part in ("cli", "runner", "errors"):  # everything / every part but cli / nothing
            continue
        listed = set(re.findall(r"`([a-z_.]+)`", re.split(r";|never", may)[0])) - {"errors"}
        assert listed == ALLOWED[part], part
    assert "never `cli`" in names["runner"] and "everything" in names["cli"]


P6_METHODS = {
    "PSiLON ResNet + path norm": "psilon_resnet+path_norm",
    "MLP + decoupled decay": "mlp+weight_decay",
    "PSiLON Net + path norm": "psilon_net+path_norm",
    "scikit-learn MLP": "sklearn_mlp",
    "random forest": "sklearn_rf",
    "logistic regression": "sklearn_logistic",
    "gradient boosting": "sklearn_hgb",
    "CatBoost": "catboost",
    "LightGBM": "lightgbm",
    "XGBoost": "xgboost",
}


@pytest.mark.parametrize(
    ("heading", "folder"),
    [("### P6 at quick size", "small_data"), ("### P6 at the paper's size", "small_data_full")],
)
def test_p6_tables_on_the_protocols_page_are_the_committed_results(heading, folder):
    text = (DOCS / "protocols.md").read_text().split(heading, 1)[1]
    rows = markdown_table(text, "method")
    frame = pd.read_csv(REPO / "results" / folder / "table.csv")
    acc = frame.groupby(["method", "n_train"])["test.accuracy.mean"].mean().unstack() * 100
    mean = frame.groupby("method")["test.accuracy.mean"].mean() * 100  # over every cell
    assert len(rows) == frame["method"].nunique()  # every method of the table, once
    sizes = sorted(frame["n_train"].unique())  # a column per training-set size, in order
    for row in rows:
        method = P6_METHODS[re.sub(r" \(.*\)$", "", row[0])]
        shown = [float(x) for x in row[1 : 2 + len(sizes)]]
        want = [mean[method], *(acc.loc[method, n] for n in sizes)]
        assert shown == [round(w, 2) for w in want], method


def test_p5_table_on_the_protocols_page_is_the_committed_results():
    rows = markdown_table((DOCS / "protocols.md").read_text(), "model | q = 0")
    frame = pd.read_csv(REPO / "results" / "ewn" / "table.csv")
    for row in rows:
        model = re.search(r"`(\w+)`", row[0]).group(1)
        mine = frame[frame["method"] == f"{model}+none+neuron_norm"].set_index("prune.amount")
        want = [round(mine.loc[q, "test.accuracy.mean"] * 100, 1) for q in (0.0, 0.5, 0.8, 0.9)]
        assert [float(x) for x in row[1:5]] == want, model


def test_no_page_points_outside_the_repository():
    for page in [REPO / "README.md", *DOCS.rglob("*.md")]:
        text = page.read_text()
        for bad in ["../shared", "METHODS.md", "PROTOCOLS.md", "/work/"]:
            assert bad not in text, f"{page.name}: {bad}"
        assert not re.search(r"\bissue \d", text), page.name


def test_readme_links_point_at_files_of_the_repository():
    text = (REPO / "README.md").read_text()
    links = [x for x in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if "://" not in x]
    assert any(x.startswith("docs/") for x in links), links
    for link in links:
        assert (REPO / link).exists(), link


def test_every_code_block_is_closed():
    for page in [REPO / "README.md", *DOCS.rglob("*.md")]:
        fences = re.findall(r"^\s*```", page.read_text(), re.M)
        assert len(fences) % 2 == 0, page.name
