"""Person REST (`/rs/prns/{oid}...`, `/rs/orgs/{oid}`) over the core, no HTTP here.

Access rules (esia.yaml `RestForbidden`, PROTOCOLS.md §1.8):
- the token's subject reads itself with its person scopes;
- a parent reads their own kids (`/rs/prns/{kid}` and the kid's `/docs`, `/ctts`) with the
  `kid_*` scopes, which map onto the person scopes (`kid_fullname` → `fullname`, ...);
- anyone else's oid: 403; an oid that does not exist: 404 (checked before 403).
Scope per resource (403 `insufficient_scope`, ESIA-007019 when missing): `/ctts` e-mail,
mobile or contacts; `/addrs` addresses; `/docs` any document scope; `/kids` any `kid_*`;
`/kids/{id}/docs` kid_birth_cert_doc; `/roles`, `/orgs`, `/rs/orgs/{oid}` usr_org.
`/rs/prns/{oid}` itself needs no particular scope: its fields follow the scopes.

`embed` (PROTOCOLS.md §1.8, §8.2): `(elements)` on a collection gives its elements inline;
on `/rs/prns/{oid}`, `(contacts.elements,addresses.elements,documents.elements)` adds those
collections to the person (`contacts`, `addresses`, `documents`; without `.elements` as
links). Our reading: a collection the token has no scope for is left out, unknown names are
ignored, as real clients ask for more than they may read.
"""
from __future__ import annotations

from typing import Any

from mocks.esia import people
from mocks.esia.core import EsiaCore, scope_names
from mocks.esia.errors import EsiaError


def _forbidden(text: str) -> EsiaError:
    return EsiaError("007019", f"noGrants: {text}", status=403, error="insufficient_scope")


def _not_found(text: str) -> EsiaError:
    return EsiaError("007003", f"not found: {text}", status=404, error="not_found")


def _need(scopes: set[str], any_of: set[str] | frozenset[str], what: str) -> None:
    if not scopes & set(any_of):
        raise _forbidden(f"the token has no scope for {what} (one of {', '.join(sorted(any_of))})")


def _effective_scopes(core: EsiaCore, claims: dict[str, Any], oid: int) -> set[str]:
    """Person scopes the token grants over `oid` (self, or a kid through kid_* scopes)."""
    scopes = scope_names(claims.get("scope", ""))
    subject = claims["urn:esia:sbj_id"]
    if oid == subject:
        return scopes
    if oid in core.kids_of(subject):
        kid_scopes = {people.KID_SCOPES[s] for s in scopes if s in people.KID_SCOPES}
        if not kid_scopes:
            raise _forbidden("the token has no kid_* scope for this child")
        return kid_scopes
    raise _forbidden("the person is neither the token's subject nor one of its children")


# Person sub-collections: path segment -> (name in a nested embed, scopes that open it).
SUBCOLLECTIONS = {"ctts": ("contacts", frozenset({"email", "mobile", "contacts"})),
                  "addrs": ("addresses", frozenset({"addresses"})),
                  "docs": ("documents", people.DOCS_ANY_SCOPE)}


def parse_embed(value: str | None) -> frozenset[str]:
    """`(a,b.elements)` -> {"a", "b.elements"}; anything else -> empty."""
    value = (value or "").strip()
    if not (value.startswith("(") and value.endswith(")")):
        return frozenset()
    return frozenset(x.strip() for x in value[1:-1].split(",") if x.strip())


def _sub_items(persona: dict[str, Any], what: str, eff: set[str]) -> list[dict[str, Any]]:
    _need(eff, SUBCOLLECTIONS[what][1], SUBCOLLECTIONS[what][0])
    if what == "ctts":
        return [c for c in people.contacts(persona) if people.contact_visible(c, eff)]
    if what == "addrs":
        return people.addresses(persona)
    return [d for d in people.documents(persona) if people.doc_visible(d, eff)]


