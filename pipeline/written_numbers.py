"""Numbers as people write them in a table's text: thousands separators (66,645; 2 556), currency
signs ($1,200.50, 12,50 €), percent signs, accounting negatives ((1,034)), the minus sign "−", one
unit shared by a column (3556 kg), decimal commas (1,52; 1.234,56) when the column's values settle
which mark is the decimal one; and the columns written two ways that no reading can settle."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

# A lone "-" is missing only in a column of numbers: as text it may be a real category (a urine
# test read "-", "+", "++").
DASHES = ["-", "--"]

# Numbers written as text, tried value by value in this order. A feature column is numbers when at
# least NUMBER_SHARE of its values read as one (the rest are then missing, with a warning); the
# target only when every value does (a rare text class is not missing).
MINUS = "\u2212"                                    # "−783.6": the typographic minus is "-"
PARENTHESES = r"^([$€£¥]?)\(([^()+-][^()]*)\)$"    # (1,034) -> -1,034, $(5) -> -$5: accounting negatives
CURRENCY = r"^([+-]?)[$€£¥]\s*"                     # $1,200.50, -$5: the sign kept, the symbol not
CURRENCY_AFTER = r"(?<!\s)\s*[$€£¥]$"               # 12,50 € (spaces from their first: linear)
PERCENT = r"(?<!\s)\s*%$"                           # 34.8% -> 34.8, as written (not 0.348)
UNIT = r"^([+-]?\d(?:[\d.,]|\s(?=\d))*)\s*([^\W\d_]+[23]?(?:/[^\W\d_]+[23]?)?)$"   # 3556 kg, 5.4 mg/dL, 3489 m2: taken off
#                                                    when the column has one unit (kg and lb mixed stay text)
SPACE_THOUSANDS = r"[+-]?\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?:[.,]\d+)?"   # 2 556, 1 204,5: spaces out
THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"   # 66,645 or 1,204.5
DECIMAL_COMMA = r"[+-]?\d+,\d+"                     # 1,52: when no value of the column is 1,234-like
EUROPEAN = r"[+-]?\d{1,3}(?:\.\d{3})+,\d+"          # 1.234,56: points are thousands, the comma decimal
DOT_THOUSANDS = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"  # 1.234 or 1.234,5, in a column that has 1.234,56
DOT_GROUPS = r"[+-]?\d{1,3}(?:\.\d{3})+"          # 60.900, 1.250.000: thousands, in a file of decimal commas
# A measurement beyond what an assay reads (<0.5, > 100, <=3, ≥7): read as its limit in a feature
# column of numbers that writes some so, fewer than LIMIT_SHARE of its values (half or more, or bins such as
# <18 / 18-65 / >65: categories); never in a target (<=50K is a class).
LIMIT = r"^\s*(?:<=?|>=?|≤|≥)\s*(?=[+-]?\.?\d)"
# 90+ (an age or a count top-coded: at least 90): read as its limit too, where it was missing (imputed by
# the median) in a column of numbers; the number only, not a grade's 2+ beside words (a column of categories)
LIMIT_AFTER = r"(?<=\d)\s*\+\s*$"
LIMIT_AFTER_VALUE = r"\s*\d+(?:[.,]\d+)?\s*\+\s*"
LIMIT_SHARE = 0.5
NUMBER_SHARE = 0.9
DECIMAL_SHARE = 0.1   # of a column's values with a comma, those only a decimal comma explains, to settle it
FILE_SETTLES = "the file is semicolon-separated, or other columns have decimal commas"   # why 1,716 read as 1.716


def is_text(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)


def as_number(column: pd.Series, share: float, file_commas: str = "") -> Optional[pd.Series]:
    """The column as floats (a lone dash missing, and anything else that is not a number) when at
    least `share` of its other values read as numbers as people write them; else None. Commas the
    column cannot settle (only 1,234-like values) follow `file_commas`, the file's (file_commas())."""
    return read_numbers(column, share, file_commas)[0]


