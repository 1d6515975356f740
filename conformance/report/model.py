"""The report's input and view model: one run's `results.json` (+ waivers) made ready to render.

`load_input(PATH)` takes a run directory (holding `results.json`, maybe `run.json`) or a
results.json file and checks it against the schema; evidence paths in it are relative to the
directory of results.json, or absolute. `build_view` turns it into plain dicts for a writer:
every text already redacted (`conformance/report/redact.py`), transcripts read, waivers
applied, the effective verdict (WAIVED where a waiver covers every failing test) beside the
original one, the command that re-runs one requirement; the protocol header (what was
certified: vendor, product, version, build; suite version and commit, specs digest, the
machine-independent command), each requirement's text and source from `specs/`, each test's
description, surface coverage titled from `specs/surfaces/`, and who talked to whom in each
exchange. Paths are shown relative to the run directory.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import orjson

from conformance.report.redact import redact, redact_exchange, redact_text
from conformance.report.waivers import Applied
from conformance.results import load_results, relative_paths

__all__ = ["ReportInputError", "RunInput", "Transcript", "load_input", "load_transcript", "build_view",
           "explain", "rerun_command", "run_command", "identity", "shown_path", "IDENTITY_KEYS", "DISPLAY_ORDER", "MAX_EXCHANGES", "MAX_VALUE_CHARS"]

RESULTS_NAME = "results.json"
RUN_NAME = "run.json"
MAX_EXCHANGES = 200      # per transcript shown in HTML
MAX_VALUE_CHARS = 20_000  # per shown value (bodies)
# a value this long (compact JSON) is cut to about this much before it is redacted for the page:
# only its first MAX_VALUE_CHARS are shown, and redacting megabytes of the rest cost seconds
CUT_ABOVE = 2 * MAX_VALUE_CHARS
#: verdicts best first, WAIVED between SKIPPED and WARN
DISPLAY_ORDER = ("PASS", "NOT_APPLICABLE", "SKIPPED", "WAIVED", "WARN", "NOT_TESTED", "ERROR", "FAIL")
_RANK = {v: i for i, v in enumerate(DISPLAY_ORDER)}


class ReportInputError(ValueError):
    """The run directory or results file cannot be used (one line, for the user)."""


@dataclass
class RunInput:
    """A run as read from disk: results, where its relative paths start, its run.json if any."""

    results: dict[str, Any]
    results_path: Path
    base_dir: Path
    run_file: dict[str, Any] | None = None


@dataclass
class Transcript:
    """One evidence file: its exchanges (redacted), or why they could not be read."""

    path: str
    resolved: Path
    exchanges: list[Any]
    notes: list[str]
    found: bool
    truncated: bool = False
    # per exchange: the keys whose values were cut before redaction (load_transcript's
    # `cut_above`), each with the value's whole length in characters (as JSON text)
    cut: list[dict[str, int]] = field(default_factory=list)


def load_input(path: Path | str) -> RunInput:
    """Read a run directory or a results.json file; ReportInputError when unusable."""
    path = Path(path)
    results_path = path / RESULTS_NAME if path.is_dir() else path
    if not results_path.is_file():
        where = f"{path} holds no {RESULTS_NAME}" if path.is_dir() else f"{path} does not exist"
        raise ReportInputError(f"{where}; give a run directory of `ezhd certify` or a results.json")
    try:
        results = load_results(results_path)
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{results_path}: {' '.join(str(exc).split())[:400]}") from None
    run_file = None
    run_path = results_path.parent / RUN_NAME
    if run_path.is_file():
        try:
            run_file = json.loads(run_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            run_file = None
    return RunInput(results, results_path, results_path.parent, run_file)


def resolve_evidence(path: str, base_dir: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base_dir / candidate


def load_transcript(path: str, base_dir: Path, limit: int | None = MAX_EXCHANGES,
                    cut_above: int | None = None) -> Transcript:
    """Read a JSON Lines transcript, each exchange redacted; a missing file is a note.
    `cut_above`: a structured value longer than that (compact JSON) keeps only a head of about
    that size (for a page that shows less of it anyway; `Transcript.cut` says which)."""
    resolved = resolve_evidence(path, base_dir)
    try:
        text = resolved.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return Transcript(path, resolved, [], [f"{exc.strerror or 'cannot read'}"], found=False)
    exchanges: list[Any] = []
    notes: list[str] = []
    cuts: list[dict[str, int]] = []
    truncated = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if limit is not None and len(exchanges) >= limit:
            truncated = True
            break
        try:
            exchange = json.loads(line)
        except ValueError:
            notes.append(f"line {number}: not JSON")
            exchanges.append({"raw": redact_text(line)})
            cuts.append({})
            continue
        cut = _cut_long_values(exchange, cut_above) if cut_above is not None else {}
        exchanges.append(redact_exchange(exchange))
        cuts.append(cut)
    return Transcript(path, resolved, exchanges, notes, found=True, truncated=truncated, cut=cuts)


def _cut_long_values(exchange: Any, limit: int) -> dict[str, int]:
    """Replace, in place, each structured value (or JSON text) of `exchange` longer than `limit`
    characters of JSON by its head (`_head`); the cut keys with their whole lengths."""
    cut: dict[str, int] = {}
    if not isinstance(exchange, dict):
        return cut
    for key, value in exchange.items():
        if isinstance(value, str) and len(value) > limit and value.lstrip()[:1] in ("{", "["):
            try:   # a JSON body kept as text is shown parsed anyway (`_show`)
                value = json.loads(value)
            except ValueError:
                continue
            length = len(exchange[key])
        elif isinstance(value, (dict, list)):
            try:
                length = len(orjson.dumps(value).decode())
            except TypeError:
                continue
        else:
            continue
        if length > limit:
            exchange[key] = _head(value, limit)[0]
            cut[key] = length
    return cut


def _head(value: Any, budget: int) -> tuple[Any, int]:
    """The first items of `value`, in JSON order, until about `budget` characters of compact
    JSON are taken; with the budget left. Strings are never split (a half secret would not
    be recognised)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        budget -= 2
        for key, item in value.items():
            if budget <= 0:
                break
            out[key], budget = _head(item, budget - len(str(key)) - 4)
        return out, budget
    if isinstance(value, list):
        items: list[Any] = []
        budget -= 2
        for item in value:
            if budget <= 0:
                break
            head, budget = _head(item, budget - 2)
            items.append(head)
        return items, budget
    return value, budget - len(str(value)) - 2


