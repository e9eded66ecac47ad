"""Study files: YAML parsed once into validated, typed objects.

A study file names datasets, the regularizer arms to compare, their strengths, the model, the
optimizer and the seeds. Training settings can be given at the top level and overridden per
dataset. Everything downstream receives a `Study` whose `plans` hold one `DatasetPlan` per
dataset, each with its fully merged `Training` settings and a configuration hash. The objects a
file is validated into are in study_schema.py, and its validation errors written in study_errors.py;
this module reads, overrides and merges.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import ValidationError

from . import arms as arms_mod
from .bundled_studies import names as bundled_names
from .datasets import REGISTRY as DATASETS
from .errors import UsageError
from .identity import config_hash
from .metric_numbers import quantity
from .study_errors import format_validation_error, shorten
from .study_schema import (LEGACY_EXECUTION_KEYS, TRAINING_KEYS, AdaptiveSeeds, AnalysisSettings, DatasetSpec,
                           MAX_EPOCHS, MAX_SEED_COUNT, SEED_MAX, Execution, Strengths, StudyFile, Training, seed_list,
                           variant_id)
from .words import plural

@dataclass(frozen=True)
class DatasetPlan:
    """One dataset of a study with its merged training settings."""

    dataset: DatasetSpec
    training: Training
    config_hash: str
    execution: Execution = Execution()
    rope: Optional[Union[float, str]] = None   # this dataset's ROPE setting (None: the metric's default)
    rope_from_top_level: bool = False   # the study's top-level rope, the dataset's entry having none (errors say so)
    group: str = ""    # the dataset's own label when a train_sizes axis splits it into plans
    located_hash: str = ""   # the identity as studies started before hashed it (identity.LOCATION_DEFAULTS)
    written_hash: str = ""   # ... and as those started before defaults written out were hashed as unset
    strengths_hash: str = ""   # ... and as those started before an untuned study's strengths left it (identity.CELL_STRENGTHS)
    # its cells are named by the strengths they train with (Study.points), the strengths out of its identity:
    # an untuned study, not one held under an earlier identity (Study.adopted), whose arms' own points are ""
    own_points: bool = False
    position: int = 0  # its place among the whole file's plans (--datasets keeps it): the UI lists parents so

    @property
    def label(self) -> str:
        return self.dataset.display

    @property
    def base(self) -> str:
        return self.group or self.label


def file_safe(label: str) -> str:
    """A dataset label as a file or folder name: as written when it is one already, else its
    other characters replaced and a digest of the label added, so that two labels never share a
    folder ("wine é" and "wine è" were both "wine_": one dataset's figures over the other's)."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", label)
    if safe == label and label.strip(".") and not label.startswith("-"):
        return label
    return f"{safe.strip('.-') or 'dataset'}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Study:
    spec: StudyFile
    plans: tuple[DatasetPlan, ...]
    source_text: str  # the study file as run (its own text; re-written with the CLI's overrides), for provenance
    notes: tuple[str, ...] = ()  # deprecations to tell the user about
    overrides: tuple[tuple[str, str], ...] = ()  # the command line's --seeds/--epochs/--datasets, as given

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def seeds_flag(self) -> Optional[str]:
        """The command line's --seeds as typed (a view of other seeds than the file's), or None."""
        return dict(self.overrides).get("seeds")

    def view_flags(self) -> str:
        """The command line's --seeds/--datasets as typed ("" without): other seeds or datasets
        than the study file's (fewer, or more) select runs of its configuration (the same dataset
        parents), so what is concluded from them is a view, never recorded over the study's own
        verdicts, which are always those of the file. (--epochs alone is another configuration,
        with parents of its own.)"""
        return " ".join(f"--{flag} {value}" for flag, value in self.overrides if flag in ("seeds", "datasets"))

    @property
    def report_folder(self) -> str:
        """Where under the reports directory this configuration's report goes: <study> for the
        study file as written; a configuration the command line shrank or narrowed (`ablation
        --epochs 5`, `report --seeds 3`) gets <study>/<its overrides>/, so that it never replaces
        the study's own report. Datasets in any order name one folder; a long name (a list of
        150 seeds) is cut, with a digest of the whole, within a file system's 255 bytes."""
        if not self.overrides:
            return self.name
        import hashlib

        def words(flag: str, value: str) -> str:
            if flag == "datasets":   # each label as its figures' folder is named: "a b" is no view of a and b
                return "+".join(sorted({file_safe(x.strip()) for x in value.split(",")}))   # digits,digits is digits
            return re.sub(r"[^A-Za-z0-9_.@-]+", "+", value)

        view = "_".join(f"{flag}-{words(flag, value)}" for flag, value in self.overrides)
        if len(view) > 100:
            view = f"{view[:80]}-{hashlib.sha1(view.encode()).hexdigest()[:10]}"
        return f"{self.name}/{view}"

    def adopted(self, known: dict[str, set[str]]) -> "Study":
        """This study with each plan under the identity its stores know it by: `known`, the
        configuration hashes they hold per dataset label. A plan they hold only under an earlier
        identity keeps that one, so the study resumes there: its strengths_hash (started before an
        untuned study's strengths left the identity), its written_hash (started before settings
        written out at their defaults were hashed as unset), or its located_hash (started before the
        data's location left the identity, the settings as written). Each of those hashed the
        strengths: the plan keeps its cells' names too (own_points false: an arm's own point is "")."""
        def identity(p: DatasetPlan) -> DatasetPlan:
            held = known.get(p.label, set())
            if p.config_hash in held:
                return p
            earlier = next((h for h in (p.strengths_hash, p.written_hash, p.located_hash) if h and h in held), None)
            return replace(p, config_hash=earlier, own_points=False) if earlier else p

        plans = tuple(identity(p) for p in self.plans)
        return self if plans == self.plans else replace(self, plans=plans)

    @property
    def seeds(self) -> list[int]:
        """Every seed the grid may run (with adaptive seeds: up to the maximum)."""
        return seed_list(self.spec.seeds)

    @property
    def adaptive(self) -> Optional[AdaptiveSeeds]:
        return self.spec.seeds if isinstance(self.spec.seeds, AdaptiveSeeds) else None

    def require_comparison(self, source: str) -> None:
        """An ablation compares every arm with none: without it, or with nothing else, a study
        would train every cell and then have nothing to say (the report still reads such runs,
        and `train` runs one arm). Nor may it tune an arm it runs a path over."""
        arms = self.spec.arms
        if arms_mod.BASELINE not in arms:
            raise UsageError(f"{source}: field 'arms' = {arms!r}: must include {arms_mod.BASELINE!r}, the baseline "
                             "every arm is compared with")
        if len(arms) < 2:
            raise UsageError(f"{source}: field 'arms' = {arms!r}: needs at least one arm besides "
                             f"{arms_mod.BASELINE!r} to compare with it; allowed: {', '.join(arms_mod.names())}")
        on_path = [a for a in arms if len(self.variants(a)) > 1] if self.spec.tune is not None else []
        if on_path:   # the grid would train the path's strengths: the tuning budget would be spent for nothing
            raise UsageError(f"{source}: field 'paths' varies the strength of {', '.join(map(repr, on_path))}, which "
                             "'tune' chooses; a study either tunes an arm's strengths or runs a path over them: remove one")

    def chosen_on_validation(self, plan: DatasetPlan) -> tuple[str, ...]:
        """What the dataset's validation split chooses besides a path's point (verdicts know paths):
        the tuned strengths, the epoch early stopping keeps."""
        return (("the tuned strengths",) if self.spec.tune is not None else ()) + \
            (("early stopping's epoch",) if plan.training.early_stopping is not None else ())

    def looks(self) -> list[int]:
        """Seed counts at which verdicts are looked at: one look at all seeds unless adaptive."""
        return self.adaptive.looks() if self.adaptive else [len(self.seeds)]

    def seeds_at(self, look: int) -> list[int]:
        """The seeds of the grid's first `look` seeds."""
        return self.seeds[:look]

    @property
    def arms(self) -> list[str]:
        return list(self.spec.arms)

    def variants(self, arm: str) -> list[dict]:
        return self.spec.paths.variants(arm)

    def points(self, arm: str, plan: Optional[DatasetPlan] = None) -> dict[str, dict]:
        """The arm's points on `plan`'s dataset as {id, as cells and runs name them (variant_id): the
        overrides its cells train with}. Where the plan's cells are named by their strengths
        (own_points), an arm without a path has one point at its own strengths ("l2=0.001", as a
        path's point of that strength is named), and a path's point names every component of the arm
        (the one it does not vary at the arm's own strength: "l2=0.001,l2_mode=decoupled"); none's is "".
        Else (a tuned study, one held under an earlier identity, or no plan) the arm's own point is "",
        and a path's points are named with 6 significant digits, as they were then (l2=3.16228e-05 for
        logspace's 3.1622776601683795e-05): its cells are found again."""
        components = arms_mod.ARMS[arm].components
        if plan is None or not plan.own_points or not components:
            return {variant_id(v, exact=False): v for v in self.variants(arm)}
        own = arms_mod.own_values(arm, plan.training.strengths)
        named = [{**{c: v.get(c, own[c]) for c in components}, **({"l2_mode": v["l2_mode"]} if "l2_mode" in v else {})}
                 for v in self.variants(arm)]
        return {variant_id(v): v for v in named}

    def point_ids(self, arm: str, plan: Optional[DatasetPlan] = None) -> list[str]:
        """The arm's points as cells and runs name them (points)."""
        return list(self.points(arm, plan))

    def listed_points(self, plan: Optional[DatasetPlan] = None) -> dict[str, set[str]]:
        """Each arm's points as the study file lists them now (point_ids): a run at another point, e.g.
        at the arm's own strengths before a path was added, or at a strength the file no longer says,
        is not one of the study's."""
        return {arm: set(self.point_ids(arm, plan)) for arm in self.arms}

    def plan_of(self, label: str) -> Optional[DatasetPlan]:
        """The plan of dataset `label` (None where this study, or view, has none)."""
        return next((p for p in self.plans if p.label == label), None)

    def strengths_line(self, plan: DatasetPlan) -> str:
        """What each regularized arm trains with on `plan`'s dataset, as the console says it at the
        start ("dropout: dropout=0.2; L2: l2=0.001 (penalty); ..."); "" when the study tunes them
        (the tuning stage says what it chose)."""
        if self.spec.tune is not None:
            return ""
        t, parts = plan.training, []
        for arm in self.arms:
            if not arms_mod.ARMS[arm].components:
                continue
            points = self.point_ids(arm, plan)   # named as its cells are: a path over one axis says the other's strength
            if len(points) > 1:
                parts.append(f"{arms_mod.label(arm)}: a path of {len(points)} points ({points[0]} to {points[-1]})")
                continue
            c = arms_mod.cell_strengths(arm, t.strengths, len(t.model.hidden))
            parts.append(f"{arms_mod.label(arm)}: {arms_mod.strengths_text(arm, c.dropout, c.l1, c.l2, t.strengths.l2_mode)}")
        return "; ".join(parts + [bias] if (bias := self._bias_words(plan)) else parts)

    def _bias_words(self, plan: DatasetPlan) -> str:
        """Whether L1/L2 reach the biases, where an arm has them: "biases not penalized
        (penalize_bias: false)"; "decayed" under a weight-decay l2_mode (a tutorial's
        weight_decay decays them, this study by default does not)."""
        strengths = plan.training.strengths
        components = {c for arm in self.arms for c in arms_mod.ARMS[arm].components}
        modes = {v.get("l2_mode", strengths.l2_mode) for arm in self.arms if "l2" in arms_mod.ARMS[arm].components
                 for v in self.variants(arm)}
        verbs = (["penalized"] if "l1" in components or "penalty" in modes else []) + \
            (["decayed"] if modes - {"penalty"} else [])
        if not verbs:
            return ""
        if strengths.penalize_bias:
            return f"biases {' and '.join(verbs)} too (penalize_bias: true)"
        return f"biases not {' or '.join(verbs)} (penalize_bias: false)"

    def grid_cells(self, seeds: Optional[list[int]] = None, plan: Optional[DatasetPlan] = None) -> list[tuple[str, int, str]]:
        """Every cell (arm, seed, variant id) to train on `plan`'s dataset: cells() for each point of
        each arm (points; without a plan, as many cells, the arms' own points named "")."""
        if seeds is None:
            seeds = self.seeds_at(self.looks()[0])
        return [(arm, seed, variant) for arm in self.arms for variant in self.point_ids(arm, plan) for seed in seeds]

    def cells(self, seeds: Optional[list[int]] = None) -> list[tuple[str, int]]:
        """The grid (arm, seed), over `seeds` (default: the first look's seeds when adaptive,
        else all)."""
        if seeds is None:
            seeds = self.seeds_at(self.looks()[0])
        return [(arm, seed) for arm in self.arms for seed in seeds]


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_seeds(text: str) -> Union[int, list[int]]:
    """'10' means ten seeds 0..9; '3,5,7' means those seeds."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()] if "," in text else int(text)
    except ValueError:
        seeds = 0
    if (isinstance(seeds, int) and seeds < 1) or (isinstance(seeds, list) and not seeds):
        raise UsageError(f"--seeds = {text!r}: expected a count of seeds (at least 1) like 10, or a list like 0,1,2")
    if isinstance(seeds, int) and seeds > MAX_SEED_COUNT:
        raise UsageError(f"--seeds = {text!r}: at most {quantity(MAX_SEED_COUNT)} seeds")
    if isinstance(seeds, list) and (len(set(seeds)) < len(seeds) or not 0 <= min(seeds) <= max(seeds) <= SEED_MAX):
        # the flag's error, not the study file's ("study.yaml: field 'seeds' = [0, 0]")
        raise UsageError(f"--seeds = {text!r}: seeds are distinct integers from 0 to {SEED_MAX}, like 0,1,2")
    return seeds


class _StudyLoader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where a float needs a dot: `lr: 1e-4` would be the text '1e-4'
    (pydantic then turns it into a number, but not where a field also takes text, such as
    preprocess.missing_values). YAML 1.2 floats: 1e-4, 1E5, -2.5e+3, .5 are numbers. A key written
    twice in one mapping is refused (PyYAML would keep the last silently: `seeds: 3` then
    `seeds: 4`, or two pasted `target_classes:` lines, one of them lost). A merge key (`<<: *base`)
    is YAML's, as SafeLoader reads it: the keys written beside it override the merged ones."""

    def construct_document(self, node):
        # every mapping checked as written, before any is built: flatten_mapping rewrites a merge's
        # source in place (its merged keys join its own), which then read as a key written twice
        stack, checked = [node], set()
        while stack:
            if id(n := stack.pop()) in checked:
                continue
            checked.add(id(n))
            if isinstance(n, yaml.MappingNode):
                self._refuse_keys_twice(n)
                stack.extend(value for _, value in n.value)
            elif isinstance(n, yaml.SequenceNode):
                stack.extend(n.value)
        return super().construct_document(node)

    def _refuse_keys_twice(self, node) -> None:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # no value of its own: SafeLoader's flatten_mapping merges it
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is written twice in one mapping (YAML would keep only the last): "
                    "write it once, with every entry in it", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen.add(key)


