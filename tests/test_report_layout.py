"""The report's layout, measured on a real study's report: the HTML in headless Chromium at a phone's
width (the page never scrolls sideways, wide tables scroll on their own), figures sharper than they
are shown, every table's header row in a <thead>, and in the PDF (poppler) no heading at the foot of a
page, nothing past the margins, and tables that do not leave a lone row on a page."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from .conftest import ROOT, run_cli, study_env, tiny_study_dict, write_study

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PT_PER_MM = 72 / 25.4
MARGIN_X, MARGIN_Y = 12 * PT_PER_MM, 14 * PT_PER_MM   # the template's @page margin: 14mm 12mm
PHONE = 400


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One small study (2 datasets x 5 arms x 3 seeds) run end to end: its report folder."""
    work = tmp_path_factory.mktemp("layout")
    env = study_env(work)
    write_study(work / "lay.yaml", tiny_study_dict(name="lay", seeds=3))
    proc = run_cli(["ablation", "--study", "lay.yaml"], cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / "reports" / "lay"


def _chromium():
    from playwright.sync_api import sync_playwright

    p = sync_playwright().start()
    return p, p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                 "--disable-background-networking", "--no-first-run"])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_html_fits_a_phone_and_figures_are_sharper_than_shown(report):
    p, browser = _chromium()
    try:
        page = browser.new_page(viewport={"width": PHONE, "height": 800})
        page.goto((report / "report.html").as_uri())
        page.wait_for_load_state("load")
        phone = page.evaluate("""() => ({
            scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth,
            tables: [...document.querySelectorAll('table')].map(t => ({right: t.getBoundingClientRect().right,
                                                                        inner: t.scrollWidth, shown: t.clientWidth})),
            images: [...document.querySelectorAll('figure')].map(f => ({right: f.getBoundingClientRect().right,
                inner: f.scrollWidth, shown: f.clientWidth, focus: f.tabIndex, img: f.querySelector('img').width,
                natural: f.querySelector('img').naturalWidth}))})""")
        page.set_viewport_size({"width": 1280, "height": 800})
        wide = page.evaluate("""() => [...document.querySelectorAll('img')].map(i => ({
            shown: i.getBoundingClientRect().width, natural: i.naturalWidth, room: i.parentElement.clientWidth}))""")
    finally:
        browser.close()
        p.stop()
    # the page itself never scrolls sideways at a phone's width: wide tables scroll inside themselves
    assert phone["scroll"] <= PHONE + 1 and phone["body"] <= PHONE + 1, phone["scroll"]
    assert all(t["right"] <= PHONE + 1 for t in phone["tables"])
    assert any(t["inner"] > t["shown"] for t in phone["tables"])   # the summary's comparisons: wider than a phone
    # a figure's box stays within the phone; the figure in it keeps its size (its text 9 pt and up, not
    # shrunk to 4-5 pt) and scrolls sideways in the box, which the keyboard can focus
    assert len(phone["images"]) >= 2 * 3 + 2 and all(f["right"] <= PHONE + 1 for f in phone["images"])
    assert all(abs(f["img"] - f["natural"] / 1.5) <= 1 for f in phone["images"]), phone["images"]
    assert all(f["inner"] <= f["shown"] + 1 or f["focus"] == 0 for f in phone["images"]), phone["images"]
    assert any(f["inner"] > f["shown"] for f in phone["images"])
    # figures drawn at 150 dpi are shown at 100 px per figure inch, as large as they were at 100 dpi
    # (never wider than the page): 1.5 image pixels per CSS pixel, sharp in print and on dense screens
    for img in wide:
        assert img["natural"] > 0 and abs(img["shown"] - min(img["natural"] / 1.5, img["room"])) <= 1, img


