"""How ``fit`` shows progress: a tqdm bar per epoch on a terminal, one summary line per
epoch otherwise (a log file, a pipe, a notebook cell captured to text), or nothing."""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Any, TextIO

from chainrule.train.metrics import TrainError

__all__ = ["Progress", "format_logs", "resolve_mode"]

MODES = ("bar", "line")


def resolve_mode(progress: Any, stream: TextIO | None = None) -> str | None:
    """``True`` -> ``"bar"`` when ``stream`` (default ``sys.stdout``) is a terminal, else
    ``"line"``; ``False``/``None`` -> ``None`` (silent); ``"bar"``/``"line"`` as given."""
    if progress is None or progress is False:
        return None
    if progress is True:
        stream = sys.stdout if stream is None else stream
        try:
            tty = bool(stream.isatty())
        except (AttributeError, ValueError):  # closed or odd streams
            tty = False
        return "bar" if tty else "line"
    if isinstance(progress, str) and progress in MODES:
        return progress
    raise TrainError(f"progress must be True, False, 'bar' or 'line', got {progress!r}")


def _fmt(key: str, value: float) -> str:
    if key == "lr":
        return f"{value:.3g}"
    if math.isnan(value):
        return "nan"
    return f"{value:.4f}"


def format_logs(logs: dict[str, float], skip: tuple[str, ...] = (), short: bool = False) -> str:
    """``"loss 0.1234  accuracy 0.9650  val_loss ..."`` (``short``: ``"loss=0.1234
    acc=0.9650 ..."``, to fit in a progress bar)."""
    if short:
        return " ".join(
            f"{k.replace('accuracy', 'acc')}={_fmt(k, v)}" for k, v in logs.items() if k not in skip
        )
    return "  ".join(f"{k} {_fmt(k, v)}" for k, v in logs.items() if k not in skip)


class Progress:
    """One run's progress display; ``mode`` is ``"bar"``, ``"line"`` or ``None``."""

    def __init__(self, mode: str | None, show_lr: bool = False, stream: TextIO | None = None):
        self.mode = mode
        self.show_lr = show_lr
        self.stream = stream
        self._bar: Any = None
        self._last_postfix = 0.0
        if mode == "bar":
            try:
                import tqdm  # noqa: F401
            except ImportError:  # a required dependency, but never fail a run over a bar
                self.mode = "line"

    def _out(self) -> TextIO:
        return sys.stdout if self.stream is None else self.stream

    def start_epoch(self, epoch: int, epochs: int, batches: int | None) -> None:
        """Epoch ``epoch`` (0-based) of ``epochs`` begins, with ``batches`` batches (None: a
        stream of unknown length)."""
        if self.mode != "bar":
            return
        from tqdm import tqdm

        width = len(str(epochs))
        size = shutil.get_terminal_size((100, 24))  # some ptys report 0x0: tqdm then hides
        self._bar = tqdm(
            total=batches,
            desc=f"epoch {epoch + 1:>{width}}/{epochs}",
            unit="batch",
            leave=True,
            file=self._out(),
            ncols=size.columns,
            nrows=size.lines,
        )
        self._last_postfix = 0.0

    def batch(self, running: dict[str, float]) -> None:
        """One training batch done; ``running`` holds the epoch's averages so far."""
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last_postfix > 0.2:  # formatting every batch would cost more
            self._bar.set_postfix_str(format_logs(running, short=True), refresh=False)
            self._last_postfix = now
        self._bar.update(1)

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        """Epoch ``epoch`` finished with results ``logs`` after ``seconds``."""
        skip = () if self.show_lr else ("lr",)
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs, skip, short=True), refresh=True)
            self._bar.close()
            self._bar = None
        elif self.mode == "line":
            width = len(str(epochs))
            print(
                f"epoch {epoch + 1:>{width}}/{epochs}  {format_logs(logs, skip)}  "
                f"({seconds:.2f} s)",
                file=self._out(),
                flush=True,
            )

    def close(self) -> None:
        """Close a bar left open by an interrupted epoch."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
