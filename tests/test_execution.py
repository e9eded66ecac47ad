"""Execution settings of issue 14: population_size auto, the device rule, one CPU thread for small
models, opt-in tf32; none of them changes a study's identity or (on CPU) its numbers."""

import pytest
import torch

from pipeline import study_schema as study_mod
from pipeline.datasets import load
from pipeline.population import model_bytes, population_chunk, train_population
from pipeline.study import DatasetSpec, build_study, load_study
from pipeline.train import train
from pipeline.trainer_common import (CUDA_MIN_STEP_FLOPS, SINGLE_THREAD_STEP_FLOPS, TrialConfig, resolve_device,
                                     training_device)

from .conftest import ROOT, tiny_study_dict

# The identities of the shipped studies before issue 14 (commit 9266caa): unchanged, so every
# study run before resumes. Tables are the exception, on purpose: identity.TABLE_RULES 2, 3 and 4 changed
# how they are prepared (their numbers), so messy_table's earlier runs are not mixed with new ones
# (its `metric:` left the identity of untuned studies at the same time, changing it once more; and
# the file's contents joined it: identity.table_digest). Its path then left the identity
# (identity.LOCATION_DEFAULTS): the identity as hashed before is its plan's located_hash, under
# which the commands find its earlier study (Study.adopted). Its smoker column has blanks, which became a
# category of their own (identity's "text_missing"): another preparation, so another identity again (it
# was fa96cc0911a3).
SHIPPED = {"default.yaml": "24e055cb0495", "mnist.yaml": "533262f9d568", "tuned.yaml": "79a968307eae",
           "messy_table.yaml": "7448a8f553f0", "paths.yaml": "8d4831af5183"}


@pytest.mark.parametrize("name,identity", sorted(SHIPPED.items()))
def test_shipped_studies_keep_their_identity(name, identity):
    """... and an untuned study's strengths then left its identity (identity.CELL_STRENGTHS): the one
    hashed before is its strengths_hash, which Study.adopted resumes with its cells named as before."""
    study = load_study(ROOT / "studies" / name)
    plan = study.plans[0]
    assert plan.located_hash == identity
    assert (plan.config_hash != identity) == (plan.dataset.path is not None or study.spec.tune is None)
    assert (plan.strengths_hash == identity) == (plan.dataset.path is None)
    resumed = study.adopted({plan.label: {identity}}).plans[0]
    assert resumed.config_hash == identity and not resumed.own_points
    if study.spec.tune is None:   # its arms' own points named "" as before; named by their strengths afresh
        assert all(study.point_ids(arm, resumed) == study.point_ids(arm) for arm in study.arms)
        assert "" not in study.point_ids(study.arms[-1], plan) and study.arms[-1] != "none"


def test_precision_and_tune_batch_join_the_identity_only_when_set():
    base = tiny_study_dict(tune={"trials": 3, "seeds": [100]})
    plain = build_study(base, "s").plans[0].config_hash
    assert build_study({**base, "precision": "fp32"}, "s").plans[0].config_hash == plain
    tf32 = build_study({**base, "precision": "tf32"}, "s")
    assert tf32.plans[0].config_hash != plain and tf32.plans[0].training.precision == "tf32"
    batched = build_study({**base, "tune": {**base["tune"], "batch": 2}}, "s")
    assert batched.plans[0].config_hash != plain and batched.spec.tune.batch_size == 2
    assert build_study(base, "s").spec.tune.batch_size == study_mod.DEFAULT_TUNE_BATCH
    # the execution block stays out: auto, explicit sizes, engines and devices hash alike
    for execution in ({"population_size": 3}, {"population_size": "auto"}, {"engine": "reference", "device": "cpu"}):
        assert build_study({**base, "execution": execution}, "s").plans[0].config_hash == plain
    with pytest.raises(Exception, match="precision"):
        build_study({**base, "precision": "fp16"}, "s")


def test_a_setting_written_out_at_its_default_is_the_same_study(tmp_path):
    """`task: auto`, `encoding: UTF-8`, `normalize: per_feature` and `standardize_target: true` on a
    table, `normalize: unit` on images and `tune.batch: 4` are what their absence means: writing one
    out started another study (every arm retrained). Now hashed as unset; a study started before
    under the as-written identity (its written_hash) is the one the commands resume (Study.adopted).
    A value that is not the default still changes the identity."""
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40)))
    table = {"name": "table", "path": str(tmp_path / "t.csv"), "target": "y"}
    base = tiny_study_dict(datasets=[table, {"name": "mnist"}], tune={"trials": 3, "seeds": [100]})
    plain = build_study(base, "s").plans
    written = build_study({**base, "tune": {**base["tune"], "batch": study_mod.DEFAULT_TUNE_BATCH}, "datasets": [
        {**table, "task": "auto", "encoding": "UTF-8", "normalize": "per_feature", "standardize_target": True},
        {"name": "mnist", "normalize": "unit"}]}, "s")
    assert [p.config_hash for p in written.plans] == [p.config_hash for p in plain]
    assert all(p.written_hash != p.config_hash for p in written.plans)   # as hashed before: another identity
    assert all(p.written_hash == p.config_hash for p in plain)            # nothing written out: unchanged
    # a study its stores hold under the as-written identity resumes there; under the new one, there
    held = {p.label: {p.written_hash} for p in written.plans}
    assert [p.config_hash for p in written.adopted(held).plans] == [p.written_hash for p in written.plans]
    both = {p.label: {p.written_hash, p.config_hash} for p in written.plans}
    assert [p.config_hash for p in written.adopted(both).plans] == [p.config_hash for p in plain]
    for change in ({"task": "classification"}, {"encoding": "latin-1"}, {"normalize": "global"}, {"standardize_target": False}):
        other = build_study({**base, "datasets": [{**table, **change}, {"name": "mnist"}]}, "s").plans[0]
        assert other.config_hash != plain[0].config_hash, change


