"""Report, the figures' context: what every figure function gets as ctx (the data, the analysis,
the finished runs, the arm colors)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import arms
from .collect import ReportData


# Text sizes in every figure, in points at the size drawn: figures are drawn no wider than PAGE_WIDTH
# inches, so the PDF (a 186 mm text block) and a screen (100 px per inch, see the template) show them
# at least this large; a phone scrolls a figure sideways at that size (the template's CSS). 6-7 pt
# legends and labels, shrunk further on a page, were unreadable (an accessibility audit).
TEXT = 10    # titles and axis labels
SMALL = 9    # tick labels, legends, notes on a panel: the smallest text a figure has
PAGE_WIDTH = 6.9   # inches: the PDF's text block is 7.3 in, and 100 px per inch 1.04 in
PAGE_HEIGHT = 9.0  # inches: the most a figure is drawn tall, so that the PDF page holds it with its heading (A4's
                   # text block is ~10.6 in: a 4-arm paths figure at 13.6 in was cut off)
# seaborn's "paper" context with no text below SMALL (its ticks and legends were 8.8 pt)
READABLE = {"font.size": TEXT, "axes.titlesize": TEXT, "axes.labelsize": TEXT, "xtick.labelsize": SMALL,
            "ytick.labelsize": SMALL, "legend.fontsize": SMALL, "legend.title_fontsize": SMALL}


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

# each arm's hatching on a bar, in arms.ARMS' order (none plain, dropout, L1, L2, dropout+L2)
ARM_HATCHES = ("", "//", "..", "\\\\", "xx")


def arm_palette(arm_names) -> dict:
    import seaborn as sns

    colors = sns.color_palette("colorblind", 10)
    return {arms.label(a): colors[arms.ARMS[a].color % 10] for a in arm_names}
