"""The value types a training run is given, shared by `train`, `measure` and `pruning`
without an import loop: the members' data (`MemberData`) and the step budget (`StepPlan`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class MemberData:
    """One split for all members: x (E, N, d_in) (an expanded view when members share it),
    y (E, N): class indices (int64) or regression targets (float)."""

    x: Tensor
    y: Tensor
    task: str
    n_classes: int

    @property
    def n_rows(self) -> int:
        return self.x.shape[1]

    def members(self, chunk: slice) -> MemberData:
        """The members `chunk` of this data (views, no copies)."""
        return MemberData(self.x[chunk], self.y[chunk], self.task, self.n_classes)


@dataclass
class StepPlan:
    """How long training runs: `total_steps` optimizer steps, `steps_per_epoch`, `batch` rows."""

    total_steps: int
    steps_per_epoch: int
    batch: int
