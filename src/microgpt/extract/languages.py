"""Dates, times, amounts and head counts written in Chinese, Spanish or German, rewritten into the English forms the
readers of normalize.py already understand, so a message in any of them gives the same typed value as in English.

    detect_language("下周五晚上7点，四位")                      -> "zh"
    rewrite("a las 8 y media", "time", "es", REF)            -> "at half past 8"      (then 20:30: a bare hour is pm)
    rewrite("um halb acht", "time", "de", REF)               -> "at half past 7"      ("halb acht" is 7:30)
    rewrite("下周五", "date", "zh", date(2026, 12, 2))        -> "2026-12-11"          (Friday of next week)
    rewrite("一百二十八元", "money", "zh", REF)                 -> "128 CNY"

Why rewrite rather than parse each language apart: one set of rules (the booking pm rule, "the 5th" is the next 5th,
an age is not a head count) then holds in every language by construction. dateparser's own Chinese, Spanish and
German readers were measured on the cases in tests/extract/test_issue_15_normalize.py and miss most of them (bare
weekdays with an article, every clock time, "下周五" read as Sunday, "12月5日" as 2027-12-04); the English reader
behind these rewrites reads them all.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal

from microgpt.data.scripts import CJK

__all__ = ["LANGUAGES", "detect_language", "rewrite"]

LANGUAGES = ("en", "zh", "es", "de")

# --- which language -----------------------------------------------------------------------------------------------

# Words frequent in booking and invoice messages of one language and rare in English text (no "am", "die", "den",
# "once", "media", "solo": those are English words too, and "7 am" must stay English; nor English "am" and "in",
# which German shares: "am Samstag", "in 3 Tagen"). Accents folded.
_CUES = {
    "es": frozenset(
        "el la las los del de para somos seremos mesa personas persona manana hoy pasado proximo proxima que viene y "
        "cuarto menos noche tarde dia dias lunes martes miercoles jueves viernes sabado domingo enero febrero marzo "
        "abril junio julio agosto septiembre setiembre octubre noviembre diciembre uno una dos tres cuatro cinco "
        "seis siete ocho nueve diez doce veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa por "
        "favor reservar reserva gracias hola nombre yo nosotros adultos ninos dentro semana semanas mediodia "
        "medianoche quiero quisiera esta este mi nos buenas buenos".split()
    ),
    "de": frozenset(
        "um uhr halb viertel dreiviertel nach vor wir sind zu zweit dritt viert funft sechst fur personen tisch "
        "morgen ubermorgen heute abend abends nachsten nachste nachster kommenden montag dienstag mittwoch "
        "donnerstag freitag samstag sonnabend sonntag januar februar marz mai juni juli oktober dezember dez eins "
        "zwei drei vier funf sechs sieben acht neun zehn zwolf zwanzig dreissig vierzig funfzig sechzig siebzig "
        "achtzig neunzig und ich bitte danke hallo reservieren erwachsene kinder tagen wochen der das ein eine einen "
        "mit fruh morgens nachmittags mittags gaste leute mochte mein meine ist auf guten nur allein".split()
    ),
    "en": frozenset(
        "the is are was were be been and or of to on at for with from by this that it my your our what which who "
        "when where can could would should will do have has not please you we they i pm an me us people table "
        "next tomorrow tonight today book booking party guests name o'clock half past quarter monday tuesday "
        "wednesday thursday friday saturday sunday".split()
    ),
}
_HAN = re.compile(rf"[{CJK}]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_DE_COMPOUND = re.compile(r"\w+und\w+(?:zig|ssig)")


def fold(text: str) -> str:
    """NFKC (full-width digits and marks), casefold, accents off ("mañana" -> "manana", "für" -> "fur", "ß" -> "ss")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def detect_language(text: str) -> str:
    """ "zh" for text with Han characters or kana, else the language whose cue words it uses most; "en" on a tie.

    Cheap (a regex and a few set lookups) because it runs once per extracted message.
    """
    if _HAN.search(text):
        return "zh"
    words = _WORD.findall(fold(text))
    scores = {lang: sum(w in cues for w in words) for lang, cues in _CUES.items()}
    scores["de"] += sum(bool(_DE_COMPOUND.fullmatch(w)) for w in words)  # "fünfunddreißig"
    best = max(("es", "de"), key=lambda lang: scores[lang])
    return best if scores[best] > scores["en"] else "en"


