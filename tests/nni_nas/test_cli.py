"""The command line answers at once: building the parser (and every verb's --help) imports no torch, nni, numpy,
Lightning or matplotlib; --version prints the installed version; the completion scripts complete verbs, flags,
fixed values and experiment ids; the same meaning has one flag name on every verb."""

from __future__ import annotations

import importlib.metadata
import json
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


def test_zsh_script_is_the_bash_function_through_bashcompinit():
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "completion", "zsh"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("#compdef nni-nas") and "bashcompinit" in proc.stdout
    assert "_nni_nas()" in proc.stdout and "complete -o default -F _nni_nas nni-nas" in proc.stdout
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n"], input=proc.stdout, text=True).returncode == 0
