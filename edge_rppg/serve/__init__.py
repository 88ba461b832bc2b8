"""``edge-rppg serve``: predict's pipeline on live sources, a page to watch it from another machine and an API for
programs (streams.py: the sources and their state; app.py: the page, the JSON and the push channel; server.py:
running it until Ctrl-C or SIGTERM)."""