# YAML 1.2's numbers, not 1.1's: floats with an exponent and no dot (1e-4), without the base-60 form
# (1:30.5 was 90.5); integers without the octal (0123 was 83, and a ZIP code marker 00000 the number 0)
# and base-60 (1:30 was 90) forms: a digit string with a leading zero, or with colons, is text as written.
_StudyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0|[-+]?[1-9][0-9_]*)$"),
    list("-+0123456789"))


def read_yaml(text: str) -> Any:
    """Study-file YAML (1.2 floats: 1e-4 is a number) as plain data; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_StudyLoader)


def _tab_hint(text: str, mark) -> str:
    """A tab YAML refused: one that indents, or one after a key's colon (seeds:<TAB>5), which is no
    indentation and was said to be."""
    lines = text.splitlines()
    before = lines[mark.line][:mark.column].strip() if mark and mark.line < len(lines) else ""
    return f"; a tab after {before!r}: write a space there" if before else "; YAML indents with spaces, not tabs"


def load_study(path: str | Path, *, seeds: Optional[str] = None, epochs: Optional[str] = None,
               datasets: Optional[str] = None) -> Study:
    """Read, override and validate a study file. Raises UsageError with a one-line message."""
    if not str(path).strip():   # --study '' (-P study=): Path('') is the working directory, offered as a folder of studies
        raise UsageError(f"--study = {str(path)!r}: names no study file; give one, e.g. studies/default.yaml (the default "
                         "where --study is left out)")
    path = Path(path)
    source = str(path)
    if path.is_dir():
        files = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        raise UsageError(f"study file {source!r} is a directory; give one YAML file" +
                         (f" in it ({', '.join(files)})" if files else ""))
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the working directory: {path.resolve()})"
        shipped = f"; the package ships {', '.join(names)}: give one by name" if (names := bundled_names()) else ""
        if close := difflib.get_close_matches(path.stem, names, n=1):   # --study mnsit
            shipped = f" (did you mean {close[0]!r}?){shipped}"
        raise UsageError(f"study file {source!r} does not exist{where}{shipped}")
    try:
        text = path.read_text(encoding="utf-8")
        raw = read_yaml(text)
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise UsageError(f"{source}: not UTF-8 text (line {line}, byte {e.start}); save the study file as UTF-8") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(e, "problem", e))
        hint = ("; check that line's indentation (the keys of one block start in the same column, spaces only)"
                if "expected <block end>" in problem or "mapping values are not allowed" in problem else
                _tab_hint(text, mark) if "'\\t'" in problem else "")
        # a bracket or quote left open is found where the text stops fitting: name where it opened too
        opened, context = getattr(e, "context_mark", None), getattr(e, "context", None)
        if mark and opened and context and opened.line != mark.line:
            hint += f" ({context} that starts at line {opened.line + 1})"
        raise UsageError(f"{source}: malformed YAML{where}: {problem}{hint}") from None
    return build_study(raw, source, seeds=seeds, epochs=epochs, datasets=datasets, text=text)


def build_study(raw: Any, source: str, *, seeds: Optional[str] = None, epochs: Optional[str] = None,
                datasets: Optional[str] = None, text: Optional[str] = None) -> Study:
    """Validate a study given as plain data (a parsed YAML file with its `text`, or built from CLI flags)."""
    _check_a_mapping(raw, source)
    written, raw = raw, _apply_overrides(copy.deepcopy(raw), seeds, epochs)
    as_run = copy.deepcopy(raw)
    raw, per_dataset, notes, top_training = _split_settings(raw, source)
    try:
        spec = StudyFile.model_validate(raw)
    except ValidationError as e:
        message = format_validation_error(source, e, StudyFile)
        if seeds not in (None, "") and "are also grid seeds" in message:   # the flag's doing, not the file's
            tuning = sorted((raw.get("tune") or {}).get("seeds") or [1000])
            raise UsageError(f"--seeds = {seeds!r}: the grid's seeds would include the tuning seeds {tuning}, which the "
                             f"test set must not see through a tuned choice; a count up to {tuning[0]} (seeds 0 to "
                             f"{tuning[0] - 1}), or a list without them") from None
        raise UsageError(message) from None
    try:   # the top level's settings first, so that their errors are not blamed on a dataset
        Training.model_validate(top_training)
    except ValidationError as e:
        raise UsageError(format_validation_error(source, e, Training)) from None
    settings = []
    for i, (d, (training, execution, analysis)) in enumerate(zip(spec.datasets, per_dataset)):
        try:
            rope = AnalysisSettings.model_validate(analysis).rope
            settings.append((Training.model_validate(training), Execution.model_validate(execution),
                             (spec.rope, spec.rope is not None) if rope is None else (rope, False)))
        except ValidationError as e:
            raise UsageError(format_validation_error(f"{source} (dataset {d.display})", e, Training,
                                                      ("datasets", i))) from None
    sizes: set[str] = set()   # "pima@50": one training size of a dataset that train_sizes runs at several
    kept = list(range(len(spec.datasets)))
    if datasets not in (None, ""):
        keep, sizes = _selected(spec, datasets)
        kept = keep
        spec = spec.model_copy(update={"datasets": [spec.datasets[i] for i in keep]})
        as_run["datasets"] = [as_run["datasets"][i] for i in keep]
        settings = [settings[i] for i in keep]
    _check_path_layers(spec, settings, source)
    notes += _settings_that_do_nothing(spec, settings, source)
    plans = []
    cells = sum(len(spec.paths.variants(arm)) for arm in spec.arms) * len(seed_list(spec.seeds))
    per_file_dataset = max(len(spec.train_sizes or ()), 1)
    for index, d, (t, ex, (rope, inherited)) in zip(kept, spec.datasets, settings):
        ex = ex.resolved(cells)
        sized = ([(d.model_copy(update={"train_size": size, "label": f"{d.display}@{size}"}), d.display)
                  for size in spec.train_sizes] if spec.train_sizes else [(d, "")])
        plans += [_hashed_plan(spec, ds, t, execution=ex, rope=rope, rope_from_top_level=inherited, group=group,
                               position=index * per_file_dataset + size_index)
                  for size_index, (ds, group) in enumerate(sized)
                  if not sizes or ds.display in sizes or not any(s.startswith(f"{group}@") for s in sizes)]
    overrides = _changing_flags(written, seeds, epochs, datasets, every_dataset=len(kept) == len(per_dataset) and not sizes)
    if text is None or overrides:   # what ran, as YAML; the file's own text (its comments too) when it ran as written
        flags = " ".join(f"--{flag} {value}" for flag, value in overrides)
        text = (f"# {source} with {flags} (its comments are not kept)\n" if overrides else "") + \
            yaml.safe_dump(as_run, sort_keys=False)
    return Study(spec=spec, plans=tuple(plans), source_text=text, notes=tuple(notes), overrides=overrides)


def _changing_flags(written: dict, seeds: Optional[str], epochs: Optional[str], datasets: Optional[str], *,
                    every_dataset: bool) -> tuple[tuple[str, str], ...]:
    """The command line's --seeds/--epochs/--datasets as given, less those that say what the file
    says: `--seeds 10` on a file of seeds: 10, or --datasets naming each of its datasets, is the
    study itself, not a view of it (a view's verdicts are never recorded as the study's answer, and
    its report goes to a folder of its own)."""
    top = written.get("epochs", Training.model_fields["epochs"].default)
    same = {"seeds": seeds not in (None, "") and parse_seeds(seeds) == written.get("seeds", StudyFile.model_fields["seeds"].default),
            "epochs": epochs not in (None, "") and all((d.get("epochs", top) if isinstance(d, dict) else top) == int(epochs)
                                                        for d in written.get("datasets") or []),
            "datasets": every_dataset}
    return tuple((flag, str(value).strip()) for flag, value in (("seeds", seeds), ("epochs", epochs), ("datasets", datasets))
                 if value not in (None, "") and not same[flag])


def _check_a_mapping(raw: Any, source: str) -> None:
    """A study file is a mapping of fields: what it holds instead, said (an empty file was "expected a mapping")."""
    if not isinstance(raw, dict):
        held = ("empty (or only comments)" if raw is None else "a YAML list (lines starting '- ')" if isinstance(raw, list)
                else f"the single value {shorten(raw)}")
        raise UsageError(f"{source}: the file is {held}; a study file is a mapping of fields, at least "
                         "name: my-study and datasets: [digits]")


def _hashed_plan(spec: StudyFile, dataset: DatasetSpec, training: Training, **fields) -> DatasetPlan:
    """A dataset's plan under its identity, with the identities studies started before hashed it
    (Study.adopted resumes them there)."""
    return DatasetPlan(dataset, training, config_hash(spec, dataset, training),
                       located_hash=config_hash(spec, dataset, training, located=True),
                       written_hash=config_hash(spec, dataset, training, as_written=True),
                       strengths_hash=config_hash(spec, dataset, training, with_strengths=True),
                       own_points=spec.tune is None, **fields)


def _settings_that_do_nothing(spec: StudyFile, settings: list, source: str) -> list[str]:
    """Notes on settings that are valid but change nothing, which a reader of the verdicts would
    otherwise take for a result: an arm whose strength is 0 trains as none ("dropout: practically
    the same" would be a copy's verdict), a path for an arm the study does not run, an option only
    another kind of dataset reads (`root:` on wine), test_fraction where a dataset has its own
    test split. (Momentum beside Adam is noted per block: _momentum_under_adam.)"""
    notes = []
    for d, (t, _, _) in zip(spec.datasets, settings):
        where = f"{source} (dataset {d.display})" if len(spec.datasets) > 1 else source
        if "test_fraction" in d.model_fields_set and DATASETS[d.name].own_test:
            notes.append(f"{where}: option 'test_fraction' changes nothing for {d.name}: it has a test split of its own "
                         "(it is part of the study's identity; leave it out of new studies)")
        for option in d.options_of_another_kind():   # kept in the identity: removing it would retrain a study
            readers = sorted(n for n, info in DATASETS.items() if option in info.options)
            notes.append(f"{where}: option {option!r} is read by the {' and '.join(readers)} datasets only: it changes "
                         f"nothing for {d.name} (it is part of the study's identity; leave it out of new studies)")
        for arm in spec.arms:
            comps = arms_mod.ARMS[arm].components
            if not comps or spec.tune is not None or len(spec.paths.variants(arm)) > 1:
                continue   # tuned or on a path: its strengths are chosen or varied elsewhere
            s = arms_mod.cell_strengths(arm, t.strengths, len(t.model.hidden))
            off = [c for c in comps if not (any(s.dropout) if c == "dropout" else getattr(s, c))]
            if off:
                notes.append(f"{where}: arm {arm!r} has {' and '.join(off)} 0 (strengths), so it trains "
                             + ("exactly as none" if len(off) == len(comps) else f"without {' and '.join(off)}"))
    notes += _unread_penalty_settings(spec, settings, source)
    # a path the file writes for an arm (paths.l2 for l2, paths.dropout_l2 for dropout_l2), not one
    # that l2_mode alone would make
    unused = [arm for arm in arms_mod.ARMS if arm not in spec.arms and getattr(spec.paths, arm, None)]
    if unused:
        notes.append(f"{source}: paths for {', '.join(map(repr, unused))}, which 'arms' does not list: not run")
    if spec.paths.l2_mode and not any("l2" in arms_mod.ARMS[a].components for a in spec.arms):
        notes.append(f"{source}: paths.l2_mode set, but no arm in 'arms' has L2: not used")
    # (a study of one arm, `train`'s, compares nothing anyway; `arms: [none]` alone is refused)
    if len(spec.arms) > 1 and not isinstance(spec.seeds, AdaptiveSeeds) and len(seed_list(spec.seeds)) == 1:
        notes.append(f"{source}: with one seed no arm is compared with none (a comparison needs 2 seeds)")
    if spec.tune is not None:
        used = {c for arm in spec.arms for c in arms_mod.ARMS[arm].components}
        idle = [name for name in ("dropout", "l1", "l2") if name in spec.tune.model_fields_set and name not in used]
        if idle:
            notes.append(f"{source}: tune.{' and tune.'.join(idle)} set, but no arm in 'arms' has "
                         f"{' or '.join(idle)}: not used")
        # a strength written beside tune: was silently replaced by the tuned one
        hand = [f"strengths.{k}" for k in ("dropout", "l1", "l2", "dropout_l2")
                if any(k in t.strengths.model_fields_set for t, _, _ in settings) and (k in used or k in spec.arms)]
        if hand:
            notes.append(f"{source}: {' and '.join(hand)} set, but tune chooses the strengths of every arm: "
                         f"{'it is' if len(hand) == 1 else 'they are'} replaced by the tuned "
                         f"{'value' if len(hand) == 1 else 'values'} (used only where tuning finds none)")
    return list(dict.fromkeys(notes))


def _unread_penalty_settings(spec: StudyFile, settings: list, source: str) -> list[str]:
    """l2_mode and penalize_bias away from their defaults where no arm reads them (arms: [none,
    dropout]): noted as a strength no arm reads is, once for the study (they are in its identity)."""
    reads = {c for arm in spec.arms for c in arms_mod.ARMS[arm].components}
    readers = {"l2_mode": ({"l2"}, "the L2 arms (l2, dropout_l2)"), "penalize_bias": ({"l1", "l2"}, "the L1 and L2 arms")}
    notes = []
    for key, (components, who) in readers.items():
        default = Strengths.model_fields[key].default
        value = next((getattr(t.strengths, key) for t, _, _ in settings if getattr(t.strengths, key) != default), default)
        if value != default and not reads & components:
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            notes.append(f"{source}: field 'strengths.{key}' = {shown} changes nothing here: only {who} read it, and "
                         "none of them runs (it is part of the study's identity)")
    return notes


def _check_path_layers(spec: StudyFile, settings: list, source: str) -> None:
    """A per-layer dropout list in a path must have one p per hidden layer of every dataset; an
    arm with dropout needs a hidden layer to drop (hidden: [] is a linear model)."""
    lists = [p for p in [*spec.paths.dropout, *spec.paths.dropout_l2.get("dropout", [])] if isinstance(p, list)]
    dropping = [a for a in spec.arms if "dropout" in arms_mod.ARMS[a].components]
    linear = [d.display for d, (training, *_rest) in zip(spec.datasets, settings) if not training.model.hidden]
    if linear and dropping:
        where = f" (dataset {linear[0]})" if len(linear) < len(spec.datasets) else ""
        raise UsageError(f"{source}: field 'model.hidden' = []{where}: a linear model has no hidden units for "
                         f"dropout to drop, so {plural(len(dropping), 'arm')} {', '.join(map(repr, dropping))} would train as none; remove "
                         "them from 'arms' or give the model a hidden layer")
    for d, (training, *_rest) in zip(spec.datasets, settings):
        n = len(training.model.hidden)
        bad = next((p for p in lists if len(p) != n), None)
        if bad is not None:
            raise UsageError(f"{source}: field 'paths' has the dropout list {bad} but dataset {d.display} has {n} "
                             "hidden layers; give one p per hidden layer or a single number")


def _apply_overrides(raw: dict, seeds: Optional[str], epochs: Optional[str]) -> dict:
    """The command line's --seeds and --epochs (epochs replaces every per-dataset value)."""
    if seeds not in (None, ""):
        raw["seeds"] = parse_seeds(seeds)
    if epochs not in (None, ""):
        try:
            n = int(epochs)
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_EPOCHS:
            raise UsageError(f"--epochs = {epochs!r}: expected a positive integer, at most {quantity(MAX_EPOCHS)}")
        raw["epochs"] = n
        for d in raw.get("datasets") or []:
            if isinstance(d, dict):
                d.pop("epochs", None)
    return raw


def _split_settings(raw: dict, source: str) -> tuple[dict, list[tuple[dict, dict, dict]], list[str], dict]:
    """Take the training, execution and analysis settings out of the top level and the dataset
    entries: (the rest, [(merged training, merged execution, analysis)] per dataset, deprecation
    notes, the top level's training settings). A dataset entry's settings override the top level's."""
    notes: list[str] = []
    training_defaults = {k: raw.pop(k) for k in TRAINING_KEYS if k in raw}
    execution_defaults = _execution_block(raw, LEGACY_EXECUTION_KEYS, source, "", notes)
    raw["execution"] = execution_defaults
    per_dataset = []
    entries = raw.get("datasets")
    if isinstance(entries, list):
        clean = []
        for entry in entries:
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict):
                raise UsageError(f"{source}: field 'datasets' entries must be names or mappings, got {entry!r}")
            entry = dict(entry)
            where = f"datasets[{entry.get('label') or entry.get('name')}]."
            training = {k: entry.pop(k) for k in TRAINING_KEYS if k in entry}
            notes += _momentum_under_adam(training, source, where)
            execution = _execution_block(entry, LEGACY_EXECUTION_KEYS[:2], source, where, notes)
            analysis = {"rope": entry.pop("rope")} if "rope" in entry else {}
            per_dataset.append((_deep_merge(training_defaults, training), _deep_merge(execution_defaults, execution),
                                analysis))
            clean.append(entry)
        raw["datasets"] = clean
    # the top level's momentum beside its Adam is read by a dataset that switches to SGD (it inherits it)
    if not any(isinstance(t.get("optimizer"), dict) and t["optimizer"].get("name") == "sgd" for t, _, _ in per_dataset):
        notes = _momentum_under_adam(training_defaults, source, "") + notes
    return raw, per_dataset, notes, training_defaults


