"""What a table's columns look like, judged before any model sees them: the columns that cannot
carry signal (dropped, each with its reason) and what the user should be warned of (repeated header
names, rows without a target, values read as missing, case variants, wide categoricals, repeated
rows, copies of the target, zeros that may mean "not measured", heavy tails of many zeros), recorded
in the reading record.
Reading and encoding the table is tables.py's, the warnings' words column_warnings.py's; this
module only looks at the columns it is given and records what it found."""

from __future__ import annotations

import re
import warnings
from typing import Optional

import numpy as np
import pandas as pd

from .written_numbers import MARKER_SHARE, as_number, is_text, markers_among_numbers, number_pairs, numbers_not_read, partly_numbers

MAX_CLASSES_FOR_AUTO = 20   # an integer target with at most this many values is a class label

# Columns without signal, judged on the distinct rows. Below MIN_ROWS_TO_JUDGE rows uniqueness says
# nothing (4 rows of 1..4).
MIN_ROWS_TO_JUDGE = 20
BIG_TARGET_STD = 1000.0   # a regression target this spread has an MSE in the millions: rmse is suggested
MIN_CLASS_ROWS_TO_JUDGE = 10   # a feature separating the classes is warned about with this many rows in each
FREE_TEXT_SHARE = 0.5        # text with more distinct values than this share of its rows ...
PROSE_WORDS = 3              # ... and at least this many words a value on average: "felt unwell on
#                              day 3" is free text; 21 cities in 40 rows or "120/80" are categories
NEARLY_UNIQUE_SHARE = 0.95   # text with at least this share of its values distinct (an email column
#                              with a few repeats) is an identifier or free text: hardly any value is
#                              seen twice in training, and one-hot makes a column per row
DATE_SHARE = 0.95            # a text column this share of whose values read as dates in one format
DATE_CATEGORIES = 20         # dates with at most this many distinct values (2019-01..2019-04) are
#                              categories; more are dropped
# the last word of a name (patient_id, order_number, Order No.) or a camelCase suffix (patientId,
# PatientID, recordNo, OrderNumber, CustomerNr; ref, order_ref, OrderRef: a reference number), and
# pandas' saved index; not number_of_rooms, Nodes
ID_WORDS = re.compile(r"(?:^|[\s_.-])(?:id|ids|uuid|guid|key|index|idx|no|nr|number|ref|reference)\.?$", re.IGNORECASE)
ID_CAMEL = re.compile(r"[a-z](?:Id|ID|No|Nr|Number|Ref)\.?$|^Unnamed: \d+$")
# ... and as it was before CustomerNo and order_number were ids (identity: such tables only restart)
_ID_WORDS_BEFORE = re.compile(r"(?:^|[\s_.-])(?:id|ids|uuid|guid|key|index|idx|no|nr)$", re.IGNORECASE)
_ID_CAMEL_BEFORE = re.compile(r"[a-z](?:Id|ID)$|^Unnamed: \d+$")


ID_NAMED = "id-like: unique integers named like an id"   # no_signal's reason for a column only its name makes an id


def newly_id_named(name: str) -> bool:
    """A column name the id rule matches now and did not before (CustomerNo, order_number)."""
    return bool((ID_WORDS.search(name) or ID_CAMEL.search(name))
                and not (_ID_WORDS_BEFORE.search(name) or _ID_CAMEL_BEFORE.search(name)))

# Zeros that may mean "not measured" (warned): in a measurement with this many distinct other
# values, the smallest of which is at least this share of their median.
ZERO_CODE_DISTINCT = 10
ZERO_CODE_GAP = 0.1

# A feature column missing on at least this share of its rows is warned about (imputed, it says little
# beyond whether it was recorded); a numeric target of skewness at least HEAVY_TAIL_SKEW (a log-normal
# with sigma 1 has 6) is heavy-tailed: a few rows make most of its squared error.
MOSTLY_MISSING = 0.8
HEAVY_TAIL_SKEW = 5.0
# A non-negative numeric feature of at least this share of zeros and skewness HEAVY_TAIL_SKEW (a
# balance: zero for most, thousands for a few) is warned of with log1p, which keeps its zeros at 0
MANY_ZEROS = 0.1
# Rows of a heavy-tailed target this many times the median distance from the median are far from
# the others (a rent typed in cents is ~900; a log-normal of sigma 1.6 has 0.3% of its rows there,
# of sigma 1 none); up to FAR_ROWS are counted, the farthest FAR_ROWS_SHOWN written
FAR_ROW_MADS = 100
FAR_ROWS = 10
FAR_ROWS_SHOWN = 5

