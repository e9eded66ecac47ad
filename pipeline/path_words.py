"""The regularization paths in words: each path's points (path_summary) as console lines and the
report's table rows, what selected the arm's point, and the note on a path whose points validation
barely tells apart; a path over l2_mode's points against each other at the same strength (the
penalty in the loss or the optimizer's weight decay?). The console summary and the report write
the same text."""

from __future__ import annotations

import math
from typing import Optional

from . import arms, stats
from .head_to_head import head_to_head_row
from .metric_numbers import cut_note, difference, past_bounds
from .path_points import mode_name
from .path_summary import Path, summarize_path
from .task import metric_for
from .verdicts import DatasetResults, DatasetVerdicts
from .words import and_list


def path_lines(d: DatasetResults, v: Optional[DatasetVerdicts] = None) -> list[str]:
    """Each regularization path in words (path_summary): per point, weakest to strongest, the
    validation metric that selects (mean ± SE), the test metric and gap (mean and 95% CI over
    seeds) and the paired difference to none; the point selected, and the strongest within one SE;
    then, given its verdicts `v`, its l2_modes against each other (mode_rows)."""
    m = metric_for(d.task, d.metric)
    lines = []
    for arm in d.paths:
        path = summarize_path(d, arm, v.rope if v is not None else None)
        lines.append(f"    {arms.label(arm)} path: {path_header(path)}")
        rows = path_rows(path, m)
        width = max([22, *(len(row["variant"]) for row in rows)])   # "l2=0.001,l2_mode=weight_decay" is longer
        for row in rows:
            lines.append(f"      {row['variant']:<{width}} val {row['val']:<16} test {row['test']:<24} "
                         f"vs none {row['vs_none']:<22} gap {row['gap']:<24} "
                         + "".join(f"{name} {row[key]} " for key, name in (("sparsity", "|w|<1e-3"), ("norm", "norm"))
                                   if row[key]) + f"({row['n']} seeds)")
        for row in mode_rows(v, arm) if v is not None else []:
            said = row["said"] if row["identical"] else f"{row['said']}, {row['diff']}" + (f"; {row['aside']}" if row["aside"] else "")
            p = "" if row["identical"] or row["p"] == "-" else \
                f"{'Holm ' if len(v.modes[arm]) > 1 else ''}{'equivalence ' if row['test'] == 'equivalence' else ''}p {row['p']}, "
            lines.append(f"      l2_mode {row['pair']}: {said} ({p}{row['n']} seeds)")
        if note := path_cut_note(path, v, m.name):
            lines.append(f"      {note}")
    return lines


def path_cut_note(path: Path, v: Optional[DatasetVerdicts], metric: str) -> str:
    """The note under a path's rows when one of its intervals (a point's difference to none, or,
    given the verdicts `v`, an l2_mode pair's) is cut at the metric's bounds and marked; ""
    otherwise. The verdicts' own intervals say so in their sentences."""
    pairs = [pt.vs_none for pt in path.points if pt.vs_none is not None]
    pairs += [h.paired for h in (v.modes.get(path.arm, []) if v is not None else []) if not h.identical]
    return cut_note(metric) if any(past_bounds(p, metric) for p in pairs) else ""


def mode_rows(v: DatasetVerdicts, arm: str) -> list[dict]:
    """The arm's path points that differ in l2_mode alone, against each other (head_to_head_row):
    the pair named by their modes, and the settings they share ("decoupled − penalty at l2=0.001")."""
    rows = []
    for h in v.modes.get(arm, []):
        row = head_to_head_row(h, v.metric, name=lambda point: mode_name(point)[0])
        shared = mode_name(h.first)[1]
        rows.append({**row, "pair": row["pair"] + (f" at {shared}" if shared else "")})
    return rows


