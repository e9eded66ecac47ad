"""The names the run tree is written and read with: MLflow run kinds and tags, Optuna user
attributes. Every module that writes or reads them uses these constants.

    root run (kind=root)                     the `mlflow run` project run, or one we create
      ├── dataset parent (kind=dataset)      e.g. "digits"
      │     └── trial (kind=trial)           e.g. "digits/l2/seed3"
      └── tuning parent (kind=tuning)        e.g. "digits/tuning"
            └── tuning trial (kind=tuning_trial)
    single run (kind=single)                 `python -m pipeline train`
"""

# --- MLflow: run kinds (the tag KIND) ---------------------------------------------------------
ROOT, DATASET, TRIAL, TUNING, TUNING_TRIAL, SINGLE = "root", "dataset", "trial", "tuning", "tuning_trial", "single"

# --- MLflow: tags ---------------------------------------------------------------------------
KIND = "kind"
STUDY = "study"
DATASET_LABEL = "dataset"        # the plan's label, e.g. digits@100
DATASET_GROUP = "dataset_group"  # the dataset's own label when a size axis splits it
N_TRAIN = "n_train"
CONFIG_HASH = "config_hash"
OPENED_BY_VIEW = "opened_by_view"   # a dataset parent a `--seeds` view opened ("--seeds 5"): its cells may be seeds
                                     # the study file has not, so it holds the study's verdicts only where no other does
TASK = "task"
METRIC_NAME = "metric_name"
CHANCE = "chance_test_metric"    # the primary metric of a constant prediction (task.constant_prediction_scores)
CHANCE_PREFIX = "chance_test_"   # ... and every metric of the family: chance_test_mae (parent params)
CHANCES = "chance_by_metric"     # the same as a dict (Optuna attribute of a dataset's study)
# the same constant (the training mean, median or classes' shares) scored on the training rows:
# what none's training value is judged against (a few extreme targets can all land in training)
TRAIN_CHANCE_PREFIX = "chance_train_"
TRAIN_CHANCES = "train_chance_by_metric"
OPTUNA_STUDY = "optuna_study"
OPTUNA_TRIAL = "optuna_trial"
WORKER = "worker"
ALIVE_LOCK = "alive_lock"     # "yes": its worker held alive_lock's lock when it opened the run (any host can tell its death)
ARM = "regularizer"
SEED = "seed"
ENGINE = "engine"
DEVICE = "device"
TUNED = "tuned"                  # "yes" on grid runs that use tuned strengths
TUNE_TRIAL = "tune_trial"
FAIL_REASON = "fail_reason"
OUTCOME = "outcome"              # lifecycle.Outcome name of a run that did not finish
DIVERGED_AT = "diverged_at_epoch"   # tag: the epoch whose loss became NaN or infinite (fail_reason stays "diverged")
STORE_OUTAGE = "store_outage"    # tag: its worker stopped (a store did not answer) before recording it
UNTRAINED = "untrained"          # tag "yes": popped ahead and ended before it trained (a stop, a store outage)
ATTEMPT = "attempt"              # 1 for a cell's first try, 2 for the next, ...: every try, stops and deaths
                                 # before training too (max_retries counts only the tries that trained)
PREVIOUS_ATTEMPT = "previous_attempt_run"   # a retry's link to the run of the attempt it replaces
VARIANT = "variant"              # a regularization path's point, e.g. "l2=0.001" ("" or absent: the arm's own)
GIT_COMMIT = "git_commit"
UI_ORDER = "ui_order"            # sorts the MLflow UI's overview: root, parents, then trials seed by seed


RANKS = "0123456789abcdefghijklmnopqrstuvwxyz"   # an arm's place, one character: they sort as numbers


def ui_order(kind: str, seed=None, arm: str = "", position=None, arm_rank: int = 0) -> str:
    """The UI_ORDER value of a run: ascending, the root comes first, then the dataset and tuning
    parents (by `position`, their place in the study file: without it the UI lists equal tags
    newest first, the file's last dataset on top), then the trials seed-major (seed 0 of every
    dataset and arm, then seed 1, ...), so the UI's first page of 100 runs holds trials of every
    dataset; within a seed by `arm_rank`, the arm's place in the arms' registry (none, dropout,
    L1, L2, dropout+L2, as the report lists them; it was the names' alphabet, dropout_l2 before l1)."""
    rank = {ROOT: "0", DATASET: "1", TUNING: "2", TRIAL: "3", TUNING_TRIAL: "4"}.get(kind, "5")
    if seed not in (None, ""):
        return f"{rank}.{int(seed):06d}.{RANKS[min(arm_rank, len(RANKS) - 1)]}.{arm}"
    return rank if position is None else f"{rank}.{int(position):06d}"


