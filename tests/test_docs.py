"""The documentation cannot rot quietly: every page is in the site's navigation, every relative link and anchor of
README.md and docs/ lands on a file and a heading, every repository path the text names exists, every `nni-nas`
command in its shell examples parses, the Kubernetes configs pass `nni-nas check`, and the site builds with
`mkdocs build --strict` (when the `docs` extra is installed; the `test` extra includes it)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from nni_nas.checks import check_config

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
KUBERNETES_CONFIGS = ["digits_evolution_kubeflow.yml", "digits_evolution_frameworkcontroller.yml"]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
SNIPPET = re.compile(r'^--8<--[ \t]+"([^"]+)"[ \t]*$', re.M)
# a path of this repository named in the text: configs/x.yml, `examples/own_space/`, scripts/docs.sh ...
REPO_PATH = re.compile(r"(?<![\w./<-])((?:configs|examples|scripts|benchmarks|data|tests|docs)/[\w./-]*)")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def page_ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def source(path: Path) -> str:
    """The page as mkdocs reads it: snippets (``--8<-- "file"``, paths from the repository root) included."""
    return SNIPPET.sub(lambda m: (REPO / m.group(1)).read_text(), path.read_text())


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where a ``[x](y)`` or ``# x`` is not markdown."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def nav_files(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in nav_files(value)]
    return [f for item in nav for f in nav_files(item)]


def mkdocs_config() -> dict:
    # mkdocs.yml may hold python tags (!!python/name:...) that safe_load refuses: read only what we need
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)


def markdown_slug(heading: str) -> str:
    """Python-Markdown's ``toc`` anchor (what mkdocs gives a heading)."""
    value = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading of a file it renders (README.md, benchmarks/README.md)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def heading_text(raw: str) -> str:
    """A heading's text as rendered: links become their text, code spans and bold lose their marks."""
    return re.sub(r"[`*]", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw))


def anchors(path: Path) -> set[str]:
    text = source(path) if DOCS in path.parents else path.read_text()
    slug = markdown_slug if DOCS in path.parents else github_slug
    return {slug(heading_text(raw)) for raw in HEADING.findall(FENCE.sub("", text))}


def links(path: Path) -> list[str]:
    text = source(path) if DOCS in path.parents else path.read_text()
    return [target for target in LINK.findall(prose(text)) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


# ------------------------------------------------------------------------------------------------------- navigation
def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    listed = nav_files(mkdocs_config()["nav"])
    on_disk = {str(p.relative_to(DOCS)) for p in pages()}
    assert sorted(on_disk - set(listed)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(listed) - on_disk) == [], "nav entries without a page"
    assert len(listed) == len(set(listed)), "a page listed twice in the nav"


def test_the_site_builds_offline():
    config = mkdocs_config()
    assert config["theme"].get("font") is False, "theme.font: false, or Material fetches Google fonts"
    assert config.get("strict") is True


# ------------------------------------------------------------------------------------------------------- links
@pytest.mark.parametrize("path", [README, *pages()], ids=page_ids([README, *pages()]))
def test_relative_links_and_anchors_resolve(path):
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        target_path = (path.parent / file_part).resolve() if file_part else path
        if not target_path.exists():
            broken.append(f"{target}: no such file")
            continue
        if DOCS in path.parents and DOCS not in target_path.parents:
            broken.append(f"{target}: a page of the site links outside docs/ (mkdocs cannot follow it; name the "
                          "file in code instead)")
            continue
        if target_path.is_dir():
            target_path = target_path / "README.md"
        if anchor and (target_path.suffix != ".md" or anchor not in anchors(target_path)):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    assert broken == []


@pytest.mark.parametrize("path", [README, *pages()], ids=page_ids([README, *pages()]))
def test_repository_paths_named_in_the_text_exist(path):
    named = {m.rstrip(".") for m in REPO_PATH.findall(path.read_text())}
    assert sorted(p for p in named if not (REPO / p).exists()) == []


def test_readme_stays_a_first_visit():
    lines = README.read_text().splitlines()
    assert len(lines) < 150, "README.md is for a first visit: move the detail into docs/"
    text = README.read_text()
    for command in ("bash scripts/quickstart.sh", "bash scripts/test.sh"):
        assert command in text


# ------------------------------------------------------------------------------------------------------- commands
def shell_lines(path: Path) -> list[str]:
    blocks = re.findall(r"^```(?:bash|sh|console)[ \t]*\n(.*?)^```", path.read_text(), re.M | re.S)
    return [line.split(" #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


NNI_NAS_COMMANDS = [(p, line) for p in [README, *pages()] for line in shell_lines(p) if line.startswith("nni-nas ")]


@pytest.mark.parametrize("path, line", NNI_NAS_COMMANDS, ids=[f"{p.name}:{line}" for p, line in NNI_NAS_COMMANDS])
def test_nni_nas_commands_in_examples_parse(path, line):
    from nni_nas.cli import build_parser

    words = shlex.split(line.replace("<experiment id>", "a1b2c3d4"))[1:]
    build_parser().parse_args(words)  # argparse exits (SystemExit) on an unknown verb or flag


def test_scripts_named_in_getting_started_exist():
    scripts = {m for line in shell_lines(DOCS / "getting-started.md") for m in re.findall(r"bash (scripts/\S+)", line)}
    assert scripts and all((REPO / s).is_file() for s in scripts)


# ------------------------------------------------------------------------------------------------------- Kubernetes
@pytest.mark.parametrize("name", KUBERNETES_CONFIGS)
def test_kubernetes_configs_pass_the_check(name):
    path = REPO / "configs" / name
    assert yaml.safe_load(path.read_text())["trainingService"]["platform"] in ("kubeflow", "frameworkcontroller")
    assert check_config(path) == []


# ------------------------------------------------------------------------------------------------------- the build
@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="the docs extra is not installed")
def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # offline: no stylesheet, script or font from another host in any page
    remote = [(page.name, ref) for page in (tmp_path / "site").rglob("*.html")
              for ref in re.findall(r'<(?:link|script)[^>]+(?:href|src)="(https?://[^"]+)"', page.read_text())]
    assert remote == []
    assert (tmp_path / "site" / "reference" / "python" / "index.html").read_text().count("ImageClassifier") > 1
