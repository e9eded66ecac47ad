"""The population engine against the reference trainer: same numbers, model by model."""

import dataclasses

import pytest
import torch
from scipy import stats as sst

from pipeline.datasets import load
from pipeline.errors import Diverged, UsageError
from pipeline.population import train_population
from pipeline.streams import MaskStream
from pipeline.study import DatasetSpec
from pipeline.train import train
from pipeline.trainer_common import TrialConfig

from .test_regularizers import toy_splits

LOGGED = ("train_loss", "train_data_loss", "train_penalty", "val_loss", "val_metric")


# metrics that count predictions: one borderline prediction flipped moves them by a step
COUNTING = ("accuracy", "balanced_accuracy", "macro_f1", "metric")


def one_flip(data) -> dict[str, float]:
    """Per split, the most one flipped prediction can move a counting metric: 1/n for accuracy,
    1/(classes x smallest class) for balanced accuracy, up to twice that for macro F1 (the two
    classes involved both change)."""
    if data is None or data.task != "classification":
        return {}
    out = {}
    for split in ("train", "val", "test"):
        y = getattr(data, f"y_{split}")
        counts = torch.bincount(y)
        counts = counts[counts > 0]
        out[split] = max(1.0 / len(y), 2.0 / (len(counts) * int(counts.min()))) + 1e-6
    return out


def assert_same(ref, pop, tol=1e-5, data=None):
    """Every logged metric within tol. Counting metrics (accuracy, balanced accuracy, macro F1)
    may differ by one flipped prediction of their split: batched and single matmuls round in a
    different order (weights differ by ~1e-7), which can flip one borderline prediction (seen on
    an AMD EPYC: one of digits' 200 training samples, with momentum 0.9)."""
    assert not isinstance(pop, Exception), pop
    flip = one_flip(data)
    for key in LOGGED:
        allowed = flip["val"] if key == "val_metric" and flip else tol
        assert pop.history[key] == pytest.approx(ref.history[key], abs=allowed, rel=tol), key
    for key, value in ref.final.items():
        allowed = tol
        for split in flip:
            if any(key in (f"final_{split}_{m}", f"{split}_{m}") for m in COUNTING):
                allowed = flip[split]
        if flip and any(key == f"gap_{m}" for m in COUNTING):
            allowed = flip["train"] + flip["test"]
        assert pop.final[key] == pytest.approx(value, abs=allowed, rel=tol), key
    assert pop.epochs_run == ref.epochs_run and pop.best_epoch == ref.best_epoch


@pytest.mark.parametrize("optimizer,l2_mode,activation,momentum", [
    ("sgd", "penalty", "relu", 0.9), ("sgd", "weight_decay", "relu", 0.9), ("sgd", "penalty", "tanh", 0.0),
    ("adam", "penalty", "relu", 0.0), ("adam", "decoupled", "tanh", 0.0)])
def test_population_reproduces_reference_for_every_arm(optimizer, l2_mode, activation, momentum):
    data = load(DatasetSpec(name="digits", train_size=200), 0)
    common = dict(hidden=(32, 16), dropout=(0.0, 0.0), optimizer=optimizer, l2_mode=l2_mode, activation=activation,
                  lr=0.05 if optimizer == "sgd" else 0.005, momentum=momentum, epochs=4, batch_size=32)
    cfgs = [TrialConfig(arm="none", seed=0, **common), TrialConfig(arm="l1", seed=1, l1=1e-3, **common),
            TrialConfig(arm="l2", seed=2, l2=1e-2, **common), TrialConfig(arm="l2", seed=3, l2=3e-2, **common),
            TrialConfig(arm="none", seed=4, **common)]
    for ref_cfg, result in zip(cfgs, train_population(cfgs, data)):
        assert_same(train(ref_cfg, data), result, data=data)


