"""The ASGI app of ``edge-rppg serve``: one static page, the streams' state as JSON and a Server-Sent Events channel
per stream (one message per window). Every error is one JSON line with a status; an optional token guards all."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from edge_rppg.errors import VideoError
from edge_rppg.serve.pushed import MAX_FRAME_BYTES, PushedFrames
from edge_rppg.serve.streams import SCHEMA_VERSION, Stream

API = "/api/v1"
POLICY_VIOLATION = 1008  # WebSocket close codes (RFC 6455)
MESSAGE_TOO_BIG = 1009
KEEPALIVE_S = 15.0
HELLO_S = 10.0  # a page that opens the camera channel says its frame rate first, within this
FPS_RANGE = (1.0, 240.0)  # an SSE comment this often: proxies keep the connection, a gone client is noticed
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


def make_app(
    streams: dict[str, Stream], token: str | None = None, browser: Callable[[PushedFrames], Stream] | None = None
) -> Starlette:
    """The app over ``streams``; ``browser`` makes a stream of the frames a page's camera sends (the WebSocket)."""

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

    async def preview(request: Request) -> Response:
        stream = streams.get(request.path_params["stream"])
        if stream is None:
            return error(404, f"no stream {request.path_params['stream']!r}")
        if stream.preview is None:
            return error(404, f"stream {stream.id} has no frame yet")
        return Response(stream.preview, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", page),
        Route(f"{API}/streams/{{stream}}/preview.jpg", preview),
        _camera_route(streams, browser),
        Route(f"{API}/streams", listing),
        Route(f"{API}/streams/{{stream}}", state),
        Route(f"{API}/streams/{{stream}}/events", events),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TokenGuard, token=token)])


def _camera_route(streams: dict[str, Stream], browser: Callable[[PushedFrames], Stream] | None) -> WebSocketRoute:
    """The browser's own camera: a stream per page, made on its first frames and gone with the page."""

    async def camera(socket: WebSocket) -> None:
        if browser is None:
            await socket.close(POLICY_VIOLATION)
            return
        await socket.accept()
        fps = await _hello(socket)
        if fps is None:
            return
        stream = browser(PushedFrames(f"browser camera {socket.client.host if socket.client else '?'}", fps))
        streams[stream.id] = stream
        stream.start()
        await socket.send_json({"schema": SCHEMA_VERSION, "stream": stream.id})
        try:
            await _receive_frames(socket, stream)
        finally:
            streams.pop(stream.id, None)
            await asyncio.to_thread(stream.stop)  # its thread and runtime go with the page

    return WebSocketRoute(f"{API}/camera", camera)


async def _hello(socket: WebSocket) -> float | None:
    """The page's first message, ``{"fps": F}``: its camera's frame rate, which the frames are read at."""
    try:
        hello = json.loads(await asyncio.wait_for(socket.receive_text(), HELLO_S))
        fps = float(hello["fps"])
        if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
            raise ValueError(f"fps {fps:g} is outside {FPS_RANGE[0]:g}-{FPS_RANGE[1]:g}")
    except (asyncio.TimeoutError, KeyError, TypeError, ValueError) as exc:
        first = str(exc) or type(exc).__name__
        await socket.send_json({"schema": SCHEMA_VERSION, "error": f'start with {{"fps": RATE}} ({first})'})
        await socket.close(POLICY_VIOLATION)
        return None
    return fps


async def _receive_frames(socket: WebSocket, stream: Stream) -> None:
    """JPEG frames until the page goes; a frame too large ends the connection, one that is not a JPEG is said."""
    push = stream.spec.source
    assert isinstance(push, PushedFrames)
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            await socket.send_json({"schema": SCHEMA_VERSION, "error": "send each frame as one binary JPEG message"})
            continue
        if len(data) > MAX_FRAME_BYTES:
            await socket.send_json({"schema": SCHEMA_VERSION, "error": f"a frame is over {MAX_FRAME_BYTES} bytes"})
            await socket.close(MESSAGE_TOO_BIG)
            return
        try:
            await asyncio.to_thread(push.push, data)  # the decode off the loop: other clients stay served
        except VideoError as exc:
            await socket.send_json({"schema": SCHEMA_VERSION, "error": str(exc)})


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