def rewrite(text: str, field_type: str, language: str, reference: dt.date) -> str:
    """`text` (a date, time, money or count in `language`) in the English form normalize.py reads."""
    if language == "zh":
        return _ZH[field_type](unicodedata.normalize("NFKC", text), reference)
    if language in ("es", "de"):
        folded = fold(text)
        if field_type == "money":
            return _money_words(folded, language)
        return _rewrite_words(folded, field_type, language, reference)
    return text


def week_day(reference: dt.date, weeks_ahead: int, weekday: int) -> dt.date:
    """Day `weekday` (Monday 0) of the week `weeks_ahead` after the reference's; weeks run Monday to Sunday."""
    return reference + dt.timedelta(days=7 * weeks_ahead + weekday - reference.weekday())


# --- Spanish and German ---------------------------------------------------------------------------------------

_EN_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_EN_MONTHS = "january february march april may june july august september october november december".split()
_WEEKDAYS = {
    "es": dict(zip("lunes martes miercoles jueves viernes sabado domingo".split(), _EN_WEEKDAYS, strict=True)),
    "de": dict(zip("montag dienstag mittwoch donnerstag freitag samstag sonntag".split(), _EN_WEEKDAYS, strict=True))
    | {"sonnabend": "saturday"},
}
_ES_MONTHS = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
_DE_MONTHS = "januar februar marz april mai juni juli august september oktober november dezember"
_MONTHS = {
    "es": dict(zip(_ES_MONTHS.split(), _EN_MONTHS, strict=True)) | {"setiembre": "september", "dic": "dec"},
    "de": dict(zip(_DE_MONTHS.split(), _EN_MONTHS, strict=True)) | {"okt": "oct", "dez": "dec", "janner": "jan"},
}
_UNITS = {
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciseis "
    "diecisiete dieciocho diecinueve veinte veintiuno veintidos veintitres veinticuatro veinticinco veintiseis "
    "veintisiete veintiocho veintinueve".split(),
    "de": "null eins zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn vierzehn funfzehn sechzehn "
    "siebzehn achtzehn neunzehn".split(),
}
_ES_TENS = "treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_DE_TENS = "zwanzig dreissig vierzig funfzig sechzig siebzig achtzig neunzig".split()
_TENS = {
    "es": dict(zip(_ES_TENS, range(30, 100, 10), strict=True)),
    "de": dict(zip(_DE_TENS, range(20, 100, 10), strict=True)),
}
_ES_NUMBER = re.compile(rf"\b(?:({'|'.join(_TENS['es'])})(?:\s+y\s+({'|'.join(_UNITS['es'][1:10])}))?"
                        rf"|({'|'.join(_UNITS['es'])}|veintiun|veintiuna))\b")  # fmt: skip
_DE_NUMBER = re.compile(rf"\b(?:(?:(ein|{'|'.join(_UNITS['de'][2:10])})und)?({'|'.join(_TENS['de'])})"
                        rf"|({'|'.join(_UNITS['de'])}|zwo))\b")  # fmt: skip
# "un niño" is one child, "una mesa" is a table: the article counts only before a person ("a la una" is 1 o'clock)
_PERSON = r"(?:nin[oa]s?|nene|bebe|adult[oa]s?|persona|amig[oa]|acompanante|kind|baby|erwachsene[rn]?|person|freund|freundin|gast)\b"  # noqa: E501
_ONE = {"es": re.compile(rf"\b(?:un|una)\b(?=\s+{_PERSON})|(?<=\bla )una\b"),
        "de": re.compile(rf"\bein(?:e[mnr]?)?\b(?=\s+{_PERSON})|(?<=\bum )ein\b")}  # fmt: skip
