"""Evaluation during training: learning curves and best-validation checkpoints.

Every `every` optimizer steps (and after the last one) the `Monitor` records, for all
members at once, the training loss (the mean of the mini-batch task losses since the
previous point, without the penalty), the validation loss (the task loss on every
validation row) and the validation metric (accuracy | RMSE). Values stay on the device in
preallocated `(points, E)` tensors (no host synchronisation while training); `curve_rows`
reads them once at the end.

With `keep_best`, each member's parameters at its lowest validation loss so far are kept in
an in-memory copy of the stacked parameters (`torch.where` per member, no Python loop over
members), and `restore_best_` puts them back at the end of training ("early stopping" by
checkpoint selection; L. Prechelt, "Early Stopping - But When?", 1998). Only points at or
after `keep_from` steps are candidates: a pruner whose schedule changes the model during
training (the PSiLON projection) sets it, so the kept model is the pruned one.

With `keep_at` (one step count per member, no validation rows needed) each member's
parameters are kept after exactly that many optimizer steps instead: the refit of
`split.kind=two_stage` reuses the step its setting was best at on validation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from psilon_bench.config import choice
from psilon_bench.engine.plan import MemberData, StepPlan
from psilon_bench.errors import ConfigError
from psilon_bench.measure.metrics import predict, task_loss
from psilon_bench.models.members import MemberModel

#: Learning-curve points a run keeps by default (`trainer.eval_every=null`).
DEFAULT_POINTS = 100
#: ... but never more often than every this many steps: a validation pass costs about one
#: training step, so evaluating every 4-5 steps (100 points of a 450-step run) cost 20-25 %
#: of its training time; every 10 steps at most ~10 %.
MIN_DEFAULT_INTERVAL = 10


def eval_interval(every: int | None, n_steps: int) -> int:
    """`trainer.eval_every`, or null: about `DEFAULT_POINTS` points over `n_steps` steps,
    at least `MIN_DEFAULT_INTERVAL` steps apart."""
    if every is not None:
        return int(every)
    return max(MIN_DEFAULT_INTERVAL, math.ceil(n_steps / DEFAULT_POINTS))


def eval_steps(every: int, n_steps: int) -> list[int]:
    """Step counts (optimizer steps done) at which the monitor evaluates; the last is n_steps."""
    steps = list(range(every, n_steps + 1, every))
    if n_steps > 0 and (not steps or steps[-1] != n_steps):
        steps.append(n_steps)
    return steps


class Monitor:
    """Learning curves and (optionally) each member's best-validation parameters.

    Args:
        val: the members' validation rows, or None (then only the training loss is kept).
        every: evaluate after every `every` optimizer steps (and after the last).
        n_steps: optimizer steps the run makes (fine-tuning included).
        keep_best: keep each member's parameters at its lowest validation loss.
        keep_from: only points after at least this many steps are candidates.
        class_weight: (E, K) class weights of the training loss, or None.
        keep_at: per member, the step count whose parameters are kept (None: the last;
            counts beyond `n_steps` are the last step too), instead of `keep_best`.
    """

    def __init__(
        self,
        val: MemberData | None,
        every: int,
        n_steps: int,
        keep_best: bool = False,
        keep_from: int = 0,
        class_weight: Tensor | None = None,
        keep_at: list[int | None] | None = None,
    ):
        if keep_best and val is None:
            raise ValueError("keep_best needs validation rows")
        self.val, self.keep_best, self.keep_from = val, keep_best, keep_from
        self.class_weight = class_weight
        self.steps = eval_steps(every, n_steps)
        self._due = set(self.steps)
        self._point = 0
        self._since = 0
        self._loss_sum: Tensor | None = None
        self.metric = "accuracy" if val is not None and val.task == "classification" else "rmse"
        self.table: dict[str, Tensor] = {}
        self.best: list[Tensor] | None = None
        self.best_loss: Tensor | None = None
        self.best_step: Tensor | None = None
        self.keep_at = None
        if keep_at is not None:
            at = [-1 if s is None else min(int(s), n_steps) for s in keep_at]
            self.keep_at = torch.tensor(at, dtype=torch.int64)
            self._keep_at_steps = set(at)

    def _columns(self, like: Tensor) -> None:
        shape = (len(self.steps), like.shape[0])
        names = ["train.loss"] + (["val.loss", f"val.{self.metric}"] if self.val else [])
        self.table = {n: torch.full(shape, math.nan, dtype=torch.float64) for n in names}
        self.table = {n: t.to(like.device) for n, t in self.table.items()}

    def after_step(self, model: MemberModel, step_done: int, task_losses: Tensor) -> None:
        """Called after each optimizer step with that step's (E,) mini-batch task losses."""
        losses = task_losses.detach().double()
        if self._loss_sum is None:
            self._columns(losses)
            self._loss_sum = torch.zeros_like(losses)
        self._loss_sum += losses
        self._since += 1
        if self.keep_at is not None and step_done in self._keep_at_steps:
            self._keep_where(model, self.keep_at.to(losses.device) == step_done, step_done)
        if step_done not in self._due:
            return
        row = self._point
        self.table["train.loss"][row] = self._loss_sum / self._since
        self._loss_sum.zero_()
        self._since = 0
        self._point += 1
        if self.val is not None:
            self._evaluate(model, row, step_done)

    @torch.no_grad()
    def _evaluate(self, model: MemberModel, row: int, step_done: int) -> None:
        out = predict(model, self.val.x)
        loss = task_loss(out, self.val.y, self.val.task, self.class_weight).double()
        self.table["val.loss"][row] = loss
        if self.metric == "accuracy":
            metric = (out.argmax(dim=-1) == self.val.y).double().mean(dim=1)
        else:
            metric = (out.squeeze(-1).double() - self.val.y.double()).square().mean(dim=1).sqrt()
        self.table[f"val.{self.metric}"][row] = metric
        if self.keep_best and step_done >= self.keep_from:
            self._keep(model, loss, step_done)

    def _keep(self, model: MemberModel, loss: Tensor, step_done: int) -> None:
        if self.best_loss is None:
            self.best_loss = torch.full_like(loss, math.inf)
        better = loss < self.best_loss  # NaN never is
        self.best_loss = torch.where(better, loss, self.best_loss)
        self._keep_where(model, better, step_done)

    def _keep_where(self, model: MemberModel, better: Tensor, step_done: int) -> None:
        """Keep the parameters of the members where `better` (E,) is True, at `step_done`."""
        params = [p.detach() for p in model.parameters()]
        if self.best is None:
            self.best = [p.clone() for p in params]
            self.best_step = torch.full(better.shape, -1, dtype=torch.int64, device=better.device)
        self.best_step = torch.where(better, step_done, self.best_step)
        for saved, p in zip(self.best, params):
            saved.copy_(torch.where(_member_view(better, p), p, saved))

    @torch.no_grad()
    def restore_best_(self, model: MemberModel) -> None:
        """Put each member's kept parameters back (members never kept stay as they are)."""
        if self.best is None or self.best_step is None:
            return
        kept = self.best_step >= 0
        for p, saved in zip(model.parameters(), self.best):
            p.copy_(torch.where(_member_view(kept, p), saved, p))

    def best_steps(self) -> list[int | None]:
        """Each member's kept step (optimizer steps done), None where nothing was kept."""
        if self.best_step is None:
            return [None] * (self._loss_sum.shape[0] if self._loss_sum is not None else 0)
        return [s if s >= 0 else None for s in self.best_step.cpu().tolist()]

    def curve_rows(self, axes: list[dict[str, Any]], first: int = 0) -> list[dict[str, Any]]:
        """One dict per (member, point): `member` (first + e), the member's `axes[e]` (seed,
        strength, lr, ...), `step` and every column (NaN as None)."""
        host = {n: t[: self._point].cpu().tolist() for n, t in self.table.items()}
        rows = []
        for e, axis_values in enumerate(axes):
            for i, step in enumerate(self.steps[: self._point]):
                point = {"member": first + e, **axis_values, "step": step}
                for name, values in host.items():
                    v = values[i][e]
                    point[name] = v if math.isfinite(v) else None
                rows.append(point)
        return rows