def test_a_linear_model_trains_the_same_in_both_engines():
    """model.hidden: [] is a linear model (d2l's weight-decay chapter: linear regression on many
    features): the weights are the whole model, L1 and L2 penalize them, both engines agree."""
    data = toy_splits("regression", n=64)
    common = dict(hidden=(), dropout=(), optimizer="sgd", lr=0.01, momentum=0.0, epochs=10, batch_size=16)
    cfgs = [TrialConfig(arm="none", seed=0, **common), TrialConfig(arm="l1", seed=1, l1=1e-2, **common),
            TrialConfig(arm="l2", seed=2, l2=0.1, **common)]
    for ref_cfg, result in zip(cfgs, train_population(cfgs, data)):
        assert_same(train(ref_cfg, data), result)


def test_population_regression_with_early_stopping_and_divergence():
    data = toy_splits("regression", n=64)
    common = dict(hidden=(16,), dropout=(0.0,), optimizer="sgd", lr=0.01, momentum=0.0, epochs=60,
                  batch_size=16, early_stopping_patience=3)
    cfgs = [TrialConfig(arm="none", seed=0, **common),
            TrialConfig(arm="l2", seed=1, l2=1e6, **common),   # each step multiplies w by -9999: diverges
            TrialConfig(arm="l2", seed=2, l2=0.1, **common)]
    results = train_population(cfgs, data)
    assert isinstance(results[1], Diverged)
    with pytest.raises(Diverged):
        train(cfgs[1], data)
    for i in (0, 2):  # the diverged model did not disturb the others
        assert_same(train(cfgs[i], data), results[i])


@pytest.mark.parametrize("metric,tol", [("macro_f1", 0.02), ("log_loss", 1e-4)])
def test_both_engines_record_a_chosen_metric_per_epoch(metric, tol):
    """A primary metric other than the task's default is recorded per epoch as val_<name> (what
    tuning prunes on), by both engines alike; after the last epoch it is the final validation
    value. With the default metric nothing is added. (Macro F1 counts predictions: one flipped
    borderline prediction moves it by about a point, as for accuracy in assert_same.)"""
    data = load(DatasetSpec(name="digits", train_size=200, metric=metric), 0)
    common = dict(hidden=(32,), dropout=(0.0,), optimizer="sgd", lr=0.05, momentum=0.9, epochs=3, batch_size=32)
    cfgs = [TrialConfig(arm="none", seed=0, **common), TrialConfig(arm="l2", seed=1, l2=1e-2, **common)]
    key = f"val_{metric}"
    for cfg, pop in zip(cfgs, train_population(cfgs, data)):
        ref = train(cfg, data)
        for r in (ref, pop):
            assert set(r.history) == {*LOGGED, key} and len(r.history[key]) == 3
            assert r.history[key][-1] == pytest.approx(r.final["final_val_metric"], rel=1e-5, abs=1e-6)
        assert pop.history[key] == pytest.approx(ref.history[key], abs=tol)
    default = load(DatasetSpec(name="digits", train_size=200), 0)
    assert set(train(cfgs[0], default).history) == set(LOGGED)
    assert set(train_population(cfgs, default)[0].history) == set(LOGGED)


