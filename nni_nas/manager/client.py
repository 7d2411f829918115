"""What a running trial asks its NNI manager, over the manager's REST API (the trial's own record, the
experiment's stored config). The manager's address comes from the trial's environment, which NNI sets.

A local trial's ``NNI_TRIAL_COMMAND_CHANNEL`` is the manager itself. A remote trial's is its trial keeper on the
remote machine (which answers 404 to the REST API): the manager's address is the one that keeper was launched
to connect to, ``managerCommandChannel`` in ``<environment>/trial_keeper/launcher_config.json`` beside the trial's
folder (NNI 3.0's ``remote_v3/worker.js`` writes it; the address is the config's ``nniManagerIp``)."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def manager_url() -> str | None:
    """``http://host:port`` of this trial's NNI manager, or None outside an NNI trial."""
    channel = os.environ.get("NNI_TRIAL_COMMAND_CHANNEL", "")
    if os.environ.get("NNI_PLATFORM") == "remote":
        channel = _remote_manager_channel() or ""
    parsed = urllib.parse.urlparse(channel.replace("ws://", "http://", 1).replace("wss://", "https://", 1))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return None
    return f"{parsed.scheme}://{parsed.netloc}"


def _remote_manager_channel() -> str | None:
    output = os.environ.get("NNI_OUTPUT_DIR")
    if not output:
        return None
    launcher = Path(output).parent.parent / "trial_keeper" / "launcher_config.json"
    try:
        channel = json.loads(launcher.read_text()).get("managerCommandChannel")
    except (OSError, ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) else None


def manager_get(path: str, timeout: float = 10.0) -> Any:
    """GET ``/api/v1/nni/<path>`` of this trial's manager as JSON; ``OSError`` or ``ValueError`` when it cannot be
    asked or does not answer with JSON, ``LookupError`` outside an NNI trial."""
    base = manager_url()
    if base is None:
        raise LookupError("not an NNI trial (NNI_TRIAL_COMMAND_CHANNEL is not an http address)")
    with urllib.request.urlopen(f"{base}/api/v1/nni/{path.lstrip('/')}", timeout=timeout) as response:
        return json.loads(response.read())


def stored_experiment_config() -> dict[str, Any]:
    """The experiment config NNI stored at ``nnictl create`` (what ``nnictl resume`` uses too)."""
    profile = manager_get("experiment")
    params = profile.get("params") if isinstance(profile, dict) else None
    if not isinstance(params, dict):
        raise ValueError(f"the manager's experiment profile holds no config: {str(profile)[:200]}")
    return params
