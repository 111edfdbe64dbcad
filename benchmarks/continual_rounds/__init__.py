"""The parts of ``python -m benchmarks.continual``: drift scenarios, teachers, the rounds of the
continual-distillation loop (device -> processor sampling -> teacher -> distiller cycle), the
goals and the plots."""
