"""Loading a dataset zip (test-control.yaml `loadDataset`): `manifest.json`, `personas.jsonl`,
`tables/<table>.csv`.

Checks before anything changes: a zip, a manifest valid against `DatasetManifest`, every
listed file present with its SHA-256 and row count, personas valid against `Persona`. Then,
in one transaction, all data is replaced: tables are parsed with `specs.csvio` (a malformed
value → 400 naming file, line and column) and stored; each person of `personas.jsonl` gets
one account (internal login and scrypt-hashed password when given, at the test accounts'
cost `dataset_scrypt_n`; role from its kind and `roles`, the ЕСИА oid only when `prelinked`); `consent_granted` becomes a consent received
before the run. A failure leaves the previous data as it was. Every loaded row is in the
change log, so the first incremental export after a load sends everything.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from reference_journal import events as ev
from reference_journal import spec
from reference_journal.errors import Detail, JournalError
from reference_journal.passwords import hash_password
from specs.csvio import CsvFormatError, iter_records
from specs.values import ValueRuleError

TC = "test-control.yaml"
KIND_TABLE = {"learner": "learners", "representative": "representatives", "staff": "staff"}


def _invalid(ru: str, en: str, details: list[Detail] | None = None) -> JournalError:
    return JournalError(400, "invalid_dataset", ru, en, details)


def _refused(ru: str, en: str, details: list[Detail] | None = None) -> JournalError:
    return JournalError(422, "dataset_refused", ru, en, details)


def _detail(en: str, ru: str | None = None, file: str | None = None, line: int | None = None,
            field: str | None = None) -> Detail:
    extra = tuple((k, v) for k, v in (("file", file), ("line", line)) if v is not None)
    return Detail(ru or en, en, field=field, extra=extra)


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    names = set(zf.namelist())
    if "manifest.json" not in names:
        raise _invalid("в архиве нет manifest.json", "the zip has no manifest.json")
    try:
        manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid("manifest.json — не JSON в UTF-8", f"manifest.json is not UTF-8 JSON: {exc}") from None
    found = spec.problems(TC, "DatasetManifest", manifest)
    if found:
        raise _invalid("manifest.json не соответствует DatasetManifest", "manifest.json does not match DatasetManifest",
                       [_detail(msg, file="manifest.json", field=path) for path, msg in found])
    return manifest


def check_files(zf: zipfile.ZipFile, manifest: dict[str, Any], known_tables: set[str]) -> None:
    names = set(zf.namelist())
    unknown = sorted(set(manifest["tables"]) - known_tables)
    if unknown:
        raise _refused("в наборе есть таблицы, которых нет в спецификации", "the dataset has tables the journal does not know",
                       [_detail(f"unknown table {t}", f"неизвестная таблица {t}", file="manifest.json", field=f"tables/{t}")
                        for t in unknown])
    entries = [(info["file"], info["sha256"]) for info in manifest["tables"].values()]
    entries.append((manifest["personas"]["file"], manifest["personas"]["sha256"]))
    problems = []
    for name, expected in entries:
        if name not in names:
            problems.append(_detail("listed in the manifest but missing from the zip", "указан в manifest.json, но его нет в архиве", file=name))
        elif _sha256(zf, name) != expected:
            problems.append(_detail("SHA-256 differs from the manifest", "SHA-256 не совпадает с manifest.json", file=name))
    if problems:
        raise _invalid("файлы набора не совпадают с manifest.json", "the files do not match manifest.json", problems)


def read_personas(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    name = manifest["personas"]["file"]
    personas, problems = [], []
    with zf.open(name) as raw:
        for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8", newline=""), start=1):
            if not line.strip():
                continue
            try:
                persona = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problems.append(_detail(f"not JSON: {exc}", "строка не JSON", file=name, line=number))
                continue
            for path, msg in spec.problems(TC, "Persona", persona, limit=3):
                problems.append(_detail(msg, file=name, line=number, field=path))
            personas.append(persona)
            if len(problems) >= 50:
                break
    if problems:
        raise _invalid("personas.jsonl не соответствует Persona", "personas.jsonl does not match Persona", problems)
    if len(personas) != manifest["personas"]["rows"]:
        raise _invalid("число персон не совпадает с manifest.json",
                       f"{len(personas)} personas, the manifest says {manifest['personas']['rows']}")
    return personas


def _account_plans(journal: Any, personas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account per person record, merged from the personas of that record."""
    plans: dict[tuple[str, str], dict[str, Any]] = {}
    logins: dict[str, tuple[str, str]] = {}
    problems = []
    for index, p in enumerate(personas, start=1):
        table = KIND_TABLE[p["kind"]]
        key = (table, p["record_id"])
        plan = plans.setdefault(key, {"table": table, "record_id": p["record_id"], "login": None, "password": None,
                                      "oid": None, "roles": set(), "consent": False, "line": index})
        if p.get("internal_login") and plan["login"] is None:
            login = p["internal_login"]
            if logins.get(login, key) != key:
                problems.append(_detail(f"login {login} is already used by another person",
                                        f"логин {login} уже занят другим человеком", file="personas.jsonl", line=index))
            logins[login] = key
            plan["login"], plan["password"] = login, p.get("internal_password")
        if p.get("prelinked") and plan["oid"] is None:
            plan["oid"] = str(p["esia"]["oid"])
        plan["roles"].update(p.get("roles") or [])
        plan["consent"] = plan["consent"] or bool(p.get("consent_granted"))
    for plan in plans.values():
        if journal.db.get(plan["table"], plan["record_id"]) is None:
            problems.append(_detail(f"record {plan['record_id']} is not in {plan['table']}",
                                    f"записи {plan['record_id']} нет в таблице {plan['table']}",
                                    file="personas.jsonl", line=plan["line"], field="record_id"))
    oids = [p["oid"] for p in plans.values() if p["oid"]]
    if len(oids) != len(set(oids)):
        problems.append(_detail("one ЕСИА oid is prelinked to two people", "один oid ЕСИА привязан к двум людям",
                                file="personas.jsonl"))
    if problems:
        raise _refused("журнал не может принять персон набора", "the journal cannot take the dataset's personas",
                       problems[:50])
    return list(plans.values())