def test_population_size_auto_is_the_default_and_a_number_wins():
    auto = build_study(tiny_study_dict(), "s").plans[0].execution
    assert auto.population_auto
    expected = (min(2 * 5, study_mod.CUDA_POPULATION_CAP) if torch.cuda.is_available()
                else study_mod.CPU_POPULATION_SIZE)   # tiny study: 5 arms x 2 seeds
    assert auto.population_size == expected
    on_cpu = build_study(tiny_study_dict(execution={"device": "cpu"}), "s").plans[0].execution
    assert on_cpu.population_size == study_mod.CPU_POPULATION_SIZE
    explicit = build_study(tiny_study_dict(execution={"population_size": 3}), "s").plans[0].execution
    assert explicit.population_size == 3 and not explicit.population_auto
    with pytest.raises(Exception, match="population_size"):
        build_study(tiny_study_dict(execution={"population_size": "many"}), "s")


def test_device_auto_keeps_small_models_on_the_cpu():
    """The rule: CUDA only from CUDA_MIN_STEP_FLOPS training FLOPs per step of one model."""
    mnist = TrialConfig(arm="none", seed=0, hidden=(256, 256), batch_size=256)
    assert mnist.step_flops(784, 10) == 6 * 256 * (784 * 256 + 256 * 256 + 256 * 10)
    assert mnist.step_flops(784, 10) >= CUDA_MIN_STEP_FLOPS
    default = TrialConfig(arm="none", seed=0, hidden=(128, 128), batch_size=32)   # the default study's digits
    assert default.step_flops(64, 10) < CUDA_MIN_STEP_FLOPS
    assert training_device(default, 64, 10) == torch.device("cpu")
    assert resolve_device("auto", mnist.step_flops(784, 10)).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu", 1e15) == torch.device("cpu")


def test_small_models_train_with_one_thread_and_the_count_is_restored():
    data = load(DatasetSpec(name="digits", train_size=120), 0)
    small = TrialConfig(arm="none", seed=0, hidden=(16,), dropout=(0.0,), epochs=2, device="cpu")
    assert small.step_flops(64, 10) < SINGLE_THREAD_STEP_FLOPS
    before, seen = torch.get_num_threads(), []
    train(small, data, on_epoch=lambda epoch, row: seen.append(torch.get_num_threads()))
    train_population([small], data, on_epoch=lambda epoch, rows: seen.append(torch.get_num_threads()) or [])
    assert seen == [1] * 4 and torch.get_num_threads() == before


def test_cpu_population_chunks_and_memory_estimate():
    data = load(DatasetSpec(name="digits", train_size=120), 0)
    cfg = TrialConfig(arm="none", seed=0, hidden=(16,), dropout=(0.0,), device="cpu")
    assert population_chunk(cfg, data, torch.device("cpu"), 37) == 37   # an explicit size is trained as one
    small, wide = model_bytes(cfg, 64, 10), model_bytes(TrialConfig(arm="none", seed=0, hidden=(1024,)), 64, 10)
    assert 4 * (64 * 16 + 16 + 16 * 16 + 16) * 3 < small < wide


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (run on a GPU machine)")
def test_on_cuda_tf32_is_on_while_training_only_and_auto_populations_fit():
    data = load(DatasetSpec(name="digits", train_size=200), 0)
    seen = []
    common = dict(hidden=(64, 32), dropout=(0.0, 0.0), epochs=2, batch_size=32, device="cuda")
    tf32 = TrialConfig(arm="none", seed=0, precision="tf32", **common)
    fp32 = TrialConfig(arm="none", seed=0, **common)
    before = torch.backends.cuda.matmul.allow_tf32
    train(tf32, data, on_epoch=lambda e, row: seen.append(torch.backends.cuda.matmul.allow_tf32))
    train_population([fp32], data, on_epoch=lambda e, rows: seen.append(torch.backends.cuda.matmul.allow_tf32) or [])
    assert seen == [True, True, False, False] and torch.backends.cuda.matmul.allow_tf32 == before
    # a population larger than the memory budget is trained in parts, with the same numbers
    huge = TrialConfig(arm="none", seed=0, hidden=(4096, 4096), batch_size=32, device="cuda")
    fit = population_chunk(huge, data, torch.device("cuda"), 10 ** 6)
    assert 1 <= fit < 10 ** 6
    cfgs = [TrialConfig(arm="none", seed=s, **common) for s in range(4)]
    whole = train_population(cfgs, data)
    import pipeline.population as pop
    keep, pop.CUDA_MEMORY_SHARE = pop.CUDA_MEMORY_SHARE, 3 * model_bytes(cfgs[0], 64, 10) / pop.memory_available(torch.device("cuda"))
    try:
        parts = train_population(cfgs, data)
    finally:
        pop.CUDA_MEMORY_SHARE = keep
    for a, b in zip(whole, parts):
        assert a.history["train_loss"] == pytest.approx(b.history["train_loss"], rel=1e-5)
