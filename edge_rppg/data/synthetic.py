"""Built-in synthetic rPPG data: faces whose skin pulses with a realistic PPG waveform.

What varies, so that a model learns the pulse and not an artefact of the generator: heart rate
(45-150 bpm) with variability, pulse amplitude (0.5-2 % of skin intensity), skin tone, face shape and
position, background texture, head motion, illumination drift and flicker, sensor noise.
Blood absorbs green most: the pulse enters the channels with the PBV weights of de Haan & van Leest
(2014), R:G:B ≈ 0.33:0.77:0.53, and darkens the skin at the systolic peak.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.pools import process_pool

PBV_WEIGHTS = np.array([0.33, 0.77, 0.53])  # R, G, B
# Skin albedos from light to dark (RGB, 0-255), spread over the Fitzpatrick range.
# Bumped whenever the same seed would draw different videos: a checkpoint's provenance names it.
GENERATOR_VERSION = 2
SKIN_TONES = np.array(
    [[233, 196, 170], [224, 172, 138], [198, 145, 110], [170, 118, 84], [128, 84, 58], [92, 60, 42]], dtype=np.float64
)


@dataclass(kw_only=True, frozen=True)
class SubjectSpec:
    """Everything random about one synthetic video; sampled by :func:`sample_subject`."""

    seed: int
    hr_bpm: float
    hrv_depth: float
    resp_hz: float
    pulse_amplitude: float
    skin_rgb: tuple[float, float, float]
    face_aspect: float
    motion_px: float
    light_drift: float
    light_flicker: float
    noise_sigma: float
    # The harder variants (``hard=True``): head rotation and scale, a light switched on or off, MJPEG.
    rotation_deg: float = 0.0
    scale_amp: float = 0.0
    light_step: float = 0.0  # relative change of the light at light_step_at (fraction of the clip)
    light_step_at: float = 0.5
    jpeg_quality: int | None = None  # MJPEG quality the video is written with (None: OpenCV's default)


def _rgb(v: np.ndarray) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def sample_subject(rng: np.random.Generator, seed: int, hard: bool = False) -> SubjectSpec:
    """One subject. ``hard`` adds head rotation/scale, light steps, MJPEG compression and more dark skin
    and weak pulses; the easy draws come first, so an easy subject's seed gives the same subject as before."""
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.08, 3)
    spec = SubjectSpec(
        seed=seed,
        hr_bpm=float(rng.uniform(45, 150)),
        hrv_depth=float(rng.uniform(0.01, 0.05)),
        resp_hz=float(rng.uniform(0.15, 0.35)),
        pulse_amplitude=float(rng.uniform(0.005, 0.02)),
        skin_rgb=_rgb(np.clip(tone, 30, 250)),
        face_aspect=float(rng.uniform(1.15, 1.4)),
        motion_px=float(rng.uniform(0.0, 0.04)),
        light_drift=float(rng.uniform(0.0, 0.15)),
        light_flicker=float(rng.uniform(0.0, 0.01)),
        noise_sigma=float(rng.uniform(0.5, 2.5)),
    )
    if not hard:
        return spec
    if rng.uniform() < 0.5:  # half the hard subjects have the darker half of the skin tones
        dark = SKIN_TONES[rng.integers(len(SKIN_TONES) // 2, len(SKIN_TONES))] * rng.uniform(0.9, 1.08, 3)
        spec = replace(spec, skin_rgb=_rgb(np.clip(dark, 30, 250)))
    return replace(
        spec,
        pulse_amplitude=float(rng.uniform(0.004, 0.012)),
        motion_px=float(rng.uniform(0.01, 0.05)),
        rotation_deg=float(rng.uniform(1.0, 6.0)),
        scale_amp=float(rng.uniform(0.0, 0.05)),
        light_step=float(rng.choice([0.0, 1.0]) * rng.uniform(-0.25, 0.3)),
        light_step_at=float(rng.uniform(0.3, 0.7)),
        jpeg_quality=int(rng.integers(60, 90)),
    )


def ppg_waveform(
    n: int, fs: float, hr_bpm: float, hrv_depth: float, resp_hz: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """PPG (zero mean, unit std) with systolic peak, dicrotic notch and wave, and the instantaneous HR (bpm).

    Heart rate varies with respiration (sinus arrhythmia) and a slow random drift.
    """
    t = np.arange(n) / fs
    drift = np.cumsum(rng.normal(0, 1, n))
    drift = drift / (np.abs(drift).max() + 1e-9)
    inst_hr = hr_bpm * (
        1 + hrv_depth * np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi)) + 0.5 * hrv_depth * drift
    )
    phase = np.cumsum(inst_hr / 60.0 / fs) + rng.uniform()
    beat = phase % 1.0
    # Systolic upstroke/peak and a smaller, wider diastolic wave; the trough between them is the notch.
    wave = np.exp(-(((beat - 0.18) / 0.075) ** 2)) + 0.42 * np.exp(-(((beat - 0.46) / 0.11) ** 2))
    wave += 0.05 * np.sin(2 * np.pi * resp_hz * t)  # respiratory baseline
    wave = (wave - wave.mean()) / (wave.std() + 1e-12)
    return wave, inst_hr


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(30, 220, 3)
    cells = int(rng.integers(3, 12))
    noise = rng.normal(0, 1, (cells, max(cells * w // h, 2), 3))
    texture = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-1, 1, w)[None, :, None] * rng.uniform(-30, 30)
    return np.clip(base + rng.uniform(5, 30) * texture + ramp, 0, 255)


def _face(
    h: int, w: int, spec: SubjectSpec, face_frac: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face albedo image, alpha mask and skin mask, centred in an h×w canvas."""
    fh = face_frac * h
    fw = fh / spec.face_aspect
    cy, cx = h / 2, w / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ny, nx = (yy - cy) / (fh / 2), (xx - cx) / (fw / 2)
    alpha = np.clip((1.0 - np.sqrt(nx**2 + ny**2)) * fh / 4, 0, 1)
    skin = np.array(spec.skin_rgb)
    # Soft shading: brighter at the centre, darker at the rim; a faint skin texture.
    shade = 1.0 - 0.25 * np.clip(nx**2 + ny**2, 0, 1)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)), (0, 0), max(fh / 60, 0.6)) * 4
    img = skin[None, None, :] * shade[..., None] + grain[..., None]

    def blob(x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
        return np.asarray(np.exp(-(((nx - x0) / sx) ** 2 + ((ny - y0) / sy) ** 2)))

    # Dark features blended toward an absolute dark tone, so that light and dark skin both show the
    # eye/brow/mouth contrast pattern that face detectors key on.
    features = np.zeros((h, w))
    for ex in (-0.36, 0.36):
        features = np.maximum(features, blob(ex, -0.18, 0.2, 0.09))  # eye socket
        features = np.maximum(features, 0.85 * blob(ex, -0.40, 0.24, 0.045))  # brow
    features = np.maximum(features, 0.8 * blob(0.0, 0.50, 0.3, 0.06))  # mouth
    features = np.maximum(features, 0.5 * blob(0.0, 0.22, 0.14, 0.05))  # nostrils
    dark = np.array([40.0, 28.0, 24.0])
    img = img * (1 - 0.85 * features[..., None]) + dark * 0.85 * features[..., None]
    highlight = 0.12 * (blob(0.0, 0.0, 0.08, 0.25) + blob(-0.4, 0.15, 0.18, 0.12) + blob(0.4, 0.15, 0.18, 0.12))
    img = img * (1 + highlight[..., None])  # nose bridge and cheeks catch the light
    hair = (ny < -0.55) * np.clip((-0.55 - ny) * 6, 0, 1)
    img = img * (1 - hair[..., None]) + rng.uniform(10, 90) * hair[..., None]
    skin_mask = alpha * (1 - features) * (1 - hair)
    return np.clip(img, 0, 255), alpha, skin_mask


@dataclass(kw_only=True)
class SyntheticClip:
    """A rendered video stream and its ground truth."""

    spec: SubjectSpec
    fps: float
    ppg: np.ndarray
    hr_bpm: np.ndarray

    def frames(self, size: tuple[int, int], face_frac: float = 0.55) -> Iterator[np.ndarray]:
        """Yield uint8 RGB frames (h, w, 3) one at a time: long videos never sit in memory whole."""
        w, h = size
        rng = np.random.default_rng(self.spec.seed + 1)
        bg = _background(h, w, rng)
        face, alpha, skin = _face(h, w, self.spec, face_frac, rng)
        n = len(self.ppg)
        t = np.arange(n) / self.fps
        motion = self.spec.motion_px * h
        walk = np.cumsum(rng.normal(0, 1, (n, 2)), axis=0)
        walk = walk / (np.abs(walk).max(axis=0) + 1e-9)
        sway = np.stack(
            [np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t), np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t)], 1
        )
        shift = motion * (0.6 * walk + 0.4 * sway) + rng.uniform(-0.08, 0.08, 2) * np.array([w, h])
        light = 1 + self.spec.light_drift * np.sin(2 * np.pi * rng.uniform(0.01, 0.1) * t + rng.uniform(0, 6.3))
        light += self.spec.light_flicker * np.sin(2 * np.pi * rng.choice([0.0, 9.7, 12.3]) * t)
        light = light * (1 + self.spec.light_step * (t >= self.spec.light_step_at * t[-1]))
        turn = np.random.default_rng(self.spec.seed + 2).uniform(0.05, 0.3, 2)  # own stream: easy clips unchanged
        angle = self.spec.rotation_deg * np.sin(2 * np.pi * turn[0] * t)
        zoom = 1 + self.spec.scale_amp * np.sin(2 * np.pi * turn[1] * t)
        pulse = (-self.spec.pulse_amplitude * self.ppg[:, None] * PBV_WEIGHTS[None, :] / PBV_WEIGHTS.max()).astype(
            np.float32
        )
        face32, skin32, alpha32, bg32 = (a.astype(np.float32) for a in (face, skin[..., None], alpha, bg))
        noise_shape = (h, w, 3)
        for i in range(n):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[i]), float(zoom[i])).astype(np.float32)
            m[:, 2] += shift[i].astype(np.float32)
            lit = face32 * (1 + skin32 * pulse[i])
            moved = cv2.warpAffine(lit, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
            a = cv2.warpAffine(alpha32, m, (w, h))[..., None]
            frame = (bg32 + a * (moved - bg32)) * np.float32(light[i])
            frame += rng.standard_normal(noise_shape, dtype=np.float32) * np.float32(self.spec.noise_sigma)
            yield np.clip(frame, 0, 255).astype(np.uint8)


def synthetic_clip(
    seed: int,
    n_frames: int,
    fps: float = CONTRACT.fps,
    hard: bool = False,
    pulse: bool = True,
    hr_bpm: float | None = None,
) -> SyntheticClip:
    """A subject and its PPG; ``pulse=False`` renders the same face with no pulse at all (labels are kept
    as the PPG it would have had, so that a pulseless video can be told apart from a pulsed one).
    ``hr_bpm`` sets the mean heart rate instead of drawing it."""
    rng = np.random.default_rng(seed)
    spec = sample_subject(rng, seed, hard)
    if hr_bpm is not None:
        spec = replace(spec, hr_bpm=float(hr_bpm))
    if not pulse:
        spec = replace(spec, pulse_amplitude=0.0)
    ppg, hr = ppg_waveform(n_frames, fps, spec.hr_bpm, spec.hrv_depth, spec.resp_hz, rng)
    return SyntheticClip(spec=spec, fps=fps, ppg=ppg, hr_bpm=hr)


def synthetic_windows(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` face-crop windows [N, 3, 161, 72, 72] float32 (0-255 raw RGB) and their PPG [N, 160].

    The crops are rendered directly at the contract size, as a detector-cropped face would look
    (face about 2/3 of the crop after the 1.5× box enlargement).
    """
    windows = np.empty((count, *CONTRACT.input_shape(1)[1:]), dtype=np.float32)
    labels = np.empty((count, CONTRACT.window), dtype=np.float32)
    for k in range(count):
        clip = synthetic_clip(seed * 100_003 + k, CONTRACT.window)
        windows[k] = CONTRACT.assemble(np.stack(list(clip.frames((CONTRACT.width, CONTRACT.height), face_frac=0.8))))
        labels[k] = clip.ppg
    return windows, labels


def write_synthetic_ubfc(
    root: Path,
    subjects: int = 20,
    seconds: float = 30.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    fps: float = CONTRACT.fps,
    hard: float = 0.0,
) -> Path:
    """Write a synthetic dataset in the UBFC-rPPG layout (subjectN/vid.avi + ground_truth.txt).

    Training on it takes exactly the path real data takes: reader, face detection, crops, chunks.
    Videos are MJPG: the compression is part of what the model must see through. A subject whose
    files exist is kept, so an interrupted generation resumes.
    """
    root.mkdir(parents=True, exist_ok=True)
    # ``hard``: the fraction of subjects drawn from the harder variants, spread evenly over the subjects.
    jobs = [
        (
            root / f"subject{k}",
            seed * 10_007 + k,
            int(round(seconds * fps)),
            size,
            fps,
            int(k * hard) != int((k - 1) * hard),
        )
        for k in range(1, subjects + 1)
    ]
    workers = max(1, min(os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for job in jobs:
            _write_subject(*job)
    else:
        with process_pool(workers) as pool:
            list(pool.map(_write_subject, *zip(*jobs, strict=True)))
    return root


def _write_subject(folder: Path, seed: int, n: int, size: tuple[int, int], fps: float, hard: bool = False) -> None:
    from edge_rppg.atomic import write_text_atomic
    from edge_rppg.data.video import write_video_atomic

    cv2.setNumThreads(1)
    gt_path = folder / "ground_truth.txt"
    if gt_path.exists() and (folder / "vid.avi").exists():
        return
    folder.mkdir(exist_ok=True)
    clip = synthetic_clip(seed, n, fps, hard)
    write_video_atomic(folder / "vid.avi", clip.frames(size), fps, quality=clip.spec.jpeg_quality)
    rows = [clip.ppg, clip.hr_bpm, np.arange(n) / fps]
    write_text_atomic(gt_path, "\n".join(" ".join(f"{v:.6e}" for v in row) for row in rows) + "\n")


DEMO_PULSE_AMPLITUDE = 0.012


def write_demo_video(
    path: Path,
    seconds: float = 20.0,
    hr_bpm: float | None = None,
    seed: int = 0,
    hard: bool = False,
    size: tuple[int, int] = (320, 240),
    fps: float = CONTRACT.fps,
) -> float:
    """A synthetic face video with a known pulse (``edge-rppg demo-video``); returns its mean heart rate."""
    from edge_rppg.data.video import CODECS, write_video_atomic
    from edge_rppg.errors import VideoError

    if path.suffix.lower() not in CODECS:  # before rendering anything
        raise VideoError(f"{path}: write the demo video as {', '.join(CODECS)}")
    clip = synthetic_clip(seed, int(round(seconds * fps)), fps, hard, hr_bpm=hr_bpm)
    if not hard:  # a first try should show a typical pulse, not the weakest the training set holds
        clip = replace(
            clip, spec=replace(clip.spec, pulse_amplitude=max(clip.spec.pulse_amplitude, DEMO_PULSE_AMPLITUDE))
        )
    write_video_atomic(path, clip.frames(size), fps, quality=clip.spec.jpeg_quality)
    return float(clip.hr_bpm.mean())
