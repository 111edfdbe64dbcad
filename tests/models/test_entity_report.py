"""The entity rows' Markdown (the training run itself is benchmarks/entity_f1)."""

from __future__ import annotations

from benchmarks.entity_report import render_entity_table
from models.data.spans import Entity
from models.entity_eval import entity_report


def test_entity_table_has_a_row_per_model_and_the_goal():
    gold = [[Entity(0, 2, "PLACE"), Entity(3, 5, "ID")]]
    teacher = entity_report(gold, gold, ["zh"]).to_dict()
    student = entity_report(gold, [[Entity(0, 2, "PLACE")]], ["zh"]).to_dict()
    result = {
        "rows": [{"model": "teacher", **teacher},
                 {"model": "student + KD (int8)", **student, "macro_f1": 0.9}],
        "goal": {"int8_kd_over_teacher": student["f1"] / teacher["f1"], "target": 0.95},
    }  # fmt: skip
    table = render_entity_table(result)
    assert "| teacher | 1.000 | 1.000 | 1.000 | 1.000 | 0.000 | 1.000 |" in table
    assert "| student + KD (int8) | 0.667 | 1.000 | 0.500 | 0.000 |" in table
    assert "| 0.900 |" in table and "n/a" in table  # the teacher has no macro-F1 here
    assert "int8 KD student / teacher entity F1: 66.7% (goal >= 95%)" in table
