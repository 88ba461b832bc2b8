"""A face detector whose weights ship in this package: Ultra-Light-Fast-Generic-Face-Detector-1MB, RFB-320.

The ONNX file (``assets/face_detector/rfb_320.onnx``, 1.2 MB, sha256 4d53d5a5...) is the one the vitallens 0.6.2
wheel ships, under the MIT licence of its author (linzai), which travels beside it (``assets/face_detector/
LICENSE``). It needs only ONNX Runtime, a base dependency, so it runs on OpenCV 5, which has no Haar cascade.
Input: RGB resized to 320x240, (x - 127) / 128, NHWC; output per prior: two class scores, then a box as corners
relative to the frame.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import cv2
import numpy as np

from edge_rppg.errors import EdgeRppgError

Box = tuple[int, int, int, int]
MODEL = "rfb_320.onnx"
SHA256 = "4d53d5a5e80691711be69e4e8f0a26f9b4d7c36d76ea8b21bd26094ac21686d9"
INPUT_SIZE = (320, 240)  # width, height
SCORE_MIN = 0.9  # a face's class score, at least (vitallens's default)
IOU_MAX = 0.3  # boxes overlapping more than this are one face


def _session() -> object:
    import onnxruntime as ort

    data = (resources.files("edge_rppg") / "assets" / "face_detector" / MODEL).read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise EdgeRppgError(f"edge_rppg/assets/face_detector/{MODEL}: not the detector this package shipped")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # beside the model's own inference threads: a detection every 30 frames
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_max: float = IOU_MAX) -> list[int]:
    """Indices of the boxes kept (corner form), best score first; a box overlapping a kept one by more is dropped."""
    order = list(np.argsort(-scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(int(i))
        rest = np.array(order, dtype=int)
        if rest.size == 0:
            break
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = [int(j) for j in rest[iou <= iou_max]]
    return kept


class RfbFaceDetector:
    """RFB-320 on the whole frame: boxes of the faces it scores SCORE_MIN or more, the best first."""

    def __init__(self, score_min: float = SCORE_MIN) -> None:
        self.session = _session()
        self.input_name = self.session.get_inputs()[0].name  # type: ignore[attr-defined]
        self.score_min = score_min

    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[Box]:
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, INPUT_SIZE, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = self.session.run(None, {self.input_name: ((x - 127.0) / 128.0)[None]})[0][0]  # type: ignore[attr-defined]
        scores, corners = out[:, 1], out[:, 2:6]
        keep = scores >= self.score_min
        if not keep.any():
            return []
        corners = np.clip(corners[keep], 0.0, 1.0) * np.array([w, h, w, h])
        faces = []
        for i in non_max_suppression(corners, scores[keep]):
            x0, y0, x1, y1 = (int(round(v)) for v in corners[i])
            if min(x1 - x0, y1 - y0) >= max(min_face, 2):
                faces.append((x0, y0, x1 - x0, y1 - y0))
        return faces
