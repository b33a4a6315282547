"""The member-batched training loop: one forward, backward and optimizer step for E members.

Per step (`fit`): the members' mini-batches (each member its own data order), the task
loss per member plus `lambda_e * R_e`, backward on the sum over members (so each member's
gradient keeps its own scale), the base optimizer step at the scheduled learning rate, the
regularizer's decoupled decay, then the pruning schedule. A member whose loss turns NaN or
inf is frozen where it stands and recorded as diverged; the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from psilon_bench.allocator import keep_freed_memory
from psilon_bench.config import choice
from psilon_bench.models.members import MemberModel, member_generators
from psilon_bench.plan import MemberData, StepPlan
from psilon_bench.schedules import lr_at


@dataclass
class FitResult:
    """What training reports per run and per member."""

    steps: int
    wall_time_s: float
    diverged_step: list[int | None] = field(default_factory=list)
    final_loss: list[float] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_time_s if self.wall_time_s > 0 else float("nan")

    @classmethod
    def combine(cls, parts: list[FitResult]) -> FitResult:
        """Member chunks trained one after another: wall times add up, members line up."""
        return cls(
            steps=parts[0].steps,
            wall_time_s=sum(p.wall_time_s for p in parts),
            diverged_step=[d for p in parts for d in p.diverged_step],
            final_loss=[v for p in parts for v in p.final_loss],
        )


#: Parameters (all members of a chunk together) that still train at full speed batched.
#: Measured on the dev machine (PSiLON Net 11-500-500-500-1, 0.76M parameters a member,
#: batch 400, one thread): 16.9 ms per model-step alone, 16.8 in pairs, 18.1 by four and
#: 19.5 by thirteen: past a few MB of weights plus Adam state the working set leaves the
#: cache and batching stops paying. Small models batch all members at once.
CHUNK_PARAMETERS = 2_000_000


def member_chunks(n_members: int, params_per_member: int, chunk: int | None) -> list[slice]:
    """Consecutive groups of members trained together (`trainer.member_chunk`; None = auto:
    as many as fit `CHUNK_PARAMETERS`, at least one)."""
    size = chunk if chunk is not None else max(1, CHUNK_PARAMETERS // max(params_per_member, 1))
    return [slice(i, min(i + size, n_members)) for i in range(0, n_members, size)]


class StepHook(Protocol):
    """What the loop calls around the optimizer step (regularizers, pruners)."""

    def penalty(self, model: MemberModel) -> Tensor | None: ...  # (E,), already times lambda_e
    def before_step(self, model: MemberModel, lr: float | Tensor) -> Any: ...
    def after_step(self, model: MemberModel, state: Any) -> None: ...


class Pruner(Protocol):
    """`psilon_bench.pruning`: called after every optimizer step and once at the end.

    `extra_steps` optimizer steps (fine-tuning after pruning) run after `plan.total_steps`,
    at the schedule's final learning rate; `on_step_end` sees them as steps >= total_steps.
    """

    extra_steps: int

    def on_step_end(self, model: MemberModel, step: int, plan: StepPlan) -> None: ...
    def on_train_end(self, model: MemberModel, plan: StepPlan) -> None: ...


def plan_steps(
    n_rows: int, batch_size: int | None, epochs: int | None, steps: int | None
) -> StepPlan:
    """Steps per epoch = ceil(N / batch) (the last batch may be short); `steps` wins over `epochs`."""
    batch = n_rows if batch_size is None else min(batch_size, n_rows)
    per_epoch = math.ceil(n_rows / batch)
    total = steps if steps is not None else per_epoch * int(epochs or 1)
    return StepPlan(total_steps=int(total), steps_per_epoch=per_epoch, batch=batch)


def task_loss(out: Tensor, y: Tensor, task: str) -> Tensor:
    """Mean loss per member: cross-entropy (classification) or squared error; out (E, B, K) -> (E,)."""
    E, B, K = out.shape
    if task == "classification":
        ce = torch.nn.functional.cross_entropy(
            out.reshape(E * B, K), y.reshape(E * B), reduction="none"
        )
        return ce.view(E, B).mean(dim=1)
    return (out.squeeze(-1) - y).pow(2).mean(dim=1)


def make_optimizer(
    params: list[torch.nn.Parameter], cfg: Any, lr: float | None = None
) -> torch.optim.Optimizer:
    """The base optimizer with weight_decay = 0 (decay is a regularizer's job); `lr` (default
    `cfg.lr`) is only the initial value: `fit` sets the scheduled rate every step."""
    name = choice(cfg.name)
    lr = cfg.lr if lr is None else lr
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    if name == "adam":
        return torch.optim.Adam(
            params,
            lr=lr,
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
            weight_decay=0.0,
            fused=fused,
        )
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=0.0,
            fused=fused,
        )
    raise ValueError(f"unknown optimizer {name!r}")


class MemberLR:
    """Each member's own peak learning rate on one optimizer over the stacked parameters.

    The base step is elementwise, so member e's update at rate `lr_e` is `lr_e / lr_max`
    times its update at the shared rate `lr_max`: the optimizer steps at the scheduled
    `lr_max`, then `w <- w_prev + s_e (w_hat - w_prev)` (`torch.lerp`, weight
    `s_e = lr_e / lr_max` per member) rescales each member's update. This works with any
    elementwise optimizer (fused Adam/SGD or another); a member at `lr_max` (s = 1) gets
    `w_hat` exactly, and with one shared rate nothing extra runs. The schedule multiplies
    each member's own peak (`scheduled(t)` gives the per-member rates for the regularizer's
    decoupled decay, which runs outside the rescaled update).
    """

    def __init__(self, lrs: Sequence[float], like: Tensor):
        self.peak = max(lrs)
        self.shared = all(lr == lrs[0] for lr in lrs)
        ratio = torch.tensor([lr / self.peak for lr in lrs], dtype=torch.float64)
        self.scale = ratio.to(like.device, like.dtype)  # (E,) s_e

    def scheduled(self, lr: float) -> float | Tensor:
        """The per-member scheduled rates for a shared scheduled rate `lr` of the peak."""
        return lr if self.shared else lr * self.scale

    def before_step(self, params: Sequence[Tensor]) -> list[Tensor] | None:
        if self.shared:
            return None
        return [p.detach().clone() for p in params]

    @torch.no_grad()
    def after_step(self, params: Sequence[Tensor], saved: list[Tensor] | None) -> None:
        if saved is None:
            return
        for p, prev in zip(params, saved):
            weight = self.scale.view(-1, *([1] * (p.dim() - 1)))
            torch.lerp(prev, p, weight.expand_as(p), out=p)


class EpochOrder:
    """Each member's own shuffled order of the training rows, renewed every epoch."""

    def __init__(self, seeds: list[int], n_rows: int, device: torch.device):
        self.gens = member_generators(seeds, "data")
        self.n_rows, self.device = n_rows, device

    def next_epoch(self) -> Tensor:
        """(E, N) int64: row order of each member for one epoch."""
        perms = [torch.randperm(self.n_rows, generator=g) for g in self.gens]
        return torch.stack(perms).to(self.device)