def read_numbers(column: pd.Series, share: float, file_commas: str = "",
                 dot_groups: bool = False) -> tuple[Optional[pd.Series], str]:
    """as_number's answer, and for the warning an example of the column's 1,234-like values read
    with a decimal comma and why ("" when none was, or the column is not numbers). `dot_groups`:
    the column's points group thousands (dot_thousands_columns: 60.900 in a file of decimal commas).
    Read once per distinct value, each weighed by its rows (200,000 rows of a few thousand
    spellings: the regular expressions run on those, not on every row)."""
    present = column.dropna()
    codes, uniques = pd.factorize(present)
    rows = pd.Series(np.bincount(codes, minlength=len(uniques)))
    text = _cleaned(pd.Series(uniques, dtype=object))
    european = dot_groups or _dot_thousands(text)
    note = ""
    if european:   # 1.234,56: the points out first, then the comma is a decimal one
        text = text.mask(text.str.fullmatch(DOT_THOUSANDS), text.str.replace(".", "", regex=False))
        decimal = True
    else:
        decimal, note = _comma_reading(text, file_commas, rows)
    if decimal:
        text = text.mask(text.str.fullmatch(DECIMAL_COMMA), text.str.replace(",", ".", regex=False))
    else:
        text = text.mask(text.str.fullmatch(THOUSANDS), text.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(text, errors="coerce")
    weights = rows[text.index]
    if text.empty or weights[numbers.notna()].sum() < share * weights.sum():
        return None, ""
    per_value = numbers.astype(float).reindex(rows.index).to_numpy()
    return pd.Series(per_value[codes], index=present.index).reindex(column.index), note


def without_limits(column: pd.Series) -> tuple[Optional[pd.Series], pd.Series]:
    """(The text column with the marks of values beyond a measurement's limit taken off, <0.5 as 0.5,
    or None where it writes none or too many (LIMIT_SHARE of its values, dashes aside: missing); the
    values so written.)"""
    text = column.dropna().astype(str)
    after = text.str.fullmatch(LIMIT_AFTER_VALUE)
    marked = text[text.str.contains(LIMIT, regex=True) | after]
    if marked.empty or len(marked) >= LIMIT_SHARE * (~text.isin(DASHES)).sum():
        return None, marked
    limited = column.astype(str).str.replace(LIMIT, "", regex=True)
    return column.mask(column.notna(), limited.mask(after.reindex(column.index, fill_value=False),
                                                    limited.str.replace(LIMIT_AFTER, "", regex=True))), marked


def _cleaned(column: pd.Series) -> pd.Series:
    """A column's values as text with what is not the number taken off: the typographic minus,
    accounting parentheses, currency and percent signs, one unit shared by the column, spaces
    between thousands; lone dashes left out."""
    text = column.dropna().astype(str).str.replace(MINUS, "-", regex=False)
    text = text.str.replace(PARENTHESES, r"-\1\2", regex=True)
    text = text.str.replace(CURRENCY, r"\1", regex=True).str.replace(CURRENCY_AFTER, "", regex=True)
    text = text.str.replace(PERCENT, "", regex=True)
    with_unit = text.str.extract(UNIT)
    units = with_unit[1].dropna().unique()
    if len(units) == 1:   # one unit throughout carries nothing; two (kg, lb) would mix scales
        text = with_unit[0].where(with_unit[1].notna(), text)
    text = text.mask(text.str.fullmatch(SPACE_THOUSANDS), text.str.replace(r"\s", "", regex=True))
    return text[~text.isin(DASHES)]


def file_commas(frame: pd.DataFrame, sep: str = ",") -> str:
    """What a file's commas are where a column cannot tell (its values all 1,234-like): "decimal"
    when no column settles thousands (1,234,567; 1,234.5) and the file is semicolon-separated
    (European spreadsheets write decimal commas), or tab- or pipe-separated with some column that
    settles decimal commas (1,5; 0,459; 1.234,56); else "" (1,234 is thousands): a comma-separated
    file had to quote its commas, as US exports quote "1,234"."""
    if sep == ",":   # nothing in the file can change that: no column read twice
        return ""
    decimal, thousands = _comma_evidence(frame)
    return "decimal" if not thousands and (sep == ";" or decimal) else ""


def _comma_evidence(frame: pd.DataFrame, file_commas: str = "") -> tuple[bool, bool]:
    """(Whether some text column settles decimal commas (1,5; 0,459; 1.234,56), or reads them so by
    `file_commas`; whether some settles thousands commas (1,234,567; 1,234.5))."""
    decimal = thousands = False
    for c in frame.columns:
        if is_text(frame[c]):
            text = _cleaned(frame[c])
            digits = text[text.str.fullmatch(r"[+-]?[\d.,]+")]
            thousands |= bool(digits.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{3}){2,}(?:\.\d+)?|[+-]?\d{1,3}(?:,\d{3})+\.\d+").any())
            decimal |= _dot_thousands(text) or _comma_reading(text, file_commas)[0]
    return decimal, thousands


def dot_thousands_columns(text: pd.DataFrame, sep: str) -> dict[str, str]:
    """{column: an example} of a semicolon-separated file's columns of numbers with points
    (60.900, 2.042 beside 999) whose points group thousands because the file's commas are decimal
    ones (some column writes values only a decimal comma explains: 5,92; 0,459; 1.234,56; or a column
    of 1,716s alone, which a semicolon file reads so) and none thousands commas, so a point there
    cannot be a decimal point, as in 1.234,56; or because one of its values has two groups (1.250.000). `text` is the file
    read as text (a CSV reader takes 60.900 for 60.9). A column counts when its values are numbers
    as people write them (a currency sign, a unit, a dash or a few words among them count as for
    any column: NUMBER_SHARE), each one with a point has only 3-digit groups after it, and none
    starts with 0 (0.125 is a decimal whatever the file, 030.229.622 a phone number). Tab- and pipe-separated files are left
    alone: their "decimal" evidence can be a column of "1,2" lists."""
    if sep != ";":
        return {}
    decimal, thousands = _comma_evidence(text, "decimal")   # a column of 1,716s alone reads decimal in a ; file
    if thousands:
        return {}
    out = {}
    for c in text.columns:
        values = _cleaned(text[c])
        plain = values[values.str.fullmatch(r"[+-]?[\d.]+")]
        dotted = plain[plain.str.contains(".", regex=False)]
        # the file's decimal commas say so, or a value with two groups (1.250.000, which nothing else writes)
        settled = decimal or dotted.str.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3}){2,}").any()
        if len(dotted) and settled and len(plain) >= NUMBER_SHARE * len(values) and dotted.str.fullmatch(DOT_GROUPS).all() \
                and not dotted.str.match(r"[+-]?0").any():   # 0.125 is a decimal, 030.229.622 a phone number
            out[str(c)] = str(dotted.iloc[0])
    return out


