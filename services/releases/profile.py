"""A release's reference profile: what the integer model predicts on held-out messages (class
mix and confidence histogram), computed with the integer reference, which is bit-exact with the
devices' C engine. The processor measures drift against it; the demo and the distiller both
build it here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from contract.schemas import ConfidenceHistogram, ReferenceProfile

TARGET = "stm32f405-tinylstm"  # the release target the devices accept
CONFIDENCE_EDGES = [round(k / 10, 1) for k in range(11)]  # reference confidence histogram


def integer_probs(blob: bytes, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Softmax of the integer reference's logits ``[N, C]`` for ``texts``, and the label names."""
    from models.blob import read_blob
    from models.intlstm import integer_logits
    from models.tokenizer import Tokenizer

    model = read_blob(blob).model
    tokenizer = Tokenizer(max_len=model.max_len)
    logits = integer_logits(model, [tokenizer.encode(t) for t in texts]) / 1024.0  # [N, C] Q.10
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))  # [N, C]
    probs /= probs.sum(axis=1, keepdims=True)
    return probs, list(model.labels)


def profile_from_probs(probs: np.ndarray, labels: Sequence[str]) -> ReferenceProfile:
    """Class mix of the argmax and the histogram of the top probability, ``probs`` ``[N, C]``."""
    assert probs.ndim == 2 and probs.shape[0] > 0, f"probs must be [N>0, C], got {probs.shape}"
    mix = np.bincount(probs.argmax(axis=1), minlength=len(labels)) / probs.shape[0]  # [C]
    conf, _ = np.histogram(probs.max(axis=1), bins=CONFIDENCE_EDGES)
    return ReferenceProfile(
        class_mix={label: float(share) for label, share in zip(labels, mix, strict=True)},
        confidence=ConfidenceHistogram(
            edges=CONFIDENCE_EDGES, frequencies=(conf / conf.sum()).tolist()
        ),
    )


def reference_profile(blob: bytes, texts: Sequence[str]) -> tuple[ReferenceProfile, list[int]]:
    """The profile of ``blob`` on ``texts``, and the predicted class index per text."""
    probs, labels = integer_probs(blob, texts)
    return profile_from_probs(probs, labels), probs.argmax(axis=1).tolist()
