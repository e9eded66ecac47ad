"""A table's reading in words: the warnings a user sees about its columns and target (columns
dropped, values read as missing or as numbers, case variants and slips, wide categoricals, repeated
rows, copies of the target, zeros that may mean "not measured", heavy tails), each with what to do.
column_checks.py judges the columns and records what it found; this module only writes it."""

from __future__ import annotations

import json

import pandas as pd

from .column_checks import BOOLEAN_TRUE, FAR_ROWS_SHOWN, READ_AS_MISSING, case_variants, misspelt, mixed_booleans
from .metric_numbers import quantity
from .words import and_list, counted, plural, yaml_key
from .written_numbers import DASHES, FILE_SETTLES, is_text


def _heavy_tail_warning(spec, tail: dict) -> str:
    """What a heavy-tailed target does to MSE, the rows to check, and what to do if they are
    real: its logarithm first (the models then train and are scored alike), MAE with its catch."""
    ratio = f"; its most extreme value is {tail['max_over_median']:.3g}x the median" if tail["max_over_median"] > 0 \
        else ""   # not beside a median of the other sign (or 0)
    rows = tail.get("far_values", [])
    shown = (", ".join(quantity(x, 4) for x in rows[:FAR_ROWS_SHOWN]) + ", ..." if len(rows) > FAR_ROWS_SHOWN
             else and_list([quantity(x, 4) for x in rows]))
    one = len(rows) == 1
    few = (f"{counted(len(rows), 'row')} far from the others ({shown}; the median is {quantity(tail['median'], 4)}) "
           f"{'makes' if one else 'make'} {tail.get('far_share', 0):.0%} of its squared spread, so MSE and the verdicts "
           f"follow {'it' if one else 'them'}: check "
           f"{'it' if one else 'them'} first (a unit slip or a typo is fixed in the file); if "
           f"{'it is' if one else 'they are'} real, " if rows else
           "a few rows make most of the squared error, so MSE and the verdicts follow them; ")
    # (only under a squared metric: MAE does not square the tail, and judge does not call it heavy then)
    catch = "the models still train on squared error, which the extreme rows pull away from what MAE rewards"
    if tail.get("positive"):
        return (f"Target {spec.target!r} is heavy-tailed (skewness {tail['skew']:.1f}{ratio}): {few}train on its "
                "logarithm (a new column of the file, with the original dropped under preprocess.drop_columns: it "
                f"would give the target away). metric: mae would score absolute errors instead, but {catch}.")
    return (f"Target {spec.target!r} is heavy-tailed (skewness {tail['skew']:.1f}{ratio}): {few}consider metric: mae: "
            f"it scores absolute errors, though {catch}.")


def listed(reasons: dict) -> str:
    return ", ".join(f"{c} ({why})" for c, why in reasons.items())


def worth_saying(auto_dropped: dict) -> dict:
    """The columns dropped as carrying no signal that are worth a word: a blank header over an empty
    column (pandas' "Unnamed: 4") is a trailing separator on every line of an export, not a column."""
    return {c: why for c, why in auto_dropped.items() if not (why == "empty" and str(c).startswith("Unnamed: "))}


