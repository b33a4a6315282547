"""A user's own CSV file: `dataset=csv dataset.path=FILE`, `dataset.drop`, and a registry
entry of their own through `--config-dir` (the example of docs/guide/own-data.md)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import REPO, SHARED_DATA, compose_config, needs_shared_data, run_cli

from psilon_bench.data import load_table
from psilon_bench.errors import DataError

QUICK = ["trainer=quick", "trainer.steps=5", "seeds=1"]


@pytest.fixture
def houses(tmp_path):
    """id (text), two features, a float price and a yes/no label; 120 rows."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=120), rng.normal(size=120)
    rows = ["id,a,b,price,big"] + [
        f"p{i},{a[i]:.5f},{b[i]:.5f},{3 * a[i] - b[i]:.5f},{'yes' if a[i] > 0 else 'no'}"
        for i in range(120)
    ]
    path = tmp_path / "houses.v2.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _dataset(overrides):
    return compose_config(overrides).dataset


def test_generic_csv_entry_infers_task_and_names_the_data(houses):
    cfg = _dataset(["dataset=csv", f"dataset.path={houses}", "dataset.drop=[id]"])
    table = load_table(cfg, houses.parent)
    assert cfg.name == "houses" and table.task == "classification"  # last column: yes/no
    assert list(table.X.columns) == ["a", "b", "price"] and table.class_names == ["no", "yes"]
    cfg = _dataset(
        [
            "dataset=csv",
            "dataset.path=houses.v2.csv",
            "dataset.target=price",
            "dataset.drop=[id,big]",
        ]
    )
    table = load_table(cfg, houses.parent)  # relative: looked up in the data dir
    assert table.task == "regression" and list(table.X.columns) == ["a", "b"]
    assert table.n_rows == 120


def test_drop_errors_are_one_line(houses):
    cfg = _dataset(["dataset=csv", f"dataset.path={houses}", "dataset.drop=[ID]"])
    with pytest.raises(DataError, match=r"^dataset.drop names ID, not feature columns of houses"):
        load_table(cfg, houses.parent)
    cfg = _dataset(["dataset=csv", f"dataset.path={houses}"])  # the text id is not a feature
    with pytest.raises(DataError, match=re.escape("'dataset.drop=[id]'")):
        load_table(cfg, houses.parent)


def test_csv_run_end_to_end(houses, tmp_path):
    args = ["run", *QUICK, "dataset=csv", f"dataset.path={houses}", "dataset.drop=[id]"]
    res = run_cli(args, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "classification, inferred" in res.stdout
    (done,) = tmp_path.rglob("DONE")
    (record,) = [json.loads(x) for x in (done.parent / "records.jsonl").read_text().splitlines()]
    assert (record["dataset"], record["task"], record["d_in"]) == ("houses", "classification", 3)
    (tmp_path / "none").mkdir()
    res = run_cli(["run", *QUICK, "dataset=csv"], tmp_path / "none")
    assert res.returncode == 2 and "dataset=csv dataset.path=FILE" in res.stderr
    assert res.stderr.count("\n") == 1


def test_docs_registry_entry_with_config_dir(houses, tmp_path):
    text = (REPO / "docs" / "guide" / "own-data.md").read_text()
    (yaml,) = re.findall(r"```yaml\n(# my_configs/dataset/houses.yaml\n.*?)```", text, re.S)
    yaml = yaml.replace("/data/houses.csv.gz", str(houses)).replace("price", "price ")
    yaml = yaml.replace("[id, parcel_no]", "[id, big]").replace("[zip_code]", "[]")
    folder = tmp_path / "my_configs" / "dataset"
    folder.mkdir(parents=True)
    (folder / "houses.yaml").write_text(yaml)
    work = tmp_path / "work"
    work.mkdir()
    res = run_cli(
        ["run", "--config-dir", str(tmp_path / "my_configs"), *QUICK, "dataset=houses"], work
    )
    assert res.returncode == 0, res.stderr
    (done,) = work.rglob("DONE")
    record = json.loads((done.parent / "records.jsonl").read_text().splitlines()[0])
    assert (record["dataset"], record["task"], record["d_in"]) == ("houses", "regression", 2)
    res = run_cli(["run", "--config-dir", str(tmp_path / "my_configs"), "--help"], work)
    assert re.search(r"^dataset: .*\bhouses\b", res.stdout, re.M)


@needs_shared_data
def test_miami_housing_drops_the_parcel_id():
    cfg = _dataset(["dataset=miami_housing"])
    table = load_table(cfg, SHARED_DATA)
    assert "PARCELNO" not in table.X.columns and table.n_features == 15


def test_a_rare_category_and_a_missing_text_value_give_every_member_one_width(tmp_path):
    """A text column with a value on one row and a missing value on another: whichever
    members' training rows miss them, every member encodes to the same columns (the
    categories are the whole column's values), and the run goes on."""
    import pandas as pd

    from psilon_bench.data import make_split
    from psilon_bench.runner.experiment import run_experiment

    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "blue", "green"], size=60).astype(object)
    colour[7], colour[11] = "violet", None  # one rare value, one missing value
    y = (rng.normal(size=60) > 0).astype(int)
    frame = pd.DataFrame({"x": rng.normal(size=60), "colour": colour, "y": y})
    path = tmp_path / "colours.csv"
    frame.to_csv(path, index=False)
    overrides = ["dataset=csv", f"dataset.path={path}", "seeds=6", "trainer=quick"]
    cfg = compose_config([*overrides, "trainer.steps=5"])
    table = load_table(cfg.dataset, tmp_path)
    splits = [make_split(table, cfg.split, cfg.preprocess, seed) for seed in range(6)]
    assert len({s.n_features for s in splits}) == 1
    names = splits[0].feature_names
    assert {"colour=violet", "colour=red"} <= set(names) and len(names) == 1 + 5  # + missing
    in_train = [7 in s.indices["train"] for s in splits]
    assert any(in_train) and not all(in_train)  # the rare row trains some members only
    for s in splits:  # its column is 1 on its row alone, wherever that row went
        part = next(p for p, rows in s.indices.items() if 7 in rows)
        column = getattr(s, f"X_{part}")[:, names.index("colour=violet")]
        assert column.sum() == 1
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert len(records) == 6 and len({r["d_in"] for r in records}) == 1


def test_dataset_path_relative_to_the_current_folder(tmp_path, monkeypatch):
    """`dataset.path=sub/x.csv` finds the file from the current folder when paths.data_dir
    does not hold it; the data folder still comes first."""
    import pandas as pd

    (tmp_path / "sub").mkdir()
    frame = pd.DataFrame({"a": np.arange(30.0), "y": [0, 1, 2] * 10})
    frame.to_csv(tmp_path / "sub" / "x.csv", index=False)
    monkeypatch.chdir(tmp_path)
    cfg = compose_config(["dataset=csv", "dataset.path=sub/x.csv"])
    assert load_table(cfg.dataset, tmp_path / "data").n_rows == 30
    (tmp_path / "data" / "sub").mkdir(parents=True)
    frame.head(12).to_csv(tmp_path / "data" / "sub" / "x.csv", index=False)
    assert load_table(cfg.dataset, tmp_path / "data").n_rows == 12
    missing = compose_config(["dataset=csv", "dataset.path=sub/nope.csv"])
    with pytest.raises(DataError, match="nor in the current folder"):
        load_table(missing.dataset, tmp_path / "data")
