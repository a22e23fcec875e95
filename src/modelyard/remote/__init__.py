"""Remote mode of the SDK: the tracking service and artifact transfers over HTTP.

``Client`` uses it when ``tracking.uri`` is an http(s) URL (``modelyard.connect(url)``).
"""

from modelyard.remote._http import HttpSession
from modelyard.remote.artifacts import RemoteArtifacts
from modelyard.remote.tracking import RemoteTracking

__all__ = ["HttpSession", "RemoteArtifacts", "RemoteTracking"]
