"""Searches spread over "machines" through NNI's real remote training service: OpenSSH servers on 127.0.0.1
(tests/e2e/sshd.py), logging in as a separate unprivileged user whose Python is a venv of its own.

One module fixture starts three small experiments at once, so that NNI's per-machine set-up (SSH, pip, trial keeper,
upload) overlaps, and each checks many claims:

- evolution on machines 1 and 2: trials ran on both machines in the Python ``pythonPath`` names (the launching
  interpreter is not even reachable for that user), every metric reached the REST API, trials read the manager's
  records (stored config, their own parameters) through nniManagerIp, and ``nni-nas top / export / report`` on the
  launching machine see the remote trials completely: run where the remote user's home is hidden (an empty tmpfs
  over it in a private mount namespace), they can only have the files through SSH. The exported formats reproduce
  the network the remote trial trained (its ``model.pt`` on the remote machine) without nni.
- ENAS (one-shot: supernet search, derivation, retraining in one trial) on a machine whose account's ``.bashrc`` puts
  another Python first on PATH (as ``pyenv init`` does; NNI's trial keeper runs the trial command through bash,
  which reads it): the trial runs ``pythonPath``'s Python all the same, ``nni-nas check`` warns about that shell, and
  the same export parity holds for its retrained child, fetched over SSH.
- evolution on machines 1 and 3, where machine 3 is lost (its sshd, its sessions and everything NNI ran there
  killed) while it runs a trial: that trial ends FAILED with a reason naming the machine, the search goes on on
  machine 1, no finished trial is lost, and the finished ones export.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from nni_nas.checks import check_config
from nni_nas.data import load_data
from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, rest_get, stop_experiment, wait_until_finished
from tests.e2e import sshd
from tests.nni_nas.test_export import TOLERANCE, max_diff, rebuild_trained, run_without_nni

pytestmark = pytest.mark.slow

TINY_TRAIN = "{epochs: 1, batch_size: 128, lr: 0.05, seed: 0, latency_runs: 2, threads: 1}"
EVOLUTION = """
experimentName: e2e-remote-evolution
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 2
searchSpace: {{}}
maxTrialNumber: {max_trials}
maxExperimentDuration: 15m
nniManagerIp: {manager_ip}
tuner:
  className: strategies.evolution.RegularizedEvolutionTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [4, 8], max_depth: 2}}
    data: digits
    train: {train}
    population_size: 2
    sample_size: 2
    seed: {seed}
trainingService:
  platform: remote
  machineList:
{machines}
"""

ENAS = """
experimentName: e2e-remote-enas
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 1
maxExperimentDuration: 15m
nniManagerIp: {manager_ip}
tuner:
  className: strategies.enas.EnasTuner
  codeDirectory: .
  classArgs:
    space: enas_micro
    space_args: {{num_nodes: 2, cells_per_stage: 1, channels: 4}}
    data: digits
    train: {train}
    search_epochs: 1
    controller_steps: 2
    controller_batch: 2
    controller_hidden: 8
    derive_samples: 2
    retrain: true
    retrain_epochs: 1
    runs: 1
    seed: 0
