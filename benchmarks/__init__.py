"""Figures, not checks: each module prints measured numbers (speed, memory, accuracy on the realistic corpus) when
run from the repository root as ``python -m benchmarks.NAME``. ``realistic_corpus`` renders the corpus that
tests/test_realistic.py reads too; every timing goes through ``edge_rppg.timing``."""
