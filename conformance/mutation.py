"""Mutation testing of the reference journal: a standing self-check of the conformance suite.

Each mutant is the reference journal with one small change to one module's code; it is run
through `ezhd certify --sut reference --only <the requirements that module implements>` in a
subprocess. A mutant is *killed* when a selected requirement ends FAIL (or WARN for a SHOULD),
*killed_by_error* when the base level over the selection fails without a FAIL (a test ended
ERROR: the suite broke rather than caught), *crashed* when the journal did not start (exit 3,
no results), *timeout* when the run exceeded its time, and *survived* when the selection
passes. A survivor recorded in `conformance/mutation.yaml` as *equivalent* (behaves exactly
like the original) or *unspecified* (changes only what no requirement or contract of specs/
states, e.g. the wording or language of a human-readable message: a conformance suite must not
check it, as a vendor's journal may differ there) is left out of the score, with its reason.
Score = killed (all kinds, timeouts included) / (mutants - equivalent - unspecified).

A module whose code runs only under some setting of the journal (export.py: the edu-upload
channel through the agent or the showcase's request-id channel, `export_channel`) declares
`variants` in mutation.yaml: named sets of journal settings (certify's `--reference-setting`).
Each variant gets its own baseline, and a mutant is certified under each in turn until one
kills it: survived means it passed under every variant.

The mutator is a small AST mutator of our own, not mutmut or cosmic-ray. mutmut 3 copies the
project into `mutants/`, mutates code inside functions only (`MIN_LENGTH = 8` is out of its
reach), and runs pytest itself, switching mutants at call time through trampolines in the
test process; our tests reach a journal that certify starts in another process, where that
switch does not apply. cosmic-ray can run an external command per mutant, but needs a
session database and a TOML config per run, and applies each mutant to the module in the
working tree itself, so a run of the suite from the same tree meanwhile would import the
mutant. What is needed here is small: one mutation at a time, into a private copy, with ids
stable across runs and unrelated edits, and the mutated text spliced into the original
source so everything else stays byte for byte. Operators (`OPERATORS`): comparison flip and
boundary, condition negation, and/or swap, constant change, off-by-one, `return None`,
removal of a call statement, emptying a string (docstrings, annotations, f-strings and
`defect_on("ID")` switches are left alone, and so are the negation and and/or swap of a
condition that asks a switch: those would switch a seeded defect on, which the kill matrix
already measures; and so is a branch that runs only while a defect is on, which the unmutated
journal never runs).

How the mutant is made to run: the journal package is copied to a temporary directory, the
module replaced by its mutant, and certify runs with `PYTHONPATH=<that dir>` and
`PYTHONSAFEPATH=1`. certify starts the journal as a subprocess (`python -m conformance.cli
reference-journal serve`) with its working directory at the project root; `python -m` puts
the working directory first on sys.path, ahead of PYTHONPATH, which would import the
*original* journal. PYTHONSAFEPATH (Python 3.11+) drops that entry, so the copy on PYTHONPATH
wins in certify and in the journal process alike (both inherit the environment).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "reference_journal"
CONFIG = Path(__file__).resolve().parent / "mutation.yaml"

OPERATORS = {
    "cmp_flip": "comparison negated (== !=, < >=, in / not in, is / is not)",
    "cmp_boundary": "comparison boundary moved (< <=, > >=)",
    "negate": "condition of if / while / conditional expression negated",
    "bool_swap": "and / or swapped",
    "constant": "constant changed (True/False flipped, a number to 0, or 0 to 1)",
    "off_by_one": "integer n to n + 1 and n - 1",
    "return_none": "returned value replaced by None",
    "remove_call": "a call statement replaced by pass",
    "string_empty": "a string (not a docstring) emptied",
}
CMP_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
            ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
CMP_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
KILLED = ("killed", "killed_by_error", "crashed", "timeout")
KILLING_VERDICTS = {"FAIL", "WARN"}


class MutationProblem(Exception):
    """A mistake of the caller (unknown module, no requirements mapped, bad triage file)."""


# ---------------------------------------------------------------------------- the mutator

@dataclass(frozen=True)
class Mutant:
    id: str
    module: str                 # path relative to the project root, e.g. reference_journal/passwords.py
    line: int
    operator: str
    original: str               # the source line(s) the mutation touches
    mutated: str
    start: tuple[int, int]      # (line, byte column) of the replaced text
    end: tuple[int, int]
    replacement: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "module": self.module, "line": self.line, "operator": self.operator,
                "original": self.original, "mutated": self.mutated}


class _Collector(ast.NodeVisitor):
    """Walks a module in source order and proposes (node span, operator, replacement text)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.encode("utf-8").splitlines(keepends=True)
        self.scope: list[str] = []
        self.found: list[tuple[str, str, ast.AST, str, tuple[int, int], tuple[int, int]]] = []
        self.skip: set[int] = set()

    def add(self, op: str, node: ast.AST, replacement: str, whole: ast.AST | None = None) -> None:
        span = whole or node
        self.found.append((".".join(self.scope) or "<module>", op, node, replacement,
                           (span.lineno, span.col_offset), (span.end_lineno, span.end_col_offset)))

    def segment(self, node: ast.AST) -> str:
        """The node's source text (ast.get_source_segment splits the whole file on every call)."""
        lines = self.lines
        first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[operator]
        if first == last:
            return lines[first][node.col_offset:node.end_col_offset].decode("utf-8")
        return (lines[first][node.col_offset:] + b"".join(lines[first + 1:last])
                + lines[last][:node.end_col_offset]).decode("utf-8")

    def _docstring(self, body: list[ast.stmt]) -> None:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            self.skip.add(id(body[0].value))

    def _scoped(self, node: ast.AST, name: str) -> None:
        self._docstring(node.body)  # type: ignore[attr-defined]
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        args = getattr(node, "args", None)
        if args is not None:
            for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
                self.visit(default)
        for base in getattr(node, "bases", []):
            self.visit(base)
        self.scope.append(name)
        for stmt in node.body:  # type: ignore[attr-defined]
            self.visit(stmt)
        self.scope.pop()

    def visit_Module(self, node: ast.Module) -> None:
        self._docstring(node.body)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:   # annotations are not visited
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:  # positions inside f-strings are unreliable
        return

    def negate(self, test: ast.expr) -> None:
        """Negate a condition, unless it asks a defect switch: negating it would switch a seeded
        defect on (the kill matrix's question, not the suite's over the journal's own logic)."""
        if not _is_type_checking(test) and not _has_switch(test):
            self.add("negate", test, f"(not ({self.segment(test)}))")

    def visit_If(self, node: ast.If) -> None:
        """A branch that runs only while a seeded defect is switched on (`if defect_on(...)`,
        `if x and defect_on(...)`; the `else` of `if not defect_on(...)`) is not mutated: the
        unmutated journal never runs it, so its mutants are equivalent by construction."""
        self.negate(node.test)
        self.visit(node.test)
        for branch, dead in ((node.body, _only_with_switch(node.test)),
                             (node.orelse, isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)
                              and _only_with_switch(node.test.operand))):
            if not dead:
                for stmt in branch:
                    self.visit(stmt)

    def visit_While(self, node: ast.While) -> None:
        self.negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.negate(node.test)
        self.visit(node.test)
        if not _only_with_switch(node.test):
            self.visit(node.body)
        self.visit(node.orelse)

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, cmp in enumerate(node.ops):
            for op_name, table in (("cmp_flip", CMP_FLIP), ("cmp_boundary", CMP_BOUNDARY)):
                if type(cmp) in table:
                    ops = list(node.ops)
                    ops[i] = table[type(cmp)]()
                    self.add(op_name, node, f"({ast.unparse(ast.Compare(node.left, ops, node.comparators))})")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if not _has_switch(node):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add("bool_swap", node, f"({ast.unparse(ast.BoolOp(other, node.values))})")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.add("return_none", node.value, "None")
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call) and not _is_switch(node.value):
            self.add("remove_call", node, "pass")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if _is_switch(node):   # defect_on("ID"): the defect switch is not the journal's behaviour
            self.visit(node.func)
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if id(node) in self.skip:
            return
        value = node.value
        if isinstance(value, bool):
            self.add("constant", node, repr(not value))
        elif isinstance(value, (int, float)):
            self.add("constant", node, "1" if value == 0 else "0")
            if isinstance(value, int):
                self.add("off_by_one", node, f"({value + 1})")
                self.add("off_by_one", node, f"({value - 1})")
        elif isinstance(value, str) and value:
            self.add("string_empty", node, "''")


