"""Mock ЕСИА answers validate against the schemas of specs/openapi/esia.yaml."""
from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from esia_helpers import CHILD, PARENT, tokens_for
from mocks.esia import spec


def validate(instance, name: str) -> None:
    doc = spec.document()
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_answers_match_the_openapi_schemas(esia, http):
    scope = "openid fullname birthdate gender snils id_doc email mobile kid_fullname kid_birthdate kid_snils"
    tok = tokens_for(http, esia.signer, "112-233-445 95", scope=scope)
    validate(tok, "TokenResponse")
    validate(payload(tok["id_token"]), "IdTokenClaims")
    validate(payload(tok["access_token"]), "AccessTokenClaims")
    auth = {"Authorization": f"Bearer {tok['access_token']}"}
    validate(http.get(f"/rs/prns/{PARENT}", headers=auth).json(), "Person")
    for path, name in (("ctts", "ContactsCollection"), ("docs", "DocumentsCollection"),
                       ("kids", "KidsCollection")):
        for q in ("", "?embed=(elements)"):
            validate(http.get(f"/rs/prns/{PARENT}/{path}{q}", headers=auth).json(), name)
    validate(http.get(f"/rs/prns/{PARENT}/kids/{CHILD}", headers=auth).json(), "Kid")
    validate(http.get(f"/rs/prns/{PARENT}?embed=(contacts.elements,addresses.elements,documents.elements)",
                      headers=auth).json(), "Person")
    http.patch("/_admin/settings", json={"publish_jwks": True})
    validate(http.get("/.well-known/jwks.json").json(), "Jwks")
    err = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form("nope", scope="openid")).json()
    validate(err, "OAuthError")
    validate(http.get(f"/rs/prns/{PARENT}/addrs", headers=auth).json(), "RestError")


@pytest.mark.parametrize("code", sorted(spec.error_codes()))
def test_every_code_has_an_oauth_error_from_the_spec(code):
    assert spec.oauth_error(code) in spec.document()["components"]["schemas"]["OAuthErrorCode"]["enum"]
