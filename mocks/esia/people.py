"""Personas as ЕСИА's person REST API shows them (PROTOCOLS.md §1.8), no HTTP here.

A persona is one line of `personas.jsonl` (see `fixtures/personas.py`): `oid`, `kind`,
`level`, `account_type`, `trusted`, names, `birthDate`, `gender`, `snils`, `docs`, `kids`,
`parents`, `roles`, `consent`, `reissued_from`, ...; organisations carry `inn`, `ogrn`,
`kpp`, `name`. Optional extras the mock also reads: `password`, `email`, `mobile`,
`contacts` ([{type, value}]), `addresses` ([{type, addressStr, ...}]), `inn` of a person,
`birthPlace`.

Our readings where the sources are silent (documented in the report to specs/):
- contacts: a persona without `email`/`mobile`/`contacts` gets two derived, verified ones,
  `oid<oid>@esia-mock.test` and `+7(900)<7 digits of the oid>`, so every persona can sign in
  by e-mail or phone;
- element ids are `oid * 100 + n` (n = 1, 2, ... in list order), stable across restarts;
  a kid's element id is the kid's oid;
- a document is shown under the scope of its type (`DOC_SCOPES`), unknown types under
  `id_doc`; a child's documents are read by a parent with `kid_birth_cert_doc`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

Persona = dict[str, Any]

PERSON_FIELD_SCOPES = {
    "fullname": ("lastName", "firstName", "middleName"),
    "birthdate": ("birthDate",),
    "gender": ("gender",),
    "snils": ("snils",),
    "inn": ("inn",),
    "birthplace": ("birthPlace",),
}
KID_SCOPES = {"kid_fullname": "fullname", "kid_birthdate": "birthdate", "kid_gender": "gender",
              "kid_snils": "snils", "kid_inn": "inn", "kid_birth_cert_doc": "birth_cert_doc",
              "kid_medical_doc": "medical_doc", "kid_mobile": "mobile", "kid_email": "email"}
DOC_SCOPES = {"RF_PASSPORT": "id_doc", "KID_RF_PASSPORT": "id_doc", "FRGN_PASS": "foreign_passport_doc",
              "RF_DRIVING_LICENSE": "drivers_licence_doc", "RF_BRTH_CERT": "birth_cert_doc",
              "KID_RF_BRTH_CERT": "birth_cert_doc", "MDCL_PLCY": "medical_doc",
              "KID_MDCL_PLCY": "medical_doc", "RSDNC_PERMIT": "residence_doc",
              "TMP_RSDNC_PERMIT": "temporary_residence_doc"}
DOCS_ANY_SCOPE = frozenset(DOC_SCOPES.values())
CONTACT_SCOPES = {"EML": ("email", "contacts"), "CEM": ("email", "contacts"),
                  "MBT": ("mobile", "contacts"), "PHN": ("mobile", "contacts"),
                  "CPH": ("mobile", "contacts")}


def etag(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, ensure_ascii=False,
                                   default=str).encode()).hexdigest().upper()


def digits(text: str) -> str:
    return "".join(c for c in str(text) if c.isdigit())


def is_child(p: Persona) -> bool:
    return p.get("level") == "KD" or p.get("account_type") == "child"


def is_confirmed(p: Persona) -> bool:
    return bool(p.get("trusted")) and not is_child(p)


def level(p: Persona) -> str:
    if p.get("level") in ("P", "PR", "KD"):
        return p["level"]
    return {"child": "KD", "confirmed": "PR"}.get(p.get("account_type", ""), "P")


def contacts(p: Persona) -> list[dict[str, Any]]:
    raw: list[dict[str, Any]] = [dict(c) for c in p.get("contacts") or []]
    if p.get("email"):
        raw.append({"type": "EML", "value": p["email"]})
    if p.get("mobile"):
        raw.append({"type": "MBT", "value": p["mobile"]})
    if not raw and p.get("kind") != "organisation":
        oid = int(p["oid"])
        raw = [{"type": "EML", "value": f"oid{oid}@esia-mock.test"},
               {"type": "MBT", "value": f"+7(900){oid % 10_000_000:07d}"}]
    out = []
    for n, c in enumerate(raw, start=1):
        el = {"stateFacts": ["Identifiable"], "id": int(p["oid"]) * 100 + n, "type": c["type"],
              "vrfStu": c.get("vrfStu", "VERIFIED"), "value": c["value"]}
        el["eTag"] = etag(el)
        out.append(el)
    return out


def addresses(p: Persona) -> list[dict[str, Any]]:
    out = []
    for n, a in enumerate(p.get("addresses") or [], start=1):
        el = {"stateFacts": ["Identifiable"], "id": int(p["oid"]) * 100 + 50 + n}
        el.update({k: v for k, v in a.items() if k not in ("id", "eTag")})
        el.setdefault("type", "PLV")
        el.setdefault("addressStr", "")
        el["eTag"] = etag(el)
        out.append(el)
    return out


def documents(p: Persona) -> list[dict[str, Any]]:
    out = []
    for n, d in enumerate(p.get("docs") or [], start=1):
        el = {"stateFacts": ["Identifiable"], "id": int(p["oid"]) * 100 + 20 + n,
              "type": d.get("type", "RF_PASSPORT"), "vrfStu": d.get("vrfStu", "VERIFIED"),
              "series": str(d.get("series", "")), "number": str(d.get("number", ""))}
        for key in ("issueDate", "issueId", "issuedBy", "actNo", "actDate"):
            if d.get(key):
                el[key] = d[key]
        el["eTag"] = etag(el)
        out.append(el)
    return out


def doc_visible(doc: dict[str, Any], scopes: set[str]) -> bool:
    return DOC_SCOPES.get(doc["type"], "id_doc") in scopes


def contact_visible(ctt: dict[str, Any], scopes: set[str]) -> bool:
    return any(s in scopes for s in CONTACT_SCOPES.get(ctt["type"], ("contacts",)))


def person(p: Persona, scopes: set[str]) -> dict[str, Any]:
    """The person object with the fields the scopes grant (`scopes` are person scopes: for a
    parent reading a kid, the caller maps `kid_*` to them first)."""
    out: dict[str, Any] = {"stateFacts": ["EntityRoot"]}
    for scope, fields in PERSON_FIELD_SCOPES.items():
        if scope in scopes:
            for f in fields:
                if p.get(f):
                    out[f] = p[f]
    out["trusted"] = is_confirmed(p)
    out["citizenship"] = p.get("citizenship", "RUS")
    out["status"] = "REGISTERED"
    out["verifying"] = False
    out["containsUpCfmCode"] = False
    out["updatedOn"] = int(p.get("updatedOn", 1_700_000_000))
    docs = documents(p)
    if docs and "id_doc" in scopes:
        out["rIdDoc"] = docs[0]["id"]
    out["eTag"] = etag(out)
    return out


def kid(p: Persona, kid_scopes: set[str]) -> dict[str, Any]:
    """A kid element (esia.yaml `Kid`, our reading): fields per `kid_*` scope."""
    mapped = {KID_SCOPES[s] for s in kid_scopes if s in KID_SCOPES}
    out: dict[str, Any] = {"stateFacts": ["Identifiable"], "id": int(p["oid"]), "oid": int(p["oid"])}
    for scope, fields in PERSON_FIELD_SCOPES.items():
        if scope in mapped:
            for f in fields:
                if p.get(f):
                    out[f] = p[f]
    out["eTag"] = etag(out)
    return out


def organisation(p: Persona) -> dict[str, Any]:
    out: dict[str, Any] = {"stateFacts": ["EntityRoot"], "oid": int(p["oid"]),
                           "shortName": p.get("shortName") or p.get("name", ""),
                           "fullName": p.get("fullName") or p.get("name", ""),
                           "type": p.get("type", "AGENCY"), "ogrn": p.get("ogrn", ""),
                           "trusted": bool(p.get("trusted", True))}
    for k in ("inn", "kpp"):
        if p.get(k):
            out[k] = p[k]
    out["eTag"] = etag(out)
    return out


def role_org_oid(role: dict[str, Any]) -> int | None:
    for key in ("oid", "org_oid", "org", "organisation_oid", "orgOid"):
        if role.get(key) is not None:
            try:
                return int(role[key])
            except (TypeError, ValueError):
                return None
    return None


def role(person_oid: int, r: dict[str, Any], org: Persona | None) -> dict[str, Any]:
    name = (org or {}).get("name") or r.get("fullName") or r.get("name") or ""
    return {"oid": role_org_oid(r) or 0, "prnOid": person_oid,
            "fullName": (org or {}).get("fullName") or name,
            "shortName": (org or {}).get("shortName") or r.get("shortName") or name,
            "ogrn": str(r.get("ogrn") or (org or {}).get("ogrn") or ""),
            "chief": bool(r.get("chief", False)), "admin": bool(r.get("admin", False)),
            **({"position": r["position"]} if r.get("position") else {})}


def collection(base: str, path: str, elements: list[dict[str, Any]], embed: bool,
               id_key: str = "id") -> dict[str, Any]:
    items: list[Any] = elements if embed else [f"{base}{path}/{e[id_key]}" for e in elements]
    out = {"stateFacts": ["hasSize"], "size": len(elements), "elements": items}
    out["eTag"] = etag(out)
    return out
