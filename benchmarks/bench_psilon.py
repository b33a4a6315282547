"""Section `psilon`: the PSiLON tabular configuration of docs/protocols.md P1 on one thread.

wine_quality (the data folder, else a synthetic regression of the same size), 2000 training
rows, an MLP d_in-500-500-500-1, batch 400, Adam, measured in one run:
- the single-thread float32 matmul peak;
- a plain `nn.Sequential` of `nn.Linear` trained with `torch.optim.Adam` (the baseline);
- PSiLON Net + `path_norm` through `psilon_bench.engine.train.fit` (one member);
- the 13-value lambda grid of P1 as 13 batched members vs 13 sequential one-member runs;
- the batched run with its large products through oneDNN (the default) vs MKL's bmm
  (`PSILON_ONEDNN=0`), in interleaved rounds, medians;
- the peak RSS of the 13-member run (the whole `run_experiment`: data, training,
  evaluation with every metric) in a child process, so the number is that run's alone.
Targets: a PSiLON step at most 1.3x a plain step; both at >= 50 % of the matmul peak;
batched members no slower per model than sequential runs; peak RSS under 2 GB.
GFLOP/s counts the matmul FLOPs of forward and backward (`bench_mlp.mlp_flops_per_step`),
the same for both models: the weight norm's elementwise work is the price, not credited.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from bench_mlp import mlp_flops_per_step
from common import (
    best_of,
    console,
    environment,
    interleaved,
    load_average,
    matmul_peak_gflops,
    median,
    result_table,
)

from psilon_bench import data as data_pkg
from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.train import MemberData, fit, member_chunks, plan_steps
from psilon_bench.models.members import ONEDNN_ENV
from psilon_bench.models.psilon import WeightNormMLP
from psilon_bench.regularizers.path_norm import PathNormPenalty

NAME = "psilon"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LAMBDAS = [5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 1e-1, 2.5e-1, 5e-1]
WIDTH, DEPTH, BATCH, N_TRAIN = 500, 3, 400, 2000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--psilon-steps", type=int, default=40, help="psilon: optimizer steps")


def overrides(steps: int) -> list[str]:
    """The P1 configuration (quick length) as Hydra overrides."""
    if (SHARED_DATA / "wine_quality.csv.gz").exists():
        dataset = ["dataset=wine_quality", f"paths.data_dir={SHARED_DATA}"]
    else:
        dataset = [
            "dataset=synthetic_regression",
            "dataset.synthetic.n_samples=6497",
            "dataset.synthetic.n_features=11",
        ]
    return [
        *dataset,
        "model=psilon_net", f"model.width={WIDTH}", f"model.depth={DEPTH}",
        "regularizer=path_norm", f"regularizer.strength=[{','.join(map(str, LAMBDAS))}]",
        f"split.n_train={N_TRAIN}", "split.n_val=null", "split.n_test=null", "split.keep=20000",
        "seeds=[0]", "trainer=quick", f"trainer.steps={steps}", f"trainer.batch_size={BATCH}",
    ]  # fmt: skip


def compose(steps: int) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from psilon_bench.cli.hydra_app import register

    register()
    GlobalHydra.instance().clear()
    with initialize_config_module("psilon_bench.conf", version_base=None):
        return hydra_compose("config", overrides=overrides(steps))


def training_rows(steps: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    cfg = compose(steps)
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    split = data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=0)
    x = torch.as_tensor(split.X_train, dtype=torch.float32)
    y = torch.as_tensor(split.y_train, dtype=torch.float32)
    return x, y, cfg.dataset.name


def train_plain(x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """The plain way: nn.Sequential of nn.Linear, torch.optim.Adam, squared error."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip([x.shape[1]] + [WIDTH] * DEPTH, [WIDTH] * DEPTH):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(WIDTH, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = x.shape[0]
    perm = torch.randperm(n)
    for step in range(steps):
        pos = (step * BATCH) % n
        if pos == 0:
            perm = torch.randperm(n)
        idx = perm[pos : pos + BATCH]
        loss = (net(x[idx]).squeeze(-1) - y[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def train_psilon(x: torch.Tensor, y: torch.Tensor, steps: int, lambdas: list[float]) -> None:
    """PSiLON Net + path-norm penalty, one member per lambda, through `train.fit`."""
    E = len(lambdas)
    seeds = list(range(E))
    model = WeightNormMLP(x.shape[1], 1, seeds, width=WIDTH, depth=DEPTH)
    data = MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "regression", 0)
    penalty = PathNormPenalty(torch.tensor(lambdas))
    plan = plan_steps(x.shape[0], BATCH, None, steps)
    fit(model, data, seeds, penalty, OptimizerConfig(), ScheduleConfig(), plan)


def train_chunked(x: torch.Tensor, y: torch.Tensor, steps: int, lambdas: list[float]) -> int:
    """The members as `psilon-bench run` trains them: in the groups `train.member_chunks`
    picks (trainer.member_chunk=null); returns the group size."""
    per_member = sum(
        p.numel() for p in WeightNormMLP(x.shape[1], 1, [0], width=WIDTH, depth=DEPTH).parameters()
    )
    chunks = member_chunks(len(lambdas), per_member, None)
    for chunk in chunks:
        train_psilon(x, y, steps, lambdas[chunk])
    return chunks[0].stop - chunks[0].start


def train_chunked_mkl(x: torch.Tensor, y: torch.Tensor, steps: int, lambdas: list[float]) -> int:
    """`train_chunked` with the oneDNN route off (`PSILON_ONEDNN=0`): every product MKL's bmm."""
    with environment({ONEDNN_ENV: "0"}):
        return train_chunked(x, y, steps, lambdas)


def peak_rss_of_run(steps: int) -> dict[str, Any]:
    """Run the 13-member experiment in a child; it reports its own peak RSS (ru_maxrss)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child-run", str(steps)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_run(steps: int) -> None:
    from psilon_bench.runner.experiment import run_experiment

    with tempfile.TemporaryDirectory() as tmp:
        records = run_experiment(compose(steps), Path(tmp), threads=1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak_rss_bytes": rss, "members": len(records)}))


def run(args: argparse.Namespace) -> dict[str, Any]:
    steps = args.psilon_steps
    x, y, dataset = training_rows(steps)
    sizes = [x.shape[1]] + [WIDTH] * DEPTH + [1]
    flops = mlp_flops_per_step(sizes, BATCH) * steps  # matmul FLOPs of one model's run
    peak = matmul_peak_gflops()
    E = len(LAMBDAS)
    t_plain = best_of(args.repeats, lambda: train_plain(x, y, steps))
    t_psilon = best_of(args.repeats, lambda: train_psilon(x, y, steps, LAMBDAS[4:5]))
    t_one_batch = best_of(args.repeats, lambda: train_psilon(x, y, steps, LAMBDAS))
    chunk = train_chunked(x, y, 1, LAMBDAS)
    t_batched = best_of(args.repeats, lambda: train_chunked(x, y, steps, LAMBDAS))
    t_sequential = best_of(
        args.repeats, lambda: [train_psilon(x, y, steps, [lam]) for lam in LAMBDAS]
    )
    paths = interleaved(
        args.repeats,
        {
            "oneDNN": lambda: train_chunked(x, y, steps, LAMBDAS),
            "MKL": lambda: train_chunked_mkl(x, y, steps, LAMBDAS),
        },
    )
    t_dnn, t_mkl = median(paths["oneDNN"]), median(paths["MKL"])
    memory = peak_rss_of_run(steps)

    rows = {
        "plain (nn.Linear)": (t_plain, 1),
        "PSiLON, 1 member": (t_psilon, 1),
        f"PSiLON, {E} in one batch": (t_one_batch, E),
        f"PSiLON, {E} batched by {chunk} (auto)": (t_batched, E),
        f"PSiLON, {E} sequential": (t_sequential, E),
        f"PSiLON, {E} batched by {chunk}, oneDNN (median)": (t_dnn, E),
        f"PSiLON, {E} batched by {chunk}, MKL only (PSILON_ONEDNN=0, median)": (t_mkl, E),
    }
    table = result_table(
        f"PSiLON tabular (P1): {dataset}, {x.shape[0]} rows, MLP {'-'.join(map(str, sizes))}, "
        f"batch {BATCH}, Adam, {steps} steps, one thread",
        ["way", "ms / model-step", "steps / s", "GFLOP/s", "% of matmul peak", "vs plain"],
    )
    out: dict[str, Any] = {"dataset": dataset, "rows": x.shape[0], "steps": steps}
    out["peak_gflops"] = peak
    for way, (t, models) in rows.items():
        per_step = t / (steps * models)
        gflops = flops * models / t / 1e9
        ratio = per_step / (t_plain / steps)
        out[way] = {"s_per_model_step": per_step, "gflops": gflops, "vs_plain": ratio}
        table.add_row(
            way,
            f"{per_step * 1e3:.2f}",
            f"{1 / per_step:.1f}",
            f"{gflops:.1f}",
            f"{100 * gflops / peak:.1f} %",
            f"{ratio:.2f}x",
        )
    console.print(table)
    out["psilon_over_plain"] = t_psilon / t_plain
    out["sequential_over_batched"] = t_sequential / t_batched
    out["sequential_over_one_batch"] = t_sequential / t_one_batch
    out["member_chunk"] = chunk
    out["mkl_over_onednn"] = t_mkl / t_dnn
    out["mkl_over_onednn_rounds"] = {"oneDNN": paths["oneDNN"], "MKL": paths["MKL"]}
    out["load_average"] = load_average()
    out["peak_rss_bytes_13_members"] = memory["peak_rss_bytes"]
    console.print(
        f"single-thread float32 matmul peak (1024^3): {peak:.1f} GFLOP/s; "
        f"PSiLON / plain step: {t_psilon / t_plain:.2f}x (target <= 1.3x); "
        f"sequential / batched (auto chunks of {chunk}): {t_sequential / t_batched:.2f}x (target >= 1; "
        f"all {E} in one batch: {t_sequential / t_one_batch:.2f}x); "
        f"peak RSS of the {E}-member run: {memory['peak_rss_bytes'] / 2**20:.0f} MiB (target < 2 GiB); "
        f"batched step MKL only / oneDNN route: {t_mkl / t_dnn:.2f}x "
        f"({args.repeats} interleaved rounds, load {out['load_average']:.2f})"
    )
    return out


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child-run":
    torch.set_num_threads(1)
    child_run(int(sys.argv[2]))
