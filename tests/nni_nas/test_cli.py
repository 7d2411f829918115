"""The command line answers at once: building the parser (and every verb's --help) imports no torch, nni, numpy,
Lightning or matplotlib; --version prints the installed version; the completion scripts complete verbs, flags,
fixed values and experiment ids; the same meaning has one flag name on every verb."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys

import pytest

import nni_nas
from nni_nas.cli import VERBS, build_parser

HEAVY = ("torch", "nni", "numpy", "pytorch_lightning", "lightning", "matplotlib", "sklearn", "model_spaces",
         "strategies")

PROBE = """
import sys
from nni_nas.cli import main
for argv in [["--help"]] + [[verb, "--help"] for verb in {verbs}]:
    try:
        main(argv)
    except SystemExit:
        pass
print("HEAVY:" + ",".join(m for m in {heavy} if m in sys.modules))
"""


def test_help_of_every_verb_imports_nothing_heavy():
    code = PROBE.format(verbs=list(VERBS), heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: nni-nas export" in proc.stdout  # every verb's help was really printed
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_version_is_the_installed_version():
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"nni-nas {importlib.metadata.version('nni-nas')}"
    assert nni_nas.__version__ == importlib.metadata.version("nni-nas")


def test_one_flag_name_per_meaning():
    verbs = {verb: sub for verb, sub in build_parser()._subparsers._group_actions[0].choices.items()}
    # how many of the best: --top everywhere (top's old --k still parses, hidden)
    for verb in ("search", "top", "export", "report"):
        assert "--top" in verbs[verb]._option_string_actions, verb
    assert build_parser().parse_args(["top", "x", "--k", "3"]).top == 3
    assert build_parser().parse_args(["top", "x"]).top == 5
    assert "--k" not in verbs["top"].format_help()
    # an output folder is --out wherever a verb writes one folder of results
    for verb in ("export", "report", "trial"):
        assert "--out" in verbs[verb]._option_string_actions, verb


def _complete(script: str, words: list[str], env: dict | None = None) -> list[str]:
    """COMPREPLY of the bash function for the command line ``words`` (the last word is being completed)."""
    line = " ".join(words)
    driver = (f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
              f"_nni_nas nni-nas {words[-1] or chr(39) * 2} {words[-2]}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    proc = subprocess.run(["bash", "--norc", "-c", driver], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion(tmp_path):
    from nni_nas.commands.completion import completion_script

    script = completion_script(build_parser(), "bash")
    assert set(_complete(script, ["nni-nas", "ex"])) == {"export"}
    assert set(_complete(script, ["nni-nas", "--v"])) == {"--version"}
    assert set(_complete(script, ["nni-nas", "export", "abc", "--fo"])) == {"--format", "--force"}
    assert "--k" not in _complete(script, ["nni-nas", "top", "-"])  # hidden aliases stay hidden
    assert set(_complete(script, ["nni-nas", "export", "x", "--format", "o"])) == {"onnx"}
    assert set(_complete(script, ["nni-nas", "completion", "z"])) == {"zsh"}
    # experiment ids from NNI's records, through the installed nni-nas
    home = tmp_path / "home"
    (home / "nni-experiments").mkdir(parents=True)
    (home / "nni-experiments" / ".experiment").write_text(json.dumps({"abc123": {}, "abd456": {}, "zzz": {}}))
    env = {"HOME": str(home), "PATH": f"{sys.prefix}/bin:/usr/bin:/bin"}
    assert set(_complete(script, ["nni-nas", "report", "ab"], env)) == {"abc123", "abd456"}
    assert set(_complete(script, ["nni-nas", "export", "--force", "z"], env)) == {"zzz"}
    assert _complete(script, ["nni-nas", "export", "--out", "z"], env) == []  # a folder: the shell's files


ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty -b shell zsh -f -i
zpty -w shell 'PS1="%# "; bindkey -e; autoload -U compinit && compinit -u; source "$SCRIPT"; print ${:-RE}ADY'
zpty -r -m shell out "*READY*#*"  # the prompt after the set-up: the line editor reads keys from here on
for i in {1..$#TYPED}; do
  zpty -w -n shell "$TYPED[$i]"$'\t'$'\x01'"print -r -- \${:-DONE}$i "$'\n'
  zpty -r -m shell out "*DONE$i *#*"
  print -r -- "$out"
done
zpty -d shell
"""


def _zsh_complete(script: str, lines: list[str], tmp_path, env: dict) -> list[str]:
    """The command line after TAB for each of ``lines``, typed into a real interactive zsh (driven through zsh's
    own pseudo-terminal module) with compinit and the script loaded: what a user sees."""
    (tmp_path / "nni.zsh").write_text(script)
    (tmp_path / "driver.zsh").write_text(ZSH_DRIVER)
    code = "TYPED=(" + " ".join(f"'{line}'" for line in lines) + f"); export SCRIPT={tmp_path / 'nni.zsh'}; " \
        f"source {tmp_path / 'driver.zsh'}"
    proc = subprocess.run(["zsh", "-f", "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return [re.search(rf"DONE{i} (nni-nas[^\r\n]*)", proc.stdout).group(1).rstrip()
            for i in range(1, len(lines) + 1)]


def test_zsh_completion_in_a_real_zsh(tmp_path):
    """``eval "$(nni-nas completion zsh)"`` after compinit completes verbs, fixed values and experiment ids in zsh
    (through bashcompinit): checked by typing into an interactive zsh, TAB included."""
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "completion", "zsh"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("#compdef nni-nas") and "bashcompinit" in proc.stdout
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed (scripts/test.sh installs it when run as root)")
    home = tmp_path / "home"
    (home / "nni-experiments").mkdir(parents=True)
    (home / "nni-experiments" / ".experiment").write_text(json.dumps({"abc123": {}, "zzz": {}}))
    env = {"HOME": str(home), "PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "TERM": "xterm"}
    completed = _zsh_complete(proc.stdout, ["nni-nas ex", "nni-nas export x --format o", "nni-nas report ab",
                                            "nni-nas completion z"], tmp_path, env)
    assert completed == ["nni-nas export", "nni-nas export x --format onnx", "nni-nas report abc123",
                         "nni-nas completion zsh"]


def test_stop_names_an_unknown_experiment_in_one_line(tmp_path, monkeypatch, capsys):
    from nni_nas.cli import main

    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(tmp_path))
    assert main(["stop", "nosuchid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no experiment 'nosuchid' in" in err and "Traceback" not in err
