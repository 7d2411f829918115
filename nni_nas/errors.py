"""Every error meant for the user, on one base: :class:`NasError`.

The CLI and the trial entry point catch ``NasError`` (and the OS errors of reading and writing files) and print
its message as one line, without a traceback; anything else is a bug and keeps its traceback. Each class also
derives from the built-in exception it refines (a missing file is a ``FileNotFoundError``, an unknown name a
``KeyError``), so code that catches the built-in one keeps working.

This module imports nothing: the CLI, NNI's dispatcher and the spaces may import it for free.
"""

from __future__ import annotations


class NasError(Exception):
    """A failure with a message meant for the user: it names the bad value and the fix."""


class ConfigError(NasError, ValueError):
    """A config mistake; the message names the key and the fix. ``problems`` holds each mistake found as one line
    (``nni-nas check`` prints one line each; the message joins them)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class InvalidArchError(NasError, ValueError):
    """An architecture dict that does not belong to the space it is used with."""


class UnsupportedSpaceError(NasError, ValueError):
    """A strategy cannot search this space (DARTS needs cells it can relax, ENAS choices it can share)."""


class UnknownNameError(NasError, KeyError):
    """A name (space, data set, strategy) that no registry knows; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; print it plainly
        return str(self.args[0]) if self.args else ""


class UnknownSpaceError(UnknownNameError):
    """A space name that is not registered."""


class UnknownDataError(UnknownNameError):
    """A data set name that is not registered."""


class UnknownStrategyError(UnknownNameError):
    """A strategy (tuner) name or class that nni-nas does not know."""


class DataNotFoundError(NasError, FileNotFoundError):
    """A data set's local files are missing; the message names the option that fixes it."""


class DataFormatError(NasError, ValueError):
    """A data file exists but does not hold what the data set needs (columns, arrays, shapes)."""


class DiskFullError(NasError):
    """The disk that holds an experiment's records is full (or a file-size limit is reached): the message names the
    folder and the fix (:mod:`nni_nas.disk`)."""


class ManagerLostError(NasError):
    """The NNI manager of a running search is gone (killed, out of memory): the message says how to resume.
    ``died``: its process is known to have ended; ``folder``: the experiment's folder, when known."""

    died = False
    folder = None


class NonFiniteError(NasError, FloatingPointError):
    """A loss, reward or result became NaN or infinite; the message says what to lower or check."""


class OutputExistsError(NasError, FileExistsError):
    """An output folder exists already and the user did not ask to replace it."""


class ExportError(NasError, RuntimeError):
    """A network cannot be exported faithfully (source generation, or a format that does not reproduce it)."""


def did_you_mean(name: object, known: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'population_size'?)`` for a misspelt ``name`` close to one of ``known``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_line(err: BaseException) -> str:
    """The error's message on one line."""
    return " ".join(str(err).split())