def load(journal: Any, source: IO[bytes], actor: str = "test-control") -> dict[str, Any]:
    """Replace the journal's data with the dataset zip in `source` (a seekable binary file)."""
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _invalid("тело запроса — не zip-архив", "the body is not a zip archive") from None
    with zf:
        manifest = read_manifest(zf)
        check_files(zf, manifest, set(journal.tables.names))
        personas = read_personas(zf, manifest)
        counts: dict[str, int] = {}
        now = journal.clock.stamp()
        with journal.db.transaction():
            journal.db.wipe()
            for name in journal.tables.export_order():
                info = manifest["tables"].get(name)
                if info is None:
                    counts[name] = 0
                    continue
                table = journal.tables[name]
                with zf.open(info["file"]) as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    where = {"line": None}

                    def rows(table=table, text=text, where=where):
                        for line, record in iter_records(table, text, journal.tables):
                            where["line"] = line
                            yield journal.db.from_text(table, record)
                    try:
                        counts[name] = journal.db.insert_many(table, rows(), now)
                    except CsvFormatError as exc:
                        raise _invalid("файл таблицы не читается", "a table file cannot be read",
                                       [_detail(f"{exc.rule}: {exc.detail}", file=info["file"], line=exc.line,
                                                field=exc.column)]) from None
                    except ValueRuleError as exc:
                        raise _invalid("значение не соответствует типу столбца", "a value does not fit its column",
                                       [_detail(f"{exc.rule}: {exc.detail}", file=info["file"], line=where["line"],
                                                field=getattr(exc, "column", None))]) from None
                    except sqlite3.IntegrityError as exc:
                        raise _invalid("повтор первичного ключа", "a primary key is repeated",
                                       [_detail(str(exc), file=info["file"], line=where["line"])]) from None
                if counts[name] != info["rows"]:
                    raise _invalid("число строк не совпадает с manifest.json",
                                   f"{info['file']} has {counts[name]} rows, the manifest says {info['rows']}")
            plans = _account_plans(journal, personas)
            _create_accounts(journal, plans)
            for key, value in (("dataset_id", manifest["dataset_id"]), ("loaded_at", journal.clock.iso()),
                               ("reference_date", manifest["reference_date"]), ("key_prefix", manifest["key_prefix"]),
                               ("academic_years", json.dumps(manifest.get("academic_years", [])))):
                journal.db.set_meta(key, value)
    journal.clock.release()
    journal.ensure_admin()
    journal.events.record(ev.DATASET_LOAD, actor, object=f"dataset:{manifest['dataset_id']}",
                          details={"rows": sum(counts.values()), "personas": len(personas)})
    return {"dataset_id": manifest["dataset_id"], "tables": counts, "personas": len(personas),
            "loaded_at": journal.clock.iso()}


def _create_accounts(journal: Any, plans: list[dict[str, Any]]) -> None:
    n = journal.settings.dataset_scrypt_n   # test accounts: their passwords are in the zip in clear
    keep = journal.defect_on("PASSWORD_IN_LOGIN_ANSWER")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(lambda p: hash_password(p["password"], n) if p["password"] else None, plans))
    created = journal.clock.iso()
    rows = []
    for plan, digest in zip(plans, hashes):
        role = {"learners": "student", "representatives": "parent"}.get(plan["table"])
        if role is None:
            role = "admin" if "school_admin" in plan["roles"] else "teacher"
        rows.append((plan["login"], digest, role, plan["table"], plan["record_id"], plan["oid"],
                     created if plan["oid"] else None, "prelinked" if plan["oid"] else None,
                     plan["password"] if keep else None, created))
    journal.db.conn.executemany(
        "INSERT INTO accounts (login, password_hash, role, person_table, person_id, esia_oid, esia_linked_at, "
        "esia_link_method, issued_password, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    for plan in plans:
        if plan["consent"] and plan["table"] == "learners":
            journal.set_consent(plan["record_id"], True, journal.clock.now(), "dataset")