class _Tables(HTMLParser):
    """Each table's rows: (in a thead, in a tbody, the row's cell tags)."""

    def __init__(self):
        super().__init__()
        self.tables, self.open = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.open.append({"rows": [], "group": None})
            self.tables.append(self.open[-1]["rows"])
        elif self.open and tag in ("thead", "tbody", "tfoot"):
            self.open[-1]["group"] = tag
        elif self.open and tag == "tr":
            self.open[-1]["rows"].append((self.open[-1]["group"], []))
        elif self.open and tag in ("th", "td") and self.open[-1]["rows"]:
            self.open[-1]["rows"][-1][1].append(tag)

    def handle_endtag(self, tag):
        if tag == "table" and self.open:
            self.open.pop()
        elif self.open and tag in ("thead", "tbody", "tfoot"):
            self.open[-1]["group"] = None


def test_every_table_has_its_header_row_in_a_thead_and_its_rows_in_a_tbody(report):
    """A table split over PDF pages repeats its <thead> (WeasyPrint, as browsers print)."""
    parser = _Tables()
    parser.feed((report / "report.html").read_text(encoding="utf-8"))
    assert len(parser.tables) >= 10
    headed = 0
    for rows in parser.tables:
        assert rows and all(group in ("thead", "tbody") for group, _ in rows), rows
        header = [cells for group, cells in rows if group == "thead"]
        # a header row (th only) is in the thead, and the thead is that row; only the provenance
        # table, whose rows are each headed by a th, has none
        assert all(group == "thead" for group, cells in rows if set(cells) == {"th"}), rows
        assert all(set(cells) == {"th"} for cells in header) and rows[0][0] == ("thead" if header else "tbody")
        headed += bool(header)
    assert headed >= len(parser.tables) - 1


@pytest.fixture(scope="module")
def pdf_pages(report, tmp_path_factory):
    """The PDF's pages as poppler reads them: [{width, height, texts, images, words}], in points,
    and its outline (the headings, with their pages)."""
    pdf = report / "report.pdf"
    out = tmp_path_factory.mktemp("pdfxml")
    subprocess.run(["pdftohtml", "-xml", "-q", "-nodrm", "-zoom", "1", str(pdf), str(out / "report")], check=True)
    root = ET.parse(out / "report.xml").getroot()
    bbox = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    sizes = [(float(w), float(h)) for w, h in re.findall(r'<page width="([\d.]+)" height="([\d.]+)">', bbox)]
    words = [[tuple(float(v) for v in w) for w in re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" '
                                                              r'xMax="([\d.]+)" yMax="([\d.]+)">', body)]
             for body in re.findall(r"<page [^>]*>(.*?)</page>", bbox, re.S)]
    pages = []
    for page in root.iter("page"):
        boxes = lambda tag: [(float(e.get("left")), float(e.get("top")), float(e.get("width")), float(e.get("height")),
                              "".join(e.itertext()), bool(e.findall(".//b"))) for e in page.iter(tag)]
        width, height = sizes[len(pages)]
        pages.append({"width": width, "height": height, "texts": boxes("text"), "images": boxes("image"),
                      "words": words[len(pages)]})
    outline = [("".join(i.itertext()), int(i.get("page"))) for i in root.iter("item")]
    assert len(pages) >= 3 and len(words) == len(sizes) == len(pages) and outline
    return pages, outline


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_no_pdf_page_ends_with_a_heading(pdf_pages):
    """Every heading (h1-h4: the PDF's outline) has text or a figure below it on its page: none is left
    alone at the foot of a page, as "2. Per dataset" was above the first dataset's page break."""
    pages, outline = pdf_pages
    headings = [(title, n) for title, n in outline if _squeeze(title)]
    assert any(t.startswith("2. Per dataset") for t, _ in headings) and len(headings) >= 10
    for title, n in headings:
        page, want = pages[n - 1], _squeeze(title)
        footer = page["height"] - MARGIN_Y   # the page number, in the bottom margin
        texts = page["texts"]
        # the heading: bold text that begins the title, and the text after it on the page while it
        # goes on spelling the title (a heading's muted part, a wrapped heading's next line)
        start = next((i for i, t in enumerate(texts)
                      if t[5] and len(_squeeze(t[4])) >= 3 and want.startswith(_squeeze(t[4]))), None)
        assert start is not None, f"the heading {title!r} is not on page {n}"
        end, said = start, _squeeze(texts[start][4])
        while end + 1 < len(texts) and said != want and want.startswith(said + _squeeze(texts[end + 1][4])):
            end += 1
            said += _squeeze(texts[end][4])
        bottom = max(t[1] + t[3] for t in texts[start:end + 1])
        below = [t for t in texts[end + 1:] + page["images"] if t[1] >= bottom - 1 and t[1] < footer]
        assert below, f"page {n} ends with the heading {title!r}"