_ZU = {"zweit": 2, "dritt": 3, "viert": 4, "funft": 5, "sechst": 6, "siebt": 7, "acht": 8, "neunt": 9, "zehnt": 10}


def _number_words(text: str, language: str) -> str:
    """Spanish or German number words as digits: "treinta y cinco" -> "35", "fünfunddreißig" -> "35"."""
    text = _ONE[language].sub("1", text)
    text = re.sub(rf"\bzu ({'|'.join(_ZU)})\b", lambda m: str(_ZU[m[1]]), text) if language == "de" else text
    units = {word: n for n, word in enumerate(_UNITS[language])} | {"veintiun": 21, "veintiuna": 21, "zwo": 2}
    tens = _TENS[language]

    def replace(m: re.Match[str]) -> str:
        if m[3]:
            return str(units[m[3]])
        if language == "es":
            return str(tens[m[1]] + (units[m[2]] if m[2] else 0))
        return str(tens[m[2]] + (1 if m[1] == "ein" else units[m[1]] if m[1] else 0))

    return (_ES_NUMBER if language == "es" else _DE_NUMBER).sub(replace, text)


def _hour_before(hour: str, minutes: int) -> str:
    """German "halb acht" is half way to eight, 7:30 (on the 12-hour dial: "halb eins" is 12:30)."""
    before = int(hour) - 1 if int(hour) > 1 else 12
    return f" {before}:{minutes:02d} " if 0 <= minutes < 60 else " "


