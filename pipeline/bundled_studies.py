"""The study files shipped with the package, for `--study` outside a clone: an installed wheel
has no studies/ folder in the working directory, so `--study studies/default.yaml` (the default)
or a bare name (`mnist`) reads the shipped copy when no such file is there. A path that exists
always wins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

PACKAGE = Path(__file__).resolve().parent


def folder() -> Optional[Path]:
    """Where the shipped study files are: in the installed package (pyproject.toml maps the
    repository's studies/ to pipeline/studies in the wheel), else a source checkout's studies/
    beside the package (an editable install, or the repository on PYTHONPATH)."""
    if (PACKAGE / "studies").is_dir():
        return PACKAGE / "studies"
    checkout = PACKAGE.parent
    if (checkout / "studies").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "studies"
    return None


def names() -> list[str]:
    """The shipped studies' names, as --study accepts them alone (default, mnist, ...)."""
    where = folder()
    return sorted(p.stem for p in where.glob("*.yaml")) if where else []


def shipped(given: str) -> Optional[Path]:
    """The shipped copy `given` names: studies/NAME.yaml, NAME.yaml or NAME (no other folder);
    None for any other path, or a name no shipped study has."""
    where, path = folder(), Path(given)
    parts = path.parts[1:] if path.parts[:1] == ("studies",) else path.parts
    if where is None or len(parts) != 1:
        return None
    candidate = where / (parts[0] if path.suffix else parts[0] + ".yaml")
    return candidate if candidate.is_file() else None


def study_path(given: str) -> str:
    """--study's value (argparse's type): the path as given where it exists, or names no shipped
    study (the study loader then says it does not exist), else the shipped copy, said in a note."""
    copy = None if Path(given).exists() else shipped(given)
    if copy is None:
        return given
    print(f"note: --study {given}: no such file in {Path.cwd()}; reading the copy shipped with the package, {copy}",
          file=sys.stderr, flush=True)
    return str(copy)


def as_named(given: str) -> str:
    """--study's value as commands for other machines print it: the name of a study read from the
    installed package's copy (its path differs from one install to the next: another machine's
    worker finds it by name), else the path as given."""
    path = Path(given)
    if path.is_absolute() and path.suffix == ".yaml" and path.parent == PACKAGE / "studies":
        return path.stem
    return given