class _Headings(HTMLParser):
    """The page's headings in order: (level, text, the id of the dataset section it is in or "")."""

    def __init__(self):
        super().__init__()
        self.headings, self.section, self.open = [], "", None

    def handle_starttag(self, tag, attrs):
        if tag == "section" and "dataset" in (dict(attrs).get("class") or ""):
            self.section = dict(attrs).get("id") or f"section at heading {len(self.headings)}"
        elif re.fullmatch(r"h[1-6]", tag):
            self.open = [int(tag[1]), "", self.section]

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = ""
        elif self.open and tag == f"h{self.open[0]}":
            self.headings.append(tuple(self.open))
            self.open = None

    def handle_data(self, data):
        if self.open:
            self.open[1] += data


def test_headings_nest_and_the_pdf_outline_follows_them(report, tmp_path):
    """A dataset's heading and its subsections were all h3, so the PDF's outline listed "The
    regularizers against each other" beside the datasets instead of under each: a dataset is h3 under
    "2. Per dataset" (h2), its subsections and figure headings h4; no heading skips a level."""
    parser = _Headings()
    parser.feed((report / "report.html").read_text())
    levels = [level for level, _, _ in parser.headings]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), parser.headings
    sections = sorted({s for _, _, s in parser.headings if s})
    assert len(sections) == 2   # the two datasets
    for section in sections:
        inside = [(level, text) for level, text, s in parser.headings if s == section]
        assert inside[0][0] == 3 and all(level == 4 for level, _ in inside[1:]) and len(inside) >= 2, inside
        # its figures' headings name it: a PDF page holding only "test accuracy" box plots did not say whose
        figs = [text for _, text in inside[1:] if " · " in text]
        assert len(figs) >= 2 and all(t.rsplit(" · ", 1)[1] in inside[0][1] for t in figs), inside
    # the PDF's outline (poppler) nests the same way: each dataset's entry holds its subsections
    subprocess.run(["pdftohtml", "-xml", "-i", "-q", str(report / "report.pdf"), str(tmp_path / "r")], check=True)
    outline = ET.parse(tmp_path / "r.xml").getroot().find("outline")
    top = outline.find("outline")   # under the title: the numbered sections
    items = list(top)
    per_dataset = next(i for i, e in enumerate(items) if e.tag == "item" and e.text.startswith("2. Per dataset"))
    datasets = list(items[per_dataset + 1])
    titles = [e.text for e in datasets if e.tag == "item"]
    assert len(titles) == 2 and not any(t.startswith("The regularizers") for t in titles), titles
    for i, e in enumerate(datasets):
        if e.tag == "item":
            assert datasets[i + 1].tag == "outline"
            assert "The regularizers against each other" in [x.text for x in datasets[i + 1].iter("item")]


def test_pdf_tables_and_figures_stay_within_the_margins(pdf_pages):
    pages, _ = pdf_pages
    for n, page in enumerate(pages, 1):
        right = page["width"] - MARGIN_X
        widest = max((w[2] for w in page["words"]), default=0)
        assert widest <= right + 0.5, f"page {n}: text reaches {widest:.1f} pt, the margin is at {right:.1f} pt"
        assert all(w[0] >= MARGIN_X - 0.5 for w in page["words"]), f"page {n}: text in the left margin"
        for left, _, width, *_ in page["images"]:
            # (pdftohtml rounds its positions to whole points)
            assert MARGIN_X - 1 <= left and left + width <= right + 1, f"page {n}: a figure crosses the margin"