def handle(core: EsiaCore, claims: dict[str, Any], parts: list[str], embed: frozenset[str],
           base: str) -> dict[str, Any]:
    """`parts` are the path segments after `/rs/`; `embed` the names of `?embed=(...)`;
    returns the JSON body or raises."""
    inline = "elements" in embed
    if len(parts) < 2 or parts[0] not in ("prns", "orgs"):
        raise _not_found("no such resource")
    try:
        oid = int(parts[1])
    except ValueError:
        raise _not_found("oid must be a number") from None
    subject = claims["urn:esia:sbj_id"]
    scopes = scope_names(claims.get("scope", ""))
    persona = core.persona(oid)
    if parts[0] == "orgs":
        if persona is None or persona.get("kind") != "organisation" or len(parts) != 2:
            raise _not_found(f"organisation {oid}")
        _need(scopes, {"usr_org"}, "organisations")
        me = core.persona(subject) or {}
        if oid not in {people.role_org_oid(r) for r in me.get("roles") or []}:
            raise _forbidden("the token's subject does not belong to this organisation")
        return people.organisation(persona)
    if persona is None or persona.get("kind") == "organisation":
        raise _not_found(f"person {oid}")
    eff = _effective_scopes(core, claims, oid)
    prefix = f"/rs/prns/{oid}"
    rest = parts[2:]
    if not rest:
        body = people.person(persona, eff)
        for what, (name, _) in SUBCOLLECTIONS.items():
            if name in embed or f"{name}.elements" in embed:
                try:
                    items = _sub_items(persona, what, eff)
                except EsiaError:
                    continue
                body[name] = people.collection(base, f"{prefix}/{what}", items,
                                               f"{name}.elements" in embed)
        return body
    what, tail = rest[0], rest[1:]
    if what in SUBCOLLECTIONS:
        items = _sub_items(persona, what, eff)
    elif what == "kids":
        if oid != subject:
            raise _forbidden("only the token's subject lists its children")
        kid_scopes = {s for s in scopes if s.startswith("kid_")}
        _need(scopes, set(people.KID_SCOPES), "children")
        kids = [core.persona(k) for k in core.kids_of(oid)]
        items = [people.kid(k, kid_scopes) for k in kids if k is not None]
        if tail:
            kid_oid = _element_id(tail[0])
            if kid_oid not in core.kids_of(oid):
                raise _not_found("no such child")
            if tail[1:] == ["docs"]:
                _need(scopes, {"kid_birth_cert_doc"}, "children's documents")
                kp = core.persona(kid_oid) or {}
                docs = [d for d in people.documents(kp) if people.doc_visible(d, {"birth_cert_doc"})]
                return people.collection(base, f"{prefix}/kids/{kid_oid}/docs", docs, inline)
            if len(tail) > 1:
                raise _not_found("no such resource")
            return next(k for k in items if k["id"] == kid_oid)
        return people.collection(base, f"{prefix}/kids", items, inline)
    elif what == "roles":
        if tail:
            raise _not_found("no such resource")
        _need(eff, {"usr_org"}, "roles")
        roles = [people.role(oid, r, core.persona(people.role_org_oid(r) or 0))
                 for r in persona.get("roles") or []]
        out = {"stateFacts": ["hasSize"], "size": len(roles), "elements": roles}
        out["eTag"] = people.etag(out)
        return out
    elif what == "orgs":
        if tail:
            raise _not_found("no such resource")
        _need(eff, {"usr_org"}, "organisations")
        orgs = []
        for r in persona.get("roles") or []:
            org = core.persona(people.role_org_oid(r) or 0)
            orgs.append(people.organisation(org) if org else
                        {"oid": people.role_org_oid(r) or 0, "ogrn": str(r.get("ogrn", "")),
                         "fullName": r.get("fullName", ""), "eTag": people.etag(r)})
        items_out: list[Any] = orgs if inline else [f"{base}/rs/orgs/{o['oid']}" for o in orgs]
        out = {"stateFacts": ["hasSize"], "size": len(orgs), "elements": items_out}
        out["eTag"] = people.etag(out)
        return out
    else:
        raise _not_found("no such resource")
    if tail:
        if len(tail) != 1:
            raise _not_found("no such resource")
        wanted = _element_id(tail[0])
        for item in items:
            if item["id"] == wanted:
                return item
        raise _not_found("no such element")
    return people.collection(base, f"{prefix}/{what}", items, inline)


def _element_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _not_found("element id must be a number") from None
