"""What a plain numeric run imports, read from the interpreter's own import log
(`PYTHONPROFILEIMPORTTIME`, a behaviour check, not a timing): a bundled or synthetic set
and the run summary need neither pandas nor scikit-learn nor scipy (~0.2 s and more of
import each); a CSV still goes through pandas, which does the work there. The written
records' summary selection (pandas-free) equals the report's pandas selection."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from psilon_bench.report.run_select import select_run
from psilon_bench.runner.summary import _axes, selected_counts, selected_counts_pandas

QUICK = ["trainer=quick", "trainer.steps=20", "seeds=2"]
PRUNED = ["pruning=neuron_norm", "pruning.fraction=[0.0,0.5]", "regularizer=l2"]


def _imported(stderr: str) -> set[str]:
    """Top-level packages named in the import log."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("import time:")]
    return {ln.rsplit("|", 1)[1].strip().split(".")[0] for ln in lines}


@pytest.mark.parametrize(
    "args, needs_pandas",
    [
        ([], False),  # the default experiment, as `psilon-bench run` runs it
        pytest.param(
            ["dataset=sparse_teacher", *QUICK, *PRUNED, "regularizer.strength=[0,1e-2]"],
            False,
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["dataset=csv", "dataset.path=data.csv", *QUICK], True, marks=pytest.mark.slow
        ),
    ],
    ids=["default", "synthetic-pruned", "csv"],
)
def test_numeric_runs_import_no_pandas(tmp_path, args, needs_pandas):
    rows = "".join(f"{i % 7},{(i * 5) % 11},{i % 2}\n" for i in range(60))
    (tmp_path / "data.csv").write_text("a,b,label\n" + rows)
    env = {"PYTHONPROFILEIMPORTTIME": "1", "OMP_NUM_THREADS": "1"}
    res = run_cli(
        ["run", *args, "trainer.progress=off", f"paths.data_dir={tmp_path}"], tmp_path, env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    imported = _imported(res.stderr)
    assert "torch" in imported  # the log is complete
    assert ("pandas" in imported) == needs_pandas
    if not needs_pandas:
        assert not imported & {"sklearn", "scipy", "matplotlib"}
    (path,) = (tmp_path / "results").rglob("records.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert select_run(records) is not None
    axes = _axes(records)
    assert selected_counts(records, axes) == selected_counts_pandas(records, axes)
