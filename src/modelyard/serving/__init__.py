"""Serving: deployments (a name plus a traffic plan over model versions, kept by the
control plane) and ``modelyard serve``, the inference server that answers for them."""
