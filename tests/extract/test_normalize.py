"""Span text -> typed values: the formats people type into booking requests and OCR reads off Malaysian receipts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from microgpt.errors import ConfigError
from microgpt.extract import normalize as module
from microgpt.extract.normalize import FIELD_TYPES, Money, fold, normalize, to_json

REF = date(2026, 11, 29)  # a Sunday


def test_public_api_is_exactly_these_names() -> None:
    assert sorted(module.__all__) == ["FIELD_TYPES", "Money", "fold", "normalize", "to_json"]
    assert FIELD_TYPES == ("text", "date", "time", "money", "count")


# --- text -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana Ruiz", "Ana Ruiz"),
        ("  Ana \t Ruiz\n", "Ana Ruiz"),
        ("NO.53 55,57 & 59,\nJALAN  SAGU 18", "NO.53 55,57 & 59, JALAN SAGU 18"),  # punctuation and case kept
        ("Ana\u00a0Ruiz", "Ana Ruiz"),  # a non-breaking space is whitespace too
        ("", ""),
    ],
)
def test_text_folds_whitespace_and_keeps_the_rest(value: str, expected: str) -> None:
    assert normalize(value, "text") == expected


# --- date -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # relative, against Sunday 2026-11-29, preferring the future
        ("today", "2026-11-29"),
        ("tomorrow", "2026-11-30"),
        ("tmrw", "2026-11-30"),
        ("the day after tomorrow", "2026-12-01"),
        ("next Tuesday", "2026-12-01"),
        ("this friday", "2026-12-04"),
        ("this coming Friday", "2026-12-04"),
        ("Friday", "2026-12-04"),
        ("on Friday", "2026-12-04"),
        ("fri", "2026-12-04"),
        ("next Friday at 7", "2026-12-04"),  # the time part is not read as the 7th
        ("Friday 7pm", "2026-12-04"),
        ("tomorrow night", "2026-11-30"),
        ("tonight", "2026-11-29"),
        ("in two weeks", "2026-12-13"),
        ("in 3 days", "2026-12-02"),
        ("in 3 days' time", "2026-12-02"),
        ("a week from today", "2026-12-06"),
        ("a week today", "2026-12-06"),
        ("in a fortnight", "2026-12-13"),
        ("esok", "2026-11-30"),  # Malay "tomorrow"
        ("yesterday", "2026-11-28"),  # said of the past, read as the past
        # partial dates: the next one on or after the reference
        ("the 5th", "2026-12-05"),
        ("on the 5th", "2026-12-05"),
        ("5th", "2026-12-05"),
        ("the fifth", "2026-12-05"),
        ("the twenty-first", "2026-12-21"),
        ("the 31st", "2026-12-31"),  # November has no 31st
        ("the 29th", "2026-11-29"),  # today counts
        ("Dec 3rd", "2026-12-03"),
        ("3rd of December", "2026-12-03"),
        ("August 23rd", "2027-08-23"),
        ("Nov 3", "2027-11-03"),
        ("29 Feb", "2028-02-29"),  # the next leap year
        ("Sat 3 Dec", "2026-12-03"),  # the day and month win over a weekday that does not match them
        ("Friday the 5th", "2026-12-05"),
        ("03/12", "2026-12-03"),
        ("Sat 03/12", "2026-12-03"),
        ("03/11", "2027-11-03"),
        # full dates, as printed on receipts
        ("25/12/2018", "2018-12-25"),
        ("18-11-18", "2018-11-18"),  # two-digit year: 2018, never 2118
        ("02/01/99", "1999-01-02"),
        ("2018-12-25", "2018-12-25"),
        ("2018/12/25", "2018-12-25"),
        ("2018-12-25T20:13:39", "2018-12-25"),
        ("25.12.2018", "2018-12-25"),
        ("20181225", "2018-12-25"),
        ("03 Jan 2018", "2018-01-03"),
        ("03 Jan 18", "2018-01-03"),
        ("3-Jan-2018", "2018-01-03"),
        ("JAN 03, 2018", "2018-01-03"),
        ("December 3rd, 2018", "2018-12-03"),
        ("Tue, 4 Dec 2018", "2018-12-04"),
        ("2018 Dec 25", "2018-12-25"),
        ("03 Ogos 2018", "2018-08-03"),  # Malay month
        ("25/12/2018 8:13:39 PM", "2018-12-25"),
        ("Date: 25/12/2018 Time: 20:13", "2018-12-25"),
        ("13/01/2019", "2019-01-13"),
    ],
)
def test_date(value: str, expected: str) -> None:
    assert normalize(value, "date", reference=REF) == expected


@pytest.mark.parametrize(
    "value",
    [
        "asdf",
        "",
        "Christmas Eve",  # holidays are not resolved
        "this weekend",  # two days, not one
        "next month",  # no particular day
        "May",
        "Dec 2018",
        "2018",
        "4",  # a bare number is not a date
        "7pm",  # a time, not a date
        "31/02/2018",
        "13/25/2018",
    ],
)
def test_date_none_when_not_a_day(value: str) -> None:
    assert normalize(value, "date", reference=REF) is None


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        ("03/04/2018", "DMY", "2018-04-03"),
        ("03/04/2018", "MDY", "2018-03-04"),
        ("03/04/2018", "YMD", "2018-04-03"),  # a four-digit year is last whatever the order: day first as default
        ("18/11/25", "YMD", "2018-11-25"),
        ("18/11/25", "DMY", "2025-11-18"),
        ("12/25/2018", "DMY", "2018-12-25"),  # only one reading is possible: take it
        ("25/12/2018", "MDY", "2018-12-25"),
        ("2018-12-05", "MDY", "2018-12-05"),  # year first is never ambiguous
        ("03/12", "MDY", "2027-03-12"),
        ("03/12", "DMY", "2026-12-03"),
    ],
)
def test_date_order_settles_ambiguous_numeric_dates(value: str, order: str, expected: str) -> None:
    assert normalize(value, "date", reference=REF, date_order=order) == expected


def test_date_reference_defaults_to_today_and_accepts_a_datetime() -> None:
    assert normalize("today", "date") == date.today().isoformat()
    assert normalize("tomorrow", "date", reference=datetime(2026, 11, 29, 23, 59)) == "2026-11-30"


# --- time -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", "19:00"),  # a bare hour is pm: people book dinner, not breakfast
        ("11", "23:00"),
        ("12", "12:00"),
        ("7pm", "19:00"),
        ("7 pm", "19:00"),
        ("7 p.m.", "19:00"),
        ("7PM", "19:00"),
        ("7:30", "19:30"),
        ("19:30", "19:30"),
        ("10:30 am", "10:30"),
        ("7 a.m.", "07:00"),
        ("07:30", "07:30"),  # a leading zero is a 24-hour clock
        ("0930", "09:30"),
        ("1415", "14:15"),
        ("1930 hrs", "19:30"),
        ("730pm", "19:30"),
        ("8.15pm", "20:15"),
        ("7h30", "19:30"),
        ("8:13:39 PM", "20:13"),
        ("25/12/2018 8:13:39 PM", "20:13"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("12:30 a.m.", "00:30"),
        ("13:00 pm", "13:00"),
        ("noon", "12:00"),
        ("12 noon", "12:00"),
        ("midday", "12:00"),
        ("midnight", "00:00"),
        ("half past seven", "19:30"),
        ("half seven", "19:30"),  # British
        ("quarter past 7", "19:15"),
        ("quarter to 8", "19:45"),
        ("quarter to 1", "12:45"),
        ("ten past eight", "20:10"),
        ("twenty five to nine", "20:35"),
        ("seven thirty", "19:30"),
        ("seven oh five", "19:05"),
        ("eight o'clock", "20:00"),
        ("at 7 in the evening", "19:00"),
        ("7 in the morning", "07:00"),
        ("tonight at 8", "20:00"),
        ("around 7ish", "19:00"),
        ("@ 8", "20:00"),
    ],
)
def test_time(value: str, expected: str) -> None:
    assert normalize(value, "time") == expected


@pytest.mark.parametrize("value", ["asdf", "", "25:00", "7:75", "13 am", "7 or 8", "table for four"])
def test_time_none_when_not_a_time(value: str) -> None:
    assert normalize(value, "time") is None


@pytest.mark.parametrize(
    ("value", "expected"), [("7", "07:00"), ("7:30", "07:30"), ("11", "11:00"), ("7pm", "19:00"), ("19:30", "19:30")]
)
def test_time_bare_hours_can_stay_morning(value: str, expected: str) -> None:
    assert module._parse_time(value, assume_pm_for_bare_hours=False) == expected


# --- money ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "amount", "currency"),
    [
        ("RM 30.90", "30.90", "MYR"),
        ("RM30.90", "30.90", "MYR"),
        ("rm 30.90", "30.90", "MYR"),
        ("30.90 MYR", "30.90", "MYR"),
        ("MYR 1,234.56", "1234.56", "MYR"),
        ("12 ringgit", "12", "MYR"),
        ("50 sen", "0.50", "MYR"),
        ("$1,299.00", "1299.00", "USD"),
        ("USD 12", "12", "USD"),
        ("12USD", "12", "USD"),
        ("12 dollars", "12", "USD"),
        ("$12k", "12000", "USD"),
        ("1.299,00 €", "1299.00", "EUR"),
        ("EUR 1.299,00", "1299.00", "EUR"),
        ("1 234,56 €", "1234.56", "EUR"),
        ("€ 12,-", "12", "EUR"),
        ("5 euros", "5", "EUR"),
        ("£5", "5", "GBP"),
        ("5 pounds", "5", "GBP"),
        ("¥1000", "1000", "JPY"),
        ("S$ 12.50", "12.50", "SGD"),
        ("sgd 5", "5", "SGD"),
        ("CHF 5", "5", "CHF"),
        ("30.90", "30.90", None),
        ("30,90", "30.90", None),
        ("1,299", "1299", None),
        ("1,234,567.891", "1234567.891", None),  # both separators: the last is the decimal point
        ("Total: RM 30.90", "30.90", "MYR"),
        ("RM 3O.9O", "30.90", "MYR"),  # OCR read the zeros as letters O
        ("-RM 1.00", "-1.00", "MYR"),
        ("RM -1.00", "-1.00", "MYR"),
        ("RM 1.00-", "-1.00", "MYR"),  # receipts print discounts with a trailing minus
        ("(1.00)", "-1.00", None),  # accounting brackets
        ("Rounding Adj -0.02", "-0.02", None),
        ("free", "0", None),
    ],
)
def test_money(value: str, amount: str, currency: str | None) -> None:
    result = normalize(value, "money")
    assert isinstance(result, Money)
    assert isinstance(result.amount, Decimal)
    assert (format(result.amount, "f"), result.currency) == (amount, currency)


@pytest.mark.parametrize("value", ["asdf", "", "RM"])
def test_money_none_without_an_amount(value: str) -> None:
    assert normalize(value, "money") is None


def test_money_json_is_exact_and_round_trips() -> None:
    assert normalize("1.299,00 €", "money").to_json() == {"amount": "1299.00", "currency": "EUR"}
    assert to_json(Money(Decimal("1.2E+4"), "USD")) == {"amount": "12000", "currency": "USD"}  # no exponent
    assert to_json(Money(Decimal("0.10"), None)) == {"amount": "0.10", "currency": None}  # trailing zero kept
    payload = json.loads(json.dumps(to_json(normalize("RM 30.90", "money"))))
    assert Money(Decimal(payload["amount"]), payload["currency"]) == Money(Decimal("30.90"), "MYR")


def test_money_is_frozen_and_compares_by_value() -> None:
    assert Money(Decimal("30.9"), "MYR") == Money(Decimal("30.90"), "MYR")
    with pytest.raises(AttributeError):
        Money(Decimal("1"), None).amount = Decimal("2")  # type: ignore[misc]


# --- count ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4", 4),
        ("four", 4),
        ("Four", 4),
        ("four of us", 4),
        ("party of 6", 6),
        ("table for 2", 2),
        ("6 people", 6),
        ("6 pax", 6),
        ("a couple", 2),
        ("two of us", 2),
        ("both of us", 2),
        ("5 adults and 1 child", 6),
        ("2 adults, 2 kids", 4),
        ("2 adults and 2 kids under 5", 4),  # an age is not a head count
        ("4 at 7pm", 4),  # nor is a time
        ("twelve", 12),
        ("twenty-one", 21),
        ("twenty one", 21),
        ("a dozen", 12),
        ("half a dozen", 6),
        ("just me", 1),
        ("only me", 1),
        ("table for one", 1),
        ("me and 3 friends", 4),
        ("me + 3", 4),
        ("me and my wife", 2),
        ("my wife and I", 2),
        ("a couple of friends and me", 3),
        ("3 of us including me", 3),
        ("4-6 people", 6),  # a range books for the larger
        ("4 or 5", 5),
    ],
)
def test_count(value: str, expected: int) -> None:
    assert normalize(value, "count") == expected


@pytest.mark.parametrize("value", ["asdf", "", "lots", "me and my kids"])
def test_count_none_without_a_number(value: str) -> None:
    assert normalize(value, "count") is None


# --- every type -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "value"),
    [
        ("date", "next Friday"),
        ("date", "03 Jan 18"),
        ("time", "7"),
        ("time", "7 a.m."),
        ("time", "midnight"),
        ("count", "six of us"),
        ("text", "  Ana   Ruiz "),
    ],
)
def test_normalising_twice_changes_nothing(field_type: str, value: str) -> None:
    # Gold answers are often stored already normalised; reading them again must give the same value.
    once = normalize(value, field_type, reference=REF)
    assert normalize(str(once), field_type, reference=REF) == once


@pytest.mark.parametrize("field_type", FIELD_TYPES)
@pytest.mark.parametrize("value", ["", "   ", "?!", "\u200b", "99/99/9999 99:99", "½ ⅓ ∞", "1e9999", "(((", "-"])
def test_odd_text_never_raises(field_type: str, value: str) -> None:
    result = normalize(value, field_type, reference=REF)
    # never an exception, and never a value of the wrong type: garbage is no date or time at all
    expected = {"text": str, "date": type(None), "time": type(None), "money": (Money, type(None)),
                "count": (int, type(None))}[field_type]  # fmt: skip
    assert isinstance(result, expected)
    if field_type == "text":
        assert result == value.strip()


def test_numbers_from_json_are_read_as_their_text() -> None:
    assert normalize(4, "count") == 4  # type: ignore[arg-type]
    assert normalize(30.9, "money") == Money(Decimal("30.9"), None)  # type: ignore[arg-type]


def test_unknown_field_type_and_date_order_say_what_to_use() -> None:
    with pytest.raises(ConfigError, match="unknown field type 'dates'") as err:
        normalize("today", "dates")
    assert err.value.hint is not None and "did you mean 'date'" in err.value.hint
    with pytest.raises(ConfigError, match="unknown date order 'DDMMYY'") as err:
        normalize("today", "date", date_order="DDMMYY")
    assert err.value.hint is not None and "DMY" in err.value.hint


def test_to_json_passes_plain_values_through() -> None:
    assert [to_json(v) for v in ("2026-12-04", "19:30", 6, "Ana Ruiz", None)] == [
        "2026-12-04",
        "19:30",
        6,
        "Ana Ruiz",
        None,
    ]


# --- fold -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("NO.53 55,57 & 59, JALAN SAGU 18", "no53 5557 59 jalan sagu 18"),
        ("Ana Ruiz", "ana  ruiz."),
        ("STRASSE", "straße"),  # casefold, not lower
        ("Café", "Cafe\u0301"),  # composed and decomposed accents agree
        ("ＲＭ３０", "RM30"),  # full-width OCR output
        ("日本 東京", "日本東京"),  # letters of any script are kept
    ],
)
def test_fold_equal(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.mark.parametrize(("a", "b"), [("Ana Ruiz", "Ana Ruis"), ("30.90", "3.09"), ("café", "cafe")])
def test_fold_keeps_what_differs(a: str, b: str) -> None:
    assert fold(a) != fold(b)


def test_fold_keeps_letters_and_digits_only() -> None:
    assert fold("NO.53 55,57 & 59, JALAN SAGU 18") == "no53555759jalansagu18"


# --- speed ----------------------------------------------------------------------------------------------------


def test_module_imports_fast_and_leaves_the_parsers_for_first_use() -> None:
    package_dir = str(Path(module.__file__).parents[1])
    code = f"""
import sys, time, types
package = types.ModuleType("microgpt")
package.__path__ = [{package_dir!r}]
sys.modules["microgpt"] = package  # skip microgpt/__init__ (the training stack): time this module alone
start = time.perf_counter()
import microgpt.extract.normalize
print(time.perf_counter() - start, "dateparser" in sys.modules, "price_parser" in sys.modules)
"""
    seconds, *imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(seconds) < 0.5
    assert imported == ["False", "False"]
