"""Each arm changes exactly what it should, checked against hand computations and torch itself."""

import math

import pytest
import torch

from pipeline.splits import Splits
from pipeline.model import MLP, InvertedDropout, l1_penalty, l2_penalty, weight_stats
from pipeline.train import TrialConfig, build_optimizer, train


def toy_splits(task="classification", n=96, d=5, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n * 3, d, generator=g)
    if task == "classification":
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    else:
        y = x @ torch.arange(1.0, d + 1) + 0.1 * torch.randn(n * 3, generator=g)
    return Splits("toy", task, x[:n], y[:n], x[n:2 * n], y[n:2 * n], x[2 * n:], y[2 * n:],
                  n_classes=2 if task == "classification" else 0)


def test_dropout_is_identity_in_eval_and_drops_p_in_train():
    g = torch.Generator().manual_seed(0)
    layer = InvertedDropout(0.3, g)
    x = torch.ones(200, 500)
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    out = layer(x)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.3) < 0.01
    # survivors are scaled by 1/(1-p), so the expectation is unchanged
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.02
    with pytest.raises(ValueError):
        InvertedDropout(1.0)


def test_model_dropout_only_in_training_mode():
    model = MLP(4, [32, 32], 2, dropout=[0.5, 0.5], init_generator=torch.Generator().manual_seed(1),
                dropout_generator=torch.Generator().manual_seed(2))
    x = torch.randn(8, 4)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_penalties_match_hand_computation_and_exclude_biases():
    model = MLP(3, [4], 2, init_generator=torch.Generator().manual_seed(0))
    w = [lin.weight.detach() for lin in model.linears]
    b = [lin.bias.detach() for lin in model.linears]
    hand_l1 = 0.01 * sum(float(x.abs().sum()) for x in w)
    hand_l2 = 0.5 * 0.1 * sum(float((x ** 2).sum()) for x in w)
    assert l1_penalty(model.penalized(False), 0.01).item() == pytest.approx(hand_l1, rel=1e-6)
    assert l2_penalty(model.penalized(False), 0.1).item() == pytest.approx(hand_l2, rel=1e-6)
    with_bias = 0.01 * sum(float(x.abs().sum()) for x in w + b)
    assert l1_penalty(model.penalized(True), 0.01).item() == pytest.approx(with_bias, rel=1e-6)
    assert len(model.penalized(False)) == 2 and len(model.penalized(True)) == 4


def test_biases_are_not_penalized_during_training():
    """One optimizer step with and without strong L1+L2 penalties moves the biases identically:
    the penalties reach only the weight matrices."""
    data = toy_splits()
    base = dict(arm="x", seed=3, hidden=(8,), dropout=(0.0,), epochs=1, batch_size=1000, lr=0.5)
    model_cfgs = [TrialConfig(**base), TrialConfig(**{**base, "l2": 10.0, "l1": 1.0})]
    biases = []
    for cfg in model_cfgs:
        model = MLP(data.n_features, cfg.hidden, 2, init_generator=torch.Generator().manual_seed(cfg.seed))
        opt = build_optimizer(cfg, model)
        loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
        loss = loss + l2_penalty(model.penalized(False), cfg.l2) + l1_penalty(model.penalized(False), cfg.l1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        biases.append([lin.bias.detach().clone() for lin in model.linears])
    for b0, b1 in zip(*biases):
        assert torch.allclose(b0, b1)


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)])
def test_l2_penalty_equals_coupled_weight_decay(optimizer, momentum):
    data = toy_splits()
    common = dict(arm="l2", seed=7, hidden=(16, 8), dropout=(0.0, 0.0), l2=0.05, optimizer=optimizer,
                  lr=0.05 if optimizer == "sgd" else 0.01, momentum=momentum, epochs=4, batch_size=16)
    a = train(TrialConfig(**common, l2_mode="penalty"), data, )
    b = train(TrialConfig(**common, l2_mode="weight_decay"), data)
    for key in ("val_loss", "val_metric"):
        assert a.history[key] == pytest.approx(b.history[key], abs=1e-5)
    for key in ("test_loss", "final_train_loss", "weight_l2_layer0", "weight_l2_layer2"):
        assert a.final[key] == pytest.approx(b.final[key], abs=1e-5)
    # and the decay really did something compared with no regularization
    c = train(TrialConfig(**{**common, "l2": 0.0}), data)
    assert c.final["weight_l2_layer0"] > a.final["weight_l2_layer0"] + 1e-3