trainingService:
  platform: remote
  machineList:
{machines}
"""


def machine_entries(servers: list[sshd.SshServer], python_bin: Path) -> str:
    return "\n".join(f"    - {{host: 127.0.0.1, port: {s.port}, user: {s.user}, sshKeyFile: {s.key_file}, "
                     f"pythonPath: {python_bin}}}" for s in servers)


def manager_address() -> str:
    """A second loopback address, so that trial keepers connect back through the address the manager also listens
    on (NNI_NAS_ALSO_LISTEN), not through the 127.0.0.1 it listens on itself; tests reach 127.0.0.0/8 only."""
    return "127.0.0.2"


@pytest.fixture(scope="module")
def remote_machines():
    """Three "machines": 1 and 2 are shared by the experiments, 3 is the one the machine-lost experiment loses."""
    reason = sshd.missing_requirement()
    if reason:
        pytest.skip(reason)
    sshd.ensure_user()
    python_bin = sshd.ensure_remote_python()
    folder = sshd.new_fixture_dir()
    servers = []
    try:
        servers = [sshd.start_sshd(folder) for _ in range(3)]
        yield servers, python_bin
    finally:
        for server in servers:
            server.stop()
        sshd.remove_dir(folder)


@pytest.fixture(scope="module")
def bashrc_machine(remote_machines):
    """A fourth "machine": an account whose ``~/.bashrc`` puts a Python without nni-nas first on PATH."""
    sshd.ensure_user(sshd.BASHRC_USER)
    python_bin = sshd.ensure_remote_python(sshd.BASHRC_USER)
    shims = sshd.put_other_python_first(sshd.BASHRC_USER)
    folder = sshd.new_fixture_dir()
    server = None
    try:
        server = sshd.start_sshd(folder, user=sshd.BASHRC_USER)
        yield SimpleNamespace(server=server, python_bin=python_bin, shims=shims)
    finally:
        if server is not None:
            server.stop()
        sshd.remove_dir(folder)


class RemoteExperiment:
    """One experiment of the module: started through the real nnictl, waited for, stopped by id."""

    def __init__(self, home: Path, text: str, remote_user: str = sshd.REMOTE_USER):
        self.home, self.remote_user = home, remote_user
        self.env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
        self.config = home / "code" / "search.yml"  # its folder is what NNI uploads to every machine
        self.config.parent.mkdir()
        self.config.write_text(text)
        self.experiment_id, self.port, self.status, self.stopped = "", 0, {}, False

    @property
    def remote_root(self) -> Path:
        return sshd.remote_home(self.remote_user) / "nni-experiments" / self.experiment_id

    @property
    def local_root(self) -> Path:
        return self.home / "nni-experiments" / self.experiment_id

    def start(self) -> None:
        self.port = free_port()
        self.experiment_id = create_experiment(self.config, self.port, env=self.env)

    def wait(self) -> None:
        self.status = wait_until_finished(self.port, timeout=600)

    def stop(self) -> None:
        if self.experiment_id and not self.stopped:
            stop_experiment(self.experiment_id, env=self.env)
            self.stopped = True

    def remove_remote_files(self) -> None:
        if self.experiment_id:
            shutil.rmtree(self.remote_root, ignore_errors=True)

    def jobs(self) -> list[dict]:
        return rest_get(self.port, "trial-jobs")


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, process group, real uid) of every process."""
    table = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                uid = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines()
                           if line.startswith("Uid:"))
                table[int(proc.name)] = (int(fields[1]), int(fields[2]), uid)
            except (OSError, ValueError, IndexError, StopIteration):
                continue
    return table


