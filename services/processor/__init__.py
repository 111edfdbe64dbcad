"""Stream processor: deduplicates predictions, aggregates tumbling windows per model version,
measures drift against the release's reference profile, and samples low-confidence messages
for teacher labeling (step 3 of ``docs/architecture.md``)."""
