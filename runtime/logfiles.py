"""The seed's three log files, rotated, plus readable lines on stderr for journald; secrets redacted.

  cleanup-actions.log   every closure attempt: logger "cleanup.actions" (and its children)
  risk-assessments.log  risk monitoring: logger "cleanup.risk"
  errors.log            ERROR and above from every logger (WARNING is routine here: a stale quote, a
                        database restart, so it stays on stderr and in the journal, not in errors.log)
  stderr                INFO and above from every logger, except risk monitoring below WARNING, which
                        would drown the journal (it has its own file)

Every handler carries the RedactSecrets filter, so no file and no journal line shows a password or token,
whatever logger the record came from and whether it is in the message, its arguments or a traceback.
The files (rotated ones too) are created 0600 and a new log_dir 0700, whatever the umask.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from gateways.private_files import create_private_file, private_directory

ACTIONS_LOGGER = "cleanup.actions"
RISK_LOGGER = "cleanup.risk"
ACTIONS_FILE, RISK_FILE, ERRORS_FILE = "cleanup-actions.log", "risk-assessments.log", "errors.log"
MAX_BYTES, BACKUPS = 10 * 1024 * 1024, 10
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"  # journald stamps the time itself
MASK = "******"
_PATTERNS = (
    (re.compile(r"(://[^:/@\s]+):[^@\s]*@"), r"\1:" + MASK + "@"),  # postgresql://user:pw@host
    (re.compile(r"(password\s*=\s*)('[^']*'|[^\s,;)]+)", re.IGNORECASE), r"\1" + MASK),  # password=pw
    (re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"), MASK),  # Telegram bot token 123456:ABC...
)
_INSTALLED = "_cleanup_manager_handler"  # marks our handlers so a second setup replaces, not duplicates


class RedactSecrets(logging.Filter):
    """Rewrites each record with secrets masked: given values (e.g. the DB password) and known shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:  # masking "a" would shred every message
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # formatters use exc_text, now redacted
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _BelowWarningFrom(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._prefix = name + "."
        self._name = name

    def filter(self, record: logging.LogRecord) -> bool:
        noisy = record.name == self._name or record.name.startswith(self._prefix)
        return not (noisy and record.levelno < logging.WARNING)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (redirections and test capture included)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass  # StreamHandler.__init__ assigns a stream; ours is always the current sys.stderr


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """Log lines name the account, its positions and operators' commands: the file is the user's alone."""

    def _open(self):
        create_private_file(Path(self.baseFilename))  # before logging opens it: at start and at each rotation
        return super()._open()


def _file(path: Path, level: int, redact: RedactSecrets) -> logging.Handler:
    handler = _PrivateRotatingFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.addFilter(redact)
    return handler


def setup_logging(log_dir: Path, *, to_stderr: bool = True, secrets: Iterable[str] = (),
                  level: int = logging.INFO) -> RedactSecrets:
    """Install the handlers (replacing ours from an earlier call); returns the filter to add secrets to."""
    log_dir = private_directory(Path(log_dir))
    redact = RedactSecrets(secrets)
    root = logging.getLogger()
    targets = {
        root: [_file(log_dir / ERRORS_FILE, logging.ERROR, redact)],
        logging.getLogger(ACTIONS_LOGGER): [_file(log_dir / ACTIONS_FILE, logging.DEBUG, redact)],
        logging.getLogger(RISK_LOGGER): [_file(log_dir / RISK_FILE, logging.DEBUG, redact)],
    }
    if to_stderr:
        console = _Stderr()
        console.setFormatter(logging.Formatter(STDERR_FORMAT))
        console.addFilter(redact)
        console.addFilter(_BelowWarningFrom(RISK_LOGGER))
        targets[root].append(console)
    for logger, handlers in targets.items():
        for old in [handler for handler in logger.handlers if getattr(handler, _INSTALLED, False)]:
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            setattr(handler, _INSTALLED, True)
            logger.addHandler(handler)
    root.setLevel(level)
    return redact