def test_pdf_tables_leave_no_row_alone_on_a_page(tmp_path):
    """The template's own CSS in WeasyPrint: whichever the height above it, a long table split over
    two pages keeps at least two body rows on each and repeats its header row; a .keep table (a row
    per arm) moves to the next page whole."""
    from weasyprint import HTML

    css = re.search(r"<style>(.*?)</style>", (ROOT / "pipeline/templates/report.html.j2").read_text(), re.S).group(1)
    rows = "".join(f"<tr><td class='l'>row{i}</td><td>{i}</td></tr>" for i in range(6))
    pdf, seen = tmp_path / "table.pdf", set()
    for above in range(840, 1000, 12):   # px of other content above the table: its split point moves a row at a time
        for cls in ("", "keep"):
            HTML(string=f"<html><head><style>{css}</style></head><body><p>above</p><div style='height: {above}px'></div>"
                        f"<table class='{cls}'><thead><tr><th class='l'>head</th><th>n</th></tr></thead>"
                        f"<tbody>{rows}</tbody></table><p>below</p></body></html>").write_pdf(pdf)
            shown = []
            for n in (1, 2, 3):
                text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"], capture_output=True,
                                      text=True).stdout
                if re.search(r"row\d", text):
                    shown.append((len(re.findall(r"row\d", text)), "head" in text))
            seen.add((cls, len(shown)))
            assert sum(n for n, _ in shown) == 6, (above, shown)
            if cls == "keep":
                assert len(shown) == 1, (above, shown)
            else:
                assert all(n >= 2 and head for n, head in shown), (above, shown)
    assert ("", 2) in seen   # the sweep did split the long table


@pytest.fixture(scope="module")
def path_report(tmp_path_factory):
    """A study with L1 and L2 paths (digits, 3 seeds) run end to end: its report folder."""
    work = tmp_path_factory.mktemp("paths")
    write_study(work / "p.yaml", tiny_study_dict(name="pth", seeds=3, arms=["none", "l1", "l2"], epochs=3,
                                                 paths={"l2": [1e-5, 1e-4, 1e-3, 1e-2, 3e-2],
                                                        "l1": [1e-5, 1e-4, 3e-4, 1e-3]},
                                                 datasets=[{"name": "digits", "train_size": 150}]))
    proc = run_cli(["ablation", "--study", "p.yaml"], cwd=work, env=study_env(work))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / "reports" / "pth"


