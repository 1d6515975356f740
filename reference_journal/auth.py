"""The auth slot: sign-in through ЕСИА (AUTH-01…AUTH-13), `create_auth(journal) -> EsiaAuth`.

The journal is an ordinary ЕСИА client and reaches ЕСИА over HTTP only (httpx; tests inject
an in-process transport through `journal.http_transport`):

* **v2/ac + v3/te (AUTH-02).** `client_certificate_hash` is ГОСТ Р 34.11-2012/256 over the DER
  form of `Settings.esia_cert`; `client_secret` is a raw RSASSA-PKCS1-v1_5/SHA-256 signature
  with `Settings.esia_key`, base64url without padding, over `client_id + scope + timestamp +
  state + redirect_uri` (+ `code` on te); `timestamp` is `yyyy.MM.dd HH:mm:ss ±zzzz` of the
  real clock (ЕСИА compares it with its own clock; the journal's test clock is for dates).
  The te request carries a new `state`, whose echo is checked. `access_type=online`: the
  tokens are used once, to identify the person, so no refresh token is needed.
* **state (AUTH-03).** A fresh UUID per attempt, kept server-side for 10 minutes, bound to a
  random browser cookie (`ezhd_esia_browser`) and consumed by the first callback that shows
  it: a missing, unknown, reused, expired or other browser's state is refused.
* **Tokens (AUTH-04).** Both the id token and the access token are verified with joserfc:
  `alg` must be RS256 (so `alg: none` is refused), the signature against ЕСИА's signing
  certificate, as real clients do (the real ЕСИА has no JWKS and no `kid`, PROTOCOLS.md §8.2):
  `Settings.esia_signing_cert` when set, otherwise downloaded once from
  `{esia_url}/.well-known/esia-signing-certificate` and downloaded again (at most every few
  seconds) when a token does not verify — ЕСИА rotates its certificate;
  `iss` = `Settings.esia_issuer`, `aud` (id token) and `client_id` (access token) = the
  journal's client id, `exp`/`nbf`/`iat` with 60 s leeway; the access token's subject must
  be the id token's. `urn:esia:sbj` gives the account level (`lvl`) and `is_tru`.
* **Person (AUTH-05/06/09).** `/rs/prns/{oid}` is read with the access token (and `/kids`
  for a parent, `/roles` + `/rs/orgs/{oid}` for staff). An oid already linked signs in its
  account. Otherwise the person is matched by SNILS, full name and birth date (staff: SNILS
  and full name; the table has no birth date) and, when exactly one record matches, its
  account is linked (`auto`). A learner of 14 or over whose record is linked to another oid
  is a re-issued account: the old link is dropped and the new oid linked (`reissue`). A
  mismatch names the differing fields; a missing SNILS, no record, several records or a
  record linked to someone else is refused with its own page.
* **Who may sign in (AUTH-08, 12, 13).** A learner under 14 (by the journal's clock): a
  child account (`lvl` KD) and a parent's consent recorded by the journal
  (`journal.consent_granted`; ЕСИА itself answers ESIA-007004 parentalConsentPending before
  that, shown as the same page). A parent, a learner of 14 or over and staff: a confirmed
  account (`is_tru` and `lvl` PR); staff also need an ЕСИА role in a confirmed organisation
  with the school's OGRN (and INN).
* **Manual linking (AUTH-07).** A user signed in with the internal login opens
  `/auth/esia/settings` and presses «Привязать» (`POST /auth/esia/link`): after ЕСИА the oid
  is linked to that account, whatever the account type, unless it is another person's
  (SNILS differs) or linked to another account.
* **Sign-out (AUTH-11).** `logout_url(session)` is ЕСИА's
  `/idp/ext/Logout?client_id=…&redirect_url={public_url}/auth/esia/signed-out` for sessions
  opened here; `DELETE /web/api/v1/session` returns it and `POST /auth/esia/logout` redirects
  there.

Every outcome is in the event log (sign-in success and failure with the reason, link, unlink,
account creation), never a token, code, secret or SNILS. Refusal pages are Russian, English
with `?lang=en` on `/auth/esia/login` (or `Accept-Language: en`), JSON `{error, message,
details}` for `Accept: application/json`.

Routes: `GET|POST /auth/esia/login[?next=/path&lang=en]`, `GET /auth/esia/callback`,
`GET /auth/esia/settings`, `GET|POST /auth/esia/link`, `POST /auth/esia/logout`,
`GET /auth/esia/signed-out`. Both `{public_url}/auth/esia/callback` and
`{public_url}/auth/esia/signed-out` must be registered with ЕСИА as redirect URIs.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlencode

import httpx
import jinja2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from gostcrypto import gosthash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry
from joserfc.registry import HeaderParameter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from reference_journal import events as ev
from reference_journal.accounts import ROLE_OF_TABLE, Account
from reference_journal.api import client_ip
from reference_journal.config import SettingsError
from reference_journal.errors import lang_of
from reference_journal.web import COOKIE

if TYPE_CHECKING:  # pragma: no cover
    from reference_journal.core import Journal

PREFIX = "/auth/esia"
SCOPE = "openid fullname birthdate gender snils kid_fullname kid_birthdate kid_snils usr_org"
ALLOWED_ALGS = ("RS256",)
LEEWAY = 60                  # seconds of clock skew tolerated on exp/nbf/iat
SKEW_IN_HOURS = 2 * 3600     # the TOKEN_SKEW_IN_HOURS defect's allowance
FLOW_TTL = 600               # seconds a sign-in attempt (its state) stays valid
MAX_FLOWS = 10_000
CERT_PATH = "/.well-known/esia-signing-certificate"
CERT_TTL = 3600
CERT_REFETCH = 5             # at most one certificate download per this many seconds
BROWSER_COOKIE = "ezhd_esia_browser"
TIMESTAMP = "%Y.%m.%d %H:%M:%S %z"
PERSON_TABLES = ("representatives", "learners", "staff")

# ЕСИА's JWT header carries two private parameters (token kind and format version).
_REGISTRY = JWSRegistry(header_registry={
    "sbt": HeaderParameter("ЕСИА token kind (id, access)", "str"),
    "ver": HeaderParameter("ЕСИА token format version", "int"),
})
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                          autoescape=jinja2.select_autoescape(["html"]))


# --- texts -------------------------------------------------------------------------------------

FIELDS = {
    "ru": {"snils": "СНИЛС", "last_name": "фамилия", "first_name": "имя", "middle_name": "отчество",
           "birth_date": "дата рождения"},
    "en": {"snils": "SNILS", "last_name": "last name", "first_name": "first name",
           "middle_name": "patronymic (middle name)", "birth_date": "date of birth"},
}
_CONFIRM_RU = ("Подтвердить учётную запись можно в центре обслуживания (МФЦ, отделение Почты России) с паспортом "
               "и СНИЛС, через онлайн-банк, в котором вы клиент, или заказным письмом с кодом подтверждения — "
               "см. раздел «Профиль» на Госуслугах. После подтверждения войдите снова.")
_CONFIRM_EN = ("You can confirm the account at a service centre (МФЦ, Russian Post office) with your passport and "
               "SNILS, through an online bank you are a customer of, or by a registered letter with a code — see "
               "«Профиль» on Госуслуги. Then sign in again.")
_SCHOOL_RU = "Обратитесь в школу (классному руководителю или администратору журнала), чтобы исправить данные."
_SCHOOL_EN = "Ask the school (the class teacher or the journal administrator) to correct the record."

TEXTS: dict[str, dict[str, tuple[str, list[str]]]] = {
    "ru": {
        "mismatch": ("Данные в ЕСИА и в журнале не совпадают",
                     ["Мы нашли вашу запись в журнале, но данные в ЕСИА отличаются от неё. Не совпадает:",
                      "Поэтому учётная запись ЕСИА не привязана к журналу. " + _SCHOOL_RU
                      + " Если ошибка в профиле Госуслуг, исправьте её там."]),
        "generic_not_found": ("Ваш дневник не найден",
                              ["Чтобы решить проблему, попросите родителей сообщить о ней через форму обратной "
                               "связи."]),
        "no_snils": ("В учётной записи ЕСИА не указан СНИЛС",
                     ["Журнал узнаёт пользователя по СНИЛС, ФИО и дате рождения. Добавьте СНИЛС в профиль на "
                      "Госуслугах (для ребёнка — родитель в разделе «Дети») и войдите снова. " + _SCHOOL_RU]),
        "not_found": ("Запись в журнале не найдена",
                      ["В журнале нет человека с вашими СНИЛС, ФИО и датой рождения. " + _SCHOOL_RU]),
        "ambiguous": ("Найдено несколько записей",
                      ["В журнале несколько записей с вашими данными, поэтому привязать учётную запись ЕСИА "
                       "автоматически нельзя. " + _SCHOOL_RU]),
        "record_linked_elsewhere": ("Запись уже привязана к другой учётной записи ЕСИА",
                                    ["Ваша запись в журнале уже связана с другой учётной записью Госуслуг. "
                                     "Войдите с ней или обратитесь в школу."]),
        "esia_linked_elsewhere": ("Учётная запись ЕСИА уже привязана",
                                  ["Эта учётная запись Госуслуг уже привязана к другому пользователю журнала."]),
        "other_person": ("Это учётная запись другого человека",
                         ["СНИЛС в этой учётной записи ЕСИА не совпадает с вашей записью в журнале. Привяжите "
                          "собственную учётную запись Госуслуг (не родителя и не ребёнка)."]),
        "not_linked": ("Учётная запись ЕСИА не привязана",
                       ["Войдите в журнал по логину и паролю и привяжите учётную запись Госуслуг в личных "
                        "настройках."]),
        "unconfirmed": ("Нужна подтверждённая учётная запись Госуслуг",
                        ["Родители, обучающиеся с 14 лет и сотрудники школ входят в журнал только с "
                         "подтверждённой учётной записью. Ваша учётная запись — упрощённая или стандартная.",
                         _CONFIRM_RU]),
        "teen_child_account": ("Детская учётная запись больше не подходит",
                               ["Вам уже 14 лет: входите с собственной подтверждённой учётной записью Госуслуг "
                                "(её оформляют по паспорту). Журнал привяжет её к вашей записи автоматически.",
                                _CONFIRM_RU]),
        "child_level": ("Нужна детская учётная запись",
                        ["Обучающийся младше 14 лет входит только с детской учётной записью Госуслуг, которую "
                         "создаёт родитель. Учётная запись взрослого (например, родителя) для входа ребёнка не "
                         "подходит; родитель входит под своей."]),
        "consent_pending": ("Вход пока невозможен: нет согласия родителя",
                            ["Ребёнок сможет войти после того, как родитель (законный представитель) даст "
                             "согласие на передачу его персональных данных в электронный журнал.",
                             "Родителю нужно дать согласие на Госуслугах (раздел «Согласия и доверенности»). До "
                             "этого ребёнок может входить по логину и паролю, выданным школой."]),
        "organisation": ("ЕСИА не подтверждает место работы",
                         ["В ЕСИА нет вашей роли сотрудника в подтверждённой организации с ОГРН и ИНН вашей школы. "
                          "Попросите руководителя школы добавить вас в организацию на Госуслугах."]),
        "parents_only": ("Вход через ЕСИА — только для родителей",
                         ["Войдите по логину и паролю журнала."]),
        "manual_link_unconfirmed": ("Привязка недоступна",
                                    ["Привязать можно только подтверждённую учётную запись Госуслуг."]),
        "esia_denied": ("Вход отменён",
                        ["Вы не разрешили журналу доступ к данным в ЕСИА, поэтому войти нельзя."]),
        "esia_error": ("ЕСИА отклонила запрос",
                       ["ЕСИА не выполнила запрос журнала. Попробуйте позже; если ошибка повторится, сообщите "
                        "администратору журнала код ошибки."]),
        "esia_unavailable": ("ЕСИА недоступна", ["Не удалось связаться с ЕСИА. Попробуйте войти позже."]),
        "token_invalid": ("Ответ ЕСИА не прошёл проверку",
                          ["Подпись, срок действия или адресат ответа ЕСИА неверны, поэтому вход отклонён. "
                           "Попробуйте ещё раз."]),
        "state": ("Запрос входа недействителен",
                  ["Запрос входа устарел, уже использован или начат в другом браузере. Начните вход заново."]),
        "not_signed_in": ("Сначала войдите в журнал",
                          ["Чтобы привязать учётную запись Госуслуг, войдите в журнал по логину и паролю."]),
        "not_configured": ("Вход через ЕСИА не настроен",
                           ["Администратор журнала ещё не указал сертификат и ключ журнала для ЕСИА."]),
        "linked": ("Учётная запись Госуслуг привязана",
                   ["Теперь в журнал можно входить через Госуслуги."]),
        "signed_out": ("Вы вышли", ["Вы вышли из журнала и из ЕСИА."]),
        "settings": ("Личные настройки", []),
    },
    "en": {
        "mismatch": ("Your ЕСИА data and the journal's record differ",
                     ["We found your record in the journal, but ЕСИА's data differ from it. What differs:",
                      "So the ЕСИА account has not been linked to the journal. " + _SCHOOL_EN
                      + " If Госуслуги holds the mistake, correct your profile there."]),
        "generic_not_found": ("Your diary was not found",
                              ["To solve the problem, ask your parents to report it through the feedback form."]),
        "no_snils": ("Your ЕСИА account has no SNILS",
                     ["The journal recognises people by SNILS, full name and date of birth. Add the SNILS to the "
                      "Госуслуги profile (a parent does it for a child under «Дети») and sign in again. "
                      + _SCHOOL_EN]),
        "not_found": ("No record in the journal",
                      ["The journal has nobody with your SNILS, full name and date of birth. " + _SCHOOL_EN]),
        "ambiguous": ("Several records found",
                      ["Several journal records match your data, so the ЕСИА account cannot be linked "
                       "automatically. " + _SCHOOL_EN]),
        "record_linked_elsewhere": ("The record is linked to another ЕСИА account",
                                    ["Your journal record is linked to another Госуслуги account. Sign in with it "
                                     "or ask the school."]),
        "esia_linked_elsewhere": ("The ЕСИА account is already linked",
                                  ["This Госуслуги account is linked to another journal user."]),
        "other_person": ("This is another person's account",
                         ["The SNILS of this ЕСИА account differs from your journal record. Link your own "
                          "Госуслуги account (not a parent's or a child's)."]),
        "not_linked": ("The ЕСИА account is not linked",
                       ["Sign in with the journal login and password and link your Госуслуги account in the "
                        "personal settings."]),
        "unconfirmed": ("A confirmed Госуслуги account is required",
                        ["Parents, learners of 14 or over and school staff sign in only with a confirmed account. "
                         "Yours is simplified or standard.", _CONFIRM_EN]),
        "teen_child_account": ("A child account no longer works",
                               ["You are 14 or over: sign in with your own confirmed Госуслуги account (issued "
                                "with your passport). The journal links it to your record automatically.",
                                _CONFIRM_EN]),
        "child_level": ("A child account is required",
                        ["A learner under 14 signs in only with the child account a parent creates on "
                         "Госуслуги. An adult's account (e.g. a parent's) cannot be used for a child; the parent "
                         "signs in with their own."]),
        "consent_pending": ("No sign-in yet: a parent has not consented",
                            ["The child can sign in once a parent (legal representative) has consented to pass "
                             "the child's personal data to the e-journal.",
                             "The parent gives consent on Госуслуги («Согласия и доверенности»). Until then the "
                             "child can sign in with the login and password issued by the school."]),
        "organisation": ("ЕСИА does not confirm your employment",
                         ["ЕСИА shows no staff role of yours in a confirmed organisation with your school's OGRN "
                          "and INN. Ask the head of the school to add you to the organisation on Госуслуги."]),
        "parents_only": ("ЕСИА sign-in is for parents only",
                         ["Sign in with the journal's login and password."]),
        "manual_link_unconfirmed": ("Linking refused", ["Only a confirmed Госуслуги account can be linked."]),
        "esia_denied": ("Sign-in cancelled",
                        ["You did not allow the journal to read your ЕСИА data, so you cannot sign in."]),
        "esia_error": ("ЕСИА refused the request",
                       ["ЕСИА did not carry out the journal's request. Try again later; if it happens again, tell "
                        "the journal administrator the error code."]),
        "esia_unavailable": ("ЕСИА is unavailable", ["The journal could not reach ЕСИА. Try again later."]),
        "token_invalid": ("ЕСИА's answer failed the checks",
                          ["The signature, validity period or audience of ЕСИА's answer is wrong, so the sign-in "
                           "was refused. Try again."]),
        "state": ("The sign-in request is not valid",
                  ["The sign-in request has expired, was already used or was started in another browser. Start "
                   "again."]),
        "not_signed_in": ("Sign in first",
                          ["To link a Госуслуги account, sign in to the journal with your login and password."]),
        "not_configured": ("ЕСИА sign-in is not configured",
                           ["The journal administrator has not set the journal's ЕСИА certificate and key yet."]),
        "linked": ("Your Госуслуги account is linked", ["You can now sign in to the journal through Госуслуги."]),
        "signed_out": ("Signed out", ["You have signed out of the journal and of ЕСИА."]),
        "settings": ("Personal settings", []),
    },
}
UI = {
    "ru": {"journal": "Эталонный электронный журнал", "other": "English", "other_lang": "en",
           "retry": "Войти через Госуслуги", "home": "На главную", "link": "Привязать учётную запись Госуслуг",
           "relink": "Привязать другую учётную запись Госуслуг", "login": "Логин", "esia": "Госуслуги (ЕСИА)",
           "linked_since": "привязана", "not_linked": "не привязана", "method": "способ",
           "logout": "Выйти"},
    "en": {"journal": "Reference e-journal", "other": "Русский", "other_lang": "ru",
           "retry": "Sign in through Госуслуги", "home": "Home", "link": "Link a Госуслуги account",
           "relink": "Link another Госуслуги account", "login": "Login", "esia": "Госуслуги (ЕСИА)",
           "linked_since": "linked", "not_linked": "not linked", "method": "method", "logout": "Sign out"},
}
STATUS = {"mismatch": 403, "generic_not_found": 403, "no_snils": 403, "not_found": 403, "ambiguous": 409,
          "record_linked_elsewhere": 409, "esia_linked_elsewhere": 409, "other_person": 403, "not_linked": 403,
          "unconfirmed": 403, "teen_child_account": 403, "child_level": 403, "consent_pending": 403,
          "organisation": 403, "parents_only": 403, "manual_link_unconfirmed": 403, "esia_denied": 403,
          "esia_error": 502, "esia_unavailable": 502, "token_invalid": 401, "state": 400, "not_signed_in": 401,
          "not_configured": 503}


class Refusal(Exception):
    """A refused sign-in or link: `reason` names the page; `fields` the differing data;
    `code` ЕСИА's error code; `detail` is for the event log only."""

    def __init__(self, reason: str, fields: list[str] | None = None, code: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.fields, self.code, self.detail = reason, list(fields or []), code, detail


@dataclass
class Flow:
    """One sign-in or link attempt, keyed by its `state`."""
    state: str
    browser: str          # SHA-256 of the browser cookie
    created: float
    purpose: str          # sign_in | link
    lang: str
    next: str = "/"
    account_id: int | None = None


# --- small helpers -----------------------------------------------------------------------------

def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _key_of_certificate(data: bytes) -> RSAKey:
    """The RSA public key of ЕСИА's signing certificate (PEM or DER); ValueError otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----") else \
            x509.load_der_x509_certificate(data)
        public = cert.public_key()
    except Exception as exc:
        raise ValueError(f"not a certificate: {exc}") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the signing certificate's key is not RSA")
    return RSAKey.import_key(public.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))


def _b64json(segment: str) -> dict[str, Any]:
    data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def certificate_hash(der: bytes) -> str:
    """ГОСТ Р 34.11-2012/256 of the certificate's DER form, 64 upper-case hex digits."""
    return gosthash.new("streebog256", data=der).hexdigest().upper()


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def norm(text: Any) -> str:
    return " ".join(str(text or "").replace("ё", "е").replace("Ё", "Е").split()).casefold()


def esia_date(text: Any) -> str | None:
    """ЕСИА's `dd.MM.yyyy` as ISO, None when absent or malformed."""
    try:
        return dt.datetime.strptime(str(text), "%d.%m.%Y").date().isoformat() if text else None
    except ValueError:
        return None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _local_path(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _lang(request: Request) -> str:
    return lang_of(request)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def load_credentials(key_path: Path, cert_path: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The journal's RSA key and certificate; SettingsError naming the problem."""
    try:
        key_data, cert_data = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"esia_key/esia_cert: cannot read: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"esia_key {key_path}: not an unencrypted PEM private key ({exc})") from None
    try:
        cert = (x509.load_pem_x509_certificate(cert_data) if b"-----BEGIN" in cert_data
                else x509.load_der_x509_certificate(cert_data))
    except ValueError as exc:
        raise SettingsError(f"esia_cert {cert_path}: not a PEM or DER certificate ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"esia_key {key_path}: only RSA keys are supported (ГОСТ keys need a ГОСТ provider)")
    if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
        raise SettingsError(f"esia_cert {cert_path} does not belong to the key {key_path}")
    return key, cert


# --- the slot ----------------------------------------------------------------------------------

class EsiaAuth:
    """The auth slot of one journal."""

    def __init__(self, journal: "Journal") -> None:
        self.j = journal
        s = journal.settings
        self.client_id = s.esia_client_id
        self.esia_url = s.esia_url
        self.issuer = s.esia_issuer
        self.redirect_uri = f"{s.public_url}{PREFIX}/callback"
        self.signed_out_uri = f"{s.public_url}{PREFIX}/signed-out"
        self.secure_cookies = s.public_url.startswith("https://")
        self.key: rsa.RSAPrivateKey | None = None
        self.cert_hash: str | None = None
        if s.esia_key is not None and s.esia_cert is not None:
            self.key, cert = load_credentials(s.esia_key, s.esia_cert)
            self.cert_hash = certificate_hash(cert.public_bytes(serialization.Encoding.DER))
        elif s.esia_key is not None or s.esia_cert is not None:
            raise SettingsError("esia_key and esia_cert: give both (the journal's key and its registered certificate)")
        self._flows: dict[str, Flow] = {}
        self._lock = threading.Lock()
        self._fixed_state = str(uuid.uuid4())   # only used with the STATE_REUSED defect
        self._key: RSAKey | None = None
        self._keys_at = 0.0
        self._key_fixed = s.esia_signing_cert is not None
        if self._key_fixed:
            try:
                self._key = _key_of_certificate(Path(s.esia_signing_cert).read_bytes())
            except (OSError, ValueError) as exc:
                raise SettingsError(f"esia_signing_cert {s.esia_signing_cert}: {exc}") from None
        self._http: httpx.AsyncClient | None = None
        self.routes = [
            Route(f"{PREFIX}/login", self.login, methods=["GET", "POST"]),
            Route(f"{PREFIX}/callback", self.callback, methods=["GET"]),
            Route(f"{PREFIX}/link", self.link, methods=["GET", "POST"]),
            Route(f"{PREFIX}/settings", self.settings_page, methods=["GET"]),
            Route(f"{PREFIX}/logout", self.logout, methods=["POST"]),
            Route(f"{PREFIX}/signed-out", self.signed_out, methods=["GET"]),
        ]

    # -- slot protocol ------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.key is not None

    def logout_url(self, session: Mapping[str, Any]) -> str | None:
        """ЕСИА's logout for a session opened through ЕСИА (AUTH-11), else None."""
        if session.get("method") != "esia" or self.j.defect_on("SIGN_OUT_KEEPS_ESIA_SESSION"):
            return None
        return f"{self.esia_url}/idp/ext/Logout?" + urlencode({"client_id": self.client_id,
                                                               "redirect_url": self.signed_out_uri})

    def status(self) -> dict[str, Any]:
        with self._lock:
            pending = len(self._flows)
        return {"configured": self.configured, "esia_url": self.esia_url, "client_id": self.client_id,
                "redirect_uri": self.redirect_uri, "pending_attempts": pending}

    async def shutdown(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- protocol pieces ----------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            injected = getattr(self.j, "http_transport", None)
            self._http = httpx.AsyncClient(base_url=self.esia_url,
                                           transport=_Shared(injected) if injected is not None else None,
                                           timeout=httpx.Timeout(15.0), follow_redirects=False,
                                           # forget idle connections well before a server closes them
                                           limits=httpx.Limits(keepalive_expiry=2.0))
        return self._http

    def timestamp(self) -> str:
        # The real clock: ЕСИА checks `timestamp` against its own time (±5 min), whatever date
        # the journal's test clock shows.
        now = dt.datetime.now(self.j.clock.tz)
        if self.j.defect_on("TIMESTAMP_WITHOUT_OFFSET"):
            return now.strftime("%Y.%m.%d %H:%M:%S")
        return now.strftime(TIMESTAMP)

    def sign(self, text: str) -> str:
        """`client_secret`: raw RSASSA-PKCS1-v1_5/SHA-256, base64url without padding."""
        assert self.key is not None
        return b64url(self.key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()))

    def authorization_url(self, state: str) -> str:
        p = {"client_id": self.client_id, "client_certificate_hash": self.cert_hash or "", "scope": SCOPE,
             "response_type": "code", "state": state,
             "access_type": "offline" if self.j.defect_on("LOG_ESIA_REFRESH_TOKEN") else "online",
             "timestamp": self.timestamp(),
             "redirect_uri": self.redirect_uri}
        if self.j.defect_on("CLIENT_SECRET_V1_ORDER"):
            text = p["scope"] + p["timestamp"] + p["client_id"] + p["state"]
        else:
            text = p["client_id"] + p["scope"] + p["timestamp"] + p["state"] + p["redirect_uri"]
        p["client_secret"] = self.sign(text)
        return f"{self.esia_url}/aas/oauth2/v2/ac?{urlencode(p)}"

    async def exchange(self, code: str) -> dict[str, Any]:
        """v3/te: the code for tokens (a new `state`, echoed back)."""
        state = str(uuid.uuid4())
        p = {"client_id": self.client_id, "code": code, "grant_type": "authorization_code",
             "client_certificate_hash": self.cert_hash or "", "state": state, "redirect_uri": self.redirect_uri,
             "scope": SCOPE, "timestamp": self.timestamp(), "token_type": "Bearer"}
        p["client_secret"] = self.sign(p["client_id"] + p["scope"] + p["timestamp"] + p["state"]
                                       + p["redirect_uri"] + code)
        resp = await self._call("POST", "/aas/oauth2/v3/te", data=p)
        body = self._json(resp, "te")
        if body.get("state") != state:
            raise Refusal("token_invalid", detail="te: state echo differs from the request")
        for name in ("access_token", "id_token"):
            if not isinstance(body.get(name), str):
                raise Refusal("token_invalid", detail=f"te: no {name}")
        return body

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client().request(method, path, headers={"Accept": "application/json",
                                                                       **kwargs.pop("headers", {})}, **kwargs)
        except httpx.HTTPError as exc:
            raise Refusal("esia_unavailable", detail=f"{path}: {type(exc).__name__}") from None

    @staticmethod
    def _json(resp: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict):
            code = None
            if isinstance(body, dict):
                code = _esia_code(str(body.get("error_description", "")))
            if resp.status_code >= 500 and code in (None, "007007", "007008"):
                raise Refusal("esia_unavailable", code=code, detail=f"{what}: HTTP {resp.status_code}")
            raise Refusal("esia_error", code=code, detail=f"{what}: HTTP {resp.status_code}")
        return body

    async def signing_key(self, again: bool = False) -> RSAKey | None:
        """ЕСИА's token key from its signing certificate: the configured file, or the download
        (cached; `again` after a failed verification downloads it anew, throttled)."""
        if self._key_fixed:
            return self._key
        now = time.monotonic()
        stale = self._key is None or now - self._keys_at >= CERT_TTL
        if stale or (again and now - self._keys_at >= CERT_REFETCH):
            resp = await self._call("GET", CERT_PATH, headers={"Accept": "application/x-pem-file"})
            if resp.status_code != 200:
                raise Refusal("esia_unavailable" if resp.status_code >= 500 else "esia_error",
                              detail=f"signing certificate: HTTP {resp.status_code}")
            try:
                self._key, self._keys_at = _key_of_certificate(resp.content), now
            except ValueError:
                raise Refusal("esia_error", detail="signing certificate: not a PEM RSA certificate") from None
        return self._key

    async def verify(self, token: str, kind: str) -> dict[str, Any]:
        """Claims of a valid ЕСИА token (`kind`: id or access); Refusal otherwise (AUTH-04)."""
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three segments")
            header, payload = _b64json(parts[0]), _b64json(parts[1])
        except (ValueError, UnicodeDecodeError):
            raise Refusal("token_invalid", detail=f"{kind} token: malformed") from None
        alg = header.get("alg")
        unverified = self.j.defect_on("SKIP_TOKEN_SIGNATURE") or (
            str(alg).lower() == "none" and self.j.defect_on("ACCEPT_ALG_NONE"))
        if unverified:
            claims = payload
        else:
            if alg not in ALLOWED_ALGS:
                raise Refusal("token_invalid", detail=f"{kind} token: alg {str(alg)[:16]} not allowed")
            claims = None
            for again in (False, True):     # a rotated certificate is downloaded once more
                key = await self.signing_key(again)
                try:
                    claims = jwt.decode(token, key, algorithms=list(ALLOWED_ALGS), registry=_REGISTRY).claims
                    break
                except (JoseError, ValueError):
                    continue
            if claims is None:
                raise Refusal("token_invalid", detail=f"{kind} token: signature does not verify") from None
        options: dict[str, Any] = {"iss": {"essential": True, "value": self.issuer}}
        audience = "aud" if kind == "id" else "client_id"
        if not self.j.defect_on("SKIP_AUD_CHECK"):
            options[audience] = {"essential": True, "value": self.client_id}
        checked = ["iss", audience]
        if not self.j.defect_on("IGNORE_TOKEN_EXPIRY"):
            options["exp"] = {"essential": True}
            checked += ["exp", "nbf", "iat"]
        try:
            leeway = SKEW_IN_HOURS if self.j.defect_on("TOKEN_SKEW_IN_HOURS") else LEEWAY
            JWTClaimsRegistry(leeway=leeway, **options).validate({k: claims[k] for k in checked if k in claims})
        except JoseError as exc:
            raise Refusal("token_invalid", detail=f"{kind} token: {exc}"[:200]) from None
        return claims

    # -- browser state (AUTH-03) --------------------------------------------------------------

    def _browser(self, request: Request) -> tuple[str, bool]:
        value = request.cookies.get(BROWSER_COOKIE, "")
        if 20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
            return value, False
        return secrets.token_urlsafe(24), True

    def _new_flow(self, request: Request, purpose: str, account_id: int | None = None) -> tuple[Flow, str, bool]:
        browser, new = self._browser(request)
        state = self._fixed_state if self.j.defect_on("STATE_REUSED") else str(uuid.uuid4())
        flow = Flow(state, _sha(browser), time.monotonic(), purpose, _lang(request),
                    _local_path(request.query_params.get("next")), account_id)
        with self._lock:
            cutoff = time.monotonic() - FLOW_TTL
            for key in [k for k, f in self._flows.items() if f.created < cutoff]:
                del self._flows[key]
            while len(self._flows) >= MAX_FLOWS:
                del self._flows[next(iter(self._flows))]
            self._flows[state] = flow
        return flow, browser, new

    def _take_flow(self, request: Request) -> Flow:
        """The attempt the callback's `state` belongs to, consumed; Refusal('state') if the
        state is missing, unknown, used, expired or another browser's."""
        state = request.query_params.get("state") or ""
        with self._lock:
            flow = self._flows.pop(state, None) if state else None
        browser = request.cookies.get(BROWSER_COOKIE, "")
        ok = (flow is not None and flow.created >= time.monotonic() - FLOW_TTL
              and bool(browser) and secrets.compare_digest(flow.browser, _sha(browser)))
        if ok:
            return flow  # type: ignore[return-value]
        if self.j.defect_on("STATE_NOT_CHECKED"):
            return flow or Flow(state, "", time.monotonic(), "sign_in", _lang(request))
        if flow is None and browser and self.j.defect_on("LINK_STATE_NOT_CHECKED"):
            with self._lock:   # the browser's pending link, whatever the state says
                key = next((k for k, f in self._flows.items()
                            if f.purpose == "link" and secrets.compare_digest(f.browser, _sha(browser))), None)
                if key is not None:
                    return self._flows.pop(key)
        why = "missing" if not state else "unknown, used or expired" if flow is None else "another browser's"
        raise Refusal("state", detail=f"state {why}")

    def _start(self, request: Request, purpose: str, account_id: int | None = None) -> Response:
        flow, browser, new = self._new_flow(request, purpose, account_id)
        resp = RedirectResponse(self.authorization_url(flow.state), status_code=302,
                                headers={"Cache-Control": "no-store"})
        if new:
            resp.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="lax", path=PREFIX,
                            secure=self.secure_cookies)
        return resp

    # -- pages --------------------------------------------------------------------------------

    def page(self, request: Request, lang: str, reason: str, status: int = 200, fields: list[str] | None = None,
             code: str | None = None, form: dict[str, str] | None = None, extra: list[str] | None = None,
             rows: list[tuple[str, str]] | None = None, switch: bool = False) -> Response:
        heading, paragraphs = TEXTS[lang][reason]
        labels = [FIELDS[lang][f] for f in fields or []]
        if _wants_json(request) and status >= 400:
            message = " ".join([heading + ".", *paragraphs[:1]]) + (" " + ", ".join(labels) if labels else "")
            details = [{"field": f, "rule": "mismatch", "message": FIELDS[lang][f]} for f in fields or []]
            if code:
                details.append({"rule": "esia_error", "message": f"ESIA-{code}"})
            return JSONResponse({"error": reason, "message": message, "details": details}, status_code=status,
                                headers={"Cache-Control": "no-store"})
        html = _env.get_template("auth.html").render(
            lang=lang, ui=UI[lang], reason=reason, heading=heading, paragraphs=paragraphs,
            fields=[{"key": f, "label": FIELDS[lang][f]} for f in fields or []], code=code, form=form,
            extra=extra or [], rows=rows or [], error=status >= 400, switch=switch,
            retry=f"{PREFIX}/login" + ("?lang=en" if lang == "en" else ""))
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def refusal_page(self, request: Request, lang: str, refusal: Refusal) -> Response:
        reason, fields = refusal.reason, refusal.fields
        if reason == "mismatch" and self.j.defect_on("MISMATCH_MESSAGE_GENERIC"):
            reason, fields = "generic_not_found", []
        status = STATUS.get(refusal.reason, 403)
        return self.page(request, lang, reason, status, fields, refusal.code)

    # -- routes -------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if not self.configured:
            return self.page(request, _lang(request), "not_configured", 503)
        return self._start(request, "sign_in")

    async def link(self, request: Request) -> Response:
        """Manual linking from personal settings (AUTH-07): needs a journal session."""
        lang = _lang(request)
        if not self.configured:
            return self.page(request, lang, "not_configured", 503)
        found = self._session(request)
        if found is None and not self.j.defect_on("LINK_WITHOUT_SESSION_CRASHES"):
            return self.page(request, lang, "not_signed_in", 401)
        return self._start(request, "link", found[1].id)  # type: ignore[index]

    async def settings_page(self, request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else _lang(request)
        found = self._session(request)
        if found is None:
            return self.page(request, lang, "not_signed_in", 401)
        account = found[1]
        row = self.j.db.one("SELECT esia_linked_at, esia_link_method FROM accounts WHERE id = ?", (account.id,))
        ui = UI[lang]
        if account.esia_oid:
            state = f"{ui['linked_since']} {row['esia_linked_at']} ({ui['method']}: {row['esia_link_method']})"  # type: ignore[index]
        else:
            state = ui["not_linked"]
        rows = [(ui["login"], account.login or "—"), (ui["esia"], state)]
        form = {"action": f"{PREFIX}/link" + ("?lang=en" if lang == "en" else ""),
                "label": ui["relink" if account.esia_oid else "link"]}
        return self.page(request, lang, "settings", rows=rows, form=form, switch=True)

    async def signed_out(self, request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else _lang(request)
        return self.page(request, lang, "signed_out", switch=True)

    async def logout(self, request: Request) -> Response:
        """Browser sign-out: ends the journal session, then ЕСИА's (AUTH-11)."""
        token = self._session_token(request)
        found = self.j.sessions.get(token)
        target = self.signed_out_uri
        if found is not None and token:
            session, account = found
            self.j.sessions.end(token)
            self.j.events.record(ev.SIGN_OUT, account.label, object=account.label, ip=client_ip(request),
                                 details={"method": session["method"]})
            target = self.logout_url(session) or target
        resp = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @staticmethod
    def _session_token(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return request.cookies.get(COOKIE)

    def _session(self, request: Request) -> tuple[dict[str, Any], Account] | None:
        return self.j.sessions.get(self._session_token(request))

    async def callback(self, request: Request) -> Response:
        ip = client_ip(request)
        lang = _lang(request)
        purpose, oid, tokens = "sign_in", None, None
        try:
            flow = self._take_flow(request)
            lang, purpose = flow.lang, flow.purpose
            q = request.query_params
            if q.get("error"):
                raise _esia_refusal(q.get("error", ""), q.get("error_description", ""))
            if not q.get("code"):
                raise Refusal("esia_error", detail="callback without code or error")
            if not self.configured:
                raise Refusal("not_configured")
            tokens = await self.exchange(q["code"])
            id_claims = await self.verify(tokens["id_token"], "id")
            access = await self.verify(tokens["access_token"], "access")
            oid = _oid(id_claims)
            if oid is None or _int(access.get("urn:esia:sbj_id")) != oid:
                raise Refusal("token_invalid", detail="the tokens name different or no subjects")
            sbj = dict(id_claims["urn:esia:sbj"]) if isinstance(id_claims.get("urn:esia:sbj"), dict) else {}
            sbj["urn:esia:sid"] = id_claims.get("urn:esia:sid")
            person = self._json(await self._call("GET", f"/rs/prns/{oid}", headers=_bearer(tokens)), "rs/prns")
            if purpose == "link":
                return self._finish_link(request, flow, oid, sbj, person, lang, ip, tokens)
            return await self._finish_sign_in(request, flow, oid, sbj, person, tokens, ip)
        except Refusal as refusal:
            self._log_failure(purpose, refusal, oid, ip, tokens)
            return self.refusal_page(request, lang, refusal)

    # -- sign-in ------------------------------------------------------------------------------

    async def _finish_sign_in(self, request: Request, flow: Flow, oid: int, sbj: Mapping[str, Any],
                              person: Mapping[str, Any], tokens: Mapping[str, Any], ip: str | None) -> Response:
        j = self.j
        account = j.accounts.by_oid(str(oid))
        action: str | None = None
        if account is not None:
            table, row = account.person_table, j.person(account)
        else:
            table, row = self._match(person)
            account = j.accounts.for_person(table, row["id"])
            if account is None:
                action = "create"
            elif account.esia_oid is None:
                action = "auto"
            elif table == "learners" and not j.under_14(row):
                action = "duplicate" if j.defect_on("REISSUE_CREATES_DUPLICATE") else "reissue"
            else:
                raise Refusal("record_linked_elsewhere", detail=f"{account.label} is linked to another oid")
        await self._eligible(table, row, account, sbj, oid, tokens)
        if action in ("auto", "create") and (j.defect_on("NO_AUTO_LINK") or (
                j.defect_on("AUTO_LINK_PARENTS_ONLY") and table != "representatives")):
            raise Refusal("not_linked", detail="automatic linking is off")
        actor = f"esia:{oid}"
        if action == "auto":
            account = j.accounts.link_esia(account.id, str(oid), "auto", actor, ip,  # type: ignore[union-attr]
                                           log=not j.defect_on("AUTO_LINK_NOT_LOGGED"))
        elif action == "create":
            account = j.accounts.create(None, None, ROLE_OF_TABLE[table], table, row["id"],  # type: ignore[index]
                                        esia_oid=str(oid), link_method="auto")
            j.events.record(ev.ACCOUNT_CREATE, actor, object=account.label, ip=ip,
                            details={"role": account.role, "source": "esia"})
            if not j.defect_on("AUTO_LINK_NOT_LOGGED"):
                j.events.record(ev.LINK, actor, object=account.label, ip=ip,
                                details={"oid": str(oid), "method": "auto"})
        elif action == "reissue":
            old = account.esia_oid  # type: ignore[union-attr]  (UNLINK logs it)
            if not j.defect_on("REISSUE_UNLINK_NOT_LOGGED"):
                j.accounts.unlink_esia(account.id, actor, ip)  # type: ignore[union-attr]
            account = j.accounts.link_esia(account.id, str(oid), "reissue", actor, ip)  # type: ignore[union-attr]
            action = "reissue" if j.defect_on("REISSUE_UNLINK_NOT_LOGGED") else f"reissue (replaces {old})"
        elif action == "duplicate":
            account = self._duplicate_learner(row, oid, actor, ip)  # type: ignore[arg-type]
        kids = await self._kids_seen(account, oid, tokens) if account.person_table == "representatives" else None
        level = sbj.get("urn:esia:sbj:lvl")
        extra = {"oid": str(oid), "esia_sid": str(sbj.get("urn:esia:sid") or ""), "level": level}
        token = j.sessions.open(account.id, "esia", ip, extra=extra)
        details: dict[str, Any] = {"method": "esia", "oid": str(oid), "level": level, "link": action or "existing"}
        if action == "auto" and j.defect_on("AUTO_LINK_NOT_LOGGED"):
            del details["link"]
        if kids is not None:
            details["esia_children"], details["esia_children_in_journal"] = kids
        if not j.defect_on("ESIA_SIGN_IN_NOT_LOGGED"):
            j.events.record(ev.SIGN_IN, account.label, object=account.label, ip=ip, details=details,
                            unscrubbed={**(self._token_dump(tokens) or {}), **self._callback_dump(request)} or None)
        resp = RedirectResponse(flow.next or "/", status_code=303, headers={"Cache-Control": "no-store"})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", path="/", secure=self.secure_cookies)
        return resp

    def _match(self, person: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The journal record of the ЕСИА person (AUTH-05); Refusal naming what differs."""
        db = self.j.db
        snils = digits(person.get("snils"))
        if self.j.defect_on("LINK_BY_NAME_ONLY"):
            named = [(t, r) for t in PERSON_TABLES for r in self._by_name(t, person)]
            if named:
                return named[0]
        if not snils:
            if self.j.defect_on("LINK_WITHOUT_SNILS"):
                same = [(t, r) for t in PERSON_TABLES for r in self._by_name(t, person)
                        if not self._differs(t, r, person)]
                if len(same) == 1:
                    return same[0]
            raise Refusal("no_snils")
        found = [(t, r) for t in PERSON_TABLES for r in db.query(
            f"SELECT * FROM {t} WHERE replace(replace(replace(snils, '-', ''), ' ', ''), '.', '') = ?", (snils,))]
        exact = [(t, r) for t, r in found if not self._differs(t, r, person)]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise Refusal("ambiguous", detail=f"{len(exact)} records")
        if found:
            t, r = found[0]
            raise Refusal("mismatch", fields=self._differs(t, r, person))
        if any(not self._differs(t, r, person) for t in ("representatives", "learners")
               for r in self._by_name(t, person)):
            raise Refusal("mismatch", fields=["snils"])
        raise Refusal("not_found")

    def _by_name(self, table: str, person: Mapping[str, Any]) -> list[dict[str, Any]]:
        last = str(person.get("lastName") or "").strip()
        if not last:
            return []
        variants = {last, last.replace("ё", "е").replace("Ё", "Е")}
        marks = ", ".join("?" for _ in variants)
        rows = self.j.db.query(f"SELECT * FROM {table} WHERE last_name IN ({marks}) ORDER BY id", tuple(variants))
        want = [norm(person.get(k)) for k in ("lastName", "firstName", "middleName")]
        return [r for r in rows if [norm(r.get(c)) for c in ("last_name", "first_name", "middle_name")] == want]

    @staticmethod
    def _differs(table: str, row: Mapping[str, Any], person: Mapping[str, Any]) -> list[str]:
        out = [col for col, key in (("last_name", "lastName"), ("first_name", "firstName"),
                                    ("middle_name", "middleName")) if norm(row.get(col)) != norm(person.get(key))]
        if "birth_date" in row and row.get("birth_date") != esia_date(person.get("birthDate")):
            out.append("birth_date")
        return out

    async def _eligible(self, table: str | None, row: Mapping[str, Any] | None, account: Account | None,
                        sbj: Mapping[str, Any], oid: int, tokens: Mapping[str, Any]) -> None:
        """Who may sign in with which ЕСИА account (AUTH-01, 08, 12, 13)."""
        j = self.j
        level = sbj.get("urn:esia:sbj:lvl")
        confirmed = sbj.get("urn:esia:sbj:is_tru") is True and level == "PR"
        if j.defect_on("ESIA_SIGN_IN_PARENTS_ONLY") and table != "representatives":
            raise Refusal("parents_only")
        if table == "learners" and row is not None and j.under_14(dict(row)):
            if level != "KD" and not j.defect_on("CHILD_LEVEL_NOT_CHECKED"):
                raise Refusal("child_level", detail=f"lvl {level}")
            if not j.consent_granted(row["id"]) and not j.defect_on("CHILD_SIGN_IN_WITHOUT_CONSENT"):
                raise Refusal("consent_pending", detail="no parental consent recorded by the journal")
        elif table == "staff":
            if not confirmed and not j.defect_on("TEACHER_UNCONFIRMED_ACCEPTED"):
                raise Refusal("unconfirmed", detail=f"staff, lvl {level}")
            if not j.defect_on("ORGANISATION_NOT_CHECKED"):
                await self._check_organisation(row, oid, tokens)
        elif not confirmed and not j.defect_on("ADULT_SIMPLIFIED_ACCEPTED") and not (
                level == "KD" and table == "learners" and j.defect_on("TEEN_CHILD_ACCOUNT_ACCEPTED")):
            reason = "teen_child_account" if table == "learners" and level == "KD" else "unconfirmed"
            raise Refusal(reason, detail=f"{table or 'account'}, lvl {level}")

    async def _check_organisation(self, row: Mapping[str, Any] | None, oid: int, tokens: Mapping[str, Any]) -> None:
        """AUTH-12: the school is the confirmed ЕСИА organisation with its OGRN (and INN) in which
        the staff member has a role."""
        org = self.j.db.get("organisations", row["organisation_id"]) if row else None
        if not org or not org.get("ogrn"):
            raise Refusal("organisation", detail="the school has no OGRN in the journal")
        roles = self._json(await self._call("GET", f"/rs/prns/{oid}/roles", headers=_bearer(tokens)), "roles")
        for role in roles.get("elements") or []:
            if not isinstance(role, dict) or digits(role.get("ogrn")) != digits(org["ogrn"]):
                continue
            org_oid = _int(role.get("oid"))
            if org_oid is None:
                continue
            info = self._json(await self._call("GET", f"/rs/orgs/{org_oid}", headers=_bearer(tokens)), "orgs")
            if (info.get("trusted") is True and digits(info.get("ogrn")) == digits(org["ogrn"])
                    and (not org.get("inn") or digits(info.get("inn")) == digits(org["inn"]))):
                return
        raise Refusal("organisation", detail="no role in a confirmed organisation with the school's OGRN/INN")

    async def _kids_seen(self, account: Account, oid: int, tokens: Mapping[str, Any]) -> tuple[int, int] | None:
        """A parent's children in ЕСИА and how many of them are the journal's children of the
        account (by SNILS), for the log; never a reason to refuse."""
        try:
            resp = await self._call("GET", f"/rs/prns/{oid}/kids", params={"embed": "(elements)"},
                                    headers=_bearer(tokens))
            body = self._json(resp, "kids")
        except Refusal:
            return None
        kids = {digits(k.get("snils")) for k in body.get("elements") or [] if isinstance(k, dict)}
        mine = {digits((self.j.learner(lid) or {}).get("snils")) for lid in self.j.children_of(account.person_id or "")}
        return len(kids), len((kids & mine) - {""})

    def _duplicate_learner(self, row: Mapping[str, Any], oid: int, actor: str, ip: str | None) -> Account:
        """The REISSUE_CREATES_DUPLICATE defect: a second learner record and account."""
        j = self.j
        stamp = j.clock.stamp()
        new_id = f"{j.db.meta('key_prefix') or 'EZHD'}-J.LRN{uuid.uuid4().hex[:12].upper()}"
        j.db.upsert("learners", {**row, "id": new_id, "create_datetime": stamp, "send_datetime": None}, stamp)
        for cl in j.db.query("SELECT * FROM class_learners WHERE learner_id = ?", (row["id"],)):
            j.db.upsert("class_learners", {**cl, "learner_id": new_id, "create_datetime": stamp,
                                           "send_datetime": None}, stamp)
        account = j.accounts.create(None, None, "student", "learners", new_id, esia_oid=str(oid), link_method="auto")
        j.events.record(ev.ACCOUNT_CREATE, actor, object=account.label, ip=ip,
                        details={"role": "student", "source": "esia"})
        j.events.record(ev.LINK, actor, object=account.label, ip=ip, details={"oid": str(oid), "method": "auto"})
        return account

    # -- manual linking -----------------------------------------------------------------------

    def _finish_link(self, request: Request, flow: Flow, oid: int, sbj: Mapping[str, Any], person: Mapping[str, Any],
                     lang: str, ip: str | None, tokens: Mapping[str, Any]) -> Response:
        j = self.j
        found = self._session(request)
        if found is None or flow.account_id is None or found[1].id != flow.account_id:
            raise Refusal("not_signed_in", detail="no journal session of the account that started linking")
        account = found[1]
        confirmed = sbj.get("urn:esia:sbj:is_tru") is True and sbj.get("urn:esia:sbj:lvl") == "PR"
        if j.defect_on("MANUAL_LINK_CONFIRMED_ONLY") and not confirmed:
            raise Refusal("manual_link_unconfirmed", detail=f"lvl {sbj.get('urn:esia:sbj:lvl')}")
        other = j.accounts.by_oid(str(oid))
        if other is not None and other.id != account.id:
            raise Refusal("esia_linked_elsewhere", detail=f"oid linked to {other.label}")
        record = j.person(account)
        if record and digits(record.get("snils")) and digits(person.get("snils")) \
                and digits(record.get("snils")) != digits(person.get("snils")):
            raise Refusal("other_person", detail="SNILS differs from the account's record")
        if other is None:
            if account.esia_oid is not None:
                j.accounts.unlink_esia(account.id, account.label, ip)
            j.accounts.link_esia(account.id, str(oid), "manual", account.label, ip)
        if j.defect_on("LOG_ESIA_TOKEN"):
            j.events.record(ev.LINK, account.label, object=account.label, ip=ip, details={"oid": str(oid)},
                            unscrubbed=self._token_dump(tokens))
        return self.page(request, lang, "linked", switch=False)

    # -- log ----------------------------------------------------------------------------------

    def _token_dump(self, tokens: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The LOG_ESIA_TOKEN and LOG_ESIA_REFRESH_TOKEN defects: the token response, in clear."""
        if not tokens:
            return None
        if self.j.defect_on("LOG_ESIA_REFRESH_TOKEN") and tokens.get("refresh_token"):
            return {"esia_refresh": tokens["refresh_token"]}
        if not self.j.defect_on("LOG_ESIA_TOKEN"):
            return None
        return {"esia_response": {k: tokens.get(k) for k in ("access_token", "id_token", "expires_in")}}

    def _callback_dump(self, request: Request) -> dict[str, Any]:
        """The LOG_ESIA_CALLBACK defect: the callback's query (authorization code, state), in clear."""
        if not self.j.defect_on("LOG_ESIA_CALLBACK"):
            return {}
        return {"callback_query": str(request.url.query)}

    def _log_failure(self, purpose: str, refusal: Refusal, oid: int | None, ip: str | None,
                     tokens: Mapping[str, Any] | None) -> None:
        if purpose == "sign_in" and self.j.defect_on("FAILED_SIGN_IN_NOT_LOGGED"):
            return
        if purpose == "sign_in" and refusal.reason == "esia_denied" and self.j.defect_on("ESIA_REFUSAL_NOT_LOGGED"):
            return
        details: dict[str, Any] = {"method": "esia", "reason": refusal.reason}
        if refusal.fields:
            details["fields"] = refusal.fields
        if refusal.code:
            details["esia_code"] = refusal.code
        if refusal.detail:
            details["detail"] = refusal.detail
        if oid is not None:
            details["oid"] = str(oid)
        self.j.events.record(ev.LINK if purpose == "link" else ev.SIGN_IN,
                             f"esia:{oid}" if oid is not None else "anonymous", ev.FAILURE, ip=ip,
                             details=details, unscrubbed=self._token_dump(tokens),
                             empty_actor=oid is None and self.j.defect_on("ANONYMOUS_ACTOR_EMPTY"))


class _Shared(httpx.AsyncBaseTransport):
    """The journal's injected transport (shared with other slots): not closed with our client."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)


# --- module helpers ----------------------------------------------------------------------------

def _esia_code(description: str) -> str | None:
    text = description.strip()
    if text.startswith("ESIA-") and len(text) >= 11 and text[5:11].isdigit():
        return text[5:11]
    return None


def _esia_refusal(error: str, description: str) -> Refusal:
    """The page for an error ЕСИА sent back to the callback."""
    code = _esia_code(description)
    detail = f"{error[:40]}: {description[:160]}"
    if code == "007004" and "parentalConsentPending" in description:
        return Refusal("consent_pending", code=code, detail=detail)
    if code == "007004" or (code is None and error == "access_denied"):
        return Refusal("esia_denied", code=code, detail=detail)
    if code == "007055":
        return Refusal("unconfirmed", code=code, detail=detail)
    return Refusal("esia_error", code=code, detail=detail)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _oid(claims: Mapping[str, Any]) -> int | None:
    sbj = claims.get("urn:esia:sbj")
    from_sbj = _int(sbj.get("urn:esia:sbj:oid")) if isinstance(sbj, dict) else None
    sub = _int(claims.get("sub"))
    if sub is not None and from_sbj is not None and sub != from_sbj:
        return None
    return sub if sub is not None else from_sbj


def _bearer(tokens: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def create_auth(journal: "Journal") -> EsiaAuth:
    """The auth slot (see `reference_journal/slots.py`)."""
    return EsiaAuth(journal)
