"""The SUT declaration: conformance/sut.py, specs/schemas/sut.schema.json, `ezhd sut check`."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conformance.cli import main
from conformance.sut import (REDACTED, Sut, SutError, known_features, load_sut,
                             reference_sut)
from specs.requirements import load_requirements

EXAMPLE = Path(__file__).resolve().parents[1] / "conformance" / "examples" / "sut.example.toml"
TOKEN = "s3cret-token-value-0123456789"


def _key_and_cert(days: int = 30, ago: int = 1) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EZHD01")])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=ago)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def creds(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    key, cert = _key_and_cert()
    (d / "journal.cert.pem").write_bytes(cert)
    (d / "journal.key.pem").write_bytes(_key_pem(key))
    return d / "journal.cert.pem", d / "journal.key.pem"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("EZHD_TEST_CONTROL_TOKEN", TOKEN)


def _example(tmp_path: Path, creds, edit=lambda text: text) -> Path:
    """A copy of the example with the generated certificate and key (relative paths)."""
    (tmp_path / "keys").mkdir(exist_ok=True)
    for src in creds:
        (tmp_path / "keys" / src.name).write_bytes(src.read_bytes())
    path = tmp_path / "sut.toml"
    path.write_text(edit(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def _problems(path: Path, **kw) -> list[str]:
    with pytest.raises(SutError) as info:
        load_sut(path, **kw)
    for p in info.value.problems:
        assert p in str(info.value)
    return info.value.problems


def test_the_example_with_a_generated_certificate_loads(tmp_path, creds, env):
    sut = load_sut(_example(tmp_path, creds))
    assert isinstance(sut, Sut)
    assert sut.base_url == "https://journal.example.ru"
    assert sut.esia.client_id == "EZHD01"
    assert sut.esia.certificate == tmp_path / "keys" / "journal.cert.pem"
    assert sut.esia.private_key == tmp_path / "keys" / "journal.key.pem"
    assert sut.agent.mnemonic == "MNSV03" and sut.agent.channels == ("edu-upload",)
    assert sut.agent.datamart == "myedu"
    assert sut.features == frozenset() and not sut.declares("paid_content")
    assert sut.test_control is not None and sut.test_control.token == TOKEN
    assert sut.test_control.token_env == "EZHD_TEST_CONTROL_TOKEN"
    assert TOKEN not in repr(sut)
    with pytest.raises(AttributeError):
        sut.base_url = "x"  # frozen


def test_the_example_documents_every_schema_key_in_english_and_russian():
    schema = json.loads((Path(__file__).resolve().parents[1] / "specs/schemas/sut.schema.json")
                        .read_text(encoding="utf-8"))
    text = EXAMPLE.read_text(encoding="utf-8")
    for table, sub in schema["properties"].items():
        assert f"[{table}]" in text
        for key in sub.get("properties", {}):
            assert f"{key} = " in text, f"{table}.{key} missing from the example"
    assert "Мнемоника" in text and "mnemonic" in text


def test_every_schema_problem_is_listed_at_once(tmp_path, creds, env):
    def edit(text: str) -> str:
        text = text.replace('client_id = "EZHD01"\n', "")            # missing
        text = text.replace('mnemonic = "MNSV03"', 'mnemonic = "mn"')  # bad pattern
        return text.replace("datamart =", "datamrt =")                # typo
    problems = _problems(_example(tmp_path, creds, edit))
    assert len(problems) == 3, problems
    joined = "\n".join(problems)
    assert any(p.startswith("esia.client_id: required") for p in problems)
    assert any(p.startswith("agent.mnemonic: 'mn' is not valid") for p in problems)
    assert any(p.startswith("agent.datamrt: unknown key") and "did you mean datamart" in p
               for p in problems), joined


def test_cross_table_problems_are_listed_too(tmp_path, creds, env):
    def edit(text: str) -> str:
        text = text.replace('channels = ["edu-upload"]', 'channels = []')
        text = text.replace('"https://journal.example.ru/auth/esia/callback"',
                            '"https://evil.example.com/cb"')
        return text.replace('base_url = "https://journal.example.ru"', 'base_url = "ftp://x"')
    problems = _problems(_example(tmp_path, creds, edit))
    keys = sorted(p.split(":", 1)[0] for p in problems)
    assert keys == ["agent.channels", "journal.base_url"], problems  # host check needs a valid base_url


def test_redirect_uri_must_be_on_the_journal_host(tmp_path, creds, env):
    problems = _problems(_example(tmp_path, creds, lambda t: t.replace(
        "https://journal.example.ru/auth/esia/signed-out", "https://other.example.ru/out")))
    assert len(problems) == 1
    assert problems[0].startswith("esia.logout_redirect_uri: host 'other.example.ru'")


def test_unknown_feature_is_refused_naming_the_known_ones(tmp_path, creds, env):
    problems = _problems(_example(tmp_path, creds, lambda t: t.replace(
        "paid_content = false", "paid_contnet = true")))
    assert len(problems) == 1
    assert problems[0].startswith("features.paid_contnet: unknown feature")
    assert "did you mean paid_content" in problems[0]
    for name in load_requirements().features:
        assert name in problems[0]


def test_feature_names_come_from_requirements_yaml(tmp_path, creds, env):
    assert set(known_features()) == set(load_requirements().features)
    sut = load_sut(_example(tmp_path, creds, lambda t: t.replace(
        "paid_content = false", "paid_content = true")))
    assert sut.declares("paid_content")
    problems = _problems(_example(tmp_path, creds, lambda t: t.replace(
        "paid_content = false", 'paid_content = "yes"')))
    assert problems[0].startswith("features.paid_content: must be true or false")


def test_key_not_matching_the_certificate(tmp_path, creds, env):
    path = _example(tmp_path, creds)
    other, _ = _key_and_cert()
    (tmp_path / "keys" / "journal.key.pem").write_bytes(_key_pem(other))
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith("esia.private_key:") and "does not match the certificate" in problems[0]


def test_private_key_is_optional(tmp_path, creds, env):
    sut = load_sut(_example(tmp_path, creds, lambda t: t.replace(
        'private_key = "keys/journal.key.pem"\n', "")))
    assert sut.esia.private_key is None
    assert "private_key" not in sut.redacted()["esia"]


def test_missing_and_unparsable_files(tmp_path, creds, env):
    path = _example(tmp_path, creds, lambda t: t.replace("keys/journal.cert.pem", "keys/nope.pem"))
    (tmp_path / "keys" / "journal.key.pem").write_text("not a key")
    problems = _problems(path)
    assert len(problems) == 2
    assert problems[0].startswith("esia.certificate: file not found:") and "nope.pem" in problems[0]
    assert problems[1].startswith("esia.private_key:") and "not a PEM private key" in problems[1]
    assert _problems(tmp_path / "absent.toml")[0].endswith(
        "file not found — give the path of a sut.toml (see conformance/examples/sut.example.toml)")


def test_expired_certificate(tmp_path, creds, env):
    path = _example(tmp_path, creds, lambda t: t.replace('private_key = "keys/journal.key.pem"\n', ""))
    key, cert = _key_and_cert(days=5, ago=10)
    (tmp_path / "keys" / "journal.cert.pem").write_bytes(cert)
    assert "expired" in _problems(path)[0]


def test_token_env_unset(tmp_path, creds, monkeypatch):
    monkeypatch.delenv("EZHD_TEST_CONTROL_TOKEN", raising=False)
    problems = _problems(_example(tmp_path, creds))
    assert len(problems) == 1
    assert problems[0].startswith("test_control.token_env: environment variable "
                                  "EZHD_TEST_CONTROL_TOKEN is not set")
    sut = load_sut(_example(tmp_path, creds), environ={"EZHD_TEST_CONTROL_TOKEN": "t"})
    assert sut.test_control.token == "t"


def test_token_in_the_file_and_exactly_one_of_the_two(tmp_path, creds, env):
    sut = load_sut(_example(tmp_path, creds, lambda t: t.replace(
        'token_env = "EZHD_TEST_CONTROL_TOKEN"', f'token = "{TOKEN}"')))
    assert sut.test_control.token == TOKEN and sut.test_control.token_env is None
    both = _problems(_example(tmp_path, creds, lambda t: t.replace(
        'token_env = "EZHD_TEST_CONTROL_TOKEN"', f'token_env = "X"\ntoken = "{TOKEN}"')))
    assert len(both) == 1 and both[0].startswith("test_control.token_env: both token and token_env")
    assert TOKEN not in both[0]
    neither = _problems(_example(tmp_path, creds, lambda t: t.replace(
        'token_env = "EZHD_TEST_CONTROL_TOKEN"', "")))
    assert len(neither) == 1 and "no token given" in neither[0]


def test_test_control_table_is_optional(tmp_path, creds, env):
    sut = load_sut(_example(tmp_path, creds, lambda t: t[:t.index("[test_control]")]))
    assert sut.test_control is None
    assert "test_control" not in sut.redacted()


@pytest.mark.parametrize("use_env", [True, False])
def test_redacted_never_contains_the_token(tmp_path, creds, env, use_env):
    edit = (lambda t: t) if use_env else (lambda t: t.replace(
        'token_env = "EZHD_TEST_CONTROL_TOKEN"', f'token = "{TOKEN}"'))
    sut = load_sut(_example(tmp_path, creds, edit))
    red = sut.redacted()
    text = json.dumps(red, ensure_ascii=False)
    assert TOKEN not in text and TOKEN not in sut.summary() and TOKEN not in repr(sut)
    assert red["test_control"]["token"] == REDACTED
    assert red["esia"]["private_key"] == str(tmp_path / "keys" / "journal.key.pem")
    assert "BEGIN" not in text  # paths only, no key or certificate material


def test_invalid_toml_is_one_problem(tmp_path):
    path = tmp_path / "sut.toml"
    path.write_text("[journal\nbase_url = 1\n")
    problems = _problems(path)
    assert len(problems) == 1 and "not valid TOML" in problems[0]


def test_reference_sut(creds):
    cert, key = creds
    sut = reference_sut("http://127.0.0.1:8000/", cert, key, test_control_token=TOKEN)
    assert sut.base_url == "http://127.0.0.1:8000"
    assert sut.esia.redirect_uri == "http://127.0.0.1:8000/auth/esia/callback"
    assert sut.esia.logout_redirect_uri == "http://127.0.0.1:8000/auth/esia/signed-out"
    assert sut.agent.mnemonic == "MNSV03"
    assert sut.agent.channels == ("edu-upload", "showcase")
    assert sut.features == frozenset()  # the reference journal has no paid content
    assert sut.test_control.url == "http://127.0.0.1:8000/test-control/v1"
    assert sut.redacted()["source"] == "reference"
    other, _ = _key_and_cert()
    bad = cert.parent / "other.key.pem"
    bad.write_bytes(_key_pem(other))
    with pytest.raises(SutError, match="does not match"):
        reference_sut("http://127.0.0.1:8000", cert, bad)


# --- CLI ---------------------------------------------------------------------------------

def test_cli_ok(tmp_path, creds, env, capsys):
    assert main(["sut", "check", str(_example(tmp_path, creds))]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "ok" and len(lines) == 2
    assert "https://journal.example.ru" in lines[1] and "MNSV03" in lines[1]
    assert TOKEN not in out and err == ""


def test_cli_json(tmp_path, creds, env, capsys):
    assert main(["sut", "check", "--json", str(_example(tmp_path, creds))]) == 0
    red = json.loads(capsys.readouterr().out)
    assert red["test_control"]["token"] == REDACTED


def test_cli_problems_exit_2_one_per_line_no_traceback(tmp_path, creds, env, capsys):
    def edit(text: str) -> str:
        text = text.replace('client_id = "EZHD01"\n', "")
        text = text.replace('mnemonic = "MNSV03"', 'mnemonic = "mn"')
        return text.replace("paid_content = false", "paid_contnet = true")
    assert main(["sut", "check", str(_example(tmp_path, creds, edit))]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 4 and "3 problems" in lines[0]
    assert [line.strip().split(":", 1)[0] for line in lines[1:]] == \
        ["agent.mnemonic", "esia.client_id", "features.paid_contnet"]
    assert "Traceback" not in err


def test_cli_missing_file_exit_2(tmp_path, capsys):
    assert main(["sut", "check", str(tmp_path / "nope.toml")]) == 2
    out, err = capsys.readouterr()
    assert "file not found" in err and "Traceback" not in err


def test_a_token_pasted_into_token_env_is_not_echoed(tmp_path, creds, env):
    problems = _problems(_example(tmp_path, creds, lambda t: t.replace(
        'token_env = "EZHD_TEST_CONTROL_TOKEN"', f'token_env = "{TOKEN}"')))
    assert len(problems) == 1 and problems[0].startswith("test_control.token_env: the value is not valid")
    assert TOKEN not in problems[0]


# --- journal URLs and the driver ---------------------------------------------------------------

def test_journal_urls_default_to_the_reference_paths_under_base_url(tmp_path, creds, env):
    sut = load_sut(_example(tmp_path, creds))
    base = "https://journal.example.ru"
    assert sut.urls() == {"base_url": base, "sign_in_url": base + "/auth/esia/login",
                          "sign_out_url": base + "/auth/esia/logout", "link_url": base + "/auth/esia/link",
                          "openapi_url": base + "/api/v1/openapi.yaml", "sbom_url": base + "/sbom.json"}
    assert sut.redacted()["journal"] == sut.urls()
    assert sut.driver is None and "driver" not in sut.redacted()


def test_journal_urls_can_be_declared(tmp_path, creds, env):
    def edit(text: str) -> str:
        return (text.replace('# sign_in_url = "https://journal.example.ru/auth/esia/login"',
                             'sign_in_url = "https://journal.example.ru/esia/start"')
                .replace('# openapi_url = "https://journal.example.ru/api/v1/openapi.yaml"',
                         'openapi_url = "https://docs.example.ru/journal.yaml"'))
    sut = load_sut(_example(tmp_path, creds, edit))
    assert sut.sign_in_url == "https://journal.example.ru/esia/start"
    assert sut.openapi_url == "https://docs.example.ru/journal.yaml"
    assert sut.sign_out_url == "https://journal.example.ru/auth/esia/logout"   # still the default
    problems = _problems(_example(tmp_path, creds, lambda t: t.replace(
        '# sbom_url = "https://journal.example.ru/sbom.json"', 'sbom_url = "sbom.json"')))
    assert len(problems) == 1 and problems[0].startswith("journal.sbom_url: 'sbom.json' is not valid")


def _with_driver(lines: str):
    return lambda t: t.replace("[test_control]", f"[driver]\n{lines}\n\n[test_control]")


def test_the_driver_table(tmp_path, creds, env, monkeypatch):
    monkeypatch.setenv("EZHD_JOURNAL_ADMIN_PASSWORD", "pw-secret-123")
    sut = load_sut(_example(tmp_path, creds, _with_driver(
        'class = "conformance.driver:ReferenceDriver"\nadmin_login = "admin"\n'
        'admin_password_env = "EZHD_JOURNAL_ADMIN_PASSWORD"')))
    assert sut.driver.class_ref == "conformance.driver:ReferenceDriver"
    assert sut.redacted()["driver"] == {"class": "conformance.driver:ReferenceDriver", "admin_login": "admin",
                                        "admin_password_env": "EZHD_JOURNAL_ADMIN_PASSWORD"}
    assert "pw-secret-123" not in json.dumps(sut.redacted()) + sut.summary() + repr(sut)
    assert "driver conformance.driver:ReferenceDriver" in sut.summary()
    from conformance.runfile import driver_entry, journal_entry

    assert driver_entry(sut) == sut.redacted()["driver"]
    assert journal_entry(sut)["link_url"] == "https://journal.example.ru/auth/esia/link"
    assert journal_entry(sut)["mnemonic"] == "MNSV03"


def test_driver_problems_are_listed_with_the_others(tmp_path, creds, env, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD_VAR", raising=False)
    problems = _problems(_example(tmp_path, creds, lambda t: _with_driver(
        'class = "no_such_vendor.driver:Driver"\nadmin_password_env = "NO_SUCH_PASSWORD_VAR"')(
        t.replace('mnemonic = "MNSV03"', 'mnemonic = "mn"'))))
    keys = [p.split(":", 1)[0] for p in problems]
    assert sorted(keys) == ["agent.mnemonic", "driver.admin_login", "driver.admin_password_env",
                            "driver.class"], problems
    text = "\n".join(problems)
    assert "driver.admin_login: required with admin_password_env" in text
    assert "cannot import no_such_vendor.driver" in text and "PYTHONPATH" in text
    assert "environment variable NO_SUCH_PASSWORD_VAR is not set" in text


@pytest.mark.parametrize("ref, expected", [
    ("conformance.driver:Nope", "conformance.driver has no Nope"),
    ("conformance.driver:Answer", "is not a subclass of conformance.driver.JournalDriver"),
    ("conformance.driver", "is not valid"),
])
def test_driver_class_must_be_a_journal_driver(tmp_path, creds, env, ref, expected):
    problems = _problems(_example(tmp_path, creds, _with_driver(f'class = "{ref}"')))
    assert len(problems) == 1 and problems[0].startswith("driver.class:") and expected in problems[0]


def test_reference_sut_declares_the_reference_driver(creds, monkeypatch):
    cert, key = creds
    monkeypatch.setenv("REF_ADMIN_PW", "x")
    sut = reference_sut("http://127.0.0.1:8000", cert, key, admin_login="admin", admin_password_env="REF_ADMIN_PW")
    assert sut.driver.class_ref == "conformance.driver:ReferenceDriver" and sut.driver.admin_login == "admin"
    assert sut.link_url == "http://127.0.0.1:8000/auth/esia/link"


def test_the_reference_declaration_matches_the_reference_journals_own_settings():
    """What reference_sut declares for the journal (EXP-04's export period) is what the journal
    does when started with its defaults."""
    from conformance.sut import REFERENCE_EXPORT_INTERVAL
    from reference_journal.config import Settings

    assert Settings.__dataclass_fields__["export_interval"].default == REFERENCE_EXPORT_INTERVAL


def test_the_export_interval_is_declared_at_most_one_day(tmp_path):
    """EXP-04 allows one day at most: a longer period is a setup error naming the field; absent,
    one day is assumed."""
    import jsonschema

    from conformance.sut import MAX_EXPORT_INTERVAL, _schema

    agent = {"mnemonic": "MNSV03", "channels": ["edu-upload"]}
    schema = _schema()["properties"]["agent"]
    jsonschema.validate({**agent, "export_interval_seconds": 3600}, schema)
    with pytest.raises(jsonschema.ValidationError, match="86400"):
        jsonschema.validate({**agent, "export_interval_seconds": 2 * 86400}, schema)
    assert MAX_EXPORT_INTERVAL == 86400
