"""User-facing errors.

Anything the user can fix (a bad file, a bad config value) raises a subclass of
:class:`SweepcastError` whose message is one line naming the file, column or config key and
what was expected. The entry point prints that line and exits non-zero without a traceback;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class SweepcastError(Exception):
    """A problem the user can fix; ``str(err)`` is the one-line message shown to them."""


class ConfigError(SweepcastError):
    """A config key holds a value outside what it accepts."""

    def __init__(self, key: str, expected: str, got: object) -> None:
        super().__init__(f"config key '{key}': expected {expected}, got {got!r}")
        self.key = key


class DataError(SweepcastError):
    """An input file (or the data made from it) cannot be used."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (libraries' messages span lines), or its type name."""
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class TrialPruned(Exception):
    """Raised by a job whose sweep trial the pruner stopped; the sweeper records it PRUNED.

    Not a :class:`SweepcastError`: nothing is wrong, the trial was just not promising."""

    def __init__(self, epoch: int, value: float, unit: str = "epoch") -> None:
        super().__init__(f"pruned after {unit} {epoch} ({unit} metric {value:.6g})")
        self.epoch = epoch
        self.value = value


class Terminated(KeyboardInterrupt):
    """A signal (SIGTERM) stopped the job: handled like Ctrl-C, so its MLflow run ends KILLED."""
