"""nni-nas: neural architecture search that plugs into Microsoft NNI (glue: configs, data, training, trial,
reporting, metrics, export, CLI)."""

from __future__ import annotations

import warnings

# NNI 3.0 probes every torch.nn class when its layers module is imported and warns about new torch classes it
# does not know (Buffer, LinearCrossEntropyOptions). Harmless; filtered before anything imports NNI.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")

__version__ = "0.1.0"

__all__ = ["ImageClassifier", "SignalClassifier", "TextClassifier", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import nni_nas` (and the CLI's --help) stays light: the classifiers import numpy and, when
    # they search, torch and nni.
    if name in ("ImageClassifier", "TextClassifier"):
        from nni_nas.tasks import classifiers

        return getattr(classifiers, name)
    if name == "SignalClassifier":
        from nni_nas.tasks.signal_classifier import SignalClassifier

        return SignalClassifier
    raise AttributeError(f"module 'nni_nas' has no attribute {name!r}")
