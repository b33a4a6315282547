"""`load_table`: a `dataset` config (`conf/dataset/*.yaml`) to a `Table`.

Sources: `sklearn` (bundled, offline), `csv` (gzip or plain; OpenML fallback when the
file is missing and `openml_id` is set), `openml`, `synthetic`, `uci` (a folder of the UCI
collection's layout, `uci.py`). Every user-facing
problem is a one-line `DataError` naming the key or path at fault.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psilon_bench.config import Source
from psilon_bench.errors import DataError

from .bundled import read_bundled
from .openml import fetch_openml_frame
from .registry import dataset_file
from .synthetic import load_synthetic
from .table import Table, one_line, shorten_list, table_from_arrays
from .uci import read_uci_table

if TYPE_CHECKING:  # pandas loads for CSV, OpenML and categorical columns only
    import pandas as pd

SKLEARN_LOADERS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
DATA_DIR_HINT = "set PSILON_BENCH_DATA or paths.data_dir to the folder that holds it"


def load_table(dataset_cfg: Any, data_dir: Path | str) -> Table:
    """Load the dataset `dataset_cfg` (a `DatasetConfig` or its DictConfig); file paths
    resolve against `data_dir` (see `resolve_data_dir`)."""
    data_dir = Path(data_dir)
    source = Source(dataset_cfg.source)
    if source == Source.sklearn:
        return _load_sklearn(dataset_cfg)
    if source == Source.csv:
        return _load_csv(dataset_cfg, data_dir)
    if source == Source.openml:
        return _load_openml(dataset_cfg, data_dir)
    if source == Source.uci:
        return read_uci_table(uci_folder(dataset_cfg, data_dir), dataset_cfg.name)
    return load_synthetic(dataset_cfg)


def uci_folder(dataset_cfg: Any, data_dir: Path) -> Path:
    """The dataset folder of `dataset=uci` (`dataset.path`, resolved as a csv file is)."""
    if not dataset_cfg.path:
        raise DataError(
            "dataset.path is required for dataset=uci: dataset=uci dataset.path=DIR/NAME "
            "(the folder holding NAME_R.dat, conxuntos.dat and conxuntos_kfold.dat)"
        )
    folder = dataset_file(dataset_cfg, data_dir)
    if not folder.is_dir() and Path(dataset_cfg.path).expanduser().is_dir():
        folder = Path(dataset_cfg.path).expanduser().resolve()
    if not folder.is_dir():
        raise DataError(
            f"dataset.path={dataset_cfg.path}: no such dataset folder ({folder}); {DATA_DIR_HINT}"
        )
    return folder


def _categorical(dataset_cfg: Any) -> list[str]:
    return [str(c) for c in (dataset_cfg.categorical or [])]


def _drop(dataset_cfg: Any) -> list[str]:
    return [str(c) for c in (dataset_cfg.get("drop") or [])]


# --------------------------------------------------------------------------------------
# sklearn


def _load_sklearn(dataset_cfg: Any) -> Table:
    """scikit-learn's bundled datasets (no network); read from its files when possible
    (`bundled.read_bundled`, no `sklearn.datasets` import) and then, unless a column is
    declared categorical, without pandas (`table_from_arrays`)."""
    if dataset_cfg.loader not in SKLEARN_LOADERS:
        raise DataError(
            f"dataset.loader={dataset_cfg.loader} is not a bundled scikit-learn dataset; "
            f"allowed: {', '.join(SKLEARN_LOADERS)}"
        )
    direct = read_bundled(dataset_cfg.loader)
    categorical = _categorical(dataset_cfg)
    if direct is not None and not categorical:
        data, columns, target, class_names = direct
        return table_from_arrays(
            dataset_cfg.name,
            data,
            columns,
            target,
            dataset_cfg.task,
            class_names,
            _drop(dataset_cfg),
        )
    import pandas as pd

    from .from_frame import table_from_frame

    if direct is not None:
        data, columns, target, class_names = direct
        X, y = pd.DataFrame(data, columns=columns, copy=False), pd.Series(target, name="target")
    else:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{dataset_cfg.loader}")(as_frame=True)
        names = getattr(bunch, "target_names", None)
        class_names = [str(n) for n in names] if names is not None and len(names) else None
        X, y = bunch.data, bunch.target
    return table_from_frame(
        dataset_cfg.name,
        X,
        y,
        dataset_cfg.task,
        categorical,
        class_names,
        drop=_drop(dataset_cfg),
    )


# --------------------------------------------------------------------------------------
# csv


def read_csv_file(path: Path) -> pd.DataFrame:
    """A CSV file (gzip when its first bytes say so) as a frame; DataError when unreadable."""
    try:
        with open(path, "rb") as handle:
            is_gzip = handle.read(2) == b"\x1f\x8b"
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    if path.suffix == ".gz" and not is_gzip:
        raise DataError(f"cannot read {path}: named .gz but not a gzip file")
    import pandas as pd

    try:
        frame = pd.read_csv(
            path, compression="gzip" if is_gzip else None, encoding="utf-8", low_memory=False
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"cannot read {path}: the file is empty") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(
            f"cannot read {path}: {one_line(err)} (corrupt, truncated or not a UTF-8 CSV file?)"
        ) from None
    if len(frame) == 0:
        raise DataError(f"cannot read {path}: a header but no data rows")
    frame.attrs["warnings"] = _duplicate_columns(path, is_gzip)
    if frame.shape[1] < 2:
        raise DataError(
            f"cannot read {path}: {frame.shape[1]} column; need features and a target (comma separated)"
        )
    return frame


def _duplicate_columns(path: Path, is_gzip: bool) -> list[str]:
    """A warning when the header repeats a name (pandas renames the copies `a.1`, ...)."""
    opener = gzip.open if is_gzip else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    counts = Counter(header)
    repeated = [name for name, n in counts.items() if n > 1]
    if not repeated:
        return []
    return [
        f"{path} repeats the column name{'s' if len(repeated) > 1 else ''} "
        f"{shorten_list(repeated)}; pandas renamed the copies ({repeated[0]}.1, ...): "
        "rename them in the file"
    ]


def split_target(
    frame: pd.DataFrame, target: str | None, where: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target column (`dataset.target`, default the last column)."""
    column = target if target else frame.columns[-1]
    if column not in frame.columns:
        raise DataError(
            f"dataset.target={column} is not a column of {where} "
            f"(columns: {shorten_list([str(c) for c in frame.columns])})"
        )
    return frame.drop(columns=[column]), frame[column]


