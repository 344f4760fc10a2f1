"""tinygpt: a small decoder-only transformer (nanoGPT-style), its byte-level BPE tokenizer, and KV-cache decoding.

Read top to bottom: the tokenizer (trained on the data with `tokenizers`), the model (pre-LayerNorm blocks of causal
self-attention + MLP, learned positions, tied input/output embeddings), the KV cache, and `generate`, a streaming
generator of token ids (greedy or nucleus sampling, a hard cap on new tokens, a stop token). Training lives in
`microgpt.reply.generator`; this file has no task logic.

Shapes: B batch, T time (tokens), C channels (n_embd), H heads, D head size (C // H), V vocabulary.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

# ---- tokenizer ------------------------------------------------------------------------------------------------
# Special tokens live *after* the BPE vocabulary, outside the tokenizer: a message that contains the text
# "<|reply|>" is encoded as ordinary bytes and can never inject a control token.
SPECIALS = ("<|pad|>", "<|msg|>", "<|intent|>", "<|reply|>", "<|end|>")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters (what ByteLevel BPE tokens spell)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, (chr(c) for c in chars), strict=True))


class BPETokenizer:
    """Byte-level BPE (lossless for any text) plus our special tokens, with incremental UTF-8 decoding for streams.

    tok = BPETokenizer.train(texts, vocab_size=4096)
    ids = tok.encode("Where is my order?");  tok.decode(ids) == "Where is my order?"
    """

    def __init__(self, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        self.json = tokenizer_json
        self.bpe = Tokenizer.from_str(tokenizer_json)
        self.n_bpe = self.bpe.get_vocab_size()
        self.special = {name: self.n_bpe + i for i, name in enumerate(SPECIALS)}
        self.vocab_size = self.n_bpe + len(SPECIALS)
        byte_of = {c: b for b, c in _bytes_to_unicode().items()}
        # token id -> the bytes it stands for; special tokens stand for no text
        self.token_bytes: list[bytes] = [b""] * self.vocab_size
        for piece, i in self.bpe.get_vocab().items():
            self.token_bytes[i] = bytes(byte_of[c] for c in piece)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=max(vocab_size - len(SPECIALS), 256 + 1),
            min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: any text stays encodable
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok.to_str())

    def encode(self, text: str) -> list[int]:
        return list(self.bpe.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self.bpe.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return b"".join(self.token_bytes[i] for i in ids).decode("utf-8", errors="replace")

    def stream_decoder(self) -> TextStream:
        return TextStream(self)


class TextStream:
    """Token ids in, text out: holds back the bytes of a character split across tokens until it is complete."""

    def __init__(self, tok: BPETokenizer) -> None:
        self.tok = tok
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token: int) -> str:
        return self.decoder.decode(self.tok.token_bytes[token])

    def flush(self) -> str:
        return self.decoder.decode(b"", final=True)


# ---- model ----------------------------------------------------------------------------------------------------
@dataclass
class GPTConfig:
    """The model's shape (the training settings that pick it are `microgpt.config.TinyGPTConfig`)."""

    vocab_size: int = 4096
    block_size: int = 512  # longest sequence (message + reply); positions are learned up to here
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.1

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