def _is_switch(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "defect_on"


def _has_switch(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and _is_switch(n) for n in ast.walk(node))


def _only_with_switch(test: ast.expr) -> bool:
    """True when the condition can hold only while a defect is switched on."""
    if isinstance(test, ast.Call):
        return _is_switch(test)
    return isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and any(
        _only_with_switch(v) for v in test.values)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _splice(source: str, start: tuple[int, int], end: tuple[int, int], text: str) -> tuple[str, str, str]:
    """Replace the (line, byte column) span by `text`; returns (new source, old lines, new lines)."""
    lines = source.encode("utf-8").splitlines(keepends=True)
    head = b"".join(lines[:start[0] - 1]) + lines[start[0] - 1][:start[1]]
    tail = lines[end[0] - 1][end[1]:] + b"".join(lines[end[0]:])
    new = (head + text.encode("utf-8") + tail).decode("utf-8")
    old_lines = b"".join(lines[start[0] - 1:end[0]]).decode("utf-8")
    new_lines = (lines[start[0] - 1][:start[1]] + text.encode("utf-8") + lines[end[0] - 1][end[1]:]).decode("utf-8")
    return new, _one_line(old_lines), _one_line(new_lines)


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def mutants_of(source: str, module: str, strict: bool = False, check: bool = True) -> list[Mutant]:
    """Every mutant of a module's source, in source order, each compiled to make sure it is
    valid Python (one that is not is dropped, or raises with `strict`; `check=False` leaves
    that to the caller, see `valid`, since compiling every mutant of a large module is slow). Ids: `<module stem>.<qualname>.<operator>.<hash>` where the hash covers the
    operator, the original text, the replacement and the occurrence of that same text in the
    same function, so ids survive edits elsewhere in the file."""
    collector = _Collector(source)
    collector.visit(ast.parse(source))
    stem = Path(module).stem
    seen: dict[tuple[str, ...], int] = {}
    out: list[Mutant] = []
    for qualname, op, node, replacement, start, end in collector.found:
        original = collector.segment(node) if (start, end) == ((node.lineno, node.col_offset),
                                                                (node.end_lineno, node.end_col_offset)) else ""
        key = (qualname, op, original or ast.dump(node), replacement)
        ordinal = seen[key] = seen.get(key, -1) + 1
        digest = hashlib.sha256("\x1f".join([*key, str(ordinal)]).encode("utf-8")).hexdigest()[:8]
        new_source, old_line, new_line = _splice(source, start, end, replacement)
        if check and not valid(new_source, module, strict):
            continue
        out.append(Mutant(f"{stem}.{qualname}.{op}.{digest}", module, start[0], op, old_line, new_line,
                          start, end, replacement))
    return out


def valid(mutated_source: str, module: str, strict: bool = False) -> bool:
    try:
        compile(mutated_source, module, "exec")
    except SyntaxError:   # never expected: every replacement is parenthesised or a whole statement
        if strict:
            raise
        return False
    return True


def apply(source: str, mutant: Mutant) -> str:
    return _splice(source, mutant.start, mutant.end, mutant.replacement)[0]


# ---------------------------------------------------------------------------- configuration

TRIAGE = ("equivalent", "unspecified")   # survivor kinds left out of the score, each with a reason


@dataclass
class Config:
    modules: dict[str, dict[str, Any]]
    equivalent: dict[str, str]
    unspecified: dict[str, str] = field(default_factory=dict)

    def variants(self, module: str) -> list[tuple[str, dict[str, Any]]]:
        """(name, journal settings) under which the module's mutants are certified; one
        unnamed variant with the journal's defaults unless mutation.yaml names some."""
        declared = (self.modules.get(module) or {}).get("variants") or {}
        return [(name, dict(settings or {})) for name, settings in declared.items()] or [("", {})]

    def triage(self, mutant_id: str) -> tuple[str, str] | None:
        """(kind, reason) of a survivor recorded in mutation.yaml, or None."""
        for kind in TRIAGE:
            reason = getattr(self, kind).get(mutant_id)
            if reason:
                return kind, reason
        return None


def load_config(path: Path = CONFIG) -> Config:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MutationProblem(f"{path}: cannot read: {exc}") from None
    modules = data.get("modules") or {}
    equivalent = data.get("equivalent") or {}
    unspecified = data.get("unspecified") or {}
    problems = []
    for name, entry in modules.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("add"), list) or not entry.get("reason"):
            problems.append(f"modules.{name}: needs `add: [IDs]` and a `reason`")
            continue
        variants = entry.get("variants", {})
        if not isinstance(variants, dict) or not all(
                isinstance(v, str) and isinstance(kv, dict) and kv and all(
                    isinstance(k, str) and isinstance(x, (str, int, float, bool)) for k, x in kv.items())
                for v, kv in variants.items()):
            problems.append(f"modules.{name}.variants: a map of names to journal settings, "
                            "e.g. {showcase: {export_channel: showcase}}")
    for kind, entries in (("equivalent", equivalent), ("unspecified", unspecified)):
        for mid, reason in entries.items():
            if not isinstance(reason, str) or not reason.strip():
                problems.append(f"{kind}.{mid}: give the reason the mutant is {kind}")
    both = sorted(set(equivalent) & set(unspecified))
    if both:
        problems.append(f"listed both as equivalent and unspecified: {', '.join(both)}")
    if problems:
        raise MutationProblem(f"{path}: " + "; ".join(problems))
    return Config(modules, equivalent, unspecified)


