"""The regularizer arms: one definition of each, read by the study file, both trainers, tuning
and the report.

An arm is a set of components (dropout, l1, l2) switched on for its grid cells; every other
component is off. Its strengths come, per component, from (first that is set):
  1. the values tuning chose for it (when the study has a `tune:` block),
  2. its own block under `strengths:` (an arm of several components, e.g. `dropout_l2:`),
  3. the study's shared `strengths:` value of that component.
Its tuning search space follows from its components too (see `suggest`).

Adding an arm, e.g. elastic net: one `register(Arm("elastic_net", "elastic net", ("l1", "l2"), 5))`
below. The penalty maths (model.py, population.py) already handle any mix of components; a new
component (say max-norm) would add its maths there and its name to COMPONENTS here.
tests/test_architecture.py trains a throwaway arm through the whole pipeline this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

COMPONENTS = ("dropout", "l1", "l2")


@dataclass(frozen=True)
class Arm:
    name: str                     # as in study files, MLflow tags and Optuna cells
    label: str                    # as in the report and the console
    components: tuple[str, ...]   # subset of COMPONENTS; () for the baseline
    color: int                    # index into seaborn's "colorblind" palette: stable per arm

    @property
    def tuned_component(self) -> Optional[str]:
        """The component the report's sensitivity plot puts on its x axis."""
        return self.components[-1] if self.components else None


ARMS: dict[str, Arm] = {}


def register(arm: Arm) -> Arm:
    unknown = set(arm.components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"arm {arm.name}: unknown components {sorted(unknown)}; allowed: {COMPONENTS}")
    ARMS[arm.name] = arm
    return arm


# colours: indexes into seaborn's colorblind palette (blue, orange, green, reddish purple, sky
# blue); its vermillion (3) beside dropout's orange was hard to tell apart in thin lines
register(Arm("none", "none", (), 0))
register(Arm("dropout", "dropout", ("dropout",), 1))
register(Arm("l1", "L1", ("l1",), 2))
register(Arm("l2", "L2", ("l2",), 4))
register(Arm("dropout_l2", "dropout+L2", ("dropout", "l2"), 9))

BASELINE = "none"


def names() -> tuple[str, ...]:
    return tuple(ARMS)


def label(name: str) -> str:
    arm = ARMS.get(name)
    return arm.label if arm else name


def normalize(value: Any) -> Any:
    """Accept the spellings users write: 'L2', 'dropout+L2', 'dropout_l2'."""
    if isinstance(value, str):
        return value.strip().lower().replace("+", "_")
    return value


@dataclass(frozen=True)
class CellStrengths:
    """What one grid cell trains with: every component, zero where the arm does not use it."""
    dropout: tuple[float, ...]
    l1: float
    l2: float


def cell_strengths(name: str, strengths, n_hidden: int, tuned: Optional[dict] = None) -> CellStrengths:
    """The strengths arm `name` trains with, from the study's `Strengths` and (optionally) the
    values tuning chose for it (as `tuned_values` returns them)."""
    values: dict[str, Any] = {"dropout": 0.0, "l1": 0.0, "l2": 0.0}
    values.update(own_values(name, strengths))
    values.update({c: tuned[c] for c in ARMS[name].components if tuned and c in tuned})
    p = values["dropout"]
    dropout = tuple(float(x) for x in p) if isinstance(p, (list, tuple)) else (float(p),) * n_hidden
    return CellStrengths(dropout, float(values["l1"]), float(values["l2"]))


def own_values(name: str, strengths) -> dict[str, Any]:
    """Arm `name`'s components at the study's `Strengths`, as written (a dropout p, or one per
    hidden layer): its own block's value (an arm of several components) where set, else the shared one."""
    arm = ARMS[name]
    own = getattr(strengths, arm.name, None) if len(arm.components) > 1 else None
    return {c: getattr(own, c) if own is not None and getattr(own, c, None) is not None else getattr(strengths, c)
            for c in arm.components}


def variant_keys(variant: str) -> dict[str, str]:
    """A point's id as its settings, as written: "l2=0.001,l2_mode=penalty" -> {"l2": "0.001", "l2_mode": "penalty"}."""
    return dict(part.split("=", 1) for part in variant.split(",") if "=" in part)


def overrides_of(variant: str) -> dict[str, Any]:
    """A point's id (variant_id) as the overrides it names: "dropout=0.2/0.5,l2=0.001,l2_mode=decoupled" ->
    {"dropout": [0.2, 0.5], "l2": 0.001, "l2_mode": "decoupled"}; for a cell whose point the study file
    no longer lists (a strength changed while it waited), so that it trains at the strength it is named by."""
    out: dict[str, Any] = {}
    for key, text in variant_keys(variant).items():
        if key == "dropout":
            ps = [float(x) for x in text.split("/")]
            out[key] = ps if len(ps) > 1 else ps[0]
        elif key in ("l1", "l2"):
            out[key] = float(text)
        elif key == "l2_mode":
            out[key] = text
    return out


