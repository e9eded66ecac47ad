"""Tuning stage: give every regularizer the same Optuna budget to find its strengths, so the
seeds grid compares arms at their best rather than at hand-picked values.

Per dataset and arm (none has nothing to tune): a TPE study over the arm's strengths (its search
space: arms.suggest), `tune.trials` trials each, objective = the validation metric averaged over
the tuning seeds, median pruning on per-epoch validation values (a pruned trial's MLflow run ends
KILLED). The test set is never looked at here. The chosen strengths (Optuna's params of each
arm's best trial) are stored on the grid's Optuna study, so every worker trains the grid with
them (lifecycle.DatasetCells, through arms.tuned_values).

Trials are asked in rounds: each round asks every arm for up to `tune.batch` trials at once (TPE
with constant_liar: a trial still running counts as a bad result, so the trials of one round
spread out instead of all proposing the same point; the first round asks all of TPE's random
start-up trials), trains every model of the round (trials x
tuning seeds, all arms) together in the population engine, pruning per trial after each epoch,
and tells Optuna all of the round's endings at its end. A round never asks more than an arm's
budget has left (`tune.trials` minus the trials that spent it), so the budget stays exact, also
when a round is interrupted or its process dies (those trials spend nothing and are asked again).
Telling at the round's end makes what each trial sees (TPE's history, the pruner's completed
trials) a function of the study file alone: population_size and the engine change the speed, not
which strengths are chosen (on CPU; tests/test_tuning.py).
"""

from __future__ import annotations

import statistics
from typing import Optional

import optuna
from optuna.trial import TrialState

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from . import alive_lock, arms, grid, lifecycle, liveness
from . import runtree as rt
from .enqueue_lock import locks
from .lifecycle import Ending, LiveTrial, Outcome
from .population import train_population
from .runtime import Interrupted, Progress, failpoint
from .study import DatasetPlan
from .task import metric_for
from .tracking import NewRun
from .train import train
from .trainer_common import History, TrialConfig, epoch_metric, epoch_metric_key
from .words import counted, plural


def tune_dataset(ctx, plan: DatasetPlan, data) -> dict[str, dict]:
    """Run (or resume) the tuning studies of one dataset; returns {arm: best params}."""
    study, tune = ctx.study, ctx.study.spec.tune
    tags = {rt.STUDY: study.name, rt.DATASET_LABEL: plan.label, rt.CONFIG_HASH: plan.config_hash, rt.TASK: data.task}
    tuned_arms = [arm for arm in study.arms if arms.ARMS[arm].components]   # none has nothing to tune
    reaped: list[int] = []
    ostudies = {arm: _tuning_study(ctx, plan, arm, data, reaped) for arm in tuned_arms}
    if sum(reaped):   # the tuning parent of the process whose trials were reaped (this one opens its own below)
        _end_reaped_tuners(ctx, tags)

    def spent() -> int:
        return sum(min(grid.spent(o, Outcome.spends), tune.trials) for o in ostudies.values())

    # trials an earlier process left (stopped, or ended here as its death's): asked again, spending nothing
    stopped = sum(1 for o in ostudies.values() for t in o.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                  if not Outcome.spends(t.user_attrs.get(rt.TRIAL_OUTCOME), t.user_attrs.get(rt.TRIAL_FAIL_REASON)))
    if (done := spent()) or stopped:   # resumed: said, as the grid's "resuming" is
        print(f"[{plan.label}] tuning resumes: {done} of the {len(tuned_arms) * tune.trials} trials were done"
              + (f"; {counted(stopped, 'trial')} an earlier run stopped or left behind "
                 + (f"({sum(reaped)} of a process that died, ended just now) " if sum(reaped) else "")
                 + f"{plural(stopped, 'is')} asked again, spending none of the budget" if stopped else ""), flush=True)
    progress = Progress(f"{plan.label} tuning", len(tuned_arms) * tune.trials, "trials", already=done)
    parent = None
    try:
        while True:
            spent_now = {arm: grid.spent(o, Outcome.spends) for arm, o in ostudies.items()}
            wanted = {arm: _round_size(spent_now[arm], tune) for arm in ostudies}
            if all(n <= 0 for n in wanted.values()):
                break
            if parent is None:
                parent = ctx.tracker.dataset_parent(ctx.experiment_id, ctx.root_id, f"{plan.label}/tuning",
                                                    {**tags, **alive_lock.hold(ctx.storage),
                                                     rt.UI_ORDER: rt.ui_order(rt.TUNING, position=plan.position)},
                                                    params=_tuning_params(tune, tuned_arms), kind=rt.TUNING)
            before = spent()
            _tuning_round(ctx, plan, data, [(ostudies[arm], arm, n, spent_now[arm]) for arm, n in wanted.items() if n > 0],
                          parent, tags)
            progress.update(done=spent() - before)
    except BaseException as e:   # the tuning parent stayed RUNNING for good (its rerun opens another)
        lifecycle.close_quietly(ctx.tracker, [parent] if parent is not None else [], e)
        raise
    progress.close()   # first: on a terminal the "tuned ..." lines landed on the finished bar's line
    chosen = say_chosen(ostudies, tune.trials)
    if parent is not None:
        _record_choice(ctx.tracker, parent, plan.label, ostudies, tune)
        ctx.tracker.end_run(parent, "FINISHED")
    return chosen


