"""The member-batched training engine: the loop (`train`), optimizer steps (`optim`),
learning-rate schedules, evaluation during training (`monitor`), [EWN]'s loss-adaptive
rate (`adaptive`), and what a step runs on: threads, memory allocator, progress display.

May import config, models, regularizers, pruning and measure's metrics. `plan` holds the
value types a run is given (`MemberData`, `StepPlan`) and imports only torch: measure and
pruning may read it, and nothing else of the engine.
"""
