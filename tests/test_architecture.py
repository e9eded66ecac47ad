"""The layout holds: modules import only from the stages below them (no cycles, also not through
imports inside functions), functions stay short, and a new arm needs nothing but its definition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import tiny_study_dict, write_study

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"

# The data flow, bottom to top. A module may import from the layers below its own, never from its
# own layer or above. (TYPE_CHECKING-only imports are for annotations and are not counted.)
LAYERS = [
    {"errors", "runtree", "arms", "task", "words"},      # vocabulary: the names everything else uses
    {"stats", "references"},                     # statistics, published figures
    {"path_points", "ranks"},                    # a path's points: ids, order, selection (ties by stats);
                                                 # the arms ranked across datasets (Friedman, Nemenyi)
    {"metric_numbers"},                          # a metric's numbers written: units, direction, digits
    {"head_to_head", "chance"},                  # the regularized arms against each other; arms no
                                                 # better than a constant prediction, one test row's step
    {"verdicts"},                                # the answer: verdicts per dataset and arm
    {"path_summary"},                            # a regularization path summarized
    {"verdict_warnings"},                        # warnings: no better than a constant, no room to tell
    {"path_words"},                              # the regularization paths in words
    {"verdict_words"},                           # the answer in words
    {"short_answer"},                            # In short: the answer in a few plain sentences
    {"verdict_record"},                          # the answer as MLflow tags, note and verdicts.json
    {"written_numbers"},                         # numbers as people write them in text
    {"column_checks", "class_checks"},           # a table's columns judged: no signal, what to warn of; its classes
    {"column_warnings"},                         # those findings in words: the warnings a user reads
    {"table_layout"},                            # a CSV's text: its separator, the title above its header
    {"table_files"},                             # a CSV's rows read (encoding, marks, codes); the file's stamp
    {"table_parquet"},                           # a Parquet file's rows and schema
    {"table_reading"},                           # a table's file read by its kind; files of other kinds refused
    {"table_footers", "table_measures"},         # an export's footer of totals/averages; a units row, limits (<0.5)
    {"table_identity"},                          # what a study's identity records of a table file (later rules)
    {"tables", "table_features"},                # a user's table read and tidied; its features fit once split
    {"splits"},                                  # rows -> train/val/test tensors, scaled
    {"datasets"},                                # the loaders' registry: a dataset's rows
    {"tutorial_words"},                          # a tutorial's words for a study file's, as hints
    {"study_schema"},                            # the study file's typed, validated objects
    {"identity"},                                # what a study's configuration hash covers
    {"study_errors"},                            # a study file's validation errors in one line
    {"bundled_studies"},                         # the study files shipped with the package (--study by name)
    {"study"},                                   # study file -> validated plans
    {"flags"},                                   # the command line's flag values; train's flags as a one-cell study
    {"model", "streams"},                        # the MLP, penalties; every random draw of a trial
    {"trainer_common"},                          # what both trainers share
    {"train", "population"},                     # reference trainer, population engine
    {"runtime"},                                 # signals, stopwatch, worker identity
    {"store_paths"},                             # where a local store is: a SQLite URL's file, a folder
    {"storage_outage", "storage_journal"},       # riding out a database that does not answer; the journal
                                                 # storage's batched writes
    {"storage_rdb"},                             # the database storage: retried calls, its own SQL, advisory locks
    {"mlflow_sql", "tracking_server", "ui_links", "storage"},  # MLflow's SQL tables, server restarts,
                                                 # UI links; which Optuna storage a URL names
    {"enqueue_lock", "alive_lock"},              # one enqueue at a time on a storage (expires with its holder);
                                                 # a process's liveness on any host (a lock it holds for life)
    {"tracking_reads"},                          # reading runs, histories and artifacts back
    {"tracking"},                                # the MLflow run tree
    {"grid"},                                    # the grid in Optuna: cells, queue, pops, retries, results
    {"liveness"},                                # which RUNNING trials have a live worker: heartbeats, dead
                                                 # and silent trials, orphans of a lost pop (it reads grid's trials)
    {"lifecycle"},                               # a trial is born and ends here
    {"tuning", "worker", "dataset_record", "joining", "preflight"},  # the tuning stage; one worker's loop over a
                                                 # dataset's cells; what a dataset's parent run and the console say
                                                 # of its data; a worker's checks that it joins the enqueued study;
                                                 # the checks made before anything is written
    {"preparation"},                             # the prepare stage: root run, Optuna studies, grid, parents
    {"results"},                                 # a study's finished cells read back as results per dataset
    {"orchestrate"},                             # the stages in order
    {"summary"},                                 # the console summary and verdicts on parent runs
    {"report.collect"}, {"report.analysis"}, {"report.figure_context"}, {"report.path_figure"}, {"report.figure_words"},
    {"report.figures"},
    {"report.render"}, {"report"},
    {"answering"},                               # ablation's answer once trained: console, MLflow, report, links
    {"cli_parser"},                              # the command line's flags (argparse)
    {"cli", "__init__"},                         # the command line: each command run
    {"__main__"},                                # python -m pipeline
]
LONG_FUNCTION = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every pipeline module `name` imports, at any depth of its code."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                prefix = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("pipeline"):
                prefix = node.module.removeprefix("pipeline").lstrip(".")
            else:
                prefix = None
            if prefix is not None:
                for alias in node.names:
                    candidate = f"{prefix}.{alias.name}" if prefix else alias.name
                    found.add(candidate if candidate in known else prefix)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pipeline."):
                    found.add(alias.name.removeprefix("pipeline."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in known and m != name}


def test_imports_only_go_down_the_layers():
    modules = _modules()
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    assert set(modules) <= set(layer_of), f"modules missing from LAYERS: {sorted(set(modules) - set(layer_of))}"
    wrong = []
    for name, path in sorted(modules.items()):
        for dep in sorted(_imports(name, path, set(modules))):
            if layer_of[dep] >= layer_of[name]:
                wrong.append(f"{name} imports {dep}")
    assert not wrong, "imports that go up or sideways: " + "; ".join(wrong)


def test_functions_are_short_and_constructors_small():
    long, wide = [], []
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            # a reason may be written beside it: "# long: ..." on the def line or the line above
            reason = any("# long:" in lines[i] for i in (node.lineno - 2, node.lineno - 1) if i >= 0)
            if length > LONG_FUNCTION and not reason:
                long.append(f"{path.name}:{node.name} ({length} lines)")
            if node.name == "__init__" and len(node.args.args) - 1 + len(node.args.kwonlyargs) >= 10:
                wide.append(f"{path.name}:{node.name}")
    assert not long, f"functions over {LONG_FUNCTION} lines without a reason: {long}"
    assert not wide, f"constructors with ten or more parameters: {wide}"


@pytest.mark.slow
def test_a_new_arm_is_one_definition(workdir, env, monkeypatch, capsys):
    """A throwaway elastic-net arm (L1 and L2 together), registered in arms.py's registry and
    nowhere else, trains in both engines, is logged, summarized and reported."""
    from mlflow import MlflowClient

    from pipeline import arms
    from pipeline.cli import main

    # what arms.register does, undone after the test
    monkeypatch.setitem(arms.ARMS, "elastic_test", arms.Arm("elastic_test", "elastic test", ("l1", "l2"), 7))
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    for engine in ("population", "reference"):
        study = tiny_study_dict(name=f"arm-{engine}", arms=["none", "elastic_test"], seeds=2,
                                datasets=[{"name": "wine"}], execution={"engine": engine},
                                strengths={"l1": 1e-3, "l2": 1e-2, "dropout": 0.3})
        write_study(workdir / f"{engine}.yaml", study)
        assert main(["ablation", "--study", f"{engine}.yaml", "--no-pdf"]) == 0
    out = capsys.readouterr().out
    assert "elastic test" in out   # the summary names it by its label, as the verdicts do
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = {}
    for exp in client.search_experiments():
        for r in client.search_runs([exp.experiment_id], "tags.kind = 'trial' AND tags.regularizer = 'elastic_test'"):
            runs[(r.data.tags["study"], r.data.tags["seed"])] = r
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs.values())
    assert {(r.data.params["l1"], r.data.params["l2"], r.data.params["dropout"]) for r in runs.values()} == \
        {("0.001", "0.01", "0.0,0.0")}
    # both engines give the same numbers for the new arm (float rounding aside)
    for seed in ("0", "1"):
        a, b = runs[("arm-population", seed)], runs[("arm-reference", seed)]
        assert a.data.metrics["final_val_loss"] == pytest.approx(b.data.metrics["final_val_loss"], rel=1e-4)
    html = (workdir / "reports" / "arm-population" / "report.html").read_text()
    assert "elastic test" in html
