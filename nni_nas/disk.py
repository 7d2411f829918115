"""A full disk, named as such wherever a search meets it.

NNI 3.0 does not say it. A manager started on a full disk cannot write its log or its database and dies silently
(nnictl then reports that it did not answer ``check-status``, with a ``requests`` traceback, and leaves an empty
experiment folder); a disk that fills during a search fails the manager's SQLite writes (``SQLITE_FULL``, logged
only) while the trial that hit it may stay RUNNING. nni-nas probes the experiment folder's disk before it starts or
resumes a manager (:func:`disk_problem`), and recognises the two errors a full disk raises (:func:`is_disk_full`):
``ENOSPC`` (no space left) and ``EFBIG`` (over a file-size limit, ``ulimit -f``), which a writer must treat alike.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

# what a manager needs to start (its SQLite database, its logs, the first trial's files) with room to spare
PROBE_BYTES = 1 << 20
FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
FULL_WORDS = ("No space left on device", "File too large", "Disk quota exceeded", "SQLITE_FULL",
              "database or disk is full")


def is_disk_full(err: BaseException | str) -> bool:
    """Whether ``err`` (an exception, or a message) says that a disk or a file-size limit is full."""
    if isinstance(err, OSError) and err.errno in FULL_ERRNOS:
        return True
    text = str(err)
    return any(word in text for word in FULL_WORDS)


def disk_problem(folder: Path, need: int = PROBE_BYTES) -> str | None:
    """Why ``folder`` (an experiment folder's parent; created if missing) cannot hold a search, or None.

    A real write of ``need`` bytes, removed at once: the free space ``statvfs`` reports misses a file-size limit
    (``ulimit -f``) and space reserved for root, which a write meets as NNI's manager would."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".nni-nas-disk-probe-{os.getpid()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"\0" * need)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            probe.unlink(missing_ok=True)
    except OSError as err:
        if not is_disk_full(err):
            return None  # not a full disk: whoever writes there next names it
        return full_disk_message(folder, err)
    return None


def full_disk_message(folder: Path, err: BaseException | str | None = None) -> str:
    """One line: the disk holding ``folder`` is full (or over a file-size limit), and the fix."""
    fix = "raise the limit (ulimit -f unlimited)" if _over_size_limit(err) else "free space there"
    return (f"{full_disk_cause(folder, err)}: NNI's manager and its trials cannot write their records there; {fix}, "
            "or set experimentWorkingDirectory in the config to a folder on another disk")


def full_disk_cause(folder: Path, err: BaseException | str | None = None) -> str:
    """``the disk holding FOLDER is full (N KiB free)``, or the file-size limit, as ``err`` says."""
    if _over_size_limit(err):
        return f"a file in {folder} would exceed this process's file-size limit (`ulimit -f`)"
    return f"the disk holding {folder} is full ({free_text(folder)} free)"


def _over_size_limit(err: BaseException | str | None) -> bool:
    return (isinstance(err, OSError) and err.errno == errno.EFBIG) or "File too large" in str(err or "")


def free_text(folder: Path) -> str:
    """The space left under ``folder`` for this user, like ``12.0 KiB``."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return "no space"
    free = float(stat.f_bavail * stat.f_frsize)
    for unit in ("bytes", "KiB", "MiB"):
        if free < 1024:
            return f"{free:.0f} bytes" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free:.1f} GiB"
