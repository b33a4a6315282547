"""`logger=mlflow`: one MLflow run per member, in the experiment `logger.experiment` of the
store `logger.tracking_uri` (MlflowClient's batch calls; `base.member_logs` says what each
run holds).

A folder as `tracking_uri` is a local file store (MLflow 3 keeps that store in maintenance
mode behind `MLFLOW_ALLOW_FILE_STORE`, which is set for this process unless the user set
it). The experiment is created under a lock on the store's folder, so the parallel jobs of
a sweep share one experiment. The members are written through the store's own API with the
experiment's folder looked up once (`cached_file_store`): the stock store looks it up again
for every metric and parameter, a listing of the store's root each time, which was most of
the logging time of a run. A run whose logging fails or is interrupted has its MLflow runs
deleted again, so its redo logs every member once.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
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


def batches(metrics: list, params: list, tags: list) -> Iterator[tuple[list, list, list]]:
    """(metrics, params, tags) in pieces within what one MLflow batch may hold (at most 100
    parameters, 100 tags and 1000 entities in all), in order; what MlflowClient.log_batch
    does before it calls the store."""
    from mlflow.utils.validation import (
        MAX_ENTITIES_PER_BATCH,
        MAX_METRICS_PER_BATCH,
        MAX_PARAMS_TAGS_PER_BATCH,
    )

    size = MAX_PARAMS_TAGS_PER_BATCH
    p_parts = [params[i : i + size] for i in range(0, len(params), size)]
    t_parts = [tags[i : i + size] for i in range(0, len(tags), size)]
    rest = list(metrics)
    for p, t in itertools.zip_longest(p_parts, t_parts, fillvalue=[]):
        room = min(MAX_ENTITIES_PER_BATCH - len(p) - len(t), MAX_METRICS_PER_BATCH)
        yield rest[:room], p, t
        rest = rest[room:]
    while rest:
        yield rest[:MAX_METRICS_PER_BATCH], [], []
        rest = rest[MAX_METRICS_PER_BATCH:]


class FileStoreWriter:
    """The four client calls `log_members` makes (create_run, log_batch, set_terminated,
    delete_run), on a local file store whose experiment folders are looked up once."""

    def __init__(self, uri: str) -> None:
        self.store = cached_file_store(uri)

    def create_run(self, experiment_id: str, run_name: str) -> Any:
        return self.store.create_run(experiment_id, "unknown", _now_ms(), [], run_name)

    def log_batch(self, run_id: str, metrics: list, params: list, tags: list) -> None:
        for m, p, t in batches(metrics, params, tags):
            self.store.log_batch(run_id, metrics=m, params=p, tags=t)

    def set_terminated(self, run_id: str) -> None:
        from mlflow.entities import RunStatus

        self.store.update_run_info(run_id, RunStatus.FINISHED, _now_ms(), None)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)


def _now_ms() -> int:
    return int(time.time() * 1000)


def cached_file_store(uri: str) -> Any:
    """A FileStore on the `file:` URI `uri` for one run's logging, each experiment's folder
    looked up once (a lookup that finds nothing is not kept)."""
    from urllib.parse import unquote, urlparse

    from mlflow.entities import ViewType
    from mlflow.store.tracking.file_store import FileStore
    from mlflow.utils.file_utils import append_to
    from mlflow.utils.validation import _validate_batch_log_data

    class CachedFileStore(FileStore):
        """A learning curve's points are appended in one write per metric (the stock store
        opens the metric's file once per point, in its own line format, kept here)."""

        def __init__(self, root: str) -> None:
            super().__init__(root)
            self.folders: dict[tuple[str, int], str] = {}

        def _get_experiment_path(  # noqa: D401 - the stock lookup, remembered
            self, experiment_id: str, view_type: int = ViewType.ALL, assert_exists: bool = False
        ) -> str | None:
            key = (str(experiment_id), view_type)
            if key not in self.folders:
                found = super()._get_experiment_path(experiment_id, view_type, assert_exists)
                if found is None:
                    return None
                self.folders[key] = found
            return self.folders[key]

        def log_batch(self, run_id: str, metrics: list, params: list, tags: list) -> None:
            first: dict[str, Any] = {}
            more: dict[str, list] = {}
            for m in metrics:
                if m.key in first:
                    more.setdefault(m.key, []).append(m)
                else:
                    first[m.key] = m
            super().log_batch(run_id, list(first.values()), params, tags)  # checks and writes
            if more:
                info = self._get_run_info(run_id)
                for key, points in more.items():
                    points, _, _ = _validate_batch_log_data(points, [], [])
                    path = self._get_metric_path(info.experiment_id, run_id, key)
                    append_to(path, "".join(f"{m.timestamp} {m.value} {m.step}\n" for m in points))

    return CachedFileStore(unquote(urlparse(uri).path))


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
    writer = FileStoreWriter(uri) if uri.startswith("file:") else client
    created: list[str] = []
    try:
        for log in logs:
            run = writer.create_run(exp, run_name=f"{run_id} {log.name}")
            created.append(run.info.run_id)
            now = _now_ms()
            metrics = [Metric(k, v, now, log.step) for k, v in log.metrics.items()]
            metrics += [Metric(k, v, now, s) for s, values in log.curves for k, v in values.items()]
            params = [Param(k, v) for k, v in log.params.items()]
            tags = [RunTag(k, v) for k, v in log.tags.items()]  # in the batch: one run lookup
            writer.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
            writer.set_terminated(run.info.run_id)
    except BaseException:
        for rid in created:  # nothing of this run stays in the store
            with contextlib.suppress(Exception):  # the store is gone: the error says why
                writer.delete_run(rid)
        raise