# A kept categorical column is warned about (under one-hot encoding) when it has more distinct values
# than FREE_TEXT_SHARE of at least MIN_ROWS_TO_JUDGE rows, or more than WIDE_CATEGORIES.
WIDE_CATEGORIES = 100


def judge(spec, frame: pd.DataFrame, y: pd.Series, record: dict) -> None:
    """Add to the reading record what the kept feature columns and the target look like, and the
    warnings for the user (`record["warnings"]`)."""
    # counted on the columns kept: two rows that differ only in an id are one example to the model;
    # under missing: drop, among the rows it keeps (copies it drops are no examples twice)
    rows = pd.concat([frame, y], axis=1)
    if spec.preprocess.missing == "drop":
        rows = rows[~frame.isna().any(axis=1)]
    record["duplicate_rows"] = int(rows.duplicated().sum())
    record["categorical"] = spec.preprocess.categorical
    record["wide_categorical_columns"] = _wide_categoricals(frame) if spec.preprocess.categorical == "onehot" else {}
    digits = [c for c in frame.columns if may_be_numbers(frame[c])]
    record["numbers_not_read"] = numbers_not_read(frame[digits])
    record["markers_among_numbers"] = {c: found for c in digits if (found := markers_among_numbers(frame[c]))}
    said = record["numbers_not_read"].keys() | record["markers_among_numbers"].keys() | record.get("zero_codes", {}).keys()
    record["partly_numbers"] = {c: found for c in digits if c not in said and (found := partly_numbers(frame[c]))}
    variants = {c: case_variants(frame[c]) for c in frame.columns if is_text(frame[c])}
    record["case_variants"] = {c: v for c, v in variants.items() if v}
    record["misspelt_values"] = {c: found for c in frame.columns if is_text(frame[c]) and (found := misspelt(frame[c]))}
    record["mixed_booleans"] = {c: found for c in frame.columns if is_text(frame[c]) and (found := mixed_booleans(frame[c]))}
    # each judged only where a look at all columns at once leaves it possible (2,000 columns: 13 s before)
    record["target_copies"] = {c: how for c in may_copy_target(frame, y) if (how := _copy_of_target(frame[c], y))}
    record["target_separators"] = {c: how for c in apart_by_class(frame, y)
                                   if c not in record["target_copies"] and (how := _separates_classes(frame[c], y))}
    if spec.preprocess.missing == "impute":   # imputed, a blank is a value of its own (its missing indicator)
        record["target_separators"].update(blanks_of_one_class(frame.drop(columns=[*record["target_copies"]]), y, spec.task))
    record["zeros_like_missing"] = {c: found for c in frame.columns if (found := zeros_like_missing(frame[c]))}
    record["zero_heavy_tails"] = zero_heavy_tails(frame)
    record["mostly_missing"] = {c: share for c in frame.columns if (share := float(frame[c].isna().mean())) >= MOSTLY_MISSING}
    squared = spec.metric in (None, "mse", "rmse", "r2")   # MAE (or a class metric) does not square the tail
    record["heavy_tailed_target"] = heavy_tail(y) if spec.task != "classification" and squared else {}
    record["id_like_target"] = id_like_target(y, spec.target)
    # a price's MSE (5.3e+09, a ROPE of 2.66e+08) says little to its reader: its root is in dollars
    big = spec.task != "classification" and spec.metric in (None, "mse") and pd.api.types.is_numeric_dtype(y) \
        and not pd.api.types.is_bool_dtype(y) and y.nunique() > MAX_CLASSES_FOR_AUTO and float(y.std()) >= BIG_TARGET_STD
    record["squared_units"] = float(y.std()) if big else None


def may_be_numbers(column: pd.Series) -> bool:
    """Whether some value of a column could read as a number (written_numbers): one with a digit, or
    "inf"; judged on its distinct values. A column of words (segment, channel, yes/no) cannot, and
    is not parsed row by row again and again (200,000 rows: about 2 s a column)."""
    if not is_text(column):
        return True
    distinct = pd.Series(column.dropna().unique()).astype(str)
    return bool(distinct.str.contains(r"\d|inf", case=False, regex=True).any())


