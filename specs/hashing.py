"""Depersonalisation hash: ГОСТ Р 34.11-2012 (Стрибог), 512 bits, lower-case hex.

The vendor hashes "hashable" fields with GOST12_512 (PROTOCOLS.md §3.4). What exactly is
hashed for a document is our reading: series and number, letters and digits only, upper case.
"""
from __future__ import annotations

import re

from gostcrypto import gosthash

HASH_RE = re.compile(r"^[0-9a-f]{128}$")
_NOT_ALNUM = re.compile(r"[^0-9A-ZА-ЯЁ]")


def streebog512(text: str) -> str:
    """Lower-case hex of the 512-bit Streebog digest of the UTF-8 text."""
    return gosthash.new("streebog512", data=text.encode("utf-8")).hexdigest()


def normalise_document(series: str, number: str) -> str:
    """Series and number of a document as hashed: letters and digits only, upper case."""
    return _NOT_ALNUM.sub("", f"{series}{number}".upper())


def document_hash(series: str, number: str) -> str:
    return streebog512(normalise_document(series, number))


def check_hash(value: str) -> str | None:
    return None if HASH_RE.match(value) else "must be 128 lower-case hex digits (ГОСТ Р 34.11-2012/512)"
