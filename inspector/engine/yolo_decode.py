"""Decoding YOLOv8-style detection outputs and class-aware NMS.

The output of an exported ultralytics detector is ``1 x (4 + C) x N``: for
each of N anchor points a box (cx, cy, w, h in model-input pixels) and C class
scores. Decoding keeps each anchor's best class above ``min_confidence`` and
runs greedy non-maximum suppression per class at ``iou_threshold`` (the YOLO
family passes its station settings, ``detector.families.yolo``), as ultralytics'
``non_max_suppression`` does (classes are separated by offsetting boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_BOX_SIDE = 7680  # class offset for batched NMS, as ultralytics uses


@dataclass(frozen=True)
class RawDetections:
    """Kept detections in model-input pixels: boxes ``N x 4`` xyxy, scores, class ids."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode_yolo(
    output: np.ndarray, min_confidence: float, iou_threshold: float, max_detections: int = 300
) -> RawDetections:
    """Decode one image's raw output (``(4 + C) x N`` or ``1 x (4 + C) x N``)."""
    pred = output[0] if output.ndim == 3 else output
    class_scores = pred[4:]
    scores = class_scores.max(axis=0)
    keep = scores > min_confidence
    if not keep.any():
        return RawDetections(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))
    cx, cy, w, h = pred[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    scores, class_ids = scores[keep], class_scores[:, keep].argmax(axis=0)  # the best class of kept anchors only
    kept = nms(boxes + (class_ids * MAX_BOX_SIDE)[:, None], scores, iou_threshold)[:max_detections]
    return RawDetections(boxes[kept], scores[kept], class_ids[kept])


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of kept boxes (xyxy), highest score first (ties: lower index first).

    OpenCV's ``NMSBoxes`` (C++) does the greedy pass, so a part with many
    candidate boxes costs no Python loop per kept box. It is given each box's
    rank rather than its score: the same order, any score accepted. A box
    without area overlaps nothing (IoU 0, as in torchvision's NMS, which
    ultralytics uses) and is kept; OpenCV would count two such boxes as
    identical, so they stay out of its pass.
    """
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), np.float32)
    rank[order] = np.arange(len(scores), 0, -1)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    solid = np.flatnonzero(areas > 0)
    kept = np.empty(0, np.int64)
    if solid.size:
        xywh = np.column_stack([boxes[solid, :2], boxes[solid, 2:] - boxes[solid, :2]]).astype(np.float64)
        picked = cv2.dnn.NMSBoxes(xywh, rank[solid], 0.0, float(iou_threshold))
        kept = solid[np.asarray(picked, np.int64).reshape(-1)]
    flat = np.flatnonzero(areas <= 0)
    if flat.size:
        kept = np.concatenate([kept, flat])
        kept = kept[np.argsort(-rank[kept])]
    return kept


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xyxy boxes ``a`` (N x 4) against ``b`` (M x 4)."""
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)