def warnings_for(spec, record: dict, y: pd.Series) -> list[str]:
    """One short sentence for each thing the user should know about the file."""
    out = []
    for c, n in record.get("marked_missing", {}).items():
        markers = spec.preprocess.missing_values[c]
        already = [m for m in markers if str(m) in READ_AS_MISSING or str(m) in DASHES]
        if n == 0 and already:   # pandas read "N/A" as missing before the markers were compared
            out.append(f"preprocess.missing_values for column {c!r}: {', '.join(map(repr, already))} "
                       f"{plural(len(already), 'is')} read as missing already (blank, '?', 'N/A', 'NA', 'null' and the "
                       "like; a lone dash among numbers or in the target), so the entry is not needed"
                       + ("" if len(already) == len(markers) else
                          f"; {', '.join(repr(m) for m in markers if m not in already)} matched no value") + ".")
        elif n == 0:
            out.append(f"preprocess.missing_values for column {c!r} ({', '.join(map(repr, markers))}) "
                       "matched no value: values are compared as the file writes them, spaces trimmed and case kept "
                       "('No' is not 'no'), numbers as numbers.")
    if notes := record.get("footer_notes"):
        out.append(f"Dropped the file's last {'line' if len(notes) == 1 else f'{len(notes)} lines'} ("
                   f"{', '.join(repr(note[:60]) for note in notes)}): text alone under the table, a note, not an example.")
    if footer := record.get("totals_row"):
        out.append(_footer_warning(footer, notes=len(notes or [])))
    for name, later in record.get("repeated_names", {}).items():
        # the target's name twice: the other is a feature, the target itself if it is a copy
        target = (" (the first is the target, and the others are features: if one is a copy of the target, every arm "
                  "reads the answer from it; drop it with preprocess.drop_columns)" if name == str(spec.target).strip() else "")
        out.append(f"The header names {len(later) + 1} columns {name!r}: the first is {name!r}, the others "
                   f"{', '.join(map(repr, later))} (as pandas renames them){target}; rename them in the file if they hold "
                   "different things.")
    if title := record.get("title"):
        out.append(f"The file starts with a title above its header ({', '.join(map(repr, title[:2]))}"
                   f"{', ...' if len(title) > 2 else ''}): skipped, not read as the header.")
    if units := record.get("units_row"):
        out.append(f"The file's first row under the header writes units ({', '.join(f'{c}: {u!r}' for c, u in units.items())}): "
                   "left out, not read as data.")
    if n := record.get("header_rows"):
        out.append(f"{counted(n, 'row')} of the file repeat{'s' if n == 1 else ''} the header name for name (files joined "
                   "one after another?): left out, not read as data.")
    if short := record.get("short_rows"):
        n = short["rows"]
        out.append(f"{counted(n, 'row')} of the file {plural(n, 'has')} fewer fields than the header's "
                   f"{short.get('width', record['columns_in'] + 1)} (the first at line {short['line']}, with {short['fields']}): pandas reads "
                   "such a row's values into the first columns and leaves the rest blank; if a separator is missing "
                   "there (a value cut or left out), mend those lines in the file, or the values stand in the wrong "
                   "columns.")
    auto = worth_saying(record["auto_dropped_columns"])
    if auto:
        dates = [c for c, why in auto.items() if why == "dates"]   # one warning, with what to do about dates
        out.append(f"Dropped {counted(len(auto), 'column')} that cannot carry signal: {listed(auto)}; list one under "
                   "preprocess.keep_columns to keep it (listing them under drop_columns silences this, but changes the "
                   "study's configuration: its cells train again)."
                   + (f" If time matters, derive numbers from {', '.join(map(str, dates))} in the file (days since an "
                      "event, month, weekday)." if dates else ""))
    if record["rows_without_target"]:
        out.append(f"{counted(record['rows_without_target'], 'row')} {plural(record['rows_without_target'], 'has')} no value in target {spec.target!r} (blank, '?', "
                   f"'NA', 'N/A', 'null', a lone dash, 'None' among numbers, or a value listed under preprocess.missing_values) and {plural(record['rows_without_target'], 'was')} "
                   "left out of every split.")
    return out + _number_warnings(record) + _value_warnings(spec, record, y)


# How each kind of written_numbers' marks was read (the warning's words after "were read").
NUMBER_MARKS_READ_AS = {
    "apostrophes": "with the apostrophe as a thousands separator (as Swiss exports write them).",
    "exponent_comma": "as numbers in scientific notation with a decimal comma (as a spreadsheet's scientific format "
                      "writes them where commas are decimal).",
    "trailing_minus": "as negative numbers (a minus sign after the number, as SAP exports write them).",
    "currency_code": "as amounts, the currency code before them taken off (one code throughout the column).",
    "magnitudes": "as thousands (k, K) or millions (M) beside numbers written out; if the letter is a unit instead, "
                  "write it on every value or none.",
}


