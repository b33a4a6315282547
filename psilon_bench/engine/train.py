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

from psilon_bench.engine.adaptive import LossAdaptive, log_cross_entropy
from psilon_bench.engine.allocator import keep_freed_memory
from psilon_bench.engine.monitor import Monitor
from psilon_bench.engine.optim import MemberOptimizer, make_optimizer
from psilon_bench.engine.plan import MemberData, StepPlan
from psilon_bench.engine.progress import ChunkProgress, RunProgress
from psilon_bench.engine.schedules import lr_at
from psilon_bench.measure.metrics import task_loss
from psilon_bench.models.members import MemberModel, member_generators


@dataclass
class FitResult:
    """What training reports per run and per member."""

    steps: int
    wall_time_s: float
    diverged_step: list[int | None] = field(default_factory=list)
    final_loss: list[float] = field(default_factory=list)
    best_step: list[int | None] = field(default_factory=list)  # trainer.keep_best, per member
    curves: list[dict[str, Any]] = field(default_factory=list)  # learning-curve points

    def best_step_of(self, e: int) -> int | None:
        return self.best_step[e] if self.best_step else None

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
            best_step=[b for p in parts for b in p.best_step],
            curves=[c for p in parts for c in p.curves],
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


def largest_step_tensor(model: MemberModel, batch: int) -> int:
    """Bytes of the largest tensor a step allocates, about: a stacked parameter (its
    gradient, Adam's moments) or a layer's activations `(E, batch, width)`."""
    params = list(model.parameters())
    widest = max((p.shape[1] for p in params if p.dim() == 3), default=1)
    size = params[0].element_size() if params else 4
    return max([p.numel() * size for p in params] + [model.n_members * batch * widest * size])


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
    def keep_from(self, plan: StepPlan) -> int: ...  # first step count a checkpoint may be


def plan_steps(
    n_rows: int,
    batch_size: int | None,
    epochs: int | None,
    steps: int | None,
    min_steps: int | None = None,
    max_steps: int | None = None,
) -> StepPlan:
    """Steps per epoch = ceil(N / batch) (the last batch may be short); `steps` wins over `epochs`.
    An epoch budget is clipped to [min_steps, max_steps] (either may be None): a budget that
    grows with the data between a floor for tiny sets and a ceiling for the cost."""
    batch = n_rows if batch_size is None else min(batch_size, n_rows)
    per_epoch = math.ceil(n_rows / batch)
    if steps is not None:
        return StepPlan(total_steps=int(steps), steps_per_epoch=per_epoch, batch=batch)
    total = per_epoch * int(epochs or 1)
    if min_steps is not None:
        total = max(total, int(min_steps))
    if max_steps is not None:
        total = min(total, int(max_steps))
    return StepPlan(total_steps=int(total), steps_per_epoch=per_epoch, batch=batch)


def balanced_class_weights(y: Tensor, n_classes: int) -> Tensor:
    """`trainer.class_weight=balanced`: w_c = n / (K n_c) from each member's training labels
    y (E, N) -> (E, K) (scikit-learn's "balanced" rule; the weights average 1 over the rows).
    A class absent from a member's rows gets weight 0."""
    counts = torch.zeros(y.shape[0], n_classes, dtype=torch.float64, device=y.device)
    counts.scatter_add_(1, y, torch.ones_like(y, dtype=torch.float64))
    weights = y.shape[1] / (n_classes * counts)
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


class MemberLR:
    """Each member's own peak learning rate (`optimizer.lr` a list) under the shared schedule.

    `at(t)` gives the step's rate: a float when every member has the same peak, else one
    float per member, each `lr_at(t, peak_e)` as a one-member run with that peak computes
    it; the optimizer steps each member at its own rate (`psilon_bench.engine.optim`), and the
    regularizer's decoupled decay gets them as a tensor.
    """

    def __init__(self, peaks: Sequence[float], schedule_cfg: Any, plan: StepPlan):
        self.peaks = [float(p) for p in peaks]
        self.shared = len(set(self.peaks)) == 1
        self.schedule_cfg, self.plan = schedule_cfg, plan

    def at(self, t: int) -> float | list[float]:
        def rate(peak: float) -> float:
            return lr_at(
                t, peak, self.schedule_cfg, self.plan.total_steps, self.plan.steps_per_epoch
            )

        if self.shared:
            return rate(self.peaks[0])
        by_peak = {p: rate(p) for p in set(self.peaks)}
        return [by_peak[p] for p in self.peaks]

    @staticmethod
    def for_regularizer(lr: float | list[float], like: Tensor) -> float | Tensor:
        return (
            lr if isinstance(lr, float) else torch.tensor(lr, dtype=like.dtype, device=like.device)
        )


