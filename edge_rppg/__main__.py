"""``python -m edge_rppg`` and the ``edge-rppg`` command."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from edge_rppg.cli import app
    except KeyboardInterrupt:  # Ctrl-C while the CLI still imports: the same exit as during a command
        sys.stderr.write("interrupted: nothing written\n")
        raise SystemExit(130) from None
    app(prog_name="edge-rppg")


if __name__ == "__main__":
    main()
