"""``edge-rppg bench``: each runtime against the reference in heart-rate terms, its latency, and a verdict per
runtime against a stated bound. run.py runs it; plan.py expands a request into rows (building exports where asked);
reference.py finds what the rows are judged against; verdict.py judges; records.py holds the rows and the report;
machine.py says which machine the figures come from."""
