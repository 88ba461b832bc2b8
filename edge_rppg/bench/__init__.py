"""``edge-rppg bench``: each runtime against the reference in heart-rate terms, its latency, and a verdict per
runtime against a stated bound (run.py), which runtimes a request expands to (plan.py) and the judging (verdict.py)."""
