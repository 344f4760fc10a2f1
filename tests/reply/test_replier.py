"""The Replier on both tiers: the task contract, placeholders filled only from the caller's fields, bad input that
names the fix, long messages cut with a warning, identical drafts after save → load, and a CLI that streams."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest

import microgpt
from microgpt import DataError, Draft, NotFittedError, Replier
from microgpt.data.records import Dataset, Example
from microgpt.errors import ConfigError

# ~45k parameters and a few dozen steps: enough to test the contract in seconds, not to write good replies.
TINY_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 400, "block_size": 96, "max_message_tokens": 24,
            "max_steps": 12, "batch_size": 8, "warmup_steps": 2, "max_new_tokens": 40, "threads": 1}  # fmt: skip
TIERS = ["nano", "micro"]
REPLIES = {
    "cancel_order": (
        ["please cancel my order {n}", "I want to cancel order {n}", "cancel purchase {n} now", "stop order {n}"],
        "I have cancelled order {n}. Your refund reaches you within 5 days via {{Payment Method}}.",
    ),
    "track_order": (
        ["where is my order {n}", "track order {n}", "has order {n} shipped yet", "status of my order {n}"],
        "Your order {n} is on its way. Follow it at {{Website URL}}.",
    ),
    "recover_password": (
        ["I forgot my password", "reset my password please", "cannot log in, lost password", "password help"],
        "Reset your password from the login page; the link stays valid for 24 hours.",
    ),
}


def reply_data(repeats: int = 4) -> Dataset:
    examples = []
    for intent, (messages, reply) in REPLIES.items():
        for r in range(repeats):
            for j, message in enumerate(messages):
                n = str(40_000 + 97 * r + j)
                fields = {"Order Number": n} if "{n}" in message else None
                examples.append(
                    Example(
                        text=message.format(n=n),
                        reply=reply.replace("{n}", n),
                        label=intent,
                        fields=fields,
                        source=f"pairs:{len(examples)}",
                    )
                )
    return Dataset(examples, name="pairs")


@pytest.fixture(scope="module")
def fitted():
    cache: dict[str, Replier] = {}

    def get(tier: str) -> Replier:
        if tier not in cache:
            cache[tier] = Replier(tier, micro=TINY_GPT).fit(reply_data())
        return cache[tier]

    return get


@pytest.mark.parametrize("tier", TIERS)
def test_fit_returns_self_and_drafts_text(fitted, tier):
    model = fitted(tier)
    assert isinstance(model, Replier) and model.engine_.tier == tier
    assert model.labels_ == sorted(REPLIES)
    drafts = model.predict(["where is my order 123", "I forgot my password"])
    assert len(drafts) == 2 and all(isinstance(d, str) for d in drafts)
    draft = model.predict_one("where is my order 123")
    assert isinstance(draft, Draft) and draft.tokens > 0 and 0 < draft.first_token_ms <= draft.ms
    assert not hasattr(model, "predict_proba")  # a Replier writes text: no probabilities to give (sklearn contract)


def test_nano_retrieves_the_nearest_reply_and_fills_only_given_fields(fitted):
    model = fitted("nano")
    draft = model.predict_one("please cancel my order 555", fields={"Order Number": "555"})
    assert draft.text == "I have cancelled order 555. Your refund reaches you within 5 days via {{Payment Method}}."
    assert draft.filled == ["Order Number"] and draft.unfilled == ["Payment Method"]
    bare = model.predict_one("please cancel my order 555")  # no fields: the placeholder stays, no number invented
    assert bare.text.startswith("I have cancelled order {{Order Number}}.")
    assert not any(ch.isdigit() for ch in bare.text.split("5 days")[0])
    assert model.data_info_["templatized"] == 32  # every training reply quoting its order number
    assert model.predict_one("help", intent="track_order").text.startswith("Your order {{Order Number}}")


def test_micro_drafts_never_carry_a_training_order_number(fitted):
    model = fitted("micro")
    train_numbers = {e.fields["Order Number"] for e in reply_data() if e.fields}
    for text in model.predict(["cancel order 7", "where is order 8", "password"]):
        assert not any(n in text for n in train_numbers)


@pytest.mark.parametrize("tier", TIERS)
def test_empty_message_is_a_clear_error(fitted, tier):
    model = fitted(tier)
    for bad in ("", "   \n"):
        with pytest.raises(DataError, match="empty message") as err:
            model.predict_one(bad)
        assert err.value.hint
        with pytest.raises(DataError, match="empty"):
            list(model.stream(bad))
    with pytest.raises(DataError, match="single string"):
        model.predict("where is my order")


@pytest.mark.parametrize("tier", TIERS)
def test_a_50k_character_message_is_cut_with_a_warning(fitted, tier, caplog):
    model = fitted(tier)
    text = "where is my order 123? " + "I have been waiting for weeks and nobody answers my emails. " * 850
    assert len(text) >= 50_000
    with caplog.at_level(logging.WARNING):
        draft = model.predict_one(text, max_new_tokens=10)
    assert isinstance(draft.text, str) and draft.tokens <= 10
    if tier == "micro":
        assert "cut to its first 24 tokens" in caplog.text


@pytest.mark.parametrize("tier", TIERS)
def test_save_load_gives_identical_drafts(fitted, tier, tmp_path):
    model = fitted(tier)
    model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    assert isinstance(loaded, Replier) and loaded.labels_ == model.labels_
    messages = ["please cancel my order 9", "track order 12", "lost my password", "¿dónde está mi pedido? 🚚"]
    fields = [{"Order Number": "9"}, None, None, None]
    assert loaded.predict(messages, fields=fields) == model.predict(messages, fields=fields)
    assert loaded.judge_intents(["Reset your password from the login page"]) == ["recover_password"]
    if tier == "micro":
        assert not list(tmp_path.glob("m/*.pt")) and (tmp_path / "m" / "tokenizer.json").exists()
        assert (tmp_path / "m" / "tinygpt.safetensors").exists()


def test_micro_streams_greedy_and_sampled_drafts_that_stop(fitted):
    model = fitted("micro")
    pieces = list(model.stream("where is my order 5", fields={"Order Number": "5"}, max_new_tokens=15))
    assert "".join(pieces) == model.predict_one("where is my order 5", fields={"Order Number": "5"},
                                                max_new_tokens=15).text  # fmt: skip
    assert model.predict_one("hello", max_new_tokens=3).tokens <= 3
    a = model.predict_one("hello", temperature=1.0, top_p=0.9, seed=3).text
    assert a == model.predict_one("hello", temperature=1.0, top_p=0.9, seed=3).text


def test_micro_conditions_on_the_routed_intent_unless_one_is_given(fitted, tmp_path):
    model = fitted("micro")
    assert model.predict_one("I forgot my password", max_new_tokens=2).intent == "recover_password"
    assert model.predict_one("I forgot my password", intent="track_order", max_new_tokens=2).intent == "track_order"
    assert fitted("nano").predict_one("I forgot my password").intent is None  # retrieval: plain nearest neighbour
    model.save(tmp_path / "m")
    assert microgpt.load(tmp_path / "m").predict_one("track order 5", max_new_tokens=2).intent == "track_order"
    plain = Replier("micro", micro={**TINY_GPT, "route_intents": False}).fit(reply_data())
    assert plain.router_ is None and plain.predict_one("I forgot my password", max_new_tokens=2).intent is None


def test_micro_decodes_with_guidance_on_the_intent(fitted):
    from microgpt.backbones.tinygpt import generate

    engine = fitted("micro").engine_
    assert engine.config.guidance == 1.5  # the default: on
    prompt, bare = engine.prompt("where is it", "track_order"), engine.prompt("where is it")
    end = engine.tokenizer.special["<|end|>"]
    guided = list(generate(engine.model, prompt, 20, end, guide=bare, guidance=1.5))
    assert engine.token_ids("where is it", "track_order", max_new_tokens=20) == guided
    assert engine.token_ids("where is it", None, max_new_tokens=20) == list(generate(engine.model, bare, 20, end))
    unguided = list(generate(engine.model, prompt, 20, end))  # guidance 1 per draft: the plain conditional
    assert engine.token_ids("where is it", "track_order", max_new_tokens=20, guidance=1.0) == unguided
    model = fitted("micro")
    text = engine.tokenizer.decode(unguided)
    assert model.predict_one("where is it", intent="track_order", max_new_tokens=20, guidance=1.0).text == text


def test_intents_are_checked(fitted):
    model = fitted("nano")
    with pytest.raises(DataError, match="did you mean 'track_order'"):
        model.predict_one("where is it", intent="track_ordr")
    plain = Replier("nano").fit(["hi", "bye"], ["Hello!", "Goodbye!"])
    assert plain.labels_ == [] and plain.judge_ is None
    with pytest.raises(DataError, match="trained without intents"):
        plain.predict_one("hi", intent="greet")


def test_not_fitted_and_bad_training_data():
    with pytest.raises(NotFittedError):
        Replier().predict_one("hello")
    with pytest.raises(DataError, match="one reply per message"):
        Replier().fit(["a", "b"], ["only one"])
    with pytest.raises(DataError, match="empty or missing reply") as err:
        Replier().fit(["a", "b"], ["fine", "  "])
    assert "reply" in err.value.hint
    with pytest.raises(DataError, match="only 1"):
        Replier().fit(["a"], ["b"])
    with pytest.raises(DataError, match="empty text"):
        Replier().fit(["", "b"], ["a", "b"])
    with pytest.raises(ConfigError, match="unknown tier .auto. for Replier"):
        Replier("auto").fit(["a", "b"], ["c", "d"])
    with pytest.raises(ConfigError, match="did you mean 'n_layer'"):
        Replier("micro", micro={"n_layers": 2}).fit(["a", "b"], ["c", "d"])
    with pytest.raises(ConfigError, match="multiple of n_head"):
        Replier("micro", micro={**TINY_GPT, "n_embd": 30, "n_head": 4}).fit(["a", "b"], ["c", "d"])


@pytest.mark.parametrize("tier", TIERS)
def test_evaluate_reports_generation_metrics_and_samples(fitted, tier, tmp_path):
    model = fitted(tier)
    test = reply_data(repeats=1)
    report = microgpt.evaluate(model, test, out_dir=tmp_path)
    m = report["metrics"]
    assert {"rouge_l", "chrf", "placeholder_precision", "intent_consistency", "tokens_per_s", "first_token_ms"} <= set(
        m
    )
    assert 0 <= m["rouge_l"] <= 1 and 0 <= m["chrf"] <= 100 and 0 <= m["intent_consistency"] <= 1
    assert m["judge_accuracy"] == 1.0  # the judge reads the reference replies right
    assert len(m["samples"]) == 10
    if tier == "nano":  # retrieval of near-identical training messages: the replies themselves
        assert m["rouge_l"] > 0.95 and m["intent_consistency"] == 1.0 and m["placeholder_precision"] == 1.0
    md = (tmp_path / "REPORT.md").read_text()
    assert "rouge_l" in md and "side by side" in md and md.count("\n| ") >= 12


def test_micro_learns_the_replies():
    """A little longer training (still ~45k parameters): greedy drafts reproduce the business's replies."""
    model = Replier(
        "micro", micro={**TINY_GPT, "n_embd": 48, "epochs": 50, "max_steps": 300, "lr": 3e-3, "dropout": 0.0}
    )
    model.fit(reply_data())
    assert model.score(reply_data(repeats=1)) > 0.8
    draft = model.predict_one("please cancel my order 31", fields={"Order Number": "31"})
    assert draft.text.startswith("I have cancelled order 31.")


