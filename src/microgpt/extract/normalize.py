"""Turn the text of an extracted span into a typed, normalised value: text, date, time, money or a head count.

    normalize("table  for\tfour ", "text")                        -> "table for four"
    normalize("next Friday", "date", reference=date(2026, 11, 29)) -> "2026-12-04"
    normalize("18-11-18", "date")                                  -> "2018-11-18"   (two-digit years pivot at 69)
    normalize("half past seven", "time")                           -> "19:30"        (a bare hour is pm: bookings)
    normalize("1.299,00 €", "money")                               -> Money(Decimal("1299.00"), "EUR")
    normalize("5 adults and 1 child", "count")                     -> 6
    fold("NO.53 55,57 & 59, JALAN SAGU 18") == fold("no53 5557 59 jalan sagu 18")
    normalize("下周五晚上7点", "time")                                -> "19:00"        (Chinese, Spanish, German too)

Every reader returns None for text it cannot read as its type and never raises on odd text. Cheap regular
expressions read the common shapes; `dateparser` (imported on first use: ~0.1 s, once) only sees what they leave,
mostly relative dates ("next Tuesday", "in two weeks"). Chinese, Spanish and German text is first rewritten into
the English these readers know (languages.py), so "el martes a las 8" gives the same values as "Tuesday at 8".
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from decimal import Decimal
from typing import Any

from microgpt.errors import ConfigError
from microgpt.extract.languages import LANGUAGES, detect_language, rewrite
from microgpt.extract.money import Money, parse_money

__all__ = ["FIELD_TYPES", "Money", "fold", "normalize", "to_json"]

FIELD_TYPES = ("text", "date", "time", "money", "count")
_DATE_ORDERS = ("DMY", "MDY", "YMD")


def normalize(
    value: str,
    field_type: str,
    *,
    reference: dt.date | None = None,
    date_order: str = "DMY",
    language: str | None = None,
) -> Any:
    """Return `value` read as `field_type`, or None when it cannot be read as that type.

    text -> str with whitespace folded, date -> "YYYY-MM-DD" (relative dates against `reference`, default today,
    preferring the future), time -> "HH:MM", money -> Money, count -> int. `date_order` ("DMY", "MDY" or "YMD")
    settles ambiguous numeric dates such as "03/04/2018". `language` ("en", "zh", "es", "de"; None or "auto" =
    told by the text itself) says how to read words: pass the whole message's language for a short span ("8").
    """
    if field_type not in FIELD_TYPES:
        raise ConfigError(f"unknown field type {field_type!r}", hint=_choose_hint(field_type, FIELD_TYPES))
    if date_order not in _DATE_ORDERS:
        raise ConfigError(f"unknown date order {date_order!r}", hint=_choose_hint(date_order, _DATE_ORDERS))
    if language is not None and language not in (*LANGUAGES, "auto"):
        raise ConfigError(f"unknown language {language!r}", hint=_choose_hint(language, (*LANGUAGES, "auto")))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        value = str(value)  # a JSON number where a string was expected ("count": 4)
    if not isinstance(value, str):
        return None
    if field_type == "text":
        return " ".join(value.split())
    if isinstance(reference, dt.datetime):
        reference = reference.date()  # compare dates with dates
    reference = reference or dt.date.today()
    if language in (None, "auto"):
        language = detect_language(value)
    if language != "en":
        # Not dateparser's own es/de/zh readers behind the rewrite: on tests/extract/test_issue_15_normalize.py they
        # add no right answer and read "a las 8" / "um 8 Uhr" as 8 November.
        value = rewrite(value, field_type, language, reference)
    if field_type == "date":
        return _parse_date(value, reference, date_order)
    if field_type == "time":
        return _parse_time(value)
    if field_type == "money":
        return parse_money(value)
    return _parse_count(value)


def fold(value: str) -> str:
    """Comparison key for exact match: NFKC, casefold, keep letters and digits only (any script)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value).casefold() if ch.isalnum())


def to_json(value: Any) -> Any:
    """The JSON-able form of a normalised value: Money becomes a dict, everything else is already JSON-able."""
    return value.to_json() if isinstance(value, Money) else value


