"""What a record reports (docs/methods.md (metrics)): task metrics (`metrics`), sparsity (`sparsity`),
Lipschitz bounds (`lipschitz`), `evaluate`, which turns trained members into records, and
the metrics of an ensemble of members (`ensemble`).

May import `models`, `config`, `errors` and the engine's value types (`engine.plan`); never
the training loop."""