def switches_in(source: str) -> set[str]:
    """Defect ids the module's code asks about (`defect_on("ID")`)."""
    return {node.args[0].value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and _is_switch(node) and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def requirements_of(module: str, config: Config, root: Path = ROOT) -> list[str]:
    """The requirements a module implements: the catalogue's defects that live in it or that
    its code switches, plus the configuration's additions."""
    from reference_journal.defects import CATALOGUE
    from specs.requirements import load_requirements

    dotted = module.removesuffix(".py").replace("/", ".")
    asked = switches_in((root / module).read_text(encoding="utf-8"))
    found = {rid for d in CATALOGUE.values() if d.where == dotted or d.id in asked for rid in d.requirement_ids}
    found |= set(config.modules.get(module, {}).get("add", []))
    known = {r.id for r in load_requirements()}
    unknown = sorted(found - known)
    if unknown:
        raise MutationProblem(f"{CONFIG.name}: {module}: unknown requirement {', '.join(unknown)}")
    return sorted(found)


def resolve_module(name: str, root: Path = ROOT) -> str:
    """`reference_journal/passwords.py`, `passwords.py` or `passwords` -> the relative path."""
    stem = Path(name).name.removesuffix(".py")
    path = root / PACKAGE / f"{stem}.py"
    if not path.is_file() or (Path(name).parent.name not in ("", PACKAGE)):
        known = ", ".join(sorted(p.name for p in (root / PACKAGE).glob("*.py")))
        raise MutationProblem(f"--module: {name} is not a module of {PACKAGE}/ (one of: {known})")
    return f"{PACKAGE}/{stem}.py"


# ---------------------------------------------------------------------------- running

@dataclass
class Outcome:
    id: str
    module: str
    line: int
    operator: str
    original: str
    mutated: str
    requirements: list[str]
    status: str
    seconds: float
    exit_code: int | None = None
    verdicts: dict[str, str] = field(default_factory=dict)
    note: str = ""
    variant: str = ""           # the variant of the run that decided (mutation.yaml `variants`)


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONSAFEPATH"] = "1"         # keep the working directory off sys.path (see module doc)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def prepare_copy(mutant: Mutant | None, workdir: Path, root: Path = ROOT) -> Path:
    """Copy the journal package into workdir/src with the mutant applied; returns workdir/src."""
    src = workdir / "src"
    shutil.copytree(root / PACKAGE, src / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is not None:
        target = src / mutant.module
        target.write_text(apply(target.read_text(encoding="utf-8"), mutant), encoding="utf-8")
    return src


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(mutant: Mutant | None, requirements: list[str], out: Path, timeout: float, seed: int = 1,
            module: str = "", variant: tuple[str, dict[str, Any]] = ("", {})) -> Outcome:
    """Certify one mutant (None: the unmutated journal, through the same copy) on `requirements`,
    with the journal's settings of `variant` (name, settings)."""
    name = (mutant.id if mutant else f"baseline.{Path(module).stem}") + (f"@{variant[0]}" if variant[0] else "")
    base = mutant.public() if mutant else {"id": name, "module": module, "line": 0, "operator": "none",
                                            "original": "", "mutated": ""}
    logs = out / "runs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ezhd-mutant-") as tmp:
        work = Path(tmp)
        src = prepare_copy(mutant, work)
        report = work / "report"
        cmd = [sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference", "--report-dir",
               str(report), "--force", "--seed", str(seed), "--no-progress"]
        for rid in requirements:
            cmd += ["--only", rid]
        for key, value in variant[1].items():
            cmd += ["--reference-setting", f"{key}={json.dumps(value)}"]
        with open(logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), env=_env(src),
                                    start_new_session=True)
            try:
                code: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code = None
        seconds = time.monotonic() - started
        results = report / "results.json"
        if (report / "journal.log").exists():   # the journal's own output: why a mutant crashed it
            shutil.copyfile(report / "journal.log", logs / f"{name}.journal.log")
        verdicts: dict[str, str] = {}
        if results.exists():
            shutil.copyfile(results, logs / f"{name}.results.json")
            data = json.loads(results.read_text(encoding="utf-8"))
            verdicts = {r["id"]: r["verdict"] for r in data["requirements"] if r["verdict"] != "NOT_TESTED"}
    status, note = classify(code, requirements, verdicts)
    return Outcome(**base, requirements=requirements, status=status, seconds=round(seconds, 1),
                   exit_code=code, verdicts=verdicts, note=note, variant=variant[0])