def _end_reaped_tuners(ctx, tags: dict) -> None:
    """End the tuning parents (with their roots) of the process whose trials this enqueue lock's
    holder reaped. On PostgreSQL its liveness lock tells whether it is gone, on any host, as for
    every run a process owns (lifecycle.end_dead_owners): one frozen past the enqueue lock's idle
    limit lost that lock and its trials (asked again) but lives: its runs stay open, as a live one's do.
    On a journal or SQLite file the lock (flock) was held until its holder died: it is gone."""
    if ctx.storage.startswith("postgresql"):
        lifecycle.end_dead_owners(ctx.tracker, ctx.experiment_id, ctx.study.name, ctx.storage)
    elif locks(ctx.storage):
        for run in ctx.tracker.running(ctx.experiment_id, **{**tags, rt.KIND: rt.TUNING}):
            lifecycle.end_dead_process(ctx.tracker, ctx.experiment_id, run)   # with its root, on any host sharing the file


def _tuning_params(tune, tuned_arms: list[str]) -> dict[str, str]:
    """The tuning parent's params: its budget and search space (the run recorded nothing, and a
    reader of the MLflow UI pieced them together from the trials)."""
    return {"tuned_arms": ", ".join(tuned_arms), "trials_per_arm": str(tune.trials), "batch": str(tune.batch_size),
            "tuning_seeds": ", ".join(map(str, tune.seeds)), "prune": str(tune.prune), "sampler_seed": str(tune.sampler_seed),
            **{f"range_{k}": f"{lo:g} to {hi:g}" for k, (lo, hi) in (("dropout", tune.dropout), ("l1", tune.l1), ("l2", tune.l2))},
            "method": method_words(tune)}


def _record_choice(tracker, parent: str, label: str, ostudies: dict, tune) -> None:
    """Each arm's chosen strengths (params chosen.<arm>), its best validation value (metrics
    best_val.<arm>) and the same in the run's description."""
    lines = []
    for arm, ostudy in ostudies.items():
        if (best := grid.best_params(ostudy)) is not None:
            tracker.log_params(parent, {f"chosen.{arm}": chosen_text(best[0])})
            tracker.log_values(parent, {f"best_val.{arm}": best[1]})
            lines.append(f"- {arms.label(arm)}: {chosen_text(best[0])} (best validation value {best[1]:.4f})")
    tracker.set_tags(parent, {MLFLOW_RUN_NOTE: f"Tuning of {label}: {tune.trials} trials per arm ({method_words(tune)}) "
                              f"on tuning seeds {', '.join(map(str, tune.seeds))}; the grid trains each arm at these "
                              "strengths:\n\n" + "\n".join(lines)})


def say_tuned(ctx, plan: DatasetPlan, data, stored: dict) -> None:
    """Print the strengths an earlier run of this dataset's tuning chose, `stored` on the grid's
    study (a resumed study trains its grid with them: its console should say which they are)."""
    tuned_arms = [arm for arm in ctx.study.arms if arms.ARMS[arm].components]
    say_chosen({arm: _tuning_study(ctx, plan, arm, data) for arm in tuned_arms}, ctx.study.spec.tune.trials,
               ", chosen earlier", stored)


