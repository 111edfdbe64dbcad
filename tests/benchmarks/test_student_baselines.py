"""The benchmark runner finds benchmark modules; the TF-IDF baseline scores a toy set."""

from __future__ import annotations

from benchmarks.__main__ import discover, has_main
from benchmarks.student_baselines import tfidf_baseline
from tests.models.toy_data import make_toy_examples


def test_discover_lists_modules_with_main(tmp_path) -> None:
    assert "student_baselines" in discover()
    with_main = tmp_path / "a.py"
    with_main.write_text("def main():\n    pass\n")
    without = tmp_path / "b.py"
    without.write_text("def helper():\n    pass\nmain = 3\n")
    assert has_main(with_main)
    assert not has_main(without)


def test_tfidf_baseline_beats_chance_on_toy_data() -> None:
    examples = make_toy_examples(150, seed=2)
    labels = sorted({ex.label for ex in examples})
    result = tfidf_baseline(examples[:120], examples[120:], labels)
    assert set(result) == {"accuracy", "macro_f1", "train_seconds"}
    assert result["accuracy"] > 0.8  # chance is 1/3
