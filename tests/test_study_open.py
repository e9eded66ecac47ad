"""How a dataset's Optuna study is opened: a waiting worker opens it on each look (every few
seconds), so an open of one the storage holds must write nothing. Real SQLite and journal
storages."""

from __future__ import annotations

import optuna
import pytest
from sqlalchemy import event

from pipeline import datasets
from pipeline.preparation import open_dataset_study, optuna_study_name
from pipeline.storage import get_storage
from pipeline.study import load_study

from .conftest import tiny_study_dict, write_study


def _study_and_data(tmp_path):
    write_study(tmp_path / "s.yaml", tiny_study_dict(name="opened", datasets=[{"name": "wine"}]))
    study = load_study(tmp_path / "s.yaml")
    return study, study.plans[0], datasets.load(study.plans[0].dataset, study.spec.split_seed)


def test_opening_a_journal_storages_study_again_writes_nothing_to_the_file(tmp_path):
    """create_study(load_if_exists=True) appended a create line to the journal on each open (139
    bytes a look: a waiting worker's file grew for as long as it waited); it is created once."""
    study, plan, data = _study_and_data(tmp_path)
    url = f"journal:{tmp_path / 'optuna.journal'}"
    created = open_dataset_study(url, study, plan, data)
    size = (tmp_path / "optuna.journal").stat().st_size
    for _ in range(3):
        again = open_dataset_study(url, study, plan, data)
    assert (tmp_path / "optuna.journal").stat().st_size == size
    assert again._study_id == created._study_id and again.direction == created.direction


def test_opening_an_sql_storages_study_again_tries_no_insert(tmp_path):
    """On an SQL storage each open tried the INSERT of a new study first, failing on its unique
    name (rolled back; PostgreSQL logs an error each time): an open of a study it holds reads."""
    study, plan, data = _study_and_data(tmp_path)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    created = open_dataset_study(url, study, plan, data)
    statements: list[str] = []
    event.listen(get_storage(url).engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    again = open_dataset_study(url, study, plan, data)
    assert statements and not [s for s in statements if not s.lstrip().upper().startswith("SELECT")], statements
    assert again._study_id == created._study_id
    assert optuna.study.get_all_study_names(url) == [optuna_study_name(study, plan)]


def test_a_database_gone_while_a_study_is_created_is_an_outage_not_a_usage_error(tmp_path, monkeypatch):
    """grid.open_study turned every exception into "cannot open the Optuna storage" (a usage error,
    exit 2), so a database that went away while a new study was created (a dataset's or a tuning
    study) stopped the command as if its --storage were wrong: it is the outage (exit 75, try again)."""
    from pipeline import grid
    from pipeline.runtime import OUTAGE_ENV, StoreUnreachable

    from .conftest import postgres_server

    with postgres_server() as pg:
        url = f"{pg.url}/optuna"
        grid.open_study(url, "first", "maximize")   # the storage opened, its tables made
        pg.stop("fast")
        monkeypatch.setenv(OUTAGE_ENV, "2")
        try:
            with pytest.raises(StoreUnreachable):
                grid.open_study(url, "second", "maximize")
        finally:
            pg.start()
