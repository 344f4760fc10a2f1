"""Issue 15, item 4: dates, times, money and head counts in Chinese, Spanish and German normalise to the same typed
values as English. Every expected value below was worked out by hand against the reference dates."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from microgpt.errors import ConfigError
from microgpt.extract.languages import detect_language
from microgpt.extract.normalize import FIELD_TYPES, Money, normalize

REF = date(2026, 11, 29)  # a Sunday
WED = date(2026, 12, 2)  # a Wednesday: "下周五" (Friday of next week) is no longer the coming Friday
ROOT = Path(__file__).resolve().parents[2]

# (field type, text, expected) against REF. Money is (amount, currency).
ZH = [
    ("date", "下周五", "2026-12-04"),
    ("date", "明天", "2026-11-30"),
    ("date", "后天", "2026-12-01"),
    ("date", "大后天", "2026-12-02"),
    ("date", "今晚", "2026-11-29"),
    ("date", "明晚", "2026-11-30"),
    ("date", "明天晚上", "2026-11-30"),
    ("date", "12月5日", "2026-12-05"),
    ("date", "12月5号", "2026-12-05"),
    ("date", "十二月五日", "2026-12-05"),
    ("date", "2026年12月24日", "2026-12-24"),
    ("date", "5号", "2026-12-05"),
    ("date", "周六", "2026-12-05"),
    ("date", "星期天", "2026-12-06"),  # a bare weekday is the next one, as English "Sunday" on a Sunday
    ("date", "礼拜六", "2026-12-05"),
    ("date", "下下周一", "2026-12-07"),
    ("date", "三天后", "2026-12-02"),
    ("date", "两周后", "2026-12-13"),
    ("date", "下个月5号", "2026-12-05"),
    ("date", "１２月２４日", "2026-12-24"),  # full-width digits
    ("time", "晚上7点", "19:00"),
    ("time", "7点", "19:00"),  # a bare hour is pm for a booking, as in English
    ("time", "下午3点", "15:00"),
    ("time", "上午10点", "10:00"),
    ("time", "早上8点半", "08:30"),
    ("time", "晚上七点半", "19:30"),
    ("time", "晚上7点15分", "19:15"),
    ("time", "晚上8点一刻", "20:15"),
    ("time", "7点三刻", "19:45"),
    ("time", "晚上十点", "22:00"),
    ("time", "中午12点", "12:00"),
    ("time", "中午1点", "13:00"),
    ("time", "凌晨1点", "01:00"),
    ("time", "晚上12点", "00:00"),
    ("time", "中午", "12:00"),
    ("time", "晚上７：３０", "19:30"),
    ("time", "６点", "18:00"),
    ("time", "两点", "14:00"),
    ("count", "四位", 4),
    ("count", "两位", 2),
    ("count", "十二位", 12),
    ("count", "三十五人", 35),
    ("count", "二十位", 20),
    ("count", "４位", 4),
    ("count", "我们一共6个人", 6),  # "一共" (in all) is no 1
    ("count", "就我一个", 1),
    ("count", "两个大人一个小孩", 3),
    ("count", "我和我太太", 2),
    ("count", "我和3个朋友", 4),
    ("count", "4到6个人", 6),  # a range books the larger
    ("count", "两个大人和一个5岁的孩子", 3),  # an age is not a head count
    ("money", "一百二十八元", ("128", "CNY")),
    ("money", "128块", ("128", "CNY")),
    ("money", "¥128", ("128", "CNY")),  # the yuan in a Chinese message, not the yen
    ("money", "３.５万元", ("35000", "CNY")),
    ("money", "两千五百元", ("2500", "CNY")),
    ("money", "人民币1,299.00元", ("1299.00", "CNY")),
    ("money", "50美元", ("50", "USD")),
    ("money", "1万2千元", ("12000", "CNY")),
    ("money", "2千5块", ("2500", "CNY")),  # colloquial: the last digit counts in the unit below
    ("money", "二百九十九块", ("299", "CNY")),
    ("money", "总计：￥1,299.00", ("1299.00", "CNY")),
]
ES = [
    ("date", "el martes", "2026-12-01"),
    ("date", "el próximo martes", "2026-12-01"),
    ("date", "el martes que viene", "2026-12-01"),
    ("date", "este viernes", "2026-12-04"),
    ("date", "el viernes", "2026-12-04"),
    ("date", "mañana", "2026-11-30"),
    ("date", "mañana por la noche", "2026-11-30"),
    ("date", "pasado mañana", "2026-12-01"),
    ("date", "hoy", "2026-11-29"),
    ("date", "esta noche", "2026-11-29"),
    ("date", "el sábado 5 de diciembre", "2026-12-05"),
    ("date", "el 5 de diciembre", "2026-12-05"),
    ("date", "24 de diciembre de 2026", "2026-12-24"),
    ("date", "el día 5", "2026-12-05"),
    ("date", "dentro de dos semanas", "2026-12-13"),
    ("date", "en tres días", "2026-12-02"),
    ("date", "el 12/12", "2026-12-12"),
    ("date", "el lunes 7", "2026-12-07"),  # Monday the 7th, not July
    ("date", "el domingo 6", "2026-12-06"),
    ("date", "el 7 de dic.", "2026-12-07"),
    ("date", "el viernes de la semana que viene", "2026-12-04"),
    ("date", "dentro de una semana", "2026-12-06"),
    ("time", "a las 8", "20:00"),
    ("time", "a las 8 y media", "20:30"),
    ("time", "a las ocho y media", "20:30"),
    ("time", "a las 8 y cuarto", "20:15"),
    ("time", "a las 9 menos cuarto", "20:45"),
    ("time", "a las ocho y diez", "20:10"),
    ("time", "a las nueve", "21:00"),
    ("time", "a las 9 de la noche", "21:00"),
    ("time", "a las 2 de la tarde", "14:00"),
    ("time", "a las 10 de la mañana", "10:00"),
    ("time", "a la una", "13:00"),
    ("time", "a las 20:30", "20:30"),
    ("time", "a mediodía", "12:00"),
    ("time", "a medianoche", "00:00"),
    ("count", "somos 3", 3),
    ("count", "para cuatro", 4),
    ("count", "para 4 personas", 4),
    ("count", "una mesa para dos", 2),  # "una mesa" is a table, not one more guest
    ("count", "seremos seis", 6),
    ("count", "dos adultos y un niño", 3),
    ("count", "veintidós personas", 22),
    ("count", "treinta y cinco", 35),
    ("count", "solo yo", 1),
    ("count", "mi mujer y yo", 2),
    ("count", "yo y 3 amigos", 4),
    ("money", "1.299,00 €", ("1299.00", "EUR")),
    ("money", "12,50 euros", ("12.50", "EUR")),
    ("money", "doce euros", ("12", "EUR")),
    ("money", "EUR 1.299,-", ("1299", "EUR")),
    ("money", "cincuenta euros", ("50", "EUR")),
    ("money", "Total: 1.299,00 €", ("1299.00", "EUR")),
]
DE = [
    ("date", "am Samstag", "2026-12-05"),
    ("date", "nächsten Freitag", "2026-12-04"),
    ("date", "kommenden Freitag", "2026-12-04"),
    ("date", "morgen", "2026-11-30"),
    ("date", "morgen Abend", "2026-11-30"),
    ("date", "übermorgen", "2026-12-01"),
    ("date", "heute Abend", "2026-11-29"),
    ("date", "am 5. Dezember", "2026-12-05"),
    ("date", "Freitag, den 4. Dezember", "2026-12-04"),
    ("date", "24. Dezember 2026", "2026-12-24"),
    ("date", "Samstag, 5.12.", "2026-12-05"),
    ("date", "in zwei Wochen", "2026-12-13"),
    ("date", "in 3 Tagen", "2026-12-02"),
    ("date", "Sa 5.12.", "2026-12-05"),
    ("date", "Mo., 7. Dez.", "2026-12-07"),
    ("date", "am Montag, den 7.", "2026-12-07"),
    ("date", "nächste Woche Freitag", "2026-12-04"),
    ("date", "morgen früh", "2026-11-30"),
    ("time", "um halb acht", "19:30"),  # half way to eight
    ("time", "um halb eins", "12:30"),
    ("time", "um 8", "20:00"),
    ("time", "um 8 Uhr", "20:00"),
    ("time", "um 19 Uhr", "19:00"),
    ("time", "um 19:30 Uhr", "19:30"),
    ("time", "um 19.30 Uhr", "19:30"),
    ("time", "20 Uhr 15", "20:15"),
    ("time", "um Viertel nach sieben", "19:15"),
    ("time", "um Viertel vor acht", "19:45"),
    ("time", "um dreiviertel acht", "19:45"),
    ("time", "um viertel acht", "19:15"),
    ("time", "um fünf nach halb acht", "19:35"),
    ("time", "um zehn vor acht", "19:50"),
    ("time", "um 10 Uhr morgens", "10:00"),
    ("time", "um 3 Uhr nachmittags", "15:00"),
    ("time", "um 8 Uhr abends", "20:00"),
    ("time", "um 1 Uhr mittags", "13:00"),
    ("time", "um zwölf", "12:00"),
    ("time", "um Mitternacht", "00:00"),
    ("count", "wir sind zu viert", 4),
    ("count", "zu zweit", 2),
    ("count", "zu dritt", 3),
    ("count", "für 4 Personen", 4),
    ("count", "für vier Personen", 4),
    ("count", "ein Tisch für zwei", 2),
    ("count", "zwölf Personen", 12),
    ("count", "fünfunddreißig", 35),
    ("count", "einundzwanzig Gäste", 21),
    ("count", "zwei Erwachsene und ein Kind", 3),
    ("count", "2 Erwachsene und 2 Kinder unter 5 Jahren", 4),
    ("count", "nur ich", 1),
    ("count", "meine Frau und ich", 2),
    ("count", "ich und 3 Freunde", 4),
    ("money", "1.299,00 €", ("1299.00", "EUR")),
    ("money", "zwölf Euro", ("12", "EUR")),
    ("money", "12,- €", ("12", "EUR")),
    ("money", "Summe 49,90 EUR", ("49.90", "EUR")),
    ("money", "achtzig Euro", ("80", "EUR")),
]
CASES = {"zh": ZH, "es": ES, "de": DE}
# Nothing in these spans tells their language: the extractor passes the whole message's.
NEEDS_THE_MESSAGE = {"¥128", "Sa 5.12."}


def _expected(field_type: str, expected: object) -> object:
    if field_type == "money":
        amount, currency = expected  # type: ignore[misc]
        return Money(Decimal(amount), currency)
    return expected


@pytest.mark.parametrize(("language", "field_type", "value", "expected"),
                         [(lang, *case) for lang, cases in CASES.items() for case in cases])  # fmt: skip
def test_issue_15_each_language_gives_the_english_typed_value(
    language: str, field_type: str, value: str, expected: object
) -> None:
    assert normalize(value, field_type, reference=REF, language=language) == _expected(field_type, expected)
    if value not in NEEDS_THE_MESSAGE:  # and with the language told by the text itself
        assert normalize(value, field_type, reference=REF) == _expected(field_type, expected)


@pytest.mark.parametrize(
    ("message", "language", "date_", "time", "people"),
    [
        ("下周五晚上7点，四位", "zh", "2026-12-04", "19:00", 4),
        ("el martes a las 8, somos 3", "es", "2026-12-01", "20:00", 3),
        ("am Samstag um halb acht, wir sind zu viert", "de", "2026-12-05", "19:30", 4),
    ],
)
def test_issue_15_the_issue_s_messages_read_whole(
    message: str, language: str, date_: str, time: str, people: int
) -> None:
    assert detect_language(message) == language
    assert normalize(message, "date", reference=REF) == date_
    assert normalize(message, "time") == time
    assert normalize(message, "count") == people


@pytest.mark.parametrize(
    ("value", "on_wednesday"),
    [
        ("下周五", "2026-12-11"),  # Friday of next week (Chinese weeks run Monday to Sunday), not the coming Friday
        ("这周五", "2026-12-04"),
        ("本周日", "2026-12-06"),
        ("周五", "2026-12-04"),
        ("下周一", "2026-12-07"),
        ("Freitag nächste Woche", "2026-12-11"),  # German says it the Chinese way too
        ("el viernes de la semana que viene", "2026-12-11"),
    ],
)
def test_issue_15_next_week_s_friday_is_in_next_week(value: str, on_wednesday: str) -> None:
    assert normalize(value, "date", reference=WED) == on_wednesday


def test_issue_15_a_short_span_reads_in_the_message_s_language() -> None:
    # "8" alone is English; the extractor passes the whole message's language, so German "8" stays 20:00 and
    # Chinese "¥" is the yuan.
    assert normalize("¥128", "money") == Money(Decimal("128"), "JPY")
    assert normalize("¥128", "money", language="zh") == Money(Decimal("128"), "CNY")
    assert normalize("CHF 1’299.00", "money", language="de") == Money(Decimal("1299.00"), "CHF")
    assert normalize("halb acht", "time", language="de") == "19:30"
    assert normalize("halb acht", "time", language="en") is None  # told English, it is no English time


def test_issue_15_english_messages_are_never_taken_for_another_language() -> None:
    # The English readers stay byte-identical only if English text keeps going to them.
    texts = []
    for name in ("bookings.jsonl", "invoices.jsonl", "replies.jsonl"):
        for line in (ROOT / "examples" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(row["text"])
            texts += [row["text"][s["start"] : s["end"]] for s in row.get("spans", [])]
    wrong = [t for t in texts if detect_language(t) != "en" and t != "日本 東京"]
    assert wrong == []
    for text in ("7 am", "at 7 am", "in 3 days", "5 euros", "Dec 3rd", "half past seven", "me and my wife"):
        assert detect_language(text) == "en"


def test_issue_15_an_unknown_language_says_which_to_use() -> None:
    with pytest.raises(ConfigError, match="unknown language 'cn'") as err:
        normalize("明天", "date", language="cn")
    assert err.value.hint is not None and "zh" in err.value.hint and "auto" in err.value.hint


@pytest.mark.parametrize("language", ["zh", "es", "de"])
@pytest.mark.parametrize("field_type", FIELD_TYPES)
@pytest.mark.parametrize(
    "value", ["", "   ", "?!", "十万八千", "星期", "y media", "halb", "um", "¥", "万", "月日号", "halb 99", "99点99分"]
)
def test_issue_15_odd_text_never_raises_in_any_language(language: str, field_type: str, value: str) -> None:
    result = normalize(value, field_type, reference=REF, language=language)
    expected = {"text": str, "date": (str, type(None)), "time": (str, type(None)), "money": (Money, type(None)),
                "count": (int, type(None))}[field_type]  # fmt: skip
    assert isinstance(result, expected)


@pytest.mark.parametrize(("value", "language"), [("a las 8", "es"), ("um 8 Uhr", "de"), ("晚上8点", "zh")])
def test_issue_15_a_time_is_no_date(value: str, language: str) -> None:
    # dateparser's own readers take these for 8 November; a booking's time must not become its date
    assert normalize(value, "date", reference=REF, language=language) is None
