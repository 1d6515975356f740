"""The journal password policy (`password_policy.yaml`): its rules and which of them a
password breaks. The reference journal enforces it and the suite checks journals against it."""
from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path

from specs import load_yaml

_FILE = Path(__file__).with_name("password_policy.yaml")


@dataclass(frozen=True)
class Rule:
    id: str
    ru: str
    en: str
    min_length: int | None = None
    needs: str | None = None          # a character class the password must contain
    only: tuple[str, ...] = ()        # the character classes a password may consist of


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    classes: dict[str, frozenset[str]]

    @property
    def min_length(self) -> int:
        return next(r.min_length for r in self.rules if r.min_length is not None)

    def broken(self, password: str) -> list[Rule]:
        """Every rule `password` breaks, in the policy's order (empty: acceptable)."""
        out = []
        for rule in self.rules:
            if rule.min_length is not None and len(password) < rule.min_length:
                out.append(rule)
            elif rule.needs and not any(c in self.classes[rule.needs] for c in password):
                out.append(rule)
            elif rule.only:
                allowed = frozenset().union(*(self.classes[k] for k in rule.only))
                if any(c not in allowed for c in password):
                    out.append(rule)
        return out


@functools.lru_cache(maxsize=1)
def policy() -> Policy:
    doc = load_yaml(_FILE)
    classes = {"uppercase": frozenset(string.ascii_uppercase), "lowercase": frozenset(string.ascii_lowercase),
               "digit": frozenset(string.digits), "symbol": frozenset(doc["symbols"])}
    rules = tuple(Rule(r["id"], r["ru"], r["en"], r.get("min_length"), r.get("needs"), tuple(r.get("only") or ()))
                  for r in doc["rules"])
    for rule in rules:
        unknown = {rule.needs, *rule.only} - {None} - set(classes)
        if unknown:
            raise ValueError(f"password_policy.yaml: rule {rule.id} names unknown classes {sorted(unknown)}")
    return Policy(rules, classes)