def lose_machine(server: sshd.SshServer, remote_env: Path) -> list[str]:
    """Take one "machine" away as a power cut would: its sshd with every session it serves, and every process of
    the remote user that NNI runs there for this experiment (the trial keeper's process group and every process
    whose folder is the machine's environment folder). The experiment's warm worker is left alone: on this one host
    it also serves the other machine's trials (its socket is per user and experiment), and a trial forked from it
    ends by itself when its trial process dies. Returns what was killed, for the test's output."""
    uid = pwd.getpwnam(server.user).pw_uid
    keeper_group = int((remote_env / "trial_keeper" / "trial_keeper.pid").read_text().strip())
    table = _processes()
    doomed, frontier = set(), [server.process.pid]
    while frontier:  # the sshd's sessions and everything they started
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        doomed.update(children)
        frontier += children
    for pid, (_, group, owner) in table.items():
        if owner != uid:
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        if group == keeper_group or (cwd.is_relative_to(remote_env) and "nni_nas.runtime.worker" not in
                                     Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")):
            doomed.add(pid)
    doomed -= {os.getpid(), 1}
    killed = []
    for pid in sorted(doomed):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmdline = "?"
        killed.append(f"{pid} {cmdline[:120]}")
    server.stop()
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    return killed


@pytest.fixture(scope="module")
def remote_searches(remote_machines, bashrc_machine, tmp_path_factory):
    """The module's three experiments, started together and run to the end; the machine-lost one loses machine 3
    while machine 3 runs its first trial (``lost.victim``); ENAS runs on the account with the ``.bashrc``. Each
    experiment's trials and metrics are read from its manager, which is then stopped (in the background, while the
    tests run)."""
    servers, python_bin = remote_machines
    one_two, one_three = machine_entries(servers[:2], python_bin), machine_entries([servers[0], servers[2]], python_bin)
    ip = manager_address()
    searches = {
        "evolution": EVOLUTION.format(manager_ip=ip, machines=one_two, max_trials=4, seed=0, train=TINY_TRAIN),
        # one trial is the whole one-shot search: one machine (NNI gives a lone trial to its first machine anyway)
        "enas": ENAS.format(manager_ip=ip, machines=machine_entries([bashrc_machine.server], bashrc_machine.python_bin),
                            train=TINY_TRAIN),
        "lost": EVOLUTION.format(manager_ip=ip, machines=one_three, max_trials=3, seed=1, train=TINY_TRAIN),
    }
    experiments = {name: RemoteExperiment(tmp_path_factory.mktemp(f"remote_{name}"), text,
                                          sshd.BASHRC_USER if name == "enas" else sshd.REMOTE_USER)
                   for name, text in searches.items()}
    pool = ThreadPoolExecutor(len(experiments) + 1)
    try:
        checked = pool.submit(check_config, experiments["evolution"].config)
        experiments["enas"].checked = pool.submit(check_config, experiments["enas"].config)
        for started in [pool.submit(e.start) for e in experiments.values()]:
            started.result()
        lost = experiments["lost"]
        lost.victim = None
        deadline = time.monotonic() + 400
        while lost.victim is None and time.monotonic() < deadline:
            lost.victim = next((j for j in lost.jobs() if j["status"] == "RUNNING"
                                and "/environments/remote-worker2/" in j.get("logPath", "")), None)
            time.sleep(0.5)
        assert lost.victim is not None, f"machine 3 never ran a trial: {lost.jobs()}"
        lost.finished_before = {j["trialJobId"] for j in lost.jobs() if j["status"] == "SUCCEEDED"}
        killed = lose_machine(servers[2], lost.remote_root / "environments" / "remote-worker2")
        print("machine 3 lost; killed:", *killed, sep="\n  ", flush=True)
        assert checked.result() == []  # the machines answer, with nni and nni-nas as here
        experiments["enas"].checked = experiments["enas"].checked.result()
        for experiment in experiments.values():
            experiment.wait()
            experiment.final_jobs = experiment.jobs()
            experiment.metrics = rest_get(experiment.port, "metric-data")
            experiment.fetched_before = (experiment.local_root / "environments").exists()
        stopped = [pool.submit(e.stop) for e in experiments.values()]
        yield experiments
        for stop in stopped:
            stop.result()
    finally:
        for experiment in experiments.values():
            experiment.stop()
            experiment.remove_remote_files()
        pool.shutdown()


CLI_BATCH = """
import contextlib, io, json, os, sys, time
from nni_nas.cli import main
results = []
for home, argv in json.loads(sys.argv[1]):
    os.environ.update(HOME=home, NNI_CONFIG_DIR=os.path.join(home, "nni-config"))
    os.chdir(home)
    out, err, start = io.StringIO(), io.StringIO(), time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    results.append({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                    "seconds": round(time.perf_counter() - start, 1)})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def remote_cli(remote_searches):
    """``nni-nas top / export / report`` of the three experiments, in one Python (imports paid once) in a private
    mount namespace where the remote user's home is an empty tmpfs: a remote trial's files can only come through SSH
    (the sshd processes live outside and still see the real home). Returns {(experiment, verb): result}."""
    evolution, enas, lost = (remote_searches[name] for name in ("evolution", "enas", "lost"))
    calls = {
        ("evolution", "top"): (evolution, ["top", evolution.experiment_id]),
        ("evolution", "export"): (evolution, ["export", evolution.experiment_id, "--out",
                                              str(evolution.home / "exported")]),
        ("evolution", "report"): (evolution, ["report", evolution.experiment_id]),
        ("enas", "export"): (enas, ["export", enas.experiment_id, "--out", str(enas.home / "exported")]),
        ("lost", "top"): (lost, ["top", lost.experiment_id]),
        ("lost", "export"): (lost, ["export", lost.experiment_id, "--top", "2", "--format", "source,weights",
                                    "--out", str(lost.home / "exported")]),
    }
    hide = " && ".join(f"mount -t tmpfs none {home} && test -z \"$(ls -A {home})\""
                       for home in (sshd.remote_home(), sshd.remote_home(sshd.BASHRC_USER)))
    script = f"{hide} && exec {sys.executable} -c \"$1\" \"$2\""
    argument = json.dumps([(str(e.home), argv) for e, argv in calls.values()])
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", CLI_BATCH, argument], env=evolution.env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    print("nni-nas calls, seconds:", [(call, r["seconds"]) for call, r in zip(calls, results, strict=True)])
    return dict(zip(calls, (SimpleNamespace(**r) for r in results), strict=True))



def exported_folders(home: Path) -> list[Path]:
    """The trial folders an export wrote under ``home/exported`` (beside RANKING.md and ranking.json)."""
    return [folder for folder in (home / "exported").iterdir() if folder.is_dir()]

@pytest.fixture(scope="module")
def exported_outputs(remote_searches, remote_cli, tmp_path_factory):
    """Every format the evolution and ENAS exports wrote, run on the digits test set in one subprocess without nni:
    {folder: {format: logits}}."""
    folders = [f for name in ("evolution", "enas") for f in sorted(exported_folders(remote_searches[name].home))
               if remote_cli[(name, "export")].returncode == 0]
    x_test, _ = load_data("digits").test.tensors
    return run_without_nni(tmp_path_factory.mktemp("outputs"), {"test": x_test}, folders)


def test_search_on_two_machines_and_export_of_remote_trials(remote_searches, remote_cli, exported_outputs):
    search = remote_searches["evolution"]
    home, remote_root = search.home, search.remote_root
    assert search.status["status"] in ("DONE", "NO_MORE_TRIAL"), search.status
    jobs = search.final_jobs
    assert len(jobs) == 4 and {job["status"] for job in jobs} == {"SUCCEEDED"}, \
        [(job["trialJobId"], job["status"]) for job in jobs]
    envs = {job["trialJobId"]: job["logPath"].split("/environments/")[1].split("/")[0] for job in jobs}
    assert set(envs.values()) == {"remote-worker1", "remote-worker2"}  # both machines ran trials

    # every metric reached the manager, as in local mode: one per epoch and one final dict per trial
    for job in jobs:
        kinds = sorted(m["type"] for m in search.metrics if m["trialJobId"] == job["trialJobId"])
        assert kinds == ["FINAL", "PERIODICAL"], (job["trialJobId"], kinds)

    # the trials ran on the remote side, as its user, in the pythonPath venv, and reached the manager's records
    for trial_id, env_id in envs.items():
        trial_dir = remote_root / "environments" / env_id / "trials" / trial_id
        assert (trial_dir / "model.pt").is_file() and trial_dir.stat().st_uid != 0
        stderr = (trial_dir / "trial.stderr").read_text()
        assert "could not read" not in stderr and "No module named" not in stderr, stderr[-2000:]
        keeper = json.loads((remote_root / "environments" / env_id / "trial_keeper" /
                             "trial_keeper_config.json").read_text())
        assert keeper["pythonInterpreter"].startswith(str(sshd.remote_home() / "venvs"))
    assert not search.fetched_before  # nothing was here before nni-nas fetched it

    # top, export and report where the remote home is hidden: the files come over SSH
    top, export, report = (remote_cli[("evolution", verb)] for verb in ("top", "export", "report"))
    assert top.returncode == 0 and "warning" not in top.stderr, top.stderr[-2000:]
    assert sum(trial_id in top.stdout for trial_id in envs) == 4, top.stdout
    assert export.returncode == 0, export.stderr[-3000:]
    assert report.returncode == 0 and "4 succeeded" in report.stdout, report.stderr[-2000:]

    # what top fetched from both machines is what the trials saved there, byte for byte
    for trial_id, env_id in envs.items():
        fetched = search.local_root / "environments" / env_id / "trials" / trial_id
        remote_dir = remote_root / "environments" / env_id / "trials" / trial_id
        for name in ("model.pt", "arch.json", "metrics.json"):
            assert (fetched / name).read_bytes() == (remote_dir / name).read_bytes(), (trial_id, name)

    # each exported format reproduces the network the remote trial trained, read from the remote machine itself
    folders = sorted(exported_folders(home))
    assert len(folders) == 1
    x_test, y_test = load_data("digits").test.tensors
    for folder in folders:
        exported = json.loads((folder / "metrics.json").read_text())
        trial_id = exported["trial_id"]
        remote_dir = remote_root / "environments" / envs[trial_id] / "trials" / trial_id
        settings = json.loads((remote_dir / "settings.json").read_text())
        model = rebuild_trained(remote_dir, "digits_cnn", settings["class_args"]["space_args"],
                                tuple(settings["input_shape"]), settings["num_classes"])
        with torch.no_grad():
            reference = model(x_test)
        accuracy = float((reference.argmax(1) == y_test).float().mean())
        assert accuracy == pytest.approx(exported["test_acc"], abs=5e-5)  # what the remote trial reported (4 digits)
        assert set(exported_outputs[folder]) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
        for name, logits in exported_outputs[folder].items():
            assert max_diff(logits["test"], reference) <= TOLERANCE, (folder.name, name)


CHECKED = """
trialCommand: python -m nni_nas.trial --config check.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 1
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [8], max_depth: 1}}
    data: npz
    data_args: {{path: {data}}}
