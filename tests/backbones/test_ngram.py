"""The n-gram featurizer reads any script: full-width forms fold (NFKC), Chinese and Japanese split per character."""

from __future__ import annotations

from microgpt.backbones.ngram import NgramFeaturizer


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
