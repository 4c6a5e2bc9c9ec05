"""Bounded logs: every process's messages cut, repeats suppressed, its log file rotated by size.

Each process logs to its stderr. Under the supervisor, stdout and stderr of
a child are its log file ``<log dir>/<name>.log`` (the supervisor reads its
last error line from there), and the supervisor hands the child the file's
name and limits (:func:`child_log_env`). The child then rotates that file
itself when it reaches ``logs.max_mb``: it renames it to ``<name>.log.1``
(shifting older ones up to ``logs.backups``) and points its own stdout and
stderr at a new ``<name>.log``, so its messages and whatever else it writes
there (a traceback, a library's noise) stay within ``(backups + 1) *
max_mb``.

Whatever the destination:

- a message is cut to ``logs.max_message_chars`` (a traceback to four
  times as many): a refused value never fills a disk;
- a message from the same place in the code (file and line) more than
  ``logs.repeats_per_minute`` times in a minute is suppressed, and one line
  says how many were ("suppressed N similar messages").
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from inspector.config.schema import LogsConfig

ENV = "INSPECTOR_LOG"
WINDOW_S = 60.0
FLUSH_EVERY_S = 10.0
MAX_KEYS = 2000  # call sites tracked at once (each a few numbers)

_log_file: Path | None = None


@dataclass(frozen=True)
class LogPlan:
    """What a supervised process is told about its log."""

    file: str = ""  # its stdout/stderr file, rotated by the process ('' = not rotated)
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 3
    repeats_per_minute: int = 20
    max_message_chars: int = 2000

    @classmethod
    def of(cls, logs: LogsConfig, file: Path | str = "") -> "LogPlan":
        return cls(str(file), int(logs.max_mb * 1024 * 1024), logs.backups, logs.repeats_per_minute, logs.max_message_chars)


def child_log_env(logs: LogsConfig, file: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a supervised child whose stdout and stderr are ``file``."""
    return {**(os.environ if base is None else base), ENV: json.dumps(asdict(LogPlan.of(logs, file)))}


def cap_at_spawn(logs: LogsConfig, file: Path) -> None:
    """Rotate ``file`` now if it is past its limit: a child that never configures its logging (a crash at start,
    a program that is not Inspector's) still leaves a bounded log, one limit per start."""
    try:
        if file.stat().st_size <= logs.max_mb * 1024 * 1024:
            return
        if logs.backups == 0:
            os.truncate(file, 0)
            return
        for n in range(logs.backups - 1, 0, -1):
            older = file.with_name(f"{file.name}.{n}")
            if older.exists():
                older.replace(file.with_name(f"{file.name}.{n + 1}"))
        file.replace(file.with_name(f"{file.name}.1"))
    except FileNotFoundError:
        return
    except OSError as err:
        logging.getLogger(__name__).warning("cannot rotate %s: %s", file, err)


def plan_from_env() -> LogPlan:
    """This process's plan from the supervisor (taken out of the environment: its own children do not rotate the
    same file), or the defaults."""
    text = os.environ.pop(ENV, "")
    if not text:
        return LogPlan()
    try:
        return LogPlan(**json.loads(text))
    except (ValueError, TypeError) as err:
        print(f"inspector: ignoring a malformed {ENV}: {err}", file=sys.stderr)
        return LogPlan()


def log_file() -> Path | None:
    """The log file this process rotates (None when it logs to a terminal or a file it was not told about)."""
    return _log_file


def configure_logging(level: int, fmt: str, plan: LogPlan | None = None) -> logging.Handler | None:
    """Log at ``level`` to stderr, bounded as the module's doc says. Like :func:`logging.basicConfig`, it leaves a
    root logger that already has handlers of someone else's alone (a test runner's); returns the handler."""
    global _log_file
    root = logging.getLogger()
    if any(not isinstance(h, _OURS) for h in root.handlers):
        return None
    plan = plan_from_env() if plan is None else plan
    handler: logging.StreamHandler
    if plan.file and _is_stderr(Path(plan.file)):
        handler = RotatingStderrHandler(Path(plan.file), plan.max_bytes, plan.backups)
        _log_file = Path(plan.file)
    else:
        handler = _BoundedStreamHandler(sys.stderr)
    handler.setFormatter(BoundedFormatter(fmt, plan.max_message_chars))
    limiter = RepeatLimiter(plan.repeats_per_minute, handler)
    handler.addFilter(limiter)
    atexit.register(limiter.close)  # what the last minute suppressed is said before logging shuts down
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _is_stderr(path: Path) -> bool:
    try:
        mine, theirs = os.fstat(2), path.stat()
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