def id_like_target(y: pd.Series, name) -> str:
    """Why a target looks like a row id, which no column can predict ("" if it does not): a
    different whole number on every row, named like an id or filling a whole range (100 to 399,
    each once, in any order: a price or a count repeats or leaves gaps)."""
    if not unique_whole_numbers(y):
        return ""
    numbers = y.to_numpy(dtype=float)
    if numbers.max() - numbers.min() + 1 == len(numbers):
        return f"every whole number from {numbers.min():.0f} to {numbers.max():.0f}, each on one row"
    if TARGET_ID.search(str(name)) or TARGET_ID_CAMEL.search(str(name)):
        return "a different whole number on every row, named like an id"
    return ""


# A target named like an id: narrower than a feature's ID_WORDS (a sales_number or passengerNumber
# to predict is a count, not a row's name)
TARGET_ID = re.compile(r"(?:^|[\s_.-])(?:id|ids|uuid|guid)$", re.IGNORECASE)
TARGET_ID_CAMEL = re.compile(r"[a-z](?:Id|ID)$")


def heavy_tail(y: pd.Series) -> dict:
    """A numeric target of many values (a quantity, not class labels) so skewed that squared errors
    are a few rows' (log-normal prices): {"skew": s, "max_over_median": r}; {} otherwise."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y) or y.nunique() <= MAX_CLASSES_FOR_AUTO:
        return {}
    values = y.dropna().astype(float)
    skew = float(values.skew())
    if not abs(skew) >= HEAVY_TAIL_SKEW:
        return {}
    median = float(values.median())
    extreme = float(values.max() if skew > 0 else values.min())
    # a few rows far from the others (a unit slip, a typo): named, with their share of the squared
    # spread about the mean, which is what MSE follows; a broad tail (many such rows) is not a few rows
    distance = (values - median).abs()
    far = distance[distance > FAR_ROW_MADS * distance.median()].sort_values(ascending=False)
    squares = (values - values.mean()) ** 2
    named = 0 < len(far) <= FAR_ROWS and distance.median() > 0
    return {"skew": skew, "max_over_median": extreme / median if median else float("nan"),
            "positive": bool((values > 0).all()), "median": median,
            "far_values": values[far.index].tolist() if named else [],
            "far_share": float(squares[far.index].sum() / squares.sum()) if named else 0.0}


def no_signal(name, column: pd.Series) -> Optional[str]:
    """Why a feature column cannot help a model, in a few words; None when it may. `column` holds
    the distinct rows of the file."""
    if column.nunique(dropna=False) <= 1:   # one value and some blanks is a yes/blank flag: kept
        return "empty" if column.isna().all() else "constant"
    values = column.dropna()
    rows = len(column)
    # Parquet keeps dates as dates; a few distinct ones (the months of a study) are categories
    if pd.api.types.is_datetime64_any_dtype(column.dtype) or (is_text(column) and _looks_like_dates(values)):
        return "dates" if values.nunique() > DATE_CATEGORIES else None
    if is_text(column):
        distinct = values.nunique()
        prose = len(values) >= MIN_ROWS_TO_JUDGE and distinct > FREE_TEXT_SHARE * len(values) and _is_prose(values)
        if rows >= MIN_ROWS_TO_JUDGE and distinct == rows and not prose:   # notes of a sentence each: free text, not ids
            if number_pairs(values):
                return f"pairs of numbers like {values.iloc[0]!r}, different on every row: split them into two columns"
            return "id-like: different text on every row"
        if prose:
            return f"free text: {distinct} distinct values in {len(values)} rows"
        if len(values) >= MIN_ROWS_TO_JUDGE and distinct >= NEARLY_UNIQUE_SHARE * len(values) and not _numbers_of_a_kind(values):
            return nearly_unique(distinct, len(values))
        return None
    # a number is an id only when it cannot be a measurement: unique integers on every row that are
    # the row numbers (0..n-1 or 1..n, in file order: a shuffled rank is a feature) or whose column
    # is named like an id (patient_id, ID, recordNo, order_number)
    if not unique_whole_numbers(column):
        return None
    if values.iloc[0] in (0, 1) and np.array_equal(values.to_numpy(dtype=float), values.iloc[0] + np.arange(rows)):
        return "id-like: row numbers"
    if ID_WORDS.search(str(name)) or ID_CAMEL.search(str(name)):
        return ID_NAMED
    return None


def _numbers_of_a_kind(values: pd.Series) -> bool:
    """Text that is numbers kept text for a reason its own warning gives (two units, both decimal marks,
    pairs like 120/80, a word among half of numbers or more): not an identifier to drop. Where under
    MARKER_SHARE of the values even start like a number (an email column), neither can be: not read."""
    starts = values.astype(str).str.match(r"\s*[-+\u2212(]?\s*[$€£¥]?\s*[-+\u2212(]?\s*(?:[\d.]|inf|nan)", case=False)
    if starts.mean() < MARKER_SHARE:
        return False
    return bool(numbers_not_read(values.to_frame())) or as_number(values, MARKER_SHARE) is not None


def nearly_unique(distinct: int, rows: int) -> str:
    """no_signal's reason for text nearly unique on every row (an id or free text, not a category)."""
    return (f"{NEARLY_UNIQUE_WORDS}: {distinct:,} distinct values in {rows:,} rows (at least "
            f"{NEARLY_UNIQUE_SHARE:.0%} distinct: an identifier or free text, not a category)")