# --- MLflow: the UI's shared view of a study (an experiment tag the UI reads) ------------------
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
VERDICT = "verdict"            # a dataset parent's answer; verdict.<arm>[.<outcome>] each comparison's
ROPE_SETTING = "rope_setting"  # the ROPE setting a dataset parent's verdicts were given under (summary._say_choices_changed)
PATH_POINTS = "path_points"    # ... and the path points the study file listed then (JSON: {arm: [points]})
NOTE = "mlflow.note.content"   # a run's description in the UI (Markdown): a dataset parent's answer
ANSWER = "answer"              # "current" on the parents that hold the study's verdicts as last summarized:
                               # the side-by-side view shows those only (not other configurations', views')

# --- MLflow: artifacts ----------------------------------------------------------------------
WEIGHT_HISTOGRAM = "weight_histogram.json"

# --- Optuna: user attributes of a grid trial --------------------------------------------------
CELL = "cell"                    # "l2/seed3": set at enqueue time (a WAITING trial has no params)
CELL_ARM = "arm"
CELL_SEED = "seed"
CELL_VARIANT = "variant"         # set only for a path's variants
TRIAL_WORKER = "worker"          # host:pid of the worker that popped it
TRIAL_TRAINING = "training_started"   # set when its training starts (a popped-ahead trial waits for it)
TRIAL_RUN_ID = "mlflow_run_id"
TRIAL_FAIL_REASON = "fail_reason"
TRIAL_OUTCOME = "outcome"
TRIAL_OUTAGE = "store_outage"   # set by a worker that stopped (a store did not answer) before recording it
RECOVERED = "recovered_from_mlflow"
# Final metrics copied onto a COMPLETE trial (the console summary reads them).
RESULT_ATTRS = ("test_metric", "final_train_metric", "final_val_metric", "gap_metric", "sparsity_lt_0.001",
                "weight_l2_total")
# ... and every metric of the family on every split, in one attribute (one storage row a trial):
# {"test_mae": ..., "final_train_mae": ...}, so that a changed primary metric reads them (task.read_in).
TRIAL_METRICS = "metrics"
SPLIT_PREFIXES = ("test_", "final_train_", "final_val_")

# --- Optuna: user attributes of a dataset's study ------------------------------------------------
STUDY_EXPERIMENT = "mlflow_experiment_id"
STUDY_PARENT_RUN = "mlflow_parent_run_id"
STUDY_TUNED = "tuned"            # {arm: Optuna params of its best tuning trial}
STUDY_N_TEST = "n_test"          # rows of the test split (the chance margin's one-sample floor)
STUDY_N_VAL = "n_val"            # rows of the validation split (what tuning, paths and early stopping choose on)
STUDY_LOOKS = "looks"            # the seed counts the verdicts were last looked at (Study.looks)
# a fixed-seed study given more seeds once some had results: the seed counts that had them each
# time (preparation.note_seeds_added); also a tag of the dataset parent, for the report
SEEDS_ADDED_AFTER = "seeds_added_after"
# what changed after verdicts were given under it (the primary metric, the ROPE), JSON list of words
# ("the primary metric (accuracy -> f1)"), on the dataset parent (summary._say_choices_changed)
CHOSEN_AFTER = "chosen_after"
STUDY_FILE_SEEDS = "file_seeds"   # how many seeds the study file had at its last prepare (not a --seeds view's)
STUDY_FILE_SEEDS_MOST = "file_seeds_most"   # the most seeds the study file ever had (preparation.note_seeds_added)
# the seeds the study file listed at its last prepare: a count n for seeds 0..n-1, else the list (not a
# --seeds view's): the seeds whose waiting cells its next prepare may retire (preparation.retired_seeds)
STUDY_FILE_SEED_LIST = "file_seed_list"
STUDY_GRID = "grid"              # {"digest", "says", "points", "view"}: the grid the last enqueue made (joining.grid_record)
STUDY_SETTINGS = "settings"      # what its configuration hash hashes (identity.identity_record), to say what differs
STUDY_ENGINE = "engine"          # the engine the last enqueue's study file names (joining.another_engine)
STUDY_TRACKING = "mlflow_tracking_uri"   # where the study's runs are (passwords masked), for workers' checks
STUDY_TEST_CLASS_ROWS = "test_class_rows"   # [rows of the test split's smallest class, of its largest, classes]
STUDY_LEAKY_COLUMNS = "leaky_columns"       # feature columns that give the target away (dataset_record.leaky_columns)
STUDY_FAR_TARGETS = "far_target_values"     # a few target values that make most of its squared spread (far_targets)
