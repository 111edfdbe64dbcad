"""Labeler: the teacher labels the processor's low-confidence samples (step 4 of
``docs/architecture.md``)."""
