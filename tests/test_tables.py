"""How tables.py tidies a messy user CSV: numbers written as text, "?" and dashes as missing,
stray spaces, columns that cannot carry signal, duplicate rows, labels that differ by case."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.datasets import load
from pipeline.errors import UsageError
from pipeline.study import DatasetSpec

ROOT = Path(__file__).resolve().parents[1]


def messy_csv(path: Path, n: int = 60, copies: int = 3) -> dict:
    """A CSV as an exploratory user brought one; returns the numbers its text columns stand for.
    The last `copies` rows repeat the first ones under new ids (a record entered twice)."""
    rng = np.random.default_rng(0)
    income = rng.integers(1000, 99999, n)
    cents = rng.random(n) < 0.3                               # some written "$12,345.50"
    income[0], cents[0] = -income[0], True                    # and one "-$85,210.50"
    share = rng.uniform(0, 100, n).round(1)
    glucose = rng.integers(70, 200, n).astype(object)
    glucose[rng.choice(n, 8, replace=False)] = "?"            # UCI's missing: the column stays numeric
    pressure = rng.integers(60, 120, n).astype(object)
    pressure[rng.choice(n, 8, replace=False)] = "-"           # a dash among numbers: missing
    label = rng.choice(["sick", "sick  ", "Sick", "well"], n)  # "sick  " is "sick"; "Sick" is not merged
    rows = [[f"R-{i:04d}",
             ("-" if income[i] < 0 else "") + f"${abs(income[i]):,}.50" if cents[i] else f"{income[i]:,}",
             f"{share[i]}%", glucose[i], pressure[i], f"{rng.normal(70, 12):.2f}",
             "A", "B", "ok" if i % 3 == 0 else f"felt unwell on day {i}", f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}",
             ["never ", " never", "former"][i % 3], label[i]]
            for i in range(n)]
    rows += [[f"R-{n + k:04d}", *rows[k][1:]] for k in range(copies)]
    columns = ["ref", "income", "share", "glucose", "pressure", "weight", "site", "batch", "note", "visited",
               "smoker", "status"]
    pd.DataFrame(rows, columns=columns).to_csv(path)   # "66,645" quoted; the index a first, unnamed column
    take = list(range(n)) + list(range(copies))
    return {"income": (income + np.sign(income) * 0.5 * cents)[take], "share": share[take]}


def test_a_messy_csv_is_tidied_and_every_change_is_recorded(tmp_path):
    expected = messy_csv(tmp_path / "messy.csv")
    s = load(DatasetSpec(name="table", path=str(tmp_path / "messy.csv"), target="status", standardize=False,
                         preprocess={"drop_columns": ["batch"]}), 0)
    r = s.preprocessing
    assert r["parsed_numeric_columns"] == ["income", "share", "pressure"]   # glucose's "?" kept it numeric
    assert r["auto_dropped_columns"] == {
        "Unnamed: 0": "id-like: row numbers",
        "ref": "id-like: different text on every row",
        "site": "constant",
        "note": "free text: 41 distinct values in 63 rows",
        "visited": "dates"}
    assert r["dropped_columns"] == ["batch"]   # the user's own drop is not reported again
    # kept: income, share, glucose, pressure, weight; indicators for glucose and pressure; smoker one-hot
    # with 2 categories (its spaces stripped)
    assert r["numeric_columns"] == ["income", "share", "glucose", "pressure", "weight"]
    assert r["missing_indicators"] == ["glucose", "pressure"] and r["encoded_columns"] == ["smoker"]
    assert s.n_features == r["columns_out"] == 9
    # the numbers the text stood for: 66,645 -> 66645, $1,204.50 -> 1204.5, 34.8% -> 34.8
    x = torch.cat([s.x_train, s.x_val, s.x_test]).double().numpy()
    assert np.allclose(np.sort(x[:, 0]), np.sort(expected["income"]))
    assert np.allclose(np.sort(x[:, 1]), np.sort(expected["share"]), atol=1e-4)
    assert r["marked_missing"] == {} and r["rows_out"] == 63
    # labels: "sick  " is "sick"; "Sick" stays a class of its own, with a warning naming both
    assert s.class_names == ["Sick", "sick", "well"] and s.n_classes == 3
    assert r["duplicate_rows"] == 3
    warnings = r["warnings"]
    assert len(warnings) == 4
    assert warnings[0].startswith("Dropped 5 column(s)") and "note (free text" in warnings[0]
    assert warnings[1].startswith("Dropped date column(s) visited: derive numbers")
    assert warnings[2].startswith("3 row(s) repeat an earlier row")
    assert warnings[3] == "Target 'status' has labels that differ only by case, kept as separate classes: 'Sick' / 'sick'."

    # the same file as Parquet with every value text ("?", spaces and all): the same numbers
    pd.read_csv(tmp_path / "messy.csv", dtype=str, keep_default_na=False).to_parquet(tmp_path / "messy.parquet")
    p = load(DatasetSpec(name="table", path=str(tmp_path / "messy.parquet"), target="status", standardize=False,
                         preprocess={"drop_columns": ["batch"]}), 0)
    assert torch.equal(p.x_train, s.x_train) and torch.equal(p.y_test, s.y_test)
    assert p.preprocessing["auto_dropped_columns"] == r["auto_dropped_columns"]


def test_measurements_and_small_integers_are_kept(tmp_path):
    """All-distinct measurements (decimals, or whole numbers that are not row numbers and not named
    like an id) and a small-integer column are features; a clean file has no warnings."""
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame({"weight": rng.normal(70, 12, n).round(3),
                          "steps": rng.choice(np.arange(2000, 20000), n, replace=False),
                          "children": rng.integers(0, 5, n),
                          "has_allergy": np.where(rng.random(n) < 0.5, "yes", None),   # one value and blanks: a flag
                          "y": rng.integers(0, 2, n)})
    assert frame["weight"].is_unique and frame["steps"].is_unique
    frame.to_csv(tmp_path / "clean.csv", index=False)
    s = load(DatasetSpec(name="csv", path=str(tmp_path / "clean.csv"), target="y"), 0)
    r = s.preprocessing
    assert r["auto_dropped_columns"] == {} and r["parsed_numeric_columns"] == [] and r["warnings"] == []
    assert r["numeric_columns"] == ["weight", "steps", "children"] and r["encoded_columns"] == ["has_allergy"]

    # the same whole numbers named like an id, or as row numbers, are ids; the target never is
    frame.rename(columns={"steps": "customerID"}).assign(children=np.arange(1, n + 1), y=np.arange(n)) \
        .to_csv(tmp_path / "ids.csv", index=False)
    ids = load(DatasetSpec(name="csv", path=str(tmp_path / "ids.csv"), target="y"), 0).preprocessing
    assert ids["auto_dropped_columns"] == {"customerID": "id-like: unique integers named like an id",
                                           "children": "id-like: row numbers"}
    assert ids["numeric_columns"] == ["weight"]
    # preprocess.keep_columns overrides the rule where the user knows better
    kept = load(DatasetSpec(name="csv", path=str(tmp_path / "ids.csv"), target="y",
                            preprocess={"keep_columns": ["customerID"]}), 0).preprocessing
    assert kept["auto_dropped_columns"] == {"children": "id-like: row numbers"}
    assert kept["numeric_columns"] == ["weight", "customerID"]


def test_a_file_of_ids_only_is_refused_with_the_reasons(tmp_path):
    (tmp_path / "ids.csv").write_text("id,y\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
    with pytest.raises(UsageError, match=r"no feature columns besides 'y' \(dropped as carrying no signal: "
                                         r"id \(id-like: row numbers\)\)"):
        load(DatasetSpec(name="csv", path=str(tmp_path / "ids.csv"), target="y"), 0)


def test_the_clinic_example_loses_no_feature():
    """studies/data/clinic.csv: its id is dropped by the study; nothing else is. Without the
    study's drop_columns the id is found."""
    spec = dict(name="table", path=str(ROOT / "studies/data/clinic.csv"), target="outcome")
    r = load(DatasetSpec(**spec, preprocess={"drop_columns": ["patient_id"]}), 0).preprocessing
    assert r["auto_dropped_columns"] == {} and r["warnings"] == [] and r["duplicate_rows"] == 0
    assert r["numeric_columns"] == ["age", "glucose", "bmi"] and r["encoded_columns"] == ["smoker", "region"]
    found = load(DatasetSpec(**spec), 0).preprocessing
    assert found["auto_dropped_columns"] == {"patient_id": "id-like: unique integers named like an id"}