def test_pdf_path_tables_stay_within_the_margins(path_report):
    """A regularization path's table (strength, validation, test, vs none, gap, weight measure,
    seeds; "selected, strongest within one SE" under a strength) ran past the page's right edge in
    the PDF of studies/paths.yaml, its seeds column cut off: it is a .wide table, and wraps."""
    pdf = path_report / "report.pdf"
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "weight norm" in subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    for n, (width, body) in enumerate(re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', bbox, re.S), 1):
        widest = max((float(x) for x in re.findall(r'xMax="([\d.]+)"', body)), default=0.0)
        assert widest <= float(width) - MARGIN_X + 0.5, f"page {n}: text reaches {widest:.1f} pt"


def test_the_summary_names_the_strength_that_stands_for_a_path(path_report):
    """The summary's comparison rows said "L1 ... practically the same" without the strength the
    verdict is about, while the answer beside it and the dataset's own table name it (l1=1e-05):
    with four strengths on the path, the row alone did not say which one was compared."""
    html = (path_report / "report.html").read_text()
    summary = html[html.index('id="summary"'):html.index("How the verdicts are reached")]
    for arm, key in (("L1", "l1"), ("L2", "l2")):
        assert re.search(rf'<th scope="row" class="l rh">digits</th><td class="l">{arm}<br><span class="muted">{key}=[\d.e-]+'
                         r'</span></td>', summary), summary[-3000:]


def test_pdf_wide_tables_with_long_differences_fit_the_text_block(tmp_path):
    """The default study's synthetic_linear paired table ("-0.00291 MSE [-0.00549, -0.000329]" in
    a cell that did not wrap, 12 columns) reached 578 pt in the PDF, past the 561 pt margin. The
    template's own CSS in WeasyPrint, on that table's header and rows."""
    from weasyprint import HTML

    css = re.search(r"<style>(.*?)</style>", (ROOT / "pipeline/templates/report.html.j2").read_text(), re.S).group(1)
    head = "".join(f"<th>{h}</th>" for h in ("pairs", "mean diff [95% CI]", "effect size d<sub>z</sub>", "t-test p",
                                             "Holm", "Wilcoxon p", "Holm", "min. Wilcoxon p", "TOST p", "Holm"))
    diffs = ("+0.0132 MSE [0.00222, 0.0241]", "-0.00291 MSE [-0.00549, -0.000329]", "-0.0402 MSE [-0.0543, -0.0261]")
    rows = "".join(f"<tr><td class='l'>dropout+L2</td><td>10</td><td class='nw'>{d}</td><td>-0.81</td>"
                   + "<td>0.0311</td>" * 7 + "<td class='l undecided'>undecided</td></tr>" for d in diffs)
    pdf = tmp_path / "wide.pdf"
    HTML(string=f"<html><head><style>{css}</style></head><body><table class='wide keep'><thead><tr>"
                f"<th class='l'>arm vs none</th>{head}<th class='l'>verdict</th></tr></thead><tbody>{rows}</tbody>"
                "</table></body></html>").write_pdf(pdf)
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    widest = max(float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox))
    assert "-0.000329]" in bbox and widest <= width - MARGIN_X + 0.5, f"the table reaches {widest:.1f} pt"


def test_pdf_keeps_a_head_to_head_heading_its_lead_and_its_table_together(tmp_path):
    """The default study's quadrants: "The regularizers against each other" and two lines of its
    paragraph ended page 10, the rest and the table began page 11. The template's own CSS in
    WeasyPrint: wherever the page ends, the heading, its lead paragraph and the short table it
    leads into (.keep) share a page."""
    from weasyprint import HTML

    css = re.search(r"<style>(.*?)</style>", (ROOT / "pipeline/templates/report.html.j2").read_text(), re.S).group(1)
    lead = " ".join(["Each pair of arms other than none on the seeds both ran, paired by seed."] * 6)
    rows = "".join(f"<tr><td class='l'>pair{i}</td><td>+0.{i} pt</td></tr>" for i in range(6))
    pdf, split = tmp_path / "h2h.pdf", set()
    for above in range(760, 1000, 20):   # px of other content above: the page's end moves through the block
        HTML(string=f"<html><head><style>{css}</style></head><body><div style='height: {above}px'></div>"
                    f"<h4>Heading four</h4><p class='muted lead'>{lead} leadend</p><table class='keep'><thead><tr>"
                    f"<th class='l'>pair</th><th>difference</th></tr></thead><tbody>{rows}</tbody></table>"
                    "</body></html>").write_pdf(pdf)
        pages = [subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"], capture_output=True,
                                text=True).stdout for n in (1, 2)]
        holding = [n for n, text in enumerate(pages) if "Heading four" in text]
        assert len(holding) == 1, above
        page = pages[holding[0]]
        assert "leadend" in page and "Each pair" in page and len(re.findall(r"pair\d", page)) == 6, (above, pages)
        split.add(holding[0])
    assert split == {0, 1}   # the sweep did move the block to the next page


