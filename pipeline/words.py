"""Small rules of English that the console, the MLflow notes and the report share."""

from __future__ import annotations

IRREGULAR = {"was": "were", "is": "are", "has": "have", "gives": "give", "this": "these", "it": "they", "its": "their",
             "epoch": "epochs"}   # not "epoches" (-ch + es: "batches")


def plural(n: int, word: str) -> str:
    """`word` for one, its plural otherwise: "cell" -> "cells", "was" -> "were"."""
    if n == 1:
        return word
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def counted(n: int, word: str) -> str:
    """ "1 cell", "3 cells"."""
    return f"{n} {plural(n, word)}"


def named(word: str, items: list) -> str:
    """ "column 'a'", "columns 'a' and 'b'"."""
    return f"{plural(len(items), word)} {and_list([repr(str(i)) for i in items])}"


def and_list(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def yaml_key(name: str) -> str:
    """A column name as a key of a YAML flow mapping the user can paste: as written when YAML reads
    it back the same, else quoted ("Umsatz (€) " with its trailing space; "no", which YAML reads as false)."""
    import json

    import yaml

    try:
        plain = yaml.safe_load(f"{{{name}: 1}}") == {name: 1}
    except yaml.YAMLError:
        plain = False
    return name if plain else json.dumps(name, ensure_ascii=False)
