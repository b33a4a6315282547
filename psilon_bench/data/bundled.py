"""scikit-learn's bundled datasets read straight from the files it ships.

`import sklearn.datasets` costs ~0.9 s (it pulls in scipy.stats and sklearn's validation
machinery), several times the default experiment's training. The files under
`sklearn/datasets/data/` are small CSVs: a header `n_samples,n_features,<class names>`, then
rows of features and an integer class (iris, wine, breast_cancer), or a gzip CSV of
features and class (digits). This module parses them the way scikit-learn's loaders do
(float64 features, int64 codes; tests/test_bundled.py checks equality with
`load_*(as_frame=True)`); column names are the ones scikit-learn gives. `diabetes` is scaled
by scikit-learn on load and still goes through `sklearn.datasets`. Nothing here imports
pandas: a bundled set is all numeric and becomes a table through `table_from_arrays`.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

import numpy as np

_MEASURES = [
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
]

FEATURE_NAMES: dict[str, list[str]] = {
    "iris": [f"{part} {dim} (cm)" for part in ("sepal", "petal") for dim in ("length", "width")],
    "wine": [
        "alcohol",
        "malic_acid",
        "ash",
        "alcalinity_of_ash",
        "magnesium",
        "total_phenols",
        "flavanoids",
        "nonflavanoid_phenols",
        "proanthocyanins",
        "color_intensity",
        "hue",
        "od280/od315_of_diluted_wines",
        "proline",
    ],
    "breast_cancer": [f"mean {m}" for m in _MEASURES]
    + [f"{m} error" for m in _MEASURES]
    + [f"worst {m}" for m in _MEASURES],
    "digits": [f"pixel_{r}_{c}" for r in range(8) for c in range(8)],
}
_FILES = {"iris": "iris.csv", "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}
DIRECT = (*_FILES, "digits")


def data_dir() -> Path | None:
    """`sklearn/datasets/data` of the installed scikit-learn (found without importing it)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


Bundled = tuple[np.ndarray, list[str], np.ndarray, list[str]]


def read_bundled(loader: str) -> Bundled | None:
    """Features (n, d) float64, their names, target (n,) int64 and class names of a
    bundled set; None when it is not read here."""
    folder = data_dir()
    if loader not in DIRECT or folder is None:
        return None
    if loader == "digits":
        with gzip.open(folder / "digits.csv.gz", "rt") as handle:
            table = np.loadtxt(handle, delimiter=",")
        data, target = table[:, :-1], table[:, -1].astype(int)
        names = [str(k) for k in range(10)]
    else:
        with open(folder / _FILES[loader], encoding="utf-8") as handle:
            rows = csv.reader(handle)
            head = next(rows)
            n, d = int(head[0]), int(head[1])
            data, target = np.empty((n, d)), np.empty((n,), dtype=int)
            for i, row in enumerate(rows):
                data[i] = np.asarray(row[:-1], dtype=np.float64)
                target[i] = int(row[-1])
        names = [str(v) for v in head[2:]]
    return data, list(FEATURE_NAMES[loader]), target, names
