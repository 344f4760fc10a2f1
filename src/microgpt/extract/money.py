"""Amounts of money read from text: an exact Decimal and an ISO 4217 currency code.

    parse_money("RM 3O.9O")   -> Money(Decimal("30.90"), "MYR")     (OCR's O for 0)
    parse_money("1.299,00 €") -> Money(Decimal("1299.00"), "EUR")
    parse_money("12 dollars") -> Money(Decimal("12"), "USD")

`price-parser` finds the number and the symbol; the rest handles what it misses (lower-case codes, currency words,
both separators, "12k", sen/cents, negative amounts). Returns None for text with no amount; never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Money:
    """An exact amount and its ISO 4217 currency code (None when the text names no currency)."""

    amount: Decimal
    currency: str | None

    def to_json(self) -> dict[str, Any]:
        # A string keeps the amount exact ("1299.00", never 1299.0); "f" avoids exponents such as "1.2E+4".
        return {"amount": format(self.amount, "f"), "currency": self.currency}


_CURRENCIES = {
    "rm": "MYR", "$": "USD", "us$": "USD", "s$": "SGD", "sg$": "SGD", "a$": "AUD", "au$": "AUD", "c$": "CAD",
    "ca$": "CAD", "hk$": "HKD", "nz$": "NZD", "nt$": "TWD", "r$": "BRL", "€": "EUR", "£": "GBP", "¥": "JPY",
    "円": "JPY", "cn¥": "CNY", "rmb": "CNY", "元": "CNY", "₹": "INR", "rs": "INR", "rp": "IDR", "฿": "THB",
    "₱": "PHP", "₩": "KRW", "₫": "VND", "₽": "RUB",
    "dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP",
    "quid": "GBP", "ringgit": "MYR", "yen": "JPY", "yuan": "CNY", "rupee": "INR", "rupees": "INR", "baht": "THB",
}  # fmt: skip
_ISO_CODES = {*_CURRENCIES.values(), "CHF", "SEK", "NOK", "DKK", "PLN", "ZAR", "MXN", "AED", "SAR", "BND"}
_CURRENCY_TOKEN = re.compile(r"[a-z]*\$|[^\W\d_]+|[€£¥円元₹฿₱₩₫₽]")
_OCR_ZERO = re.compile(r"(?<=[\d.,])[oO]|[oO](?=[\d.,]\d)")  # OCR reads 0 as O: "RM 3O.9O"
_NEGATIVE = re.compile(r"^\s*[-−]|^\D*?[-−]\s*\d|\d\s*[-−]\s*$|^\s*\(.*\)\s*$")  # -RM 1, RM -1, 1.00- , (1.00)


def parse_money(value: str) -> Money | None:
    """RM 30.90, $1,299.00, 1.299,00 €, £5, 30.90, USD 12, 12 dollars, -RM 1.00, 12k, 50 sen."""
    from price_parser import Price  # ~40 ms of imports, paid on first use only

    text = _OCR_ZERO.sub("0", value.strip())
    price = Price.fromstring(text)
    if price.amount_text and "," in price.amount_text and "." in price.amount_text:
        # Both separators: the last one is the decimal point (price-parser reads "1,234,567.891" as an integer).
        last = max(price.amount_text.rfind(","), price.amount_text.rfind("."))
        price = Price.fromstring(text, decimal_separator=price.amount_text[last])
    if price.amount is None or not price.amount.is_finite():
        return None
    amount, folded = price.amount, text.casefold()
    if re.search(re.escape(price.amount_text or "") + r"\s*k\b", folded):
        amount *= 1000  # "12k"
    currency = _currency_code(price.currency) or _currency_in(folded)
    if currency is None and re.search(r"\d\s*(?:sen|cents?)\b", folded):
        amount, currency = amount.scaleb(-2), "MYR" if "sen" in folded else None
    return Money(-amount if _NEGATIVE.search(text) else amount, currency)


def _currency_code(symbol: str | None) -> str | None:
    if not symbol:
        return None
    if len(symbol) == 3 and symbol.isascii() and symbol.isalpha() and symbol.isupper():
        return symbol  # price-parser found an ISO code itself ("CHF 5")
    return _CURRENCIES.get(symbol.casefold().rstrip("."))


def _currency_in(folded: str) -> str | None:
    """A currency price-parser misses: lower-case codes ("rm 5", "sgd 5") and words ("12 dollars")."""
    for token in _CURRENCY_TOKEN.findall(folded):
        if token.upper() in _ISO_CODES:
            return token.upper()
        if code := _CURRENCIES.get(token):
            return code
    return None
