"""How one architecture is evaluated inside a trial, and what the trial reports.

- :mod:`nni_nas.evaluation.training`: train it with Lightning and measure it (``evaluator: {kind: train}``);
- :mod:`nni_nas.evaluation.classifier`: the Lightning module (cross-entropy, accuracy, the optimiser);
- :mod:`nni_nas.evaluation.metrics`: parameters, FLOPs and latency;
- :mod:`nni_nas.evaluation.tabular`: look it up in a published table instead (``evaluator: {kind: benchmark}``);
- :mod:`nni_nas.evaluation.nni_reporter`: the per-epoch and final results sent to the NNI portal.
"""