# (pattern, replacement), in order, on folded text with numbers as digits. Dates and times first, then counts.
_ES_RULES: list[tuple[str, str]] = [
    (r"\bpasado manana\b", " the day after tomorrow "),
    (r"\b(?:por|de|en) la (?:manana|madrugada)\b", " in the morning "),
    (r"\b(?:por|de|en) la (?:noche|tarde)\b", " in the evening "),
    (r"\bmanana\b", " tomorrow "),
    (r"\besta noche\b", " tonight "),
    (r"\besta (tarde|manana)\b", " today "),
    (r"\bhoy\b", " today "),
    (r"\b(?:el |la )?(?:proxim[oa]) (\w+)", r" next \1 "),
    (r"\b(?:de )?la semana (?:que viene|proxima)\b", " next week "),
    (r"\b(?:el |la )?(\w+) (?:que viene|proxim[oa])\b", r" next \1 "),
    (r"\beste (\w+)", r" this \1 "),
    (r"\b(?:el )?dia (\d{1,2})\b", r" the \1th "),
    (r"\b(\d{1,2}) de (\w+)(?: (?:de|del) (\d{4}))?", r" \1 \2 \3 "),
    (r"\b(?:dentro de|en) (\d+) (?:dias?)\b", r" in \1 days "),
    (r"\b(?:dentro de|en) (\d+) (?:semanas?)\b", r" in \1 weeks "),
    (r"\b(?:dentro de|en) (\d+) (?:mes|meses)\b", r" in \1 months "),
    (r"\b(?:dentro de|en) una semana\b", " in a week "),
    (r"\b(\d{1,2}) y media\b", r" half past \1 "),
    (r"\b(\d{1,2}) y cuarto\b", r" quarter past \1 "),
    (r"\b(\d{1,2}) menos cuarto\b", r" quarter to \1 "),
    (r"\b(\d{1,2}) menos (\d{1,2})\b", r" \2 to \1 "),
    (r"\b(?:a|sobre|hacia|para) las?\b", " at "),
    (r"\blas\b", " "),
    (r"\ben punto\b", " "),
    (r"\bmediodia\b", " noon "),
    (r"\bmedianoche\b", " midnight "),
    (r"\b(?:solo|solamente) (?:yo|para mi)\b|\byo solo\b|\bpara mi solo\b", " just me "),
    (r"\b(?:somos|seremos|sumamos)(?: un total de)?\b", " for "),
    (r"\bpersonas?\b|\bcomensales\b", " people "),
    (r"\bmenores de\b", " under "),
    (r"\banos\b", " years "),
    (r"\bpara\b", " for "),
    (r"\byo\b", " me "),
    (r"\bmi\b", " my "),
    (r"\b(?:y|con)\b", " and "),
    (r"\b(?:el|la|los|las|del|de|al)\b", " "),
]
_DE_RULES: list[tuple[str, str]] = [
    (r"\bubermorgen\b", " the day after tomorrow "),
    (r"\bmorgen (?:fruh|vormittag|morgen)\b", " tomorrow morning "),
    (r"\bmorgen (?:abend|nachmittag|mittag)\b", " tomorrow evening "),
    (r"\b(?:am|heute) (?:morgen|vormittag)\b|\bguten morgen\b", " in the morning "),
    (r"\bheute (?:abend|nacht)\b", " tonight "),
    (r"\bheute\b", " today "),
    (r"\bmorgen\b", " tomorrow "),
    (r"\b(?:der )?(?:nachste[nrs]?|kommende[nrs]?) (\w+)", r" next \1 "),
    (r"\bdiese[nrs]? (\w+)", r" this \1 "),
    (r"\bin (\d+) (?:tag|tagen)\b", r" in \1 days "),
    (r"\bin (\d+) (?:woche|wochen)\b", r" in \1 weeks "),
    (r"\bin (\d+) (?:monat|monaten)\b", r" in \1 months "),
    (r"\bin einer woche\b", " in a week "),
    (r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(?!\d)", r" \1.\2 "),  # 5.12.
    (r"(?<![\d.])(\d{1,2})\.\s*([^\W\d_]+)\.?(?: (\d{4}))?", r" \1 \2 \3 "),  # 5. Dezember 2026
    (r"\b(?:am|den) (\d{1,2})\.?(?![\d.:])(?! \w)", r" the \1th "),
    (r"(?<![\d.:])(\d{1,2})\s*uhr\s*(\d{2})\b", r" \1:\2 "),  # 19 Uhr 30
    (r"\buhr\b", " "),
    (r"\bdreiviertel (\d{1,2})\b", r" quarter to \1 "),
    (r"\bviertel nach (\d{1,2})\b", r" quarter past \1 "),
    (r"\bviertel vor (\d{1,2})\b", r" quarter to \1 "),
    (r"\b(\d{1,2}) (?:minuten )?nach (\d{1,2})\b", r" \1 past \2 "),
    (r"\b(\d{1,2}) (?:minuten )?vor (\d{1,2})\b", r" \1 to \2 "),
    (r"\b(?:um|gegen|ab)\b", " at "),
    (r"\b(?:abends|abend|nachmittags|nachmittag)\b", " evening "),
    (r"\b(?:morgens|fruh|vormittags|vormittag)\b", " morning "),
    (r"\bmitternacht\b", " midnight "),
    (r"\b(?:nur|allein) (?:ich|fur mich|mich)\b|\bich allein\b", " just me "),
    (r"\bwir sind\b|\bwir kommen\b", " for "),
    (r"\b(?:personen|person|leute|gaste|gasten)\b", " people "),
    (r"\bunter\b", " under "),
    (r"\bjahre[n]?\b|\bjahrig\w*", " years "),
    (r"\bfur\b", " for "),
    (r"\b(?:ich|mich)\b", " me "),
    (r"\bmein(?:e[mnr]?)?\b", " my "),
    (r"\b(?:und|mit|plus)\b", " and "),
    (r"\b(?:am|den|der|die|das|dem|zum)\b", " "),
]
_RULES = {"es": [(re.compile(p), r) for p, r in _ES_RULES], "de": [(re.compile(p), r) for p, r in _DE_RULES]}
_DE_HALF = re.compile(r"\bhalb (\d{1,2})\b")
_DE_QUARTER_PAST = re.compile(r"\bviertel (\d{1,2})\b")  # East German "viertel acht" is 7:15
_DE_AROUND_HALF = re.compile(r"\b(\d{1,2}) (nach|vor) halb (\d{1,2})\b")  # "fünf nach halb acht" is 7:35
_DE_MIDDAY = re.compile(r"\bmittags?\b")


_EN_WEEKDAY = "|".join(_EN_WEEKDAYS)
# "Freitag nächste Woche", "el viernes de la semana que viene": Friday of next week, whatever today is
_NEXT_WEEK_DAY = re.compile(rf"\b(?:({_EN_WEEKDAY})\s+(?:of\s+)?next\s+week|next\s+week\s+({_EN_WEEKDAY}))\b")
_DE_WEEKDAY_SHORT = dict(zip("mo di mi do fr sa so".split(), _EN_WEEKDAYS, strict=True))


def _rewrite_words(text: str, field_type: str, language: str, reference: dt.date) -> str:
    text = _number_words(text, language)
    if language == "de":
        text = _DE_AROUND_HALF.sub(lambda m: _hour_before(m[3], 30 + int(m[1]) * (1 if m[2] == "nach" else -1)), text)
        text = _DE_HALF.sub(lambda m: _hour_before(m[1], 30), text)
        text = _DE_MIDDAY.sub(" pm " if re.search(r"\d", text) else " noon ", text)  # "um 1 Uhr mittags" is 13:00
    for pattern, replacement in _RULES[language]:
        text = pattern.sub(replacement, text)
    if language == "de":
        text = _DE_QUARTER_PAST.sub(lambda m: _hour_before(m[1], 15), text)
    if field_type == "time":  # "las ocho y diez" is 8:10; elsewhere "4 y 2" is two numbers
        text = re.sub(r"\b(\d{1,2})\s+and\s+(\d{1,2})\b", lambda m: f" {m[1]}:{int(m[2]):02d} ", text)
    if field_type == "count":  # "um halb acht, zu viert": 7:30 is a time, not 30 more guests
        text = re.sub(r"\bat\s+(?=\d{1,2}:\d{2})", " ", text)
    if field_type == "date":  # a whole message: "el martes a las 8, somos 3" - the head count is not the 3rd
        text = re.sub(r"\b(?:for|zu)\s+\d+(?:\s+people)?|\d+\s+people", " ", text)
    names = _WEEKDAYS[language] | _MONTHS[language]
    text = re.sub(r"[^\W\d_]+", lambda m: names.get(m[0], m[0]), text)
    if language == "de":  # "Sa 5.12.", "Mo., 7. Dez."
        text = re.sub(r"\b(mo|di|mi|do|fr|sa|so)\b\.?,?(?=\s*\d)", lambda m: _DE_WEEKDAY_SHORT[m[1]], text)
    text = re.sub(r"\b(?:de la |der )?(?:semana|woche)\b", " week ", text)
    text = _NEXT_WEEK_DAY.sub(lambda m: week_day(reference, 1, _EN_WEEKDAYS.index(m[1] or m[2])).isoformat(), text)
    # "el lunes 7" is Monday the 7th (not the 7th month): say so the English reader sees a day of the month
    text = re.sub(rf"\b({_EN_WEEKDAY}),? (\d{{1,2}})(?!\s*[\w.:/])", r"\1 the \2th", text)
    return " ".join(text.split())


def _money_words(text: str, language: str) -> str:
    """Number words as digits; the Swiss thousands apostrophe ("CHF 1'299.00") taken out."""
    return re.sub(r"(?<=\d)['’](?=\d{3})", "", _number_words(text, language))


# --- Chinese --------------------------------------------------------------------------------------------------

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
        month = _EN_MONTHS[int(m[2]) - 1] if 1 <= int(m[2]) <= 12 else m[2]
        return f"{m[3]} {month} {m[1] or ''}".strip()
    if m := _ZH_NEXT_MONTH_DAY.search(text):
        year, month = divmod(reference.month, 12)  # reference.month is already next month's 0-based index
        return f"{m[1]} {_EN_MONTHS[month]} {reference.year + year}"
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