def _choose_hint(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return f"{suggestion}use one of: {', '.join(choices)}"


def _clean(value: str) -> str:
    return " ".join(value.casefold().split())


# --- number words (shared by time and count) ------------------------------------------------------------------

_UNITS = {
    word: number
    for number, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = dict(zip("twenty thirty forty fifty sixty seventy eighty ninety".split(), range(20, 100, 10), strict=True))
_TENS["fourty"] = 40  # a common misspelling
_NUMBER_WORDS = re.compile(
    rf"\b(?:({'|'.join(_TENS)})(?:[\s-]+({'|'.join(list(_UNITS)[1:10])}))?|({'|'.join(_UNITS)}))\b"
)


def _words_to_digits(text: str) -> str:
    """'twenty-one' -> '21', 'seven thirty' -> '7 30' (a unit before a ten starts a new number)."""

    def replace(m: re.Match[str]) -> str:
        if m[3]:
            return str(_UNITS[m[3]])
        return str(_TENS[m[1]] + (_UNITS[m[2]] if m[2] else 0))

    return _NUMBER_WORDS.sub(replace, text)


# --- date -----------------------------------------------------------------------------------------------------

_ENGLISH_MONTHS = "january february march april may june july august september october november december"
_MONTH_NAMES = {name: number for number, name in enumerate(_ENGLISH_MONTHS.split(), start=1)} | {
    # Malay, for Malaysian receipts ("03 Ogos 2018"); the other Malay names match the English ones by prefix.
    "januari": 1, "februari": 2, "mac": 3, "mei": 5, "julai": 7, "ogos": 8, "oktober": 10, "disember": 12,
}  # fmt: skip
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?"
_SEP = r"[\s./,-]*"
_FULL_YMD = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_FULL_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})(?!\d)")
_COMPACT_YMD = re.compile(r"((?:19|20)\d\d)(\d\d)(\d\d)")  # receipts: 20181225
_PARTIAL_NUMERIC = re.compile(rf"(?:(?:on|for)\s+)?(?:{_WEEKDAY}\s*)?(\d{{1,2}})[-/.](\d{{1,2}})")
_YEAR_MONTH_DAY = re.compile(rf"(?<!\d)(\d{{4}}){_SEP}([a-z]+)\.?{_SEP}(\d{{1,2}})(?!\d)")
_DAY_MONTH = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?{_SEP}([a-z]+)(?:{_SEP}(\d{{4}}|\d{{2}}))?(?![\d:])"
)
_MONTH_DAY = re.compile(rf"\b([a-z]+){_SEP}(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:{_SEP}(\d{{4}}|\d{{2}}))?(?![\d:])")
_DAY_ONLY = re.compile(rf"(?:(?:on|for)\s+)?(?:{_WEEKDAY}\s*)?(the\s+)?(\d{{1,2}})(st|nd|rd|th)?")
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
# (pattern, group of the year, of the month, of the day)
_WORDED_DATES = ((_YEAR_MONTH_DAY, 1, 2, 3), (_DAY_MONTH, 3, 2, 1), (_MONTH_DAY, 3, 1, 2))
_ORDINAL = re.compile(rf"\b(?:(twenty|thirty)[\s-]?)?({'|'.join(_ORDINAL_WORDS)})\b")
_DATE_SLANG = {"tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow", "2moro": "tomorrow", "2morrow": "tomorrow"}
_DATE_SLANG |= {"tomoro": "tomorrow", "tomorow": "tomorrow", "tommorow": "tomorrow", "tommorrow": "tomorrow"}
_DATE_SLANG |= {"tdy": "today", "2day": "today", "tonite": "tonight", "coming": ""}  # "this coming friday"
_SLANG = re.compile(rf"\b(?:{'|'.join(_DATE_SLANG)})\b")
_TIME_IN_DATE = re.compile(
    r"(?:\b(?:at|around|by)\s*|@\s*)?\d{1,2}(?:[:.]\d{2}){0,2}\s*[ap]\.?m\b\.?"  # 7pm, at 7.30 p.m.
    r"|(?:\b(?:at|around|by)\s*|@\s*)\d{1,2}(?:[:.]\d{2}){0,2}\b"  # at 7, @ 19:30
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # 19:30
    r"|\b(?:in the )?(?:morning|afternoon|evening)\b|\bfor (?:breakfast|brunch|lunch|dinner)\b|\bo'?clock\b"
)
# "a week from today" / "a week today" read as the past by dateparser: say "in a week" instead.
_FROM_TODAY = re.compile(r"(\w+\s+(?:days?|weeks?|fortnights?|months?|years?))\s+(?:from\s+)?(?:today|now)")
_IN_TIME = re.compile(r"(?:'s|')?\s+time$")  # "in 3 days' time" -> "in 3 days"
_OFFSET = re.compile(r"^in\s|\blater$")  # "in 3 months" names a day; "next month" or "May" does not


