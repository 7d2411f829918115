"""The Pareto front of a finished experiment, any strategy: its succeeded trials that no other succeeded trial
beats on every objective (``nni-nas top --pareto``, ``export --pareto``, ``report``). The sort is the tuner's own
(:mod:`nni_nas.results.pareto`)."""

from __future__ import annotations

from nni_nas.errors import ConfigError, NasError
from nni_nas.results.pareto import (
    DEFAULT_OBJECTIVES,
    Cost,
    Objective,
    check_metrics,
    cost_of,
    pareto_indices,
    parse_objectives,
)
from nni_nas.results.records import ExperimentRecord, TrialRecord


def objectives_for(record: ExperimentRecord, spec: str | None = None) -> tuple[Objective, ...]:
    """The objectives to sort ``record`` by: ``spec`` (``val_acc:max,params:min``) when given, else the ones the
    experiment searched with (a ``NasParetoEvolution`` config's ``objectives``), else val_acc max / params min.
    Every metric must be a key that the experiment's succeeded trials report; a bad one is one :class:`NasError`."""
    try:
        if spec is not None:
            objectives = parse_objectives(spec, "--objectives")
        elif "objectives" in record.class_args:
            objectives = parse_objectives(record.class_args["objectives"], "the experiment's objectives")
        else:
            objectives = DEFAULT_OBJECTIVES
        reported = [key for t in record.succeeded() for key in (t.final or {})]
        if not reported:
            raise NasError(f"experiment {record.experiment_id} has no succeeded trial with a final result yet "
                           f"({record.status_summary()}); no front to show")
        check_metrics(objectives, reported, "--objectives" if spec is not None else "objectives",
                      f"of experiment {record.experiment_id}'s final results")
    except ConfigError as err:
        raise NasError(str(err)) from None
    return objectives


def front_trials(record: ExperimentRecord, objectives: tuple[Objective, ...]) -> list[TrialRecord]:
    """The non-dominated succeeded trials of ``record``, best first by the first objective (ties: the next
    objectives, then submission order). Trials that lack a value for some objective take no part."""
    measured = measured_trials(record, objectives)
    front = [measured[i] for i in pareto_indices([cost for _, cost in measured])]
    return [t for t, _ in sorted(front, key=lambda item: (item[1], item[0].sequence))]


def measured_trials(record: ExperimentRecord, objectives: tuple[Objective, ...]) -> list[tuple[TrialRecord, Cost]]:
    """The succeeded trials that report a finite value for every objective, with their costs."""
    return [(t, cost) for t in record.succeeded() if (cost := cost_of(t.final, objectives)) is not None]


def describe_objectives(objectives: tuple[Objective, ...]) -> str:
    return ", ".join(str(o) for o in objectives)
