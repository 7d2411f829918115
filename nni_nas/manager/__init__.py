"""The NNI manager glue: nnictl with patient starts (:mod:`.nnictl`, :mod:`.nnictl_patient`), the Node preloads
nni-nas gives NNI's manager (loopback-only listening, a patient tuner start, a lost remote machine's trials failed
with a reason, the portal's icon font served offline) and that font's fetch at install (:mod:`.portal_icons`), and
what a running trial asks its manager (:mod:`.client`)."""
