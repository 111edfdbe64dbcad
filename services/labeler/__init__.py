"""Labeler: the teacher labels the processor's low-confidence samples (DESIGN §1 step 4)."""