def _dot_thousands(text: pd.Series) -> bool:
    """Whether the column's points are thousands separators (1.234,56, as German or Spanish
    spreadsheets write): some value has both point groups and a decimal comma, and every value with a
    point has only 3-digit groups after its points (12.5 anywhere means points are decimal points)."""
    points = text[text.str.fullmatch(r"[+-]?[\d.,]+") & text.str.contains(".", regex=False)]
    return bool(points.str.fullmatch(EUROPEAN).any()) and bool(points.str.fullmatch(DOT_THOUSANDS).all())


def _comma_reading(text: pd.Series, file_commas: str = "", rows: Optional[pd.Series] = None) -> tuple[bool, str]:
    """(Whether the column's commas are decimal commas (1,52), what settled 1,234-like values as
    decimals: "" when none was read so, else an example and the reason, for the warning). Decimal:
    its values of digits, commas and points have no point, each comma among them stands between
    digits once, and some values can only be decimals (1,5; 12,3456; 0,459: no one writes 459 as
    0,459); where every one could be thousands too (1,234 or 12,345: 1 to 3 digits, a comma, 3
    digits), the file decides (`file_commas`). A stray decimal-only value among thousands (one
    12,50 beside 1,250 and 2,400) does not flip the column: it is read as missing, with the usual
    warning, rather than the thousands read 1000x too small. `rows`: each value's rows, where `text`
    holds distinct values (read_numbers); one each otherwise."""
    digits = text[text.str.fullmatch(r"[+-]?[\d.,]+")]
    commas = digits[digits.str.contains(",", regex=False)]
    if not len(commas) or digits.str.contains(".", regex=False).any() or not commas.str.fullmatch(DECIMAL_COMMA).all():
        return False, ""
    either = commas.str.fullmatch(THOUSANDS) & ~commas.str.match(r"[+-]?0,")
    only = commas[~either]
    if not either.any():
        return True, ""
    example = f"{commas[either].iloc[0]!r}"
    def count(values: pd.Series) -> int:
        return len(values) if rows is None else int(rows[values.index].sum())

    if count(only) >= 2 and count(only) >= DECIMAL_SHARE * count(commas):
        return True, f"{example} (as the column's {only.iloc[0]!r} and others can only be)"
    if len(only):
        return False, ""
    return (True, f"{example} ({FILE_SETTLES})") \
        if file_commas == "decimal" else (False, "")