def _number_warnings(record: dict) -> list[str]:
    """The warnings about how columns of numbers were read (or why one was not)."""
    out = []
    for c, found in record.get("percent_mixed", {}).items():
        with_sign, plain = found["examples"]
        out.append(f"Column {c!r} has {counted(found['with'], 'value')} with a percent sign ({with_sign!r}) and {found['without']} "
                   f"without ({plain!r}), read as written: if the plain ones are fractions (0.82 for 82%), they are 100x "
                   "off the others; write every value one way in the file.")
    for c, example in record.get("dot_thousands", {}).items():
        out.append(f"Column {c!r}: values like {example!r} were read with the point as a thousands separator "
                   f"({example} as {example.replace('.', '')}), as this file writes decimal commas; if they are decimals, "
                   "write them with a decimal comma in the file.")
    for mark, read_as in NUMBER_MARKS_READ_AS.items():
        for c, example in record.get("number_marks", {}).get(mark, {}).items():
            out.append(f"Column {c!r}: values like {example!r} were read {read_as}")
    for c, found in record.get("spreadsheet_errors", {}).items():
        out.append(f"Column {c!r}: {counted(found['count'], 'spreadsheet error')} ({', '.join(map(repr, found['examples']))}: a "
                   "formula that failed where the table was exported) read as missing.")
    for c, found in record.get("limits", {}).items():
        examples = ", ".join(map(repr, found["examples"]))
        out.append(f"Column {c!r}: {counted(found['count'], 'value')} beyond a measurement's limit ({examples}) read as "
                   f"the limit; if they mean missing: preprocess.missing_values: {{{yaml_key(c)}: [{examples}]}}.")
    for c, example in record.get("zero_codes", {}).items():
        if not example.isdigit():   # a month (table_files.MONTH_YEAR)
            out.append(f"Column {c!r} writes months with their year ({example!r}): kept as text, a category per month, "
                       f"not read as the number {float(example.replace(',', '.')):g}.")
            continue
        out.append(f"Column {c!r} writes codes with leading zeros ({example!r}): kept as text, a category per code, "
                   f"not read as numbers ({example} as {int(example)}, a ZIP code as an amount); if they are amounts, "
                   "write them without leading zeros in the file.")
    return out + _decimal_comma_warnings(record.get("decimal_commas", {})) + _missing_number_warnings(record)


def _decimal_comma_warnings(commas: dict) -> list[str]:
    """The columns whose 1,716-like values were read as decimals: one line for those the file
    settled (a European export has many), one each for those their own values settled."""
    by_file = {c: example.removesuffix(f" ({FILE_SETTLES})") for c, example in commas.items()
               if example.endswith(f"({FILE_SETTLES})")}
    lines = [(f"Column {c!r}: values like {example}", "") for c, example in commas.items() if c not in by_file]
    if len(by_file) == 1:
        lines += [(f"Column {c!r}: values like {example} ({FILE_SETTLES})", "") for c, example in by_file.items()]
    elif by_file:
        lines.append(("Columns " + and_list([f"{c!r} ({example})" for c, example in by_file.items()]) + ": values like these",
                      f" as {FILE_SETTLES}"))
    return [f"{which} were read with a decimal comma (1,716 as 1.716, not 1716){why}; if they are thousands, write them "
            "without the comma in the file." for which, why in lines]


def _missing_number_warnings(record: dict) -> list[str]:
    """Values read as missing, or columns of numbers read as categories."""
    out = []
    for c, found in record["non_numbers_as_missing"].items():
        more = ", ..." if found["distinct"] > len(found["examples"]) else ""
        examples = ", ".join(map(repr, found["examples"])) + more
        out.append(f"Column {c!r}: {counted(found['count'], 'value')} that {plural(found['count'], 'is')} not numbers ({examples}) read as missing; "
                   "list them under preprocess.missing_values to silence this.")
    for c, why in record.get("numbers_not_read", {}).items():
        out.append(f"Column {c!r} reads as categories, not numbers: {why}.")
    for c, found in record.get("markers_among_numbers", {}).items():
        words = ", ".join(json.dumps(m, ensure_ascii=False) for m in found["markers"])
        out.append(f"Column {c!r} holds numbers but for {counted(found['count'], 'value')} ({words}; {found['share']:.0%}), "
                   "too many to be read as missing unasked, so it reads as categories, not numbers; if "
                   f"{'it means' if len(found['markers']) == 1 else 'they mean'} missing: preprocess.missing_values: "
                   f"{{{yaml_key(c)}: [{words}]}}.")
    for c, found in record.get("partly_numbers", {}).items():
        words = ", ".join(json.dumps(m, ensure_ascii=False) for m in found["common"])
        out.append(f"Column {c!r} is {found['share']:.0%} numbers (like {found['example']!r}) and {found['others']:,} other "
                   f"values ({words}{', ...' if found['others'] > len(found['common']) else ''}), so it reads as categories, "
                   "one per distinct number: if the other values mean missing, list them under "
                   f"preprocess.missing_values: {{{yaml_key(c)}: [...]}} to read the column as numbers; else drop it or split it in the file.")
    return out


