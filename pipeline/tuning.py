"""Tuning stage: give every regularizer the same Optuna budget to find its strengths, so the
seeds grid compares arms at their best rather than at hand-picked values.

Per dataset and arm (none has nothing to tune): a TPE study over the arm's strengths (dropout p
per hidden layer, lambda1 and lambda2 log-uniform), `tune.trials` trials each, objective = the
validation metric averaged over the tuning seeds, median pruning on per-epoch validation values
(a pruned trial's MLflow run ends KILLED). The test set is never looked at here. The chosen
strengths are stored on the grid's Optuna study, so every worker trains the grid with them.
"""

from __future__ import annotations

import statistics

import optuna
from optuna.trial import TrialState

from .errors import failure_reason
from .study import ARM_LABELS, CombinedStrengths, DatasetPlan, Training
from .train import TrialConfig, loss_and_metric, train

NOT_SPENT = ("worker died", "interrupted")  # failures that do not use up a trial of the budget


def tuned_training(training: Training, arm: str, params: dict) -> Training:
    """The training settings with `arm`'s strengths replaced by tuned ones."""
    n = len(training.model.hidden)
    ps = [float(params[f"dropout_{i}"]) for i in range(n)] if "dropout_0" in params else None
    update: dict = {}
    if arm == "dropout":
        update["dropout"] = ps
    elif arm == "l1":
        update["l1"] = float(params["l1"])
    elif arm == "l2":
        update["l2"] = float(params["l2"])
    elif arm == "dropout_l2":
        update["dropout_l2"] = CombinedStrengths(dropout=ps, l2=float(params["l2"]))
    return training.model_copy(update={"strengths": training.strengths.model_copy(update=update)})


def suggest(trial: optuna.Trial, arm: str, tune, n_hidden: int) -> dict:
    params = {}
    if arm in ("dropout", "dropout_l2"):
        for i in range(n_hidden):
            params[f"dropout_{i}"] = trial.suggest_float(f"dropout_{i}", *tune.dropout)
    if arm == "l1":
        params["l1"] = trial.suggest_float("l1", *tune.l1, log=True)
    if arm in ("l2", "dropout_l2"):
        params["l2"] = trial.suggest_float("l2", *tune.l2, log=True)
    return params


def _spent(t) -> bool:
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") not in NOT_SPENT


def tune_dataset(ctx, plan: DatasetPlan, data) -> dict[str, dict]:
    """Run (or resume) the tuning studies of one dataset; returns {arm: best params}."""
    from .orchestrate import Interrupted, get_storage, optuna_study_name, reap_dead_trials, worker_id

    study, tune = ctx.study, ctx.study.spec.tune
    hib = loss_and_metric(data.task)[3]
    n_hidden = len(plan.training.model.hidden)
    tags = {"study": study.name, "dataset": plan.label, "config_hash": plan.config_hash, "task": data.task}
    parent = None
    chosen: dict[str, dict] = {}
    for arm in study.arms:
        if arm == "none":
            continue
        ostudy = optuna.create_study(
            storage=get_storage(ctx.storage), study_name=f"{optuna_study_name(study, plan)}.tune.{arm}",
            direction="maximize" if hib else "minimize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=tune.sampler_seed),
            pruner=(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1) if tune.prune
                    else optuna.pruners.NopPruner()))
        ostudy.set_user_attr("mlflow_experiment_id", ctx.experiment_id)
        reap_dead_trials(ostudy, ctx.tracker)
        while sum(_spent(t) for t in ostudy.get_trials(deepcopy=False)) < tune.trials:
            if parent is None:
                parent = ctx.tracker.dataset_parent(ctx.experiment_id, ctx.root_id, f"{plan.label}/tuning",
                                                    {**tags, "worker": worker_id()}, params={}, kind="tuning")
            trial = ostudy.ask()
            params = suggest(trial, arm, tune, n_hidden)
            trial.set_user_attr("worker", worker_id())
            training = tuned_training(plan.training, arm, params)
            run_id = ctx.tracker.start_trial(
                ctx.experiment_id, parent, f"{plan.label}/tune/{arm}/{trial.number}",
                tags={**tags, "regularizer": arm, "tune_trial": trial.number, "optuna_trial": trial.number,
                      "optuna_study": ostudy.study_name},
                params={**{f"tuned_{k}": v for k, v in params.items()},
                        **TrialConfig.for_cell(training, arm, tune.seeds[0], ctx.device).params()},
                kind="tuning_trial")
            trial.set_user_attr("mlflow_run_id", run_id)
            history: dict = {}

            def report(epoch, row, trial=trial):
                for k, v in row.items():
                    history.setdefault(k, []).append(v)
                trial.report(row["val_metric"], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            try:
                values = []
                for i, seed in enumerate(tune.seeds):
                    cfg = TrialConfig.for_cell(training, arm, seed, ctx.device)
                    result = train(cfg, data, on_epoch=report if i == 0 else None)
                    values.append(result.final["final_val_metric"])
                objective = statistics.fmean(values)
            except optuna.TrialPruned:
                ctx.tracker.fail_trial(run_id, "pruned", status="KILLED", history=history)
                ostudy.tell(trial, state=TrialState.PRUNED)
                continue
            except Interrupted:
                ctx.tracker.fail_trial(run_id, "interrupted", status="KILLED", history=history)
                trial.set_user_attr("fail_reason", "interrupted")
                ostudy.tell(trial, state=TrialState.FAIL)
                raise
            except Exception as e:
                reason = failure_reason(e)
                ctx.tracker.fail_trial(run_id, reason, history=history)
                trial.set_user_attr("fail_reason", reason[:1000])
                ostudy.tell(trial, state=TrialState.FAIL)
                continue
            ctx.tracker.finish_trial(run_id, history, {"tune_objective": objective}, tags={}, artifacts={})
            ostudy.tell(trial, objective)
        complete = ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if complete:
            best = ostudy.best_trial
            chosen[arm] = dict(best.params)
            print(f"  tuned {ARM_LABELS[arm]:<11} {best.params} val={best.value:.4f} "
                  f"({tune.trials} trials)", flush=True)
    if parent is not None:
        ctx.tracker.end_run(parent, "FINISHED")
    return chosen