def test_population_with_dropout_matches_reference_and_rates():
    data = load(DatasetSpec(name="digits", train_size=150), 0)
    common = dict(hidden=(64, 32), optimizer="sgd", lr=0.05, momentum=0.9, epochs=3, batch_size=32)
    cfgs = [TrialConfig(arm="dropout", seed=s, dropout=(0.5, 0.2), **common) for s in range(6)]
    cfgs += [TrialConfig(arm="none", seed=s, dropout=(0.0, 0.0), **common) for s in range(6, 12)]
    cfgs += [TrialConfig(arm="dropout", seed=12, dropout=(0.0, 0.4), **common)]  # second layer only
    pop_results = train_population(cfgs, data)
    ref_results = [train(c, data) for c in cfgs]
    # the per-seed masks are the reference's own, so each model matches its reference run
    for ref, res in zip(ref_results, pop_results):
        assert_same(ref, res, tol=1e-4, data=data)
    # and as distributions over seeds (what would catch a wrong scale or a shared mask)
    pop_acc = [r.final["test_metric"] for r in pop_results[:6]]
    ref_acc = [r.final["test_metric"] for r in ref_results[:6]]
    assert sst.mannwhitneyu(pop_acc, ref_acc).pvalue > 0.05
    # per-model drop rates equal the configured p, masks differ between models, and drawing
    # ahead in chunks of any size gives the same masks as drawing step by step
    members = cfgs[:3] + cfgs[6:7] + cfgs[12:]
    def stream(budget):
        return MaskStream([c.dropout for c in members], [c.seed for c in members], (64, 32),
                          torch.device("cpu"), budget=budget)
    sizes = [100] * 5 + [37]
    steps = list(stream(1 << 22).epoch(sizes))
    assert len(steps) == 6 and [s[0].shape for s in steps] == [(5, m, 64) for m in sizes]
    for a, b in zip(steps, stream(1).epoch(sizes)):  # budget 1: one step per chunk
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    first = torch.cat([s[0] for s in steps], 1)   # [K, samples, 64]
    second = torch.cat([s[1] for s in steps], 1)
    rates = [(first == 0).float().mean((1, 2)), (second == 0).float().mean((1, 2))]
    assert rates[0].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.0, 0.0], abs=0.01)
    assert rates[1].tolist() == pytest.approx([0.2, 0.2, 0.2, 0.0, 0.4], abs=0.015)
    assert torch.allclose(first[0][first[0] != 0], torch.tensor(2.0))
    assert not torch.equal(first[0], first[1])


def test_a_cells_numbers_do_not_depend_on_its_population():
    """population_size is an execution setting, outside a study's identity: a cell trained alone,
    beside other cells, or in another order gets bit-identical numbers (dropout masks included,
    whose chunking depends on the trial alone)."""
    data = load(DatasetSpec(name="digits", train_size=200), 0)
    common = dict(hidden=(32, 16), optimizer="sgd", lr=0.05, momentum=0.9, epochs=3, batch_size=32)
    a = TrialConfig(arm="dropout", seed=0, dropout=(0.5, 0.2), **common)
    b = TrialConfig(arm="l2", seed=1, dropout=(0.0, 0.0), l2=1e-2, **common)
    c = TrialConfig(arm="dropout_l2", seed=2, dropout=(0.0, 0.4), l2=1e-3, **common)
    d = TrialConfig(arm="none", seed=3, dropout=(0.0, 0.0), **common)
    full = train_population([a, b, c, d], data)
    alone, pair = train_population([a], data), train_population([c, a], data)
    for x, y in ((full[0], alone[0]), (full[0], pair[1]), (full[2], pair[0])):
        assert x.history == y.history and x.final == y.final
    # and the masks of a model are the same whatever population draws them
    first = list(MaskStream([a.dropout, c.dropout], [0, 2], (32, 16), torch.device("cpu")).epoch([32] * 7))
    solo = list(MaskStream([c.dropout], [2], (32, 16), torch.device("cpu")).epoch([32] * 7))
    assert all(torch.equal(s[1][0], f[1][1]) for s, f in zip(solo, first))


def test_epoch_orders_drawn_ahead_in_a_thread_are_each_models_own_stream():
    """On CUDA the next epoch's batch orders are drawn on a thread while an epoch trains; the
    orders are still every model's randperms in turn. Checked on the CPU by giving a run the
    drawer that CUDA runs get: the same orders as drawn at each epoch's start."""
    from concurrent.futures import ThreadPoolExecutor
    from pipeline.population import _PopulationRun

    data = load(DatasetSpec(name="digits", train_size=200), 0)
    cfgs = [TrialConfig(arm="none", seed=s, dropout=(0.0,), hidden=(8,), epochs=3) for s in (4, 1, 9)]
    ahead, plain = (_PopulationRun(cfgs, data, torch.device("cpu")) for _ in range(2))
    ahead.order_drawer = ThreadPoolExecutor(1)
    try:
        drawn = [ahead._epoch_order() for _ in range(3)]
    finally:
        ahead.stop_drawing()
    for order in drawn:
        assert torch.equal(order, plain._epoch_order())
    assert not torch.equal(drawn[0], drawn[1]) and sorted(drawn[2][1].tolist()) == list(range(plain.n))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (run on a GPU machine)")
