"""A realistic face-video corpus that the training renderer did not make: the yardstick for predict and INT8.

Real face photographs that ship with packages (NASA's astronaut portrait in scikit-image, the US Navy
portrait of Grace Hopper in Matplotlib, the White House portraits of Barack Obama and Joe Biden among the test images
of face_recognition's source archive; all public domain), whose skin pulses with real contact-PPG
recordings that ship with heartpy (GPL-3.0: read at run time from the installed package, never copied
here), time-scaled to vary the heart rate and resampled to the camera's rate. Camera and scene effects:
sensor noise (read + shot), auto-exposure and white-balance drift, FFV1 / MJPEG / H.264 at several
qualities, 15/25/30/60 fps, 480p to 1080p, small faces; head sway of 1-5 % of the face width, turns and
nods, slow light drift, a light switched on, mains flicker; and pulseless videos of the same kinds.

Two halves, split by face and by waveform, so that nothing tuned on one says anything about the other:
- ``calibration``: the astronaut's face (clips 0-199), Obama's (200-399) and Biden's (400-599), the first half of
  heartpy's long recording (data3);
- ``held-out``: Grace Hopper's face (clips 0-199, and 200-399 with motion crossed with pulse), the second half of data3.

    python -m benchmarks.realistic_corpus OUT_DIR [--split calibration|held-out|both] [--videos 32] [--seconds 30]
    python -m benchmarks.realistic_corpus OUT_DIR --split calibration --block 1 --videos 12
    python -m benchmarks.realistic_corpus OUT_DIR --split calibration --inter-coded-flicker 8

``--block N`` renders the split's clips numbered from ``FACE_BLOCK * N``: its face ``N``. Obama's and Biden's
photographs come from face_recognition's source archive, fetched once (not installed: it builds dlib) into
``$EDGE_RPPG_PHOTOS`` (default ``~/.cache/edge-rppg/photos``) with
``pip download --no-deps --no-binary :all: face_recognition==1.3.0 -d DIR``; its SHA-256 is checked.

``--inter-coded-flicker N`` renders N more videos of the split (named ``SPLIT-1NN``), all H.264 under mains flicker,
half of them pulseless: the condition where every model read the light as a pulse on the held-out half (the codec
folds the flicker's alias into the HR band), and which the 24-video calibration half does not contain.

Each video comes with ``NAME.json`` (what was rendered, ``pulsed`` and ``ppg_fs`` among it) and ``NAME.ppg.npy``
(the contact PPG of the clip at 240 Hz, the same time axis as the video; zeros-free even for pulseless videos,
whose skin does not pulse): the layout ``edge-rppg calibrate --data`` reads (``edge_rppg.data.labelled``).
Needs the ``dev`` extra (heartpy, scikit-image, imageio-ffmpeg for H.264).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import scipy.signal

PBV = np.array([0.33, 0.77, 0.53], dtype=np.float32)  # blood's absorption in R, G, B (de Haan & van Leest)
PPG_FS = 240.0  # the truth PPG is stored at this rate (neurokit2's HRV reference runs on it)
SKIN_TONES = ((1.0, 1.0, 1.0), (0.86, 0.8, 0.76), (0.68, 0.58, 0.52), (0.5, 0.4, 0.36), (0.38, 0.3, 0.27))


@dataclass(frozen=True)
class Split:
    faces: tuple[str, ...]  # the face of each block of FACE_BLOCK clips
    waveforms: tuple[tuple[str, float, float], ...]  # (heartpy recording, from, to as fractions of its length)
    seed: int


FACE_BLOCK = 200
SPLITS = {
    "calibration": Split(("astronaut", "obama", "biden"), (("data3", 0.0, 0.5),), 1000),
    # Not heartpy's data2: neurokit2 reads SDNN of 150-800 ms on its 30-s spans (artefact, not a heart),
    # so it cannot be the truth that predict is judged against.
    "held-out": Split(("hopper", "hopper"), (("data3", 0.5, 1.0),), 2000),
}
MOTIONS = ("still", "sway", "turns")
LIGHTS = ("steady", "drift", "step", "flicker")


@dataclass(frozen=True)
class VideoSpec:
    name: str
    split: str
    face: str
    flip: bool
    skin_tone: tuple[float, float, float]
    pulsed: bool
    waveform: str
    waveform_start_s: float
    time_scale: float  # >1 slows the recording down (lower HR)
    pulse_amplitude: float  # peak-to-peak, share of the skin level
    seconds: float
    fps: float
    width: int
    height: int
    face_frac: float  # face width / frame width
    codec: str  # ffv1 | mjpeg | h264
    quality: int  # MJPEG quality, or H.264 CRF
    motion: str
    motion_amp: float  # share of the face width
    light: str
    light_amp: float
    light_at_s: float
    flicker_hz: float
    noise_read: float
    noise_shot: float
    auto_exposure: bool
    wb_drift: float

    @property
    def file(self) -> str:
        return f"{self.name}.{'mp4' if self.codec == 'h264' else 'avi'}"

    def conditions(self) -> dict[str, str]:
        """The labels the results are broken down by."""
        return {
            "fps": f"{self.fps:g}",
            "resolution": f"{self.height}p",
            "codec": self.codec,
            "motion": self.motion,
            "light": self.light,
            "face": "small" if self.face_frac < 0.18 else "normal",
            "skin": "dark" if self.skin_tone[0] < 0.6 else "light",
            "portrait": self.face,
        }


# --- material that ships in packages ---------------------------------------------------------------


FACE_ARCHIVE = "face_recognition-1.3.0.tar.gz"  # its test images: White House portraits (public domain)
FACE_ARCHIVE_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
ARCHIVE_FACES = {"obama": "obama.jpg", "biden": "biden.jpg"}


def _installed_photo(name: str) -> bytes:
    if name == "astronaut":
        import skimage

        return (Path(skimage.__file__).parent / "data" / "astronaut.png").read_bytes()
    import matplotlib

    return (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").read_bytes()


def _archived_photo(name: str) -> bytes:
    """One of the portraits in face_recognition's source archive, read from the archive (never unpacked here)."""
    import hashlib
    import tarfile

    folder = Path(os.environ.get("EDGE_RPPG_PHOTOS", Path.home() / ".cache" / "edge-rppg" / "photos"))
    path = folder / FACE_ARCHIVE
    if not path.is_file():
        raise SystemExit(
            f"error: {path}: not found; fetch it once with "
            f"pip download --no-deps --no-binary :all: face_recognition==1.3.0 -d {folder}"
        )
    if hashlib.sha256(path.read_bytes()).hexdigest() != FACE_ARCHIVE_SHA256:
        raise SystemExit(f"error: {path}: not the archive this corpus was rendered from (SHA-256 differs)")
    with tarfile.open(path) as tar:
        member = tar.extractfile(f"face_recognition-1.3.0/tests/test_images/{ARCHIVE_FACES[name]}")
        assert member is not None
        return member.read()


