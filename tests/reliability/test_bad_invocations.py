"""Issue 8: a table of bad invocations of every subcommand. Each must exit with its code
(2 for user errors), print exactly one `error: ...` line naming the key or file, no
traceback, and leave no file or folder behind, in the working directory or in an output
folder outside it. The CLI runs in-process (real Hydra, real files): the table takes
seconds, not a subprocess start per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from invoke import files_under, invoke

QUICK = ["trainer=quick", "trainer.steps=1", "seeds=1"]
PRESET = "PRESETS"  # replaced by the presets folder of the fixture below
OUT = "OUTSIDE"  # replaced by a folder outside the working directory

PRESET_FILES = {
    "yaml_syntax/experiment/p.yaml": "# @package _global_\nseeds: [1, 2\nname: x\n",
    "tab/experiment/p.yaml": "# @package _global_\nmodel:\n\twidth: 8\n",
    "pytag/experiment/p.yaml": "# @package _global_\nseeds: !!python/object/apply:os.getpid []\n",
    "callback/experiment/p.yaml": (
        "# @package _global_\nhydra:\n  callbacks:\n    evil:\n"
        "      _target_: builtins.open\n      file: VICTIM\n      mode: w\n"
    ),
    "replace_callback/experiment/p.yaml": (
        "# @package _global_\nhydra:\n  callbacks:\n    validate:\n"
        "      _target_: builtins.open\n      file: VICTIM\n      mode: w\n"
    ),
    "nested_target/experiment/p.yaml": (
        "# @package _global_\nhydra:\n  launcher:\n    extra:\n"
        "      _target_: builtins.open\n      file: VICTIM\n      mode: w\n"
    ),
    "factory/experiment/p.yaml": (
        '# @package _global_\nhydra:\n  job_logging:\n    formatters:\n      simple:\n        "()": builtins.print\n'
    ),
    "env/experiment/p.yaml": "# @package _global_\nname: run_${oc.env:HOME}\n",
    "data/dataset/missing_file.yaml": (
        "defaults: [base_dataset, _self_]\nname: missing_file\nsource: csv\npath: nothere.csv\n"
    ),
    "data/dataset/bad_target.yaml": (
        "defaults: [base_dataset, _self_]\nname: bad_target\nsource: csv\npath: DATA/ok.csv\n"
        "target: nope\n"
    ),
    "data/dataset/huge.yaml": (
        "defaults: [base_dataset, _self_]\nname: huge\nsource: csv\npath: DATA/huge.csv\n"
        "task: classification\n"
    ),
    "data/dataset/corrupt.yaml": (
        "defaults: [base_dataset, _self_]\nname: corrupt\nsource: csv\npath: DATA/corrupt.csv.gz\n"
    ),
    "data/dataset/one_class.yaml": (
        "defaults: [base_dataset, _self_]\nname: one_class\nsource: csv\npath: DATA/one_class.csv\n"
    ),
}


def _csv(n: int = 60, scale: float = 1.0, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * scale
    y = (x[:, 0] > 0).astype(int)
    rows = [",".join(f"{v!r}" for v in row) + f",{t}" for row, t in zip(x.tolist(), y)]
    return "a,b,c,y\n" + "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("presets")
    data = root / "csv"
    data.mkdir()
    (data / "ok.csv").write_text(_csv())
    (data / "huge.csv").write_text(_csv(scale=1e40))
    (data / "corrupt.csv.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    (data / "one_class.csv").write_text("a,y\n" + "".join(f"{i},1\n" for i in range(30)))
    (root / "victim.txt").write_text("keep me\n")
    for name, text in PRESET_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = text.replace("VICTIM", str(root / "victim.txt")).replace("DATA", str(data))
        path.write_text(text)
    return root


def cd(name: str) -> list[str]:
    return ["--config-dir", f"{PRESET}/{name}"]


# (args, exit code, substrings of the one error line)
RUN: list[tuple[list[str], int, list[str]]] = [
    # unknown keys, also through `+` / `++`
    (["model.widht=3"], 2, ["model.widht", "allowed keys"]),
    (["+model.foo=1"], 2, ["model.foo", "allowed keys"]),
    (["+model.widht=8"], 2, ["model.widht", "width"]),
    (["++model.bar=2"], 2, ["model.bar"]),
    (["++model.widht=8"], 2, ["model.widht"]),
    (["+regularizer.p=3"], 2, ["regularizer.p", "allowed keys"]),
    (["+foo=1"], 2, ["foo", "the config"]),
    (["~model"], 2, ["model", "no value"]),
    (["~seeds"], 2, ["seeds"]),
    (["model.width=${nope}"], 2, ["model.width", "nope"]),
    (["name=${now:}"], 2, ["interpolation"]),
    (["name=../../x"], 2, ["name='../../x'", "one folder name"]),  # would leave results/
    (["name=a/b"], 2, ["name='a/b'", "one folder name"]),
    (["name=.."], 2, ["name='..'", "one folder name"]),
    (["-cn", "nope"], 2, ["nope"]),
    (["+hydra.job.env_set.LD_PRELOAD=/x.so"], 2, ["LD_PRELOAD"]),
    (["+split.fraction=0.5"], 2, ["split.fraction"]),
    # unknown options and wrong types
    (["model=resnet50"], 2, ["model=resnet50", "mlp"]),
    (["dataset=mnist"], 2, ["dataset=mnist"]),
    (["schedule=warmup"], 2, ["schedule=warmup"]),
    (["experiment=nope"], 2, ["experiment=nope"]),
    (["experiment=0"], 2, ["option name"]),
    (["model=3"], 2, ["option name"]),
    (["hydra/launcher=nonexistent"], 2, ["hydra/launcher"]),
    (["model.width=abc"], 2, ["model.width"]),
    (["model.width=1.5"], 2, ["model.width"]),
    (["trainer.steps=1.5"], 2, ["trainer.steps"]),
    (["trainer.device=tpu"], 2, ["trainer.device", "tpu"]),
    (["trainer.dtype=float16"], 2, ["trainer.dtype"]),
    (["preprocess.impute=mean"], 2, ["preprocess.impute"]),
    (["dataset.task=clustering"], 2, ["dataset.task"]),
    (["pruning=magnitude", "pruning.scope=everything"], 2, ["pruning.scope"]),
    (["split.n_train=abc"], 2, ["split.n_train"]),
    (["seeds=abc"], 2, ["seeds"]),
    # ranges and non-finite numbers
    (["model.width=-1"], 2, ["model.width"]),
    (["model.depth=-1"], 2, ["model.depth"]),
    (["regularizer=l2", "regularizer.strength=-1"], 2, ["regularizer.strength"]),
    (["regularizer=l2", "regularizer.strength=inf"], 2, ["regularizer.strength", "finite"]),
    (["regularizer=l2", "regularizer.strength=[1e-3,nan]"], 2, ["regularizer.strength"]),
    (["regularizer=l2", "regularizer.strength=[]"], 2, ["regularizer.strength"]),
    (["optimizer.lr=inf"], 2, ["optimizer.lr", "finite"]),
    (["optimizer.lr=-inf"], 2, ["optimizer.lr"]),
    (["optimizer.lr=1e400"], 2, ["optimizer.lr", "finite"]),
    (["optimizer.lr=0"], 2, ["optimizer.lr"]),
    (["optimizer.eps=nan"], 2, ["optimizer.eps"]),
    (["optimizer.beta1=1.0"], 2, ["optimizer.beta1"]),
    (["schedule=one_cycle", "schedule.pct_peak=2"], 2, ["schedule.pct_peak"]),
    (["schedule=cosine", "schedule.min_ratio=inf"], 2, ["schedule.min_ratio"]),
    (["regularizer=soft_diamond", "regularizer.alpha=0"], 2, ["regularizer.alpha"]),
    (["regularizer=soft_diamond", "regularizer.alpha=2.5"], 2, ["regularizer.alpha"]),
    (["regularizer=soft_diamond", "regularizer.scale=0.1"], 2, ["regularizer.scale"]),
    (["regularizer=lp_bridge", "regularizer.p=3"], 2, ["regularizer.p"]),
    (["pruning=psilon_projection", "pruning.start=0.95"], 2, ["pruning.start"]),
    (["pruning=magnitude", "pruning.sparsity=1.0"], 2, ["pruning.sparsity"]),
    (["metrics.thresholds=[]"], 2, ["metrics.thresholds"]),
    (["metrics.thresholds=[0]"], 2, ["metrics.thresholds"]),
    (["metrics.lipschitz_points=0"], 2, ["metrics.lipschitz_points"]),
    (["metrics.absolute_threshold=-inf"], 2, ["metrics.absolute_threshold"]),
    (["trainer.batch_size=0"], 2, ["trainer.batch_size"]),
    (["trainer.threads=0"], 2, ["trainer.threads"]),
    (["trainer.epochs=null", "trainer.steps=null"], 2, ["trainer.epochs"]),
    (["seeds=0"], 2, ["seeds"]),
    (["seeds=[1,1]"], 2, ["seeds"]),
    (["seeds=[0,1.5]"], 2, ["seeds"]),
    (["dataset=synthetic_classification", "dataset.synthetic.n_samples=0"], 2, ["n_samples"]),
    (["dataset=synthetic_regression", "dataset.synthetic.noise=nan"], 2, ["noise"]),
    # splits
    (["split.n_train=1.0"], 2, ["split.n_train=1.0", "ambiguous", "row count"]),
    (["split.n_train=2000.0"], 2, ["split.n_train", "ambiguous"]),
    (["split.n_train=0"], 2, ["split.n_train"]),
    (["split.n_train=0.7", "split.n_val=0.4"], 2, ["split fractions"]),
    (["split.n_train=100000"], 2, ["split.n_train", "569"]),
    (["split.keep=0"], 2, ["split.keep"]),
    (["split.n_test=-1"], 2, ["split.n_test"]),
    # sweeps: every job validated before the first starts
    (["-m", "model.width=8,-1"], 2, ["model.width"]),
    (["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=0"], 2, ["hydra.launcher.n_jobs"]),
    (["-m", "optimizer.lr=1e-3,inf"], 2, ["optimizer.lr"]),
    # presets and code: nothing is instantiated, one line naming the file or key
    ([*cd("yaml_syntax"), "experiment=p"], 2, ["yaml_syntax/experiment/p.yaml", "line 3"]),
    ([*cd("tab"), "experiment=p"], 2, ["tab/experiment/p.yaml", "tabs"]),
    ([*cd("pytag"), "experiment=p"], 2, ["pytag/experiment/p.yaml", "python"]),
    ([*cd("callback"), "experiment=p"], 2, ["hydra.callbacks.evil"]),
    ([*cd("replace_callback"), "experiment=p"], 2, ["hydra.callbacks.validate"]),
    ([*cd("nested_target"), "experiment=p"], 2, ["hydra.launcher.extra"]),
    ([*cd("factory"), "experiment=p"], 2, ["hydra.job_logging.formatters.simple.()"]),
    ([*cd("env"), "experiment=p"], 2, ["name", "oc.env"]),
    (["+hydra.callbacks.evil._target_=builtins.print"], 2, ["hydra.callbacks.evil"]),
    (["hydra.callbacks.validate._target_=builtins.print"], 2, ["hydra.callbacks.validate"]),
    (["+model._target_=os.getpid"], 2, ["model._target_"]),
    (["hydra.job_logging.handlers.console.class=logging.handlers.SMTPHandler"], 2, ["SMTP"]),
    (["+hydra.job_logging.handlers.console.filename=/etc/passwd"], 2, ["/etc/passwd"]),
    (["hydra.job_logging.handlers.console.stream=ext://os.sep"], 2, ["ext://os.sep"]),
    (["name=${oc.env:HOME}"], 2, ["name", "oc.env"]),
    (["paths.results_dir=${oc.env:HOME}/r"], 2, ["paths.results_dir", "oc.env"]),
    (["hydra.run.dir=${oc.env:HOME}"], 2, ["hydra.run.dir", "oc.env"]),
    (["--config-dir", "/nonexistent/presets"], 2, ["/nonexistent/presets"]),
    # data (the run folder exists by then: it must be removed again)
    ([*cd("data"), "dataset=missing_file"], 2, ["nothere.csv"]),
    ([*cd("data"), "dataset=bad_target"], 2, ["dataset.target=nope"]),
    ([*cd("data"), "dataset=huge", "preprocess.standardize=false"], 2, ["float32", "'a'"]),
    ([*cd("data"), "dataset=corrupt"], 2, ["corrupt.csv.gz"]),
    ([*cd("data"), "dataset=one_class"], 2, ["one_class", "single class"]),
    (["dataset=iris", "split.n_train=1"], 2, ["split.n_train=1", "single class"]),
    # output folders and paths
    (["paths.results_dir=PRESETS/victim.txt"], 2, ["victim.txt", "not a folder"]),
    (["paths.results_dir=/tmp/résultats"], 2, ["paths.results_dir", "quote"]),
    # usage
    (["--cfg", "jobb"], 2, ["--cfg", "jobb", "--help"]),
    (["--cfg"], 2, ["--cfg", "--help"]),
    (["--bogus"], 2, ["--bogus", "--help"]),
    (["--config-dir"], 2, ["--config-dir needs a value"]),
    (["-m", "--cfg", "job"], 2, ["--cfg", "--multirun"]),
]
if not torch.cuda.is_available():
    RUN.append((["trainer=gpu"], 2, ["trainer.device=cuda"]))

OTHER: list[tuple[list[str], int, list[str]]] = [
    (["trian"], 2, ["trian", "allowed"]),
    (["datasets", "--bogus"], 2, ["--bogus", "--data-dir"]),
    (["datasets", "--data-dir"], 2, ["--data-dir"]),
    (["datasets", "extra"], 2, ["extra"]),
]

CASES = [(["run", *QUICK, *args], code, texts) for args, code, texts in RUN] + OTHER


def _fill(items: list[str], presets: Path, outside: Path) -> list[str]:
    return [a.replace(PRESET, str(presets)).replace(OUT, str(outside)) for a in items]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(c[0][1:])[-60:] for c in CASES])
def test_bad_invocation(index, presets, tmp_path):
    args, code, texts = CASES[index]
    cwd, outside = tmp_path / "cwd", tmp_path / "outside"
    cwd.mkdir()
    outside.mkdir()
    # every other `run` row writes outside the working directory
    sets_results = any(a.startswith("paths.results_dir") for a in args)
    takes_value = args[-1] in ("--config-dir", "--cfg")
    if args[0] == "run" and index % 2 and not sets_results and not takes_value:
        args = [*args, f"paths.results_dir={OUT}/results"]
    res = invoke(_fill(args, presets, outside), cwd)
    line = res.one_line_error()
    assert res.code == code, (res.code, line)
    for text in _fill(texts, presets, outside):
        assert text in line, (text, line)
    assert files_under(cwd) == [], line
    assert files_under(outside) == [], line
    assert (presets / "victim.txt").read_text() == "keep me\n"


def test_table_is_large_enough():
    assert len(CASES) >= 60
    assert {c[0][0] for c in CASES} >= {"run", "datasets"}


def test_options_after_overrides_are_accepted(presets, tmp_path):
    """Hydra wants options before overrides; the CLI reorders them (issue 8, item 3)."""
    res = invoke(
        [
            "run",
            "model.width=3",
            "--config-dir",
            str(presets / "tab"),
            "dataset=iris",
            "--cfg",
            "job",
        ],
        tmp_path,
    )
    assert res.code == 0, res.err
    assert "width: 3" in res.out and "name: iris" in res.out


# `table` and `plot` over a folder with one complete run (RUNS), an empty folder (EMPTY)
# and a file (FILE); nothing may be written into any of them, nor into the working folder.
REPORT: list[tuple[list[str], list[str]]] = [
    (["table"], ["DIR"]),
    (["table", "/nonexistent/runs"], ["/nonexistent/runs"]),
    (["table", "EMPTY"], ["EMPTY"]),
    (["table", "FILE"], ["FILE"]),
    (["table", "RUNS", "--by", "nope"], ["nope"]),
    (["table", "RUNS", "--metrics", "test.nope"], ["test.nope"]),
    (["table", "RUNS", "--select-on", "val.nope"], ["val.nope"]),
    (["table", "RUNS", "--baseline", "nope"], ["--baseline"]),
    (["table", "RUNS", "--bogus"], ["--bogus"]),
    (["table", "RUNS", "--out", "FILE/sub"], ["FILE"]),
    (["plot"], ["DIR"]),
    (["plot", "RUNS"], ["--kind"]),
    (["plot", "RUNS", "--kind", "nope"], ["--kind", "pareto"]),
    (["plot", "/nonexistent/runs", "--kind", "pareto"], ["/nonexistent/runs"]),
    (["plot", "EMPTY", "--kind", "pareto"], ["EMPTY"]),
    (["plot", "RUNS", "--kind", "curves"], ["curves"]),
    (["plot", "RUNS", "--kind", "pareto", "--out", "FILE/sub"], ["FILE"]),
    (["plot", "RUNS", "--kind", "lambda-path", "--select-on", "val.nope"], ["lambda-path"]),
]


@pytest.fixture(scope="module")
def report_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    runs, empty = root / "runs", root / "empty"
    empty.mkdir()
    (root / "file.txt").write_text("not a folder\n")
    res = invoke(
        # no curves.jsonl, so `plot --kind curves` has nothing to draw
        [
            "run",
            *QUICK,
            "trainer.steps=3",
            "trainer.curves=false",
            "dataset=iris",
            f"paths.results_dir={runs}",
        ],
        root,
    )
    assert res.code == 0, res.err
    return {"RUNS": runs, "EMPTY": empty, "FILE": root / "file.txt"}


@pytest.mark.parametrize("index", range(len(REPORT)), ids=[" ".join(c[0]) for c in REPORT])
def test_bad_report_invocation(index, report_dirs, tmp_path):
    args, texts = REPORT[index]

    def fill(items: list[str]) -> list[str]:
        out = []
        for item in items:
            for name, path in report_dirs.items():
                item = item.replace(name, str(path))
            out.append(item)
        return out

    before = {name: files_under(p) if p.is_dir() else None for name, p in report_dirs.items()}
    res = invoke(fill(args), tmp_path)
    line = res.one_line_error()
    assert res.code == 2, (res.code, line)
    for text in fill(texts):
        assert text in line, (text, line)
    assert files_under(tmp_path) == [], line
    after = {name: files_under(p) if p.is_dir() else None for name, p in report_dirs.items()}
    assert after == before, line
    assert report_dirs["FILE"].read_text() == "not a folder\n"


def test_report_table_is_large_enough():
    assert len(CASES) + len(REPORT) >= 60
    assert {c[0][0] for c in CASES} | {c[0][0] for c in REPORT} == {
        "run",
        "datasets",
        "table",
        "plot",
        "trian",
    }
