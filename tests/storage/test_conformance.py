"""The storage conformance class: every registered scheme behaves the same for fasnas.

One class of tests runs over every storage kind users run studies on: a journal file, SQLite, a
real PostgreSQL server and a real Redis server (both private to this module, started by the
tests). A new scheme in :mod:`fasnas.storage.schemes` gets a row in :data:`KINDS` and a fixture
branch here, and must pass the whole class.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
import redis_server

from fasnas.errors import StorageError
from fasnas.storage import (
    create_or_load,
    describe_url,
    open_storage,
    require_study,
    resolve_url,
    storage_kind,
    study_names,
)
from fasnas.storage.schemes import SCHEMES

KINDS = ("journal", "sqlite", "postgresql", "redis")


def test_every_registered_scheme_is_in_the_conformance_class() -> None:
    assert {scheme.kind for scheme in SCHEMES} - {"mysql"} == set(KINDS)  # no MySQL server here


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, object]]:
    with pg.postgres_server() as postgres, redis_server.redis_server() as redis:
        yield {"postgresql": postgres, "redis": redis, "databases": [0]}


@pytest.fixture(params=KINDS)
def new_url(request, servers, tmp_path) -> Callable[[], str]:
    """A factory of URLs of fresh, empty storages of one kind."""
    kind = request.param
    counter = iter(range(1, 10_000))

    def make() -> str:
        n = next(counter)
        if kind == "journal":
            return resolve_url(f"journal:s{n}.journal", tmp_path, "x")
        if kind == "sqlite":
            return resolve_url(f"sqlite:///s{n}.db", tmp_path, "x")
        if kind == "postgresql":
            return servers["postgresql"].create_database(f"{request.node.name[-40:]}-{n}")
        servers["databases"][0] += 1  # Redis has 16 numbered databases: one per storage
        return servers["redis"].url(db=servers["databases"][0] % 16)

    return make


class TestStorageConformance:
    """What every command relies on, for every kind of storage."""

    def test_the_url_resolves_to_itself_and_describes_its_kind(self, new_url) -> None:
        url = new_url()
        assert resolve_url(url, Path("/elsewhere"), "x") == url
        assert storage_kind(url) in KINDS
        assert "fasnas-secret" not in describe_url(url)  # tests/pg.py's password never shows

    def test_create_once_then_load(self, new_url) -> None:
        url = new_url()
        storage = open_storage(url)
        sampler = optuna.samplers.RandomSampler(seed=0)
        study, created = create_or_load(storage, "s", ["minimize"] * 2, sampler, url=url)
        assert created
        study.set_user_attr("mark", 1)
        again, created = create_or_load(open_storage(url), "s", ["minimize"] * 2, sampler, url=url)
        assert not created and again.user_attrs == {"mark": 1}
        assert study_names(open_storage(url, must_exist=True)) == ["s"]

    def test_a_missing_study_lists_the_studies_there(self, new_url) -> None:
        url = new_url()
        storage = open_storage(url)
        optuna.create_study(study_name="alpha", storage=storage)
        expected = r"study 'beta' does not exist \(studies there: \['alpha'\]\)"
        with pytest.raises(StorageError, match=expected) as info:
            require_study(storage, "beta", url)
        assert len(str(info.value).splitlines()) == 1
        with pytest.raises(StorageError, match=expected):
            create_or_load(storage, "beta", ["minimize"], None, url=url, create=False)

    def test_trials_round_trip_with_attributes_and_constraints(self, new_url) -> None:
        url = new_url()
        study = optuna.create_study(
            study_name="t", storage=open_storage(url), directions=["minimize"] * 2
        )
        trial = study.ask()
        trial.set_user_attr("metrics.M", {"test-eer": {"hter": 0.25}})
        trial.set_constraint("budget", -1.0)
        study.tell(trial, [0.25, 0.5])
        loaded = optuna.load_study(study_name="t", storage=open_storage(url, must_exist=True))
        (frozen,) = loaded.get_trials()
        assert frozen.values == [0.25, 0.5] and frozen.constraints == {"budget": -1.0}
        assert frozen.user_attrs["metrics.M"] == {"test-eer": {"hter": 0.25}}

    @pytest.mark.slow
    def test_processes_creating_the_same_study_at_once_do_not_crash(self, new_url) -> None:
        url = new_url()
        outputs = _race(url)
        assert sorted(outputs) == ["created race"] + ["loaded race"] * 3, (url, outputs)
        storage = open_storage(url, must_exist=True)
        assert study_names(storage) == ["race"]
        assert len(optuna.load_study(study_name="race", storage=storage).directions) == 2


RACER = textwrap.dedent(
    """
    import sys, time
    from fasnas.storage import create_or_load, open_storage
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, start = sys.argv[1], float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    storage = open_storage(url)
    study, created = create_or_load(
        storage, "race", ["minimize", "minimize"], optuna.samplers.RandomSampler(0), url=url
    )
    print("created" if created else "loaded", study.study_name)
    """
)


def _race(url: str, racers: int = 4) -> list[str]:
    start = time.time() + 4.0  # every racer has imported optuna by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(racers)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs
