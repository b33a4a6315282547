"""`logger=mlflow`: one MLflow run per member, in the experiment `logger.experiment` of the
store `logger.tracking_uri` (MlflowClient's batch calls; `base.member_logs` says what each
run holds).

A folder as `tracking_uri` is a local file store (MLflow 3 keeps that store in maintenance
mode behind `MLFLOW_ALLOW_FILE_STORE`, which is set for this process unless the user set
it). The experiment is created under a lock on the store's folder, so the parallel jobs of
a sweep share one experiment. A run whose logging fails or is interrupted has its MLflow
runs deleted again, so its redo logs every member once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psilon_bench.errors import ConfigError
from psilon_bench.runner.tracking.base import MemberLog, load

FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def store_uri(tracking_uri: str) -> str:
    """A folder -> its absolute `file:` URI; a URI (anything with a `:`) as given."""
    text = str(tracking_uri)
    if ":" in text:
        return text
    return Path(text).absolute().as_uri()


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on a local file store's folder (created if needed); nothing for
    other stores, whose database keeps experiment names unique itself."""
    if not uri.startswith("file:"):
        yield
        return
    from urllib.parse import unquote, urlparse

    folder = Path(unquote(urlparse(uri).path))
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def experiment_id(client: Any, name: str, uri: str) -> str:
    """The id of the active experiment `name`, created if absent."""
    with store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is None:
            return str(client.create_experiment(name))
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f"logger.experiment={name} names a deleted MLflow experiment in {uri}; "
            "restore it (mlflow experiments restore) or choose another logger.experiment"
        )
    return str(found.experiment_id)


def log_members(node: Any, run_dir: Path, run_id: str, logs: Sequence[MemberLog]) -> None:
    """Create one finished MLflow run per member log (named `<run id> <member>`)."""
    uri = store_uri(node.tracking_uri)
    if uri.startswith("file:"):
        os.environ.setdefault(FILE_STORE_ENV, "true")
    load("mlflow")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = experiment_id(client, str(node.experiment), uri)
    created: list[str] = []
    try:
        for log in logs:
            run = client.create_run(exp, run_name=f"{run_id} {log.name}")
            created.append(run.info.run_id)
            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, log.step) for k, v in log.metrics.items()]
            metrics += [Metric(k, v, now, s) for s, values in log.curves for k, v in values.items()]
            params = [Param(k, v) for k, v in log.params.items()]
            tags = [RunTag(k, v) for k, v in log.tags.items()]  # in the batch: one run lookup
            client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
            client.set_terminated(run.info.run_id)
    except BaseException:
        for rid in created:  # nothing of this run stays in the store
            with contextlib.suppress(Exception):  # the store is gone: the error says why
                client.delete_run(rid)
        raise
