"""Every dataset loader, the fixed split, standardization, and the CSV and torchvision paths."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.datasets import REGISTRY, SYNTHETIC_BIAS, SYNTHETIC_WEIGHTS, load
from pipeline.errors import UsageError
from pipeline.study import DatasetSpec

from .conftest import SHARED_MNIST, write_idx


@pytest.mark.parametrize("name,task,n_features,n_classes", [
    ("digits", "classification", 64, 10), ("breast_cancer", "classification", 30, 2),
    ("wine", "classification", 13, 3), ("synthetic_linear", "regression", 12, 0),
    ("quadrants", "classification", 2, 2)])
def test_offline_loaders(name, task, n_features, n_classes):
    s = load(DatasetSpec(name=name), split_seed=0)
    assert s.task == task and s.n_features == n_features and s.n_classes == n_classes
    sizes = s.sizes()
    assert min(sizes.values()) > 0
    # standardized with training statistics: train columns have mean 0; val/test only roughly
    assert torch.allclose(s.x_train.mean(0), torch.zeros(n_features), atol=1e-4)
    assert s.provenance
    # the split depends on the split seed only
    again = load(DatasetSpec(name=name), split_seed=0)
    assert torch.equal(again.x_train, s.x_train) and torch.equal(again.y_test, s.y_test)
    other = load(DatasetSpec(name=name), split_seed=1)
    assert not torch.equal(other.x_train, s.x_train)


def test_synthetic_linear_follows_the_tutorial():
    s = load(DatasetSpec(name="synthetic_linear", standardize=False, val_fraction=0.2), split_seed=3)
    assert s.sizes() == {"train": 400, "val": 100, "test": 100}
    x = torch.cat([s.x_train, s.x_val]).double()
    y = torch.cat([s.y_train, s.y_val]).double()
    assert abs(x.mean().item() + 1.0) < 0.05  # X ~ N(-1, 1)
    # least squares recovers the true weights and bias (the noise is tiny)
    design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    assert np.allclose(coef[:12].numpy(), SYNTHETIC_WEIGHTS, atol=0.01)
    assert abs(coef[12].item() - (SYNTHETIC_BIAS - 0.01)) < 0.01
    # the constant prediction (the training mean) scored on each split: on the training rows its MSE
    # is their variance, on the test rows the test targets' spread about the training mean
    train, test = s.y_train.double().numpy(), s.y_test.double().numpy()
    assert np.isclose(s.chance_train["mse"], train.var(), rtol=1e-5)
    assert np.isclose(s.chance["mse"], ((test - train.mean()) ** 2).mean(), rtol=1e-5)


def test_quadrants_labels_are_same_sign():
    s = load(DatasetSpec(name="quadrants", standardize=False), split_seed=0)
    x = torch.cat([s.x_train, s.x_val, s.x_test])
    y = torch.cat([s.y_train, s.y_val, s.y_test])
    assert len(x) == 200
    assert torch.equal(y, ((x[:, 0] > 0) == (x[:, 1] > 0)).long())


def test_train_size_count_and_fraction_subsample_the_same_pool():
    full = load(DatasetSpec(name="digits"), 0)
    n = len(full.x_train)
    by_count = load(DatasetSpec(name="digits", train_size=100, standardize=False), 0)
    by_frac = load(DatasetSpec(name="digits", train_size=0.5, standardize=False), 0)
    assert len(by_count.x_train) == 100 and len(by_frac.x_train) == round(n * 0.5)
    assert torch.equal(by_frac.x_train[:100], by_count.x_train)  # nested: growing size adds samples
    # val and test do not depend on train_size
    assert torch.equal(by_count.y_test, full.y_test)
    with pytest.raises(UsageError, match="train_size"):
        load(DatasetSpec(name="digits", train_size=100000), 0)


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_csv_loader_and_its_errors(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,c,Outcome"] + [f"{x:.3f},{y:.3f},{z:.3f},{int(x + y > 0)}" for x, y, z in rng.normal(size=(80, 3))]
    good = write_csv(tmp_path / "pima.csv", "\n".join(rows))
    s = load(DatasetSpec(name="csv", path=good, target="Outcome"), 0)
    assert s.task == "classification" and s.n_features == 3 and s.n_classes == 2
    assert sum(s.sizes().values()) == 80

    reg = load(DatasetSpec(name="csv", path=good, target="a"), 0)
    assert reg.task == "regression"
    # an export's header with spaces around its names: the study's names match them without quotes
    spaced = write_csv(tmp_path / "spaced.csv", "\n".join(["a, b ,c,Outcome "] + rows[1:]))
    s = load(DatasetSpec(name="csv", path=spaced, target="Outcome", preprocess={"drop_columns": ["b"]}), 0)
    assert s.task == "classification" and s.n_features == 2 and sum(s.sizes().values()) == 80

    cases = [
        (DatasetSpec(name="csv", path=str(tmp_path / "nope.csv"), target="Outcome"), "does not exist"),
        (DatasetSpec(name="csv", path=good, target="outcome"), r"no such column \(did you mean 'Outcome'\?\); columns are"),
        (DatasetSpec(name="csv", path=write_csv(tmp_path / "text.csv", "a,b\nx,1\ny,0\n"), target="a",
                     task="regression"), "not numeric"),
        (DatasetSpec(name="csv", path=write_csv(tmp_path / "nan.csv", "a,b\n1,1\n,0\n2,1\n3,0\n"), target="b",
                     preprocess={"missing": "refuse"}), "missing values"),
        (DatasetSpec(name="csv", path=write_csv(tmp_path / "one.csv", "b\n1\n0\n"), target="b"), "no feature columns"),
        (DatasetSpec(name="csv", path=write_csv(tmp_path / "inf.csv", "a,y\n1,1.5\n2,inf\n3,0.2\n4,0.1\n"), target="y"),
         "column 'y' has 1 infinite value"),
        (DatasetSpec(name="csv", path=good, target="Outcome", preprocess={"drop_columns": ["zz"]}),
         r"column 'zz', which .* does not have; columns are 'a', 'b', 'c', 'Outcome'$"),
        # a header alone: no rows, said so (it said "no feature columns", the empty ones dropped)
        (DatasetSpec(name="csv", path=write_csv(tmp_path / "header.csv", "a,b,y\n"), target="y"),
         r"field 'path' = '.*header.csv': the file has a header but no rows of data$"),
    ]
    for spec, message in cases:
        with pytest.raises(UsageError, match=message) as err:
            load(spec, 0)
        assert "\n" not in str(err.value)


def messy_frame(n: int = 120, seed: int = 0):
    """A table as users have them: a text target, a categorical column with a missing value and
    a category only in some rows, numeric columns with NaN and with 0 meaning missing, an id."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    glucose = rng.normal(120, 30, n).round()
    glucose[rng.choice(n, 10, replace=False)] = 0            # Pima's zeros: "not measured"
    bmi = rng.normal(32, 6, n)
    bmi[rng.choice(n, 7, replace=False)] = np.nan
    smoker = rng.choice(["never", "former", "current"], n).astype(object)
    smoker[3] = None
    positive = (glucose > 130) | (rng.random(n) < 0.1)
    return pd.DataFrame({"patient_id": np.arange(n), "Glucose": glucose, "BMI": bmi, "smoker": smoker,
                         "class": np.where(positive, "tested_positive", "tested_negative")})


