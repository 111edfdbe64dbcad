"""Golden-vector writers: the vectors under tests/golden/ that the integer reference, the C
engine (host and Cortex-M4) and the tokenizer must reproduce bit for bit."""
