"""Tuning stage: give every regularizer the same Optuna budget to find its strengths, so the
seeds grid compares arms at their best rather than at hand-picked values.

Per dataset and arm (none has nothing to tune): a TPE study over the arm's strengths (its search
space: arms.suggest), `tune.trials` trials each, objective = the validation metric averaged over
the tuning seeds, median pruning on per-epoch validation values (a pruned trial's MLflow run ends
KILLED). The test set is never looked at here. The chosen strengths (Optuna's params of each
arm's best trial) are stored on the grid's Optuna study, so every worker trains the grid with
them (lifecycle.DatasetCells, through arms.tuned_values).
"""

from __future__ import annotations

import statistics

import optuna

from . import arms, grid, lifecycle
from . import runtree as rt
from .lifecycle import Ending, LiveTrial, Outcome
from .runtime import Interrupted, Progress, worker_id
from .study import DatasetPlan
from .task import metric_for, task_for
from .tracking import NewRun
from .train import train
from .trainer_common import TrialConfig


def tune_dataset(ctx, plan: DatasetPlan, data) -> dict[str, dict]:
    """Run (or resume) the tuning studies of one dataset; returns {arm: best params}."""
    study, tune = ctx.study, ctx.study.spec.tune
    tags = {rt.STUDY: study.name, rt.DATASET_LABEL: plan.label, rt.CONFIG_HASH: plan.config_hash, rt.TASK: data.task}
    parent = None
    chosen: dict[str, dict] = {}
    tuned_arms = [arm for arm in study.arms if arms.ARMS[arm].components]   # none has nothing to tune
    progress = Progress(f"{plan.label} tuning", len(tuned_arms) * tune.trials, "trials")
    for arm in tuned_arms:
        ostudy = _tuning_study(ctx, plan, arm, data)
        progress.update(done=min(grid.spent(ostudy, Outcome.spends), tune.trials))   # resumed ones
        while grid.spent(ostudy, Outcome.spends) < tune.trials:
            if parent is None:
                parent = ctx.tracker.dataset_parent(ctx.experiment_id, ctx.root_id, f"{plan.label}/tuning",
                                                    {**tags, rt.WORKER: worker_id()}, params={}, kind=rt.TUNING)
            before = grid.spent(ostudy, Outcome.spends)
            _tuning_trial(ctx, plan, data, ostudy, arm, parent, tags)
            progress.update(done=grid.spent(ostudy, Outcome.spends) - before)
        best = grid.best_params(ostudy)
        if best is not None:
            chosen[arm] = best[0]
            print(f"  tuned {arms.label(arm):<11} {best[0]} val={best[1]:.4f} ({tune.trials} trials)", flush=True)
    progress.close()
    if parent is not None:
        ctx.tracker.end_run(parent, "FINISHED")
    return chosen


def _tuning_study(ctx, plan: DatasetPlan, arm: str, data) -> optuna.Study:
    tune = ctx.study.spec.tune
    name = f"{grid.study_name(ctx.study.name, plan.label, plan.config_hash)}.tune.{arm}"
    ostudy = grid.open_study(ctx.storage, name, metric_for(data.task, data.metric).direction,
                             sampler=optuna.samplers.TPESampler(seed=tune.sampler_seed),
                             pruner=(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
                                     if tune.prune else optuna.pruners.NopPruner()))
    ostudy.set_user_attr(rt.STUDY_EXPERIMENT, ctx.experiment_id)
    lifecycle.reap(ostudy, ctx.tracker)
    return ostudy


def _tuning_trial(ctx, plan: DatasetPlan, data, ostudy: optuna.Study, arm: str, parent: str, tags: dict) -> None:
    """Ask Optuna for strengths, train them on every tuning seed, record the ending."""
    tune, device = ctx.study.spec.tune, plan.execution.device
    trial = ostudy.ask()
    params = arms.suggest(trial, arm, tune, len(plan.training.model.hidden))
    tuned = arms.tuned_values(params)
    cfgs = [TrialConfig.for_cell(plan.training, arm, seed, device, tuned=tuned) for seed in tune.seeds]
    run = NewRun(parent, f"{plan.label}/tune/{arm}/{trial.number}",
                 tags={**tags, rt.ARM: arm, rt.TUNE_TRIAL: trial.number, rt.OPTUNA_TRIAL: trial.number,
                       rt.OPTUNA_STUDY: ostudy.study_name},
                 params={**{f"tuned_{k}": v for k, v in params.items()}, **cfgs[0].params()}, kind=rt.TUNING_TRIAL)
    opened = lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [LiveTrial(ostudy, trial, run.name, run)])
    if not opened:
        return
    t, history = opened[0], {}

    # Pruning compares each epoch's validation metric (the task's default: accuracy or MSE) in the
    # direction of the primary metric, which chooses the tuned strengths; flipped where they differ.
    sign = 1.0 if task_for(data.task).higher_is_better == metric_for(data.task, data.metric).higher_is_better else -1.0

    def report(epoch, row):
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        trial.report(sign * row["val_metric"], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    try:
        objective = statistics.fmean(train(cfg, data, on_epoch=report if i == 0 else None).final["final_val_metric"]
                                     for i, cfg in enumerate(cfgs))
        ending = Ending(t, Outcome.FINISHED, history=history, metrics={"tune_objective": objective},
                        value=objective, summary=f"tuning objective {objective:.4f}")
    except optuna.TrialPruned:
        ending = Ending(t, Outcome.PRUNED, history=history)
    except Interrupted:
        lifecycle.end(ctx.tracker, [Ending(t, Outcome.INTERRUPTED, history=history)])
        raise
    except Exception as e:  # a failing trial never takes the study down
        ending = Ending(t, Outcome.of_error(e), history=history, error=e)
    lifecycle.end(ctx.tracker, [ending])
