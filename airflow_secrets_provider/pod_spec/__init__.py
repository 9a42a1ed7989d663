"""Pod-spec assembly, pure: requests and presets become env vars, volumes, mounts and pull secrets.

One merge rule per field (:mod:`.merge`); conflicting presets are refused, never merged silently.
"""