def _parse_date(value: str, reference: dt.date, date_order: str) -> str | None:
    text = _clean(value)
    found = _numeric_date(text, reference, date_order)
    if found is None:
        text = " ".join(_TIME_IN_DATE.sub(" ", text).replace(",", " ").split())
        text = _ORDINAL.sub(lambda m: f"{_ORDINAL_WORDS[m[2]] + (_TENS[m[1]] if m[1] else 0)}th", text)
        found = _worded_date(text, reference)
    if found is None and re.search(r"[a-z]", text):  # a bare number is no date; dateparser would say "this month"
        found = _relative_date(_SLANG.sub(lambda m: _DATE_SLANG[m[0]], text), reference, date_order)
    return found.isoformat() if found else None


def _full_year(year: str) -> int:
    # The POSIX/strptime pivot: 00-68 -> 20xx, 69-99 -> 19xx (so "18" is 2018, never 2118).
    return int(year) if len(year) == 4 else 2000 + int(year) if int(year) < 69 else 1900 + int(year)


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _next_date(month: int, day: int, reference: dt.date) -> dt.date | None:
    """The first `day` of `month` on or after `reference` ("Dec 3rd" on Nov 29 is this year's, "Nov 3" next year's)."""
    for year in range(reference.year, reference.year + 9):  # 29 Feb waits for a leap year
        found = _make_date(year, month, day)
        if found and found >= reference:
            return found
    return None


