"""The portal's page for people: «Моё образование» of one ЕСИА user (Jinja2, no JavaScript).

Russian by default, English with `?lang=en` (or the hidden `lang` form field). Codes of the
export tables are shown with their labels from `specs/tables/_enums.yaml`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2

from specs.tables import TableSet, load_tables

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                          autoescape=jinja2.select_autoescape(["html"]))

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "brand": "Госуслуги — Моё образование", "mock_note": "тестовый стенд (mock)", "other_lang": "English",
        "title": "Моё образование", "period": "Период", "self": "Обучающийся", "child": "Ребёнок",
        "school": "Школа", "class": "Класс", "born": "Дата рождения",
        "marks": "Оценки", "attendance": "Посещаемость", "schedule": "Расписание", "homework": "Домашние задания",
        "achievements": "Достижения", "events": "События", "notifications": "Уведомления",
        "date": "Дата", "subject": "Предмет", "mark": "Оценка", "kind": "Вид", "lesson": "Урок",
        "time": "Время", "room": "Кабинет", "topic": "Тема", "status": "Статус", "due": "Срок",
        "task": "Задание", "title_col": "Название", "level": "Уровень", "result": "Результат",
        "place": "Место", "when": "Когда", "nothing": "Нет данных за период.",
        "from_journal": "из журнала", "from_showcase": "из витрины",
        "journal_failed": "Журнал не ответил, показаны данные витрины",
        "no_learners": "Дневник не найден: ни журнал, ни витрина не знают ваших детей или вас как "
                       "обучающегося. Обратитесь в школу.",
        "learners_failed": "Журнал не ответил на запрос списка обучающихся",
        "login_button": "Получить логин для входа в журнал", "login_title": "Логин в электронном журнале",
        "your_login": "Ваш логин", "child_login": "Логин ребёнка", "no_login": "нет учётной записи",
        "password_title": "Пароль ребёнка в журнале", "new_password": "Новый пароль",
        "password_button": "Установить пароль", "password_done": "Пароль ребёнка установлен.",
        "error": "Ошибка", "back": "Назад", "more": "ещё записей: {n}",
        "cancelled": "отменено", "min": "мин",
    },
    "en": {
        "brand": "Gosuslugi — My education", "mock_note": "test bench (mock)", "other_lang": "Русский",
        "title": "My education", "period": "Period", "self": "Learner", "child": "Child",
        "school": "School", "class": "Class", "born": "Date of birth",
        "marks": "Marks", "attendance": "Attendance", "schedule": "Schedule", "homework": "Homework",
        "achievements": "Achievements", "events": "Events", "notifications": "Notifications",
        "date": "Date", "subject": "Subject", "mark": "Mark", "kind": "Type", "lesson": "Lesson",
        "time": "Time", "room": "Room", "topic": "Topic", "status": "Status", "due": "Due",
        "task": "Task", "title_col": "Title", "level": "Level", "result": "Result",
        "place": "Place", "when": "When", "nothing": "Nothing in this period.",
        "from_journal": "from the journal", "from_showcase": "from the showcase",
        "journal_failed": "The journal did not answer; showcase data shown",
        "no_learners": "Diary not found: neither the journal nor the showcase knows your children or "
                       "you as a learner. Please contact the school.",
        "learners_failed": "The journal did not answer the request for the list of learners",
        "login_button": "Get my journal login", "login_title": "Login to the e-journal",
        "your_login": "Your login", "child_login": "Child's login", "no_login": "no account",
        "password_title": "Child's journal password", "new_password": "New password",
        "password_button": "Set password", "password_done": "The child's password has been set.",
        "error": "Error", "back": "Back", "more": "{n} more records",
        "cancelled": "cancelled", "min": "min",
    },
}

SHOWN = 50   # rows per section on the page (the JSON overview has them all)


def lang_of(value: str | None) -> str:
    return "en" if (value or "").lower().startswith("en") else "ru"


def label(tables: TableSet, table: str, column: str, code: Any, lang: str) -> str:
    """The reference-book label of a code (the code itself when unknown)."""
    try:
        enum = tables[table].column(column).enum
        return enum.codes[int(code)](lang) if enum is not None else str(code)
    except (KeyError, ValueError, TypeError):
        return "" if code is None else str(code)


def render(name: str, lang: str, query: dict[str, str] | None = None, tables: TableSet | None = None,
           **ctx: Any) -> str:
    t = TEXTS[lang]
    tables = tables or load_tables()
    other = dict(query or {})
    other["lang"] = "ru" if lang == "en" else "en"

    def lbl(table: str, column: str, code: Any) -> str:
        return label(tables, table, column, code, lang)

    return _env.get_template(name).render(lang=lang, t=t, lbl=lbl, shown=SHOWN,
                                          other_lang_query=urlencode(other), **ctx)


def person_name(p: dict[str, Any]) -> str:
    parts = [p.get("last_name"), p.get("first_name"), p.get("middle_name")]
    return " ".join(x for x in parts if x) or str(p.get("learner_id") or p.get("oid") or "")
