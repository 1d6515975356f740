"""The mock's pages for people: sign-in, «Предоставление прав доступа», the parent's cabinet.

Plain HTML forms (no JavaScript), Russian by default, English with `lang=en` (query or the
hidden form field). The suite posts the very same forms with an HTTP client that keeps
cookies, so the field names here are the contract of `MockLoginForm` in esia.yaml.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                          autoescape=jinja2.select_autoescape(["html"]))

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "brand": "Госуслуги — ЕСИА", "mock_note": "тестовый стенд (mock)", "other_lang": "English",
        "login_title": "Вход", "username": "Телефон, почта, СНИЛС или OID", "password": "Пароль",
        "login_button": "Войти", "login_allow": "Войти и предоставить доступ", "deny": "Отказать",
        "allow": "Предоставить", "login_grants": "Нажимая «Войти и предоставить доступ», вы "
        "разрешаете системе доступ к перечисленным данным.",
        "login_hint": "Тестовые пользователи входят по паролю из набора данных (по умолчанию — "
        "задан администратором стенда).",
        "bad_credentials": "Неверный логин или пароль", "bad_action": "Неизвестное действие",
        "rights_title": "Предоставление прав доступа",
        "rights_intro": "Система запрашивает доступ к вашим данным:",
        "signed_in_as": "Вы вошли как", "cabinet_title": "Согласия и доверенности",
        "no_kids": "Детей, привязанных к вашей учётной записи, нет.", "child": "Ребёнок",
        "system": "Система", "state": "Согласие", "granted": "дано", "pending": "не дано",
        "grant": "Дать согласие", "revoke": "Отозвать", "not_parent": "Вы не родитель этого ребёнка",
        "error_title": "Ошибка", "signed_out": "Вы вышли из ЕСИА",
        "signed_out_text": "Сеанс завершён.",
    },
    "en": {
        "brand": "Gosuslugi — ESIA", "mock_note": "test bench (mock)", "other_lang": "Русский",
        "login_title": "Sign in", "username": "Phone, e-mail, SNILS or OID", "password": "Password",
        "login_button": "Sign in", "login_allow": "Sign in and grant access", "deny": "Deny",
        "allow": "Grant", "login_grants": "By pressing «Sign in and grant access» you allow the "
        "system to access the data listed.",
        "login_hint": "Test users sign in with the password of the dataset (by default the one "
        "the bench administrator set).",
        "bad_credentials": "Wrong login or password", "bad_action": "Unknown action",
        "rights_title": "Granting access rights",
        "rights_intro": "The system asks for access to your data:",
        "signed_in_as": "Signed in as", "cabinet_title": "Consents and powers of attorney",
        "no_kids": "No children are linked to your account.", "child": "Child",
        "system": "System", "state": "Consent", "granted": "given", "pending": "not given",
        "grant": "Give consent", "revoke": "Revoke", "not_parent": "You are not a parent of this child",
        "error_title": "Error", "signed_out": "You have signed out of ESIA",
        "signed_out_text": "The session has ended.",
    },
}

SCOPE_LABELS: dict[str, tuple[str, str]] = {
    "openid": ("Идентификатор пользователя", "User identifier"),
    "fullname": ("Фамилия, имя, отчество", "Full name"),
    "birthdate": ("Дата рождения", "Date of birth"),
    "gender": ("Пол", "Gender"),
    "snils": ("СНИЛС", "SNILS"),
    "inn": ("ИНН", "INN"),
    "id_doc": ("Документ, удостоверяющий личность", "Identity document"),
    "birthplace": ("Место рождения", "Place of birth"),
    "email": ("Адрес электронной почты", "E-mail"),
    "mobile": ("Номер мобильного телефона", "Mobile phone"),
    "contacts": ("Контактные данные", "Contacts"),
    "addresses": ("Адреса", "Addresses"),
    "usr_org": ("Организации пользователя", "User's organisations"),
    "birth_cert_doc": ("Свидетельство о рождении", "Birth certificate"),
    "kid_fullname": ("ФИО детей", "Children's full names"),
    "kid_birthdate": ("Даты рождения детей", "Children's dates of birth"),
    "kid_gender": ("Пол детей", "Children's gender"),
    "kid_snils": ("СНИЛС детей", "Children's SNILS"),
    "kid_inn": ("ИНН детей", "Children's INN"),
    "kid_birth_cert_doc": ("Свидетельства о рождении детей", "Children's birth certificates"),
    "kid_school_data": ("Сведения об обучении детей в школе", "Children's school data"),
}


def lang_of(value: str | None) -> str:
    return "en" if (value or "").lower().startswith("en") else "ru"


def scope_items(scopes: list[str] | tuple[str, ...], lang: str) -> list[dict[str, str]]:
    i = 1 if lang == "en" else 0
    return [{"name": s, "label": SCOPE_LABELS.get(s, (s, s))[i]} for s in scopes]


def render(name: str, lang: str, query: dict[str, str] | None = None, **ctx: Any) -> str:
    t = TEXTS[lang]
    other = dict(query or {})
    other["lang"] = "ru" if lang == "en" else "en"
    title = ctx.pop("title", None) or t.get(ctx.get("heading_key", ""), t["brand"])
    return _env.get_template(name).render(lang=lang, t=t, title=title,
                                          other_lang_query=urlencode(other), **ctx)


def person_name(p: dict[str, Any]) -> str:
    parts = [p.get("lastName", ""), p.get("firstName", ""), p.get("middleName", "")]
    return " ".join(x for x in parts if x) or f"OID {p.get('oid')}"
