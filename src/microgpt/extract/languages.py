"""Dates, times, amounts and head counts written in Chinese, Spanish or German, rewritten into the English forms the
readers of normalize.py already understand, so a message in any of them gives the same typed value as in English.

    detect_language("下周五晚上7点，四位")                      -> "zh"
    rewrite("a las 8 y media", "time", "es", REF)            -> "at half past 8"      (then 20:30: a bare hour is pm)
    rewrite("um halb acht", "time", "de", REF)               -> "at 7:30"             ("halb acht" is half way to 8)
    rewrite("下周五", "date", "zh", date(2026, 12, 2))        -> "2026-12-11"          (Friday of next week)
    rewrite("一百二十八元", "money", "zh", REF)                 -> "128 CNY"

Why rewrite rather than parse each language apart: one set of rules (the booking pm rule, "the 5th" is the next 5th,
an age is not a head count) then holds in every language by construction. dateparser's own Chinese, Spanish and
German readers were measured on the cases in tests/extract/test_issue_15_normalize.py (get_date_data, then
search_dates): 39 of 60 dates and 5 of 52 times right ("下周五" read as Sunday, "12月5日" as 2027-12-04, "a las 8" as
8 November); the English reader behind these rewrites reads all 112. Spanish and German relative dates still go
through dateparser, in English ("next friday", "in 2 weeks").
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from microgpt.data.scripts import CJK
from microgpt.extract.chinese import EN_MONTHS, rewrite_chinese, week_day

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
        return rewrite_chinese(text, field_type, reference)
    if language in ("es", "de"):
        folded = fold(text)
        if field_type == "money":
            return _money_words(folded, language)
        return _rewrite_words(folded, field_type, language, reference)
    return text


# --- Spanish and German ---------------------------------------------------------------------------------------

_EN_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_WEEKDAYS = {
    "es": dict(zip("lunes martes miercoles jueves viernes sabado domingo".split(), _EN_WEEKDAYS, strict=True)),
    "de": dict(zip("montag dienstag mittwoch donnerstag freitag samstag sonntag".split(), _EN_WEEKDAYS, strict=True))
    | {"sonnabend": "saturday"},
}
_ES_MONTHS = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
_DE_MONTHS = "januar februar marz april mai juni juli august september oktober november dezember"
_MONTHS = {
    "es": dict(zip(_ES_MONTHS.split(), EN_MONTHS, strict=True)) | {"setiembre": "september", "dic": "dec"},
    "de": dict(zip(_DE_MONTHS.split(), EN_MONTHS, strict=True)) | {"okt": "oct", "dez": "dec", "janner": "jan"},
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