def _value_warnings(spec, record: dict, y: pd.Series) -> list[str]:
    """The warnings about what the columns' values look like (after the reading's)."""
    out = []
    for c, variants in record.get("case_variants", {}).items():
        out.append(f"Column {c!r} has values that differ only by case, kept as separate categories: "
                   + "; ".join(" / ".join(map(repr, v)) for v in variants[:3]) + (", ..." if len(variants) > 3 else "")
                   + "; write them one way in the file if they are the same.")
    for c, distinct in record["wide_categorical_columns"].items():
        if any(c in record.get(k, {}) for k in ("numbers_not_read", "markers_among_numbers", "partly_numbers")):
            continue   # ordinal codes of numbers would be wrong advice: the file (or missing_values) needs the fix above
        out.append(f"Column {c!r} has {distinct} distinct values in {len(y)} rows: one-hot encoding makes up to "
                   f"{distinct} columns; consider preprocess.categorical: ordinal or dropping it.")
    if record["duplicate_rows"]:
        out.append(f"{counted(record['duplicate_rows'], 'row')} {'repeats' if record['duplicate_rows'] == 1 else 'repeat'} an earlier row exactly (features and target); copies "
                   "can land in both training and test splits and inflate test scores.")
    for c, how in record["target_copies"].items():
        out.append(f"Column {c!r} gives the target away ({how}): if it is derived from the target, drop it under "
                   "preprocess.drop_columns, or every arm will score perfectly and the study can tell nothing apart.")
    for c, how in record.get("target_separators", {}).items():
        out.append(f"Column {c!r} alone separates the target's classes ({how}): if it is recorded after the outcome or "
                   "derived from it, drop it under preprocess.drop_columns; a model that reads the answer from it "
                   "tells nothing about regularization on the task itself.")
    zeros = record.get("zeros_like_missing", {})
    if zeros:
        found = ", ".join(f"{c} ({z['zeros']} zeros; the smallest other value {z['next']:g})" for c, z in zeros.items())
        marks = ", ".join(f"{yaml_key(c)}: [0]" for c in zeros)
        out.append(f"Zeros far below the other values, which may mean 'not measured': {found}. If they do, mark them "
                   f"as missing: preprocess.missing_values: {{{marks}}}.")
    for c, tail in record.get("zero_heavy_tails", {}).items():
        out.append(f"Column {c!r} is heavy-tailed (skewness {tail['skew']:.1f}) with many zeros ({tail['zeros']:.0%} of its "
                   "values): scaled as it is, a few large rows set its scale and the rest sit near one value; "
                   f"log1p({c}) (log(1 + x), which keeps the zeros at 0) as a new column of the file, with the original "
                   "dropped under preprocess.drop_columns, spreads it out.")
    for c, share in record.get("mostly_missing", {}).items():
        said = f"{share:.0%}" if share < 0.995 else "over 99%"   # never "100%" of a column that has values
        # an export's "NA" for "no pool" is that information itself: the indicator keeps it
        out.append(f"Column {c!r} is missing on {said} of its rows: imputed (with a column saying which rows had "
                   "it), it tells the model little more than whether it was recorded (where a blank or NA means "
                   "'none', as a house table's NA for 'no pool', that column is the information, and it is kept).")
    if tail := record.get("heavy_tailed_target", {}):
        out.append(_heavy_tail_warning(spec, tail))
    if std := record.get("squared_units"):
        out.append(f"Target {spec.target!r} runs in the thousands (standard deviation {quantity(std)}): MSE, the "
                   f"default metric, is in its units squared (about {quantity(std ** 2)} for predicting the mean), "
                   "which reads poorly; metric: rmse writes the same errors in the target's own units.")
    if why := record.get("id_like_target"):
        out.append(f"Target {spec.target!r} looks like a row id ({why}): no column can predict it, so every arm "
                   "will learn nothing; check that target: names the column to predict.")
    out += _target_words_warning(spec, record)
    if is_text(y):
        for variants in case_variants(y):
            out.append(f"Target {spec.target!r} has labels that differ only by case, kept as separate classes: "
                       + " / ".join(map(repr, variants)) + f"; if they are one class: {merge_advice(y, variants)}.")
    return out + _spelling_warnings(spec, record, y)


def _target_words_warning(spec, record: dict) -> list[str]:
    """The words that say missing among a class target's whole numbers (tables' target_words), each
    read as a class of its own, with the missing_values line that leaves their rows out."""
    if not (found := record.get("target_words")):
        return []
    words = ", ".join(json.dumps(w, ensure_ascii=False) for w in found["words"])
    one = len(found["words"]) == 1
    return [f"Target {spec.target!r} holds whole numbers but for {counted(found['count'], 'value')} ({words}), "
            f"read as {'a class of its own' if one else 'classes of their own'} beside the numbers; if "
            f"{'it means' if one else 'they mean'} missing: preprocess.missing_values: {{{yaml_key(spec.target)}: "
            f"[{words}]}} leaves those rows out (task: classification keeps {'it' if one else 'them'} a class "
            "and silences this)."]


