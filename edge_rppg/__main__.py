from edge_rppg.cli import app

app(prog_name="edge-rppg")
