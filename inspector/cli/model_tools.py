"""``inspector dataset import``, ``inspector train``, ``inspector export`` and ``inspector evaluate``.

The quality engineer's loop from labelled images to a model package the line
can load, measured with the line's own engine. Training and export need the
``train`` extra (ultralytics, torch, onnx); evaluation needs ONNX Runtime and,
for its plots, matplotlib.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

COMMANDS = ("dataset", "train", "export", "evaluate", "model", "golden", "retrain")


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated fractions, got {text!r}") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated fractions (train,val,test), got {text!r}")
    return values  # type: ignore[return-value]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the dataset, training, export, evaluation, model (signatures, registry) and golden-set commands."""
    from inspector.cli.model_registry import add_golden_parser, add_retrain_parser

    add_model_parser(sub)
    add_golden_parser(sub)
    add_retrain_parser(sub)
    dataset = sub.add_parser("dataset", help="dataset tools")
    dataset_sub = dataset.add_subparsers(dest="dataset_command", required=True)
    imp = dataset_sub.add_parser("import", help="turn a labelled image folder into an Inspector dataset (images, labels, manifest)")
    imp.add_argument("source", type=Path, help="folder to import")
    imp.add_argument("--layout", required=True, choices=["masks", "yolo", "voc"],
                     help="masks: class folders with mask PNGs beside the images; yolo: YOLO detection/segmentation "
                     "labels; voc: Pascal VOC XML")
    imp.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    imp.add_argument("--name", default="", help="dataset name, the prefix of its version (default: the --out folder's name)")
    imp.add_argument("--classes", help="comma-separated class names, in model order (default: as the source names them)")
    imp.add_argument("--split", type=_fractions, default=(0.7, 0.15, 0.15), metavar="TRAIN,VAL,TEST",
                     help="split fractions (default 0.7,0.15,0.15)")
    imp.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    imp.add_argument("--group-pattern", help="regex on the file stem; images with the same match (first group) share a split")
    imp.add_argument("--keep-source-splits", action="store_true", help="yolo: keep the source's images/<split>/ folders")
    imp.add_argument("--good-folder", action="append", help="masks: a folder name holding good parts (repeatable; "
                     "default: good, ok, free, normal, defect-free, pass)")
    imp.add_argument("--strip-prefix", default="", help="masks: prefix removed from folder names (e.g. MT_)")
    imp.add_argument("--mask-threshold", type=int, default=128, help="masks: pixel value from which a mask pixel is defect")
    imp.add_argument("--min-component-px", type=int, default=8, help="masks: smaller mask regions are dropped as specks")
    imp.add_argument("--replace", action="store_true", help="overwrite --out if it exists")

    train = sub.add_parser(
        "train", help="train a model (family yolo, anomaly or segmentation; offline) into a run folder",
        description="Train a model into a run folder. The run config's 'family' chooses what is trained: yolo "
        "(ultralytics detector from a model YAML), anomaly (PatchCore on pretrained features, from good images only) "
        "or segmentation (a defect-map head on pretrained features, from labelled defects). See docs/training.md.",
    )
    train.add_argument("--config", type=Path, help="run config (YAML; see docs/training.md); flags override it")
    train.add_argument("--family", help="model family: yolo (default), anomaly or segmentation")
    train.add_argument("--data", help="dataset folder")
    train.add_argument("--run-dir", help="run folder")
    train.add_argument("--model", help="yolo: ultralytics model YAML (default yolov8n.yaml)")
    train.add_argument("--imgsz", type=int, help="yolo: input size")
    train.add_argument("--epochs", type=int, help="yolo, segmentation: training epochs")
    train.add_argument("--batch", type=int, help="yolo, segmentation: images per batch")
    train.add_argument("--device", help="cpu, 0 (first GPU) or auto")
    train.add_argument("--workers", type=int, help="yolo: data-loader processes")
    train.add_argument("--patience", type=int, help="yolo: epochs without improvement before stopping")
    train.add_argument("--seed", type=int)
    train.add_argument("--resume", action="store_true", help="continue the interrupted run in the run folder")
    train.add_argument("--explain", metavar="FAMILY", help="print the run config keys of FAMILY with defaults and meaning, and exit")

    export = sub.add_parser("export", help="export a training run as a model package (model.onnx + model.json)")
    export.add_argument("--run", type=Path, required=True, help="the training run folder")
    export.add_argument("--out", type=Path, required=True, help="folder for model.onnx and model.json")
    export.add_argument("--target-false-reject-rate", type=float, default=0.01,
                        help="operating point chosen on the val split (default 0.01)")
    export.add_argument("--min-threshold", type=float,
                        help="lowest reject threshold allowed (default: the default detector.families.yolo.min_confidence)")
    export.add_argument("--name", help="model name (default: dataset name and model)")
    export.add_argument("--version", help="model version (default: date and time)")

    evaluate = sub.add_parser("evaluate", help="measure a model package on a dataset split with the line's engine")
    evaluate.add_argument("--model", type=Path, required=True, help="the package's ONNX file")
    evaluate.add_argument("--data", type=Path, required=True, help="dataset folder")
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument("--out", type=Path, required=True, help="report folder (report.md, metrics.json, plots)")
    evaluate.add_argument("--target-false-reject-rate", type=float, default=0.01, help="for the operating-point section")
    evaluate.add_argument("--station-config", type=Path,
                          help="apply this station's detector rules (thresholds, min confidence, area, providers)")
    evaluate.add_argument("--min-confidence", type=float,
                          help="the YOLO line's min_confidence (detector.families.yolo.min_confidence; "
                               "default: the station's, or the family's default)")