def run_variants(mutant: Mutant, requirements: list[str], out: Path, timeout: float, seed: int,
                 variants: list[tuple[str, dict[str, Any]]]) -> Outcome:
    """Certify the mutant under each variant in turn until one kills it (the seconds add up)."""
    spent = 0.0
    outcome = None
    for variant in variants:
        outcome = run_one(mutant, requirements, out, timeout, seed, variant=variant)
        spent += outcome.seconds
        if outcome.status != "survived":
            break
    assert outcome is not None
    outcome.seconds = round(spent, 1)
    if len(variants) > 1 and outcome.status == "survived":
        outcome.variant = "+".join(name for name, _ in variants)
    return outcome


def classify(code: int | None, requirements: list[str], verdicts: dict[str, str]) -> tuple[str, str]:
    """The status of one run from certify's exit code and the requirements' verdicts."""
    if code is None:
        return "timeout", "the run exceeded its time"
    failing = sorted(r for r in requirements if verdicts.get(r) in KILLING_VERDICTS)
    if failing:
        return "killed", "FAIL: " + ", ".join(failing)
    if code == 2:
        return "error", "certify refused its arguments (exit 2); see the run's log"
    if code == 3 or not verdicts:
        return "crashed", "the journal or the environment did not start or answer (exit %s)" % code
    if code == 1:
        broken = sorted(f"{r} {verdicts.get(r, 'NOT_TESTED')}" for r in requirements
                        if verdicts.get(r) not in ("PASS", "NOT_APPLICABLE"))
        return "killed_by_error", "base level failed without a FAIL: " + ", ".join(broken)
    return "survived", ""


