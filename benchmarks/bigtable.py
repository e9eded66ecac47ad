"""A big messy table, generated, and what reading it costs: `tables.read`, and the column checks
that judge a text column's values (written_numbers.numbers_not_read, percent_mixed), each timed
alone on the columns tables.read gives them.

    .venv/bin/python benchmarks/bigtable.py [--rows 200000] [--repeats 3] [--csv /tmp/bigtable.csv]

The CSV (30 columns, ~40 MB at 200,000 rows; written once, then reused by path) has numbers
written as people write them: "$85,210" (tens of thousands of spellings), "2,781.00", "22.4%" beside
plain "0.82" (percents mixed), "64 kg", weights in kg and lb (two units), decimal points beside
decimal commas, blood pressure "120/80", a rate with "unknown"; words (city, employer, segment);
floats, counts and a yes/no target. Prints one line per measure: the median and the runs."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import column_checks, tables  # noqa: E402
from pipeline.study import DatasetSpec  # noqa: E402
from pipeline.written_numbers import is_text, numbers_not_read, percent_mixed  # noqa: E402


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = rows
    money = rng.lognormal(11, 0.6, n).round()
    pct = rng.uniform(0, 60, n).round(1)
    weight = rng.normal(75, 12, n).round(1)
    frame = {
        "income": [f"${v:,.0f}" for v in money],
        "balance": [f"{v:,.2f}" for v in rng.integers(0, 5000, n) * 1.0],
        "rate": np.where(rng.random(n) < 0.95, [f"{v}%" for v in pct], [f"{v / 100:.2f}" for v in pct]),
        "weight_kg": [f"{v:g} kg" for v in weight],
        "weight_mixed": np.where(rng.random(n) < 0.5, [f"{v:g} kg" for v in weight],
                                 [f"{v * 2.2:.1f} lb" for v in weight]),
        "dose": np.where(rng.random(n) < 0.5, [f"{v:.1f}" for v in rng.uniform(1, 20, n)],
                         [f"{v:.1f}".replace(".", ",") for v in rng.uniform(1, 20, n)]),
        "bp": [f"{s}/{d}" for s, d in zip(rng.integers(100, 160, n), rng.integers(60, 100, n))],
        "score": np.where(rng.random(n) < 0.85, rng.integers(0, 900, n).astype(str), "unknown"),
        "discount": [f"{v:.1f}%" for v in rng.uniform(0, 30, n)],
        "price": [f"{v:,.2f} €".replace(",", " ") for v in rng.lognormal(6, 1, n)],
        "loss": [f"({v:,})" if v % 3 == 0 else f"{v:,}" for v in rng.integers(0, 20000, n)],
        "city": rng.choice([f"city{k}" for k in range(800)], n),
        "employer": rng.choice([f"employer {k}" for k in range(600)], n),
        "segment": rng.choice(["retail", "sme", "corporate"], n),
        "channel": rng.choice(["web", "branch", "phone", "partner"], n),
        "grade": rng.choice([f"G{k}" for k in range(12)], n),
    }
    for k in range(12):
        frame[f"x{k}"] = rng.normal(size=n).round(4)
    frame["visits"] = rng.poisson(3, n)
    frame["y"] = rng.choice(["yes", "no"], n)
    pd.DataFrame(frame).to_csv(path, index=False)


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", default="/tmp/bigtable.csv")
    args = parser.parse_args()
    path = Path(args.csv)
    if not path.exists():
        generate(path, args.rows)
    spec = DatasetSpec(name="table", path=str(path), target="y", preprocess={"categorical": "ordinal"})   # bp: 2,400 values
    frame, _, record = tables.read(spec)
    # the columns judge() hands numbers_not_read, and the text columns _percents_mixed looks at, as
    # they stand when each is called (numbers not yet read for percent_mixed: the raw text)
    digits = frame[[c for c in frame.columns if column_checks.may_be_numbers(frame[c])]]
    raw = pd.read_csv(path)   # as pandas types it: the text columns are the ones tables.read looks at
    raw = raw[[c for c in raw.columns if c != "y" and is_text(raw[c]) and column_checks.may_be_numbers(raw[c])]]
    rows = [("tables.read", lambda: tables.read(spec)),
            (f"numbers_not_read ({len(digits.columns)} columns)", lambda: numbers_not_read(digits)),
            (f"percent_mixed ({len(raw.columns)} text columns)",
             lambda: [percent_mixed(raw[c]) for c in raw.columns])]
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB, {len(frame):,} rows)")
    print(f"numbers_not_read: {sorted(record['numbers_not_read'])}; percent_mixed: {sorted(record['percent_mixed'])}")
    for label, fn in rows:
        runs = timed(fn, args.repeats)
        print(f"{label}: median {statistics.median(runs):.2f} s ({', '.join(f'{r:.2f}' for r in runs)})")


if __name__ == "__main__":
    main()
