"""Teacher, TinyLSTM student, tokenizer, distillation, quantisation, export and evaluation."""
