"""The FREE-01 check's own licence reading (conformance/free/test_sbom.py): SPDX expressions
and CycloneDX licence entries against specs/free_licences.yaml."""
from __future__ import annotations

import pytest

from conformance.free.test_sbom import free_expression, licence_problem


@pytest.mark.parametrize("expression, free", [
    ("MIT", True), ("mit", True), ("Apache-2.0 OR BSD-3-Clause", True), ("(MIT AND LicenseRef-x) OR BSD-2-Clause", True),
    ("MIT AND LicenseRef-proprietary", False), ("GPL-2.0-or-later WITH Classpath-exception-2.0", True),
    ("GPL-2.0+", True), ("LicenseRef-proprietary", False), ("NOASSERTION", False), ("MIT OR", False),
    ("", False), ("(MIT", False),
])
def test_expressions(expression, free):
    assert free_expression(expression) is free


@pytest.mark.parametrize("licences, ok", [
    ([{"expression": "MIT"}], True),
    ([{"license": {"id": "PSF-2.0"}}], True),
    ([{"license": {"name": "Public Domain (blessing)"}}], True),
    ([{"license": {"name": "OSI Approved: BSD License"}}], True),
    ([{"license": {"id": "LicenseRef-proprietary", "name": "КриптоПро CSP EULA (proprietary)"}}], False),
    ([{"license": {"name": "NOASSERTION"}}], False),
    ([], False), (None, False),
])
def test_licence_entries(licences, ok):
    assert (licence_problem(licences) is None) is ok


def test_nested_components_are_checked_too():
    from conformance.free.test_sbom import _components

    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"name": "httpx", "version": "0.27", "licenses": [{"license": {"id": "BSD-3-Clause"}}],
         "components": [{"name": "КриптоПро CSP", "version": "5.0",
                         "licenses": [{"license": {"name": "Proprietary"}}]}]},
        {"name": "SQLite", "licenses": [{"license": {"name": "Public Domain (blessing)"}}]}]}
    found = dict(_components(doc))
    assert list(found) == ["httpx 0.27", "httpx 0.27 / КриптоПро CSP 5.0", "SQLite"]
    assert found["httpx 0.27"] is None and found["SQLite"] is None
    assert "Proprietary" in found["httpx 0.27 / КриптоПро CSP 5.0"]


CYCLONEDX_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
  <components>
    <component type="library"><name>httpx</name><version>0.27</version>
      <licenses><license><id>BSD-3-Clause</id></license></licenses>
      <components><component type="library"><name>CryptoPro CSP</name><version>5.0</version>
        <licenses><license><name>Proprietary</name></license></licenses></component></components>
    </component>
    <component type="library"><name>psycopg</name><licenses><expression>LGPL-3.0-only</expression></licenses></component>
  </components>
</bom>"""

SPDX_TAG_VALUE = """SPDXVersion: SPDX-2.3
DataLicense: CC0-1.0
PackageName: Npgsql
PackageVersion: 8.0.3
PackageLicenseConcluded: PostgreSQL
PackageName: ClosedLib
PackageVersion: 1.0
PackageLicenseConcluded: NOASSERTION
PackageLicenseDeclared: LicenseRef-Commercial
"""


def test_a_cyclonedx_xml_and_an_spdx_tag_value_sbom_are_read_like_their_json_forms():
    from conformance.free.test_sbom import _components, parse_sbom

    found = dict(_components(parse_sbom(CYCLONEDX_XML, "x")))
    assert list(found) == ["httpx 0.27", "httpx 0.27 / CryptoPro CSP 5.0", "psycopg"]
    assert found["httpx 0.27"] is None and found["psycopg"] is None and "Proprietary" in found["httpx 0.27 / CryptoPro CSP 5.0"]
    found = dict(_components(parse_sbom(SPDX_TAG_VALUE, "x")))
    assert found["Npgsql 8.0.3"] is None and "LicenseRef-Commercial" in found["ClosedLib 1.0"]


def test_an_sbom_in_no_known_format_is_named_as_such():
    from conformance.free.test_sbom import parse_sbom

    with pytest.raises(AssertionError, match="neither CycloneDX"):
        parse_sbom("name,version,licence\nhttpx,0.27,BSD\n", "http://j/sbom.csv")


def test_a_missing_document_names_the_sut_toml_key_that_would_point_elsewhere(monkeypatch):
    import httpx

    from conformance import clients, evidence

    transport = httpx.MockTransport(lambda request: httpx.Response(404 if request.url.path == "/sbom.json" else 500))
    monkeypatch.setattr(evidence, "client", lambda label, **kw: httpx.Client(transport=transport))
    with pytest.raises(AssertionError) as caught:
        clients.fetch("http://journal.test/sbom.json", "the SBOM", "sbom_url")
    assert "HTTP 404" in str(caught.value) and "[journal] sbom_url in sut.toml" in str(caught.value)
    with pytest.raises(AssertionError) as caught:
        clients.fetch("http://journal.test/other", "the SBOM", "sbom_url")
    assert "HTTP 500" in str(caught.value) and "sut.toml" not in str(caught.value)
