"""Training backend of the anomaly family: PatchCore on pretrained EfficientNet-Lite features, from good parts only.

Training (minutes on two CPU cores for ~500 images):

1. Every good image of the train split (defective ones are never used) is
   resized (or cut into tiles, each resized) to the input size and run
   through the pretrained backbone; the activations of the feature taps are
   averaged over a ``neighbourhood`` x ``neighbourhood`` window (so a patch
   sees its surroundings), brought to the finest tap's resolution and joined:
   one feature vector per patch.
2. The patches are subsampled at random to ``coreset_sample``, then a greedy
   k-centre coreset of ``bank_size`` patches is chosen on a random projection
   (PatchCore's selection: every good patch stays close to a bank patch).
3. The bank and the settings go into ``bank.pt`` in the run folder.

Export writes one ONNX graph (:class:`PatchCoreGraph`): backbone, pooling,
the projection, the distance of every patch to its nearest bank patch, a Gaussian blur, out
as a ``1 x 1 x h x w`` anomaly map whose peak is the part's raw score. The
detector service runs it like any other model, on every execution provider.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspector.datasets_tool import Dataset
from inspector.engine.families.score_maps import grey_plane, tile_windows
from inspector.errors import ConfigError, TrainingError
from inspector.training.backends.base import ExportedGraph, Progress, ProgressCallback, TrainingBackend
from inspector.training.backends.registry import register_backend
from inspector.training.features import backbone_taps, tap_strides
from inspector.training.onnx_storage import store_weights_fp16
from inspector.training.torch_common import (
    check_feature_settings,
    export_onnx,
    gaussian_kernel,
    input_settings,
    require_torch,
    resolve_device,
    torch_device,
)
from inspector.typed import spec, to_dict

log = logging.getLogger(__name__)

BANK_FILE = "bank.pt"


@dataclass(frozen=True)
class AnomalySettings:
    """An anomaly (PatchCore) run's settings: the run config's keys for ``family: anomaly``."""

    backbone: str = spec("lite2", doc="Pretrained feature extractor: lite0, lite1 or lite2 (EfficientNet-Lite, from the 'train' extra).")
    taps: tuple[int, ...] = spec(
        (6, 14, 19),
        doc="Backbone blocks whose activations make a patch's features: the last block of the stride 8, 16 and 32 "
        "stages (lite2 and lite1: 6, 14, 19; lite0: 4, 10, 14). See inspector.training.features.",
    )
    neighbourhood: int = spec(3, doc="Features are averaged over this many feature pixels square (odd), so a patch sees its surroundings.", minimum=1, maximum=9)
    input_size: tuple[int, int] = spec((320, 320), doc="Model input height and width in pixels (multiples of 32); each frame or tile is resized to it.")
    tiles: tuple[int, int] = spec((1, 1), doc="Rows and columns of overlapping tiles a frame is cut into, so small defects on a large part keep their pixels.")
    tile_overlap: float = spec(0.125, doc="Overlap of neighbouring tiles, as a share of a tile.", minimum=0, maximum=0.5)
    bank_size: int = spec(5000, doc="Patches in the memory bank (a smaller bank is faster at inference).", minimum=16)
    coreset_sample: int = spec(200000, doc="Patches drawn at random before the greedy coreset selection (bounds training time).", minimum=16)
    coreset_projection: int = spec(128, doc="Dimensions of the random projection the coreset is chosen on.", minimum=8)
    standardise: float = spec(40.0, doc="Bring each image's (tile's) grey levels to mean 127 and this standard deviation before the model (0 = off): brightness changes from part to part are not anomalies.", minimum=0, maximum=127)
    projection_dims: int = spec(
        128,
        doc="Project each patch's features on this many principal components (fitted on the sampled good patches) "
        "before the nearest-neighbour search: a sixth of the search time at 376 features, the same val AUROC on the "
        "magnetic tiles (0 = search the full features).",
        minimum=0,
    )
    flips: bool = spec(False, doc="Also learn each good image flipped up-down and left-right (parts that come either way round).")
    map_blur_sigma: float = spec(1.0, doc="Gaussian blur of the anomaly map, in map pixels (0 = none).", minimum=0, maximum=8)
    max_good_images: int = spec(0, doc="Use at most this many good training images, chosen by the seed (0 = all).", minimum=0)
    seed: int = spec(0, doc="Seed of the patch sampling and the coreset's start.")
    device: str = spec("auto", doc="'cpu', a CUDA device index such as '0', or 'auto' (a GPU when torch sees one).")


def recipe_for_parts(settings_type: type) -> "AnomalySettings":
    """The recipe the project measured on magnetic tiles and uses unchanged on its synthetic discs."""
    return settings_type()










def model_inputs(image: np.ndarray, settings: Any) -> list[np.ndarray]:
    """Every tile of ``image`` as a model input (``3 x H x W``), pre-processed as the line's family does it."""
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if grey.dtype == np.uint16:
        grey = (grey >> 8).astype(np.uint8)
    feed = input_settings(settings)
    height, width = settings.input_size
    tensors = []
    for y0, y1, x0, x1 in tile_windows(grey.shape[:2], feed.tiles, feed.tile_overlap):
        resized = cv2.resize(grey[y0:y1, x0:x1], (width, height), interpolation=cv2.INTER_AREA)
        tensors.append(np.ascontiguousarray(np.broadcast_to(grey_plane(resized, feed), (3, height, width))))
    return tensors