def _load_csv(dataset_cfg: Any, data_dir: Path) -> Table:
    if not dataset_cfg.path:
        raise DataError(
            f"dataset.path is required for dataset.source=csv ({dataset_cfg.name}): "
            "dataset=csv dataset.path=FILE [dataset.target=COLUMN] [dataset.task=TASK]"
        )
    path = dataset_file(dataset_cfg, data_dir)
    warnings: list[str] = []
    if path.is_file():
        frame = read_csv_file(path)
        warnings = frame.attrs.get("warnings", [])
        X, y = split_target(frame, dataset_cfg.target, str(path))
    elif dataset_cfg.openml_id is not None:
        try:
            X, y = fetch_openml_frame(dataset_cfg.openml_id, data_dir, dataset_cfg.target)
        except DataError as err:
            raise DataError(
                f"dataset file not found: {path} (dataset.path={dataset_cfg.path}), and the fallback "
                f"dataset.openml_id={dataset_cfg.openml_id} failed: {err}; put {path.name} in "
                f"{path.parent}, or {DATA_DIR_HINT}"
            ) from None
    else:
        here = (
            ""
            if Path(dataset_cfg.path).expanduser().is_absolute()
            else ", nor in the current folder"
        )
        raise DataError(
            f"dataset file not found: {path} (dataset.path={dataset_cfg.path}{here}); "
            f"{DATA_DIR_HINT}"
        )
    from .from_frame import table_from_frame

    return table_from_frame(
        dataset_cfg.name,
        X,
        y,
        dataset_cfg.task,
        _categorical(dataset_cfg),
        drop=_drop(dataset_cfg),
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------
# openml


def _load_openml(dataset_cfg: Any, data_dir: Path) -> Table:
    if dataset_cfg.openml_id is None:
        raise DataError(
            f"dataset.openml_id is required for dataset.source=openml ({dataset_cfg.name})"
        )
    try:
        X, y = fetch_openml_frame(dataset_cfg.openml_id, data_dir, dataset_cfg.target)
    except DataError as err:
        where = (
            dataset_file(dataset_cfg, data_dir) if dataset_cfg.path else f"a CSV file in {data_dir}"
        )
        raise DataError(
            f"dataset.openml_id={dataset_cfg.openml_id}: {err}; save the data (target in the last "
            f"column) as {where} and use dataset.source=csv with dataset.path, or {DATA_DIR_HINT}"
        ) from None
    from .from_frame import table_from_frame

    return table_from_frame(
        dataset_cfg.name, X, y, dataset_cfg.task, _categorical(dataset_cfg), drop=_drop(dataset_cfg)
    )