def say_chosen(ostudies: dict[str, optuna.Study], trials: int, when: str = "",
               stored: Optional[dict] = None) -> dict[str, dict]:
    """Print each arm's best strengths (and a warning when ties chose them); {arm: best params}.
    `stored`: the choice the grid trained with, where it was made already (on PostgreSQL, before
    best_params broke ties by trial number, it may be another of the tied trials)."""
    chosen: dict[str, dict] = {}
    for arm, ostudy in ostudies.items():
        best = grid.best_params(ostudy)
        if best is not None:
            params, value = best
            if stored and stored.get(arm) not in (None, params):
                params = stored[arm]
                value = next((t.value for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                              if t.params == params), value)
            chosen[arm] = params
            print(f"  tuned {arms.label(arm):<11} {chosen_text(params)} val={value:.4f} ({trials} trials{when})", flush=True)
            if warning := tie_warning(ostudy, value):
                print(f"  warning: {arms.label(arm)}: {warning}", flush=True)
    return chosen


def chosen_text(params: dict) -> str:
    """Optuna's params of a tuning trial as the report writes them: "dropout=0.681/0.254; l2=0.0811"
    (the console printed {'dropout_0': 0.681, 'dropout_1': 0.254, 'l2': 0.0811})."""
    merged: dict[str, list[str]] = {}
    for key, value in params.items():
        merged.setdefault(key.split("_")[0] if key.startswith("dropout_") else key, []).append(f"{value:.3g}")
    return "; ".join(f"{k}={'/'.join(v)}" for k, v in merged.items())


def tied_at_best(values, best: float) -> int:
    """How many of the complete trials' values equal the best one (to float rounding)."""
    return sum(1 for v in values if v is not None and abs(v - best) <= 1e-12 * max(1.0, abs(best)))


def ties_at_best(values: list, higher_is_better: bool) -> int:
    """How many complete trials' values tie at the best of them (0 when none completed): the
    Tuning table's count and the note beside the verdicts alike."""
    return tied_at_best(values, max(values) if higher_is_better else min(values)) if values else 0


def too_many_ties(ties: int, complete: int) -> bool:
    """Half or more of the complete trials (and at least two) tie at the best value: the choice
    among them is the first one's, not evidence (the console warns, the report highlights it)."""
    return ties >= 2 and 2 * ties >= complete


def tie_warning(ostudy: optuna.Study, best: float) -> str:
    """When half or more of an arm's complete tuning trials tie at the best validation value, the
    validation split cannot tell their strengths apart and the first of them is kept: say so."""
    values = [t.value for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    ties = tied_at_best(values, best)
    if not too_many_ties(ties, len(values)):
        return ""
    return (f"{ties} of {len(values)} complete tuning trials tie at the best validation value {best:.4f}: the "
            "validation split cannot tell their strengths apart, so the first was kept; a larger validation "
            "split or a finer metric (log_loss) would choose on evidence")


# TPE's first trials are drawn at random (its model needs data first): Optuna's default, written
# out because the first round asks all of them at once.
TPE_STARTUP = 10


# The median pruner compares a trial with this many complete ones (told at their round's end)
PRUNER_STARTUP = 3


def method_words(tune) -> str:
    """How the tuning searched, as the report says it: "TPE, median pruning" was written of a budget
    of 8 trials, all of them TPE's random start-up trials in one round, where the pruner had no
    complete trial to compare with."""
    search = (f"random search: all {tune.trials} trials per arm are TPE's random start-up trials (its model "
              f"proposes from the {TPE_STARTUP + 1}th)" if tune.trials <= TPE_STARTUP else
              f"TPE: its first {TPE_STARTUP} trials per arm at random, the other {tune.trials - TPE_STARTUP} proposed "
              f"by its model, {tune.batch_size} at a time" + (" per arm" if tune.batch_size > 1 else ""))
    one_round = tune.batch_size > 1 and tune.trials <= max(tune.batch_size, TPE_STARTUP)   # _round_size's first round
    if not tune.prune:
        pruning = "no pruning: tune.prune is off"
    elif one_round or tune.trials <= PRUNER_STARTUP:
        pruning = (f"median pruning on, though it could stop no trial: it compares a trial with {PRUNER_STARTUP} "
                   "complete ones" + (", and every trial trained in one round" if one_round else ""))
    else:
        pruning = "median pruning"
    return f"{search}; {pruning}"


def _round_size(spent: int, tune) -> int:
    """How many trials the next round asks of an arm: what its budget has left, at most
    tune.batch_size, or while TPE is still in its random start-up, the start-up trials left
    (drawn from the seeded sampler in the same order whether asked together or one by one, so
    asking them together changes nothing TPE proposes). tune.batch 1 is one trial at a time
    throughout, the tuning before issue 14 (the pruner then sees every earlier trial). `spent`: the
    arm's trials that spent its budget so far."""
    if tune.batch_size == 1:
        return min(1, tune.trials - spent)
    return min(tune.trials - spent, max(tune.batch_size, TPE_STARTUP - spent))


def _tuning_study(ctx, plan: DatasetPlan, arm: str, data, reaped: Optional[list] = None) -> optuna.Study:
    """An arm's tuning study, a dead process's trials in it ended (how many: appended to `reaped`)."""
    tune = ctx.study.spec.tune
    name = f"{grid.study_name(ctx.study.name, plan.label, plan.config_hash)}.tune.{arm}"
    ostudy = grid.open_study(ctx.storage, name, metric_for(data.task, data.metric).direction,
                             sampler=optuna.samplers.TPESampler(seed=tune.sampler_seed, constant_liar=True,
                                                                 n_startup_trials=TPE_STARTUP),
                             pruner=(optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP, n_warmup_steps=1)
                                     if tune.prune else optuna.pruners.NopPruner()))
    ostudy.set_user_attr(rt.STUDY_EXPERIMENT, ctx.experiment_id)
    # tuning runs under the enqueue lock (preparation.prepare): a RUNNING trial here is a dead process's,
    # on any host, unless it beats (a holder whose lock a database restart took, still tuning)
    ended = lifecycle.reap(ostudy, ctx.tracker, every_running=locks(ctx.storage))
    if reaped is not None:
        reaped.append(ended)
    return ostudy


