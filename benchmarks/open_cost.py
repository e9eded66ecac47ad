"""What a waiting worker pays to open a dataset's Optuna study it looks at (every few seconds, per
dataset): before, optuna.create_study(load_if_exists=True) (which tries the create first: a
failing INSERT rolled back, or a line appended to a journal file); now,
preparation.open_dataset_study (grid.open_study: load first, create only where the storage lacks
it). Both paths are in this run, measured in turn in one run on SQLite, a journal file and a throwaway
PostgreSQL: SQL statements, bytes a journal grew, wall time; one table of ratios.

    .venv/bin/python benchmarks/open_cost.py [--opens 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402
from sqlalchemy import event  # noqa: E402

from pipeline import preparation  # noqa: E402
from pipeline.storage import get_storage  # noqa: E402
from pipeline.study import load_study  # noqa: E402
from tests.conftest import postgres_server, tiny_study_dict, write_study  # noqa: E402


def measure(url: str, opens: int, study, plan) -> dict[str, tuple[float, int, int]]:
    """{way: (seconds, SQL statements, bytes a journal grew)} for `opens` opens each way."""
    data = types.SimpleNamespace(task="classification", metric=None)
    name = preparation.optuna_study_name(study, plan)
    preparation.open_dataset_study(url, study, plan, data)   # created once, as the enqueue does
    engine = getattr(get_storage(url), "engine", None)
    count = [0]
    if engine is not None:
        event.listen(engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    journal = url.split(":", 1)[1] if url.startswith("journal:") else None
    out = {}
    for way, opener in (("before", lambda: optuna.create_study(storage=get_storage(url), study_name=name,
                                                               direction="maximize", load_if_exists=True)),
                        ("now", lambda: preparation.open_dataset_study(url, study, plan, data))):
        count[0], size = 0, os.path.getsize(journal) if journal else 0
        started = time.perf_counter()
        for _ in range(opens):
            opener()
        out[way] = (time.perf_counter() - started, count[0], (os.path.getsize(journal) - size) if journal else 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    write_study(tmp / "s.yaml", tiny_study_dict(name="bench"))
    study = load_study(tmp / "s.yaml")
    plan = study.plans[0]
    rows = [("SQLite", measure(f"sqlite:///{tmp}/o.db", args.opens, study, plan)),
            ("journal", measure(f"journal:{tmp}/o.journal", args.opens, study, plan))]
    with postgres_server() as pg:
        rows.append(("PostgreSQL", measure(f"{pg.url}/optuna", args.opens, study, plan)))
    print(f"| storage ({args.opens} opens) | before: s, statements, journal bytes | now: s, statements, journal bytes "
          "| now/before (s) |")
    print("|---|---|---|---|")
    for label, m in rows:
        (t0, n0, b0), (t1, n1, b1) = m["before"], m["now"]
        print(f"| {label} | {t0:.2f}, {n0}, {b0} | {t1:.2f}, {n1}, {b1} | {t1 / t0:.2f} |")


if __name__ == "__main__":
    main()