def _momentum_under_adam(training: dict, source: str, where: str) -> list[str]:
    """A note when one optimizer block sets Adam and a momentum: Adam does not read it (a dataset's
    Adam block that inherits the top level's SGD momentum is not noted: it did not write it)."""
    block = training.get("optimizer")
    if isinstance(block, dict) and block.get("name") == "adam" and block.get("momentum") not in (None, 0, 0.0):
        return [f"{source}: field '{where}optimizer.momentum' = {block['momentum']!r} is SGD's: Adam does not read it "
                "(its betas are torch's defaults, 0.9 and 0.999); it changes nothing but the study's identity"]
    return []


def _execution_block(node: dict, legacy: tuple[str, ...], source: str, where: str, notes: list[str]) -> dict:
    """Pop `execution:` from a mapping, with the legacy spellings of its fields folded in."""
    block = node.pop("execution", None) or {}
    if not isinstance(block, dict):
        raise UsageError(f"{source}: field '{where}execution' = {block!r}: expected a mapping like "
                         "{engine: population, population_size: 10, device: auto, workers: 1}")
    block = dict(block)
    if where and "workers" in block:   # ablation's processes serve every dataset: one per dataset was ignored
        raise UsageError(f"{source}: field '{where}execution.workers' = {block['workers']!r}: workers is set for the whole "
                         "study (the top level's execution: block), not per dataset")
    for key in legacy:
        if key in node:
            if key in block:
                raise UsageError(f"{source}: field '{where}{key}' is given twice, also as '{where}execution.{key}'; "
                                 "keep the one under execution")
            block[key] = node.pop(key)
            notes.append(f"{source}: '{where}{key}' is deprecated; write it under '{where}execution:' "
                         "(it no longer changes the study's identity)")
    return block


