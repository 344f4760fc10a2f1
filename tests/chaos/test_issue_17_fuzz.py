"""Chaos: hypothesis-generated training files and request bodies.

- `train` on any CSV/JSONL file either gives a module that loads or raises a MicroGPTError (one clear line in the
  CLI) — never another exception, and never a partial module or temporary directory left at --out.
- Every route, given any body (lone surrogates, huge texts, deeply nested JSON, garbage bytes, wrong types),
  answers below 500 with {"error", "hint"} for each 4xx.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgpt
from microgpt.errors import MicroGPTError
from microgpt.store.registry import Registry
from tests.serving.test_server import Server

pytestmark = pytest.mark.chaos

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
COUNTS: dict[str, int] = {}  # probes sent, per kind (RELIABILITY.md quotes them; MICROGPT_CHAOS_COUNTS=path)


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    if os.environ.get("MICROGPT_CHAOS_COUNTS"):
        Path(os.environ["MICROGPT_CHAOS_COUNTS"]).write_text(json.dumps(COUNTS))


LABELS = ["billing", "refund", "shipping", "label", "text", ""]
COLUMNS = ["text", "label", "labels", "message", "category", "source", "x", "", " Label "]
ODD = ["\ud800", "a\udfffb", "x" * 25_000, "   ", "", "line\nbreak", 'quote " comma ,', "\x00", "é🙂"]
WORDS = ["charged twice", "refund me", "parcel late", "money back", "invoice wrong", "where is it", "é🙂 ok"]
cell = st.one_of(st.text(max_size=25), st.sampled_from(LABELS), st.sampled_from(ODD[1:]))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # nearly valid: what a real export looks like, with the odd bad cell
        header = ["text", "label"]
        pairs = st.tuples(st.sampled_from(WORDS), st.sampled_from(LABELS[:3])).map(list)
        good = st.lists(pairs, min_size=2).map(lambda rows: rows + rows)  # ≥ 2 examples of each label
        rows = draw(st.one_of(good, st.lists(st.one_of(good.map(lambda r: r[0]), st.lists(cell, max_size=3)))))
    else:
        header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4))
        rows = draw(st.lists(st.lists(cell, min_size=0, max_size=5), max_size=14))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for i, row in enumerate(rows):
        writer.writerow(row)
        if draw(st.integers(0, 20)) == 0 and i:
            writer.writerow(header)  # a concatenated export
    text = buf.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    return data + draw(st.sampled_from([b"", b"", b"\xff\xfe", b'\n"unclosed']))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), cell)
json_values = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(COLUMNS), c, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["{not json", "[1, 2]", '"text"', "[" * 5000 + "]" * 5000, "null"])))
        elif kind == 1:
            lines.append(json.dumps(draw(json_values)))
        else:
            row = {"text": draw(cell), draw(st.sampled_from(["label", "labels", "category"])): draw(json_values)}
            lines.append(json.dumps(row))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _train_one(content: bytes, suffix: str, task: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / f"data{suffix}", Path(tmp) / "out" / "module"
        data.write_bytes(content)
        try:
            microgpt.train(data, task=task, tier="nano", out=out)
        except MicroGPTError as err:
            assert err.message and err.hint is not None, err
            assert not out.exists(), "a failed train left a module behind"
        else:
            assert microgpt.load(out).labels_
            COUNTS["trained"] = COUNTS.get("trained", 0) + 1
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")] if out.parent.exists() else []
        assert not leftovers, leftovers
    COUNTS["train files"] = COUNTS.get("train files", 0) + 1


@FUZZ
@given(content=csv_files(), task=st.sampled_from(["classify", "tag"]))
def test_issue_17_train_on_fuzzed_csv_never_tracebacks_or_leaves_a_partial_module(content, task):
    _train_one(content, ".csv", task)


@FUZZ
@given(content=jsonl_files(), task=st.sampled_from(["classify", "tag"]))
def test_issue_17_train_on_fuzzed_jsonl_never_tracebacks_or_leaves_a_partial_module(content, task):
    _train_one(content, ".jsonl", task)


@pytest.mark.parametrize(
    "content, suffix",
    [(b"text,label,label\nhi,a,b\n", ".csv"), (b'{"text": ' + b"[" * 100_000 + b"}", ".jsonl"), (b"\xff\xfe", ".csv")],
)
def test_issue_17_the_train_cli_prints_one_error_line_not_a_traceback(content, suffix, tmp_path):
    data = tmp_path / f"d{suffix}"
    data.write_bytes(content)
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "microgpt", "train", str(data), "--out", str(tmp_path / "m")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout and "hint" in done.stderr
    assert not (tmp_path / "m").exists()


# ---- request bodies -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("chaos-fuzz-home")
    texts = ["charged twice", "invoice wrong", "parcel late", "where is my parcel", "money back", "refund me"]
    labels = ["billing", "billing", "shipping", "shipping", "refund", "refund"]
    microgpt.Classifier("nano").fit(texts, labels).save(home / "router-dir")
    microgpt.Tagger("nano").fit(texts, [[x] for x in labels]).save(home / "tags-dir")
    Registry(home).add(home / "router-dir", "router")
    Registry(home).add(home / "tags-dir", "tags")
    server = Server(home, "--max-text-chars", "2000", "--max-batch", "16", "--max-body-bytes", "200000")
    yield server
    server.stop()


body_text = st.one_of(st.text(max_size=30), st.sampled_from(ODD))
body_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), body_text),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(body_text, c, max_size=3),
    max_leaves=10,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "text": body_values,
            "texts": st.lists(body_text, max_size=20) | body_values,
            "label": body_values,
            "labels": body_values,
            "prediction_id": body_values,
            "context": body_values,
            "stream": body_values,
            "reference_date": body_values,
            "fields": body_values,
        },
    ),
    body_values,
)
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.integers(100, 30_000).map(lambda n: b'{"text": ' + b"[" * n + b"]" * n + b"}"),
    st.sampled_from([b'{"text": "\\ud800"}', b'{"texts": ["ok", "\\udfff"]}', b"text=hi", b"", b"{}" * 5000]),
)
routes = st.sampled_from(
    ["/v1/modules/router/predict", "/v1/modules/tags/predict", "/v1/modules/router/feedback",
     "/v1/modules/tags/feedback", "/v1/modules/nope/predict", "/v1/review/0123/resolve", "/v1/review/0123/skip"]
)  # fmt: skip
content_types = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", None])


def _check(response: httpx.Response, what: str) -> None:
    COUNTS["request bodies"] = COUNTS.get("request bodies", 0) + 1
    assert response.status_code < 500, f"{what} → {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        assert {"error", "hint"} <= set(response.json()), f"{what} → {response.text[:300]}"


def test_issue_17_fuzzed_bodies_on_every_route_never_get_a_server_error(fuzz_server):
    client = httpx.Client(base_url=fuzz_server.url, timeout=30)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(route=routes, body=bodies, ctype=content_types)
    def json_bodies(route, body, ctype):  # type: ignore[no-untyped-def]
        content = json.dumps(body, ensure_ascii=True).encode()  # lone surrogates travel as \\udXXX escapes
        headers = {"content-type": ctype} if ctype else {}
        _check(client.post(route, content=content, headers=headers), f"{route} {content[:200]!r}")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(route=routes, content=raw_bodies, ctype=content_types)
    def raw(route, content, ctype):  # type: ignore[no-untyped-def]
        headers = {"content-type": ctype} if ctype else {}
        _check(client.post(route, content=content, headers=headers), f"{route} {content[:200]!r}")

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(name=st.text(max_size=20), status=st.text(max_size=10), limit=st.text(max_size=6))
    def queries(name, status, limit):  # type: ignore[no-untyped-def]
        from urllib.parse import quote

        _check(client.get(f"/v1/modules/{quote(name, safe='')}"), f"GET module {name!r}")
        _check(client.get("/v1/review", params={"module": name, "status": status, "limit": limit}), "GET review")

    try:
        json_bodies()
        raw()
        queries()
        assert client.get("/healthz").status_code == 200  # still up after all of it
    finally:
        client.close()