def face_photo(name: str) -> np.ndarray:
    """An RGB uint8 public-domain portrait from a package (installed, or the archive of ``ARCHIVE_FACES``)."""
    data = _archived_photo(name) if name in ARCHIVE_FACES else _installed_photo(name)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: {name}: cannot decode the face photo")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _heartpy_data() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("heartpy")
    if spec is None or spec.origin is None:
        raise SystemExit("heartpy is not installed: pip install -e '.[dev]'")
    return Path(spec.origin).parent / "data"


def contact_ppg(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(times s, values) of one of heartpy's example recordings, as recorded (irregular clocks kept)."""
    import csv

    rows = list(csv.DictReader((_heartpy_data() / f"{name}.csv").open()))
    values = np.array([float(r["hr"]) for r in rows])
    if name == "data2":
        times = np.array([float(r["timer"]) for r in rows]) / 1e3
    else:  # data3: wall-clock stamps, several samples per millisecond tick; spread evenly over the span
        from datetime import datetime

        stamps = [datetime.fromisoformat(r["datetime"]) for r in rows]
        span = (stamps[-1] - stamps[0]).total_seconds()
        times = np.linspace(0.0, span, len(values))
    return times, values


# --- one video ----------------------------------------------------------------------------------------


def _motion(k: int) -> str:
    # The first block ties motion to k % 3 as `pulsed` is, so all its pulseless clips turn and no pulsed one does;
    # it stays so (rendered, cached, fitted on and judged by). The later blocks cross the two.
    return MOTIONS[k % len(MOTIONS)] if k < FACE_BLOCK else MOTIONS[(k + k // 3) % len(MOTIONS)]


def sample_spec(split: str, k: int, seconds: float) -> VideoSpec:
    cfg = SPLITS[split]
    rng = np.random.default_rng(cfg.seed + k)
    fps = float(rng.choice([15, 25, 30, 30, 30, 60]))
    sizes = [(640, 480), (1280, 720)] + ([(1920, 1080)] if fps <= 30 else [])
    weights = np.array([0.5, 0.35, 0.15][: len(sizes)])
    width, height = sizes[int(rng.choice(len(sizes), p=weights / weights.sum()))]
    codec = str(rng.choice(["ffv1", "mjpeg", "mjpeg", "h264", "h264"]))
    quality = {"ffv1": 0, "mjpeg": int(rng.choice([50, 70, 90])), "h264": int(rng.choice([20, 26, 32]))}[codec]
    waveform, _lo, _hi = cfg.waveforms[int(rng.integers(len(cfg.waveforms)))]
    motion = _motion(k)
    light = LIGHTS[(k // len(MOTIONS)) % len(LIGHTS)]
    return VideoSpec(
        name=f"{split}-{k:03d}",
        split=split,
        face=cfg.faces[k // FACE_BLOCK],
        flip=bool(rng.integers(2)),
        skin_tone=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        pulsed=k % 3 != 2,  # one video in three has no pulse
        waveform=waveform,
        waveform_start_s=float(rng.uniform()),  # a fraction of the usable span, resolved (and screened) at render time
        time_scale=float(rng.uniform(0.75, 1.35)),
        pulse_amplitude=float(rng.uniform(0.004, 0.014)),
        seconds=seconds,
        fps=fps,
        width=width,
        height=height,
        face_frac=float(rng.choice([rng.uniform(0.12, 0.18), rng.uniform(0.18, 0.35)], p=[0.3, 0.7])),
        codec=codec,
        quality=quality,
        motion=motion,
        motion_amp={"still": 0.003, "sway": float(rng.uniform(0.01, 0.05)), "turns": float(rng.uniform(0.02, 0.05))}[
            motion
        ],
        light=light,
        light_amp={
            "steady": 0.0,
            "drift": float(rng.uniform(0.03, 0.12)),
            "step": float(rng.uniform(0.1, 0.25)),
            "flicker": float(rng.uniform(0.01, 0.03)),
        }[light],
        light_at_s=float(rng.uniform(0.3, 0.7) * seconds),
        flicker_hz=float(rng.choice([100.0, 120.0])),
        noise_read=float(rng.uniform(1.0, 3.0)),
        noise_shot=float(rng.uniform(0.05, 0.25)),
        auto_exposure=bool(rng.uniform() < 0.6),
        wb_drift=float(rng.uniform(0.0, 0.02)),
    )


CLEAN_MAX_ODD_IBIS = 0.03  # a span is clean when at most this share of neurokit2's IBIs is off by > 25 %


def _odd_ibis(x: np.ndarray) -> float:
    """Share of implausible beat intervals in a contact-PPG span, by neurokit2 (the peer, not our detector)."""
    import neurokit2 as nk

    peaks = np.asarray(nk.ppg_findpeaks(nk.ppg_clean(x, sampling_rate=PPG_FS), sampling_rate=PPG_FS)["PPG_Peaks"])
    ibi = np.diff(peaks) / PPG_FS
    if len(ibi) < 10:
        return 1.0
    local = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(ibi, 2, mode="edge"), 5), axis=1)
    return float(np.mean((np.abs(ibi - local) > 0.25 * local) | (ibi < 0.3) | (ibi > 1.7)))


def clip_ppg(spec: VideoSpec) -> tuple[np.ndarray, float]:
    """The clip's contact PPG at PPG_FS and where it starts in the recording (s): a clean span of the
    split's part of the recording, time-scaled, resampled, filtered lightly.

    Contact recordings have artefact stretches too (heartpy's data2 is a noisy one); a truth with missed
    or extra beats would judge predict on the recording's faults, so spans are drawn (seeded) until
    neurokit2 finds at most CLEAN_MAX_ODD_IBIS of odd intervals in one."""
    times, values = contact_ppg(spec.waveform)
    need = spec.seconds / spec.time_scale + 1.0
    cfg = next(w for w in SPLITS[spec.split].waveforms if w[0] == spec.waveform)
    lo, hi = cfg[1] * times[-1], max(cfg[2] * times[-1] - need, cfg[1] * times[-1])
    rng = np.random.default_rng(_seed(spec.name) + 7)
    b, a = scipy.signal.butter(2, [0.5 / (PPG_FS / 2), 8.0 / (PPG_FS / 2)], btype="bandpass")
    best: tuple[float, np.ndarray, float] | None = None
    for attempt in range(60):
        frac = spec.waveform_start_s if attempt == 0 else rng.uniform()
        start = lo + frac * (hi - lo)
        t_out = start + np.arange(int(spec.seconds * PPG_FS)) / PPG_FS / spec.time_scale
        x = scipy.signal.filtfilt(b, a, np.interp(t_out, times, values)).astype(np.float32)
        odd = _odd_ibis(x)
        if best is None or odd < best[0]:
            best = (odd, x, start)
        if odd <= CLEAN_MAX_ODD_IBIS:
            break
    assert best is not None
    return best[1], float(best[2])


def skin_range(ycc: np.ndarray) -> np.ndarray:
    """The fixed YCrCb skin range, pixel by pixel."""
    ok: np.ndarray = (ycc[..., 1] > 133) & (ycc[..., 1] < 178) & (ycc[..., 2] > 77) & (ycc[..., 2] < 130)
    return ok & (ycc[..., 0] > 40)


OWN_SKIN_TOLERANCE = 12.0  # Cr, Cb: how far a skin pixel may be from the face's own median


def _own_skin(ycc: np.ndarray, skin: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of ``skin`` that has the face's own chroma and is one piece with the face's middle: the White House
    portraits have curtains and a sunlit window in YCrCb's skin range right beside the head, which would pulse."""
    x, y, w, h = box
    middle = np.zeros_like(skin)
    middle[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4] = True
    own = np.median(ycc[skin & middle][:, 1:], axis=0)
    near = skin & np.all(np.abs(ycc[..., 1:] - own) < OWN_SKIN_TOLERANCE, axis=-1)
    _, labels = cv2.connectedComponents(near.astype(np.uint8), connectivity=8)
    own_piece: np.ndarray = labels == np.bincount(labels[middle & near]).argmax()
    return own_piece


def _skin_mask(rgb: np.ndarray, own_skin: bool) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Soft skin mask of the portrait (YCrCb skin range inside an ellipse round the face; with ``own_skin``, only
    the face's own skin: ``_own_skin``) and the face box."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    faces = cascade.detectMultiScale(gray, 1.1, 5)
    x, y, w, h = (int(v) for v in max(faces, key=lambda f: f[2] * f[3]))
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    skin = skin_range(ycc)
    yy, xx = np.mgrid[: rgb.shape[0], : rgb.shape[1]]
    skin &= ((xx - (x + w / 2)) / (0.75 * w)) ** 2 + ((yy - (y + 0.65 * h)) / (0.95 * h)) ** 2 < 1
    if own_skin:
        skin = _own_skin(ycc, skin, (x, y, w, h))
    mask = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), max(w / 60, 1.0))
    return mask, (x, y, w, h)


@dataclass
class Scene:
    """What stays fixed over a video, at the output resolution."""

    base: np.ndarray  # float32 RGB, the lit scene without pulse
    skin: np.ndarray  # float32 [H, W]: the soft skin mask, where the pulse is
    pulse_gain: np.ndarray  # float32 RGB: base * skin mask * PBV (what a unit of pulse removes)
    centre: tuple[float, float]
    face_px: float
    side: np.ndarray  # [1, W, 1] ramp for a light from one side


def build_scene(spec: VideoSpec) -> Scene:
    photo = face_photo(spec.face)
    if spec.flip:
        photo = photo[:, ::-1].copy()
    # The astronaut's and Hopper's clips were rendered (and fitted on) with the plain mask, which is clean on them.
    mask, (x, y, w, h) = _skin_mask(photo, own_skin=spec.face in ARCHIVE_FACES)
    tone = np.array(spec.skin_tone, dtype=np.float32)
    img = photo.astype(np.float32) * (1 + mask[..., None] * (tone - 1))  # darker skin, same photo
    scale = spec.face_frac * spec.width / w
    cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
    # Place the face slightly off-centre and fill the frame by reflection where the photo ends.
    shift = np.array([spec.width * 0.5 - cx, spec.height * 0.45 - cy], dtype=np.float32)
    m = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]], dtype=np.float32)
    size = (spec.width, spec.height)
    base = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    skin = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    side = np.linspace(1.0, 0.0, spec.width, dtype=np.float32)[None, :, None]
    return Scene(base, skin, base * skin[..., None] * PBV, (spec.width * 0.5, spec.height * 0.45), w * scale, side)


def _seed(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


def _slow(rng: np.random.Generator, t: np.ndarray, periods: tuple[float, float]) -> np.ndarray:
    """A smooth random motion in [-1, 1]: two sinusoids of random period within ``periods``."""
    out = np.zeros_like(t)
    for _ in range(2):
        out += np.sin(2 * np.pi * t / rng.uniform(*periods) + rng.uniform(0, 2 * np.pi))
    return out / 2


def scene_trajectories(spec: VideoSpec, n: int) -> dict[str, np.ndarray]:
    """Per-frame head pose, light and camera gains (deterministic from the spec's name)."""
    rng = np.random.default_rng(_seed(spec.name))
    t = np.arange(n) / spec.fps
    amp = spec.motion_amp
    pose = {
        "dx": amp * _slow(rng, t, (2.0, 6.0)),
        "dy": 0.6 * amp * _slow(rng, t, (2.0, 6.0)),
        "rot": (5.0 if spec.motion == "turns" else 0.5) * _slow(rng, t, (3.0, 8.0)) * (amp / 0.05),
        "sx": 1 + (0.06 if spec.motion == "turns" else 0.0) * _slow(rng, t, (3.0, 8.0)),  # a turn narrows the face
        "sy": 1 + (0.04 if spec.motion == "turns" else 0.0) * _slow(rng, t, (3.0, 8.0)),  # a nod shortens it
    }
    light = np.ones(n)
    side: np.ndarray = np.zeros(n)
    if spec.light == "drift":
        light += spec.light_amp * np.sin(2 * np.pi * t / rng.uniform(15, 40) + rng.uniform(0, 2 * np.pi))
    elif spec.light == "step":  # a lamp to one side switched on, over a tenth of a second
        side = spec.light_amp * np.clip((t - spec.light_at_s) / 0.1, 0, 1)
    elif spec.light == "flicker":  # mains flicker, aliased by the frame rate (exposure 1/fps integrates part of it)
        light += spec.light_amp * np.sin(2 * np.pi * spec.flicker_hz * t + rng.uniform(0, 2 * np.pi))
    light += 0.01 * _slow(rng, t, (20.0, 60.0))  # the room's own slow drift
    wb = 1 + spec.wb_drift * np.stack([_slow(rng, t, (10.0, 40.0)) for _ in range(3)], axis=1)
    return {**pose, "light": light, "side": side, "wb": wb}


def head_pose(scene: Scene, traj: dict[str, np.ndarray], i: int) -> np.ndarray:
    """The affine map (2 x 3) that moves the still scene to frame ``i``'s head pose."""
    cx, cy = scene.centre
    m = np.asarray(cv2.getRotationMatrix2D((cx, cy), float(traj["rot"][i]), 1.0), dtype=np.float64)
    m[:, :2] = m[:, :2] @ np.diag([traj["sx"][i], traj["sy"][i]])
    m[:, 2] = (cx, cy) - m[:, :2] @ np.array([cx, cy])
    m[:, 2] += np.array([traj["dx"][i], traj["dy"][i]]) * scene.face_px
    return m


def render_frames(spec: VideoSpec, ppg: np.ndarray):  # type: ignore[no-untyped-def]
    """RGB uint8 frames of the video, one at a time."""
    scene = build_scene(spec)
    n = int(round(spec.seconds * spec.fps))
    traj = scene_trajectories(spec, n)
    frame_t = np.arange(n) / spec.fps
    pulse = np.interp(frame_t, np.arange(len(ppg)) / PPG_FS, ppg)
    pulse = (pulse - pulse.mean()) / (np.ptp(pulse) + 1e-9) if spec.pulsed else np.zeros(n)
    rng = np.random.default_rng(_seed(spec.name) + 1)
    exposure = 1.0
    target = float(scene.base.mean())
    size = (spec.width, spec.height)
    half = (spec.width // 2, spec.height // 2)
    # Shot noise from the unlit scene: the pulse and the light change the level by a few per cent only.
    sigma = np.sqrt(spec.noise_read**2 + spec.noise_shot * scene.base).astype(np.float32)
    for i in range(n):
        # Blood darkens the skin at the systolic peak: the contact PPG rises with blood volume.
        img = cv2.scaleAdd(scene.pulse_gain, -float(spec.pulse_amplitude * pulse[i]), scene.base)
        m = head_pose(scene, traj, i)
        img = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain = traj["light"][i] * traj["wb"][i]
        if traj["side"][i] > 0:
            img = img * (1 + traj["side"][i] * scene.side)
        if spec.auto_exposure:  # the camera pulls the mean back toward its target with a ~1-s lag
            level = float(img[::16, ::16].mean()) * float(gain.mean()) * exposure
            exposure += (target / max(level, 1.0) - 1.0) * exposure / spec.fps
        # A Scalar per channel, which OpenCV's stubs do not list as an operand.
        img = cv2.multiply(img, (*tuple(float(g) for g in gain * exposure), 0.0))  # type: ignore[call-overload]
        noise = cv2.resize(rng.standard_normal((half[1], half[0], 3), dtype=np.float32), size)
        yield cv2.add(cv2.multiply(noise, sigma), img, dtype=cv2.CV_8U)


def write(spec: VideoSpec, out: Path) -> Path:
    """Render one video with its truth sidecars; skipped when already complete (the JSON is written last)."""
    path = out / spec.file
    meta = out / f"{spec.name}.json"
    if meta.exists() and path.exists():
        return path
    ppg, ppg_start = clip_ppg(spec)
    frames = render_frames(spec, ppg)
    tmp = out / f".{spec.file}.partial{path.suffix}"
    if spec.codec == "h264":
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            str(tmp), (spec.width, spec.height), fps=spec.fps, codec="libx264", quality=None,
            output_params=["-crf", str(spec.quality), "-preset", "veryfast"], macro_block_size=8,
        )  # fmt: skip
        writer.send(None)
        for f in frames:
            writer.send(np.ascontiguousarray(f))
        writer.close()
    else:
        fourcc = cv2.VideoWriter_fourcc(*("FFV1" if spec.codec == "ffv1" else "MJPG"))  # type: ignore[attr-defined]
        vw = cv2.VideoWriter(str(tmp), fourcc, spec.fps, (spec.width, spec.height))
        if spec.codec == "mjpeg":
            vw.set(cv2.VIDEOWRITER_PROP_QUALITY, float(spec.quality))
        for f in frames:
            vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        vw.release()
    tmp.replace(path)
    np.save(out / f"{spec.name}.ppg.npy", ppg)
    extra = {"file": spec.file, "conditions": spec.conditions(), "ppg_start_s": ppg_start, "ppg_fs": PPG_FS}
    meta.write_text(json.dumps(asdict(spec) | extra, indent=1) + "\n")
    return path


def specs(split: str, videos: int, seconds: float, block: int = 0) -> list[VideoSpec]:
    """The first ``videos`` clips of the split's ``block``."""
    return [sample_spec(split, FACE_BLOCK * block + k, seconds) for k in range(videos)]


INTER_CODED_FIRST = 100  # the extra videos' numbers start here, apart from the sampled ones


def inter_coded_flicker_specs(split: str, videos: int, seconds: float) -> list[VideoSpec]:
    """H.264 under flicker: CRF 20/26/32, flicker depth 1-3 %, 100 or 120 Hz, 30 fps (the last two at 25), every
    other one pulseless; the face, waveform, motion and camera as the split samples them."""
    return [
        replace(
            sample_spec(split, INTER_CODED_FIRST + k, seconds),
            codec="h264",
            quality=(20, 26, 32)[k % 3],
            light="flicker",
            light_amp=0.01 + 0.02 * (k % 4) / 3,
            pulsed=k % 2 == 0,
            fps=30.0 if k < videos - 2 else 25.0,
            flicker_hz=120.0 if k % 3 == 0 else 100.0,
        )
        for k in range(videos)
    ]


def load(out: Path, split: str | None = None) -> list[tuple[VideoSpec, Path, np.ndarray]]:
    """The corpus in ``out``: (spec, video path, contact PPG at PPG_FS) per complete video."""
    items = []
    for meta in sorted(out.glob("*.json")):
        d = json.loads(meta.read_text())
        for key in ("file", "conditions", "ppg_start_s", "ppg_fs"):
            d.pop(key, None)
        spec = VideoSpec(**{**d, "skin_tone": tuple(d["skin_tone"])})
        if split is None or spec.split == split:
            items.append((spec, out / spec.file, np.load(out / f"{spec.name}.ppg.npy")))
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    ap.add_argument("--videos", type=int, default=24, help="videos per split (one in three pulseless)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--inter-coded-flicker", type=int, default=0, metavar="N", help="N more: H.264, flicker")
    ap.add_argument("--block", type=int, default=0, help="the clips numbered from FACE_BLOCK * N (the Nth face)")
    args = ap.parse_args()
    splits = SPLITS if args.split == "both" else [args.split]
    if any(not 0 <= args.block < len(SPLITS[s].faces) for s in splits):
        ap.error(f"--block {args.block}: --split {args.split} has no such block")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.inter_coded_flicker:
        todo = [s for split in splits for s in inter_coded_flicker_specs(split, args.inter_coded_flicker, args.seconds)]
    else:
        todo = [s for split in splits for s in specs(split, args.videos, args.seconds, args.block)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for path in pool.map(write, todo, [args.out] * len(todo)):
            print(path, flush=True)


if __name__ == "__main__":
    main()
