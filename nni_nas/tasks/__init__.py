"""AutoKeras-style tasks on NNI's engine: :class:`ImageClassifier` and :class:`TextClassifier`
(:mod:`nni_nas.tasks.classifiers`), :class:`SignalClassifier` (:mod:`nni_nas.tasks.signal_classifier`), all on
:mod:`~nni_nas.tasks.base`; what they accept (:mod:`~nni_nas.tasks.inputs`); their project folder
(:mod:`~nni_nas.tasks.project`)."""

from __future__ import annotations

from nni_nas.tasks.classifiers import ImageClassifier, TextClassifier
from nni_nas.tasks.signal_classifier import SignalClassifier

__all__ = ["ImageClassifier", "SignalClassifier", "TextClassifier"]
