"""Which process of a several-device trial this is, without importing torch (the trial's thin client asks).

Lightning's DDP launch re-runs the trial command for ranks 1..N-1 with ``LOCAL_RANK`` set (rank 0 sets it to 0 when
it launches them); see :mod:`nni_nas.runtime.distributed` for the rest.
"""

from __future__ import annotations

import os

RUN_PARAMS_ENV = "NNI_NAS_RUN_PARAMS"  # rank 0 hands the tuner's parameters to the ranks it launches


def is_secondary_process() -> bool:
    """True in a process that Lightning's DDP launched for a rank other than 0."""
    return os.environ.get("LOCAL_RANK", "0") not in ("", "0")


class SecondaryRankDone(Exception):
    """Not an error: a DDP rank other than 0 has finished its part of a supernet's training; the trial process of
    that rank ends here, quietly and with exit code 0 (rank 0 goes on alone, see :mod:`nni_nas.runtime.distributed`)."""