def _numeric_date(text: str, reference: dt.date, date_order: str) -> dt.date | None:
    """25/12/2018, 18-11-18, 2018-12-25, 25.12.2018, 20181225, 03/12 — anywhere in the text, time part ignored."""
    if m := _COMPACT_YMD.fullmatch(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _FULL_YMD.search(text):
        return _make_date(int(m[1]), int(m[3]), int(m[4]))
    if m := _FULL_NUMERIC.search(text):
        a, b, c = m[1], m[3], m[4]
        readings = {"DMY": (c, b, a), "MDY": (c, a, b), "YMD": (a, b, c) if len(c) == 2 else None}
        # The asked-for order first; a reading impossible in it (month 25) falls back to the one that works.
        for order in (date_order, *_DATE_ORDERS):
            if (reading := readings[order]) and (found := _make_date(_full_year(reading[0]), *map(int, reading[1:]))):
                return found
        return None
    if m := _PARTIAL_NUMERIC.fullmatch(text):
        first, second = int(m[1]), int(m[2])
        day, month = (first, second) if date_order == "DMY" else (second, first)
        return _next_date(month, day, reference) or _next_date(day, month, reference)
    return None


def _month(word: str) -> int | None:
    if word == "sept":
        return 9
    if len(word) < 3:
        return None
    return next((number for name, number in _MONTH_NAMES.items() if name.startswith(word)), None)


def _worded_date(text: str, reference: dt.date) -> dt.date | None:
    """03 Jan 2018, JAN 03, 2018, Dec 3rd, Sat 3 Dec, the 3rd of December, the 5th — a weekday name is ignored."""
    for pattern, year_at, month_at, day_at in _WORDED_DATES:
        for found_at in pattern.finditer(text):
            if (month := _month(found_at[month_at])) is not None:
                if found_at[year_at]:
                    return _make_date(_full_year(found_at[year_at]), month, int(found_at[day_at]))
                return _next_date(month, int(found_at[day_at]), reference)
    if (m := _DAY_ONLY.fullmatch(text)) and (m[1] or m[3]):  # "the 5th", "on the 5th", "5th" - not a bare "5"
        day = int(m[2])
        for months_ahead in range(13):
            year, month = divmod(reference.month - 1 + months_ahead, 12)
            found = _make_date(reference.year + year, month + 1, day)
            if found and found >= reference:
                return found
    return None


def _relative_date(text: str, reference: dt.date, date_order: str) -> dt.date | None:
    """today, tomorrow, next Tuesday, this friday, in two weeks, esok: dateparser, imported on first use."""
    from dateparser.date import DateDataParser

    text = _IN_TIME.sub("", _FROM_TODAY.sub(r"in \1", text))
    settings = {
        "RELATIVE_BASE": dt.datetime.combine(reference, dt.time()),
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": date_order,
        "RETURN_TIME_AS_PERIOD": True,  # so "7pm" says period "time" and is refused below
    }
    try:
        data = DateDataParser(languages=["en", "ms"], settings=settings).get_date_data(text)
    except (ValueError, OverflowError, TypeError):  # a third-party parser on arbitrary text: odd text gives None
        return None
    if data.date_obj is None or data.period == "time":
        return None
    if data.period in ("month", "year") and not _OFFSET.search(text):
        return None  # "May", "Dec 2018", "next month": no particular day
    return data.date_obj.date()


# --- time -----------------------------------------------------------------------------------------------------

_ANY_NUMERIC_DATE = re.compile(r"(?<!\d)\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}(?!\d)")
_MERIDIEM = re.compile(r"(?<![a-z])([ap])m\b")
_PM_WORDS = re.compile(r"\b(?:evening|afternoon|tonight|night|dinner|supper)\b")
_AM_WORDS = re.compile(r"\b(?:morning|breakfast|brunch)\b")
_PAST_TO = re.compile(r"\b(half|quarter|\d{1,2})(?:\s+minutes?)?\s+(past|after|to|till|til|before)\s+(\d{1,2})\b")
_HALF_HOUR = re.compile(r"\bhalf\s+(\d{1,2})\b")  # British "half seven" = 7:30
_CLOCK = re.compile(r"(?<![\d.:])(\d{1,2})\s*[:.h]\s*(\d{2})(?::\d{2})?(?![\d.:])")
_SPOKEN_CLOCK = re.compile(r"(?<![\d.:])(\d{1,2})\s+(\d{2})(?![\d.:])")  # "seven thirty" -> "7 30"
_COMPACT_CLOCK = re.compile(r"(?<![\d.:])(\d{1,2})(\d{2})(?=\s*(?:[ap]m\b|h(?:rs?|ours)?\b|$))")  # 1415, 730pm
_HOUR_MERIDIEM = re.compile(r"(?<![\d.:])(\d{1,2})\s*[ap]m\b")
_AT_HOUR = re.compile(r"(?:\b(?:at|around|about|by|from)\s*|@\s*)(\d{1,2})(?![\d.:])")
_LONE_NUMBER = re.compile(r"(?<![\d.:])\d{1,2}(?![\d.:])")
_HEAD_COUNT = re.compile(r"\bfor\s+\d|\d\s*(?:people|persons?|pax|guests?|adults?|of us)\b")  # "table for four"


def _parse_time(value: str, *, assume_pm_for_bare_hours: bool = True) -> str | None:
    """Read a time as "HH:MM" (24h): 7pm, 19:30, half past seven, quarter to 8, 8.15pm, 1415, noon, at 7 tonight.

    With `assume_pm_for_bare_hours` an hour 1-11 with no am/pm (and no leading zero) is pm - a restaurant is asked
    for "7", meaning 19:00; "10:30 am" and "07:30" stay morning.
    """
    text = _ANY_NUMERIC_DATE.sub(" ", _clean(value))  # "25/12/2018 8:13:39 PM"
    text = re.sub(r"(?<![a-z])([ap])\.m\b\.?", r"\1m", text)  # 7 p.m. -> 7 pm
    if re.search(r"\bmidnight\b", text):
        return "00:00"
    if re.search(r"\b(?:noon|midday|mid-day)\b", text):
        return "12:00"
    text = re.sub(r"\boh\s+(\d)\b", r"0\1", _words_to_digits(text))  # "seven oh five" -> "7 05"
    meridiem = m[1] if (m := _MERIDIEM.search(text)) else None
    if meridiem is None:
        meridiem = "p" if _PM_WORDS.search(text) else "a" if _AM_WORDS.search(text) else None

    def clock(hour: int, minute: int, padded: bool = False) -> str | None:
        if not (0 <= hour <= 23 and 0 <= minute <= 59) or (meridiem == "a" and hour > 12):
            return None
        if meridiem == "a" and hour == 12:
            hour = 0
        elif meridiem == "p" and 1 <= hour <= 11:
            hour += 12
        elif meridiem is None and assume_pm_for_bare_hours and 1 <= hour <= 11 and not padded:
            hour += 12
        return None if meridiem == "p" and hour == 0 else f"{hour:02d}:{minute:02d}"

    if m := _PAST_TO.search(text):
        minutes = {"half": 30, "quarter": 15}.get(m[1]) or int(m[1])
        hour = int(m[3])
        if m[2] in ("past", "after"):
            return clock(hour, minutes)
        # "quarter to 1" is 12:45: the hour before, on the 12-hour dial
        return clock(hour - 1 if hour > 1 else 12, 60 - minutes) if hour and 0 < minutes < 60 else None
    if m := _HALF_HOUR.search(text):
        return clock(int(m[1]), 30)
    for pattern in (_CLOCK, _SPOKEN_CLOCK, _COMPACT_CLOCK):
        if m := pattern.search(text):
            return clock(int(m[1]), int(m[2]), padded=m[1].startswith("0"))  # "07:30" is a 24-hour clock
    if (m := _HOUR_MERIDIEM.search(text)) or (m := _AT_HOUR.search(text)):
        return clock(int(m[1]), 0)
    numbers = _LONE_NUMBER.findall(text)
    if len(numbers) != 1 or _HEAD_COUNT.search(text):
        return None
    return clock(int(numbers[0]), 0, padded=numbers[0].startswith("0"))


# --- count ----------------------------------------------------------------------------------------------------

_JUST_ME = re.compile(r"(?:just|only|table for)\s+(?:me|myself|one)|me|myself|solo|alone|me only|one person")
_QUANTITY_WORDS = {"half a dozen": "6", "half an dozen": "6", "a dozen": "12", "dozen": "12", "a couple": "2"}
_QUANTITY_WORDS |= {"couple": "2", "a pair": "2", "pair": "2", "both": "2"}
_QUANTITY = re.compile(rf"\b(?:{'|'.join(_QUANTITY_WORDS)})\b")  # longest first: "half a dozen" before "a dozen"
_NOT_A_HEAD_COUNT = re.compile(
    r"\d{1,2}(?:[:.]\d{2})+\s*(?:[ap]\.?m\b)?|\d{1,2}\s*[ap]\.?m\b|(?:\bat|@)\s*\d{1,2}\b"  # times: 4 at 7pm
    r"|\b(?:under|aged?|below)\s+\d+|\d+\s*(?:years?|yrs?|y/?o|months?)\b(?:\s+old)?"  # ages: 2 kids under 5
)
_RANGE = re.compile(r"(\d+)\s*(?:-|–|to|or)\s*(\d+)")  # "4-6 people": book for the larger
_SELF = re.compile(r"\b(?:me|myself|i)\b")
_JOIN = re.compile(r"\b(?:and|plus|with)\b|[+&]")
_COMPANION = re.compile(r"\b(?:my|a|an)\s+(?!\w*[^s\W]s\b)\w+")  # "my wife", "a friend" - not "my kids"


def _parse_count(value: str) -> int | None:
    """4, four, party of 6, 6 pax, a couple, 5 adults and 1 child (6), twenty-one, a dozen, just me, me + 3 friends."""
    text = _clean(value).strip(" .!")
    if _JUST_ME.fullmatch(text):
        return 1
    text = _NOT_A_HEAD_COUNT.sub(" ", _words_to_digits(_QUANTITY.sub(lambda m: _QUANTITY_WORDS[m[0]], text)))
    text = _RANGE.sub(lambda m: str(max(int(m[1]), int(m[2]))), text)
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if _SELF.search(text) and _JOIN.search(text) and not re.search(r"\b(?:us|including me|incl\.? me)\b", text):
        # "me and 3 friends" is 4; "my wife and me" is 2; "me and my kids" has no number to count
        companions = numbers or [1 for _ in _COMPANION.finditer(text)]
        return 1 + sum(companions) if companions else None
    return sum(numbers) if numbers else None
