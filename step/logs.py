"""The logging set-up of every command line (one format, quiet third-party loggers)."""
from __future__ import annotations

import logging

RUN_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    """INFO (DEBUG with ``verbose``) to stderr as ``HH:MM:SS LEVEL logger: message``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format=RUN_LOG_FORMAT, datefmt="%H:%M:%S")
    for noisy in ("gensim", "matplotlib", "PIL", "fontTools", "numba", "h5py", "cooler", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RunLogBuffer(logging.Handler):
    """Keeps a job's log records (formatted as in ``run.log``) from its start until its run folder
    exists, so that ``run.log`` holds the job from loading its data on (the data's warnings, every
    choice), not only the writing of its outputs. Attached to the root logger for the job's lifetime
    (:meth:`attach` / :meth:`detach`); :meth:`lines` is what was logged so far. It records what the
    root logger passes (the command line's level, INFO by default), from every thread of the job's
    process; a forked helper process (the streaming embedding) logs to the terminal only."""

    def __init__(self, level: int = logging.NOTSET):
        super().__init__(level)
        self.setFormatter(logging.Formatter(RUN_LOG_FORMAT))
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's own lock
        try:
            self._lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted must not break the job
            self.handleError(record)

    def lines(self) -> list[str]:
        self.acquire()
        try:
            return list(self._lines)
        finally:
            self.release()

    def attach(self) -> "RunLogBuffer":
        logging.getLogger().addHandler(self)
        return self

    def detach(self) -> None:
        logging.getLogger().removeHandler(self)


class CollectLines(logging.Handler):
    """A helper process's log records (INFO and above) as ``(logger name, level, message)``, for the
    job's process to log again (:mod:`step.forecasters.seed_pool`, :mod:`step.forecasters.beside`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage()))
