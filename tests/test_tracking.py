"""Experiment tracking (`logger=mlflow | tensorboard`): real runs log to a real MLflow file
store and real TensorBoard event files, read back with MLflow's own `search_runs` /
`get_metric_history` and TensorBoard's `EventAccumulator`, and compared with the run's
records.jsonl and curves.jsonl. Plus: a missing package is a one-line error, a store that
cannot be written leaves no run behind, `logger.*` is not in the config hash, and a
resumed sweep logs no member twice."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compose_config, run_cli

from psilon_bench.records import io
from psilon_bench.records.provenance import config_hash
from psilon_bench.runner.experiment import run_experiment
from psilon_bench.runner.tracking.base import TrackingError

mlflow = pytest.importorskip("mlflow", reason="the [mlflow] extra is not installed")

#: 2 seeds x 2 strengths on breast_cancer, a few epochs: 4 members
SMALL = [
    "seeds=2",
    "regularizer=l2",
    "regularizer.strength=[1e-3,1e-2]",
    "trainer.epochs=4",
    "trainer.progress=off",
    "trainer.threads=1",
]


@pytest.fixture(autouse=True)
def _file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in, as the run sets


def _run(tmp_path: Path, overrides: list[str]) -> tuple[Path, list[dict], list[dict]]:
    run_dir = tmp_path / "run"
    cfg = compose_config([*SMALL, f"paths.results_dir={tmp_path / 'results'}", *overrides])
    run_experiment(cfg, run_dir)
    records = io.read_records(run_dir)
    curves = io.read_jsonl(run_dir / io.CURVES) if (run_dir / io.CURVES).exists() else []
    return run_dir, records, curves


def _text(value) -> str:
    """How a parameter value reads (null, true/false, the number or string as written)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _numbers(record: dict) -> dict[str, float]:
    axes = {"member", "seed", "split_seed", "strength", "lr", "fold", "prune.amount"}
    return {
        k: float(v)
        for k, v in record.items()
        if not k.startswith("cfg.")
        and k not in axes
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def _curve(curves: list[dict], member: int, column: str) -> list[tuple[int, float]]:
    return [
        (c["step"], c[column]) for c in curves if c["member"] == member and c[column] is not None
    ]


def _same_curve(got: list[tuple[int, float]], want: list[tuple[int, float]], rel: float) -> None:
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=rel)


def test_mlflow_one_run_per_member_holds_its_record_and_curves(tmp_path):
    store = tmp_path / "mlruns"
    run_dir, records, curves = _run(
        tmp_path, ["logger=mlflow", f"logger.tracking_uri={store}", "logger.experiment=exp"]
    )
    assert len(records) == 4 and curves
    mlflow.set_tracking_uri(store.as_uri())
    runs = mlflow.search_runs(experiment_names=["exp"], output_format="list")
    assert len(runs) == 4
    by_member = {int(r.data.tags["member"]): r for r in runs}
    client = mlflow.tracking.MlflowClient(tracking_uri=store.as_uri())
    for record in records:
        run = by_member[record["member"]]
        assert run.info.status == "FINISHED"
        params = run.data.params
        # the member's config: every cfg.* key, its own strength in place of the run's list
        for key, value in record.items():
            if key.startswith("cfg.") and key != "cfg.regularizer.strength":
                assert params[key[4:]] == _text(value), key
        assert params["regularizer.strength"] == str(record["strength"])
        assert json.loads(record["cfg.regularizer.strength"]) == [1e-3, 1e-2]
        for axis in ("member", "seed", "strength", "split_seed"):
            assert params[axis] == str(record[axis])
        # metrics: the record's numbers, exactly
        metrics = _numbers(record)
        assert "test.accuracy" in metrics and "val.log_loss" in metrics
        logged = {k: v for k, v in run.data.metrics.items() if not k.startswith("curve/")}
        assert logged == pytest.approx(metrics, rel=1e-12)
        tags = run.data.tags
        assert tags["run_id"] == record["run_id"] == run_dir.name
        assert tags["run_dir"] == str(run_dir.absolute())
        assert tags["method"] == "mlp+l2" and tags["status"] == "ok"
        assert tags["config_hash"] == record["config_hash"] and "sweep" not in tags
        # the learning curves as step metrics, every point of curves.jsonl
        for column in ("train.loss", "val.loss", "val.accuracy"):
            history = client.get_metric_history(run.info.run_id, f"curve/{column}")
            got = sorted((m.step, m.value) for m in history)
            _same_curve(got, _curve(curves, record["member"], column), rel=1e-12)
            assert len(got) > 1


