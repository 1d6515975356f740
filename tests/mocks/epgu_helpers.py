"""Shared data for the mock ЕПГУ tests: the small dataset (files and rows, generated once per
session), a showcase state directory already holding it, and small hand-made CSV files."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import httpx

from fixtures.dataset import Options, generate, generate_small
from mocks.epgu.showcase import Showcase
from mocks.common.transports import SyncASGITransport
from specs.tables import load_tables

SENDER = "MNSV03"
DATAMART = "myedu"
BASE = "http://epgu.test"
AGENT = "http://agent.test"
TABLES = load_tables()
HEADERS = {"X-Smev-Sender": SENDER, "Content-Type": "text/csv"}
_TMP = Path(tempfile.mkdtemp(prefix="ezhd-epgu-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def dataset_dir() -> Path:
    """The small dataset of seed 1 as files (`{table}.csv`, `personas.jsonl`)."""
    return generate(Options(seed=1), _TMP / "dataset").out


@functools.lru_cache(maxsize=1)
def dataset():
    """The same world in memory (rows and personas)."""
    return generate_small(1)


@functools.lru_cache(maxsize=1)
def _loaded_state() -> Path:
    state = _TMP / "loaded"
    with Showcase(state_dir=state, delays={s: 0 for s in ("0", "1", "2", "6")}) as sc:
        sc.register_source(SENDER, [DATAMART])
        for name in TABLES.export_order():
            rid = sc.submit(DATAMART, name, "upload", (dataset_dir() / f"{name}.csv").read_bytes(), SENDER)
            status = sc.wait(rid, 60)
            assert status["code"] == 3, (name, status, sc.errors(rid, limit=5))
    return state


def loaded_state(target: Path) -> Path:
    """A copy of a state directory whose showcase holds the whole small dataset."""
    shutil.copytree(_loaded_state(), target)
    return target


def client_for(app) -> tuple[httpx.Client, SyncASGITransport]:
    transport = SyncASGITransport(app)
    return httpx.Client(transport=transport, base_url=BASE), transport


def csv_text(table: str, rows: list[list[str | None]]) -> bytes:
    """A file of `table` in the export conventions from rows of texts in column order."""
    from specs.csvio import format_header, join_record

    spec = TABLES[table]
    lines = [format_header(spec, TABLES)] + [join_record(spec, r, TABLES) for r in rows]
    return "\n".join(lines).encode("utf-8")


ORG_COLUMNS = TABLES["organisations"].column_names


def organisation(key: str, name: str = "МАОУ СОШ № 1") -> list[str | None]:
    """One valid `organisations` record (texts in column order)."""
    values = {"id": key, "rosobr_id": "R-" + key, "ogrn": "1027700132195", "okpo": None,
              "inn": "7707083893", "kpp": "773601001", "active": "True", "okpf": "75403", "okfs": "14",
              "okogu": "4210007", "okato": "71401000000", "oktmo": "71701000001", "name": name,
              "partof_id": None, "executive_name": "Иванова Мария Петровна", "executive_position": "Директор",
              "phone": "+7 3452 123456", "create_datetime": "2025-09-01 08:00:00",
              "send_datetime": "2025-09-01 08:05:00"}
    return [values[c] for c in ORG_COLUMNS]


def key_only(table: str, **keys: str) -> list[str | None]:
    """A delete record: only the primary-key columns filled."""
    return [keys.get(c) for c in TABLES[table].column_names]
