"""Run the app on uvicorn with its streams, until Ctrl-C (exit 130) or SIGTERM (exit 0)."""

from __future__ import annotations

import contextlib
import itertools
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from edge_rppg.optional import require
from edge_rppg.predict.pipeline import PredictOptions
from edge_rppg.runtimes import Runtime
from edge_rppg.serve.app import make_app
from edge_rppg.serve.pushed import PushedFrames
from edge_rppg.serve.streams import Stream, StreamSpec

# Open push channels never end on their own: after a stop, uvicorn waits this long for them, then cancels them,
# so that the whole server is down within the 2 s a stop promises (the streams' threads end within one frame).
GRACEFUL_S = 0.5
INTERRUPTED = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def browser_streams(open_runtime: Callable[[], Runtime], options: PredictOptions) -> Callable[[PushedFrames], Stream]:
    """Each page that sends its camera gets a stream of its own, named browser-N."""
    ids = itertools.count()
    return lambda frames: Stream(f"browser-{next(ids)}", StreamSpec(source=frames, loop=False), open_runtime, options)


def make_streams(
    specs: list[StreamSpec], open_runtime: Callable[[], Runtime], options: PredictOptions
) -> dict[str, Stream]:
    return {f"s{i}": Stream(f"s{i}", spec, open_runtime, options) for i, spec in enumerate(specs)}


def stop_all(streams: dict[str, Stream]) -> list[str]:
    """Stop every stream at once, then join each: the ids of any still running."""
    for s in streams.values():
        s.request_stop()
    return [sid for sid, s in streams.items() if not s.stop()]


def serve(
    streams: dict[str, Stream],
    host: str,
    port: int,
    token: str | None,
    browser: Callable[[PushedFrames], Stream] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Serve until stopped: 130 after Ctrl-C, 0 after SIGTERM."""
    uvicorn: Any = require("uvicorn", "serve")
    caught: list[int] = []

    class Server(uvicorn.Server):  # uvicorn, loaded by name: Any to mypy
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            caught.append(sig)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """uvicorn's own re-raises the signal once it has stopped, and the process dies of it: here the stop is
            the exit status's business (130 after Ctrl-C, 0 after SIGTERM)."""
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if on_ready is not None and not self.should_exit:
                on_ready(f"http://{host}:{self.servers[0].sockets[0].getsockname()[1]}/")

    config = uvicorn.Config(
        make_app(streams, token, browser), host=host, port=port, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_S,
    )  # fmt: skip
    for s in streams.values():
        s.start()
    try:
        Server(config).run()
    finally:
        stop_all(streams)
    return INTERRUPTED if caught and caught[0] == signal.SIGINT else 0