def test_a_messy_table_is_read_faithfully(tmp_path):
    """Text target, categorical feature, missing values, values meaning missing, a column to drop,
    CSV and Parquet alike; every statistic fit on the training rows only."""
    frame = messy_frame()
    frame.to_csv(tmp_path / "messy.csv", index=False)
    frame.to_parquet(tmp_path / "messy.parquet", index=False)
    spec = dict(target="class", preprocess={"missing_values": {"Glucose": [0]}, "drop_columns": ["patient_id"]},
                standardize=False)
    a = load(DatasetSpec(name="table", path=str(tmp_path / "messy.csv"), **spec), 0)
    b = load(DatasetSpec(name="table", path=str(tmp_path / "messy.parquet"), **spec), 0)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.task == "classification" and a.class_names == ["tested_negative", "tested_positive"]
    record = a.preprocessing
    assert record["rows_in"] == record["rows_out"] == 120 and record["columns_in"] == 4
    assert record["encoded_columns"] == ["smoker"] and set(record["imputed_columns"]) == {"Glucose", "BMI", "smoker"}
    assert record["marked_missing"] == {"Glucose": 10} and record["dropped_columns"] == ["patient_id"]
    # columns: Glucose, BMI, their two missing indicators, smoker one-hot (3 categories and its gap, "(missing)")
    assert record["columns_out"] == a.n_features == 8
    assert sum(record["class_balance"].values()) == pytest.approx(1.0)
    # fit on the training rows only: an imputed Glucose is the median of the training rows' measured values
    train_rows = frame.iloc[_train_positions(frame, a)]
    measured = train_rows["Glucose"][train_rows["Glucose"] != 0]
    imputed = a.x_train[a.x_train[:, 2] == 1.0, 0]   # the Glucose indicator column is set
    assert len(imputed) and torch.allclose(imputed, torch.tensor(float(measured.median())))
    assert not torch.isnan(a.x_train).any() and not torch.isnan(a.x_test).any()
    # preprocess.missing: drop drops the incomplete rows (and says how many)
    dropped = load(DatasetSpec(name="table", path=str(tmp_path / "messy.csv"), target="class",
                               preprocess={"missing": "drop", "missing_values": {"Glucose": [0]}}), 0)
    assert dropped.preprocessing["rows_dropped_for_missing"] == 120 - sum(dropped.sizes().values()) > 0


