"""Report, the figures' context: what every figure function gets as ctx (the data, the analysis,
the finished runs, the arm colors)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import arms
from .collect import ReportData


@dataclass(frozen=True)
class FigureContext:
    data: ReportData
    analysis: dict
    ok: pd.DataFrame   # finished runs, the arm's label in column "regularizer"
    palette: dict      # arm label -> color (arms.ARMS[arm].color in seaborn's "colorblind" palette)
    order: list        # arm labels in the study's order

    @classmethod
    def of(cls, data: ReportData, analysis: dict) -> "FigureContext":
        ok = data.runs[data.runs["status"] == "FINISHED"].copy()
        ok = ok[~ok["run_id"].isin(analysis.get("exploded_runs", ()))]   # counted as diverged: drawn nowhere
        ok["regularizer"] = ok["arm"].map(arms.label)
        return cls(data, analysis, ok, arm_palette(data.study.arms), [arms.label(a) for a in data.study.arms])

    def color(self, arm: str):
        return self.palette[arms.label(arm)]

    def line(self, arm: str):
        """The arm's line style, stable per arm: lines told apart by colour alone (none's blue beside
        dropout+L2's sky blue) were one line to a reader who does not see those colours apart."""
        place = list(arms.ARMS).index(arm) if arm in arms.ARMS else 0
        return ARM_LINES[place % len(ARM_LINES)]

    def dashes(self) -> dict:
        """line() as seaborn's `dashes` by arm label: "" solid, else (on, off, ...) lengths."""
        named = {"-": "", "--": (4, 2), ":": (1, 2), "-.": (4, 2, 1, 2)}
        return {arms.label(a): named[s] if isinstance(s, str) else s[1]
                for a in self.data.study.arms for s in [self.line(a)]}


# none solid, dropout dashed, L1 dotted, L2 dash-dot, dropout+L2 dash-dot-dot (arms.ARMS' order)
ARM_LINES = ("-", "--", ":", "-.", (0, (5, 1.5, 1, 1.5, 1, 1.5)))


def arm_palette(arm_names) -> dict:
    import seaborn as sns

    colors = sns.color_palette("colorblind", 10)
    return {arms.label(a): colors[arms.ARMS[a].color % 10] for a in arm_names}