class Divergence:
    """Freezes members whose loss is not finite: their gradients, optimizer state and
    parameters stay as they were at the step the loss went bad."""

    def __init__(self, n_members: int):
        self.step: list[int | None] = [None] * n_members
        self.alive = torch.ones(n_members, dtype=torch.bool)
        self.frozen: dict[int, list[Tensor]] = {}

    @property
    def any_dead(self) -> bool:
        return bool(self.frozen)

    def check(
        self, losses: Tensor, step: int, model: MemberModel, opt: torch.optim.Optimizer
    ) -> None:
        bad = (~torch.isfinite(losses.detach())).cpu()
        for e in torch.nonzero(bad & self.alive).flatten().tolist():
            self.step[e] = step
            self.alive[e] = False
            self.frozen[e] = [p.detach()[e].clone() for p in model.parameters()]
            for state in opt.state.values():
                for t in state.values():
                    if torch.is_tensor(t) and t.dim() > 0 and t.shape[0] == len(self.step):
                        t[e] = 0

    def masked_sum(self, losses: Tensor) -> Tensor:
        if not self.any_dead:
            return losses.sum()
        return torch.where(self.alive.to(losses.device), losses, torch.zeros_like(losses)).sum()

    def zero_dead_grads(self, model: MemberModel) -> None:
        for p in model.parameters():
            if p.grad is not None:
                for e in self.frozen:
                    p.grad[e] = 0

    def restore(self, model: MemberModel) -> None:
        with torch.no_grad():
            for e, saved in self.frozen.items():
                for p, s in zip(model.parameters(), saved):
                    p[e] = s