def _train_positions(frame, splits):
    """Rows of the frame that became training rows (matched on the id column)."""
    from pipeline.splits import _split

    spec = DatasetSpec(name="table", path="x", target="class")
    (x_train, _), _, _ = _split(spec, 0, frame, frame["class"].to_numpy(), None, None)
    return x_train["patient_id"].to_numpy()


def test_unseen_categories_and_encodings(tmp_path):
    import pandas as pd

    train = pd.DataFrame({"colour": ["red", "blue"] * 30, "x": np.arange(60.0), "y": [0, 1] * 30})
    test = pd.DataFrame({"colour": ["green"], "x": [1.0], "y": [0]})   # a category never seen in training
    from pipeline import table_features

    arrays, _, record = table_features.fit_features(DatasetSpec(name="table", path="x", target="y"),
                                                    [train[["colour", "x"]], test[["colour", "x"]]])
    assert record["encoded_columns"] == ["colour"] and arrays[1][0, 1:].tolist() == [0.0, 0.0]  # all-zero one-hot
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Größe,Ziel\n1,a\n2,b\n3,a\n4,b\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"not utf-8 text \(byte 2 on line 1: b'\\xf6'\).*encoding"):   # the ö of Größe
        load(DatasetSpec(name="table", path=str(latin), target="Ziel"), 0)
    # far into a file, past what pandas decodes at once: the byte's place in the file, and its line
    far = tmp_path / "far.csv"
    body = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(50_000))
    far.write_bytes(body + "Gr\u00f6\u00dfe,1\n".encode("latin-1"))
    with pytest.raises(UsageError, match=rf"not utf-8 text \(byte {len(body) + 2} on line 50002: b'\\xf6'\)"):
        load(DatasetSpec(name="table", path=str(far), target="y"), 0)
    ok = load(DatasetSpec(name="table", path=str(latin), target="Ziel", encoding="latin-1", val_fraction=0.25,
                          test_fraction=0.25), 0)
    assert ok.class_names == ["a", "b"]


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_torchvision_loaders_read_idx_files(tmp_path, name, folder):
    rng = np.random.default_rng(1)
    raw = tmp_path / folder / "raw"
    write_idx(raw, "train", rng.integers(0, 256, size=(50, 28, 28)), rng.integers(0, 10, size=50))
    write_idx(raw, "t10k", rng.integers(0, 256, size=(20, 28, 28)), np.arange(20) % 10)
    s = load(DatasetSpec(name=name, root=str(tmp_path), download=False, val_fraction=0.2), 0)
    assert s.sizes() == {"train": 40, "val": 10, "test": 20}
    assert s.n_features == 784 and s.n_classes == 10
    assert torch.equal(s.y_test, torch.arange(20) % 10)  # the official test split is kept as is


