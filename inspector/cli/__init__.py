"""The ``inspector`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from inspector.cli import alarms as alarms_cli
from inspector.cli import calibration as calibration_cli
from inspector.cli import install as install_cli
from inspector.cli import model_tools as model_tools_cli
from inspector.cli import opcua as opcua_cli
from inspector.cli import report as report_cli
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import EXIT_REFUSED, ConfigError, InspectorError
from inspector.service_registry import SERVICE_NAMES

log = logging.getLogger("inspector")


def _setup_logging(verbose: bool, service: str = "", quiet: bool = False) -> None:
    """Log to stderr, bounded (inspector.service_logs: long messages cut, repeats suppressed, a supervised
    process's log rotated); ``quiet`` (the demo's live status line) shows warnings and errors only."""
    from inspector.service_logs import configure_logging

    label = f" {service}" if service else ""
    configure_logging(
        logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        f"%(asctime)s %(levelname)s{label} %(name)s: %(message)s",
    )
    logging.getLogger("pycomm3").setLevel(logging.WARNING)  # it logs every request at INFO


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspector", description="Machine-vision quality inspection for a production line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run and supervise the whole line from one station config")
    run.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    run.add_argument("--log-dir", type=Path, help="service logs (default: 'logs' beside the database)")
    run.add_argument("--hmi", action="store_true",
                     help="also run the operator HMI, restarted when it dies or freezes (as supervisor.hmi: run)")

    service = sub.add_parser("service", help="run one service in this process")
    service.add_argument("name", choices=SERVICE_NAMES)
    service.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    service.add_argument("--camera", help="camera service: which camera (default: the first)")
    service.add_argument("--instance", default="", help="detector service: instance name")

    demo = sub.add_parser("demo", help="the full line on its embedded defaults, headless")
    demo.add_argument("--parts", type=int, default=0, help="stop after this many parts and print a summary")
    demo.add_argument("--rate", type=float, help="parts per second (default: the config's)")
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="station config to start from")
    demo.add_argument("--data-dir", type=Path, default=Path.home() / ".local/share/inspector/demo", help="where runs are stored")
    demo.add_argument("--no-hmi", action="store_true", help="do not open the HMI even when a display is present")

    from hmi.cli import add_hmi_commands

    add_hmi_commands(sub)

    check = sub.add_parser("config", help="validate a station config and print it resolved")
    check.add_argument("file", type=Path, nargs="?", default=DEFAULT_CONFIG)

    keys = sub.add_parser("keys", help="the station's line keys (ZeroMQ CURVE): make them once at install")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    for name, text in (("init", "make every missing key pair (never overwrites one)"), ("list", "list the key pairs and their public keys")):
        p = keys_sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True, help="station config (YAML): its security.keys_dir")

    fleet = sub.add_parser("fleet", help="stations publishing to one MQTT broker (plant.mqtt)")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    status = fleet_sub.add_parser("status", help="each station's retained state and counts, as a table")
    status.add_argument("--broker", required=True, help="HOST[:PORT] of the broker (port 1883 by default)")
    status.add_argument("--path", default="", help="only stations under these topic levels (for example 'acme/plant1')")
    status.add_argument("--wait", type=float, default=3.0, help="longest wait for the broker's retained messages (seconds)")
    status.add_argument("--username", help="user name for the broker")
    status.add_argument("--password-file", type=Path, help="file holding the broker password")
    status.add_argument("--ca-file", help="TLS: CA certificate of the broker")
    status.add_argument("--cert-file", help="TLS: client certificate")
    status.add_argument("--key-file", help="TLS: client certificate's key")

    plc = sub.add_parser("plc", help="PLC tools")
    plc_sub = plc.add_subparsers(dest="plc_command", required=True)
    probe = plc_sub.add_parser(
        "probe", help="identity, every configured tag written and read back (alone and together), write latency",
        description="Checks every configured PLC tag: on the controller with its type, read, written back alone and "
        "together with the others, read back; names each tag the PLC refuses (exit code 1). Every write carries the "
        "value the tag already holds, so the sequence tag does not change and the PLC latches nothing new. If "
        "Inspector is writing the tags (its sequence or heartbeat changes while watched for about a second), the "
        "probe only reads: stop the actuator to test the writes.",
    )
    probe.add_argument("--config", type=Path, required=True, help="station config (YAML)")
    probe.add_argument("--writes", type=int, default=50,
                       help="decision-shaped writes to time (part id, result, sequence with their current values)")

    from inspector.cli.camera import add_camera_parser

    add_camera_parser(sub)

    from inspector.cli.bench import add_bench_parser

    add_bench_parser(sub)

    model = sub.add_parser("retrain-default-model", help="regenerate the synthetic data and retrain a bundled model")
    model.add_argument("--work-dir", type=Path, required=True, help="dataset and training runs go here")
    model.add_argument("--out", type=Path, required=True, help="folder for model.onnx and model.json")
    model.add_argument("--family", choices=["yolo", "anomaly"], default="yolo",
                       help="yolo: the default detector (about an hour); anomaly: the anomaly model from good parts (minutes)")
    model.add_argument("--epochs", type=int, default=22, help="yolo: training epochs")
    model.add_argument("--resume", action="store_true", help="continue an interrupted training run")
    calibration_cli.add_parsers(sub)
    model_tools_cli.add_parsers(sub)
    report_cli.add_parsers(sub)
    opcua_cli.add_parsers(sub)
    alarms_cli.add_parsers(sub)
    install_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose, args.name if args.command == "service" else "", quiet=args.command == "demo")
    try:
        return _dispatch(args)
    except InspectorError as err:  # said once, on stderr (a service's stderr is its log)
        print(f"inspector: error: {err}", file=sys.stderr)
        return EXIT_REFUSED


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "service":
        from inspector.services.factory import make_service

        make_service(args.name, load_config(args.config), camera=args.camera, instance=args.instance).run()
        return 0
    if args.command == "run":
        from inspector.supervisor import Supervisor

        config = load_config(args.config)
        if args.hmi:
            config = dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, hmi="run"))
        log_dir = args.log_dir or Path(config.recorder.database).parent / "logs"
        Supervisor(config, args.config, log_dir).run()
        return 0
    if args.command == "demo":
        from hmi.cli import NO_DISPLAY_HELP, display_problem
        from inspector.cli.demo import run_demo

        # the HMI opens beside the demo when a display is there; a display named but unusable is said, not lost
        wants_window = not args.no_hmi and bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        problem = display_problem() if wants_window else ""
        if problem:
            print(f"inspector demo: no HMI: {problem}; {NO_DISPLAY_HELP}", file=sys.stderr)
        return run_demo(args.config, args.data_dir, args.parts, args.rate, hmi=wants_window and not problem)
    if args.command == "hmi":
        from hmi.cli import run_hmi_command

        return run_hmi_command(args)
    if args.command == "config":
        import yaml

        from inspector.typed import to_dict

        config = load_config(args.file)
        print(yaml.safe_dump(to_dict(config), sort_keys=False))
        print("# the line's endpoints, resolved (transport: null = a socket file in the owner-only transport.ipc_dir):")
        for name, where in config.transport.endpoints(config.station.state_dir).items():
            print(f"#   {name}: {where}")
        return 0
    if args.command == "keys":
        from inspector.line_keys import IDENTITIES, OPTIONAL_IDENTITIES, has_keys, init_keys, public_key

        config = load_config(args.config)
        keys_dir = Path(config.security.keys_dir)
        if args.keys_command == "init":
            made = init_keys(keys_dir)
            print(f"line keys in {keys_dir}: made {', '.join(made) if made else 'none (all present)'}")
        else:
            for identity in IDENTITIES:
                if identity in OPTIONAL_IDENTITIES and not has_keys(keys_dir, identity):
                    print(f"{identity:<11} (none yet: 'inspector keys init' makes it)")
                    continue
                print(f"{identity:<11} {public_key(keys_dir, identity).decode()}")
        if not config.security.curve:
            print("note: security.curve is off in this config: the line does not use these keys")
        return 0
    if args.command == "fleet":
        from inspector.plant.fleet import fleet_table, parse_broker, read_fleet

        host, port = parse_broker(args.broker)
        try:
            password = args.password_file.read_text().strip() if args.password_file else None
        except OSError as err:
            raise ConfigError("--password-file", f"cannot read {args.password_file}: {err.strerror}") from err
        snapshot = read_fleet(host, port, args.path, args.wait, username=args.username, password=password,
                              ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
        print("\n".join(fleet_table(snapshot)))
        return 0
    if args.command == "plc":
        from plc_io.probe import probe

        report = probe(load_config(args.config).plc, writes=args.writes)
        print("\n".join(report.lines()))
        return 0 if report.ok else 1
    if args.command == "bench":
        from inspector.cli.bench import run_bench

        return run_bench(args)
    if args.command == "camera":
        from inspector.cli.camera import run_camera

        return run_camera(args)
    if args.command == "retrain-default-model":
        from inspector.training.default_model import retrain_default_model

        retrain_default_model(args.work_dir, args.out, family=args.family, epochs=args.epochs, resume=args.resume)
        return 0
    if args.command in calibration_cli.COMMANDS:
        return calibration_cli.run(args)
    if args.command in model_tools_cli.COMMANDS:
        return model_tools_cli.run(args)
    if args.command in report_cli.COMMANDS:
        return report_cli.run(args)
    if args.command in opcua_cli.COMMANDS:
        return opcua_cli.run(args)
    if args.command in alarms_cli.COMMANDS:
        return alarms_cli.run(args)
    if args.command in install_cli.COMMANDS:
        return install_cli.run(args)
    raise AssertionError(args.command)