def _tuning_round(ctx, plan: DatasetPlan, data, asks: list[tuple], parent: str, tags: dict) -> None:
    """Ask each (study, arm, n, its trials that spent the budget so far) for n trials, open their
    runs, train them together, record."""
    asked = []
    for ostudy, arm, n, spent in asks:
        for k in range(n):
            _seed_for(ostudy, ctx.study.spec.tune, spent + k)
            asked.append(_ask(ctx, plan, ostudy, arm, parent, tags))
    opened = lifecycle.open_runs(ctx.tracker, ctx.experiment_id, asked)
    if opened:   # beating while they train, as grid cells do: the next enqueue tells a live tuner's trials apart
        with liveness.heartbeat(opened[0].ostudy, [t.trial for t in opened]):
            endings = _train_round(ctx, plan, data, opened)
        lifecycle.end(ctx.tracker, endings)


def _seed_for(ostudy: optuna.Study, tune, index: int) -> None:
    """A fresh TPE sampler for the arm's `index`-th trial that spends its budget, seeded by the
    study file's sampler_seed and that index: what TPE proposes is then a function of the study's
    recorded trials, whatever this process asked before. One sampler for the whole tuning carried
    its random stream in memory: a run resumed after an interruption restarted it from the seed,
    repeated start-up draws already tried and chose other strengths than an uninterrupted run.
    Start-up trial i is drawn alike whether asked in a round of ten or alone (tune.batch 1)."""
    import numpy as np

    seed = None if tune.sampler_seed is None else int(np.random.SeedSequence([tune.sampler_seed, index]).generate_state(1)[0])
    ostudy.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=TPE_STARTUP)


def _ask(ctx, plan: DatasetPlan, ostudy: optuna.Study, arm: str, parent: str, tags: dict) -> LiveTrial:
    """One trial: Optuna's strengths for the arm, a configuration per tuning seed, its run."""
    tune = ctx.study.spec.tune
    trial = ostudy.ask()
    params = arms.suggest(trial, arm, tune, len(plan.training.model.hidden))
    tuned = arms.tuned_values(params)
    cfgs = [TrialConfig.for_cell(plan.training, arm, seed, plan.execution.device, tuned=tuned) for seed in tune.seeds]
    run = NewRun(parent, f"{plan.label}/tune/{arm}/{trial.number}",
                 tags={**tags, rt.ARM: arm, rt.TUNE_TRIAL: trial.number, rt.OPTUNA_TRIAL: trial.number,
                       rt.OPTUNA_STUDY: ostudy.study_name},
                 params={**{f"tuned_{k}": v for k, v in params.items()}, **cfgs[0].params()}, kind=rt.TUNING_TRIAL)
    return LiveTrial(ostudy, trial, run.name, run, payload=cfgs)


