"""The scikit-learn script a user would write for psilon-bench's breast_cancer MLP job
(the end-to-end baseline of `make bench`, section `e2e`): per seed a stratified 60/20/20
split, standardization fitted on the training rows, `MLPClassifier` 64-64 with Adam at
mini-batch 32 for `--epochs` epochs, accuracy and log loss on every split, one JSON line
per seed written to `--out`.

    python benchmarks/sklearn_job.py --seeds 32 --epochs 41 --out records.jsonl
"""

from __future__ import annotations

import argparse
import json
import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    X, y = load_breast_cancer(return_X_y=True)
    lines = []
    for seed in range(args.seeds):
        X_tr, X_rest, y_tr, y_rest = train_test_split(
            X, y, train_size=0.6, stratify=y, random_state=seed
        )
        X_va, X_te, y_va, y_te = train_test_split(
            X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=seed
        )
        scaler = StandardScaler().fit(X_tr)
        clf = MLPClassifier(
            hidden_layer_sizes=(64, 64), solver="adam", batch_size=32, learning_rate_init=1e-3,
            max_iter=args.epochs, alpha=0.0, tol=0.0, n_iter_no_change=args.epochs + 1,
            random_state=seed,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(scaler.transform(X_tr), y_tr)
        record = {"seed": seed}
        for name, (Xs, ys) in {
            "train": (X_tr, y_tr),
            "val": (X_va, y_va),
            "test": (X_te, y_te),
        }.items():
            proba = clf.predict_proba(scaler.transform(Xs))
            record[f"{name}.accuracy"] = accuracy_score(ys, proba.argmax(1))
            record[f"{name}.log_loss"] = log_loss(ys, proba)
        lines.append(json.dumps(record))
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