def test_decoupled_decay_matches_torch_adamw():
    data = toy_splits("regression")
    cfg = TrialConfig(arm="l2", seed=1, hidden=(8,), dropout=(0.0,), l2=0.1, l2_mode="decoupled",
                      optimizer="adam", lr=0.01, epochs=3, batch_size=32)
    ours = train(cfg, data)
    # the same loop by hand with torch.optim.AdamW (weight decay on weight matrices only)
    model = MLP(data.n_features, [8], 1, init_generator=torch.Generator().manual_seed(1))
    g_order = torch.Generator().manual_seed(1 + 1_000_003)
    opt = torch.optim.AdamW([{"params": model.weights(), "weight_decay": 0.1},
                             {"params": [l.bias for l in model.linears], "weight_decay": 0.0}], lr=0.01)
    for _ in range(3):
        order = torch.randperm(len(data.x_train), generator=g_order)
        for s in range(0, len(order), 32):
            idx = order[s:s + 32]
            loss = torch.nn.functional.mse_loss(model(data.x_train[idx]).squeeze(-1), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        test_mse = torch.nn.functional.mse_loss(model(data.x_test).squeeze(-1), data.y_test).item()
    assert ours.final["test_mse"] == pytest.approx(test_mse, rel=1e-5)


def test_l1_drives_weights_towards_zero_and_stats_are_consistent():
    data = toy_splits()
    common = dict(arm="l1", seed=2, hidden=(32,), dropout=(0.0,), lr=0.1, epochs=15, batch_size=16)
    plain = train(TrialConfig(**common), data)
    sparse = train(TrialConfig(**common, l1=0.01), data)
    assert sparse.final["weight_l1_layer0"] < plain.final["weight_l1_layer0"]
    assert sparse.final["sparsity_lt_0.01"] > plain.final["sparsity_lt_0.01"]
    assert plain.final["sparsity_lt_0.0001"] <= plain.final["sparsity_lt_0.001"] <= plain.final["sparsity_lt_0.01"]
    # the logged penalty is exactly the L1 term and is separate from the data loss
    assert all(p > 0 for p in sparse.history["train_penalty"])
    assert all(p == 0 for p in plain.history["train_penalty"])
    for tot, dl, pen in zip(sparse.history["train_loss"], sparse.history["train_data_loss"], sparse.history["train_penalty"]):
        assert tot == pytest.approx(dl + pen, rel=1e-9)


def test_training_is_deterministic_per_seed_and_seed_matters():
    data = toy_splits()
    cfg = TrialConfig(arm="dropout", seed=5, hidden=(16, 16), dropout=(0.3, 0.3), epochs=3, batch_size=16)
    a, b = train(cfg, data), train(cfg, data)
    assert a.history == b.history and a.final == b.final
    c = train(TrialConfig(**{**cfg.__dict__, "seed": 6}), data)
    assert c.history["train_loss"] != a.history["train_loss"]


def test_divergence_is_detected():
    from pipeline.errors import Diverged

    data = toy_splits("regression")
    cfg = TrialConfig(arm="none", seed=0, hidden=(16,), dropout=(0.0,), lr=1e6, epochs=5, batch_size=16)
    with pytest.raises(Diverged):
        train(cfg, data)


def test_early_stopping_keeps_best_weights():
    data = toy_splits(n=40)
    cfg = TrialConfig(arm="none", seed=0, hidden=(64,), dropout=(0.0,), lr=0.5, epochs=200, batch_size=8,
                      early_stopping_patience=3)
    r = train(cfg, data)
    assert r.epochs_run < 200
    assert r.epochs_run - r.best_epoch == 3
    assert r.final["final_val_loss"] == pytest.approx(min(r.history["val_loss"]), rel=1e-6)


def test_weight_stats_thresholds():
    model = MLP(2, [2], 2)
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[0.0, 5e-4], [5e-3, 1.0]]))
        model.linears[1].weight.copy_(torch.tensor([[5e-5, 2.0], [3.0, 4.0]]))
    s = weight_stats(model)
    assert s["sparsity_lt_0.0001"] == pytest.approx(2 / 8)
    assert s["sparsity_lt_0.001"] == pytest.approx(3 / 8)
    assert s["sparsity_lt_0.01"] == pytest.approx(4 / 8)
    assert s["weight_l2_layer1"] == pytest.approx(math.sqrt(5e-5 ** 2 + 4 + 9 + 16))


def test_strengths_are_written_per_layer_unless_every_layer_has_the_same_p():
    """The console, the report and trials.csv write dropout per hidden layer: mnist.yaml's
    [0.5, 0.5, 0.0, 0.0] was written "dropout=0.5/0" (repeats removed), [0.2, 0.5, 0.2] would
    have been "0.2/0.5"; equal layers stay one p."""
    from pipeline.arms import strengths_text

    assert strengths_text("dropout", [0.5, 0.5, 0.0, 0.0], 0, 0) == "dropout=0.5/0.5/0/0"
    assert strengths_text("dropout", "0.2,0.5,0.2", 0, 0) == "dropout=0.2/0.5/0.2"
    assert strengths_text("dropout_l2", [0.3, 0.3], 0, 0.01, "weight_decay") == "dropout=0.3, l2=0.01 (weight_decay)"


