"""The trial's side of the warm worker trusts only a socket folder that is this user's alone."""

from __future__ import annotations

import os

import pytest

from nni_nas.runtime import worker_client


def test_a_new_folder_is_private(tmp_path):
    folder = tmp_path / "sockets"
    assert worker_client.private_folder(folder) is None
    assert (os.stat(folder).st_mode & 0o777) == 0o700


def test_a_folder_others_can_enter_or_a_symlink_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    assert "can be entered by other users (mode 777" in worker_client.private_folder(shared)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    assert "is not a plain folder" in worker_client.private_folder(link)


def test_an_unsafe_folder_means_no_worker_and_one_warning(tmp_path, monkeypatch, capsys):
    runtime = tmp_path / "run"
    runtime.mkdir()
    (runtime / "nni-nas").mkdir(mode=0o755)
    os.chmod(runtime / "nni-nas", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("NNI_EXP_ID", "abc123")
    monkeypatch.delenv("NNI_NAS_WORKER", raising=False)
    assert worker_client.socket_path("abc123").parent == runtime / "nni-nas"
    assert worker_client.run_via_worker(["--config", "x.yml"]) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not using the warm worker" in err and "mode 755" in err


def test_a_killed_training_process_is_named_and_a_living_worker_is_not_said_to_have_died():
    import subprocess

    alive = worker_client.what_died(os.getpid(), 4242)
    assert alive.startswith(f"the trial's training process (pid 4242, forked from the warm worker (pid {os.getpid()}))")
    assert "is still running" in alive
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert f"the warm worker (pid {gone.pid}) has ended too" in worker_client.what_died(gone.pid, 4242)
    assert worker_client.what_died(gone.pid, None).startswith(f"the warm worker (pid {gone.pid}) ended before it "
                                                              "started this trial's training process")


@pytest.mark.parametrize("argv_extra, env_worker, via_worker", [
    ([], None, True),  # under NNI a trial goes to the warm worker by default
    (["--no-worker"], None, False),  # README: `--no-worker` switches it off ...
    ([], "0", False),  # ... and so does NNI_NAS_WORKER=0
])
def test_no_worker_runs_the_trial_in_its_own_process(tmp_path, monkeypatch, capsys, argv_extra, env_worker,
                                                     via_worker):
    from nni_nas.runtime import trial

    monkeypatch.chdir(tmp_path)  # NNI's trial runtime opens trial.log in the working folder
    monkeypatch.setenv("NNI_PLATFORM", "local")  # as nnictl starts a trial
    monkeypatch.setenv("NNI_EXP_ID", "abc123")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    if env_worker is None:
        monkeypatch.delenv("NNI_NAS_WORKER", raising=False)
    else:
        monkeypatch.setenv("NNI_NAS_WORKER", env_worker)
    handed = []

    def connect(path):  # where the client would reach (or start) the worker: record it instead
        handed.append(path)
        return None

    monkeypatch.setattr(worker_client, "_connect_or_spawn", connect)
    code = trial.main(["--config", str(tmp_path / "missing.yml"), *argv_extra])
    assert code == 2 and "missing.yml" in capsys.readouterr().err  # then ran here, and failed on the config
    assert handed == ([worker_client.socket_path("abc123")] if via_worker else [])