def numbers_not_read(frame: pd.DataFrame) -> dict:
    """Text feature columns that are numbers written two ways, which no one reading can settle
    (kept as categories): {column: why, with examples}. Mixed units (73.5 lb, 33.3 kg) would mix
    scales; mixed decimal marks (5.5, 12,4) leave 1,234 ambiguous. The user fixes the file. Judged
    on each column's distinct values, each weighed by its rows (spellings)."""
    out = {}
    for c in frame.columns:
        if not is_text(frame[c]):
            continue
        text, rows = spellings(frame[c])
        if text.empty:
            continue
        units = text.str.extract(UNIT)
        with_unit = units[1].notna()
        if _share(with_unit, rows) >= NUMBER_SHARE and units[1].nunique() > 1:
            shown = ", ".join(sorted(units[1].dropna().unique())[:4])
            out[c] = f"numbers in different units ({shown}), which would mix scales: convert them to one unit"
            continue
        if number_pairs(text, rows):
            out[c] = f"pairs of numbers like {text.iloc[0]!r}: split them into two numeric columns in the file"
            continue
        points, commas = text.str.fullmatch(r"[+-]?\d+\.\d+"), text.str.fullmatch(DECIMAL_COMMA)
        numberlike = text.str.fullmatch(r"[+-]?\d+(?:[.,]\d+)?")
        if points.any() and commas.any() and _share(numberlike, rows) >= NUMBER_SHARE:
            examples = f"{text[points].iloc[0]!r} and {text[commas].iloc[0]!r}"
            out[c] = f"numbers with decimal points and decimal commas ({examples}): write one decimal mark"
    return out