NEARLY_UNIQUE_WORDS = "nearly unique text"


def unique_whole_numbers(column: pd.Series) -> bool:
    """A different whole number on every row (no blank), with MIN_ROWS_TO_JUDGE rows or more: what
    an id looks like (no_signal), in a feature or in the target (id_like_target)."""
    values = column.dropna()
    integral = (pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_float_dtype(column.dtype)) \
        and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    return integral and len(column) >= MIN_ROWS_TO_JUDGE and len(values) == len(column) and values.is_unique


def _is_prose(values: pd.Series) -> bool:
    """Values of PROSE_WORDS or more words on average (words: runs of non-space characters)."""
    return bool(values.astype(str).str.split().str.len().mean() >= PROSE_WORDS)


def is_categorical(column: pd.Series) -> bool:
    """Encoded (one-hot or ordinal) rather than imputed as a number: text, booleans, dates."""
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _wide_categoricals(frame: pd.DataFrame) -> dict:
    """Categorical columns that one-hot encoding would make into many columns: their distinct values."""
    rows = len(frame)
    out = {}
    for c in frame.columns:
        if is_categorical(frame[c]):
            distinct = int(frame[c].nunique())
            if (rows >= MIN_ROWS_TO_JUDGE and distinct > FREE_TEXT_SHARE * rows) or distinct > WIDE_CATEGORIES:
                out[c] = distinct
    return out


def _looks_like_dates(values: pd.Series) -> bool:
    """Nearly all values read as dates in one format pandas recognises (2021-03-04, 04/03/2021,
    4 March 2021, with or without a time); words like "March" or "1st" have no format, so are not."""
    from pandas.tseries.api import guess_datetime_format

    text = values.astype(str)
    with warnings.catch_warnings():   # pandas warns about day-first formats it was not told of, and
        warnings.simplefilter("ignore")   # that an ISO date is not day-first when asked for one
        formats = {guess_datetime_format(v, dayfirst=d) for v in text.head(5) for d in (False, True)} - {None}
        return any(pd.to_datetime(text, format=f, errors="coerce").notna().mean() >= DATE_SHARE for f in formats)


MISSPELT_MAX_ROWS = 2      # a value this rare (or rarer than MISSPELT_SHARE of the rows, beside one
MISSPELT_SHARE = 0.01      # MISSPELT_FAR times as common: 3 'setosa_lik' by 387, not 500 Iraq by 3000 Iran) ...
MISSPELT_FAR = 50
MISSPELT_FEW_ROWS = 5      # ... and a rare value of up to this many rows (under MISSPELT_SHARE) beside MISSPELT_COMMON
MISSPELT_COMMON = 5        # ... beside one at least this many times as common, one edit away ...
MISSPELT_MIN_LENGTH = 4    # ... and this long (Mr/Mrs, US/USA, low/slow are words of their own)
MISSPELT_MAX_DISTINCT = 200   # columns with more distinct values are names or free text: not compared