def test_tensorboard_event_folder_per_member_and_pruning_amounts(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pruned = ["pruning=neuron_norm", "pruning.fraction=[0.0,0.5]", "logger=tensorboard"]
    run_dir, records, curves = _run(tmp_path, pruned)
    assert len(records) == 8  # 4 members x 2 pruning amounts, one event folder each
    root = run_dir / io.TENSORBOARD
    assert sorted(p.name for p in root.iterdir()) == sorted(
        f"member_{m}_pruned_{a:g}" for m in range(4) for a in (0.0, 0.5)
    )
    assert io.run_state(run_dir) == "done"  # the folder is part of the run, not foreign
    for record in records:
        folder = root / f"member_{record['member']}_pruned_{record['prune.amount']:g}"
        events = EventAccumulator(str(folder)).Reload()
        for key, value in _numbers(record).items():
            (point,) = events.Scalars(key)
            assert point.value == pytest.approx(value, rel=1e-6, abs=1e-30), key
            assert point.step == record["time.steps"]
        for column in ("train.loss", "val.loss", "val.accuracy"):
            got = [(s.step, s.value) for s in events.Scalars(f"curve/{column}")]
            _same_curve(got, _curve(curves, record["member"], column), rel=1e-6)
        assert "params/text_summary" in events.Tags()["tensors"]


def test_tensorboard_save_dir_and_no_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    save = tmp_path / "tb"
    overrides = ["logger=tensorboard", f"logger.save_dir={save}", "logger.curves=false"]
    run_dir, records, curves = _run(tmp_path, overrides)
    assert not (run_dir / io.TENSORBOARD).exists()
    folders = sorted(p.name for p in (save / run_dir.name).iterdir())
    assert folders == [f"member_{e}" for e in range(4)]
    events = EventAccumulator(str(save / run_dir.name / "member_3")).Reload()
    assert [s.value for s in events.Scalars("test.accuracy")] == pytest.approx(
        [records[3]["test.accuracy"]], rel=1e-6
    )
    scalars = events.Tags()["scalars"]
    assert curves and not [t for t in scalars if t.startswith("curve/")]  # logger.curves=false


def test_logger_is_not_in_the_config_hash():
    """Adding a logger to a finished sweep skips its jobs, as `summary.*` does."""
    plain = config_hash(compose_config([]))
    assert config_hash(compose_config(["logger=mlflow"])) == plain
    assert config_hash(compose_config(["logger=tensorboard", "logger.save_dir=x"])) == plain


def test_missing_package_is_one_line_naming_the_key_and_the_install(tmp_path):
    """The package made unimportable (`sys.modules[name] = None`, Python's own way to say a
    module is absent): refused before anything is written."""
    for name in ("mlflow", "tensorboard"):
        code = (
            f"import sys; sys.modules[{name!r}] = None; "
            "from psilon_bench.cli.main import main; "
            f"sys.exit(main(['run', 'logger={name}', 'trainer.epochs=1']))"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
        )
        assert res.returncode == 2, res.stderr[-2000:]
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert f"logger={name}" in lines[0]
        assert f"pip install 'psilon-bench[{name}]'" in lines[0]
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.*"))


def test_a_store_that_cannot_be_written_leaves_no_run(tmp_path):
    """The store's folder runs through a file: one line naming the logger, and the run
    folder holds no file (the command line then removes it, as after any user error)."""
    (tmp_path / "afile").write_text("")
    with pytest.raises(TrackingError) as err:
        _run(tmp_path, ["logger=mlflow", f"logger.tracking_uri={tmp_path / 'afile' / 'x'}"])
    assert str(err.value).startswith("logger=mlflow could not log run ")
    assert "\n" not in str(err.value) and "afile" in str(err.value)
    assert io.run_state(tmp_path / "run") == "empty"


def test_sweep_logs_each_member_once_and_resumes(tmp_path):
    """A -m sweep through the CLI: one MLflow run per member of each job, tagged with the
    sweep folder; re-running it skips both jobs and logs nothing twice."""
    sweep = tmp_path / "sweep"
    args = [
        "run",
        "-m",
        "regularizer=l2",
        "regularizer.strength=1e-3,1e-2",
        "seeds=2",
        "trainer.epochs=2",
        "trainer.progress=off",
        "logger=mlflow",
        "logger.experiment=swept",
        f"hydra.sweep.dir={sweep}",
    ]
    first = run_cli(args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_cli(args, tmp_path)
    assert again.returncode == 0 and "skipped" in again.stdout, again.stdout
    mlflow.set_tracking_uri((tmp_path / "results" / "mlruns").as_uri())
    runs = mlflow.search_runs(experiment_names=["swept"], output_format="pandas")
    assert len(runs) == 4  # 2 jobs x 2 seeds, once each
    assert set(runs["tags.sweep"]) == {str(sweep)}
    assert set(runs["tags.run_id"]) == {f"sweep/{job}" for job in (0, 1)}
    for job in (0, 1):
        records = io.read_records(sweep / str(job))
        mine = runs[runs["tags.run_id"] == f"sweep/{job}"]
        assert sorted(mine["params.strength"]) == sorted(str(r["strength"]) for r in records)
        for r in records:
            row = mine[mine["tags.member"] == str(r["member"])].iloc[0]
            assert row["metrics.test.accuracy"] == pytest.approx(r["test.accuracy"], rel=1e-12)


def test_mlflow_member_beyond_one_batch_is_written_whole(tmp_path):
    """A member with more parameters (150) and metrics (2 x 1200 curve points) than one MLflow
    batch holds is split into batches and read back whole, each curve in step order."""
    from omegaconf import OmegaConf

    from psilon_bench.runner.tracking.base import MemberLog
    from psilon_bench.runner.tracking.mlflow_runs import batches, log_members

    params = {f"p{i:03d}": str(i) for i in range(150)}
    curves = [(s, {"curve/a": s / 7, "curve/b": -s / 3}) for s in range(1200)]
    log = MemberLog("member_0", params, {"test.accuracy": 0.5}, {"t": "x"}, 1199, curves)
    store = tmp_path / "mlruns"
    node = OmegaConf.create({"tracking_uri": str(store), "experiment": "big"})
    log_members(node, tmp_path, "run1", [log])
    client = mlflow.tracking.MlflowClient(tracking_uri=store.as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("big").experiment_id])
    assert run.data.params == params and run.data.tags["t"] == "x"
    assert run.data.metrics["test.accuracy"] == 0.5 and run.info.status == "FINISHED"
    for key, sign, div in (("curve/a", 1, 7), ("curve/b", -1, 3)):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert history == [(s, pytest.approx(sign * s / div, rel=1e-12)) for s in range(1200)]
    # the pieces: at most 100 parameters, 100 tags and 1000 entities each, nothing lost
    parts = list(batches(list(range(2401)), list(range(150)), list(range(5))))
    assert all(len(p) <= 100 and len(t) <= 100 and len(m) + len(p) + len(t) <= 1000
               for m, p, t in parts)  # fmt: skip
    assert [x for m, _, _ in parts for x in m] == list(range(2401))
    assert [x for _, p, _ in parts for x in p] == list(range(150))
