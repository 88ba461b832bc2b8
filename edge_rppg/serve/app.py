"""The ASGI app of ``edge-rppg serve``: one static page, the streams' state as JSON and a Server-Sent Events channel
per stream (one message per window). Every error is one JSON line with a status; an optional token guards all."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from edge_rppg.serve.streams import SCHEMA_VERSION, Stream

API = "/api/v1"
KEEPALIVE_S = 15.0  # an SSE comment this often: proxies keep the connection, a gone client is noticed
TOKEN_PARAM = "token"  # EventSource cannot set headers: the page passes the token in the query


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"schema": SCHEMA_VERSION, "error": message}, status_code=status)


class TokenGuard:
    """Every request carries the token (``Authorization: Bearer T`` or ``?token=T``) when the server has one. Plain
    ASGI, so that a streamed response passes through untouched."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.token is not None:
            request = Request(scope)
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.query_params.get(TOKEN_PARAM, "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                await error(401, "a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN")(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def make_app(streams: dict[str, Stream], token: str | None = None) -> Starlette:
    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(resources.files("edge_rppg.serve").joinpath("page.html").read_text())

    async def listing(_: Request) -> JSONResponse:
        return JSONResponse({"schema": SCHEMA_VERSION, "streams": [s.state() for s in streams.values()]})

    async def state(request: Request) -> Response:
        stream = streams.get(request.path_params["stream"])
        return (
            error(404, f"no stream {request.path_params['stream']!r}")
            if stream is None
            else JSONResponse(stream.state())
        )

    async def events(request: Request) -> Response:
        stream = streams.get(request.path_params["stream"])
        if stream is None:
            return error(404, f"no stream {request.path_params['stream']!r}")
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(_events(stream, request), media_type="text/event-stream", headers=headers)

    routes = [
        Route("/", page),
        Route(f"{API}/streams", listing),
        Route(f"{API}/streams/{{stream}}", state),
        Route(f"{API}/streams/{{stream}}/events", events),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TokenGuard, token=token)])


async def _events(stream: Stream, request: Request) -> AsyncIterator[str]:
    """The stream's windows as SSE, from the next one on; the listener is removed when the client goes."""
    listener = stream.listen(asyncio.get_running_loop())
    try:
        while not await request.is_disconnected():
            try:
                message = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"event: window\ndata: {json.dumps(message)}\n\n"
    finally:
        stream.leave(listener)