def test_a_point_trains_at_the_strengths_its_name_says():
    """A waiting cell whose point the study file no longer lists (a strength changed while it waited,
    a path's point taken out) is trained by its name (arms.overrides_of, lifecycle.DatasetCells.born),
    not at the file's strengths under that name."""
    from pipeline.arms import overrides_of, variant_id
    from pipeline.study import build_study

    from .conftest import tiny_study_dict

    for overrides in ({"l2": 0.001}, {"dropout": [0.2, 0.5], "l2": 1e-05, "l2_mode": "decoupled"}, {"dropout": 0.3},
                      {"l1": 0.0001}, {}, {"l2": 0.0012345679}, {"l2": 10 ** -3.5}, {"dropout": [0.1 + 0.2, 0.5]}):
        assert overrides_of(variant_id(overrides)) == overrides
    assert variant_id({"l2": 0.001, "l1": 3e-05}) == "l2=0.001,l1=3e-05"   # short where 6 digits say it exactly
    # strengths that differ past the 6th significant digit are two cells, not one named "l2=0.00123457"
    named = [build_study(tiny_study_dict(strengths={"l2": l2}), "s") for l2 in (0.0012345671, 0.0012345679)]
    cells = [set(s.grid_cells(plan=s.plans[0])) for s in named]
    assert cells[0] != cells[1] and ("l2", 0, "l2=0.0012345679") in cells[1]
    # a study held under an earlier identity (own points "") names its path's points as it did then, 6
    # digits: its cells, runs and path_points tag of logspace's 3.1622776601683795e-05 are found again
    from dataclasses import replace

    logspace = build_study(tiny_study_dict(paths={"l2": [1e-05, 10 ** -4.5]}), "s")
    earlier = replace(logspace.plans[0], own_points=False)
    assert logspace.point_ids("l2", earlier) == ["l2=1e-05", "l2=3.16228e-05"]
    assert logspace.point_ids("l2", logspace.plans[0]) == ["l2=1e-05", "l2=3.1622776601683795e-05"]
    training = build_study(tiny_study_dict(), "s").plans[0].training   # l2 1e-3 in the file
    cfg = TrialConfig.for_cell(training, "dropout_l2", 0, variant=overrides_of("dropout=0.2/0.5,l2=0.01,l2_mode=decoupled"))
    assert (cfg.dropout, cfg.l2, cfg.l2_mode, cfg.l1) == ((0.2, 0.5), 0.01, "decoupled", 0.0)


def test_the_strengths_line_names_a_paths_points_as_its_cells_are():
    """A path over one of dropout+L2's axes trains at the arm's own strength on the other (Study.points):
    the console's strengths line says it ("dropout=0.1,l2=0.02 to ..."), so that a changed
    strengths.dropout_l2.l2 is seen there (the line read "dropout=0.1 to dropout=0.3" at any l2)."""
    from pipeline.study import build_study

    from .conftest import tiny_study_dict

    raw = tiny_study_dict(arms=["none", "dropout_l2"], strengths={"dropout": 0.3, "l2": 1e-3, "dropout_l2": {"l2": 0.02}},
                          paths={"dropout_l2": {"dropout": [0.1, 0.3]}})
    study = build_study(raw, "s")
    assert "dropout+L2: a path of 2 points (dropout=0.1,l2=0.02 to dropout=0.3,l2=0.02)" in study.strengths_line(study.plans[0])


def test_a_waiting_cell_of_a_strength_the_file_no_longer_lists_trains_at_its_own(workdir, env):
    """DatasetCells.born: a cell popped at "l2=0.05" by a worker whose file says l2 1e-3 (the cells
    it maps) trains at 0.05, the strength its name and its run say (it trained at the file's)."""
    from dataclasses import replace

    from .conftest import a_worker_in_process

    study, _, _, ostudy, cells = a_worker_in_process(workdir, env, "waited")
    cells = replace(cells, variants={arm: study.points(arm, study.plans[0]) for arm in study.arms})
    live = cells.born(ostudy.ask(), "l2", 0, "l2=0.05")
    assert live.payload.l2 == 0.05 and live.run.params["l2"] == "0.05" and live.name == "wine/l2@l2=0.05/seed0"
    assert cells.born(ostudy.ask(), "l2", 0, "l2=0.001").payload.l2 == 0.001
