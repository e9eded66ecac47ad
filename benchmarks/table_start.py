"""What a table study's start costs, this checkout against another (a baseline commit's clone):
`build_study` (the identity: the table's digest and every later rule's scan, which reads the table
as tables.read does) and the `tables.read` after it in the same process (handed over, or read
again), each in a fresh process, the two checkouts taking turns. Prints process CPU and wall time
per run and the ratios of the medians.

    .venv/bin/python benchmarks/table_start.py --baseline /path/to/old/clone [--csv /tmp/bigtable.csv] [--repeats 3]

The CSV is benchmarks/bigtable.py's (written by it when missing: 200,000 rows, 30 columns, ~43 MB)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# run in each checkout: the study's start, then the reading a training run does
PROBE = """
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
from pipeline import tables
from pipeline.study import build_study
study = {"name": "bench", "datasets": [{"name": "table", "path": sys.argv[1], "target": "y",
                                         "preprocess": {"categorical": "ordinal"}}]}
c0, w0 = cpu(), time.perf_counter()
plan = build_study(study, "bench.yaml").plans[0]
c1, w1 = cpu(), time.perf_counter()
tables.read(plan.dataset)
c2, w2 = cpu(), time.perf_counter()
print(json.dumps({"start_cpu": c1 - c0, "start_wall": w1 - w0, "read_cpu": c2 - c1, "read_wall": w2 - w1,
                  "hash": plan.config_hash}))
"""


def run(checkout: Path, csv: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(csv)], cwd=checkout, capture_output=True, text=True,
                         env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, help="a clone of the commit to compare with")
    parser.add_argument("--csv", default="/tmp/bigtable.csv")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    csv = Path(args.csv)
    if not csv.exists():
        subprocess.run([sys.executable, str(HERE / "benchmarks" / "bigtable.py"), "--csv", str(csv), "--repeats", "1"],
                       cwd=HERE, check=True, env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"})
    sides = {"baseline": Path(args.baseline).resolve(), "this": HERE}
    runs = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, checkout in sides.items():
            runs[side].append(run(checkout, csv))
    print(f"{csv} ({csv.stat().st_size / 1e6:.0f} MB); {args.repeats} runs each, taking turns")
    print(f"| what | baseline ({sides['baseline'].name}) | this | this/baseline (medians) |")
    print("|---|---|---|---|")
    for key, what in (("start_cpu", "study start (build_study), process CPU s"), ("start_wall", "study start, wall s"),
                      ("read_cpu", "tables.read after it, process CPU s"), ("read_wall", "tables.read after it, wall s")):
        old, new = ([r[key] for r in runs[side]] for side in sides)
        ratio = f"{statistics.median(new) / statistics.median(old):.2f}" if statistics.median(old) >= 0.05 else \
            "- (under 0.05 s: handed over)"
        print(f"| {what} | {', '.join(f'{v:.3f}' for v in old)} | {', '.join(f'{v:.3f}' for v in new)} | {ratio} |")
    print(f"config hashes: baseline {runs['baseline'][0]['hash']}, this {runs['this'][0]['hash']}")


if __name__ == "__main__":
    main()