def select(mutants: list[Mutant], limit: int | None, seed: int) -> list[Mutant]:
    """A reproducible sample of at most `limit` mutants, kept in source order."""
    if limit is None or limit >= len(mutants):
        return list(mutants)
    chosen = set(m.id for m in random.Random(seed).sample(mutants, limit))
    return [m for m in mutants if m.id in chosen]


def parse_module_arg(arg: str) -> tuple[str, tuple[int, int] | None]:
    """`PATH` or `PATH:START-END` (a line range: only mutants starting in it)."""
    path, _, lines = arg.partition(":")
    if not lines:
        return resolve_module(path), None
    try:
        a, b = (int(x) for x in lines.split("-", 1))
    except ValueError:
        raise MutationProblem(f"--module: {arg}: a line range is START-END, e.g. {path}:100-250") from None
    if a < 1 or b < a:
        raise MutationProblem(f"--module: {arg}: the line range must be 1 <= START <= END")
    return resolve_module(path), (a, b)


@dataclass
class Plan:
    module: str
    requirements: list[str]
    mutants: list[Mutant]
    total: int             # mutants of the module (or line range) before sampling
    whole: bool = False    # every mutant of the whole module is planned


def plan(modules: Iterable[str], limit: int | None, seed: int, config: Config,
         only: Iterable[str] = ()) -> list[Plan]:
    """The mutants to run per module: all, a sample of `limit`, or those whose id is in `only`
    (an id found in none of the modules is refused, named)."""
    plans = []
    only = set(only)
    found: set[str] = set()
    for arg in modules:
        module, lines = parse_module_arg(arg)
        reqs = requirements_of(module, config)
        if not reqs:
            raise MutationProblem(f"--module: {module}: no requirement is tied to it (no seeded defect lives "
                                  f"in it); add it under `modules` in {CONFIG} with a reason")
        source = (ROOT / module).read_text(encoding="utf-8")
        every = mutants_of(source, module, check=False)
        if lines:
            every = [m for m in every if lines[0] <= m.line <= lines[1]]
        if only:
            every = [m for m in every if m.id in only]
            found |= {m.id for m in every}
        chosen = [m for m in select(every, limit, seed) if valid(apply(source, m), module)]
        plans.append(Plan(module, reqs, chosen, len(every),
                          whole=lines is None and not only and len(chosen) == len(every)))
    missing = sorted(only - found)
    if missing:
        raise MutationProblem(f"--mutant: no such mutant in the modules given: {', '.join(missing)} "
                              "(see --list; an edit of the mutated line changes its id)")
    return plans