class BoundedFormatter(logging.Formatter):
    """Cuts a long message (keeping its start) and a long traceback (keeping its start and its end)."""

    def __init__(self, fmt: str, max_chars: int) -> None:
        super().__init__(fmt)
        self.max_chars = max_chars

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if len(message) > self.max_chars:
            record.message = f"{message[:self.max_chars]}… (+{len(message) - self.max_chars} chars)"
        try:
            return super().formatMessage(record)
        finally:
            record.message = message

    def formatException(self, ei) -> str:
        text = super().formatException(ei)
        limit = 4 * self.max_chars
        if len(text) <= limit:
            return text
        return f"{text[:limit // 4]}\n… ({len(text) - limit} chars cut) …\n{text[-(limit - limit // 4):]}"


class RepeatLimiter(logging.Filter):
    """At most ``per_minute`` messages a minute from one place in the code; then one line saying how many were not
    logged (when the minute is over, checked at each message and every few seconds)."""

    def __init__(self, per_minute: int, handler: logging.Handler) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.handler = handler
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int], list] = {}  # call site -> [window start, count, suppressed, record]
        self._flusher: threading.Thread | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "repeat_summary", False):
            return True
        now = record.created
        key = (record.pathname, record.lineno)
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= WINDOW_S:
                summary = self._summary(window) if window is not None else None
                if len(self._windows) >= MAX_KEYS:
                    self._windows = {k: w for k, w in self._windows.items() if w[2]}  # only those owing a summary
                self._windows[key] = window = [now, 0, 0, record]
            else:
                summary = None
            window[1] += 1
            allowed = window[1] <= self.per_minute
            if not allowed:
                window[2] += 1
                window[3] = record
                self._start_flusher()
        if summary is not None:
            self.handler.handle(summary)
        return allowed

    def flush_due(self, now: float | None = None) -> None:
        """Say what each finished minute suppressed."""
        now = time.time() if now is None else now
        summaries = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if now - window[0] >= WINDOW_S:
                    del self._windows[key]
                    if window[2]:
                        summaries.append(self._summary(window))
        for summary in summaries:
            self.handler.handle(summary)

    def _summary(self, window: list) -> logging.LogRecord | None:
        start, _, suppressed, last = window
        if not suppressed:
            return None
        record = logging.LogRecord(
            last.name, last.levelno, last.pathname, last.lineno,
            "suppressed %d similar messages since %s (from %s:%d); the last: %s",
            (suppressed, time.strftime("%H:%M:%S", time.localtime(start)), Path(last.pathname).name, last.lineno,
             last.getMessage()[:300]), None,
        )
        record.repeat_summary = True
        return record

    def _start_flusher(self) -> None:
        if self._flusher is not None:
            return

        def run() -> None:
            while True:
                time.sleep(FLUSH_EVERY_S)
                self.flush_due()

        self._flusher = threading.Thread(target=run, name="log-repeats", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        self.flush_due(float("inf"))


class _BoundedStreamHandler(logging.StreamHandler):
    """stderr, not rotated (a terminal, journald, a file this process was not told about)."""


class RotatingStderrHandler(logging.StreamHandler):
    """Writes to stderr, which is ``path``; past ``max_bytes`` moves it to ``path.1`` and points stdout and stderr
    at a new ``path``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(sys.stderr)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        try:
            out, err = os.fstat(1), os.fstat(2)
            self._stdout_too = (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)
        except OSError:
            self._stdout_too = False

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        try:
            if os.fstat(2).st_size <= self.max_bytes:
                return
            self.rotate()
        except OSError as err:  # cannot be renamed (the file was removed, say): emptied instead, never unbounded
            try:
                os.ftruncate(2, 0)
                sys.stderr.write(f"log rotation of {self.path} failed ({err}); the log was emptied instead\n")
            except OSError:
                pass

    def rotate(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        if self.backups == 0:
            os.ftruncate(2, 0)  # appending writes go on from the start
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        mode = os.fstat(2).st_mode & 0o777
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
        try:
            os.dup2(fd, 2)
            if self._stdout_too:
                os.dup2(fd, 1)
        finally:
            os.close(fd)


_OURS = (RotatingStderrHandler, _BoundedStreamHandler)