def test_on_cuda_both_engines_draw_the_same_dropout_masks():
    """Dropout masks are a function of the trial alone on every device: on CUDA too, the
    population engine matches the reference trainer model by model, dropout arms included, and a
    cell's numbers do not depend on the population it lands in."""
    data = load(DatasetSpec(name="digits", train_size=200), 0)
    common = dict(hidden=(64, 32), optimizer="sgd", lr=0.05, momentum=0.9, epochs=3, batch_size=32, device="cuda")
    cfgs = [TrialConfig(arm="dropout", seed=s, dropout=(0.5, 0.2), **common) for s in range(3)]
    cfgs += [TrialConfig(arm="dropout_l2", seed=3, dropout=(0.0, 0.4), l2=1e-3, **common),
             TrialConfig(arm="none", seed=4, dropout=(0.0, 0.0), **common)]
    pop = train_population(cfgs, data)
    for cfg, result in zip(cfgs, pop):
        assert_same(train(cfg, data), result, tol=1e-4, data=data)
    alone = train_population(cfgs[:1], data)[0]
    assert alone.history["train_loss"] == pytest.approx(pop[0].history["train_loss"], rel=1e-5)


def test_a_regression_table_far_from_unit_scale_is_learned(tmp_path):
    """A price around 20,000 is out of reach of an MLP's initial outputs: trained on the raw
    target the model learns next to nothing (R² far below 0). A table's regression target is
    standardized for training by default, and both engines report every metric in the file's
    units: MSE = (1 - R²) x the test targets' variance, the last epoch's val_metric the final
    validation MSE."""
    import numpy as np

    from .test_datasets import write_csv

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    price = 20000 + 4000 * (x @ [0.8, -0.5, 0.3]) + rng.normal(0, 300, size=300)
    path = write_csv(tmp_path / "prices.csv", "a,b,c,price\n" + "\n".join(
        f"{a:.4f},{b:.4f},{c:.4f},{p:.2f}" for (a, b, c), p in zip(x, price)))
    data = load(DatasetSpec(name="csv", path=path, target="price"), 0)
    raw = load(DatasetSpec(name="csv", path=path, target="price", standardize_target=False), 0)
    mean, std = data.target_scale
    assert raw.target_scale is None and abs(mean - 20000) < 1000 and 2000 < std < 6000
    assert data.y_train.mean().abs() < 1e-4 and data.preprocessing["target_scale"] == pytest.approx([mean, std], rel=1e-5)
    cfg = TrialConfig(arm="none", seed=0, hidden=(16,), dropout=(0.0,), optimizer="adam", lr=0.01, epochs=30,
                      batch_size=32)
    ref, (pop,) = train(cfg, data), train_population([cfg], data)
    assert_same(ref, pop, tol=1e-4)
    y_test = data.in_target_units(data.y_test.numpy().astype("float64"))
    for r in (ref, pop):
        assert r.final["test_r2"] > 0.9
        assert r.final["test_mse"] == pytest.approx((1 - r.final["test_r2"]) * y_test.var(), rel=1e-3)
        assert r.history["val_metric"][-1] == pytest.approx(r.final["final_val_mse"], rel=1e-4)
        assert r.final["test_mae"] > 50   # in the file's units, not the standardized target's (~0.1)
    assert train(cfg, raw).final["test_r2"] < 0


