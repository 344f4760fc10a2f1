"""The Extractor on both tiers: the task contract, offsets that round-trip, typed fields, field-annotated data,
long documents in windows, and bad input that names the fix."""

from __future__ import annotations

import datetime
import json
import time

import pytest

import microgpt
from microgpt import DataError, Extraction, Extractor, NotFittedError, Span
from microgpt.data.records import Dataset, Example
from microgpt.errors import ConfigError
from tests.conftest import ROOT, TINY_MICRO

BOOKINGS = ROOT / "examples" / "bookings.jsonl"
INVOICES = ROOT / "examples" / "invoices.jsonl"
SUNDAY = datetime.date(2026, 11, 29)
TIERS = ["nano", pytest.param("micro", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def bookings() -> tuple[Dataset, Dataset]:
    data = microgpt.read_examples(BOOKINGS, task="extract")
    return data[:190], data[190:]


@pytest.fixture(scope="module")
def fitted(bookings):
    cache: dict[str, Extractor] = {}

    def get(tier: str) -> Extractor:
        if tier not in cache:
            micro = {**TINY_MICRO, "max_steps": 30, "ensemble_nano": True}
            cache[tier] = Extractor(tier, micro=micro).fit(bookings[0])
        return cache[tier]

    return get


@pytest.mark.parametrize("tier", TIERS)
def test_fit_returns_self_with_the_schema_from_the_data(fitted, tier):
    model = fitted(tier)
    assert model.engine_.tier == tier
    assert {name: spec.type for name, spec in model.schema_.items()} == {
        "date": "date", "name": "text", "people": "count", "phone": "text", "time": "time",
    }  # fmt: skip
    assert model.labels_ == list(model.schema_)


@pytest.mark.parametrize("tier", TIERS)
def test_every_span_is_its_text_and_carries_a_confidence(fitted, tier, bookings):
    model = fitted(tier)
    texts = bookings[1].texts + ["", "table for two"][1:] + ["£$%^ ... ---", "Ünïcödé Zoë wants 3 seats 🍝 tomorrow"]
    for text, ex in zip(texts, model.predict(texts), strict=True):
        assert isinstance(ex, Extraction) and ex.text == text
        assert len(ex.values) == len(ex.spans)
        for span in ex.spans:
            assert 0 <= span.start < span.end <= len(text)
            assert text[span.start : span.end] == text[span.start : span.end].strip()
            assert 0.0 < span.score <= 1.0
            assert span.label in model.schema_
        doc = ex.to_json()
        assert all(s["text"] == text[s["start"] : s["end"]] for s in doc["spans"])
        json.dumps(doc)  # JSON-able as it is


@pytest.mark.slow
def test_micro_blends_in_the_crf_only_as_far_as_it_helps_on_dev(fitted):
    engine = fitted("micro").engine_
    scores = engine.fit_result_["blend_dev_span_f1"]
    assert set(scores) == {0.0, 0.25, 0.5, 0.75}
    assert scores[engine.blend_] == max(scores.values())
    assert (engine.nano is not None) == (engine.blend_ > 0)


def test_nano_reads_typed_fields_against_a_reference_date(fitted):
    ex = fitted("nano").predict_one(
        "Hi, could I book a table for four next Friday at 7? Name's Ana Ruiz", reference=SUNDAY
    )
    assert ex.fields == {"date": "2026-12-04", "name": "Ana Ruiz", "people": 4, "phone": None, "time": "19:00"}
    assert ex.field_texts()["date"] == "next Friday"


def test_nano_learns_the_bookings(fitted, bookings):
    assert fitted("nano").score(bookings[1]) > 0.9  # span F1 on 50 held-out requests


@pytest.mark.parametrize("tier", TIERS)
def test_save_load_gives_identical_spans(fitted, tier, tmp_path, bookings):
    model = fitted(tier)
    model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    assert isinstance(loaded, Extractor) and loaded.schema_ == model.schema_
    texts = bookings[1].texts
    assert loaded.predict_spans(texts) == model.predict_spans(texts)
    got = [s.score for spans in loaded.predict_spans(texts) for s in spans]
    want = [s.score for spans in model.predict_spans(texts) for s in spans]
    assert got == pytest.approx(want, abs=1e-5)


def test_field_annotated_documents_are_aligned_and_scored_by_field(tmp_path):
    rows = [json.loads(line) for line in INVOICES.read_text().splitlines()]
    as_fields = []
    for row in rows:
        fields = {s["label"]: row["text"][s["start"] : s["end"]] for s in row["spans"]}
        fields["total"] = fields["total"].replace(" ", "  ")  # values are matched ignoring whitespace...
        as_fields.append(Example(text=row["text"], fields=fields, source=f"inv:{len(as_fields)}"))
    as_fields.append(Example(text="ACME LTD\nTOTAL 5.00", fields={"total": "5.00", "company": "Not Acme"}))
    train, test = Dataset(as_fields[:100]), Dataset(as_fields[100:120])
    model = Extractor("nano", schema="company, invoice_no, date:date, total:money").fit(train)
    assert model.alignment_ == {"field_values": 400, "not_found": 0, "by_field": {}}
    assert model.score(test) > 0.8  # field F1
    model = Extractor("nano").fit(Dataset(as_fields[100:]))
    assert model.alignment_["not_found"] == 1 and model.alignment_["by_field"] == {"company": 1}
    report = microgpt.evaluate(model, test, write=False)["metrics"]
    assert {"field_f1", "field_precision", "field_recall", "per_label"} <= set(report)
    assert set(report["per_label"]) == {"company", "invoice_no", "date", "total"}


def test_money_fields_come_out_typed(tmp_path):
    model = Extractor("nano", schema="company, invoice_no, date:date, total:money").fit(
        microgpt.read_examples(INVOICES, task="extract")
    )
    ex = model.predict_one(
        "Harbour Fish Market\nInvoice INV-4411\nDate: 03/12/2026\n2 x Crab  €31,80\nTOTAL: 1.299,00 €"
    )
    assert ex.fields["date"] == "2026-12-03"
    assert ex.to_json()["fields"]["total"] == {"amount": "1299.00", "currency": "EUR"}


@pytest.mark.parametrize("tier", TIERS)
def test_a_100k_character_document_is_read_whole_in_windows(fitted, tier):
    model = fitted(tier)
    filler = "Our opening hours change in December, please check the website before you come. "
    head = "Hi, could I book a table for 2 tomorrow at 8pm? Name's Yuki Tanaka. "
    tail = " Also, a table for 6 next Tuesday at 7:30 under Laura Novak."
    body = filler * ((100_000 - len(head) - len(tail)) // len(filler))
    text = head + body + tail
    assert len(text) <= 100_000
    start = time.perf_counter()
    ex = model.predict_one(text)
    assert time.perf_counter() - start < 60
    found = {text[s.start : s.end] for s in ex.spans}
    if tier == "nano":  # a trained model finds both ends of the text: nothing was truncated
        assert {"Yuki Tanaka", "Laura Novak"} <= found
    assert all(s.end <= len(text) for s in ex.spans)


def test_windows_cover_every_word_once_trained(fitted):
    from microgpt.extract.spans import words
    from microgpt.extract.token import Pieces

    pytest.importorskip("torch")
    from microgpt.backbones.encoder import load_pretrained

    _, tokenizer = load_pretrained("default")
    pieces = Pieces(tokenizer, max_length=16, stride=4)
    text = "TOTAL:\n9.00\n" + " ".join(f"word{i}" for i in range(200)) + "\nCASH 10.00"
    toks = words(text)
    windows = pieces.windows(0, text, toks, context="total")
    covered = {w for win in windows for w in win.word_at if w >= 0}
    assert covered == set(range(len(toks)))
    assert all(len(win.ids) <= 16 for win in windows)
    assert all(win.ids[0] == tokenizer.cls_token_id and win.ids[-1] == tokenizer.sep_token_id for win in windows)
    assert pieces.newline in windows[0].ids  # line breaks survive as a marker piece


def test_context_is_used_when_given():
    texts = ["13", "8", "13", "7", "tomorrow", "12", "at 9", "the 14th", "5", "10"] * 4
    asked = ["people", "time", "time", "people", "date", "people", "time", "date", "time", "people"] * 4
    data = Dataset(
        Example(text=t, spans=(Span(t.rfind(t.split()[-1]), len(t), a),), context=a)
        for t, a in zip(texts, asked, strict=True)
    )
    model = Extractor("nano").fit(data)
    assert [s.label for s in model.predict_spans(["13"], context="time")[0]] == ["time"]
    assert [s.label for s in model.predict_spans(["13"], context="people")[0]] == ["people"]
    with pytest.raises(DataError, match="contexts"):
        model.predict_spans(["13", "14"], context=["time"])


def test_predict_before_fit_and_bad_input():
    with pytest.raises(NotFittedError, match="fit"):
        Extractor().predict(["table for two"])
    data = Dataset([Example(text="table for two", spans=(Span(10, 13, "people"),))] * 3)
    model = Extractor().fit(data)
    with pytest.raises(DataError, match="empty text"):
        model.predict(["  "])
    with pytest.raises(DataError, match="single string"):
        model.predict("table for two")


@pytest.mark.parametrize(
    ("examples", "kwargs", "message"),
    [
        ([Example(text="for two", spans=())] * 3, {}, "no spans anywhere"),
        ([Example(text="for two", spans=(Span(4, 7, "people"),))], {}, "fewer than 2 examples"),
        ([Example(text="for two", spans=(Span(4, 9, "people"),))] * 2, {}, "outside the text"),
        (
            [Example(text="for two", spans=(Span(4, 7, "people"),))] * 2,
            {"schema": "date:date"},
            "not in the field schema",
        ),
        ([Example(text="for two", fields={"guests": "two"})] * 2, {"schema": "people:count"}, "not in the schema"),
        ([Example(text="for two")] * 2, {}, "neither spans nor fields"),
        ([Example(text=" ", spans=())] * 2, {}, "empty text"),
        ([Example(text="x" * 100_001, spans=())], {}, "100,000"),
    ],
)
def test_bad_training_data_names_the_fix(examples, kwargs, message):
    with pytest.raises(DataError, match=message) as err:
        Extractor(**kwargs).fit(Dataset(examples))
    assert err.value.hint


def test_unsupported_tier_and_date_order():
    data = Dataset([Example(text="for two", spans=(Span(4, 7, "people"),))] * 2)
    with pytest.raises(ConfigError, match="unknown tier .auto. for Extractor"):
        Extractor("auto").fit(data)
    with pytest.raises(ConfigError, match="date order"):
        Extractor(date_order="DDMM").fit(data)


def test_modules_saved_before_the_crf_settings_split_still_load(tmp_path):
    """Before 0.2 an extractor saved the whole NanoConfig (crf_c1, crf_c2, crf_iterations): it keeps loading."""
    from microgpt.module import MANIFEST, manifest_digest, sha256_file

    data = microgpt.read_examples(ROOT / "examples" / "bookings.jsonl", task="extract")
    model = Extractor("nano", nano={"c1": 0.1}).fit(data)
    path = model.save(tmp_path / "old")
    manifest = json.loads((path / MANIFEST).read_text())
    old_nano = {**microgpt.NanoConfig().model_dump(mode="json"), "crf_c1": 0.1, "crf_c2": 0.05, "crf_iterations": 150}
    manifest["config"]["nano"] = old_nano
    (path / "crf.json").write_text(json.dumps({"config": old_nano}))
    manifest["files"]["crf.json"] = sha256_file(path / "crf.json")
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))
    loaded = microgpt.load(path)
    assert loaded.config("nano") == microgpt.CrfConfig(c1=0.1)
    text = "a table for 2 on Friday at 8pm"
    assert loaded.predict_one(text).to_json() == model.predict_one(text).to_json()
    with pytest.raises(ConfigError, match="unknown setting 'crf_c1' for CrfConfig"):
        Extractor("nano", nano={"crf_c1": 0.1}).fit(data)
