"""Real clients, unmodified, against the mocks over loopback sockets (PROTOCOLS.md §8.2):
BARS `smev-agent-client` through the ПОДД agent, BARS `uploader-client` to the showcase in its
base configuration and through the Datamart Studio proxy, and `esia-connector`'s v1 flow
(PKCS#7 by `openssl smime`, PyJWT validation with ЕСИА's certificate key)."""
from __future__ import annotations

import pytest

from mocks.common.transports import ServerThread

DATAMART = "myedu"
SOURCE = "MNSV03"
OGRN = "1026200937729"
ADDRESS_HEADER = ("id;use_address;type_address;text;city;district;state;postal_code;country;start_datetime;"
                  "end_datetime;flat;building;house;street;create_datetime;send_datetime")
ADDRESS = (ADDRESS_HEADER + "\n"
           '"EZ1-A1";"2";"4";"г. Тверь, ул. Советская, д. 1";"Тверь";;"Тверская обл.";"170100";"Россия";'
           ';;;;"1";"ул. Советская";"2025-09-01 08:00:00";"2025-09-01 08:05:00"\n')
ADDRESS_BAD = ADDRESS.replace('"170100"', '"17A100"')          # a postal code ФЛК refuses
ADDRESS_KEY = ADDRESS_HEADER + '\n"EZ1-A1";;;;;;;;;;;;;;;"2025-09-01 08:00:00";"2025-09-01 08:10:00"\n'


@pytest.fixture
def showcase():
    from mocks.epgu import create_app
    from mocks.epgu.showcase import STAGES
    app = create_app(delays={s: 0 for s in STAGES})
    app.state.showcase.register_source(SOURCE, [DATAMART])
    with ServerThread(app) as url:
        yield app, url
    app.state.showcase.close()


def test_smev_agent_client_uploads_is_refused_and_deletes(drive):
    from mocks.epgu.showcase import STAGES, Showcase
    from mocks.smev import create_app
    sc = Showcase(delays={s: 0 for s in STAGES})
    try:
        with ServerThread(create_app(sc)) as url:
            out = drive("smev", agent_url=url, mnemonic=SOURCE, calls={
                "upload": ["post", "address", ADDRESS], "refused": ["post", "address", ADDRESS_BAD],
                "delete": ["delete", "address", ADDRESS_KEY]})
        assert out["upload"]["status"] == 200 and not out["upload"]["error"]
        assert out["refused"]["status"] == 400 and out["refused"]["error"]
        assert out["delete"]["status"] == 200
        assert sc.status(out["upload"]["request_id"])["code"] == 3
        assert sc.request(out["delete"]["request_id"])["operation"] == "delete"
        assert sc.rows("address", limit=10)[0] == 0      # uploaded, then deleted
    finally:
        sc.close()


def test_uploader_client_base_configuration(drive, showcase):
    app, url = showcase
    out = drive("uploader", url=url, datamart=DATAMART, calls={
        "upload": ["upload", "address", ADDRESS], "flk": ["upload", "address", ADDRESS_BAD],
        "delete": ["delete", "address", ADDRESS_KEY], "unknown_table": ["upload", "pupils", ADDRESS]})
    assert out["upload"]["status"] == 200 and out["upload"]["codes"][-1] == 3
    assert out["flk"]["status"] == 200 and out["flk"]["codes"][-1] == 7
    assert out["delete"]["status"] == 200 and out["delete"]["codes"][-1] == 3
    assert out["unknown_table"]["status"] == 400 and out["unknown_table"]["error"]
    sc = app.state.showcase
    assert sc.request(out["upload"]["request_id"])["source"] == SOURCE    # no header: the datamart's source
    assert sc.rows("address", limit=10)[0] == 0


def test_uploader_client_through_the_datamart_studio_proxy(drive, showcase):
    import httpx
    app, url = showcase
    assert httpx.post(f"{url}/_admin/iam/users", json={"username": "ezhd", "password": "iam-pass",
                                                       "source": SOURCE, "organization_ogrn": OGRN}).status_code == 201
    args = dict(url=url, datamart=DATAMART, ogrn=OGRN, installation_name="ezhd", installation_id="7",
                username="ezhd", password="iam-pass")
    out = drive("uploader-proxy", calls={"upload": ["upload", "address", ADDRESS],
                                         "delete": ["delete", "address", ADDRESS_KEY]}, **args)
    assert out["upload"]["status"] == 200 and out["upload"]["codes"][-1] == 3, out
    assert out["upload"]["url"].startswith(f"{url}/api/v1/secure/{OGRN}/{DATAMART}/ezhd/7/v2/datamarts/")
    assert out["delete"]["codes"][-1] == 3 and out["token_requests"] == 1     # one token, cached
    assert app.state.showcase.request(out["upload"]["request_id"])["source"] == SOURCE
    wrong = drive("uploader-proxy", calls={"upload": ["upload", "address", ADDRESS]}, **{**args, "password": "no"})
    assert wrong["upload"]["status"] == 401 and wrong["token_requests"] == 0


def test_esia_connector_completes_its_v1_flow(drive, tmp_path):
    import shutil

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from mocks.esia import create_app
    from mocks.esia.testing import make_client_credentials
    if shutil.which("openssl") is None:
        pytest.skip("esia-connector signs with the openssl binary, which is absent")
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "mocks"))
    from esia_helpers import PARENT, REDIRECT, family
    key, pem = make_client_credentials("EZHD01")
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_text(pem)
    app = create_app()
    app.state.core.register_client("EZHD01", pem, [REDIRECT])
    app.state.core.load_personas(family())
    with ServerThread(app) as url:
        import httpx
        cert = x509.load_pem_x509_certificate(httpx.get(f"{url}/.well-known/esia-signing-certificate").content)
        (tmp_path / "esia.pub").write_bytes(cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        out = drive("esia-connector", client_id="EZHD01", redirect_uri=REDIRECT, esia_url=url,
                    certificate_file=str(tmp_path / "cert.pem"), key_file=str(tmp_path / "key.pem"),
                    token_check_key=str(tmp_path / "esia.pub"), scope="openid fullname snils email mobile id_doc",
                    username="112-233-445 95", password="esia")
    assert out["stage"] == "done", out
    assert out["oid"] == PARENT and out["person"]["lastName"] == "Иванова"
    assert {c["type"] for c in out["contacts"]["elements"]} == {"EML", "MBT"}
    assert out["documents"]["elements"][0]["type"] == "RF_PASSPORT"