def path_header(path: Path) -> str:
    """What selected the arm's point, where it lies on the path, and the one-SE choice."""
    edge = {"strongest": "; it is the strongest tried and the next one is worse on validation by more than one "
                         "SE: the best may lie beyond, extend the path",
            "weakest": "; it is the weakest tried and the next one is worse on validation by more than one SE: the "
                       "best may lie below, extend the path (none is the arm at zero)"}.get(path.edge, "")
    # a point with an earlier one's numbers (a mode that trains alike) is not another point near it
    flat = sum(pt.within_se for pt in path.points if pt.variant not in path.copies)
    distinct = len(path.points) - len(path.copies)
    near = (f"; {flat} of {distinct} {'distinct ' if path.copies else ''}points are within one SE of it on validation "
            "(it barely tells them apart)" if flat > 1 else "")
    if not any(pt.test.n for pt in path.points if pt.variant == path.chosen):   # the first point, standing in
        return "no point of it has a finished run (failed, or not trained yet): no point is selected"
    one_se = ("; it is also the strongest within one SE" if path.one_se and path.one_se == path.chosen else
              f"; strongest within one SE: {path.one_se}" if path.one_se else "")
    tied = (f"; tied with {and_list(path.tied)} on every seed (the same validation, test and training values), so "
            "which one is named is only the list's order" if path.tied else "")
    # a strength too weak to move the metric: the arm's verdict is then none's against itself
    as_none = ("; its test values are none's on every seed: at this strength the arm changed no test result, so its "
               "verdict compares none with itself" if any(pt.variant == path.chosen and pt.vs_none is not None and
                                                          pt.vs_none.identical for pt in path.points) else "")
    return (f"{path.chosen} selected on validation (its test values are the arm's above){tied}{as_none}{edge}{near}{one_se}")


def path_rows(path: Path, m) -> list[dict]:
    """The path's points as text cells for the console and the report's table: values as
    fractions, like the arm tables; differences to none in points, like every difference."""
    def value(x: float) -> str:
        return "-" if math.isnan(x) else f"{x:.4f}" if m.share else f"{x:.4g}"

    def ci(s: stats.Summary) -> str:
        return "" if math.isnan(s.ci_low) else f"[{value(s.ci_low)}, {value(s.ci_high)}]"

    rows = []
    for pt in path.points:
        val_se = "" if math.isnan(pt.val_se) else f" ±{pt.val_se:.4f}" if m.share else f" ±{pt.val_se:.2g}"
        rows.append({"variant": pt.variant, "val": value(pt.val_mean) + val_se,
                     "test": f"{value(pt.test.mean)} {ci(pt.test)}".strip(),
                     "vs_none": (difference(pt.vs_none, m.name)
                                 if pt.vs_none is not None else "-"),
                     "gap": f"{value(pt.gap.mean)} {ci(pt.gap)}".strip(),   # a level, unsigned
                     # L1's sparsity and L2's weight norm as the strength grows ("" for an arm without them)
                     "sparsity": "" if pt.sparsity is None else f"{100 * pt.sparsity.mean:.1f}%",
                     "norm": "" if pt.norm is None else f"{pt.norm.mean:.3g}",
                     "n": pt.test.n, "chosen": pt.variant == path.chosen and pt.test.n > 0, "one_se": pt.variant == path.one_se,
                     "within_se": pt.within_se})
    return rows


def flat_paths_note(v: DatasetVerdicts) -> str:
    """A note when an arm's path point was selected among near-equals (every point within one SE
    on validation): its verdict is that point's, and another point of the path may say otherwise."""
    flat = [a for a in v.paired if a in v.flat_paths]
    if not flat:
        return ""
    # a path over one strength ranks its points by it; others (over l2_mode, or two keys) hold settings
    word = "strength" if all(a in v.path_place for a in flat) else "setting"
    said = "; ".join(f"{v.name(a)} was selected among {v.flat_paths[a]} {word}s that validation barely tells apart "
                     "(all within one SE)" for a in flat)
    return (f"{said}: the verdict is that {word}'s alone, and another {word} of the path may compare with none "
            "differently (the path lines show each against none)")