def spellings(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A column's distinct values as text (str of each), in the order they first appear, and the rows
    of each: what a check judges once a spelling, not once a row (200,000 rows of a few thousand
    spellings: its regular expressions run on those), counting rows where rows decide (_share)."""
    codes, uniques = pd.factorize(column.dropna().astype(str))
    return pd.Series(uniques, dtype=object), pd.Series(np.bincount(codes, minlength=len(uniques)))


def _share(hit: pd.Series, rows: Optional[pd.Series]) -> float:
    """The share of rows whose value `hit` marks: of the spellings weighed by their `rows`, or of the
    values themselves where `rows` is None."""
    if rows is None:
        return float(hit.mean())
    total = int(rows.sum())
    return _rows(hit, rows) / total if total else 0.0


def _rows(hit: pd.Series, rows: pd.Series) -> int:
    """The rows of the spellings `hit` marks."""
    return int(rows[hit.to_numpy(dtype=bool)].sum())


# A text column of numbers but for a few repeated words is numbers with a "missing" code of its own
# ("unknown" on 15% of an income column), too common for NUMBER_SHARE to read it as missing unasked:
# at least MARKER_SHARE of its values numbers, of MARKER_NUMBERS distinct values or more (1, 2, 3
# beside A and B are codes), and the rest at most MARKERS distinct words, each on two rows or more.
MARKER_SHARE = 0.5
MARKER_NUMBERS = 10
MARKERS = 3


def markers_among_numbers(column: pd.Series) -> Optional[dict]:
    """The few words a text column of numbers writes where a number is missing, left text (and the
    column categories) for being too many to read as missing unasked: {"markers": [the words, commonest
    first], "count": their rows, "share": of the column's values}; None for any other column."""
    if not is_text(column):
        return None
    numbers = as_number(column, MARKER_SHARE)
    if numbers is None or numbers.nunique() < MARKER_NUMBERS:
        return None
    rest = column[numbers.isna() & column.notna() & ~column.isin(DASHES)].astype(str)
    counts = rest.value_counts()
    if rest.empty or len(counts) > MARKERS or counts.min() < 2:
        return None
    return {"markers": list(counts.index), "count": len(rest), "share": len(rest) / int(column.notna().sum())}


# A text column that is categories though a good share of its values are numbers of many values
# ("3089 €" on 48% of rows, the rest "auf Anfrage", "VB", ...): neither rule above reads it, and
# one-hot encoding makes a column of each price. Warned of, not changed: which words mean missing
# only the user knows.
PARTLY_SHARE = 0.25


def partly_numbers(column: pd.Series) -> Optional[dict]:
    """A text column of PARTLY_SHARE numbers or more (MARKER_NUMBERS distinct ones at least) that
    stays categories: {"share": of its values that are numbers, "example": one, "others": the
    distinct other values, "common": the commonest of them (up to three)}; None for any other."""
    if not is_text(column):
        return None
    numbers = as_number(column, PARTLY_SHARE)
    if numbers is None or numbers.nunique() < MARKER_NUMBERS:
        return None
    present = column.notna() & ~column.isin(DASHES)
    rest = column[numbers.isna() & present].astype(str).value_counts()
    if rest.empty:   # every value a number, kept as text on purpose (ZIP codes 02139, 00501)
        return None
    return {"share": 1 - int(rest.sum()) / max(int(present.sum()), 1), "example": str(column[numbers.notna()].iloc[0]),
            "others": len(rest), "common": list(rest.index[:3])}


def percent_mixed(column: pd.Series) -> Optional[dict]:
    """A text column whose numbers are written with a percent sign and without ("44%", "0.82"): read
    as written (44 and 0.82), which is right when the plain ones are percents too and 100x off when
    they are fractions; only the file can say. {"with": n, "without": n, "examples": [a, b]} or None.
    Judged on the column's distinct values, each weighed by its rows (spellings)."""
    distinct, rows = spellings(column)
    text = distinct.str.strip()
    pct = text.str.fullmatch(r"[+-]?\d[\d.,]*\s*%")
    plain = text.str.fullmatch(r"[+-]?\d*[.,]?\d+") & (pd.to_numeric(text.str.replace(",", "."), errors="coerce") != 0)
    if not (pct.any() and plain.any()):
        return None
    return {"with": _rows(pct, rows), "without": _rows(plain, rows),
            "examples": [text[pct].iloc[0], text[plain].iloc[0]]}


def number_pairs(values: pd.Series, rows: Optional[pd.Series] = None) -> bool:
    """Nearly all values are two numbers with a slash (blood pressure 120/80, a 3/4 ratio): text to
    pandas, and nothing a model can read as the two numbers they are. `rows`: each value's rows, where
    `values` are a column's spellings."""
    pairs = values.astype(str).str.fullmatch(r"\s*\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?\s*")
    return bool(_share(pairs, rows) >= NUMBER_SHARE)


# Marks that only some exports write, read only in the columns a table's identity records
# (table_identity.number_marks): a rule that reads a column otherwise would change the numbers of studies
# already run on such a table, which are then another study, not more seeds of the old one.
APOSTROPHES = r"[+-]?\d{1,3}(?:['\u2019]\d{3})+(?:[.,]\d+)?"   # 58'924.68, 1'250'000: Swiss thousands
TRAILING_MINUS = r"\d[\d.,'\u2019]*[.,]\d+-"                  # 6.376,29- (SAP exports): a negative amount;
#                                                           decimals required ("3-" is a school grade)
EXPONENT_COMMA = r"[+-]?\d+,\d+[eE][+-]?\d+"          # 3,29E+05: Excel's scientific format, decimal comma
# 2.4k, 50K, $1.2M: thousands and millions, a mark only beside plain numbers (949 next to 2.4k) or each
# other: a column all in k (34k) reads 34 as one shared unit. Written close (300 K is kelvin).
MAGNITUDE = r"([$\u20ac\u00a3]?[+-]?)(\d+(?:\.\d+)?)([kKM])"
PLAIN = r"[$\u20ac\u00a3]?[+-]?\d+(?:\.\d+)?"
FACTORS = {"k": 1e3, "K": 1e3, "M": 1e6}
# EUR 86,23, USD 1,200.50: an ISO currency code before the amount, one code throughout the column (EUR
# beside USD would mix scales, as kg beside lb); after it (86,23 EUR) it is a unit, read before.
CODES = ("EUR|USD|GBP|CHF|JPY|CNY|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|INR|BRL|MXN|ZAR|RUB|TRY|HKD|SGD|KRW")
CODE_BEFORE = rf"(?:{CODES})\s?(?=[+-]?\d)"
# A cheap look at a file's text first: without any of these, no column has a mark.
MARKS_ANYWHERE = r"\d['\u2019]\d{3}|[.,]\d+-|\d,\d+[eE][+-]?\d|[0-9][kKM]\b|[A-Z]{3} ?[0-9]"


def marked_columns(text: pd.DataFrame, sep: str) -> dict[str, dict[str, str]]:
    """{mark: {column: an example}} of the columns of `text` (a file read as text, separated by
    with values written with one of these marks that then read as numbers (as people write them,
    NUMBER_SHARE: a "12'000" in a column of words is left alone)."""
    out: dict[str, dict[str, str]] = {}
    commas = file_commas(text, sep)
    for c in text.columns:
        values = text[c].dropna().astype(str).str.strip()
        # the minus first: 1'234.50- has its apostrophes looked at once it is -1'234.50
        hits = {"trailing_minus": values.str.fullmatch(TRAILING_MINUS),
                "apostrophes": unmarked(values, {"trailing_minus"}).str.fullmatch(APOSTROPHES),
                "exponent_comma": values.str.fullmatch(EXPONENT_COMMA),
                "magnitudes": _magnitudes(values),
                "currency_code": _currency_codes(values)}
        found = {mark: str(values[hit].iloc[0]) for mark, hit in hits.items() if hit.any()}
        if found and as_number(unmarked(values, set(found)), NUMBER_SHARE, commas) is not None:
            for mark, example in found.items():
                out.setdefault(mark, {})[str(c)] = example
    return out


def _magnitudes(values: pd.Series) -> pd.Series:
    """The values written with a magnitude (2.4k) in a column that mixes them with plain numbers or
    with another magnitude (2.4k beside 949 was read 2.4, a unit taken off); none where every value
    is in k alone (34k: the column's one unit, read as before)."""
    hit = values.str.fullmatch(MAGNITUDE)
    if not hit.any():
        return hit
    suffixes = values[hit].str[-1].unique()
    return hit if len(suffixes) > 1 or values.str.fullmatch(PLAIN).any() else hit & False


def _currency_codes(values: pd.Series) -> pd.Series:
    """The values written after a currency code (EUR 86,23), in a column of one code alone."""
    codes = values.str.extract(f"^({CODE_BEFORE})")[0].str.strip()
    return codes.notna() & (codes.nunique() == 1)


def _scaled(found) -> str:
    return f"{found.group(1)}{float(found.group(2)) * FACTORS[found.group(3)]:.15g}"


def unmarked(column: pd.Series, marks: set[str]) -> pd.Series:
    """The column with `marks` written as other numbers are (6.376,29- as -6.376,29, 58'924.68 as
    58924.68, 3,29E+05 as 3.29E+05), for the reading of numbers that follows; other values as they were."""
    text = column.astype(str).str.strip()
    hit = pd.Series(False, index=column.index)
    if "trailing_minus" in marks:
        minus = column.notna() & text.str.fullmatch(TRAILING_MINUS)
        text, hit = text.mask(minus, "-" + text.str[:-1]), hit | minus
    if "apostrophes" in marks:
        grouped = column.notna() & text.str.fullmatch(APOSTROPHES)
        text, hit = text.mask(grouped, text.str.replace(r"['\u2019]", "", regex=True)), hit | grouped
    if "exponent_comma" in marks:
        exponent = column.notna() & text.str.fullmatch(EXPONENT_COMMA)
        text, hit = text.mask(exponent, text.str.replace(",", ".", regex=False)), hit | exponent
    if "currency_code" in marks:   # EUR 86,23 as 86,23: before a magnitude's (EUR 2.4k)
        coded = column.notna() & text.str.match(CODE_BEFORE)
        text, hit = text.mask(coded, text.str.replace(f"^{CODE_BEFORE}", "", regex=True)), hit | coded
    if "magnitudes" in marks:   # 2.4k as 2400
        scaled = column.notna() & text.str.fullmatch(MAGNITUDE)
        text, hit = text.mask(scaled, text.str.replace(f"^{MAGNITUDE}$", _scaled, regex=True)), hit | scaled
    return column.mask(hit, text)


def sign_labels(values: pd.Series) -> bool:
    """Some value is written in signs alone with a plus among them ("+", "++", "+/-"), so that a
    "-" beside it is a result, not a missing value."""
    return bool(values.dropna().astype(str).str.fullmatch(r"[-+±/]*[+±][-+±/]*").any())
