"""``python -m nni_nas.trial``: the trial entry point every config names (and NNI's stored experiments keep), so it
stays; the trial itself is :mod:`nni_nas.runtime.trial`."""

import sys

import nni_nas.runtime.trial as _trial

if __name__ == "__main__":
    sys.exit(_trial.main())
sys.modules[__name__] = _trial  # `import nni_nas.trial` is the runtime module itself