def test_torchvision_files_missing_or_broken_are_one_line_naming_the_folder(tmp_path):
    """Missing files name the folder they belong in; files torchvision cannot read are not called
    missing; labels that do not match the images (count, or a class beyond the set's) are refused
    (torchvision checks neither: a traceback deep in the split, or a label 12 trained silently)."""
    raw = tmp_path / "FashionMNIST" / "raw"
    with pytest.raises(UsageError, match=f"FashionMNIST files not found in {raw}/ .*set download: true"):
        load(DatasetSpec(name="fashion_mnist", root=str(tmp_path), download=False), 0)
    rng = np.random.default_rng(2)
    write_idx(raw, "t10k", rng.integers(0, 256, size=(20, 28, 28)), np.arange(20) % 10)
    write_idx(raw, "train", rng.integers(0, 256, size=(50, 28, 28)), rng.integers(0, 10, size=50))
    (raw / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 40) + bytes(40))   # 40 labels
    with pytest.raises(UsageError, match="train-labels-idx1-ubyte has 40 labels for 50 images"):
        load(DatasetSpec(name="fashion_mnist", root=str(tmp_path), download=False), 0)
    write_idx(raw, "train", rng.integers(0, 256, size=(50, 28, 28)), np.full(50, 12))
    with pytest.raises(UsageError, match="has label 12; FashionMNIST has classes 0 to 9"):
        load(DatasetSpec(name="fashion_mnist", root=str(tmp_path), download=False), 0)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:600])   # truncated
    with pytest.raises(UsageError, match="cannot be read .*truncated or foreign file"):
        load(DatasetSpec(name="fashion_mnist", root=str(tmp_path), download=False), 0)


def test_a_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    """download: true where the mirror cannot be reached (a closed port on this machine: a real
    download attempt, no internet needed) is one line, and leaves no empty data folders behind
    (torchvision makes <root>/FashionMNIST/raw before it downloads)."""
    import torchvision

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    root = tmp_path / "data"
    with pytest.raises(UsageError, match=r"FashionMNIST files not found in .* and could not be downloaded") as e:
        load(DatasetSpec(name="fashion_mnist", root=str(root)), 0)
    assert not root.exists() and list(tmp_path.iterdir()) == []
    # the cause is the URL error, torchvision's last line (its first ends at "Error downloading ...:")
    assert "Connection refused" in str(e.value) and "put the four IDX files" in str(e.value), str(e.value)
    # a folder the file never named is said to be the default, not "field 'root'"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPELINE_DATA_DIR", raising=False)
    with pytest.raises(UsageError, match=r"the default data folder 'data' \(field 'root' not set\)"):
        load(DatasetSpec(name="fashion_mnist"), 0)


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST" / "raw").is_dir(), reason="real MNIST not present")
def test_real_mnist_from_shared_data():
    s = load(DatasetSpec(name="mnist", root=str(SHARED_MNIST), download=False, train_size=5000,
                         val_fraction=1 / 12, standardize=False), 0)
    assert s.sizes() == {"train": 5000, "val": 5000, "test": 10000}
    assert abs(float(s.x_test.mean()) - 0.1325) < 0.01  # MNIST test pixel mean
    assert sorted(torch.unique(s.y_test).tolist()) == list(range(10))


def test_registry_lists_every_dataset():
    assert {"digits", "breast_cancer", "wine", "synthetic_linear", "quadrants", "csv", "mnist",
            "fashion_mnist"} <= set(REGISTRY)


def test_a_training_split_with_a_single_class_is_refused(tmp_path):
    """One positive among 40 rows and most rows held out: on some split seeds the training rows
    have one class only, and nothing can be learned; the load says so (and which fields to
    change) instead of training models that always predict it."""
    rows = "a,y\n" + "".join(f"{i * 0.1:.1f},{int(i == 7)}\n" for i in range(40))
    path = write_csv(tmp_path / "rare.csv", rows)
    outcomes = []
    for seed in range(12):
        try:
            s = load(DatasetSpec(name="csv", path=path, target="y", test_fraction=0.25, val_fraction=0.6), seed)
            outcomes.append(len(torch.unique(s.y_train)))
        except UsageError as e:
            assert "the training split has a single class" in str(e) and "val_fraction" in str(e)
            outcomes.append("refused")
    assert "refused" in outcomes and 2 in outcomes


def test_a_class_without_training_rows_is_warned_about(tmp_path):
    """A class that lands only in validation or test cannot be learned: the table's record warns."""
    rows = "a,y\n" + "".join(f"{(i * 7) % 40 + 0.5},{'rare' if i == 5 else ('x' if i % 2 else 'z')}\n" for i in range(40))
    path = write_csv(tmp_path / "rare.csv", rows)
    seen = []
    for seed in range(8):
        s = load(DatasetSpec(name="csv", path=path, target="y", val_fraction=0.5), seed)
        warned = [w for w in s.preprocessing["warnings"] if "no training rows" in w]
        seen.append(bool(warned))
        assert bool(warned) == (s.preprocessing["class_balance"]["rare"] == 0)
        assert not warned or warned[0].startswith("1 class has no training rows ('rare'; ")
    assert any(seen) and not all(seen)


