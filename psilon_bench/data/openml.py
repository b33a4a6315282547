"""OpenML access (`dataset.source=openml`, and the csv fallback when the file is missing).

`fetch_openml` caches every response under `<data_dir>/openml/` (scikit-learn's layout,
`data_home=<data_dir>`), and a cached dataset loads offline. Without a cache entry we
first check, in a background thread bounded by `PROBE_SECONDS`, that OpenML's host
resolves and accepts a connection (a socket timeout does not cover DNS look-ups), so an
offline machine fails within seconds with a DataError that says where to put a CSV.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from psilon_bench.errors import DataError

if TYPE_CHECKING:  # pandas loads on first use: `psilon-bench datasets` needs none of it
    import pandas as pd

OPENML_HOST = "www.openml.org"
PROBE_SECONDS = 5.0  # DNS + TCP connect to OpenML
SOCKET_SECONDS = 10.0  # each read of the download itself


def openml_cache(data_dir: Path) -> Path:
    """The folder holding scikit-learn's OpenML cache for this data folder."""
    return Path(data_dir) / "openml"


def openml_cached(data_dir: Path, openml_id: int) -> bool:
    """Whether dataset `openml_id`'s description is cached (then it loads offline)."""
    description = openml_cache(data_dir) / "openml.org" / "api" / "v1" / "json" / "data"
    return (description / f"{openml_id}.gz").is_file()


def _unreachable_reason() -> str | None:
    """None when OpenML accepts a TCP connection within PROBE_SECONDS, else why not."""
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((OPENML_HOST, 443), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(f"{OPENML_HOST}: {err}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS + 1.0)
    if not outcome:
        return f"no answer from {OPENML_HOST} within {PROBE_SECONDS:g} s"
    return outcome[0]


def fetch_openml_frame(
    openml_id: int, data_dir: Path, target: str | None
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of OpenML dataset `openml_id`, from the cache or the network
    (callers add to the DataError what the user can do instead)."""
    if not openml_cached(data_dir, openml_id):
        reason = _unreachable_reason()
        if reason is not None:
            raise DataError(
                f"OpenML dataset {openml_id} is not cached in {openml_cache(data_dir)} and "
                f"OpenML cannot be reached ({reason})"
            )
    import pandas as pd
    from sklearn.datasets import fetch_openml

    from .table import one_line

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(SOCKET_SECONDS)
    try:
        bunch = fetch_openml(
            data_id=openml_id, data_home=str(data_dir), as_frame=True, parser="auto",
            target_column=target if target else "default-target", n_retries=1, delay=0.5,
        )  # fmt: skip
    except Exception as err:  # network, HTTP, OpenML and parse errors alike
        raise DataError(
            f"OpenML dataset {openml_id} could not be fetched ({one_line(err)})"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    if not isinstance(bunch.target, pd.Series):
        raise DataError(
            f"OpenML dataset {openml_id} has no single default target; set dataset.target "
            f"to one of its columns ({', '.join(map(str, bunch.frame.columns[:12]))})"
        )
    return bunch.data, bunch.target