def run(plans: list[Plan], out: Path, config: Config, timeout: float, jobs: int = 1, seed: int = 1,
        echo=lambda line: None) -> dict[str, Any]:
    """Run a baseline per module, then every planned mutant; write mutants.json."""
    out.mkdir(parents=True, exist_ok=True)
    baselines = []
    todo: list[tuple[Mutant, list[str], list[tuple[str, dict[str, Any]]]]] = []
    for p in plans:
        passing = []
        for variant in config.variants(p.module):
            b = run_one(None, p.requirements, out, timeout, seed, module=p.module, variant=variant)
            baselines.append(b)
            shown = "passes" if b.status == "survived" else f"{b.status}: {b.note}"
            under = f" with {', '.join(f'{k} = {v}' for k, v in variant[1].items())}" if variant[1] else ""
            echo(f"baseline {p.module}{under}: {shown} ({b.seconds:.0f} s; {', '.join(p.requirements)})")
            if b.status == "survived":
                passing.append(variant)
            else:
                echo(f"  the unmutated journal{under} does not pass {', '.join(p.requirements)}: its mutants are "
                     f"not run so (see {out / 'runs' / (b.id + '.log')})")
        if passing:
            todo += [(m, p.requirements, passing) for m in p.mutants]

    def one(item: tuple[Mutant, list[str], list[tuple[str, dict[str, Any]]]]) -> Outcome:
        o = run_variants(item[0], item[1], out, timeout, seed, item[2])
        if o.status == "survived" and (found := config.triage(o.id)):
            o.status, o.note = found
        echo(f"{o.status:<16} {o.seconds:5.0f} s  {o.id}{f' [{o.variant}]' if o.variant else ''}  "
             f"L{o.line}: {o.mutated}")
        return o

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(one, todo))
    ran_modules = {p.module for p in plans if p.whole}
    produced = {m.id for p in plans for m in p.mutants}
    stale = sorted(mid for mid in [*config.equivalent, *config.unspecified]
                   if mid not in produced and any(mid.startswith(Path(m).stem + ".") for m in ran_modules))
    result = {"seed": seed, "timeout": timeout,
              "modules": [{"module": p.module, "requirements": p.requirements, "mutants": p.total,
                           "sampled": len(p.mutants), "variants": dict(config.variants(p.module))}
                          for p in plans],
              "baselines": [asdict(b) for b in baselines],
              "mutants": [asdict(o) for o in outcomes],
              "summary": summary(outcomes), "stale_equivalent": stale}
    (out / "mutants.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "mutants.md").write_text(markdown(result), encoding="utf-8")
    return result


def rescore(out: Path, config: Config) -> dict[str, Any]:
    """Apply the current triage to a finished run's mutants.json (no run again); rewrite it."""
    path = out / "mutants.json"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MutationProblem(f"--rescore: cannot read {path}: {exc}") from None
    outcomes = [Outcome(**o) for o in result["mutants"]]
    for o in outcomes:
        if o.status in ("survived", *TRIAGE):
            o.status, o.note = config.triage(o.id) or ("survived", "")
    result["mutants"] = [asdict(o) for o in outcomes]
    result["summary"] = summary(outcomes)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "mutants.md").write_text(markdown(result), encoding="utf-8")
    return result


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    counts = {s: sum(o.status == s for o in outcomes)
              for s in (*KILLED, "survived", *TRIAGE, "error")}
    scored = len(outcomes) - sum(counts[k] for k in TRIAGE) - counts["error"]
    killed = sum(counts[s] for s in KILLED)
    return {**counts, "total": len(outcomes), "scored": scored,
            "score": round(100 * killed / scored, 1) if scored else None}


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = ["| mutant | line | operator | mutated | requirements | status | verdicts |",
             "|---|---:|---|---|---|---|---|"]
    for o in result["mutants"]:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(o["verdicts"].items()) if k in o["requirements"])
        status = o["status"] if o["status"] != "survived" else "**survived**"
        if o.get("variant"):
            status += f" ({o['variant']})"
        mutated = o["mutated"].replace("|", "\\|")
        lines.append(f"| `{o['id']}` | {o['line']} | {o['operator']} | `{mutated}` "
                     f"| {', '.join(o['requirements'])} | {status} | {verdicts or o['note']} |")
    lines += ["", f"Score: {s['score'] if s['score'] is not None else '—'} % "
                  f"({s['scored'] - s['survived']} killed of {s['scored']} scored: "
                  f"{s['killed']} by a FAIL, {s['killed_by_error']} by an ERROR only, "
                  f"{s['crashed']} crashed, {s['timeout']} timed out; {s['survived']} survived; left out: "
                  f"{s['equivalent']} equivalent, {s.get('unspecified', 0)} unspecified, {s['error']} not run)."]
    if result.get("stale_equivalent"):
        lines.append(f"Stale entries in {CONFIG.name} (no such mutant any more): "
                     + ", ".join(result["stale_equivalent"]) + ".")
    return "\n".join(lines) + "\n"

