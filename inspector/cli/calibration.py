"""``inspector calibrate ...``, ``inspector verify`` and ``inspector audit ...``.

Every command that changes a station's calibration or proves it appends an
entry to the station's audit trail (who, when, before, after).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import time
from pathlib import Path

from inspector.config import load_config
from inspector.config.schema import Config

log = logging.getLogger(__name__)

COMMANDS = ("calibrate", "verify", "audit")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (container without a passwd entry)
        return "unknown"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the calibration, verification and audit commands."""
    calibrate = sub.add_parser("calibrate", help="camera calibration, pixel scale, image-health reference")
    cal_sub = calibrate.add_subparsers(dest="calibrate_command", required=True)

    def station_args(p: argparse.ArgumentParser, audited: bool = True) -> None:
        p.add_argument("--config", type=Path, required=True, help="station config (YAML)")
        p.add_argument("--camera", help="camera name (default: the station's first camera)")
        if audited:
            p.add_argument("--user", default=_default_user(), help="who does this, for the audit trail (default: login name)")

    intrinsics = cal_sub.add_parser("intrinsics", help="camera matrix and distortion from checkerboard images")
    station_args(intrinsics)
    intrinsics.add_argument("--images", type=Path, required=True, help="folder of checkerboard images (10-20 views, varied tilt and position)")

    scale = cal_sub.add_parser("scale", help="millimetres per pixel at the part plane")
    station_args(scale)
    scale.add_argument("--image", type=Path, required=True, help="image of the checkerboard (or reference disc) lying on the part plane")
    scale.add_argument("--disc-mm", type=float, help="measure a reference disc of this diameter instead of the checkerboard")
    scale.add_argument("--dark-disc", action="store_true", help="the reference disc is darker than its background")

    reference = cal_sub.add_parser("health-reference", help="store the image-health reference (focus, exposure, lighting)")
    station_args(reference)
    reference.add_argument("--images", type=Path, nargs="+", required=True, help="one or more frames of the reference view")

    health = cal_sub.add_parser("health", help="check images against the image-health reference")
    station_args(health, audited=False)
    health.add_argument("--images", type=Path, nargs="+", required=True, help="frames to check")

    verify = sub.add_parser("verify", help="run the challenge parts through the detector; pass only if all are decided right")
    verify.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    verify.add_argument("--user", default=_default_user(), help="who runs it, for the audit trail (default: login name)")

    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_sub.add_parser("verify", help="check the audit trail's hash chain")
    audit_list = audit_sub.add_parser("list", help="print the audit trail's entries")
    audit_verify.add_argument("--key", type=Path, help="with --database (required): the station's audit key, "
                              "never one found beside a copy")
    audit_verify.add_argument("--anchor", type=Path, help="with --database (required): the station's anchor file "
                              "(<state_dir>/audit.anchor), never one found beside a copy")
    audit_list.add_argument("--key", type=Path, help="with --database: the audit key (default: <database name>.key beside it)")
    audit_list.add_argument("--anchor", type=Path, help="with --database: the anchor file (default: <database name>.anchor beside it)")
    for p in (audit_verify, audit_list):
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--config", type=Path, help="station config: its audit trail")
        which.add_argument("--database", type=Path, help="audit database (SQLite)")
    audit_list.add_argument("--last", type=int, default=20, help="show only the last N entries (0 = all)")


def run(args: argparse.Namespace) -> int:
    if args.command == "audit":
        return _audit(args)
    config = load_config(args.config)
    config_dir = args.config.resolve().parent
    if args.command == "verify":
        return _verify(config, config_dir, args.user)
    return _calibrate(args, config, config_dir)


# -- audit ------------------------------------------------------------------------


