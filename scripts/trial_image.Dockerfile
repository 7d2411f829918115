# The container image a Kubernetes trial of nni-nas runs in (NNI's kubeflow and frameworkcontroller training
# services; docs/kubernetes.md). Build it from the repository root and push it where the cluster pulls from:
#   docker build -f scripts/trial_image.Dockerfile -t registry.example.com/nni-nas:0.1.0 .
#   docker push registry.example.com/nni-nas:0.1.0
# Written, not built here (no container runtime on the machine that wrote it).
FROM python:3.11-slim

# NNI's trial runner starts as `python3 -m nni.tools.trial_tool.trial_runner` after `sh install_nni.sh`, which runs
# `python3 -m pip install --user --upgrade nni` (the newest nni, from the internet) unless `import nni` already
# works: so nni 3.0 and nni-nas are installed into this image's python3, which is also the `python` that
# trialCommand (`python -m nni_nas.trial ...`) runs.
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

WORKDIR /opt/nni-nas
COPY pyproject.toml README.md ./
COPY nni_nas ./nni_nas
COPY model_spaces ./model_spaces
COPY strategies ./strategies
# The same pins as the launching machine (pyproject.toml): trials and tuner must agree on nni and nni-nas versions.
RUN python -m pip install 'setuptools<81' wheel \
 && python -m pip install . \
 && python -c "import nni, nni_nas, strategies, model_spaces; print('nni', nni.__version__, 'nni-nas', nni_nas.__version__)"

# Data sets read from folders (data_args.root, path) must be at the same path in the pod: mount them (a volume of
# the cluster) or copy them into the image here. The embedded digits and pydocs data need nothing.