class PatchEmbedding:
    """Backbone taps -> neighbourhood average -> finest tap's resolution -> joined patch features (torch module factory)."""

    @staticmethod
    def module(settings: Any) -> Any:
        torch = require_torch()
        F = torch.nn.functional
        taps = backbone_taps(settings.backbone, tuple(settings.taps))
        k = settings.neighbourhood

        class Embed(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.taps = taps

            def forward(self, x: Any) -> Any:
                feats = self.taps(x)
                size = feats[0].shape[-2:]
                out = []
                for f in feats:
                    if k > 1:
                        f = F.avg_pool2d(f, k, 1, k // 2)  # zero padding counted: border patches stay distinct (measured better)
                    if f.shape[-2:] != size:
                        f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                    out.append(f)
                return torch.cat(out, 1)

        return Embed().eval()


def patchcore_graph(settings: Any, bank: Any, projection: tuple[Any, Any] | None = None) -> Any:
    """The exportable module: image -> ``1 x 1 x h x w`` distance of each patch to its nearest bank patch, blurred.

    ``projection`` (mean, components): patches are first projected on their
    principal components, as the bank was (the search then costs a fraction).
    """
    torch = require_torch()
    F = torch.nn.functional
    embed = PatchEmbedding.module(settings)
    kernel = torch.from_numpy(gaussian_kernel(settings.map_blur_sigma))[None, None] if settings.map_blur_sigma > 0 else None

    class PatchCoreGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = embed
            self.register_buffer("bank_t", bank.t().contiguous())  # D x M
            self.register_buffer("bank_sq", (bank * bank).sum(1)[None])  # 1 x M
            self.projected = projection is not None
            if projection is not None:
                self.register_buffer("feature_mean", projection[0])  # 1 x F
                self.register_buffer("components", projection[1])  # F x D
            if kernel is not None:
                self.register_buffer("kernel", kernel)

        def forward(self, x: Any) -> Any:
            e = self.embed(x)  # 1 x D x h x w
            h, w = e.shape[-2], e.shape[-1]
            q = e.flatten(2)[0].t()  # hw x F
            if self.projected:
                q = (q - self.feature_mean) @ self.components  # hw x D
            d2 = (q * q).sum(1, keepdim=True) - 2 * (q @ self.bank_t) + self.bank_sq
            nearest = d2.min(1).values.clamp(min=0).sqrt()
            score_map = nearest.reshape(1, 1, h, w)
            if kernel is not None:
                pad = self.kernel.shape[-1] // 2
                score_map = F.conv2d(F.pad(score_map, (pad, pad, pad, pad), mode="replicate"), self.kernel)
            return score_map

    return PatchCoreGraph().eval()


def greedy_coreset(patches: Any, size: int, projection: int, generator: Any, progress: ProgressCallback | None = None) -> Any:
    """Indices of ``size`` patches chosen greedily (k-centre) on a random projection of ``patches``."""
    torch = require_torch()
    if len(patches) <= size:
        return torch.arange(len(patches))
    dims = patches.shape[1]
    projected = patches @ (torch.randn(dims, projection, generator=generator) / math.sqrt(projection)) if dims > projection else patches
    squared = (projected * projected).sum(1)
    columns = projected.t().contiguous()  # a row times this is 4x faster than the matrix times a column

    def distances_to(index: int) -> Any:  # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one vector-matrix product
        return squared - 2 * (projected[index] @ columns) + squared[index]

    chosen = torch.empty(size, dtype=torch.long)
    chosen[0] = int(torch.randint(len(projected), (1,), generator=generator))
    nearest = distances_to(int(chosen[0]))
    report_every = max(1, size // 20)
    for i in range(1, size):
        chosen[i] = int(nearest.argmax())
        torch.minimum(nearest, distances_to(int(chosen[i])), out=nearest)
        if progress is not None and (i + 1) % report_every == 0:
            progress(Progress(i + 1, size, "coreset patch", {"largest distance": float(nearest.max().clamp(min=0).sqrt())}))
    return chosen


@register_backend
class AnomalyBackend(TrainingBackend):
    family = "anomaly"
    settings_type = AnomalySettings

    def check(self, settings: AnomalySettings) -> None:
        check_feature_settings(settings)
        if settings.neighbourhood % 2 == 0:
            raise ConfigError("neighbourhood", f"must be odd, got {settings.neighbourhood}")

    def device(self, settings: AnomalySettings) -> str:
        return resolve_device(settings.device)

    def good_images(self, dataset: Dataset, settings: AnomalySettings) -> list[Any]:
        from inspector.datasets_tool import hash_uniform

        good = [i for i in dataset.split("train") if not i.defective]
        if not good:
            raise TrainingError(f"dataset {dataset.version} has no good image in its train split: an anomaly model learns from good parts")
        if settings.max_good_images and len(good) > settings.max_good_images:
            good = sorted(good, key=lambda i: hash_uniform(i.path.name, settings.seed))[: settings.max_good_images]
        return good

    def train(self, dataset: Dataset, run_dir: Path, settings: AnomalySettings, resume: bool, progress: ProgressCallback) -> Path:
        torch = require_torch()
        device = torch_device(self.device(settings))
        embed = PatchEmbedding.module(settings).to(device)
        images = self.good_images(dataset, settings)
        generator = torch.Generator().manual_seed(settings.seed)
        per_image_keep = None
        patches = []
        started = time.time()
        with torch.inference_mode():
            for n, image in enumerate(images, 1):
                frame = image.read()
                views = [frame] + ([frame[::-1].copy(), frame[:, ::-1].copy()] if settings.flips else [])
                for view in views:
                    for tensor in model_inputs(view, settings):
                        e = embed(torch.from_numpy(tensor)[None].to(device))[0]
                        flat = e.flatten(1).t().cpu()
                        if per_image_keep is None:  # spread the sample evenly over images
                            tiles = settings.tiles[0] * settings.tiles[1]
                            total = len(images) * len(views) * tiles * len(flat)
                            per_image_keep = max(1, math.ceil(settings.coreset_sample * len(flat) / total))
                        if per_image_keep < len(flat):
                            flat = flat[torch.randperm(len(flat), generator=generator)[:per_image_keep]]
                        patches.append(flat)
                progress(Progress(n, len(images), "good image", {"patches": float(sum(len(p) for p in patches))}))
        patches = torch.cat(patches)
        log.info("%d patches of %d features from %d good images in %.0f s; choosing a coreset of %d",
                 len(patches), patches.shape[1], len(images), time.time() - started, settings.bank_size)
        chosen = greedy_coreset(patches, settings.bank_size, settings.coreset_projection, generator, progress)
        bank = patches[chosen].contiguous()
        saved = {"bank": bank, "images": len(images), "patches_sampled": len(patches)}
        if 0 < settings.projection_dims < patches.shape[1]:
            mean = patches.mean(0, keepdim=True)
            torch.manual_seed(settings.seed)  # pca_lowrank draws a random start
            _, _, components = torch.pca_lowrank(patches - mean, q=settings.projection_dims, center=False)
            saved.update(feature_mean=mean, components=components[:, : settings.projection_dims].contiguous())
            saved["bank"] = (bank - mean) @ saved["components"]
        out = run_dir / BANK_FILE
        torch.save(saved, out)
        return out

    def export(self, checkpoint: Path, settings: AnomalySettings, dataset: Dataset, onnx_path: Path) -> ExportedGraph:
        torch = require_torch()
        try:
            saved = torch.load(checkpoint, map_location="cpu")
        except (OSError, RuntimeError) as err:
            raise TrainingError(f"cannot read the memory bank {checkpoint}: {err}") from err
        projection = (saved["feature_mean"], saved["components"]) if "components" in saved else None
        graph = patchcore_graph(settings, saved["bank"], projection)
        export_onnx(graph, settings.input_size, onnx_path, "anomaly_map")
        stored_fp16 = store_weights_fp16(onnx_path)
        strides = tap_strides(settings.backbone, tuple(settings.taps))
        return ExportedGraph(
            classes=["anomaly"],
            input_size=tuple(settings.input_size),
            family_settings={
                **to_dict(input_settings(settings)),
                "map_stride": min(strides),
                "backbone": f"efficientnet-{settings.backbone} (ImageNet, from its PyPI wheel)",
                "details": {
                    "method": "PatchCore (nearest-neighbour distance to a coreset memory bank)",
                    "bank_patches": int(saved["bank"].shape[0]),
                    "feature_dims": int(saved["components"].shape[0]) if projection else int(saved["bank"].shape[1]),
                    "searched_dims": int(saved["bank"].shape[1]),
                    "good_images": int(saved["images"]),
                    "taps": list(settings.taps),
                    "weights_stored_as_float16": stored_fp16,
                },
            },
            name=f"anomaly-{settings.backbone}",
        )