class _Round:
    """The trials of one round while they train: each trial's first tuning seed reports its
    validation metric per epoch to Optuna (its history is the run's), and a trial the pruner
    stops stops on every seed."""

    def __init__(self, trials: list[LiveTrial], data):
        self.trials = trials
        self.histories = [History() for _ in trials]
        self.pruned: set[int] = set()
        # Pruning compares each epoch's validation value of the primary metric (which chooses the
        # tuned strengths): val_metric for the task's default, else the val_<name> series.
        primary = epoch_metric(data.task, data.metric)
        self.key = epoch_metric_key(primary) if primary else "val_metric"

    def report(self, i: int, epoch: int, row: dict) -> bool:
        """Trial i's first seed finished `epoch` with `row`: record it; True when it is pruned."""
        self.histories[i].add(row)
        trial = self.trials[i].trial
        trial.report(row[self.key], epoch)
        if trial.should_prune():
            self.pruned.add(i)
        return i in self.pruned

    def ending(self, i: int, results: list) -> Ending:
        t, history = self.trials[i], self.histories[i]
        if i in self.pruned:
            return Ending(t, Outcome.PRUNED, history=history)
        error = next((r for r in results if isinstance(r, BaseException)), None)
        if error is not None:
            return Ending(t, Outcome.of_error(error), history=history, error=error)
        objective = statistics.fmean(r.final["final_val_metric"] for r in results)
        return Ending(t, Outcome.FINISHED, history=history, metrics={"tune_objective": objective},
                      value=objective, summary=f"tuning objective {objective:.4f}")


def _train_round(ctx, plan: DatasetPlan, data, trials: list[LiveTrial]) -> list[Ending]:
    """Train the round's trials (the population engine, or the reference trainer one model at a
    time); their endings. A signal ends them all INTERRUPTED and is re-raised."""
    state = _Round(trials, data)
    try:
        failpoint("train_round")   # tests/test_tuning.py: Ctrl-C while a round trains
        if plan.execution.engine == "population":
            results = _train_populations(state, data, plan.execution.population_size)
        else:
            results = _train_references(state, data)
    except Interrupted:
        lifecycle.end(ctx.tracker, [Ending(t, Outcome.INTERRUPTED, history=h) for t, h in zip(trials, state.histories)])
        lifecycle.interrupted_line(len(trials), tuning=True)
        raise
    return [state.ending(i, r) for i, r in enumerate(results)]


def _train_populations(state: _Round, data, size: int) -> list[list]:
    """Every model of the round (trial by trial, seed by seed) in populations of `size`; per
    trial, its seeds' results (a TrainResult or the error)."""
    cfgs = [cfg for t in state.trials for cfg in t.payload]
    owner = [i for i, t in enumerate(state.trials) for _ in t.payload]
    first = {i: owner.index(i) for i in range(len(state.trials))}
    flat: list = []
    for start in range(0, len(cfgs), size):
        def on_epoch(epoch, rows, start=start):
            for j, row in rows.items():
                if start + j == first[owner[start + j]]:
                    state.report(owner[start + j], epoch, row)
            return [j for j in rows if owner[start + j] in state.pruned]
        try:
            flat += train_population(cfgs[start:start + size], data, on_epoch=on_epoch)
        except Exception as e:  # the population as a whole broke: fail its trials, not the study
            flat += [e] * len(cfgs[start:start + size])
    return [[r for r, o in zip(flat, owner) if o == i] for i in range(len(state.trials))]


def _train_references(state: _Round, data) -> list[list]:
    """The same with the reference trainer, one model after the other (a pruned trial's later
    seeds are not trained)."""
    out: list[list] = []
    for i, t in enumerate(state.trials):
        results: list = []
        for s, cfg in enumerate(t.payload):
            def report(epoch, row, i=i):
                if state.report(i, epoch, row):
                    raise optuna.TrialPruned()
            try:
                results.append(train(cfg, data, on_epoch=report if s == 0 else None))
            except optuna.TrialPruned:
                break
            except Exception as e:  # a failing trial never takes the study down
                results.append(e)
                break
        out.append(results)
    return out
