"""Capture-to-detector frame transport: 5-megapixel mono frames (2448x2048 Mono8) through ZeroMQ.

The camera service's own code path is measured: ``send_frame`` (header +
pixel buffer, ``copy=False``) to ``recv_frame`` (the pixels as a NumPy view on
ZeroMQ's message). For each endpoint kind:

- latency: one frame at a time, send to "array in the detector's hands", the
  receiver answering before the next frame is sent;
- throughput: frames sent back to back, counted at the receiver;
- the same with ``copy=True`` sends and ``bytes`` receives, as the baseline a
  copying transport would give.

What shows the buffer is not copied:

- inproc (camera and detector threads in one process): the received array's
  data pointer is the camera's array's data pointer, for every frame: the very
  same memory, no copy anywhere;
- every transport: the received array is a view on the ZeroMQ message (it
  does not own its data), and the receiver allocates no frame-sized Python/NumPy
  memory (``tracemalloc`` peak per frame, against 5 MB with copies);
- tcp/ipc between processes: the kernel socket copy is the only one (the
  sender hands ZeroMQ the array's memory; compare the copy=True baseline).

    .venv/bin/python benchmarks/frame_transport.py --frames 200
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.messages import FrameHeader  # noqa: E402
from inspector.netutil import free_tcp_port  # noqa: E402
from inspector.transport import open_socket, recv_frame, send_frame  # noqa: E402

HEIGHT, WIDTH = 2048, 2448
FRAME_BYTES = HEIGHT * WIDTH


def header(i: int, pixels: np.ndarray) -> FrameHeader:
    address = pixels.__array_interface__["data"][0]
    return FrameHeader("bench", "top", i, i, time.time(), time.time(), HEIGHT, WIDTH, 1, "uint8", "Mono8", f"addr:{address}")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5), 3), "p90": round(pick(0.9), 3), "p99": round(pick(0.99), 3), "max": round(ordered[-1], 3), "mean": round(statistics.fmean(ordered), 3)}


def view_on_zmq_message(pixels: np.ndarray) -> bool:
    """True when the array's memory is a ZeroMQ message's buffer (nothing was copied out of it)."""
    root = pixels
    while isinstance(root, np.ndarray):
        root = root.base
    return isinstance(root, memoryview) and isinstance(root.obj, zmq.Frame) and not pixels.flags.owndata


# -- receiver (a detector stand-in) ---------------------------------------------------------------------


def receive(ctx: zmq.Context, frames_ep: str, results_ep: str, latency_n: int, throughput_n: int, copy: bool) -> None:
    """Take frames like the detector does; report per-frame facts (latency phase) and a summary (throughput)."""
    frames = open_socket(ctx, "pull", frames_ep, bind=False, hwm=4)
    results = open_socket(ctx, "push", results_ep, bind=False)
    try:
        for _ in range(latency_n):
            if copy:
                parts = frames.recv_multipart(copy=True)
                pixels = np.frombuffer(bytearray(parts[2]), np.uint8).reshape(HEIGHT, WIDTH)  # a copying receiver owns its bytes
                hdr = json.loads(parts[1])
                source = hdr["source"]
            else:
                hdr_obj, pixels = recv_frame(frames)
                source = hdr_obj.source
            t = time.time()
            address = pixels.__array_interface__["data"][0]
            results.send_json({"t": t, "same_buffer": source == f"addr:{address}", "zmq_view": view_on_zmq_message(pixels)})
        tracemalloc.start()
        t_first = None
        for _ in range(throughput_n):
            if copy:
                parts = frames.recv_multipart(copy=True)
                pixels = np.frombuffer(bytearray(parts[2]), np.uint8)
            else:
                _, pixels = recv_frame(frames)
            t_first = t_first or time.time()
            del pixels
        t_last = time.time()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results.send_json({"t_first": t_first, "t_last": t_last, "peak_bytes": peak})
    finally:
        frames.close(0)
        results.close(0)


def receive_in_process(frames_ep: str, results_ep: str, latency_n: int, throughput_n: int, copy: bool) -> None:
    ctx = zmq.Context()
    try:
        receive(ctx, frames_ep, results_ep, latency_n, throughput_n, copy)
    finally:
        ctx.term()


# -- sender (the camera service's path) ------------------------------------------------------------------


def run_case(kind: str, copy: bool, latency_n: int, throughput_n: int, tmp: Path) -> dict:
    ctx = zmq.Context()
    if kind == "inproc":
        frames_ep, results_ep = "inproc://frames", "inproc://results"
    elif kind == "ipc":
        frames_ep, results_ep = f"ipc://{tmp}/frames-{copy}", f"ipc://{tmp}/results-{copy}"
    else:
        frames_ep, results_ep = f"tcp://127.0.0.1:{free_tcp_port()}", f"tcp://127.0.0.1:{free_tcp_port()}"
    frames = open_socket(ctx, "push", frames_ep, bind=True, hwm=4)
    results = open_socket(ctx, "pull", results_ep, bind=True)
    args = (frames_ep, results_ep, latency_n, throughput_n, copy)
    if kind == "inproc":
        peer = threading.Thread(target=receive, args=(ctx, *args))
    else:
        peer = multiprocessing.get_context("spawn").Process(target=receive_in_process, args=args)
    peer.start()
    rng = np.random.default_rng(0)
    pool = [np.ascontiguousarray(rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)) for _ in range(4)]
    time.sleep(0.5)

    def send(i: int) -> None:
        pixels = pool[i % len(pool)]
        if copy:
            frames.send_multipart([b"frame", json.dumps({"source": "copied"}).encode(), pixels.tobytes()], copy=True)
        else:
            while not send_frame(frames, header(i, pixels), pixels):
                time.sleep(0.0002)  # receiver's queue full: wait (the line would count a drop)

    latencies, same, views = [], 0, 0
    for i in range(latency_n):
        t0 = time.time()
        send(i)
        reply = results.recv_json()
        latencies.append((reply["t"] - t0) * 1000)
        same += reply["same_buffer"]
        views += reply["zmq_view"]
    t0 = time.time()
    for i in range(throughput_n):
        send(i)
    summary = results.recv_json()
    elapsed = summary["t_last"] - t0
    peer.join(60)
    frames.close(0)
    results.close(0)
    ctx.term()
    return {
        "transport": kind,
        "copy": copy,
        "latency_ms": percentiles(latencies),
        "latency_frames": latency_n,
        "throughput_frames": throughput_n,
        "frames_per_s": round(throughput_n / elapsed, 1),
        "gbytes_per_s": round(throughput_n * FRAME_BYTES / elapsed / 1e9, 2),
        "received_arrays_on_the_senders_buffer": same,
        "received_arrays_viewing_the_zmq_message": views,
        "receiver_python_peak_bytes_during_throughput": summary["peak_bytes"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200, help="throughput frames per zero-copy case (latency and copy baselines use half)")
    parser.add_argument("--transports", default="inproc,ipc,tcp")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "frame_transport")
    args = parser.parse_args()
    cases = []
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        for kind in args.transports.split(","):
            for copy in (False, True):
                n = args.frames if not copy else args.frames // 2
                cases.append(run_case(kind, copy, args.frames // 2, n, Path(tmp)))
                print(json.dumps(cases[-1]), flush=True)
    record = machine_record()
    rows = [
        "# Capture-to-detector frame transport: 5 MP mono frames through ZeroMQ",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}; pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}",
        f"- command: `{record['command']}`",
        f"- frame: {WIDTH}x{HEIGHT} Mono8 = {FRAME_BYTES / 1e6:.2f} MB; path: `send_frame` → `recv_frame` (the camera service's and detector's code)",
        "- latency: one frame in flight (send → array in the receiver's hands); throughput: back to back, measured at the receiver",
        "- inproc: receiver thread in the camera's process; ipc/tcp: receiver in its own process, as the detector is",
        "",
        "| transport | sends | p50 ms | p99 ms | max ms | frames/s | GB/s | received array is the sender's buffer | received array is a view on the ZeroMQ message | receiver heap peak (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lat = c["latency_ms"]
        rows.append(
            f"| {c['transport']} | {'copy' if c['copy'] else 'zero-copy'} | {lat['p50']} | {lat['p99']} | {lat['max']} | {c['frames_per_s']} | {c['gbytes_per_s']} "
            f"| {c['received_arrays_on_the_senders_buffer']}/{c['latency_frames']} | {c['received_arrays_viewing_the_zmq_message']}/{c['latency_frames']} "
            f"| {c['receiver_python_peak_bytes_during_throughput'] / 1e6:.2f} |"
        )
    data = {"machine": record, "frame": f"{WIDTH}x{HEIGHT} Mono8 ({FRAME_BYTES} bytes)", "cases": cases}
    write_result_files(args.out, data, "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