def misspelt(column: pd.Series) -> list[tuple[str, int, str, int]]:
    """Rare values of a text column that look like a misspelling of a common one ("gamm" once
    beside "gamma" 40 times): [(rare, its rows, common, its rows)]. Values equal but for case are
    the case-variants warning's."""
    counts = column.dropna().astype(str).str.strip().value_counts()
    if not 2 <= len(counts) <= MISSPELT_MAX_DISTINCT:
        return []
    found = []
    for rare, n in counts[counts <= max(MISSPELT_MAX_ROWS, MISSPELT_SHARE * counts.sum())].items():
        if len(rare) < MISSPELT_MIN_LENGTH:
            continue
        # up to a few rows (and under MISSPELT_SHARE: 3 'Critcal' in 600) beside 5x as many; more beside 50x
        times = MISSPELT_COMMON if n <= MISSPELT_FEW_ROWS else MISSPELT_FAR
        common = next((v for v, m in counts.items() if m >= times * n and _one_slip(rare, v)), None)
        if common is not None:
            found.append((rare, int(n), common, int(counts[common])))
    return found


def _one_slip(rare: str, common: str) -> bool:
    """`rare` is `common` with one letter left out, added, changed or two swapped (case
    ignored); not when they differ in digits (grade_10, grade_11) or in a last word of one
    letter (type A, type B; cat_a, cat_b): those are codes."""
    a, b = rare.casefold(), common.casefold()
    if a == b or re.sub(r"\d", "", a) == re.sub(r"\d", "", b):
        return False
    last = (re.split(r"[\s_.-]", a)[-1], re.split(r"[\s_.-]", b)[-1])
    if a[:-len(last[0]) or None] == b[:-len(last[1]) or None] and max(map(len, last)) <= 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return len(long_) - len(short) == 1 and any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# spellings of a yes/no answer; a column that mixes two or more of these pairs means one thing
# several ways ("yes", "no", "TRUE")
BOOLEAN_PAIRS = ({"yes", "no"}, {"y", "n"}, {"true", "false"}, {"t", "f"}, {"1", "0"}, {"1.0", "0.0"})
BOOLEAN_TRUE = {"yes", "y", "true", "t", "1", "1.0"}   # each pair's first


def mixed_booleans(column: pd.Series) -> list[str]:
    """The spellings of a yes/no column that mixes pairs ({yes, no} with {TRUE, FALSE}), as
    written; [] for one pair, or values that are not all yes/no."""
    values = sorted(set(column.dropna().astype(str).str.strip()))
    folded = {v.casefold() for v in values}
    # single letters alone (Y/N/F) may be codes of their own (F: female), not a mix of spellings
    if not folded or not folded <= set().union(*BOOLEAN_PAIRS) or all(len(v) == 1 for v in folded):
        return []
    used = [pair for pair in BOOLEAN_PAIRS if pair & folded]
    return values if len(used) > 1 else []


