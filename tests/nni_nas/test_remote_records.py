"""Where NNI 3.0's remote service records a trial's folder, and how nni-nas maps it to a machine (no SSH here;
tests/e2e/test_remote_nnictl.py fetches for real)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from nni_nas.errors import NasError
from nni_nas.remote import fetch_remote_trials, local_mirror, parse_log_path, ssh_command

LOG_PATH = "127.0.0.1:~/nni-experiments/abc123/environments/remote-worker2/trials/Xy1_z"


def test_remote_log_path_names_the_machine_and_folder():
    remote = parse_log_path(LOG_PATH)
    assert (remote.host, remote.env_id, remote.machine_index) == ("127.0.0.1", "remote-worker2", 1)
    assert remote.path == "~/nni-experiments/abc123/environments/remote-worker2/trials/Xy1_z"
    mirror = Path("/x/abc123/environments/remote-worker2/trials/Xy1_z")
    assert local_mirror(Path("/x/abc123"), remote, "Xy1_z") == mirror
    assert parse_log_path("/home/u/nni-experiments/abc123/environments/local-env/trials/Xy1_z") is None
    assert parse_log_path("127.0.0.1:~/x/environments/remote-worker2/trials/../../etc") is None


def test_a_trial_on_a_machine_the_config_does_not_list_is_reported_not_fetched(tmp_path):
    trial = SimpleNamespace(trial_id="Xy1_z", status="SUCCEEDED", remote=parse_log_path(LOG_PATH),
                            trial_dir=tmp_path / "environments" / "remote-worker2" / "trials" / "Xy1_z")
    config = {"trainingService": {"platform": "remote", "machineList": [{"host": "127.0.0.1", "user": "u"}]}}
    warnings = []
    missing = fetch_remote_trials(tmp_path, config, [trial], warn=warnings.append)
    assert missing == {"Xy1_z": "NNI recorded it on machine 2 (127.0.0.1), but the stored config lists 1 machine(s)"}
    assert warnings == ["1 trial(s): " + missing["Xy1_z"]]


def test_machines_are_reached_with_keys_only_and_never_prompt():
    command = ssh_command({"host": "h", "port": 2222, "user": "u", "sshKeyFile": "/k"}, "true")
    assert command[:3] == ["ssh", "-p", "2222"] and "BatchMode=yes" in command and "ConnectTimeout=5" in command
    assert command[-2:] == ["u@h", "true"] and command[command.index("-i"):command.index("-i") + 2] == ["-i", "/k"]
    with pytest.raises(NasError, match="logs in with a password"):
        ssh_command({"host": "h", "user": "u", "passwd": "secret"}, "true")
