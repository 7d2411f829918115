"""Weight-sharing supernets made from any NNI model space, shared by the one-shot strategies.

:mod:`strategies.supernet.sampling` turns each mutable into a module that runs one *sampled* path (SPOS; the
policy ENAS and ProxylessNAS's binarised paths also need): ``LayerChoice`` and ``InputChoice`` run the chosen
candidate or inputs, ``Repeat`` the chosen depth, ``nni.choice`` widths and kernel sizes of ``MutableLinear`` /
``MutableConv2d`` / ``MutableBatchNorm2d`` / ``MutableLayerNorm`` / ``MutableMultiheadAttention`` a slice of one
shared weight, and a weight-free layer with a searched argument (``MutableDropout``'s rate, an activation's
argument) the layer built with the sampled value.
"""
