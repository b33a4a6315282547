"""Issue 8, GPU: training on CUDA matches CPU within tolerance for every model family, the
SaS table and the Lanczos spectral norm evaluate on the GPU, and a whole sweep runs on
`trainer=gpu`. Skipped (with the
reason) where no CUDA device is visible."""

from __future__ import annotations

import json

import pytest
import torch
from invoke import invoke

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible"),
]

MODELS = ["mlp", "psilon_net", "psilon_resnet", "standard_net", "swn_mlp", "ewn_mlp"]
ARGS = ["trainer=quick", "trainer.steps=20", "seeds=2", "dataset=wine", "trainer.batch_size=null"]


def _records(root):
    return [
        json.loads(line)
        for done in sorted(root.rglob("DONE"))
        for line in (done.parent / "records.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("model", MODELS)
def test_cuda_training_matches_cpu(tmp_path, model):
    runs = {}
    for device in ("cpu", "cuda"):
        cwd = tmp_path / device
        cwd.mkdir()
        res = invoke(
            ["run", *ARGS, f"model={model}", f"trainer.device={device}", "trainer.dtype=float64"],
            cwd,
        )
        assert res.code == 0, res.err
        runs[device] = _records(cwd / "results")
    for cpu, gpu in zip(runs["cpu"], runs["cuda"]):
        assert gpu["env.device"].startswith("cuda")
        for key in ("train.log_loss", "test.log_loss", "path_norm", "lipschitz.spectral"):
            assert gpu[key] == pytest.approx(cpu[key], rel=1e-6, abs=1e-9), key


def test_sas_table_evaluates_on_gpu(tmp_path):
    from psilon_bench.regularizers.stable import StableTable

    table = StableTable(1.5, cache_dir=tmp_path)
    u = torch.logspace(-4, 4, 1000, dtype=torch.float64)
    on_cpu = table.score(u)
    on_gpu = table.score(u.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        table.neg_log_pdf_ratio(u.cuda()).cpu(), table.neg_log_pdf_ratio(u), rtol=1e-12, atol=0
    )


def test_sweep_runs_on_trainer_gpu(tmp_path):
    res = invoke(
        [
            "run",
            "-m",
            "trainer=gpu",
            "trainer.steps=10",
            "trainer.epochs=null",
            "seeds=2",
            "dataset=iris",
            "regularizer=l2,soft_diamond",
        ],
        tmp_path,
    )
    assert res.code == 0, res.err
    records = _records(tmp_path / "results")
    assert len(records) == 4 and {r["env.device"][:4] for r in records} == {"cuda"}
    assert all(r["status"] == "ok" for r in records)


def test_lanczos_spectral_norm_on_gpu():
    """The Lanczos spectral norm (evaluation on the training device) on CUDA: converged,
    equal to the CPU value and to the dense solver's."""
    from psilon_bench.measure import spectral

    w = torch.randn(4, 300, 500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    on_cpu = spectral.spectral_norm(w)
    sigma, converged = spectral.lanczos_spectral_norm(w.cuda())
    assert sigma.device.type == "cuda" and bool(converged.all())
    torch.testing.assert_close(sigma.cpu(), on_cpu, rtol=1e-12, atol=0)
    torch.testing.assert_close(spectral.spectral_norm(w.cuda()).cpu(), on_cpu, rtol=1e-12, atol=0)
    torch.testing.assert_close(on_cpu, spectral.gram_spectral_norm(w), rtol=1e-12, atol=0)
