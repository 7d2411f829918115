"""Replacing an exported folder by a new one without a moment where the target is missing or half written.

On Linux (3.15+, on the file systems that support it: ext4, xfs, btrfs, tmpfs, ...) ``renameat2`` with
``RENAME_EXCHANGE`` swaps two paths in one step, so a reader always finds either the old folder or the new one.
Where the kernel or file system lacks it, the old folder is renamed aside, the new one renamed in, and the old one
put back if that second step fails: a window of two renames with no target, but never a lost export.
(``benchmarks/folder_swap.py`` measures both: missing-target observations and time per swap.)
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


def replace_folder(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target``; an existing ``target`` is deleted only once ``new`` is in its place.
    On failure the old ``target`` is left as it was and ``new`` is removed by the caller."""
    if not target.exists():
        new.rename(target)
        return
    if exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now names the old folder
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)  # put the old export back before reporting the failure
        raise
    shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; False where the system cannot (then nothing happened)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2  # glibc 2.28+
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function