class EpochOrder:
    """Each member's own shuffled order of the training rows, renewed every epoch."""

    def __init__(self, seeds: list[int], n_rows: int, device: torch.device):
        self.gens = member_generators(seeds, "data")
        self.n_rows, self.device = n_rows, device

    def next_epoch(self) -> Tensor:
        """(E, N) int64: row order of each member for one epoch."""
        perms = [torch.randperm(self.n_rows, generator=g) for g in self.gens]
        return torch.stack(perms).to(self.device)


#: On an accelerator the loop reads the divergence flags every this many steps (a read is a
#: host sync that stalls the queue); on CPU it checks every step, which costs no sync.
DIVERGENCE_CHECK_EVERY = 25


class Divergence:
    """Freezes members whose loss is not finite: their gradients, optimizer state and
    parameters stay as they were at the step the loss went bad.

    `check_every = 1` (CPU): `check` before the backward pass of the step the loss went bad.
    `check_every > 1` (accelerators): `record` notes the first bad step of each member on the
    device (no host sync) and `sync`, every `check_every` steps, freezes the members found at
    the parameters they had at the previous sync (`diverged_step` is the same).
    """

    def __init__(self, n_members: int, device: torch.device, check_every: int = 1):
        self.step: list[int | None] = [None] * n_members
        self.alive = torch.ones(n_members, dtype=torch.bool)
        self.frozen: dict[int, list[Tensor]] = {}
        self.check_every = check_every
        self.first_bad = torch.full((n_members,), -1, dtype=torch.int64, device=device)
        self.live = torch.ones(n_members, dtype=torch.bool, device=device)
        self.snapshot: list[Tensor] = []

    @property
    def any_dead(self) -> bool:
        return bool(self.frozen)

    def check(self, losses: Tensor, step: int, model: MemberModel, opt: MemberOptimizer) -> None:
        bad = (~torch.isfinite(losses.detach())).cpu()
        newly = torch.nonzero(bad & self.alive).flatten().tolist()
        self._freeze(newly, step, [p.detach() for p in model.parameters()], opt)

    def _freeze(
        self, newly: list[int], step: int | list[int], saved: list[Tensor], opt: MemberOptimizer
    ) -> None:
        for e in newly:
            self.step[e] = step if isinstance(step, int) else step[e]
            self.alive[e] = False
            self.frozen[e] = [p[e].clone() for p in saved]
            for state in opt.state.values():
                for t in state.values():
                    if torch.is_tensor(t) and t.dim() > 0 and t.shape[0] == len(self.step):
                        t[e] = 0

    def record(self, losses: Tensor, step: int) -> Tensor:
        """Note non-finite losses on the device; the loss sum over the live members."""
        bad = ~torch.isfinite(losses.detach())
        self.first_bad = torch.where(bad & self.live, step, self.first_bad)
        self.live = self.live & ~bad
        return torch.where(self.live, losses, torch.zeros_like(losses)).sum()

    def sync(self, model: MemberModel, opt: MemberOptimizer) -> None:
        """Freeze the members `record` found bad since the last sync (one host read)."""
        params = [p.detach() for p in model.parameters()]
        if self.snapshot:
            first = self.first_bad.cpu().tolist()
            newly = [e for e, s in enumerate(first) if s >= 0 and self.step[e] is None]
            self._freeze(newly, first, self.snapshot, opt)
            if newly:
                self.restore(model)
        self.snapshot = [p.clone() for p in params]

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
    progress: ChunkProgress | None = None,
    lrs: Sequence[float] | None = None,
    check_every: int | None = None,
    loss_adaptive: bool = False,
    class_weight: Tensor | None = None,
    monitor: Monitor | None = None,
) -> FitResult:
    """Train all members of `model` on `data` for `plan.total_steps` optimizer steps.

    `seeds[e]` fixes member e's data order; the regularizer holds each member's strength;
    `lrs[e]` is member e's peak learning rate (default: `optimizer_cfg.lr` for every member).
    `check_every`: divergence checks (see `Divergence`); None: 1 on CPU, else
    `DIVERGENCE_CHECK_EVERY`. `loss_adaptive`: [EWN]'s loss-adaptive learning rate
    (`psilon_bench.engine.adaptive`; divergence is then checked every step). `class_weight` (E, K)
    weights each row's cross-entropy by its class. A `monitor` sees every step's task
    losses; its best checkpoints are restored before the pruner's final step.
    """
    E = model.n_members
    keep_freed_memory(largest_step_tensor(model, plan.batch))
    device = data.x.device
    full_batch = plan.batch == data.n_rows  # every member sees every row: no gather needed
    if full_batch and not data.x.is_contiguous():  # a shared split's expanded view:
        x, y = data.x.contiguous(), data.y.contiguous()  # bmm is faster on a real copy
        data = MemberData(x, y, data.task, data.n_classes)
    params = list(model.parameters())
    member_lr = MemberLR([optimizer_cfg.lr] * E if lrs is None else list(lrs), schedule_cfg, plan)
    opt = make_optimizer(params, optimizer_cfg)
    order = EpochOrder(seeds, data.n_rows, device)
    members = torch.arange(E, device=device).unsqueeze(1)  # (E, 1)
    if check_every is None:
        check_every = 1 if device.type == "cpu" else DIVERGENCE_CHECK_EVERY
    if loss_adaptive:
        check_every = 1  # a non-finite member waits for its epoch to be undone, not frozen
    divergence = Divergence(E, device, check_every)
    if check_every > 1:
        divergence.sync(model, opt)  # the first snapshot
    losses = torch.full((E,), float("nan"))
    n_steps = plan.total_steps + (pruner.extra_steps if pruner is not None else 0)
    bar = progress if progress is not None else RunProgress(E, enabled=False).chunk(slice(0, E))
    bar.begin(n_steps)
    adaptive = LossAdaptive(model, data) if loss_adaptive else None
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
        lr = member_lr.at(t)

        out = model(xb)
        penalty = regularizer.penalty(model)  # (E,) lambda_e * R_e, or None
        fitted = None
        if adaptive is None:
            losses = fitted = task_loss(out, yb, data.task, class_weight)  # (E,)
            if penalty is not None:
                losses = losses + penalty
        else:  # the gradient of m_e (L + penalty) / L_e: a per-member learning rate
            losses = adaptive.objective(log_cross_entropy(out, yb), penalty)
        if check_every > 1:
            total = divergence.record(losses, step)  # no host sync
        else:
            total = divergence.masked_sum(losses)
            if not torch.isfinite(total) and adaptive is not None:
                adaptive.skip(losses)  # these members wait for the epoch's end, which undoes it
                losses = torch.where(adaptive.skipped, torch.zeros_like(losses), losses)
            total = divergence.masked_sum(losses)
            if not torch.isfinite(total):  # on CPU a plain read, not a device sync
                divergence.check(losses, step, model, opt)
                total = divergence.masked_sum(losses)
        opt.zero_grad()
        total.backward()
        if divergence.any_dead:
            divergence.zero_dead_grads(model)
        if adaptive is not None and adaptive.any_skipped:
            adaptive.zero_skipped_grads(model)
        with torch.no_grad():
            decay_state = regularizer.before_step(model, member_lr.for_regularizer(lr, params[0]))
            opt.step(lr)
            regularizer.after_step(model, decay_state)
        if adaptive is not None and (step + 1) % plan.steps_per_epoch == 0:
            adaptive.end_epoch(model)
        if pruner is not None:
            pruner.on_step_end(model, step, plan)
        if divergence.any_dead:
            divergence.restore(model)
        if check_every > 1 and ((step + 1) % check_every == 0 or step + 1 == n_steps):
            divergence.sync(model, opt)
        if monitor is not None:
            if fitted is None:  # loss-adaptive: its objective is not the task loss
                fitted = task_loss(out.detach(), yb, data.task, class_weight)
            monitor.after_step(model, step + 1, fitted)
        bar.update(step, losses, divergence.alive)
    if monitor is not None:
        monitor.restore_best_(model)
    if adaptive is not None:  # report the training loss itself (it may be far below 1e-38)
        losses = adaptive.full_log_loss(model).double().exp()
    if pruner is not None:
        pruner.on_train_end(model, plan)
        if divergence.any_dead:
            divergence.restore(model)
    wall = time.perf_counter() - t0
    bar.end()
    return FitResult(
        steps=n_steps,
        wall_time_s=wall,
        diverged_step=divergence.step,
        final_loss=losses.detach().cpu().double().tolist(),
        best_step=monitor.best_steps() if monitor is not None else [None] * E,
    )