def add_model_parser(sub: argparse._SubParsersAction) -> None:
    """``inspector model keygen|sign|verify``: the signatures a station checks before it loads a package;
    ``list|install|show|promote|rollback``: the station's registry."""
    model = sub.add_parser("model", help="model packages: signatures (keygen, sign, verify) and the station's registry "
                           "(list, install, show, promote, rollback)")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    keygen = model_sub.add_parser("keygen", help="make an Ed25519 key pair (the private half readable by you only)")
    keygen.add_argument("--out", type=Path, required=True, help="folder for <name>.private.pem and <name>.public.pem")
    keygen.add_argument("--name", required=True, help="key name, for example the signer's role and site")
    sign = model_sub.add_parser("sign", help="sign a package (model.onnx and its model.json) with a private key")
    sign.add_argument("package", type=Path, help="the package's ONNX file")
    sign.add_argument("--key", type=Path, required=True, help="the private key (never needed on the station)")
    sign.add_argument("--signer", required=True, help="who signs, as it will be recorded (for example quality@plant-3)")
    verify = model_sub.add_parser("verify", help="check a package's signature against trusted public keys")
    verify.add_argument("package", type=Path, help="the package's ONNX file")
    verify.add_argument("--trust", type=Path, action="append", help="public key file or folder (repeatable)")
    verify.add_argument("--config", type=Path, help="use the station config's detector.trusted_keys, and say whether its "
                        "pins and record of accepted packages let the slot run this package")
    verify.add_argument("--slot", default="primary", help="with --config: the model slot (primary, additional-N)")
    from inspector.cli.model_registry import add_registry_commands

    add_registry_commands(model_sub)


def run(args: argparse.Namespace) -> int:
    if args.command == "model":
        return _model(args)
    if args.command == "golden":
        from inspector.cli.model_registry import run_golden

        return run_golden(args)
    if args.command == "retrain":
        from inspector.cli.model_registry import run_retrain

        return run_retrain(args)
    started = time.perf_counter()
    if args.command == "dataset":
        code = _dataset_import(args)
    elif args.command == "train":
        code = _train(args)
    elif args.command == "export":
        code = _export(args)
    else:
        code = _evaluate(args)
    name = "dataset import" if args.command == "dataset" else args.command
    print(f"{name} took {time.perf_counter() - started:.1f} s")
    return code


def _model(args: argparse.Namespace) -> int:
    from inspector.cli.model_registry import COMMANDS as REGISTRY_COMMANDS
    from inspector.cli.model_registry import run_registry
    from inspector.engine.model_package import load_model_package
    from inspector.errors import ConfigError
    from inspector.model_signing import generate_key_pair, load_trusted_keys, sign_package, verify_package

    if args.model_command in REGISTRY_COMMANDS:
        return run_registry(args)
    if args.model_command == "keygen":
        private, public = generate_key_pair(args.out, args.name)
        print(f"private key {private} (keep it where packages are signed, never on a station)")
        print(f"public key  {public} (list it in the station's detector.trusted_keys)")
        return 0
    if args.model_command == "sign":
        meta = load_model_package(args.package).metadata  # sign only what loads
        out = sign_package(args.package, args.key, args.signer)
        print(f"signed {meta.label} as {args.signer}: {out}")
        return 0
    keys = [str(k) for k in args.trust or []]
    config = None
    if args.config is not None:
        from inspector.config import load_config

        config = load_config(args.config)
        keys += config.detector.trusted_keys
    if not keys:
        raise ConfigError("--trust", "name a public key (--trust FILE) or a station config (--config) to verify against")
    check = verify_package(args.package, load_trusted_keys(keys))
    meta = load_model_package(args.package).metadata
    print(f"{meta.label}: signature OK, signed by {check.signer!r} with key {check.key_id} ({check.key_path}) "
          f"at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(check.signed_at))}")
    return 0 if config is None else _pinned(config, args.package, args.slot)


class _NoAuditKey:
    """A station without an audit trail yet has accepted nothing: its record cannot exist, nor be checked."""

    def __init__(self, why: str) -> None:
        self.why = why

    def seal(self, purpose: str, data: bytes) -> str:
        from inspector.errors import ModelError

        raise ModelError(f"the station's record of accepted packages cannot be checked: {self.why}")