def fit(
    model: MemberModel,
    data: MemberData,
    seeds: list[int],
    regularizer: StepHook,
    optimizer_cfg: Any,
    schedule_cfg: Any,
    plan: StepPlan,
    pruner: Pruner | None = None,
    progress: bool = False,
    lrs: Sequence[float] | None = None,
) -> FitResult:
    """Train all members of `model` on `data` for `plan.total_steps` optimizer steps.

    `seeds[e]` fixes member e's data order; the regularizer holds each member's strength;
    `lrs[e]` is member e's peak learning rate (default: `optimizer_cfg.lr` for every member).
    """
    keep_freed_memory()
    E = model.n_members
    device = data.x.device
    full_batch = plan.batch == data.n_rows  # every member sees every row: no gather needed
    if full_batch and not data.x.is_contiguous():  # a shared split's expanded view:
        x, y = data.x.contiguous(), data.y.contiguous()  # bmm is faster on a real copy
        data = MemberData(x, y, data.task, data.n_classes)
    params = list(model.parameters())
    member_lr = MemberLR([float(optimizer_cfg.lr)] * E if lrs is None else list(lrs), params[0])
    opt = make_optimizer(params, optimizer_cfg, lr=member_lr.peak)
    order = EpochOrder(seeds, data.n_rows, device)
    members = torch.arange(E, device=device).unsqueeze(1)  # (E, 1)
    divergence = Divergence(E)
    losses = torch.full((E,), float("nan"))
    n_steps = plan.total_steps + (pruner.extra_steps if pruner is not None else 0)
    bar = _ProgressBar(n_steps, E, enabled=progress)
    perm: Tensor | None = None
    t0 = time.perf_counter()
    for step in range(n_steps):
        if full_batch:
            xb, yb = data.x, data.y
        else:
            pos = (step % plan.steps_per_epoch) * plan.batch
            if pos == 0:
                perm = order.next_epoch()
            idx = perm[:, pos : pos + plan.batch]  # (E, b)
            xb, yb = data.x[members, idx], data.y[members, idx]  # (E, b, d_in), (E, b)
        t = min(step, plan.total_steps - 1)  # fine-tune steps (pruner.extra_steps): final lr
        lr = lr_at(t, member_lr.peak, schedule_cfg, plan.total_steps, plan.steps_per_epoch)
        for group in opt.param_groups:
            group["lr"] = lr

        losses = task_loss(model(xb), yb, data.task)  # (E,)
        penalty = regularizer.penalty(model)  # (E,) lambda_e * R_e, or None
        if penalty is not None:
            losses = losses + penalty
        total = divergence.masked_sum(losses)
        if not torch.isfinite(total):
            divergence.check(losses, step, model, opt)
            total = divergence.masked_sum(losses)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if divergence.any_dead:
            divergence.zero_dead_grads(model)
        with torch.no_grad():
            decay_state = regularizer.before_step(model, member_lr.scheduled(lr))
            saved = member_lr.before_step(params)
            opt.step()
            member_lr.after_step(params, saved)
            regularizer.after_step(model, decay_state)
        if pruner is not None:
            pruner.on_step_end(model, step, plan)
        if divergence.any_dead:
            divergence.restore(model)
        bar.update(step, losses, divergence.alive)
    if pruner is not None:
        pruner.on_train_end(model, plan)
        if divergence.any_dead:
            divergence.restore(model)
    wall = time.perf_counter() - t0
    bar.close()
    return FitResult(
        steps=n_steps,
        wall_time_s=wall,
        diverged_step=divergence.step,
        final_loss=losses.detach().cpu().double().tolist(),
    )


class _ProgressBar:
    """A rich progress bar (members, step, mean loss of the live members), updated ~100 times."""

    def __init__(self, total: int, n_members: int, enabled: bool):
        self.enabled = enabled and total > 0
        self.every = max(total // 100, 1)
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(f"[bold]{n_members} member{'s' if n_members != 1 else ''}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps  loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.progress.add_task("train", total=total, loss="-")
        self.progress.start()

    def update(self, step: int, losses: Tensor, alive: Tensor) -> None:
        if not self.enabled or (
            (step + 1) % self.every and step + 1 != self.progress.tasks[0].total
        ):
            return
        live = losses.detach().cpu()[alive]
        loss = f"{live.mean().item():.4f}" if live.numel() else "diverged"
        self.progress.update(self.task, completed=step + 1, loss=loss)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