def test_a_narrow_pdf_cell_wraps_a_difference_only_before_its_interval(tmp_path):
    """The template's `nb` filter in a column as narrow as its longest unbroken part: "+1 340 MAE"
    could wrap after "+1" (a spaced thousand) and "-0.0213 log loss" after "log" (a unit of two
    words), which read as other numbers. Each line is the amount with its unit, or its interval."""
    from weasyprint import HTML

    from pipeline.report.render import unbroken

    cells = ("+1 340 MAE [-8, 2]", "-0.0213 log loss [-0.04, 0]", "+0.0214 R² [0.01, 0.03]", "+0.2 pt [-0.1, 0.6]")
    tables = "".join(f"<table style='width: 1mm; font-size: 9pt'><tr><td>{unbroken(c)}</td></tr></table>" for c in cells)
    pdf = tmp_path / "narrow.pdf"
    HTML(string=f"<html><body>{tables}</body></html>").write_pdf(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    lines = [" ".join(line.replace("\u00a0", " ").split()) for line in text.splitlines() if line.strip()]
    assert lines == [part for c in cells for part in (c[:c.index(" [")], c[c.index(" [") + 1:])], lines


def test_pdf_keeps_a_study_file_shorter_than_a_page_on_one_page(tmp_path):
    """"Study file as run" split across two PDF pages wherever the page ended: a reader who prints
    page 12 has half of it. The template's CSS in WeasyPrint: a 40-line file stays whole wherever
    the content above ends; one longer than a page still goes on to the next."""
    from weasyprint import HTML

    css = re.search(r"<style>(.*?)</style>", (ROOT / "pipeline/templates/report.html.j2").read_text(), re.S).group(1)

    def pages_holding(lines: int, above: int) -> list[int]:
        text = "\n".join(f"line{i:03d}: value" for i in range(lines))
        pdf = tmp_path / "pre.pdf"
        HTML(string=f"<html><head><style>{css}</style></head><body><div style='height: {above}px'></div>"
                    f"<pre>{text}</pre></body></html>").write_pdf(pdf)
        pages = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split("\f")
        return [n for n, page in enumerate(pages) if "line" in page]

    assert all(len(pages_holding(40, above)) == 1 for above in range(300, 1000, 100))
    assert len(pages_holding(150, 200)) > 1


class _Figures(HTMLParser):
    """Each <img>: (its alt, the caption of the <figure> it is in or None), in order."""

    def __init__(self):
        super().__init__()
        self.images, self.figure, self.caption = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "figure":
            self.figure = []
        elif tag == "img":
            self.images.append([dict(attrs).get("alt") or "", None if self.figure is None else ""])
        elif tag == "figcaption" and self.figure is not None:
            self.caption = ""

    def handle_endtag(self, tag):
        if tag == "figcaption" and self.caption is not None and self.images:
            self.images[-1][1] = self.caption
            self.caption = None
        elif tag == "figure":
            self.figure = None

    def handle_data(self, data):
        if self.caption is not None:
            self.caption += data


def test_every_figure_says_what_it_shows_in_words(report):
    """An accessibility audit: the figures' alt texts were titles ("wine: learning curves") and they
    had no caption; the forest plot's legend was only inside its PNG. Each image is now in a
    <figure> with a <figcaption> (how to read it), its alt text says more than its title (the arms,
    the axes, the result), and the forest's caption says its legend."""
    from pipeline.report import figures

    parser = _Figures()
    parser.feed((report / "report.html").read_text(encoding="utf-8"))
    titles = {f.alt_for(key) for f in figures.FIGURES for key in ("", "digits", "synthetic_linear")}
    assert len(parser.images) >= 2 * 3 + 2
    for alt, caption in parser.images:
        assert caption and len(caption) > 60, (alt, caption)
        assert alt not in titles and len(alt) > 80 and max(len(t) for t in titles) < len(alt), alt
    forest_alt, forest_caption = next(i for i in parser.images if i[0].startswith("Forest plot"))
    assert "ROPE" in forest_caption and "open one" in forest_caption and "filled dot" in forest_caption
    assert all(arm in forest_alt for arm in ("dropout", "L1", "L2", "dropout+L2")) and "digits:" in forest_alt
    weights = [alt for alt, _ in parser.images if "fraction of weights below" in alt]
    assert len(weights) == 2 and all("Below 1e-3: none " in alt for alt in weights)


def test_every_data_table_has_a_caption_and_its_headers_say_their_scope(report):
    """An accessibility audit: a screen reader read the tables' cells without their row's dataset,
    arm or strength (the first column was plain cells) and without a name for the table. Every
    table now has a <caption> (hidden on screen, .sr), its column headers scope="col", and each of
    its body rows begins with its row's header, scope="row"."""
    html = (report / "report.html").read_text(encoding="utf-8")
    tables = re.findall(r"<table[ >].*?</table>", html, re.S)
    assert len(tables) >= 10
    for table in tables:
        assert re.match(r'<table[^>]*>\s*<caption class="sr">[^<]{10,}</caption>', table), table[:300]
        head = re.search(r"<thead>(.*?)</thead>", table, re.S)
        assert not head or all('scope="col"' in th for th in re.findall(r"<th[ >][^>]*>", head.group(1))), table[:300]
        body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
        rows = re.findall(r"<tr[^>]*>\s*(<t[hd][^>]*>)", body)
        assert rows and all(re.match(r'<th scope="row"', cell) for cell in rows), (rows, table[:300])


def test_every_section_is_numbered_in_the_page_s_order(report):
    """"Tuning", "Training-set size" and "Reference points" were unnumbered h2s between numbered
    sections: every h2 is numbered now, 1, 2, 3 ... in the order of the page and of its contents line."""
    from pipeline.report.render import section_numbers

    parser = _Headings()
    html = (report / "report.html").read_text(encoding="utf-8")
    parser.feed(html)
    numbers = [re.match(r"(\d+)\. ", text) for level, text, _ in parser.headings if level == 2]
    assert all(numbers) and [int(m.group(1)) for m in numbers] == list(range(1, len(numbers) + 1)), parser.headings
    toc = re.findall(r'<a href="#[\w-]+">(\d+)\. ', html[html.index('<nav class="toc'):html.index("</nav>")])
    assert [int(n) for n in toc] == list(range(1, len(numbers) + 1))
    assert section_numbers(True, True, True) == {"summary": 1, "tuning": 2, "datasets": 3, "sizes": 4, "references": 5,
                                                 "across": 6, "failed": 7, "provenance": 8}
    assert section_numbers(False, False, False)["provenance"] == 5


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_no_scrolled_text_shows_left_of_a_sticky_first_column(report):
    """An accessibility audit at 390 px: a wide table scrolled sideways showed a 2-px sliver of the
    text scrolled under its sticky first column, left of it (the table painted the cell's collapsed
    left border where it was). Chromium at a phone's width, 3 device pixels per CSS pixel: no dark
    pixel in the 2 CSS px at each wide table's left edge, wherever it is scrolled to."""
    import io

    import numpy as np
    from PIL import Image

    p, browser = _chromium()
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=3)
        page.goto((report / "report.html").as_uri())
        dark = []
        for table in page.query_selector_all("table.wide"):
            page.evaluate("t => t.scrollIntoView()", table)
            for x in range(5, 400, 15):
                page.evaluate(f"t => {{ t.scrollLeft = {x}; }}", table)
                left, top, bottom = page.evaluate("""t => { const r = t.getBoundingClientRect();
                    return [r.left, Math.max(r.top, 0), Math.min(r.bottom, innerHeight)]; }""", table)
                shot = page.screenshot(clip={"x": left, "y": top, "width": 2, "height": bottom - top})
                dark.append(int((np.array(Image.open(io.BytesIO(shot)).convert("L")) < 180).sum()))
    finally:
        browser.close()
        p.stop()
    assert len(dark) > 20 and max(dark) == 0, dark
