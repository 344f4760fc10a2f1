"""The n-gram featurizer reads any script: full-width forms fold (NFKC), Chinese and Japanese split per character."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from microgpt.backbones.ngram import NgramFeaturizer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_han_characters_are_words_and_latin_words_stay_whole():
    f = NgramFeaturizer(word_ngrams=(1, 2), char_ngrams=(0, 0))
    keys = f.analyze("订两位 table 明天")
    assert {"w订", "w两", "w位", "wtable", "w明", "w天", "w订 两", "w位 table"} <= set(keys)


def test_full_width_forms_fold_to_ascii():
    f = NgramFeaturizer(word_ngrams=(1, 1), char_ngrams=(0, 0))
    assert f.analyze("ＲＥＦＵＮＤ ４") == f.analyze("refund 4")


def test_modules_saved_before_cjk_segmentation_keep_their_features():
    f = NgramFeaturizer(word_ngrams=(1, 1), char_ngrams=(0, 0))
    f.fit_transform(["订两位", "取消预订"])
    meta, arrays = f.get_state()
    assert meta["segmentation"] == "cjk-chars"
    meta.pop("segmentation")  # what a module written before this change holds
    old = NgramFeaturizer.from_state(meta, arrays)
    assert old.analyze("订两位") == ["w订两位"]  # whole runs, as that module was trained


def test_issue_18_the_single_text_fast_path_gives_the_batch_features_exactly():
    """`vector` (serving: character n-grams looked up once per word) == `transform` (training), bit for bit."""
    rows = [r["text"] for r in csv.DictReader((EXAMPLES / "helpdesk.csv").open(encoding="utf-8"))]
    train = rows[:150]
    odd = ["", "   ", "!!!", "下周五晚上7点，四位", "ＦＵＬＬ－ＷＩＤＴＨ card", "el martes a las 8, somos 3"]
    unseen = [*rows[150:], *odd]
    for skip_window in (0, 3):
        f = NgramFeaturizer(skip_window=skip_window)
        f.fit_transform(train)
        batch = f.transform(unseen)
        for _ in range(2):  # cold, then from the per-word cache
            for i, text in enumerate(unseen):
                idx, val = f.vector(text)
                row = batch.getrow(i)
                mine, theirs = np.argsort(idx), np.argsort(row.indices)
                assert idx[mine].tolist() == row.indices[theirs].tolist(), text
                assert val[mine].tolist() == row.data[theirs].tolist(), text
    f.fit_transform(["a different vocabulary entirely"])  # refitting drops the cached word features
    assert sorted(f.vector(unseen[0])[0].tolist()) == sorted(f.transform([unseen[0]]).indices.tolist())
