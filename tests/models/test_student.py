"""TinyLSTM: shapes, padding invariance, "last" pooling vs a hand-unrolled LSTM, save/load."""

from __future__ import annotations

import json

import pytest
import torch

from models.batching import encode_batch, pad_ids
from models.errors import ConfigError, ModelsError
from models.student import (
    POOLINGS,
    StudentConfig,
    TinyLSTM,
    load_student,
    save_student,
)


def make_model(pooling: str = "last", *, seed: int = 0, **overrides) -> TinyLSTM:
    torch.manual_seed(seed)
    params = dict(num_labels=3, vocab_size=64, embed_dim=8, hidden=6, pooling=pooling, buckets=16)
    params.update(overrides)
    return TinyLSTM(StudentConfig(**params)).eval()


def random_batch(
    lengths: list[int], *, vocab: int = 64, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(0, 2**32, (n,), generator=g).tolist() for n in lengths]  # hashes
    return pad_ids(seqs)


def unrolled_direction(model: TinyLSTM, xs: torch.Tensor, suffix: str) -> torch.Tensor:
    """Run one LSTM direction step by step over xs [T, E] with PyTorch's gate order i, f, g, o."""
    lstm = model.lstm
    w_ih = getattr(lstm, f"weight_ih_l0{suffix}")
    w_hh = getattr(lstm, f"weight_hh_l0{suffix}")
    b = getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")
    H = model.config.hidden
    h = torch.zeros(H)
    c = torch.zeros(H)
    for x in xs:
        z = w_ih @ x + w_hh @ h + b
        i, f, g, o = z[:H].sigmoid(), z[H : 2 * H].sigmoid(), z[2 * H : 3 * H].tanh(), z[3 * H :]
        c = f * c + i * g
        h = o.sigmoid() * c.tanh()
    return h


@pytest.mark.parametrize("pooling", POOLINGS)
def test_output_shapes_and_zeroed_padding(pooling: str) -> None:
    model = make_model(pooling)
    ids, lengths = random_batch([5, 2, 7])
    out = model.features(ids, lengths)
    assert out.logits.shape == (3, 3)
    assert out.lstm_out.shape == (3, 7, 12)
    assert out.pooled.shape == (3, model.config.pooled_dim)
    assert torch.all(out.lstm_out[1, 2:] == 0)
    assert torch.all(out.lstm_out[0, 5:] == 0)
    assert torch.all(out.lstm_out[1, :2].abs().sum(-1) > 0)
    if pooling == "attention":
        assert out.attn_weights is not None and out.attn_weights.shape == (3, 7)
        torch.testing.assert_close(out.attn_weights.sum(-1), torch.ones(3))
        assert torch.all(out.attn_weights[1, 2:] == 0)
    else:
        assert out.attn_weights is None


@pytest.mark.parametrize("pooling", POOLINGS)
def test_extra_padding_does_not_change_outputs(pooling: str) -> None:
    model = make_model(pooling)
    ids, lengths = random_batch([4, 1, 6])
    wide = torch.cat([ids, torch.zeros(3, 9, dtype=torch.long)], dim=1)  # [3, 15]
    narrow_out = model.features(ids, lengths)
    wide_out = model.features(wide, lengths)
    torch.testing.assert_close(wide_out.logits, narrow_out.logits)
    torch.testing.assert_close(wide_out.pooled, narrow_out.pooled)
    torch.testing.assert_close(wide_out.lstm_out[:, :6], narrow_out.lstm_out)
    assert torch.all(wide_out.lstm_out[:, 6:] == 0)
    # Alone in its batch (no padding at all) a sequence gets the same logits as in the batch.
    alone = model(ids[1:2, :1], lengths[1:2])
    torch.testing.assert_close(alone, narrow_out.logits[1:2])