def test_balanced_class_weights_learn_the_rare_class_in_both_engines(tmp_path):
    """An 88/12 table with a real but weak signal: the plain loss settles on the majority class
    (balanced accuracy near 0.5, what a constant prediction scores); class_weight: balanced
    weighs each class as if they were balanced (scikit-learn's n / (classes x count)), and the
    rare class is found. Both engines weigh alike, losses included."""
    import numpy as np

    from .test_datasets import write_csv

    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 2))
    y = (x[:, 0] + 0.5 * rng.normal(size=600) > 1.2).astype(int)
    path = write_csv(tmp_path / "rare.csv", "a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{t}\n" for (a, b), t in zip(x, y)))
    spec = dict(name="csv", path=path, target="y", metric="balanced_accuracy")
    plain, weighted = load(DatasetSpec(**spec), 0), load(DatasetSpec(**spec, class_weight="balanced"), 0)
    counts = np.bincount(weighted.y_train.numpy())
    assert plain.class_weight is None and 0.08 < counts[1] / counts.sum() < 0.16
    assert weighted.class_weight.tolist() == pytest.approx(list(counts.sum() / (2 * counts)), rel=1e-6)
    cfg = TrialConfig(arm="none", seed=0, hidden=(8,), dropout=(0.0,), optimizer="sgd", lr=0.05, momentum=0.0,
                      epochs=3, batch_size=32)
    scores = {}
    for name, data in (("plain", plain), ("weighted", weighted)):
        ref, (pop,) = train(cfg, data), train_population([cfg], data)
        assert_same(ref, pop, tol=1e-5, data=data)
        scores[name] = ref.final["test_balanced_accuracy"]
    assert scores["plain"] < plain.chance["balanced_accuracy"] + 0.05 and scores["weighted"] > 0.75
    # The per-epoch training loss is the same weighted mean as the final one: with a learning rate
    # too small to move the weights, an epoch's batches average to the whole split's loss (batches
    # averaged by their sizes instead of their class weights differ in the third digit).
    still = dataclasses.replace(cfg, lr=1e-12, epochs=1)
    for r in (train(still, weighted), train_population([still], weighted)[0]):
        assert r.history["train_data_loss"][0] == pytest.approx(r.final["final_train_loss"], rel=1e-6)
    with pytest.raises(UsageError, match="class_weight' = 'balanced' needs a classification task"):
        load(DatasetSpec(name="synthetic_linear", class_weight="balanced"), 0)


def test_the_primary_metric_is_a_reading_of_one_training():
    """A dataset's metric changes nothing that is trained: every split records the whole family
    in both engines, and task.read_in reads a run trained under MSE exactly as one trained under
    MAE (gap included, in MAE's own sense: lower is better). A run from before every split had the
    family is read in its own metric, and in no other."""
    import math

    from pipeline.task import read_in

    cfg = TrialConfig(arm="l2", seed=1, hidden=(8,), dropout=(0.0,), optimizer="adam", lr=0.01, epochs=3,
                      batch_size=16, l2=1e-3)
    plain, mae = (load(DatasetSpec(name="synthetic_linear", train_size=60, **extra), 0) for extra in ({}, {"metric": "mae"}))
    for engine in (lambda data: train(cfg, data), lambda data: train_population([cfg], data)[0]):
        a, b = engine(plain).final, engine(mae).final
        family = [f"{split}_{name}" for split in ("test", "final_train", "final_val") for name in ("mse", "mae", "r2")]
        assert all(k in a and a[k] == b[k] for k in family)
        view = read_in(a, "regression", "mae", own="mse")
        assert view == {k: b[k] for k in view} and view["gap_metric"] == b["test_mae"] - b["final_train_mae"]
        legacy = {k: a[k] for k in ("test_metric", "final_train_metric", "final_val_metric", "gap_metric")}
        assert read_in(legacy, "regression", "mse", own="mse") == legacy
        assert all(math.isnan(v) for v in read_in(legacy, "regression", "mae", own="mse").values())
    # a per-metric value that is there but NaN (ROC AUC of a one-class split) is not replaced by
    # the trial's own *_metric (another metric's number)
    one_class = {"test_metric": 0.91, "test_roc_auc": math.nan, "final_train_roc_auc": 0.99, "final_val_roc_auc": 0.9}
    assert math.isnan(read_in(one_class, "classification", "roc_auc", own="roc_auc")["test_metric"])
