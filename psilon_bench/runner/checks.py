"""Every rule a job's config must pass before anything is written: the config layer's own
(`config.validation.validate`: declared ranges and cross-field rules), then the rules of the
chosen model family that only it knows (a baseline's, kept beside its estimators), whether
`ensemble: k` can be formed (`runner.ensemble`) and the chosen logger's package
(`tracking.check`). The Hydra
callback runs it on every job before Hydra creates a folder; `run_experiment` runs it again
for callers that skip Hydra."""

from __future__ import annotations

from typing import Any

from psilon_bench import baselines
from psilon_bench.config.validation import validate
from psilon_bench.runner import tracking
from psilon_bench.runner.ensemble import check_ensemble


def check_job(cfg: Any) -> None:
    """Raise ConfigError (one line naming the key) unless `cfg` may run."""
    validate(cfg)
    if baselines.is_baseline(cfg.model):
        baselines.check_config(cfg)
    check_ensemble(cfg)
    tracking.check(cfg)