def _spelling_warnings(spec, record: dict, y: pd.Series) -> list[str]:
    """Values that look like another value of the column written differently: kept apart, each
    its own category (or class), which the user likely meant as one."""
    out = []

    def pairs(found: list) -> str:
        return "; ".join(f"{rare!r} ({counted(n, 'row')}) beside {common!r} ({m})" for rare, n, common, m in found[:3]) \
            + ("; ..." if len(found) > 3 else "")

    for c, found in record.get("misspelt_values", {}).items():
        out.append(f"Column {c!r} has rare values that look like misspellings of common ones, kept as separate "
                   f"categories: {pairs(found)}; correct them in the file if they are the same.")
    for c, spellings in record.get("mixed_booleans", {}).items():
        out.append(f"Column {c!r} writes yes/no in more than one way ({', '.join(map(repr, spellings))}): each spelling "
                   "is its own category; write one pair in the file.")
    if is_text(y):
        found = misspelt(y)
        if found:
            out.append(f"Target {spec.target!r} has rare labels that look like misspellings of common ones, kept as "
                       f"separate classes: {pairs(found)}; if they are the same: "
                       + merge_advice(y, *[[common, rare] for rare, _, common, _ in found[:3]]) + ".")
        if spellings := mixed_booleans(y):   # Yes/No beside Y/N: four classes where two were meant
            sides = [[s for s in spellings if (s.casefold() in BOOLEAN_TRUE) == side] for side in (True, False)]
            out.append(f"Target {spec.target!r} writes yes/no in more than one way ({', '.join(map(repr, spellings))}): "
                       f"each spelling is a class of its own ({len(spellings)} classes); if they are the same: "
                       + merge_advice(y, *[side for side in sides if len(side) > 1]) + ".")
    return out


def width_warning(n_features: int, n_train: int) -> list[str]:
    """More features (after encoding) than training rows: a model can fit the training rows
    exactly, the d2l weight-decay setting, where the gap and what regularization does to it matter most."""
    if n_features <= n_train:
        return []
    return [f"The model sees {n_features} features (after encoding) for {counted(n_train, 'training row')}: it can "
            "fit the training rows exactly, so expect a wide train-test gap, which is what regularization is for; "
            "fewer features (preprocess.drop_columns) would help too."]


def _footer_warning(rows: list[dict], notes: int = 0) -> str:
    """The warning of the export's footer rows dropped (table_footers.drop_footer): the file's last
    rows, or the last above its `notes` (dropped too, said before)."""
    where = f"the last {{}} above {'that note' if notes == 1 else 'those notes'}" if notes else "the file's last {}"
    def said(row: dict) -> str:
        if not row["sums"]:
            return f"{row['label']!r} in column {row['column']!r}, no other value"
        what = {"sum": ("sum", "sums"), "mean": ("mean", "means")}[row["kind"]][len(row["sums"]) > 1]
        return f"{row['label']!r} in column {row['column']!r}, {', '.join(row['sums'])} the {what} of the rows above"

    if len(rows) == 1:
        kind = "a footer's label" if not rows[0]["sums"] else "a totals row" if rows[0]["kind"] == "sum" else "a row of means"
        return f"Dropped {where.format('row')}: {kind} ({said(rows[0])}): an export's footer, not an example."
    return (f"Dropped {where.format(f'{len(rows)} rows')}: an export's footer of summaries ("
            + "; ".join(map(said, rows)) + "), not examples.")


def merge_advice(y: pd.Series, *groups: list[str]) -> str:
    """The study-file setting that reads each group's labels as its commonest one, of equally common
    ones the first the file writes: 'preprocess.target_classes: {"no": "No"}' (JSON strings are
    YAML's double-quoted ones; a label outside ASCII kept as it is, so that it reads back as written)."""
    counts = y.value_counts()
    first = {label: i for i, label in enumerate(pd.unique(y.dropna()))}
    pairs = []
    for labels in groups:
        keep = min(labels, key=lambda label: (-counts.get(label, 0), first.get(label, len(first))))
        pairs += [f"{json.dumps(label, ensure_ascii=False)}: {json.dumps(keep, ensure_ascii=False)}"
                  for label in labels if label != keep]
    return "preprocess.target_classes: {" + ", ".join(pairs) + "}"
