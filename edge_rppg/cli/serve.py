"""``edge-rppg serve``: live sources through predict's pipeline, a page and an API on the device."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge_rppg.cli.common import AutoRuntimeName, MethodName, ModelOption, WeightsOption, say, value
from edge_rppg.cli.predict import model_file
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE
from edge_rppg.optional import require

if TYPE_CHECKING:
    from edge_rppg.runtimes import Runtime

LOOPBACK = "127.0.0.1"


def serve(
    video: Annotated[
        list[Path] | None, typer.Option(help="A video file, played at its own rate and looped (repeat for more).")
    ] = None,
    camera: Annotated[list[int] | None, typer.Option(min=0, help="A camera index (repeat for more).")] = None,
    stream: Annotated[
        list[str] | None, typer.Option(help="A network stream OpenCV opens: rtsp://, http:// (repeat for more).")
    ] = None,
    loop: Annotated[bool, typer.Option(help="Start a video again at its end.")] = True,
    browser_camera: Annotated[
        bool, typer.Option(help="Let a page send its own camera's frames (a WebSocket): a stream per page.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 to be reached from other machines.")] = (
        LOOPBACK
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one, printed).")] = 8000,
    token: Annotated[str | None, typer.Option(help="A token every request must carry (Bearer, or ?token=).")] = None,
    weights: WeightsOption = None,
    model: ModelOption = None,
    method: Annotated[MethodName, typer.Option(help="rPPG method: model or a classic one.")] = MethodName(
        DEFAULT_METHOD
    ),
    runtime: Annotated[AutoRuntimeName, typer.Option(help="Runtime, as predict's --runtime.")] = AutoRuntimeName(
        "auto"
    ),
    threads: Annotated[int | None, typer.Option(min=1, help="Inference threads per stream.")] = None,
) -> None:
    """Serve a page (the HR, its confidence or the gate's reason, the pulse, the HR's history) and a JSON API with
    one Server-Sent Event per window, for each source, until Ctrl-C or SIGTERM."""
    require("starlette", "edge-rppg serve")
    require("uvicorn", "edge-rppg serve")
    from edge_rppg.data.video import check_video_path
    from edge_rppg.predict.pipeline import PredictOptions
    from edge_rppg.predict.video import runtime_options
    from edge_rppg.serve.server import browser_streams, make_streams
    from edge_rppg.serve.server import serve as run_server
    from edge_rppg.serve.streams import StreamSpec

    sources: list[Path | int | str] = [*(video or []), *(camera or []), *(stream or [])]
    if not sources and not browser_camera:
        raise typer.BadParameter("give a source: --video FILE, --camera N, --stream URL, or leave --browser-camera on")
    for v in video or []:
        check_video_path(v)
    path, chosen = model_file(method.value, weights, model, value(runtime))  # a checkpoint is exported once, here
    options = PredictOptions()
    row = METHOD_TABLE[method.value]
    specs = [StreamSpec(source=s, loop=loop) for s in sources]

    def opener() -> Runtime:
        return row.open(path, chosen, runtime_options(threads), options.classic_roi)

    streams = make_streams(specs, opener, options)
    browser = browser_streams(opener, options) if browser_camera else None
    ready = f"serving {len(streams)} stream(s){' and browser cameras' if browser else ''} at "
    code = run_server(streams, host, port, token, browser, on_ready=lambda url: say(ready + url))
    if code:
        raise typer.Exit(code)
