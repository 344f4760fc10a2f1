"""Chinese dates, times, head counts and amounts, rewritten into the English normalize.py reads.

    zh_numbers("三十五人，两千五百元")                     -> "35人，2500元"
    rewrite_chinese("下周五", "date", date(2026, 12, 2))  -> "2026-12-11"     (Friday of next week)
    rewrite_chinese("晚上7点半", "time", REF)             -> "7:30 pm"
    rewrite_chinese("两个大人一个小孩", "count", REF)       -> "2 1"            (then 3)
    rewrite_chinese("¥128", "money", REF)                -> "CNY 128"        (the yuan, not the yen)

Text is NFKC-normalised first, so full-width digits and marks ("７：３０", "，") read as their ASCII forms.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal

from microgpt.data.scripts import CJK

__all__ = ["EN_MONTHS", "rewrite_chinese", "week_day", "zh_numbers"]

EN_MONTHS = "january february march april may june july august september october november december".split()
_HAN = re.compile(rf"[{CJK}]")


def week_day(reference: dt.date, weeks_ahead: int, weekday: int) -> dt.date:
    """Day `weekday` (Monday 0) of the week `weeks_ahead` after the reference's, weeks running Monday to Sunday
    (as "下周五" and "Freitag nächste Woche" count them)."""
    return reference + dt.timedelta(days=7 * weeks_ahead + weekday - reference.weekday())


_ZH_DIGIT_CHARS = [
    "零〇",
    "一壹",
    "二两贰俩",
    "三叁",
    "四肆",
    "五伍",
    "六陆",
    "七柒",
    "八捌",
    "九玖",
]  # with financial forms
_ZH_DIGITS = {ch: n for n, chars in enumerate(_ZH_DIGIT_CHARS) for ch in chars}
_ZH_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_NUMERAL = re.compile(f"[{''.join(_ZH_DIGITS)}{''.join(_ZH_SMALL_UNITS)}万亿]+")
# Words with a numeral in them that are no number ("一共" = in all, "一起" = together)
_ZH_NOT_NUMBERS = re.compile(r"一(?=共|起|下|定|些|会|样|直|般|切|点儿|点点)|万一|统一|十分(?=感谢|抱歉|方便|满意)")
_ZH_WEEKDAY = re.compile(r"(上上|上|下下|下|这|这个|本|今)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_ZH_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6} | {
    str(n): n - 1 for n in range(1, 8)
}
_ZH_WEEK_OFFSET = {"上上": -2, "上": -1, "下下": 2, "下": 1, "这": 0, "这个": 0, "本": 0, "今": 0}  # weeks ahead
_ZH_DAYS = re.compile(r"大后天|后天|今天|今日|今晚|今夜|今早|明天|明日|明晚|明早|明儿")
_ZH_DAY_OFFSET = {"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "明晚": 1, "明早": 1, "明儿": 1}
_ZH_AFTER = re.compile(r"(\d+)\s*(?:个)?(天|日|周|星期|礼拜|个月|月)\s*(?:以后|之后|后)")
_ZH_FULL_DATE = re.compile(r"(?:(\d{4}|\d{2})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]?")
_ZH_NEXT_MONTH_DAY = re.compile(r"下(?:个)?月\s*(\d{1,2})\s*[日号號]")
_ZH_DAY = re.compile(r"(\d{1,2})\s*[日号號]")
_ZH_PM = re.compile(r"下午|晚上|傍晚|今晚|明晚|夜里|夜晚|晚间|晚饭|晚餐|晚")
_ZH_AM = re.compile(r"上午|早上|早晨|清晨|凌晨|今早|明早|早饭|早餐|早")
_ZH_NOON = re.compile(r"中午|午饭|午餐")
_ZH_CLOCK = re.compile(r"(\d{1,2})\s*(?:[:：]\s*(\d{2})|[点點时時]\s*(?:(半)|([13])\s*刻|(\d{1,2})\s*分?|钟)?)")


def _zh_run(run: str) -> str:
    """One run of Chinese numerals as digits: 十二 -> 12, 三十五 -> 35, 两千五 -> 2500, 二〇二六 -> 2026."""
    if not any(ch in _ZH_SMALL_UNITS or ch in "万亿" for ch in run):
        return "".join(str(_ZH_DIGITS[ch]) for ch in run)  # read digit by digit (years, phone numbers)
    total = section = number = 0
    last_unit = 1
    for i, ch in enumerate(run):
        if ch in _ZH_DIGITS:
            number = _ZH_DIGITS[ch]
            if i and run[i - 1] in _ZH_SMALL_UNITS and i == len(run) - 1 and last_unit >= 100:
                number *= last_unit // 10  # colloquial "两千五" = 2500, "一百五" = 150
        elif ch in _ZH_SMALL_UNITS:
            last_unit = _ZH_SMALL_UNITS[ch]
            section += (number or 1) * last_unit
            number = 0
        else:  # 万, 亿
            total += (section + number) * (10_000 if ch == "万" else 100_000_000)
            section = number = 0
            last_unit = 10_000
    return str(total + section + number)


_ZH_UNIT_VALUE = {"万": 10_000, "千": 1000, "仟": 1000, "百": 100, "佰": 100, "十": 10, "拾": 10}
_DIGITS_WITH_UNITS = re.compile(r"(?:\d+(?:\.\d+)?[万千仟百佰十拾])+\d?(?![\d.])")


def zh_numbers(text: str) -> str:
    """Chinese numerals in `text` as Arabic digits ("四位" -> "4位"; "3.5万" and "1万2千" too)."""
    text = _DIGITS_WITH_UNITS.sub(lambda m: _digits_with_units(m[0]), _ZH_NOT_NUMBERS.sub("", text))
    return _ZH_NUMERAL.sub(lambda m: _zh_run(m[0]), text)


def _digits_with_units(run: str) -> str:
    """ "3.5万" -> 35000, "1万2千" -> 12000, "2千5" -> 2500 (a last digit counts in the unit below), exactly."""
    value, unit = Decimal(0), 1
    for number, mark in re.findall(r"(\d+(?:\.\d+)?)([万千仟百佰十拾]?)", run):
        unit = _ZH_UNIT_VALUE[mark] if mark else max(unit // 10, 1)
        value += Decimal(number) * unit
    return str(int(value)) if value == value.to_integral_value() else format(value, "f")


def _zh_date(text: str, reference: dt.date) -> str:
    if m := _ZH_WEEKDAY.search(text):
        weekday = _ZH_WEEKDAY_INDEX[m[2]]
        if m[1] is None:  # "周五" alone: the next one, as English "Friday"
            return (reference + dt.timedelta(days=(weekday - reference.weekday() - 1) % 7 + 1)).isoformat()
        return week_day(reference, _ZH_WEEK_OFFSET[m[1]], weekday).isoformat()
    if m := _ZH_DAYS.search(text):
        return (reference + dt.timedelta(days=_ZH_DAY_OFFSET.get(m[0], 0))).isoformat()
    text = zh_numbers(text)
    if m := _ZH_AFTER.search(text):
        unit = {"天": "days", "日": "days", "个月": "months", "月": "months"}.get(m[2], "weeks")
        return f"in {m[1]} {unit}"
    if m := _ZH_FULL_DATE.search(text):
        month = EN_MONTHS[int(m[2]) - 1] if 1 <= int(m[2]) <= 12 else m[2]
        return f"{m[3]} {month} {m[1] or ''}".strip()
    if m := _ZH_NEXT_MONTH_DAY.search(text):
        year, month = divmod(reference.month, 12)  # reference.month is already next month's 0-based index
        return f"{m[1]} {EN_MONTHS[month]} {reference.year + year}"
    if m := _ZH_DAY.search(text):
        return f"the {m[1]}th"
    return text


def _zh_time(text: str, reference: dt.date) -> str:
    text = zh_numbers(_ZH_WEEKDAY.sub(" ", text))
    m = _ZH_CLOCK.search(text)
    if m is None:
        return "noon" if _ZH_NOON.search(text) else "midnight" if re.search("午夜|半夜", text) else ""
    hour = int(m[1])
    minute = int(m[2] or m[5] or 0) + (30 if m[3] else 15 * int(m[4]) if m[4] else 0)
    before = text[: m.start()]
    if _ZH_NOON.search(before) or (hour == 12 and _ZH_PM.search(before)):
        meridiem = "am" if hour == 11 else "" if hour == 12 and _ZH_PM.search(before) else "pm"
        hour = 0 if hour == 12 and _ZH_PM.search(before) else hour  # 晚上12点 is midnight
    elif re.search("凌晨|半夜|午夜|深夜", before):
        meridiem = "am"
    else:
        meridiem = "pm" if _ZH_PM.search(before) else "am" if _ZH_AM.search(before) else ""
    return f"{hour}:{minute:02d} {meridiem}".strip() if minute < 60 else ""


_ZH_COMPANION = re.compile(
    r"(?:太太|老婆|妻子|爱人|先生|老公|丈夫|女朋友|男朋友|女友|男友|对象|妈妈|爸爸|母亲|父亲|同事|朋友|孩子|儿子|女儿)"
)
_ZH_JUST_ME = re.compile(r"(?:就|只有|只|仅)?我(?:自己)?(?:1个人?|1位|1人|自己)?(?:吧|啦|哦)?")
_ZH_NOT_A_HEAD_COUNT = re.compile(
    rf"(?:{_ZH_PM.pattern}|{_ZH_AM.pattern}|中午)?\d{{1,2}}\s*(?:[:：]\s*\d{{2}}|[点點时時](?:半|\d刻|\d{{1,2}}分?)?)"
    r"|\d+\s*[月日号號]|\d+\s*(?:个)?(?:天|周|星期|礼拜|个月)后"
)


def _zh_count(text: str, reference: dt.date) -> str:
    text = zh_numbers(_ZH_WEEKDAY.sub(" ", text)).strip(" 。.!！~")
    if _ZH_JUST_ME.fullmatch(text):
        return "just me"
    text = _ZH_NOT_A_HEAD_COUNT.sub(" ", text)
    text = re.sub(r"(\d+)\s*(?:周岁|岁)", r" \1 years ", text)
    text = re.sub(r"(\d+)\s*(?:到|至|~|～|-)\s*(\d+)", r" \1 to \2 ", text)
    text = re.sub(rf"我(?={_ZH_COMPANION.pattern})", " my ", text)
    text = _ZH_COMPANION.sub(" partner ", re.sub("我们|咱们", " us ", text))
    text = re.sub("我", " me ", text)
    text = re.sub(r"和|跟|与|加上|加|带着|带|还有|以及", " and ", text)
    return " ".join(_HAN.sub(" ", text).split())


_ZH_CURRENCY = (("美元|美金", "USD"), ("欧元", "EUR"), ("港币|港元", "HKD"), ("日元|日币", "JPY"), ("英镑", "GBP"),
                ("人民币|块钱|块|元|圆|¥|rmb|RMB|Rmb", "CNY"))  # fmt: skip


def _zh_money(text: str, reference: dt.date) -> str:
    """ "一百二十八元" -> "128 CNY"; "¥" in a Chinese message is the yuan, not the yen."""
    text = zh_numbers(text)
    for words, code in _ZH_CURRENCY:
        text = re.sub(words, f" {code} ", text)
    return " ".join(_HAN.sub(" ", text).split())


_ZH = {"date": _zh_date, "time": _zh_time, "count": _zh_count, "money": _zh_money}


def rewrite_chinese(text: str, field_type: str, reference: dt.date) -> str:
    """`text` (a Chinese date, time, count or amount) in the English form normalize.py reads; NFKC first."""
    return _ZH[field_type](unicodedata.normalize("NFKC", text), reference)