def _selected(spec: StudyFile, datasets: str) -> tuple[list[int], set[str]]:
    """Indices of the datasets --datasets keeps, and the training sizes it names as the console labels
    them ("pima@50": that size alone; "pima": every size train_sizes lists)."""
    known = [d.display for d in spec.datasets]
    # a label with a comma in it ("sales,2024", a CSV's file name) is chosen by itself, as written
    # each once: "digits,digits" was a view of its own, reported apart as datasets-digits+digits
    wanted = [datasets.strip()] if datasets.strip() in known else list(dict.fromkeys(d.strip() for d in datasets.split(",") if d.strip()))
    # a label written with spaces around it (label: " vino ") is chosen by its words: the flag's are trimmed
    wanted = [next((k for k in known if k.strip() == w and k not in wanted), w) for w in wanted]
    sized = [f"{d.display}@{size}" for d in spec.datasets for size in spec.train_sizes or ()]
    if not wanted:   # "," or " , ": a study of no dataset, which still opened its stores
        raise UsageError(f"--datasets = {datasets!r}: names no dataset; allowed: {', '.join(known + sized)}")
    unknown = [w for w in wanted if w not in known and w not in sized]
    if unknown:
        raise UsageError(f"--datasets = {unknown[0]!r}: not in the study; allowed: {', '.join(known + sized)}")
    sizes = {w for w in wanted if w in sized and w.rsplit("@", 1)[0] not in wanted}   # "pima" beside "pima@50": all of pima
    return [i for i, d in enumerate(spec.datasets) if d.display in wanted or any(s.startswith(f"{d.display}@") for s in sizes)], sizes
