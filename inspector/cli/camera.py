"""``inspector camera list`` and ``inspector camera snap``: what cameras are there, and one frame from a station camera."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from inspector.config.schema import Config

SNAP_FORMATS = {"Mono8", "Mono16", "BGR8", "RGB8"}


def add_camera_parser(sub: argparse._SubParsersAction) -> None:
    camera = sub.add_parser("camera", help="camera tools")
    camera_sub = camera.add_subparsers(dest="camera_command", required=True)
    listing = camera_sub.add_parser("list", help="every camera each driver can see")
    listing.add_argument("--config", type=Path, help="station config: GenICam producers are taken from its genicam cameras")
    snap = camera_sub.add_parser("snap", help="save one frame taken with a station camera's settings")
    snap.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    snap.add_argument("--camera", help="which camera (default: the first)")
    snap.add_argument("--out", type=Path, required=True, help="image file to write (PNG keeps every bit; .tiff too)")


def run_camera(args: argparse.Namespace) -> int:
    from inspector.config import load_config

    config = load_config(args.config) if args.config else None
    if args.camera_command == "list":
        print("\n".join(list_cameras(config)))
        return 0
    print("\n".join(snap(config, args.camera, args.out)))
    return 0


def list_cameras(config: Config | None) -> list[str]:
    """One line per camera seen, grouped by driver; a driver that cannot look says why."""
    from camera_drivers.base import driver_class, registered_drivers
    from camera_drivers.genicam import GenICamCamera
    from inspector.errors import InspectorError

    lines = []
    for name in registered_drivers():
        try:
            if name == "genicam":
                cams = [c for c in (config.cameras if config else []) if c.driver == "genicam"]
                if not cams:
                    lines.append("genicam: no camera with a GenTL producer in the config (pass --config with a 'producer')")
                    continue
                devices = [d for c in cams for d in GenICamCamera.list_cameras(c)]
            else:
                devices = driver_class(name).list_devices()
        except InspectorError as err:
            lines.append(f"{name}: cannot list cameras: {err}")
            continue
        if name in ("synthetic", "folder"):
            continue  # not cameras: always available
        if not devices:
            lines.append(f"{name}: no cameras found")
        lines += [f"{d.driver}: {d.id}  {d.model}  {d.description}".rstrip() for d in devices]
    return lines


def snap(config: Config, camera: str | None, out: Path) -> list[str]:
    """Open the camera with the station's settings, take one frame (a software trigger unless
    the camera is hardware-triggered: then the next line pulse) and write it to ``out``."""
    from camera_drivers import make_driver
    from inspector.errors import CameraError

    cam = config.camera(camera) if camera else config.cameras[0]
    with make_driver(cam) as driver:
        settings = driver.settings()
        grab = driver.capture()
    pixels = cv2.cvtColor(grab.pixels, cv2.COLOR_RGB2BGR) if grab.pixel_format == "RGB8" else grab.pixels
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), pixels):
        raise CameraError(f"camera {cam.name}: cannot write {out} (use a .png or .tiff name)")
    lines = [f"{out}: {pixels.shape[1]}x{pixels.shape[0]} {grab.pixel_format} from {grab.source}"]
    lines += [f"  {key}: {value}" for key, value in settings.items()]
    return lines