def test_last_pooling_is_forward_final_and_backward_final_state() -> None:
    model = make_model("last")
    ids, lengths = random_batch([5, 3, 1])
    out = model.features(ids, lengths)
    with torch.no_grad():
        for row, n in enumerate(lengths.tolist()):
            xs = model.embed(ids[row : row + 1, :n])[0]  # [n, E]
            h_fwd = unrolled_direction(model, xs, "")
            h_bwd = unrolled_direction(model, xs.flip(0), "_reverse")
            expected = torch.cat([h_fwd, h_bwd])
            torch.testing.assert_close(out.pooled[row], expected, rtol=1e-5, atol=1e-6)
            # The per-token outputs line up too: last forward state at n-1, backward at 0.
            H = model.config.hidden
            torch.testing.assert_close(out.lstm_out[row, n - 1, :H], h_fwd, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(out.lstm_out[row, 0, H:], h_bwd, rtol=1e-5, atol=1e-6)
            logits = model.head(expected)
            torch.testing.assert_close(out.logits[row], logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_empty_rows_pool_zeros(pooling: str) -> None:
    model = make_model(pooling)
    ids, lengths = random_batch([0, 4, 0])
    out = model.features(ids, lengths)
    assert torch.all(out.pooled[[0, 2]] == 0)
    assert torch.all(out.lstm_out[[0, 2]] == 0)
    torch.testing.assert_close(out.logits[0], model.head.bias)
    # A batch of only empty texts has width 0 and still works.
    all_empty = model.features(
        torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, dtype=torch.long)
    )
    assert all_empty.lstm_out.shape == (2, 0, 12)
    torch.testing.assert_close(all_empty.logits, model.head.bias.expand(2, -1))


def test_gradients_reach_every_parameter() -> None:
    model = make_model("attention").train()
    ids, lengths = random_batch([3, 5])
    model(ids, lengths).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_config_rejects_bad_values_naming_options() -> None:
    with pytest.raises(ConfigError, match="last, meanmax, attention"):
        StudentConfig(num_labels=3, pooling="max")
    with pytest.raises(ConfigError, match="num_labels"):
        StudentConfig(num_labels=0)
    with pytest.raises(ConfigError, match="dropout"):
        StudentConfig(num_labels=2, dropout=1.5)


def test_default_config_matches_the_device_contract() -> None:
    model = TinyLSTM(StudentConfig(num_labels=5))
    assert model.embedding.weight.shape == (2048, 64)
    assert model.embedding.padding_idx == 0
    assert model.lstm.weight_ih_l0.shape == (512, 64)
    assert model.lstm.weight_hh_l0_reverse.shape == (512, 128)
    assert model.head.weight.shape == (5, 256)
    assert TinyLSTM(StudentConfig(num_labels=5, pooling="meanmax")).head.in_features == 512


@pytest.mark.parametrize("pooling", POOLINGS)
def test_save_load_round_trip(tmp_path, pooling: str) -> None:
    model = make_model(pooling)
    labels = ["运输中", "紧急", "other"]
    save_student(model, labels, tmp_path / "m")
    loaded, loaded_labels = load_student(tmp_path / "m")
    assert loaded_labels == labels
    assert loaded.config == model.config
    ids, lengths = random_batch([3, 6])
    torch.testing.assert_close(loaded(ids, lengths), model(ids, lengths))


def test_load_reports_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(ModelsError, match=r"no model\.safetensors"):
        load_student(tmp_path)
    save_student(make_model(), ["a", "b", "c"], tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelsError, match="corrupt"):
        load_student(tmp_path)
    save_student(make_model(), ["a", "b", "c"], tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(ModelsError, match="2 labels"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelsError, match="cannot read"):
        load_student(tmp_path)
    with pytest.raises(ConfigError, match="label names"):
        save_student(make_model(), ["a"], tmp_path)


def test_encode_batch_pads_with_zero() -> None:
    class CharCodes:
        def encode(self, text: str | bytes) -> list[int]:
            return [2 + (ord(ch) % 50) for ch in str(text)]

    ids, lengths = encode_batch(CharCodes(), ["abc", "", "z"])
    assert lengths.tolist() == [3, 0, 1]
    assert ids.shape == (3, 3)
    assert ids[1].tolist() == [0, 0, 0] and ids[2, 1:].tolist() == [0, 0]
    ids, lengths = encode_batch(CharCodes(), ["", ""])
    assert ids.shape == (2, 0)


def test_the_hash_embedding_weighs_each_tokens_rows_by_its_importance() -> None:
    from models.embedding import buckets, rows

    model = make_model("last", hashes=3)
    with torch.no_grad():
        model.importance.weight.uniform_(-2, 2)
    ids, _ = random_batch([6])
    c = model.config
    r = rows(ids, c.vocab_size, c.hashes)  # [1, 6, 3]
    w = model.importance.weight[buckets(ids, c.buckets)]  # [1, 6, 3]
    expected = sum(w[..., j : j + 1] * model.embedding.weight[r[..., j]] for j in range(3))
    torch.testing.assert_close(model.embed(ids), expected)
    assert bool((r >= 2).all() and (r < c.vocab_size).all())  # rows 0, 1 stay reserved


def test_two_tokens_share_an_embedding_only_when_all_their_rows_collide() -> None:
    from models.embedding import rows

    hashes = torch.arange(0, 200_000, dtype=torch.long) * 2654435761 % 2**32
    one = rows(hashes, 2048, 1)[:, 0]
    two = rows(hashes, 2048, 2)
    assert len(set(one.tolist())) == 2046  # 200k tokens fill every row of spec v1 ...
    pairs = {tuple(p) for p in two.tolist()}
    assert len(pairs) > 0.95 * len(hashes)  # ... but almost none share both rows
    assert torch.equal(two[:, 0], one)  # row 0 is spec v1's id


def test_spec_v1_embedding_is_the_single_row() -> None:
    model = make_model("last", hashes=1, buckets=0)
    assert not hasattr(model, "importance") and model.config.spec_v1
    ids, _ = random_batch([4])
    expected = model.embedding.weight[2 + ids % 62]
    torch.testing.assert_close(model.embed(ids), expected)


def test_a_student_saved_before_the_hash_embedding_loads_as_spec_v1(tmp_path) -> None:
    model = make_model("last", hashes=1, buckets=0)
    out = save_student(model, ["a", "b", "c"], tmp_path / "s")
    config = json.loads((out / "config.json").read_text())
    del config["hashes"], config["buckets"]
    (out / "config.json").write_text(json.dumps(config))
    loaded, _ = load_student(out)
    assert loaded.config.spec_v1


@pytest.mark.parametrize(
    "kwargs", [{"hashes": 0}, {"hashes": 5}, {"buckets": -1}, {"buckets": 70000}]
)
def test_hash_embedding_parameters_out_of_range_are_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        StudentConfig(num_labels=3, **kwargs)
