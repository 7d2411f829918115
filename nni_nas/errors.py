"""The user errors that nni-nas prints as one line (no traceback), and their formatting."""

from __future__ import annotations

from model_spaces import UnknownSpaceError
from nni_nas.arch import InvalidArchError
from nni_nas.config import ConfigError
from nni_nas.data import DataNotFoundError, UnknownDataError
from strategies import UnknownStrategyError


class NasError(RuntimeError):
    """A failure with a message meant for the user (no traceback)."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    NasError, ConfigError, InvalidArchError, DataNotFoundError, UnknownDataError, UnknownSpaceError,
    UnknownStrategyError, FloatingPointError,  # FloatingPointError covers NonFiniteLossError (NaN loss)
)


def one_line(err: BaseException) -> str:
    """The error's message on one line."""
    return " ".join(str(err).split())