def check_evaluation(cfg: Any, has_val: bool, task: str) -> None:
    """One-line errors: `trainer.keep_best=val` needs validation rows, class weights classes."""
    if choice(cfg.trainer.keep_best) == "val" and not has_val:
        raise ConfigError(
            "trainer.keep_best=val needs validation rows, but split.n_val gives none; "
            "set split.n_val > 0 or trainer.keep_best=none"
        )
    if choice(cfg.trainer.class_weight) == "balanced" and task != "classification":
        raise ConfigError(
            f"trainer.class_weight=balanced needs a classification task; {cfg.dataset.name} "
            "is regression (allowed here: none)"
        )


def build_monitor(
    trainer: Any,
    val: MemberData | None,
    plan: StepPlan,
    pruner: Any,
    class_weight: Tensor | None,
    keep_at: list[int | None] | None = None,
) -> Monitor | None:
    """The monitor of one member chunk from `trainer.*`, or None when the run needs neither
    curves nor checkpoints (`trainer.curves=false`, `trainer.keep_best=none`). `keep_at`:
    keep each member at that step instead of at its best validation loss (no `val`)."""
    keep_best = choice(trainer.keep_best) == "val" and keep_at is None
    if not (trainer.curves or keep_best or keep_at is not None):
        return None
    n_steps = plan.total_steps + (pruner.extra_steps if pruner is not None else 0)
    return Monitor(
        val,
        eval_interval(trainer.eval_every, n_steps),
        n_steps,
        keep_best=keep_best,
        keep_from=pruner.keep_from(plan) if pruner is not None else 0,
        class_weight=class_weight,
        keep_at=keep_at,
    )


def _member_view(mask: Tensor, like: Tensor) -> Tensor:
    return mask.to(like.device).view(-1, *([1] * (like.dim() - 1)))