def _audit(args: argparse.Namespace) -> int:
    """``audit list`` and ``audit verify``: exit 0 intact, 1 BROKEN (a trail deleted or emptied while its anchor
    holds entries included), 2 no trail or a refused command."""
    from inspector.audit import AuditError, AuditTrail, verify_trail

    key, anchor = args.key, args.anchor
    if args.config is not None:
        from calibration.station import calibration_paths

        paths = calibration_paths(load_config(args.config))
        args.database, key, anchor = paths.audit_database, key or paths.audit_key, anchor or paths.audit_anchor
    if args.audit_command == "list":
        if not args.database.is_file():
            raise AuditError(f"no audit database at {args.database}")
        with AuditTrail(args.database, key, anchor, readonly=True) as trail:
            entries = trail.entries()
        for e in entries[-args.last :] if args.last else entries:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.t))
            print(f"{e.id:>6}  {stamp}  {e.user:<12} {e.action:<30} {e.target:<16} {e.hash[:12]}")
        return 0
    if key is None or anchor is None:  # --database: a copy is checked against the station's own key and anchor
        if not args.database.exists():
            raise AuditError(f"no audit database at {args.database}")
        missing = " and ".join(flag for flag, given in (("--key", key), ("--anchor", anchor)) if given is None)
        raise AuditError(
            f"audit verify --database needs {missing}: a copy of a trail is checked against the station's own audit "
            "key and anchor (<state_dir>/audit.key, <state_dir>/audit.anchor), never against files found beside the "
            "copy, which whoever made it could have written; or use --config for the station's own trail"
        )
    count, broken = verify_trail(args.database, key, anchor)
    if broken is None:
        with AuditTrail(args.database, key, anchor, readonly=True) as trail:
            last = trail.entries()[-1].hash[:16] if count else "-"
        print(f"audit trail {args.database}: {count} entries, chain intact (last hash {last}…)")
        return 0
    print(f"audit trail {args.database}: BROKEN at {broken}")
    return 1


# -- verify -----------------------------------------------------------------------


def _verify(config: Config, config_dir: Path, user: str) -> int:
    from calibration.challenge import record_verification, run_verification
    from calibration.station import calibration_paths, open_audit_trail

    result = run_verification(config, config_dir)
    print("\n".join(result.lines()))
    database = calibration_paths(config, config_dir).audit_database
    with open_audit_trail(config, config_dir) as trail:
        entry = record_verification(trail, result, user)
    print(f"recorded in the audit trail {database} as entry {entry.id}")
    return 0 if result.passed else 1


# -- calibrate --------------------------------------------------------------------


def _calibrate(args: argparse.Namespace, config: Config, config_dir: Path) -> int:
    from calibration.station import calibration_paths, camera_name

    camera = camera_name(config, args.camera)
    folder = calibration_paths(config, config_dir).folder
    handler = {
        "intrinsics": _intrinsics,
        "scale": _scale,
        "health-reference": _health_reference,
        "health": _health,
    }[args.calibrate_command]
    return handler(args, config, config_dir, camera, folder)


def _images_in(folder: Path) -> list[Path]:
    from calibration import CalibrationError

    if not folder.is_dir():
        raise CalibrationError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def _audit_trail(config: Config, config_dir: Path):
    from calibration.station import open_audit_trail

    return open_audit_trail(config, config_dir)


def _intrinsics(args, config: Config, config_dir: Path, camera: str, folder: Path) -> int:
    from calibration.intrinsics import calibrate_camera, load_calibration, save_calibration
    from calibration.station import board_of, read_image

    board = board_of(config)
    files = _images_in(args.images)
    result = calibrate_camera(camera, ((p.name, read_image(p)) for p in files), board)
    previous = load_calibration(folder, camera)
    path = save_calibration(result, folder)
    k = result.camera_matrix
    print(f"camera {camera}: {len(result.views)} of {len(files)} images used ({board.cols}x{board.rows} board, {board.square_mm} mm squares)")
    print(f"  fx {k[0][0]:.2f}  fy {k[1][1]:.2f}  cx {k[0][2]:.2f}  cy {k[1][2]:.2f} px")
    print("  distortion k1 k2 p1 p2 k3: " + "  ".join(f"{d:+.5f}" for d in result.dist_coeffs))
    print(f"  RMS reprojection error {result.rms_px:.3f} px")
    for view in result.views:
        print(f"    {view.name:<32} {view.rms_px:.3f} px")
    print(f"stored in {path}; a new calibration drops the old scale: run 'inspector calibrate scale' next")
    with _audit_trail(config, config_dir) as trail:
        trail.record(args.user, "calibration.intrinsics", camera, previous.summary() if previous else None, result.summary())
    return 0