def strengths_text(name: str, dropout: Any, l1: Any, l2: Any, l2_mode: str = "penalty") -> str:
    """What arm `name` trains with, as the console, the report and trials.csv show it, named as
    the study file and the MLflow params name them: "dropout=0.2", "l1=0.0001", "l2=0.001
    (penalty)", "dropout=0.2/0.5, l2=0.001 (weight_decay)"; "" for none. dropout: one p, one
    per hidden layer (a list, or MLflow's "0.2,0.5"); equal layers are one p."""
    parts = []
    for c in ARMS[name].components:
        if c == "dropout":
            ps = dropout.split(",") if isinstance(dropout, str) else dropout if isinstance(dropout, (list, tuple)) \
                else [dropout]
            ps = [float(x) for x in ps]
            ps = ps[:1] if len(set(ps)) == 1 else ps   # equal layers are one p; else every layer, in order
            parts.append("dropout=" + "/".join(f"{x:g}" for x in ps))
        elif c == "l2":
            parts.append(f"l2={float(l2):g} ({l2_mode})")
        elif c == "l1":
            parts.append(f"l1={float(l1):g}")
    return ", ".join(parts)


def variant_id(overrides: dict, exact: bool = True) -> str:
    """A variant's name in cells, run names and tags: "" for the arm's own strengths, else e.g.
    "l2=0.001" or "dropout=0.2,l2=0.0001" or "l2=0.001,l2_mode=decoupled". `exact` false: every
    number with 6 significant digits, as the cells of a study held under an earlier identity are
    named (Study.points)."""
    def text(v):
        return "/".join(_number(x, exact) for x in v) if isinstance(v, list) else \
            (_number(v, exact) if isinstance(v, float) else str(v))
    return ",".join(f"{k}={text(v)}" for k, v in overrides.items())


def _number(x: float, exact: bool = True) -> str:
    """A strength as a point's name writes it: 6 significant digits where they say it exactly (0.001,
    3e-05), else every digit: two strengths that differ past the 6th are two cells, and a waiting
    cell's name gives back the value it was enqueued at (overrides_of)."""
    short = f"{x:g}"
    return short if not exact or float(short) == x else repr(float(x))


def strengths_id(name: str, dropout: Any, l1: float, l2: float, l2_mode: str = "penalty",
                 penalize_bias: bool = False) -> str:
    """What arm `name` trains with, as a path's point is written in run names (variant_id):
    "l2=0.001", "dropout=0.2/0.5,l2=0.01,l2_mode=decoupled"; l2_mode and penalize_bias only where
    they differ from the defaults; "" for none."""
    components = ARMS[name].components
    ps = [float(p) for p in dropout]
    values = {"dropout": ps[:1] if len(set(ps)) == 1 else ps,   # equal layers are one p, as strengths_text writes them
              "l1": float(l1), "l2": float(l2)}
    overrides = {c: values[c] for c in components}
    if "l2" in components and l2_mode != "penalty":
        overrides["l2_mode"] = l2_mode
    if penalize_bias and {"l1", "l2"} & set(components):
        overrides["penalize_bias"] = "true"
    return variant_id(overrides)


# --- tuning ----------------------------------------------------------------------------------

def suggest(trial, name: str, tune, n_hidden: int) -> dict:
    """Ask an Optuna trial for the arm's strengths: dropout p per hidden layer uniform in
    tune.dropout, l1 and l2 log-uniform in tune.l1 and tune.l2. Returns Optuna's params."""
    params = {}
    for c in ARMS[name].components:
        if c == "dropout":
            for i in range(n_hidden):
                params[f"dropout_{i}"] = trial.suggest_float(f"dropout_{i}", *tune.dropout)
        else:
            params[c] = trial.suggest_float(c, *getattr(tune, c), log=True)
    return params


def tuned_values(params: dict) -> dict:
    """Optuna's params of a tuning trial (as `suggest` names them) -> {component: value}, the
    form `cell_strengths` takes: dropout as one p per hidden layer."""
    out: dict[str, Any] = {}
    layers = sorted((int(k.rsplit("_", 1)[1]), float(v)) for k, v in params.items() if k.startswith("dropout_"))
    if layers:
        out["dropout"] = [p for _, p in layers]
    for c in ("l1", "l2"):
        if c in params:
            out[c] = float(params[c])
    return out
