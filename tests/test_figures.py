"""Figures fit to print: every kind rendered from a small real sweep with one display name
and one colour per method across figures; the Pareto axes (threshold, y-limits, outliers at
the edge), the baselines' own penalty panel, the curves' band over seeds, the [EWN] paper's
reference points and the CD diagram's title, each checked on records written by hand."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
from conftest import run_cli
from matplotlib.colors import to_hex
from test_report_tables import ENV, pruned, sweep  # noqa: F401  (the session's real sweeps)

from psilon_bench.records.io import write_run
from psilon_bench.report import figure_style as fs
from psilon_bench.report import figures
from psilon_bench.report.collect import collect

MARKS = {
    "non-dominated", "selected (table)", fs.OUTSIDE, "validation (dashed)", "test (solid)",
    "selected \u03bb", figures.PAPER_LABEL, "paper",
}  # fmt: skip


def _legend(fig) -> dict[str, object]:
    (legend,) = fig.legends
    return {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}


def _method_colours(fig, names: set[str]) -> dict[str, set[str]]:
    """Colour of every line drawn for a method (label = its display name, maybe pruned)."""
    seen = defaultdict(set)
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label().partition(" [pruned")[0]
            if label in names:
                seen[label].add(to_hex(line.get_color()))
    return seen


def test_every_kind_names_each_method_once_in_one_colour(sweep, pruned, tmp_path):  # noqa: F811
    c = collect([sweep, pruned])
    ids = sorted(c.records["method"].unique())
    names = fs.display_names(ids)
    assert names == {
        "mlp+l2": "MLP + L2",
        "mlp+lp_bridge": "MLP + L_p bridge",
        "mlp+none+neuron_norm": "MLP",
    }
    shown = set(names.values())
    colours: dict[str, set[str]] = defaultdict(set)
    for kind in figures.KINDS:
        fig = figures.draw(kind, c)
        legend = _legend(fig)
        for label in legend:  # a method's display name, or an entry that explains a mark
            assert (
                label.partition(" [pruned")[0] in shown | MARKS
                or label.startswith(("\u03bb = ", "\u00b1 1 std"))
                or label in figures.LIPSCHITZ.values()
            ), (kind, label)
            assert label not in ids, (kind, label)  # never a raw method id
        titles = " ".join(ax.get_title() for ax in fig.axes)
        assert not any(i in titles for i in ids if "+" in i), (kind, titles)
        for name, cs in _method_colours(fig, shown).items():
            assert len(cs) == 1, (kind, name, cs)  # one colour in every panel
            colours[name] |= cs
            if name in legend:
                assert to_hex(legend[name].get_color()) in cs, (kind, name)
        drawn = set(_method_colours(fig, shown))
        assert drawn <= {n.partition(" [pruned")[0] for n in legend}, kind
    assert set(colours) == shown and all(len(cs) == 1 for cs in colours.values()), colours
    assert len({next(iter(cs)) for cs in colours.values()}) == len(shown)  # distinct
    res = run_cli(["plot", str(sweep), str(pruned), "--kind", "all", "--out", "out"], tmp_path)
    assert res.returncode == 0, res.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{k}.{e}" for k in figures.KINDS for e in ("pdf", "png"))


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("psilon_net+path_norm", "PSiLON Net + path norm"),
        ("mlp+weight_decay", "MLP + weight decay"),
        ("sklearn_rf", "random forest"),
        ("sklearn_logistic", "logistic regression"),
        ("ewn_mlp+none+neuron_norm", "EWN MLP"),
        ("psilon_net+path_norm+psilon_projection", "PSiLON Net + path norm + L1 projection"),
        ("mlp+lp_bridge(p=0.8)", "MLP + L_p bridge (p=0.8)"),
        ("new_model+new_reg", "new_model + new_reg"),
    ],
)
def test_display_name(method, name):
    assert fs.display_name(method) == name


def test_display_names_stay_unique():
    names = fs.display_names(["mlp+l1", "mlp+l1+magnitude", "mlp+none", "mlp"])
    assert names["mlp+l1"] == "MLP + L1"
    assert names["mlp+l1+magnitude"] == "MLP + L1 + magnitude pruning"
    assert len(set(names.values())) == 4


def _rec(data, model, reg, strength, seed, acc, **extra):
    return {
        "member": int(strength * 1000) * 10 + seed, "seed": seed, "strength": strength,
        "status": "ok", "dataset": data, "task": "classification", "val.log_loss": 1 - acc,
        "val.accuracy": acc, "test.accuracy": acc, "test.log_loss": 1 - acc,
        "cfg.model.name": model, "cfg.regularizer.name": reg, "cfg.pruning.name": "none",
        **extra,
    }  # fmt: skip


def test_pareto_uses_the_tables_threshold_and_keeps_outliers_at_the_edge(tmp_path):
    # (strength, relative sparsity at 1e-2, accuracy); strength 0.3 collapses to 0.3
    points = [(0.01, 0.1, 0.90), (0.03, 0.2, 0.89), (0.1, 0.4, 0.86), (0.3, 0.3, 0.30)]
    rows = [
        _rec(
            "d",
            "mlp",
            "soft_diamond",
            s,
            seed,
            acc,
            **{
                "sparsity.exact": 0.0,
                "sparsity.threshold_1e-2": x,
                "sparsity.threshold_1e-3": x / 4,
            },
        )  # fmt: skip
        for s, x, acc in points
        for seed in (0, 1)
    ]
    write_run(tmp_path / "run", "", rows)
    fig = figures.draw("pareto", collect([tmp_path]))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "relative sparsity: |w| \u2264 1e-2 \u00d7 unit's mean |w|"
    lo, hi = ax.get_ylim()
    assert lo < 0.86 and hi > 0.90 and lo > 0.8  # the band of the front, not the collapse
    (edge,) = [s for s in ax.collections if s.get_label() == fs.OUTSIDE]
    assert edge.get_offsets().tolist() == [[0.3, pytest.approx(lo)]]
    assert fs.OUTSIDE in _legend(fig)


def test_baselines_get_their_own_panel_on_grid_positions(tmp_path):
    rows = [_rec("d", "mlp", "l2", s, 0, 0.9 - s) for s in (1e-4, 1e-3, 1e-2)]
    rows += [_rec("d", "sklearn_rf", "none", s, 0, 0.8 + s / 100) for s in (1, 4, 16, 32)]
    write_run(tmp_path / "run", "", rows)
    fig = figures.draw("lambda-path", collect([tmp_path]))
    nets, bases = [ax for ax in fig.axes if ax.get_visible()]
    assert nets.get_title() == "d: networks" and nets.get_xscale() == "log"
    assert nets.get_xlabel() == figures.STRENGTH
    assert bases.get_title() == "d: baselines" and bases.get_xscale() == "linear"
    assert "min_samples_leaf 1\u201332" in bases.get_xlabel().replace("\n", " ")
    (test_line,) = [line for line in bases.get_lines() if line.get_label() == "random forest"]
    assert test_line.get_xdata().tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert max(x for line in nets.get_lines() for x in line.get_xdata()) == pytest.approx(1e-2)


def test_curves_draw_the_mean_and_a_band_over_seeds(tmp_path):
    rows = [_rec("d", "mlp", "l2", 0.1, seed, 0.9) for seed in (0, 1, 2)]
    curves = [
        {"member": r["member"], "seed": r["seed"], "strength": 0.1, "step": step,
         "val.loss": 1.0 / step + 0.1 * r["seed"]}
        for r in rows
        for step in (10, 20)
    ]  # fmt: skip
    write_run(tmp_path / "run", "", rows, curves=curves)
    fig = figures.draw("curves", collect([tmp_path]))
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    by_step = {s: [1.0 / s + 0.1 * k for k in (0, 1, 2)] for s in (10, 20)}
    assert line.get_ydata() == pytest.approx([np.mean(by_step[10]), np.mean(by_step[20])])
    (band,) = [c for c in ax.collections if c.get_paths() and len(c.get_paths()[0].vertices)]
    ys = band.get_paths()[0].vertices[:, 1]
    for s in (10, 20):
        m, sd = np.mean(by_step[s]), np.std(by_step[s], ddof=1)
        assert min(ys, key=lambda y: abs(y - (m - sd))) == pytest.approx(m - sd)
        assert min(ys, key=lambda y: abs(y - (m + sd))) == pytest.approx(m + sd)
    assert "\u00b1 1 std over seeds" in _legend(fig)


def test_unit_pruning_figure_shows_the_papers_mnist_points(tmp_path):
    for model in ("mlp", "swn_mlp", "ewn_mlp"):
        rows = [
            _rec(
                "digits",
                model,
                "none",
                0.0,
                seed,
                0.9 - q / 10,
                **{
                    "prune.amount": q,
                    "prune.kind": "neuron_norm",
                    "cfg.pruning.name": "neuron_norm",
                },
            )  # fmt: skip
            for q in (0.0, 0.8, 0.9)
            for seed in (0, 1)
        ]
        write_run(tmp_path / model, "", rows)
    fig = figures.draw("pruning", collect([tmp_path]))
    (ax,) = fig.axes
    assert {"EWN MLP", "SWN MLP", "MLP", figures.PAPER_LABEL} <= set(_legend(fig))
    diamonds = {
        (tuple(line.get_xdata()), tuple(line.get_ydata()))
        for line in ax.get_lines()
        if line.get_marker() == "D" and len(line.get_xdata())
    }
    assert diamonds == {((0.8, 0.9), (0.972, 0.932)), ((0.8, 0.9), (0.925, 0.759)),
                        ((0.8, 0.9), (0.931, 0.792))}  # fmt: skip
    assert ax.get_xlabel() == "fraction of units pruned"
    means = {line.get_label(): line.get_ydata() for line in ax.get_lines() if line.get_label()}
    assert means["EWN MLP"] == pytest.approx([0.9, 0.82, 0.81])


def test_records_without_a_display_name_keep_their_id(tmp_path):
    rows = [_rec("d", "mystery", "l2", s, 0, 0.9 - s, **{"sparsity.exact": s}) for s in (0.1, 0.2)]
    write_run(tmp_path / "run", "", rows)
    fig = figures.draw("pareto", collect([tmp_path]))
    assert "mystery + L2" in _legend(fig)
    assert json.dumps(sorted(_legend(fig)))  # plain strings


def test_palette_gives_distinct_colours_to_sixty_methods():
    """A FULL-size P4 figure shows 30 methods: tab20 alone would repeat ten of its colours."""
    from psilon_bench.report.figure_style import palette

    for n in (9, 11, 30, 60):
        colours = palette([f"method {i}" for i in range(n)])
        assert len(set(colours.values())) == n
    assert len(set(palette([f"m{i}" for i in range(61)]).values())) == 60  # then it repeats


def test_an_ensemble_is_named_after_its_method():
    """`ensemble: k` records (`<method> + ensemble(k)`) keep their method's display name."""
    assert fs.display_name("psilon_resnet+path_norm + ensemble(3)") == (
        "PSiLON ResNet + path norm, ensemble of 3"
    )
    assert fs.display_name("sklearn_rf + ensemble(5)") == "random forest, ensemble of 5"
    names = fs.display_names(["sklearn_rf", "sklearn_rf + ensemble(3)"])
    assert len(set(names.values())) == 2
