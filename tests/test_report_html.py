"""`psilon-bench report`: one self-contained HTML page from what `table` and `plot` wrote on
a real sweep, read back (embedded figures equal the PNG files, provenance equals the sweep's
own files), and opened in headless Chromium: a screenshot, every image decoded, every table
laid out, the page no wider than 1280 px. Without Chromium the browser tests skip, unless
PSILON_REQUIRE_CHROMIUM=1 (CI's `.ci/run` sets it and installs Debian's `chromium`)."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli
from test_report_tables import ENV, sweep  # noqa: F401 (the shared fixture)

PROTOCOLS = ["psilon_tabular", "psilon_deep", "lp_bridge", "soft_diamond", "ewn", "small_data"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("PSILON_REQUIRE_CHROMIUM") == "1"
CLAIMS = """claims:
  - {id: c, claim: L_p decay is more accurate, metric: test.accuracy, a: mlp+lp_bridge,
     b: mlp+l2, op: ">"}
"""
# marks what rendered: run after the page's load event, read back with --dump-dom
PROBE = """<script>window.addEventListener('load', () => {
const imgs = Array.from(document.images);
const tables = Array.from(document.querySelectorAll('table'));
const out = {images: imgs.length,
  broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
  tables: tables.length,
  empty: tables.filter(t => t.rows.length < 2 || t.getBoundingClientRect().height === 0).length,
  width: document.documentElement.scrollWidth};
const pre = document.createElement('pre'); pre.id = 'psb-probe';
pre.textContent = JSON.stringify(out); document.body.appendChild(pre);});</script>"""


@pytest.fixture(scope="module")
def page(sweep, tmp_path_factory) -> Path:  # noqa: F811
    """table (with claims) + pareto figure + report of the shared sweep."""
    tmp = tmp_path_factory.mktemp("report")
    spec = tmp / "claims.yaml"
    spec.write_text(CLAIMS)
    out = tmp / "res"
    for args in (
        ["table", str(sweep), "--out", str(out), "--claims", str(spec)],
        ["plot", str(sweep), "--kind", "pareto", "--out", str(out)],
        ["report", str(out), "--runs", str(sweep)],
    ):
        res = run_cli(args, tmp, ENV)
        assert res.returncode == 0, res.stderr
    return out / "report.html"


def test_page_is_self_contained_and_holds_every_output(page, sweep):  # noqa: F811
    text = page.read_text()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from a network
    folder = page.parent
    pngs = sorted(folder.glob("*.png"))
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(pngs) >= 1 and len(embedded) == len(pngs)
    assert [base64.b64decode(e) for e in embedded] == [p.read_bytes() for p in pngs]
    md_tables = sum(
        (folder / f).read_text().count("\n|---") + (folder / f).read_text().startswith("|---")
        for f in ("table.md", "claims.md")
    )
    assert text.count("<table") == md_tables + 1  # + stats.csv
    for h in ("Tables", "Claims", "Statistics", "Figures", "Provenance"):
        assert f"<h2>{h}</h2>" in text
    assert "mlp+lp_bridge" in text and "L_p decay is more accurate" in text
    # provenance: the sweep's command from its multirun.yaml, the runs' versions and counts
    task = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["overrides"]["task"]
    assert "psilon-bench run -m " + shlex.join(task) in text.replace("&#x27;", "'")
    n_runs = len(list(sweep.rglob("DONE")))
    assert f"runs: {n_runs} complete, 0 failed, 0 incomplete run folders" in text
    assert "torch: 2.13.0" in text and "psilon-bench (runs): " in text
    # rendering twice gives the same bytes (no time stamp)
    again = page.parent / "again.html"
    assert run_cli(["report", str(folder), "--runs", str(sweep), "--out", str(again)], folder, ENV)
    assert again.read_bytes() == page.read_bytes()


def test_failed_and_incomplete_runs_are_listed(page, sweep, tmp_path):  # noqa: F811
    runs = tmp_path / "runs"
    shutil.copytree(sweep, runs)
    failed = runs / "extra" / "0"
    failed.mkdir(parents=True)
    (failed / "config.yaml").write_text("model: {name: mlp}\n")
    (failed / "FAILED").write_text("ValueError: the data had no rows\n")
    res = run_cli(
        ["report", str(page.parent), "--runs", str(runs), "--out", str(tmp_path / "r.html")],
        tmp_path,
        ENV,
    )
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "r.html").read_text()
    assert "1 failed" in text and "runs/extra/0: ValueError: the data had no rows" in text


def test_report_bad_input(tmp_path):
    res = run_cli(["report", str(tmp_path)], tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "holds no table.md" in res.stderr
    res = run_cli(["report", str(REPO / "results" / "ewn"), "--runs", "nowhere"], tmp_path)
    assert res.returncode == 2 and "--runs nowhere is not a folder" in res.stderr
    assert not list(tmp_path.iterdir())


def _chromium(html: Path, profile: Path, *flags: str) -> str:
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail(
                "PSILON_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)"
            )
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium); CI installs it")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
    res = subprocess.run(
        [*args, *flags, html.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def probe(html: Path, tmp_path: Path) -> dict:
    """What Chromium rendered of `html` (a copy with the probe script added)."""
    copy = tmp_path / f"probe-{html.name}"
    copy.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    flags = ["--window-size=1280,1024", "--virtual-time-budget=10000", "--dump-dom"]
    dom = _chromium(copy, tmp_path / "profile", *flags)
    found = re.search(r'<pre id="psb-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&amp;", "&"))


def check_in_browser(html: Path, tmp_path: Path) -> None:
    got = probe(html, tmp_path)
    text = html.read_text()
    assert got["images"] == text.count("<img") and got["broken"] == []
    assert got["tables"] == text.count("<table") and got["empty"] == 0
    assert got["width"] <= 1280
    shot = tmp_path / f"{html.stem}.png"
    _chromium(html, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[1] == 1280 and pixels.std() > 0.05  # drawn, not a blank page


def test_page_renders_in_headless_chromium(page, tmp_path):
    check_in_browser(page, tmp_path)


def test_the_probe_sees_a_broken_image(page, tmp_path):
    """The browser check can fail: an image that does not decode is reported."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        page.read_text().replace("</body>", '<img alt="x" src="data:image/png;base64,AAAA"></body>')
    )
    assert probe(bad, tmp_path)["broken"] == ["x"]