trainingService:
  platform: remote
  machineList:
{machines}
"""


def test_check_names_each_machine_problem_in_one_line(remote_machines, tmp_path):
    import socket

    import numpy as np

    from nni_nas.checks import check_config

    servers, python_bin = remote_machines
    server = servers[0]
    data = tmp_path / "digits.npz"  # under pytest's root-only folder: the remote user cannot see it
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((40, 8, 8)).astype("float32"), y=np.arange(40) % 4)
    silent = socket.socket()  # accepts TCP connections and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    entry = "    - {{host: 127.0.0.1, port: {port}, user: {user}, sshKeyFile: {key}, pythonPath: {python}}}"
    machines = [
        entry.format(port=server.port, user=server.user, key=tmp_path / "no_such_key", python=python_bin),
        entry.format(port=silent.getsockname()[1], user=server.user, key=server.key_file, python=python_bin),
        entry.format(port=server.port, user=server.user, key=server.key_file, python=sshd.ensure_bare_python()),
        entry.format(port=server.port, user=server.user, key=server.key_file,
                     python=sshd.ensure_fake_versions_python()),
        entry.format(port=server.port, user=server.user, key=server.key_file, python=python_bin),
    ]
    config = tmp_path / "check.yml"
    config.write_text(CHECKED.format(data=data, machines="\n".join(machines)))
    try:
        problems = check_config(config)
    finally:
        silent.close()
    print("\n".join(problems))
    assert problems[0].startswith("NNI rejects the config: RemoteMachineConfig: You must either provide password or "
                                  "a valid SSH key file")  # NNI's own schema sees the missing key file, too
    assert problems[1].startswith("nniManagerIp is missing")
    by_machine = {n: [p for p in problems if p.startswith(f"machine {n} ")] for n in range(1, 6)}
    assert len(problems) == 2 + sum(len(lines) for lines in by_machine.values())
    assert by_machine[1] == [f"machine 1 (nninas-remote@127.0.0.1:{server.port}): sshKeyFile "
                             f"{tmp_path / 'no_such_key'} does not exist"]
    [silent_line] = by_machine[2]
    assert "timed out during banner exchange" in silent_line
    assert any("cannot import nni (" in line for line in by_machine[3])
    assert any("cannot import nni_nas (" in line for line in by_machine[3])
    assert any("nni 0.0.1 there, 3.0 here" in line for line in by_machine[4])
    assert any("nni-nas 0.0.1 there, 0.1.0 here" in line for line in by_machine[4])
    assert by_machine[5] == [f"machine 5 (nninas-remote@127.0.0.1:{server.port}): {data} does not exist there; "
                             "trials read their data on the machine they run on"]


def test_one_shot_enas_trial_on_a_remote_machine_exports_its_retrained_network(remote_searches, remote_cli,
                                                                               exported_outputs, bashrc_machine):
    search = remote_searches["enas"]
    assert search.status["status"] in ("DONE", "NO_MORE_TRIAL"), search.status
    [job] = search.final_jobs
    # the account's .bashrc puts a Python without nni-nas first; the trial ran pythonPath's all the same
    assert job["status"] == "SUCCEEDED" and "/environments/remote-worker" in job["logPath"], job
    env_id = job["logPath"].split("/environments/")[1].split("/")[0]
    remote_dir = search.remote_root / "environments" / env_id / "trials" / job["trialJobId"]
    assert "No module named" not in (remote_dir / "trial.stderr").read_text()
    # check warns that this shell would start another Python than pythonPath's for a plain nnictl create
    label = f"{sshd.BASHRC_USER}@127.0.0.1:{bashrc_machine.server.port}"
    assert search.checked == [
        f"warning: machine 1 ({label}): the account's shell starts {bashrc_machine.shims}/python for `python` in "
        f"trial commands, not {bashrc_machine.python_bin}/python: its ~/.bashrc (a `pyenv init` or `conda init`?) "
        "puts another Python first on PATH. nni-nas search and the Python API run trials with pythonPath's Python "
        "anyway; a plain `nnictl create` would not (remove that line there, or start the search with nni-nas "
        "search)"], search.checked
    assert (remote_dir / "search_history.jsonl").is_file() and (remote_dir / "controller.pt").is_file()
    assert remote_dir.stat().st_uid != 0
    assert not search.fetched_before
    export = remote_cli[("enas", "export")]
    assert export.returncode == 0, export.stderr[-3000:]
    [folder] = sorted(exported_folders(search.home))
    exported = json.loads((folder / "metrics.json").read_text())
    assert exported["space"] == "enas_micro" and exported["trial_id"] == job["trialJobId"]
    fetched = search.local_root / "environments" / env_id / "trials" / job["trialJobId"]
    assert (fetched / "model.pt").read_bytes() == (remote_dir / "model.pt").read_bytes()
    # the retrained child as the remote trial saved it, read from the remote machine itself
    settings = json.loads((remote_dir / "settings.json").read_text())
    model = rebuild_trained(remote_dir, settings["class_args"]["space"], exported["space_args"],
                            tuple(settings["input_shape"]), settings["num_classes"])
    x_test, y_test = load_data("digits").test.tensors
    with torch.no_grad():
        reference = model(x_test)
    assert float((reference.argmax(1) == y_test).float().mean()) == pytest.approx(exported["test_acc"], abs=5e-5)
    assert set(exported_outputs[folder]) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
    for name, logits in exported_outputs[folder].items():
        assert max_diff(logits["test"], reference) <= TOLERANCE, name


def test_a_machine_lost_mid_search_fails_its_trial_with_a_reason_and_the_search_goes_on(remote_searches,
                                                                                        remote_machines, remote_cli):
    search = remote_searches["lost"]
    lost_server = remote_machines[0][2]
    victim_id = search.victim["trialJobId"]
    assert search.status["status"] in ("DONE", "NO_MORE_TRIAL"), search.status
    jobs = {job["trialJobId"]: job for job in search.final_jobs}
    print(json.dumps({k: (j["status"], j.get("logPath")) for k, j in jobs.items()}))
    # the trial machine 3 ran ends FAILED (NNI alone: USER_CANCELED, no reason), with a reason naming the machine
    assert jobs[victim_id]["status"] == "FAILED"
    reason = (search.local_root / "environments" / "remote-worker2" / "trials" / victim_id / "error.txt").read_text()
    assert f"machine 2 of the machineList (nninas-remote@127.0.0.1:{lost_server.port}) was lost" in reason, reason
    # the search went on on machine 1, and nothing that had finished was lost
    later = [j for j in jobs.values() if j["trialJobId"] != victim_id and j["trialJobId"] not in search.finished_before
             and int(j["startTime"]) >= int(search.victim["startTime"])]
    assert later and all(j["status"] == "SUCCEEDED" and "/remote-worker1/" in j["logPath"] for j in later), later
    assert all(jobs[t]["status"] == "SUCCEEDED" for t in search.finished_before)
    assert len(jobs) == 3 and sum(j["status"] == "SUCCEEDED" for j in jobs.values()) == 2
    # nni-nas names the lost machine and the trial whose files stayed there; the finished trials export
    top, export = remote_cli[("lost", "top")], remote_cli[("lost", "export")]
    assert top.returncode == 0, top.stderr[-2000:]
    assert f"127.0.0.1:{lost_server.port} cannot be reached over SSH" in top.stderr and victim_id in top.stderr, \
        top.stderr
    assert export.returncode == 0, export.stderr[-2000:]
    exported = {json.loads((folder / "metrics.json").read_text())["trial_id"]
                for folder in exported_folders(search.home)}
    assert exported == {t for t, j in jobs.items() if j["status"] == "SUCCEEDED"}