def _scale(args, config: Config, config_dir: Path, camera: str, folder: Path) -> int:
    from calibration.intrinsics import BoardSpec, CameraCalibration, load_calibration, save_calibration, with_scale
    from calibration.scale import scale_from_board, scale_from_disc
    from calibration.station import board_of, read_image

    image = read_image(args.image)
    calibration = load_calibration(folder, camera)
    if calibration is None:
        log.warning("camera %s has no intrinsics: the scale is measured on the distorted image", camera)
    if args.disc_mm is not None:
        measured = scale_from_disc(image, args.disc_mm, calibration, bright=not args.dark_disc)
    else:
        measured = scale_from_board(image, board_of(config), calibration)
    if calibration is None:  # a scale-only record: no lens model (identity matrix, no distortion)
        h, w = image.shape[:2]
        calibration = CameraCalibration(
            camera, (w, h), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.0] * 5, 0.0,
            BoardSpec(config.calibration.board_cols, config.calibration.board_rows, config.calibration.square_mm),
        )
        if config.calibration.undistort:
            log.warning("calibration.undistort is on but camera %s has no intrinsics; undistortion will do nothing", camera)
    before = {"mm_per_px": calibration.mm_per_px, "scale_source": calibration.scale_source}
    updated = with_scale(calibration, measured.mm_per_px, measured.source)
    path = save_calibration(updated, folder)
    print(f"camera {camera}: {measured.mm_per_px:.5f} mm/px ({measured.px_per_mm:.3f} px/mm) from {measured.source}"
          + (f", square sizes within {measured.spread:.2%}" if measured.spread else ""))
    print(f"stored in {path}")
    with _audit_trail(config, config_dir) as trail:
        trail.record(args.user, "calibration.scale", camera, before, {"mm_per_px": updated.mm_per_px, "scale_source": updated.scale_source})
    return 0


def _health_reference(args, config: Config, config_dir: Path, camera: str, folder: Path) -> int:
    from calibration.health import build_reference, load_reference, reference_file, save_reference
    from calibration.station import read_image

    previous = load_reference(folder, camera).measures if reference_file(folder, camera).exists() else None
    reference = build_reference(camera, (read_image(p) for p in args.images), config.calibration.health)
    path = save_reference(reference, folder)
    m = reference.measures
    print(f"camera {camera}: health reference from {reference.images} image(s): sharpness {m.focus:.4f}, "
          f"mean grey {m.mean:.1f}, clipped {m.clipped:.2%}")
    print(f"stored in {path}")

    def summary(measures) -> dict | None:
        return None if measures is None else {"focus": measures.focus, "mean": measures.mean, "clipped": measures.clipped, "profile": measures.profile}

    with _audit_trail(config, config_dir) as trail:
        trail.record(args.user, "calibration.health_reference", camera, summary(previous), summary(m))
    return 0


def _health(args, config: Config, config_dir: Path, camera: str, folder: Path) -> int:
    from calibration.health import check_health, load_reference
    from calibration.station import read_image

    reference = load_reference(folder, camera)
    all_ok = True
    for path in args.images:
        report = check_health(read_image(path), reference, config.calibration.health)
        all_ok &= report.ok
        print(f"{path}: {'ok' if report.ok else 'DRIFT: ' + ', '.join(report.failed)}")
        for finding in report.findings:
            print(f"  {'ok   ' if finding.ok else 'FAIL '} {finding.check:<10} {finding.text}")
    return 0 if all_ok else 1
