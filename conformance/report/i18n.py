"""Report texts in Russian and English: `TEXTS[key] = {"ru": ..., "en": ...}`; `t(key, lang)`."""
from __future__ import annotations

__all__ = ["LANGS", "TEXTS", "VERDICT_TEXTS", "t"]

LANGS = ("ru", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "Отчёт о проверке соответствия ЭЖД", "en": "E-journal conformance report"},
    "switch": {"ru": "English", "en": "Русский"},
    "summary": {"ru": "Итог", "en": "Summary"},
    "base_level": {"ru": "Базовый уровень", "en": "Base level"},
    "base_pass": {"ru": "ПРОЙДЕН: все обязательные (MUST) требования базового уровня выполнены",
                  "en": "PASSED: every base-level MUST requirement is met"},
    "base_fail": {"ru": "НЕ ПРОЙДЕН: не подтверждены обязательные требования",
                  "en": "FAILED: base-level MUST requirements not confirmed"},
    "waived_must_note": {
        "ru": "Исключения (waivers) по обязательным требованиям показаны как WAIVED, но не снимают их "
              "с базового уровня: результат базового уровня остаётся «не пройден».",
        "en": "Waivers on MUST requirements show as WAIVED but do not count for base-level sign-off: "
              "the base-level result stays failed."},
    "requirements": {"ru": "Требования", "en": "Requirements"},
    "verdicts": {"ru": "Вердикты", "en": "Verdicts"},
    "id": {"ru": "ID", "en": "ID"},
    "req_title": {"ru": "Требование", "en": "Requirement"},
    "strength": {"ru": "Сила", "en": "Strength"},
    "verdict": {"ru": "Вердикт", "en": "Verdict"},
    "duration": {"ru": "Время, с", "en": "Duration, s"},
    "area": {"ru": "Раздел", "en": "Area"},
    "all": {"ru": "все", "en": "all"},
    "filter_verdict": {"ru": "Вердикт:", "en": "Verdict:"},
    "filter_area": {"ru": "Раздел:", "en": "Area:"},
    "shown": {"ru": "показано", "en": "shown"},
    "tests": {"ru": "Тесты", "en": "Tests"},
    "no_tests": {"ru": "Ни один тест этого прогона не проверял требование.",
                 "en": "No test of this run verified this requirement."},
    "test": {"ru": "Тест", "en": "Test"},
    "reason": {"ru": "Причина", "en": "Reason"},
    "expected": {"ru": "Ожидалось", "en": "Expected"},
    "actual": {"ru": "Получено", "en": "Actual"},
    "cause": {"ru": "Что сломалось", "en": "What broke"},
    "hypothesis": {"ru": "Контрпример Hypothesis", "en": "Hypothesis counterexample"},
    "transcript": {"ru": "HTTP-обмен", "en": "HTTP transcript"},
    "exchanges": {"ru": "обменов", "en": "exchanges"},
    "missing_transcript": {"ru": "Файл записи обмена не найден", "en": "Transcript file not found"},
    "bad_line": {"ru": "строка не разобрана как JSON", "en": "line is not JSON"},
    "rerun": {"ru": "Повторить только это требование", "en": "Re-run just this requirement"},
    "seed": {"ru": "Зерно (seed)", "en": "Seed"},
    "run": {"ru": "Прогон", "en": "Run"},
    "suite_version": {"ru": "Версия набора тестов", "en": "Suite version"},
    "started": {"ru": "Начало", "en": "Started"},
    "finished": {"ru": "Окончание", "en": "Finished"},
    "environment": {"ru": "Окружение", "en": "Environment"},
    "mocks": {"ru": "Имитаторы", "en": "Mocks"},
    "features": {"ru": "Заявленные функции", "en": "Declared features"},
    "none": {"ru": "нет", "en": "none"},
    "sut": {"ru": "Декларация испытуемой системы (секреты удалены)",
            "en": "SUT declaration (secrets removed)"},
    "waivers": {"ru": "Исключения (waivers)", "en": "Waivers"},
    "waived_by": {"ru": "Исключение", "en": "Waived"},
    "expires": {"ru": "действует до", "en": "expires"},
    "ticket": {"ru": "заявка", "en": "ticket"},
    "expired_waivers": {"ru": "Истёкшие исключения (не применены)", "en": "Expired waivers (not applied)"},
    "unused_waivers": {"ru": "Неиспользованные исключения", "en": "Unused waivers"},
    "blocking": {"ru": "Блокируют", "en": "Blocking"},
    "explain_FAIL": {"ru": "Журнал не выполнил обязательное требование: проверка ниже не прошла.",
                     "en": "The journal broke a MUST requirement: the check below failed."},
    "explain_WARN": {"ru": "Журнал не выполнил рекомендуемое (SHOULD) требование.",
                     "en": "The journal missed a SHOULD requirement."},
    "explain_ERROR": {"ru": "Сбой окружения или теста: о журнале ничего не доказано.",
                      "en": "The environment or the test broke: nothing is proven about the journal."},
    "explain_SKIPPED": {"ru": "Тест пропущен: ничего не доказано.", "en": "The test was skipped: nothing is proven."},
    "explain_NOT_APPLICABLE": {"ru": "Требование не применимо: функция не заявлена.",
                               "en": "Not applicable: the feature is not declared."},
    "explain_WAIVED": {"ru": "Нарушение признано исключением (waiver).", "en": "The failure is waived."},
}

VERDICT_TEXTS: dict[str, dict[str, str]] = {
    "PASS": {"ru": "выполнено", "en": "pass"},
    "WARN": {"ru": "предупреждение", "en": "warning"},
    "FAIL": {"ru": "нарушено", "en": "fail"},
    "ERROR": {"ru": "ошибка окружения", "en": "error"},
    "NOT_APPLICABLE": {"ru": "не применимо", "en": "not applicable"},
    "SKIPPED": {"ru": "пропущено", "en": "skipped"},
    "NOT_TESTED": {"ru": "не проверено", "en": "not tested"},
    "WAIVED": {"ru": "исключение", "en": "waived"},
}


def t(key: str, lang: str = "ru") -> str:
    """The text `key` in `lang` (Russian when the language is unknown)."""
    texts = TEXTS.get(key) or VERDICT_TEXTS[key]
    return texts.get(lang) or texts["ru"]
