"""Trials that failed through no fault of their architecture: their NNI manager was lost (killed, out of memory), or
the disk filled up. Each writes one line starting with :data:`PREFIX` into ``error.txt`` (and its stderr) instead of
a raw ``requests`` or ``OSError`` message, saying how to resume; on resume the tuner runs such a trial's
architecture again (:meth:`strategies.base.NasTuner.import_data`) instead of counting it as the worst result, and
``nni-nas resume`` adds a trial to the budget for each (:mod:`nni_nas.commands.resume`).

Imports nothing heavy: NNI's dispatcher reads these lines on resume.
"""

from __future__ import annotations

import os

PREFIX = "interrupted: "


def is_interrupted(line: str | None) -> bool:
    """Whether a trial's reason (``error.txt``'s first line) says it was interrupted (its run lost, not failed)."""
    return bool(line) and line.startswith(PREFIX)


def interruption_line(err: BaseException) -> str | None:
    """The one line for a trial that ``err`` interrupted (a full disk, its manager lost), or None for any other
    error. Runs inside an NNI trial: the experiment's id comes from NNI's environment."""
    from nni_nas.disk import is_disk_full

    experiment = os.environ.get("NNI_EXP_ID") or "<experiment id>"
    resume = f"`nni-nas resume {experiment}` runs this trial's architecture again"
    if is_disk_full(err):
        return f"{PREFIX}the disk is full ({_short(err)}); free space there, then {resume}"
    lost = _lost_manager(err)
    if lost:
        return (f"{PREFIX}this trial lost its NNI manager ({lost} does not answer: the manager was killed or stopped) "
                f"while it reported its results; {resume}")
    return None


def _lost_manager(err: BaseException) -> str | None:
    """``host:port`` of this trial's manager when ``err`` is a failed connection to it, else None."""
    from urllib.error import URLError

    from nni_nas.manager.client import manager_url

    try:
        import requests

        connection_errors: tuple[type[BaseException], ...] = (requests.exceptions.ConnectionError,
                                                                ConnectionError, URLError)
    except ImportError:
        connection_errors = (ConnectionError, URLError)
    url = manager_url()
    if url is None or not isinstance(err, connection_errors):
        return None
    address = url.split("://", 1)[-1]
    port = address.rpartition(":")[2]
    return address if port and (f"port={port}" in str(err) or f":{port}" in str(err)) else None


def _short(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__
