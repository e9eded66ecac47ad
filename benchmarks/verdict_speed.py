"""How long one dataset's verdicts take at 9 to 14 seeds, the pipeline's Wilcoxon p against scipy's.

    .venv/bin/python benchmarks/verdict_speed.py [--seeds 9 11 13 14] [--repeats 3]

A counted metric (accuracy on 360 test rows) gives tied differences, and with ties among 13 or
fewer seeds scipy.stats.wilcoxon runs an exact permutation test that calls its statistic once per
sign pattern (2^n calls). stats.wilcoxon_p runs the same test with the statistic on every pattern at
once. Each row decides one dataset of 5 arms (verdicts.decide_study: 4 comparisons with none, their
Wilcoxon p among the rest) both ways, in turn, and prints the medians and their ratio; the
p-values of the two ways are checked equal."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
from scipy import stats as sst

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import stats, verdicts  # noqa: E402

ARMS = ("none", "dropout", "l1", "l2", "dropout_l2")


def results(seeds: int) -> list[verdicts.DatasetResults]:
    rng = np.random.default_rng(seeds)
    rows = 360
    values = {arm: {s: float(rng.binomial(rows, 0.95 + 0.004 * i)) / rows for s in range(seeds)}
              for i, arm in enumerate(ARMS)}
    return [verdicts.DatasetResults("digits", "classification", values, n_test=rows)]


def timed(seeds: int, scipys: bool) -> tuple[float, list[float]]:
    data = results(seeds)
    patch = mock.patch.object(stats, "wilcoxon_p", lambda d: float(sst.wilcoxon(d).pvalue)) if scipys else mock.MagicMock()
    with patch:
        start = time.perf_counter()
        [decided] = verdicts.decide_study(data)
        took = time.perf_counter() - start
    return took, [decided.paired[a].p_wilcoxon for a in ARMS[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[9, 11, 13, 14])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| seeds | scipy.stats.wilcoxon, s | stats.wilcoxon_p, s | ratio |\n|---|---|---|---|")
    for n in args.seeds:
        theirs, mine = [], []
        for _ in range(args.repeats):
            t_scipy, p_scipy = timed(n, scipys=True)
            t_mine, p_mine = timed(n, scipys=False)
            assert np.allclose(p_scipy, p_mine, rtol=1e-12, atol=0), (p_scipy, p_mine)
            theirs.append(t_scipy)
            mine.append(t_mine)
        a, b = statistics.median(theirs), statistics.median(mine)
        print(f"| {n} | {a:.3f} | {b:.3f} | {a / b:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