@pytest.mark.parametrize("protocol", [*PROTOCOLS, "psilon_tabular_full", "small_data_full"])
def test_committed_reports_render_in_headless_chromium(protocol, tmp_path):
    html = REPO / "results" / protocol / "report.html"
    assert html.exists()
    text = html.read_text()
    assert "<h2>Claims</h2>" in text and "<script" not in text
    check_in_browser(html, tmp_path)


def test_runs_without_a_complete_one_are_said_on_the_page(page, tmp_path):
    failed = tmp_path / "runs" / "0"
    failed.mkdir(parents=True)
    (failed / "FAILED").write_text("RuntimeError: out of memory\n")
    out = tmp_path / "r.html"
    res = run_cli(
        ["report", str(page.parent), "--runs", str(tmp_path / "runs"), "--out", str(out)],
        tmp_path,
        ENV,
    )
    assert res.returncode == 0, res.stderr
    assert "no complete run" in out.read_text() and "<h2>Tables</h2>" in out.read_text()


def test_matched_sparsity_is_on_the_page(tmp_path):
    """A folder with `matched_sparsity.md` (P3's `table --matched-sparsity`) shows it as a
    section of its own: its headings and every row of its tables."""
    folder = tmp_path / "lp_bridge"
    folder.mkdir()
    for name in ("table.md", "matched_sparsity.md"):
        shutil.copy(REPO / "results" / "lp_bridge" / name, folder / name)
    res = run_cli(["report", str(folder)], tmp_path, ENV)
    assert res.returncode == 0, res.stderr
    text = (folder / "report.html").read_text()
    assert "<h2>Accuracy at matched sparsity</h2>" in text
    assert "<h3>credit_default (classification, test.accuracy)</h3>" in text
    rows = [x for x in (folder / "matched_sparsity.md").read_text().splitlines() if x[:2] == "| "]
    section = text.split("<h2>Accuracy at matched sparsity</h2>")[1].split("<h2>")[0]
    assert section.count("<tr>") == len(rows)
