"""NNI's own schema messages in nni-nas's words: the key, where it is, and the fix.

NNI 3.0 validates a config with dataclasses and bare ``assert``s, so a user reads its internals:
``ExperimentConfig does not have field(s) maxtrialnumbr`` (the key lower-cased, underscores dropped),
``'dict' object has no attribute 'platform'`` (a trainingService without ``platform``),
``it requires maxTrialDuration is None or utils.parseTime(maxTrialDuration) > 0``. :func:`translate` turns each into
one line; a message it does not know is kept as NNI wrote it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any

# NNI class -> where its fields are in a config (the keys nni-nas looks in for the user's own spelling)
SECTIONS = {"ExperimentConfig": "", "_AlgorithmConfig": "tuner", "AlgorithmConfig": "tuner",
            "CustomAlgorithmConfig": "tuner", "RemoteMachineConfig": "trainingService.machineList[]"}
DURATION_KEYS = ("maxExperimentDuration", "maxTrialDuration")


def translate(message: str, raw: dict[str, Any]) -> str:
    """``message`` (NNI's, already on one line) as nni-nas says it, or unchanged."""
    unknown = re.fullmatch(r"(\w+) does not have field\(s\) (.+)", message)
    if unknown:
        return _unknown_fields(unknown.group(1), [k.strip() for k in unknown.group(2).split(",")], raw)
    if re.fullmatch(r"'(dict|list|str|int|NoneType)' object has no attribute 'platform'", message):
        return _no_platform(raw.get("trainingService"))
    for key in DURATION_KEYS:
        if f"parseTime({key})" in message or (message.startswith("Bad unit in") and key in raw):
            return (f"{key}: {str(raw.get(key))[:80]!r} is not a duration above 0; write a positive number with a unit "
                    f"(d, h, m or s), like {key}: 30m, 2h or 1d")
    return message


def _unknown_fields(class_name: str, reported: list[str], raw: dict[str, Any]) -> str:
    """``maxtrialnumbr`` -> ``maxTrialNumbr: NNI has no such field (did you mean 'maxTrialNumber'?)``."""
    fields = _fields_of(class_name)
    section = SECTIONS.get(class_name, "trainingService")
    lines = []
    for key in reported:
        written = _as_written(key, _section_values(raw, section)) or key
        close = difflib.get_close_matches(_normal(written), [_normal(f) for f in fields], n=1, cutoff=0.7)
        hint = f" (did you mean {next(f for f in fields if _normal(f) == close[0])!r}?)" if close else ""
        where = f"{section}." if section else ""
        lines.append(f"{where}{written}: NNI has no such field{hint}")
    guessed = all("did you mean" in line for line in lines)
    known = f"; NNI's fields there: {', '.join(fields)}" if fields and not guessed else ""
    return "; ".join(lines) + known


def _no_platform(service: Any) -> str:
    if isinstance(service, dict):
        close = difflib.get_close_matches("platform", [str(k) for k in service], n=1, cutoff=0.6)
        what = (f"trainingService.{close[0]}: NNI has no such field (did you mean 'platform'?)" if close else
                f"trainingService has no platform (it holds {', '.join(map(str, service))[:200] or 'nothing'})")
        return f"{what}; use trainingService: {{platform: local}} (or remote, with a machineList)"
    return (f"trainingService must be a mapping with a platform, like trainingService: {{platform: local}}; got "
            f"{type(service).__name__} {str(service)[:80]!r}")


def _fields_of(class_name: str) -> list[str]:
    """The camelCase fields of NNI's config class ``class_name`` (empty if unknown)."""
    import nni.experiment.config as config
    from nni.experiment.config import algorithm

    cls = getattr(config, class_name, None) or getattr(algorithm, class_name, None)
    if cls is None or not dataclasses.is_dataclass(cls):
        return []
    return [_camel(f.name) for f in dataclasses.fields(cls) if not f.name.startswith("_")]


def _section_values(raw: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """The mappings of ``raw`` at ``section`` (``tuner``; ``trainingService.machineList[]``: each machine)."""
    found: list[Any] = [raw]
    for part in filter(None, section.split(".")):
        name, many = part.removesuffix("[]"), part.endswith("[]")
        found = [item.get(name) for item in found if isinstance(item, dict)]
        if many:
            found = [element for item in found if isinstance(item, list) for element in item]
    if section == "tuner":  # the same class reads the assessor and the advisor
        found += [raw.get("assessor"), raw.get("advisor")]
    return [item for item in found if isinstance(item, dict)]


def _as_written(normal_key: str, mappings: list[dict[str, Any]]) -> str | None:
    """The key as the user wrote it, given NNI's normalised form (lower case, no underscores)."""
    for mapping in mappings:
        for key in mapping:
            if _normal(str(key)) == normal_key:
                return str(key)
    return None


def _normal(key: str) -> str:
    return key.replace("_", "").lower()


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