def test_semicolon_and_tab_separated_tables(tmp_path):
    """A European spreadsheet's CSV (semicolons, decimal commas) and a tab-separated export read
    as the same table as the comma-separated one."""
    rng = np.random.default_rng(2)
    values = rng.normal(size=(40, 2)).round(2)
    labels = (values[:, 0] > 0).astype(int)
    comma = write_csv(tmp_path / "c.csv", "a,b,y\n" + "".join(f"{a},{b},{y}\n" for (a, b), y in zip(values, labels)))
    semi = write_csv(tmp_path / "s.csv", "a;b;y\n" + "".join(f"{a};{b};{y}\n".replace(".", ",")
                                                              for (a, b), y in zip(values, labels)))
    tab = write_csv(tmp_path / "t.tsv", "a\tb\ty\n" + "".join(f"{a}\t{b}\t{y}\n" for (a, b), y in zip(values, labels)))
    base = load(DatasetSpec(name="csv", path=comma, target="y"), 0)
    for path in (semi, tab):
        other = load(DatasetSpec(name="csv", path=path, target="y"), 0)
        assert other.n_features == 2 and torch.equal(other.x_train, base.x_train) and torch.equal(other.y_test, base.y_test)


def test_stratify_keeps_each_class_s_share_in_the_test_and_validation_splits(tmp_path):
    """A 5% class (10 of 200 rows): shuffled splits give the test split anywhere from 0 to 6 of
    them by split seed; `stratify: true` gives it its share, 2 or 3 of 50, and validation 1 or 2 of
    30, on every seed. The training rows are what is left; an unset stratify changes nothing, not
    the identity either; a regression target or a class of one row is refused."""
    from pipeline.study import build_study

    rows = "a,b,y\n" + "".join(f"{i % 17},{(i * 7) % 11},{'rare' if i % 20 == 0 else ('x' if i % 2 else 'z')}\n"
                               for i in range(200))
    path = write_csv(tmp_path / "t.csv", rows)
    rare_in = {"plain": set(), "stratified": set()}
    for seed in range(10):
        plain = load(DatasetSpec(name="csv", path=path, target="y"), seed)
        strat = load(DatasetSpec(name="csv", path=path, target="y", stratify=True), seed)
        rare = plain.class_names.index("rare")
        rare_in["plain"].add(int((plain.y_test == rare).sum()))
        rare_in["stratified"].add(int((strat.y_test == rare).sum()))
        assert int((strat.y_val == rare).sum()) in (1, 2) and strat.sizes() == plain.sizes()
    assert rare_in["stratified"] <= {2, 3} and len(rare_in["plain"] - {2, 3}) > 0, rare_in
    # a train_size subset in the classes' shares too (6 training rows of 120 are rare: 2 of 40),
    # and the sizes nested (the 40 rows are the first of the 80)
    small, large = (load(DatasetSpec(name="csv", path=path, target="y", stratify=True, train_size=n, normalize="none"), 3)
                    for n in (40, 80))
    rare = small.class_names.index("rare")
    assert int((small.y_train == rare).sum()) == 2 and int((large.y_train == rare).sum()) == 4
    assert torch.equal(large.x_train[:40], small.x_train)
    from pipeline.identity import _dataset_identity   # that order is new: studies that ran before start afresh
    assert _dataset_identity(DatasetSpec(name="csv", path=path, target="y", stratify=True, train_size=40), False)[
        "train_order"] == "stratified"
    study = {"name": "s", "arms": ["none", "l2"], "seeds": 2, "datasets": [{"name": "csv", "path": path, "target": "y"}]}
    before = build_study(study, "s.yaml").plans[0].config_hash
    study["datasets"][0]["stratify"] = False
    assert build_study(study, "s.yaml").plans[0].config_hash == before
    study["datasets"][0]["stratify"] = True
    assert build_study(study, "s.yaml").plans[0].config_hash != before
    with pytest.raises(UsageError, match="field 'stratify' = true keeps each class's share in every split; this "
                                         "dataset's task is regression"):
        load(DatasetSpec(name="synthetic_linear", stratify=True), 0)
    lone = write_csv(tmp_path / "lone.csv", rows + "3,3,single\n")
    with pytest.raises(UsageError, match=r"field 'stratify' = true: test_fraction cannot hold every class in its share "
                                         r"\(the rarest class, 'single', has 1 row, and a stratified split needs 2 of each\)"):
        load(DatasetSpec(name="csv", path=lone, target="y", stratify=True), 0)