# ---- command line ---------------------------------------------------------------------------------------------
def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "microgpt", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300, check=False)  # fmt: skip


def write_jsonl(path, data: Dataset) -> None:
    rows = [{"instruction": e.text, "response": e.reply, "intent": e.label, "fields": e.fields} for e in data]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_cli_trains_evaluates_and_predicts_a_nano_replier(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", reply_data())
    write_jsonl(tmp_path / "test.jsonl", reply_data(repeats=1))
    args = ["--task", "reply", "--text-col", "instruction", "--reply-col", "response", "--tier", "nano"]
    proc = cli("train", str(tmp_path / "train.jsonl"), *args, "--out", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert "48 message/reply pairs (3 intents)" in proc.stderr
    proc = cli("evaluate", str(tmp_path / "m"), str(tmp_path / "test.jsonl"), "--text-col", "instruction",
               "--reply-col", "response", "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rouge_l"] > 0.95
    proc = cli("predict", str(tmp_path / "m"), "please cancel my order 77", "--field", "Order Number=77")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("I have cancelled order 77. ") and "{{Payment Method}}" in proc.stdout
    proc = cli("predict", str(tmp_path / "m"), "-", stdin='{"id": 3, "text": "track order 4"}\nforgot password\n')
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["id"] == 3 and lines[0]["unfilled"] == ["Order Number", "Website URL"]
    assert lines[1]["reply"].startswith("Reset your password")
    proc = cli("predict", str(tmp_path / "m"), "")
    assert proc.returncode == 1 and "empty message" in proc.stderr and "hint" in proc.stderr
    proc = cli("predict", str(tmp_path / "m"), "hi", "--field", "no-equals-sign")
    assert proc.returncode == 1 and "NAME=VALUE" in proc.stderr


def test_cli_streams_the_draft_as_it_is_written(fitted, tmp_path):
    model = fitted("micro")
    model.save(tmp_path / "m")
    sampling = {"max_new_tokens": 40, "temperature": 1.5, "seed": 1}  # seeded: the same draft in any process
    expected = model.predict_one("where is my order", **sampling)
    assert expected.tokens >= 20  # long enough to see it arrive in pieces
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"HF_HUB_OFFLINE": "1"}  # as users run it
    proc = subprocess.Popen(
        [sys.executable, "-m", "microgpt", "predict", str(tmp_path / "m"), "where is my order",
         "--max-tokens", "40", "--temperature", "1.5", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    chunks: list[bytes] = []
    while chunk := os.read(proc.stdout.fileno(), 65536):
        chunks.append(chunk)
        time.sleep(0.002)  # let the writer get ahead a little; a buffered writer would still arrive in one piece
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    assert b"".join(chunks).decode() == expected.text + "\n"
    assert len(chunks) >= 3  # many writes, one per token, not one at exit


def test_cli_names_the_placeholders_it_left_open(fitted, tmp_path):
    fitted("nano").save(tmp_path / "n")
    run = subprocess.run(
        [sys.executable, "-m", "microgpt", "predict", str(tmp_path / "n"), "please cancel my order 555",
         "--field", "Order Number=555"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "I have cancelled order 555. Your refund reaches you within 5 days via {{Payment Method}}.\n"
    assert "placeholders left open: Payment Method (fill them with --field" in run.stderr
