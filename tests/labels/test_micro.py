"""The micro tier: a seed ensemble with a nano blend saves and loads exactly; the backbone is configurable."""

from __future__ import annotations

import json

import numpy as np
import pytest

import microgpt
from microgpt import Classifier

pytestmark = pytest.mark.slow


def test_two_member_ensemble_with_nano_blend_round_trips(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    settings = {"max_steps": 3, "batch_size": 16, "max_length": 32, "members": 2, "ensemble_nano": True}
    model = Classifier("micro", micro=settings).fit(train)
    engine = model.engine_
    assert len(engine.models) == 2 and 0.0 <= engine.blend_ <= 0.6 and engine.temperature_ > 0
    model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"micro-0.safetensors", "micro-1.safetensors", "micro.json", "encoder"} <= files
    assert ("nano" in files) == (engine.blend_ > 0)
    meta = json.loads((tmp_path / "m" / "micro.json").read_text())
    assert meta["n_members"] == 2 and len(meta["fit"]["members"]) == 2
    loaded = microgpt.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(test), model.predict_proba(test), atol=1e-6)


def test_unknown_backbone_path_fails_before_training(helpdesk_split, tmp_path):
    with pytest.raises(microgpt.BackboneError, match="not found"):
        Classifier("micro", micro={"backbone": str(tmp_path / "nope")}).fit(helpdesk_split[0])
