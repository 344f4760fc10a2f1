"""tinygpt: the BPE tokenizer round-trips any text, KV-cache decoding equals recomputation, decoding always stops."""

from __future__ import annotations

import pytest
import torch

from microgpt.backbones.tinygpt import SPECIALS, BPETokenizer, GPTConfig, KVCache, TinyGPT, generate, next_token

CORPUS = [
    "Where is my order 00123842? I ordered it last week.",
    "I understand you need help tracking order {{Order Number}}.\n\n1. Log in to {{Website Name}}.",
    "Please cancel my subscription, thanks!",
    "Café crème, naïve façade — déjà vu. 日本語のテキスト 🚚📦",
] * 5
ODD_TEXTS = [
    "Where is my order 00123842?",
    "  leading and trailing spaces  ",
    "windows\r\nline ends\r\n",
    "tabs\tand\u00a0non-breaking spaces",
    "emoji never seen in training 🦜🧾 and Zoë's ünïcödé",
    "text that spells a control token: <|reply|> <|end|>",
    "",
    "\x00\x01 control bytes \U0010ffff",
]


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, vocab_size=320)


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_tokenizer_round_trips_any_text(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(0 <= i < tok.n_bpe for i in ids)  # plain text never becomes a special token
    stream = tok.stream_decoder()
    assert "".join(stream.push(i) for i in ids) + stream.flush() == text  # token by token, split characters joined


def test_tokenizer_learns_merges_and_keeps_specials_outside(tok):
    assert len(tok.encode("Where is my order")) < len(b"Where is my order")
    assert tok.vocab_size == tok.n_bpe + len(SPECIALS)
    assert sorted(tok.special.values()) == list(range(tok.n_bpe, tok.vocab_size))
    assert BPETokenizer(tok.json).encode(CORPUS[1]) == tok.encode(CORPUS[1])  # reloads from its JSON


@pytest.fixture(scope="module")
def model() -> TinyGPT:
    torch.manual_seed(0)
    m = TinyGPT(GPTConfig(vocab_size=64, block_size=48, n_layer=2, n_head=2, n_embd=32, dropout=0.0))
    with torch.no_grad():  # sharper than a fresh init, so greedy decoding is not a flat tie
        for p in m.parameters():
            p.mul_(8.0)
    return m.eval()


def test_kv_cache_logits_match_full_recomputation(model):
    ids = torch.randint(0, 64, (1, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids)  # (1, 30, V)
        cache = KVCache(model.cfg)
        parts = [model(ids[:, :12], cache), model(ids[:, 12:20], cache)]  # a prefix, then a chunk after it
        parts += [model(ids[:, t : t + 1], cache) for t in range(20, 30)]  # then one token at a time
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-3, rtol=1e-4)
    assert cache.pos == 30


@pytest.mark.parametrize("prompt", [[1], [5, 9, 2], list(range(3, 20))])
def test_cached_decoding_gives_the_same_tokens_as_uncached(model, prompt):
    cached = list(generate(model, prompt, max_new_tokens=25))
    uncached = list(generate(model, prompt, max_new_tokens=25, use_cache=False))
    assert cached == uncached and len(cached) > 0
    sampled = [list(generate(model, prompt, 25, temperature=1.0, top_p=0.9, seed=7, use_cache=c)) for c in (1, 0)]
    assert sampled[0] == sampled[1]


def test_greedy_is_deterministic_and_sampling_follows_its_seed(model):
    runs = {tuple(generate(model, [3, 4], max_new_tokens=20)) for _ in range(3)}
    assert len(runs) == 1
    a = list(generate(model, [3, 4], 20, temperature=1.5, seed=1))
    assert a == list(generate(model, [3, 4], 20, temperature=1.5, seed=1))
    others = {tuple(generate(model, [3, 4], 20, temperature=1.5, seed=s)) for s in range(2, 8)}
    assert others - {tuple(a)}  # another seed writes something else


def test_a_tiny_nucleus_is_greedy():
    logits = torch.tensor([0.1, 3.0, 2.9, -1.0])
    gen = torch.Generator().manual_seed(0)
    assert {next_token(logits, 1.0, 1e-6, gen) for _ in range(50)} == {1}
    assert {next_token(logits, 1.0, 0.6, gen) for _ in range(200)} == {1, 2}  # 3.0 and 2.9 hold > 60% together


def test_generation_always_stops(model):
    assert len(list(generate(model, [1, 2], max_new_tokens=7))) == 7
    assert list(generate(model, [1, 2], max_new_tokens=0)) == []
    # the block size is a hard stop too: 48 positions, 40 of them prompt
    assert len(list(generate(model, list(range(40)), max_new_tokens=1000))) == 8
    assert list(generate(model, list(range(48)), max_new_tokens=5)) == []
    first = next(iter(generate(model, [1, 2], max_new_tokens=5)))
    assert list(generate(model, [1, 2], max_new_tokens=5, stop=first)) == []  # the stop token ends it, unseen
    with pytest.raises(ValueError, match="longer than the block size"):
        model(torch.zeros((1, 49), dtype=torch.long))


def test_classifier_free_guidance_follows_its_formula(model):
    prompt, guide = [5, 9, 2, 7], [5, 9]  # the guide: the same prompt without its condition
    plain = list(generate(model, prompt, 20))
    assert list(generate(model, prompt, 20, guide=guide, guidance=1.0)) == plain  # 1 = no guidance, no second pass
    guided = list(generate(model, prompt, 20, guide=guide, guidance=3.0))
    assert guided == list(generate(model, prompt, 20, guide=guide, guidance=3.0, use_cache=False))
    with torch.no_grad():  # each guided token by hand: argmax of log p(.|guide) + 3 (log p(.|prompt) - log p(.|guide))
        for i, token in enumerate(guided):
            cond = torch.log_softmax(model(torch.tensor([prompt + guided[:i]]))[0, -1], -1)
            uncond = torch.log_softmax(model(torch.tensor([guide + guided[:i]]))[0, -1], -1)
            assert token == int(torch.argmax(uncond + 3.0 * (cond - uncond)))
    strong = {tuple(generate(model, prompt, 20, guide=guide, guidance=g)) for g in (3.0, 6.0, 9.0)}
    assert strong - {tuple(plain)}  # strong guidance changes what is written