class KVCache:
    """Keys and values of every layer for the positions seen so far, preallocated to the block size.

    Decoding one token then costs one token's projections plus attention over the cached positions, instead of
    re-running the whole sequence (the uncached path `generate(..., use_cache=False)` gives the same tokens).
    """

    def __init__(self, cfg: GPTConfig, batch: int = 1, dtype: torch.dtype = torch.float32) -> None:
        shape = (cfg.n_layer, batch, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)  # (L, B, H, T_max, D)
        self.k = torch.zeros(shape, dtype=dtype)
        self.v = torch.zeros(shape, dtype=dtype)
        self.pos = 0  # positions filled


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}")
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        p = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)  # (B, H, T, D)
        else:
            start = cache.pos
            cache.k[layer, :B, :, start : start + T] = k
            cache.v[layer, :B, :, start : start + T] = v
            k_all = cache.k[layer, :B, :, : start + T]  # (B, H, start+T, D)
            v_all = cache.v[layer, :B, :, : start + T]
            if T == 1:  # the newest token may look at every cached position
                y = F.scaled_dot_product_attention(q, k_all, v_all)
            elif start == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # a chunk after a cached prefix: query i sees keys up to start + i
                mask = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)  # (T, start+T)
                y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: fewer parameters, and better for small data
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by the depth
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, last_only: bool = False) -> torch.Tensor:
        """Logits (B, T, V) for token ids `idx` (B, T); with a cache, `idx` continues the cached positions."""
        T = idx.shape[1]
        start = cache.pos if cache is not None else 0
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than the block size {self.cfg.block_size}")
        pos = torch.arange(start, start + T, dtype=torch.long)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.pos += T
        if last_only:
            x = x[:, -1:, :]  # (B, 1, C): decoding needs only the next-token distribution
        return self.head(self.ln_f(x))  # (B, T, V)


# ---- decoding -------------------------------------------------------------------------------------------------
def next_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
    """Greedy when temperature is 0; else nucleus sampling: the smallest set of tokens holding `top_p` of the mass."""
    if temperature <= 0:
        return int(torch.argmax(logits).item())
    probs = F.softmax(logits.float() / temperature, dim=-1)  # (V,)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < top_p  # always keeps the most likely token
        sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
        choice = torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=generator)
        return int(order[choice].item())
    return int(torch.multinomial(probs, 1, generator=generator).item())


@torch.inference_mode()
def generate(
    model: TinyGPT,
    prompt: list[int],
    max_new_tokens: int,
    stop: int | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    use_cache: bool = True,
    guide: list[int] | None = None,
    guidance: float = 1.0,
) -> Iterator[int]:
    """Yield new token ids one at a time; stops at `stop` (not yielded), after `max_new_tokens`, or at the block size.

    `use_cache=False` re-runs the whole sequence for every token: slow, and there only to check the cache.

    Classifier-free guidance: with a `guide` prompt (the same message without its condition, e.g. the intent) and
    `guidance` > 1, each step scores `log p(x|guide) + guidance * (log p(x|prompt) - log p(x|guide))`, pushing the
    draft toward what the condition adds (Sanchez et al. 2023, "Stay on topic with Classifier-Free Guidance"). It
    costs a second forward pass per token; the model must have been trained with the condition sometimes dropped.
    """
    model.eval()
    if not prompt:
        raise ValueError("generate needs a non-empty prompt")
    budget = min(max_new_tokens, model.cfg.block_size - len(prompt))
    if budget <= 0:
        return
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    streams = [_Stream(model, prompt, use_cache)]
    if guide and guidance != 1.0:
        streams.append(_Stream(model, guide, use_cache))
    for _ in range(budget):
        logits = streams[0].logits
        if len(streams) > 1:
            cond, uncond = F.log_softmax(logits.float(), -1), F.log_softmax(streams[1].logits.float(), -1)
            logits = uncond + guidance * (cond - uncond)
        token = next_token(logits, temperature, top_p, generator)
        if token == stop:
            return
        yield token
        if len(streams[0].ids) + 1 >= model.cfg.block_size:
            return
        for s in streams:
            s.push(token)


class _Stream:
    """One sequence being decoded: its ids, its KV cache (or None) and the logits for its next position."""

    def __init__(self, model: TinyGPT, prompt: list[int], use_cache: bool) -> None:
        self.model, self.ids = model, list(prompt)
        self.cache = KVCache(model.cfg) if use_cache else None
        self.logits = model(torch.tensor([self.ids]), self.cache, last_only=True)[0, -1]  # (V,) prefill

    def push(self, token: int) -> None:
        self.ids.append(token)
        if self.cache is not None:
            self.logits = self.model(torch.tensor([[token]]), self.cache, last_only=True)[0, -1]  # one new position
        else:
            self.logits = self.model(torch.tensor([self.ids]), None, last_only=True)[0, -1]
