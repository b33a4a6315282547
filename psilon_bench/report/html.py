"""`psilon-bench report`: one self-contained HTML page per results folder (what `table` and
`plot` wrote there): the tables (`table.md`), the claims (`claims.md`), the accuracy at
matched sparsity (`matched_sparsity.md`, when `table --matched-sparsity` wrote it), the statistics
(`stats.csv`), every figure (`*.png`, embedded as base64 data URIs) and the provenance read
from the run folders' records (versions, git commit, sweep commands, run counts, failures).
No network: inline CSS, no script, no external resource. The page holds no time stamp, so
rendering the same folder twice gives the same bytes."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from psilon_bench.errors import UserError

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f4f4f4; padding: 0 0.2em; }
p.note { font-size: 0.85em; color: #555; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f8f8f8; padding: 0.5em; }
"""


def _inline(text: str) -> str:
    """Escaped text with Markdown's **bold**, *emphasis* and `code`."""
    out = html.escape(text.replace("\\|", "|"), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", out)


def markdown_tables(text: str) -> str:
    """HTML of the Markdown `table` and `report` write: `###` headings, pipe tables (a
    right-aligned column stays right-aligned) and paragraphs."""
    parts: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            parts.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            parts.append(_table(block))
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("|", "#")):
                para.append(lines[i])
                i += 1
            parts.append(f'<p class="note">{_inline(" ".join(para))}</p>')
        else:
            i += 1
    return "\n".join(parts)


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def _table(block: list[str]) -> str:
    head = _cells(block[0])
    align = _cells(block[1]) if len(block) > 1 else []
    right = [a.endswith(":") for a in align]
    rows = ["<tr>" + "".join(f"<th>{_inline(h)}</th>" for h in head) + "</tr>"]
    for line in block[2:]:
        cells = _cells(line)
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="num">{_inline(c)}</td>'
                if j < len(right) and right[j]
                else f"<td>{_inline(c)}</td>"
                for j, c in enumerate(cells)
            )
            + "</tr>"
        )
    return '<div class="scroll"><table>\n' + "\n".join(rows) + "\n</table></div>"


def stats_table(path: Path) -> str:
    """stats.csv as an HTML table (numbers to 3 significant digits)."""
    frame = pd.read_csv(path)
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
    table = shown.to_html(index=False, escape=True, border=0, na_rep="-")
    return f'<div class="scroll">{table}</div>'


def figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def provenance(runs: Path | None, directory: Path) -> str:
    """Versions, git commits, the sweeps' commands, run counts and failures from the run
    folders below `runs`; a sentence saying so when they are not there."""
    from psilon_bench import __version__

    items = [f"<li>page rendered by psilon-bench {html.escape(__version__)}</li>"]
    if runs is None or not runs.is_dir():
        selected = directory / "selected.csv"
        count = ""
        if selected.exists():
            paths = pd.read_csv(selected, usecols=lambda c: c == "path").get("path")
            if paths is not None:
                count = f" (the tables name {paths.nunique()} run folders)"
        items.append(
            "<li>the run folders are not kept beside these results"
            f"{count}: versions, commands and failures are not available here; "
            "<code>make table-&lt;protocol&gt;</code> renders this page with them</li>"
        )
        return "<ul>" + "\n".join(items) + "</ul>"
    from psilon_bench.report.collect import collect

    try:
        collected = collect([runs])
    except UserError as err:  # e.g. every run failed: the page still says what it found
        items.append(f"<li>{html.escape(str(err))}</li>")
        return "<ul>" + "\n".join(items) + "</ul>"
    records = collected.records.drop_duplicates("path")
    for key, label in (
        ("env.version", "psilon-bench (runs)"),
        ("env.git_commit", "git commit"),
        ("env.torch", "torch"),
        ("env.python", "python"),
        ("env.device", "device"),
    ):
        if key in records.columns:
            values = sorted({str(v) for v in records[key].dropna()})
            if values:
                items.append(f"<li>{label}: {html.escape(', '.join(values))}</li>")
    counts = (
        f"{len(collected.runs)} complete, {len(collected.failed)} failed, "
        f"{len(collected.incomplete)} incomplete run folders"
    )
    items.append(f"<li>runs: {counts}</li>")
    out = "<ul>" + "\n".join(items) + "</ul>"
    commands = sweep_commands(runs)
    if commands:
        out += "<h3>commands</h3><pre>" + html.escape("\n".join(commands)) + "</pre>"
    if collected.failed or collected.incomplete:
        lines = [f"{_rel(p, runs)}: {msg}" for p, msg in sorted(collected.failed.items())]
        lines += [f"{_rel(p, runs)}: incomplete (no DONE)" for p in collected.incomplete]
        out += "<h3>failures</h3><pre>" + html.escape("\n".join(lines)) + "</pre>"
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root.parent))
    except ValueError:
        return Path(path).name


def sweep_commands(runs: Path) -> list[str]:
    """`psilon-bench run -m <overrides>` of every Hydra sweep below `runs` (its
    multirun.yaml), and `psilon-bench run <overrides>` of single runs outside a sweep."""
    import yaml

    commands = []
    sweeps = sorted(runs.rglob("multirun.yaml"))
    for sweep in sweeps:
        doc = yaml.safe_load(sweep.read_text()) or {}
        task = (((doc.get("hydra") or {}).get("overrides") or {}).get("task")) or []
        commands.append(f"# {_rel(sweep.parent, runs)}")
        commands.append("psilon-bench run -m " + " ".join(_quote(t) for t in task))
    inside = {s.parent for s in sweeps}
    for over in sorted(runs.rglob("overrides.yaml")):
        run = over.parent
        if any(p in inside for p in run.parents):
            continue
        task = yaml.safe_load(over.read_text()) or []
        task = [t for t in task if not str(t).startswith("hydra")]
        commands.append(f"# {_rel(run, runs)}")
        commands.append("psilon-bench run " + " ".join(_quote(t) for t in task))
    return commands


def _quote(token: object) -> str:
    import shlex

    return shlex.quote(str(token))


def render(directory: Path, runs: Path | None = None) -> str:
    """The page for the results folder `directory` (a UserError when it holds no table)."""
    directory = Path(directory)
    if not (directory / "table.md").is_file():
        raise UserError(
            f"report: {directory} holds no table.md (run psilon-bench table ... --out "
            f"{directory} first)"
        )
    title = f"psilon-bench results: {directory.resolve().name}"
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Tables</h2>"]
    body.append(markdown_tables((directory / "table.md").read_text()))
    if (directory / "claims.md").is_file():
        body += ["<h2>Claims</h2>", markdown_tables((directory / "claims.md").read_text())]
    if (directory / "matched_sparsity.md").is_file():  # `table --matched-sparsity`
        text = (directory / "matched_sparsity.md").read_text()
        body += ["<h2>Accuracy at matched sparsity</h2>", markdown_tables(text)]
    if (directory / "stats.csv").is_file():
        body += ["<h2>Statistics</h2>", stats_table(directory / "stats.csv")]
    pngs = sorted(directory.glob("*.png"))
    if pngs:
        body += ["<h2>Figures</h2>", *[figure(p) for p in pngs]]
    body += ["<h2>Provenance</h2>", provenance(runs, directory)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