def explain(message: str | None) -> dict[str, str | None] | None:
    """The failure in plain words: its first line without the exception name, and expected vs
    actual when the message states them (``expected X, got Y``, ``assert ACTUAL == EXPECTED``)."""
    if not message:
        return None
    text = redact_text(message.strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    summary = re.sub(r"^(?:AssertionError|Failed|assert)\s*:?\s*", "", lines[0]) if lines else text
    expected = actual = None
    m = re.search(r"(?is)\bexpected\b\s*:?\s*(.+?)\s*[,;.]?\s+(?:but\s+)?(?:got|actual|received|was)\b\s*:?\s*(.+?)\s*$",
                  text)
    if m:
        expected, actual = m.group(1).strip(), m.group(2).splitlines()[0].strip()
    else:
        for line in lines:
            m = re.match(r"^(?:AssertionError:\s*)?assert\s+(.+?)\s+==\s+(.+)$", line)
            if m:
                actual, expected = m.group(1), m.group(2)
                break
    return {"summary": summary or text, "expected": expected, "actual": actual, "full": text}


#: the product identity keys of sut.toml's [product] (run.sut.product, or run.product)
IDENTITY_KEYS = ("vendor", "product", "version", "build")


def identity(run: Mapping[str, Any]) -> dict[str, str | None]:
    """Vendor, product, version and build as the run recorded them; None where not declared."""
    sut = run.get("sut") if isinstance(run.get("sut"), Mapping) else {}
    sources = [run.get("product"), sut.get("product"), run, sut]
    found: dict[str, str | None] = {}
    for key in IDENTITY_KEYS:
        value = None
        for source in sources:
            if isinstance(source, Mapping) and isinstance(source.get(key), (str, int, float)):
                value = str(source[key])
                break
        found[key] = value
    return found


def run_command(results: Mapping[str, Any], run_file: Mapping[str, Any] | None) -> str:
    """The `ezhd certify` command of the run, without paths of the machine that ran it."""
    run = results["run"]
    run_file = run_file or {}
    source = (run.get("sut") or {}).get("source") or (run_file.get("sut") or {}).get("source") or "sut.toml"
    sut = "reference" if source == "reference" else Path(str(source)).name
    args = ["ezhd", "certify", "--sut", sut]
    if run_file.get("mocks_file"):
        args += ["--mocks", Path(str(run_file["mocks_file"])).name]
    for defect in run_file.get("reference_defects") or []:
        args += ["--reference-defect", str(defect)]
    for rid in run_file.get("only") or []:
        args += ["--only", str(rid)]
    seed = run.get("seed")
    if seed is not None:
        args += ["--seed", str(seed)]
    if (run_file.get("jobs") or 1) > 1:
        args += ["-j", str(run_file["jobs"])]
    return shlex.join(args)


def shown_path(path: str, base_dir: Path) -> str:
    """`path` as a report shows it: relative to the run directory, never an absolute path of
    the machine (outside the run directory: its name only)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    try:
        return candidate.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return candidate.name


def rerun_command(requirement_id: str, results: Mapping[str, Any], run_file: Mapping[str, Any] | None) -> str:
    """`ezhd certify` for just `requirement_id` with the run's SUT and seed."""
    run = results["run"]
    sut = (run.get("sut") or {}).get("source") or (run_file or {}).get("sut", {}).get("source") or "sut.toml"
    if sut != "reference" and Path(str(sut)).is_absolute():
        sut = Path(str(sut)).name   # no path of the machine that ran it
    args = ["ezhd", "certify", "--sut", str(sut)]
    if sut == "reference":
        for defect in (run_file or {}).get("reference_defects") or []:
            args += ["--reference-defect", str(defect)]
    args += ["--only", requirement_id]
    seed = run.get("seed")
    if seed is None:
        seed = ((run_file or {}).get("dataset") or {}).get("seed")
    if isinstance(seed, int) or (isinstance(seed, str) and seed.isdigit()):
        args += ["--seed", str(seed)]
    args += ["--report-dir", f"reports/rerun-{requirement_id}"]
    return shlex.join(args)


def effective_verdict(verdicts: list[str]) -> str:
    return max(verdicts, key=_RANK.__getitem__) if verdicts else "NOT_TESTED"


def build_view(inp: RunInput, applied: Applied | None = None, *, lang: str = "ru",
               evidence_map: Mapping[str, Transcript] | None = None) -> dict[str, Any]:
    """Plain dicts for the templates (every text redacted). `evidence_map` replaces reading
    evidence files (the sealed package passes its redacted copies)."""
    from specs.requirements import load_requirements
    from specs.surfaces import load_surfaces

    results, run = inp.results, inp.results["run"]
    applied = applied or Applied()
    areas: dict[str, dict[str, str]] = {}
    try:
        catalogue = load_requirements()
        catalogue_areas = catalogue.areas
    except Exception:  # the report still renders without the catalogue's area titles
        catalogue, catalogue_areas = None, {}
    try:
        dimensions = load_surfaces().dimensions
    except Exception:  # the report still renders with the dimensions' codes
        dimensions = {}
    exchange_no = 0
    requirements = []
    counts = {v: 0 for v in DISPLAY_ORDER}
    waived_must: list[str] = []
    for req in results["requirements"]:
        area = req["area"]
        if area not in areas:
            title = getattr(catalogue_areas.get(area), "title", None)
            areas[area] = {"ru": title.ru, "en": title.en} if title else {"ru": area, "en": area}
        tests = []
        for number, test in enumerate(req["tests"], 1):
            waiver = applied.for_test(req["id"], test["nodeid"])
            transcripts = []
            for path in test["evidence"]:
                tr = (evidence_map or {}).get(path) or load_transcript(path, inp.base_dir, cut_above=CUT_ABOVE)
                exchanges = []
                for index, e in enumerate(tr.exchanges):
                    exchange_no += 1
                    cut = tr.cut[index] if index < len(tr.cut) else {}
                    exchanges.append({**_exchange_view(e, cut), "anchor": f"ex-{exchange_no}"})
                transcripts.append({"path": shown_path(tr.path, inp.base_dir), "found": tr.found, "notes": tr.notes,
                                    "truncated": tr.truncated, "anchor": f"tx-{req['id']}-{number}-{len(transcripts) + 1}",
                                    "exchanges": exchanges,
                                    "setup": sum(1 for x in exchanges if x["setup"])})
            judged = [x for tr in transcripts for x in tr["exchanges"] if not x["setup"]]
            tests.append({
                "anchor": f"test-{req['id']}-{number}",
                "start_s": test.get("start_s"),
                "decisive": judged[-1] if judged and test["verdict"] not in ("PASS", "NOT_APPLICABLE") else None,
                "description": redact_text(test["description"]) if test.get("description") else None,
                "surface": _surface_marks(test.get("surface") or {}, dimensions),
                "nodeid": test["nodeid"], "verdict": test["verdict"],
                "shown": "WAIVED" if waiver else test["verdict"],
                "duration": test["duration_s"],
                "explain": explain(test["message"]) if test["verdict"] != "PASS" else None,
                "cause": redact_text(test["cause"]) if test.get("cause") else None,
                "hypothesis": redact(test.get("hypothesis")),
                "waiver": waiver.as_dict() if waiver else None,
                "transcripts": transcripts,
            })
        shown = effective_verdict([t["shown"] for t in tests])
        if shown == "WAIVED" and req["strength"] == "MUST" and req["level"] == "base":
            waived_must.append(req["id"])
        counts[shown] += 1
        spec = catalogue[req["id"]] if catalogue is not None and req["id"] in catalogue else None
        requirements.append({
            "id": req["id"], "area": area, "strength": req["strength"], "level": req["level"],
            "feature": req["feature"], "title": req["title"], "verdict": req["verdict"], "shown": shown,
            "text": {"ru": spec.text.ru, "en": spec.text.en} if spec else None,
            "source": list(spec.source) if spec else [],
            "surface": _surface_table(req.get("surface"), dimensions),
            "duration": round(sum(t["duration_s"] for t in req["tests"]), 3), "tests": tests,
            "rerun": rerun_command(req["id"], results, inp.run_file),
            "open": shown in ("FAIL", "ERROR", "WARN", "WAIVED"),
        })
    sut = redact(relative_paths({"run": {"sut": run.get("sut")}}, inp.base_dir.resolve())["run"]["sut"])
    return {
        "lang": lang if lang in ("ru", "en") else "ru",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "run": {
            "suite": run["tool"], "started": run["started"], "finished": run["finished"],
            "seed": run["seed"], "python": run["python"], "platform": run["platform"],
            "mocks": redact(run["mocks"]), "declared_features": run["declared_features"],
            "pytest_exit_status": run["pytest_exit_status"],
            "commit": run["tool"].get("commit"),
            "elapsed": _seconds_between(run["started"], run["finished"]),
            "specs": (run.get("specs") or {}).get("sha256"),
            "operator": run.get("operator"),
            "identity": identity(run),
            "command": run_command(results, inp.run_file),
            "sut_json": json.dumps(sut, ensure_ascii=False, indent=2) if sut is not None else None,
        },
        "base_level": results["summary"]["base_level"],
        "counts": {v: n for v, n in counts.items()},
        "total": len(requirements),
        "areas": areas,
        "verdicts_present": [v for v in DISPLAY_ORDER if counts[v]],
        "requirements": requirements,
        "waivers": {
            "all": [w.as_dict() for w in applied.all],
            "expired": [w.as_dict() for w in applied.expired],
            "unused": [w.as_dict() for w in applied.unused],
            "waived_must": waived_must,
        },
    }


def _exchange_view(exchange: Any, cut: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Heading fields (method, url, status), who talked to whom (`conformance/evidence.py`:
    from, to, setup) and every other key as display text; `cut`: keys whose values were cut
    before redaction, with their whole lengths."""
    if not isinstance(exchange, dict):
        return {"head": "", "fields": [("value", _show(exchange))], "caller": None, "party": None, "setup": False}
    head = " ".join(str(exchange[k]) for k in ("method", "url") if exchange.get(k) is not None)
    status = exchange.get("status", exchange.get("status_code"))
    if status is not None:
        head = f"{head} → {status}" if head else str(status)
    caller = exchange.get("from") if isinstance(exchange.get("from"), str) else None
    party = exchange.get("to") if caller is not None and isinstance(exchange.get("to"), str) else None
    skip = {"method", "url", "status", "status_code"} | ({"from", "to", "setup"} if caller is not None else set())
    fields = [(str(k), _show(v, (cut or {}).get(k))) for k, v in exchange.items() if k not in skip]
    return {"head": head, "fields": fields, "caller": caller, "party": party, "setup": bool(exchange.get("setup"))}


def _seconds_between(start: str, end: str) -> float | None:
    try:
        a, b = (dt.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (start, end))
    except ValueError:
        return None
    return max((b - a).total_seconds(), 0.0)


def _title(text: Any, fallback: str) -> dict[str, str]:
    return {"ru": text.ru, "en": text.en} if text is not None else {"ru": fallback, "en": fallback}


def _surface_table(coverage: Mapping[str, Any] | None, dimensions: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per dimension of a requirement's surface: its title and each value's title and state
    (covered, skipped, excused with the reason, missing)."""
    rows = []
    for dim, parts in (coverage or {}).items():
        spec = dimensions.get(dim)
        values = []
        for state in ("covered", "skipped", "missing"):
            for value in parts.get(state, []):
                values.append({"value": value, "state": state, "reason": None,
                               "title": _title(spec.values.get(value) if spec else None, value)})
        for value, reason in (parts.get("excused") or {}).items():
            values.append({"value": value, "state": "excused", "reason": redact_text(reason),
                           "title": _title(spec.values.get(value) if spec else None, value)})
        total = len(values)
        rows.append({"dimension": dim, "title": _title(spec.title if spec else None, dim), "parts": values,
                     "covered": len(parts.get("covered", [])), "total": total,
                     "missing": len(parts.get("missing", []))})
    return rows


def _surface_marks(marks: Mapping[str, Any], dimensions: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A test's declared surface parts with titles."""
    out = []
    for dim, values in marks.items():
        spec = dimensions.get(dim)
        out.append({"dimension": dim, "title": _title(spec.title if spec else None, dim),
                    "parts": [_title(spec.values.get(v) if spec else None, v) for v in values]})
    return out


def _pretty(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2)`, by orjson (the same text, ~20× faster)
    where it can: not for NaN or infinities (orjson writes null), non-string keys or integers
    beyond 64 bits. The compact check runs in json's C encoder."""
    try:
        json.dumps(value, allow_nan=False)
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, indent=2)


def _show(value: Any, whole: int | None = None) -> str:
    """A value as display text, at most MAX_VALUE_CHARS; `whole`: the value was cut before
    redaction (`_cut_long_values`) and had that many characters."""
    if whole is not None:
        text = _pretty(value)[:MAX_VALUE_CHARS]
        return text + f"\n… (cut: the whole value, {whole} characters as JSON, is in the transcript file)"
    if isinstance(value, (dict, list)):
        text = _pretty(value)
    elif isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            text = _pretty(json.loads(value))
        except ValueError:
            text = value
    else:
        text = "" if value is None else str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + f"\n… ({len(text) - MAX_VALUE_CHARS} more characters)"
    return text
