"""``python -m nni_nas.manager.nnictl_patient ARGS``: the real nnictl (``nni.tools.nnictl.nnictl.parse_args``), with one
hard-coded limit raised.

NNI 3.0's launcher gives the manager it starts three tries a second apart to answer ``check-status``
(``nni/experiment/launcher.py``, ``_check_rest_server``), then kills it and fails. On a busy machine (measured:
two cores at a load of 14) Node takes longer than that to start, and ``nnictl create`` / ``resume`` fail before
anything ran. Here it gets :data:`MANAGER_START_TRIES` tries (a second apart); everything else is nnictl as installed.
"""

from __future__ import annotations

import os
import sys

MANAGER_START_TRIES = int(os.environ.get("NNI_NAS_MANAGER_START_S", "60"))


def main() -> int:
    from nni.experiment import launcher

    launcher._check_rest_server.__defaults__ = (MANAGER_START_TRIES, None)
    from nni.tools.nnictl.nnictl import parse_args

    sys.argv[0] = "nnictl"
    return parse_args()


if __name__ == "__main__":
    sys.exit(main())