def zeros_like_missing(column: pd.Series) -> dict:
    """Zeros that look like a "not measured" code, as Pima's Glucose, BloodPressure, SkinThickness,
    Insulin and BMI have: a numeric column of non-negative measurements (ZERO_CODE_DISTINCT values
    or more) whose zeros are fewer than half its values and lie far below the rest (its smallest
    other value at least ZERO_CODE_GAP of their median, and above 1, so that counts such as
    pregnancies, whose zeros are real, are not suspected). {"zeros": n, "next": smallest other}."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return {}
    values = column.dropna()
    zeros = int((values == 0).sum())
    rest = values[values != 0]
    if not zeros or zeros >= len(values) / 2 or rest.nunique() < ZERO_CODE_DISTINCT or (rest < 0).any():
        return {}
    smallest = float(rest.min())
    if smallest <= 1 or smallest < ZERO_CODE_GAP * float(rest.median()):
        return {}
    return {"zeros": zeros, "next": smallest}


def zero_heavy_tails(frame: pd.DataFrame) -> dict:
    """Numeric feature columns of non-negative values (more than MAX_CLASSES_FOR_AUTO of them), at least
    MANY_ZEROS zeros and skewness HEAVY_TAIL_SKEW or more: scaled as they are, a few rows set the
    scale and the rest sit near one value. {column: {"skew": s, "zeros": share}}; all columns at once."""
    numeric = frame.select_dtypes(include="number").select_dtypes(exclude="bool")
    if numeric.empty:
        return {}
    present = numeric.notna().sum()
    zeros = (numeric == 0).sum() / present.clip(lower=1)
    possible = [c for c in numeric.columns if zeros[c] >= MANY_ZEROS and not (numeric[c] < 0).any()]
    if not possible:
        return {}
    skew, distinct = numeric[possible].skew(), numeric[possible].nunique()
    return {c: {"skew": float(skew[c]), "zeros": float(zeros[c])} for c in possible
            if distinct[c] > MAX_CLASSES_FOR_AUTO and skew[c] >= HEAVY_TAIL_SKEW}


def may_copy_target(frame: pd.DataFrame, y: pd.Series) -> list:
    """The columns _copy_of_target may find a copy of the target in: those of no more distinct values
    than the target (one per class), and numeric ones beside a numeric target of many values (a
    linear or monotone function of it)."""
    many = pd.api.types.is_numeric_dtype(y) and y.nunique() > MAX_CLASSES_FOR_AUTO
    distinct = (frame if y.notna().all() else frame[y.notna()]).nunique()   # on the rows with a target
    return [c for c in frame.columns if distinct[c] <= y.nunique() or (many and pd.api.types.is_numeric_dtype(frame[c]))]


def apart_by_class(frame: pd.DataFrame, y: pd.Series) -> list:
    """The numeric columns _separates_classes may find sorting the target's classes into ranges:
    those whose classes' ranges of values (on rows where both have a value) neither overlap nor
    touch; all of them at once, by one groupby (a column at a time, 2,000 columns took 9 s)."""
    numeric = [c for c in frame.columns
               if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    if not numeric or y.nunique() < 2:
        return []
    grouped = frame[numeric].groupby(y, observed=True, sort=False)   # rows without a target left out
    low, high = grouped.min(), grouped.max()
    out = []
    for c in numeric:
        ranges = sorted(zip(low[c].dropna().astype(float), high[c].dropna().astype(float)))
        if len(ranges) >= 2 and all(lo2 > hi1 for (_, hi1), (lo2, _) in zip(ranges, ranges[1:])):
            out.append(c)
    return out


def blanks_of_one_class(frame: pd.DataFrame, y: pd.Series, task: Optional[str] = None) -> dict[str, str]:
    """{column: how} of the columns whose blanks fall on exactly the rows of one class of a class
    target (a date of death left blank for every survivor): imputed, the blank is a value of its own,
    which reads that class off. At least MIN_CLASS_ROWS_TO_JUDGE rows blank and as many not, among
    MIN_ROWS_TO_JUDGE rows with a target; all columns at once, by one groupby (apart_by_class's way).
    A class target: the study's task, or (not given) one of at most MAX_CLASSES_FOR_AUTO numbers."""
    known = y.notna()
    blank, y = frame[known].isna(), y[known]
    many = pd.api.types.is_numeric_dtype(y) and y.nunique() > MAX_CLASSES_FOR_AUTO
    if len(y) < MIN_ROWS_TO_JUDGE or y.nunique() < 2 or task == "regression" or (many and task != "classification"):
        return {}
    total = blank.sum()
    judged = total.index[(total >= MIN_CLASS_ROWS_TO_JUDGE) & (total <= len(y) - MIN_CLASS_ROWS_TO_JUDGE)]
    if not len(judged):
        return {}
    per_class = blank[judged].groupby(y, observed=True).sum()   # classes x columns
    whole = per_class.eq(total[judged], axis=1) & per_class.eq(y.value_counts().reindex(per_class.index), axis=0)
    out = {}
    for c in whole.columns[whole.any()]:
        k = whole.index[whole[c]][0]
        name = repr(k) if isinstance(k, str) else k
        out[str(c)] = f"its blanks are the {int(total[c])} rows of class {name}, and only those"
    return out


def _copy_of_target(column: pd.Series, y: pd.Series) -> str:
    """How a feature column gives the target away, "" when it does not: its values and the
    target's classes map one to one (a text copy "approved"/"rejected" of 1/0 too), or it is a
    linear (or any strictly monotone) function of a numeric target. Judged on rows where both have a value, at least
    MIN_ROWS_TO_JUDGE of them."""
    both = pd.DataFrame({"x": column, "y": y}).dropna()
    if len(both) < MIN_ROWS_TO_JUDGE:
        return ""
    n_y = both["y"].nunique()
    if pd.api.types.is_numeric_dtype(both["y"]) and n_y > MAX_CLASSES_FOR_AUTO:
        if pd.api.types.is_numeric_dtype(both["x"]) and both["x"].nunique() > 1:
            r = np.corrcoef(both["x"].to_numpy(float), both["y"].to_numpy(float))[0, 1]
            if abs(r) > 1 - 1e-9:
                return "a linear function of the target"
            ranks = both["x"].rank().corr(both["y"].rank())   # Spearman's: a log_price beside price
            return "a monotone function of the target (its logarithm, say)" if abs(ranks) > 1 - 1e-9 else ""
        return ""
    if n_y < 2 or both["x"].nunique() != n_y:
        return ""
    one_to_one = both.groupby("x")["y"].nunique().max() == 1 and both.groupby("y")["x"].nunique().max() == 1
    return "each of its values goes with one class of the target, and each class with one value" if one_to_one else ""


def _separates_classes(column: pd.Series, y: pd.Series) -> str:
    """How a numeric feature sorts a class target's rows into its classes, "" when it does not:
    every class one range of the column's values, no two ranges overlapping (a score near 10 for
    the sick and near 0 for the well). A column with one value per class is _copy_of_target's.
    Judged on rows where both have a value, at least MIN_ROWS_TO_JUDGE of them, with at least
    MIN_CLASS_ROWS_TO_JUDGE rows in each class (a few rows of a class fall in a range by chance),
    and with each gap between neighbouring ranges at least as wide as the wider of the two (petal
    length, setosa 1.0-1.9 beside 3.0-6.9, is a strong measurement, not a leak)."""
    both = pd.DataFrame({"x": column, "y": y}).dropna()
    if len(both) < MIN_ROWS_TO_JUDGE or not pd.api.types.is_numeric_dtype(both["x"]) \
            or pd.api.types.is_bool_dtype(both["x"]):
        return ""
    counts = both["y"].value_counts()
    counts = counts[counts > 0]   # a category dtype's unused categories
    if pd.api.types.is_numeric_dtype(both["y"]) and len(counts) > MAX_CLASSES_FOR_AUTO:
        return ""   # a regression target: _copy_of_target's linear and monotone checks
    if len(counts) < 2 or counts.min() < MIN_CLASS_ROWS_TO_JUDGE or both["x"].nunique() <= len(counts):
        return ""
    by_value = both.groupby("x", observed=True)["y"].agg(["nunique", "first"])   # sorted by the feature's value
    codes = pd.factorize(by_value["first"])[0]   # plain integers: nullable and category labels compare alike
    if by_value["nunique"].max() > 1 or int((np.diff(codes) != 0).sum()) + 1 != len(counts):
        return ""   # a value shared by two classes, or a class in two ranges
    label = by_value["first"]
    ranges = sorted((float(g.index.min()), float(g.index.max()), g.iloc[0]) for _, g in label.groupby(codes, sort=False))
    if any(lo2 - hi1 < max(hi1 - lo1, hi2 - lo2) for (lo1, hi1, _), (lo2, hi2, _) in zip(ranges, ranges[1:])):
        return ""   # ranges close together: a strong measurement, not one that reads the answer
    said = ", ".join(f"{lo:.4g} to {hi:.4g} for {repr(name) if isinstance(name, str) else name}" for lo, hi, name in ranges[:3])
    return f"one range of values for each class: {said}" + (", ..." if len(ranges) > 3 else "")


def case_variants(y: pd.Series) -> list[list[str]]:
    """Groups of labels (a target's, or a text feature's values) equal but for case ("Sick", "sick")."""
    groups: dict[str, list[str]] = {}
    for label in sorted(map(str, y.dropna().unique())):
        groups.setdefault(label.casefold(), []).append(label)
    return [labels for labels in groups.values() if len(labels) > 1]


# What reading a file already takes for missing: read_csv's default na_values (its documentation's
# list), and "?" (table_files.CSV_MISSING)
READ_AS_MISSING = frozenset(["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?"])