def _pinned(config, package: Path, slot: str) -> int:
    """What the station's pins and its record of accepted packages say of ``package`` in ``slot`` (exit 1: refused).
    Reads only: the audit trail is opened read-only."""
    from calibration.station import open_audit_trail
    from inspector.errors import ConfigError, InspectorError
    from inspector.model_pins import AcceptedModels, ModelRefused, configured_pins, identify, slot_names

    if slot not in slot_names(config):
        raise ConfigError("--slot", f"no model slot {slot!r} on this station (slots: {', '.join(slot_names(config))})")
    identity = identify(package)
    print(f"package id {identity.package_id} (to pin it: models.pins.{slot})")
    try:
        trail = open_audit_trail(config, readonly=True)
    except InspectorError as err:
        trail = _NoAuditKey(str(err))
    try:
        AcceptedModels.of_station(config, trail).judge(slot, package.resolve(), identity, configured_pins(config).get(slot))
    except ModelRefused as refused:
        print(f"the station would refuse it: {refused}")
        return 1
    finally:
        if not isinstance(trail, _NoAuditKey):
            trail.close()
    print(f"slot {slot} may run it: its pin and the station's version floor allow it (a promoted model is the registry's)")
    return 0


def _dataset_import(args: argparse.Namespace) -> int:
    from inspector.datasets_tool import ImportOptions, import_dataset
    from inspector.datasets_tool.readers import GOOD_FOLDER_NAMES, ReaderOptions

    reader = ReaderOptions(
        classes=tuple(c.strip() for c in args.classes.split(",")) if args.classes else (),
        good_folders=tuple(args.good_folder) if args.good_folder else GOOD_FOLDER_NAMES,
        strip_prefix=args.strip_prefix,
        mask_threshold=args.mask_threshold,
        min_component_px=args.min_component_px,
    )
    options = ImportOptions(
        layout=args.layout, name=args.name, fractions=args.split, seed=args.seed, group_pattern=args.group_pattern,
        keep_source_splits=args.keep_source_splits, reader=reader, replace=args.replace,
    )
    result = import_dataset(args.source, args.out, options)
    print("\n".join(result.lines()))
    return 0


def _train(args: argparse.Namespace) -> int:
    from inspector.training.runs import load_run_config, resume_config, settings_table, train_run

    if args.explain:
        print("\n".join(settings_table(args.explain)))
        return 0

    flags = {k: getattr(args, k) for k in ("family", "data", "run_dir", "model", "imgsz", "epochs", "batch", "device",
                                           "workers", "patience", "seed")}
    if args.resume and args.config is None and args.data is None and args.run_dir:
        config = resume_config(Path(args.run_dir))
    else:
        config = load_run_config(args.config, flags)
    record = train_run(config, resume=args.resume)
    print(f"trained a {record.family} model on {record.dataset['version']} ({record.device}) in "
          f"{record.train_seconds:.0f} s: {record.checkpoint}")
    print(f"next: inspector export --run {config.run_dir} --out <package folder>")
    return 0


def _export(args: argparse.Namespace) -> int:
    from inspector.training.package import LINE_MIN_CONFIDENCE, export_package

    package = export_package(
        args.run, args.out, args.target_false_reject_rate,
        LINE_MIN_CONFIDENCE if args.min_threshold is None else args.min_threshold, args.name, args.version,
    )
    meta = package.metadata
    print(f"model package {meta.label} ({meta.family}): {package.onnx_path} (sha256 {meta.onnx_sha256[:16]}…)")
    thresholds = ", ".join(f"{c} {t:.4f}" for c, t in meta.class_thresholds.items())
    print(f"  dataset {meta.dataset['version']}, thresholds: {thresholds}")
    for split, m in meta.metrics.items():
        print(f"  {split}: false-reject rate {_rate(m['false_reject_rate'])}, escape rate {_rate(m['escape_rate'])}, "
              f"AUROC {_rate(m['auroc'], percent=False)}")
    return 0


def _rate(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f} %" if percent else f"{value:.3f}"


def _evaluate(args: argparse.Namespace) -> int:
    from inspector.training.evaluation_report import evaluate_model

    station = None
    if args.station_config is not None:
        from inspector.config import load_config

        station = load_config(args.station_config).detector
    if args.min_confidence is not None:
        import dataclasses

        from inspector.errors import ConfigError

        if not 0.0 <= args.min_confidence <= 1.0:
            raise ConfigError("detector.families.yolo.min_confidence", f"must lie in [0, 1], got {args.min_confidence}")

        from inspector.config.schema import DetectorConfig

        station = station or DetectorConfig(model=str(args.model))
        families = station.families
        yolo = dataclasses.replace(families.yolo, min_confidence=args.min_confidence)
        station = dataclasses.replace(station, families=dataclasses.replace(families, yolo=yolo))
    result = evaluate_model(args.model, args.data, args.split, args.out, args.target_false_reject_rate, station)
    print(f"{result['model']} on {result['dataset']}/{result['split']}: "
          f"false-reject rate {result['false_reject_rate']:.4f}, escape rate {result['escape_rate']:.4f}, "
          f"AUROC {result['auroc']:.4f}")
    for cls, v in result["per_class"].items():
        print(f"  {cls}: recall {v['recall']:.3f} ({v['images']} images)")
    print(f"report: {args.out / 'report.md'}")
    return 0
