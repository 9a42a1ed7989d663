"""One DAG-parsing process, as a benchmark sample: ``python -m benchmarks.parse_child FILE``.

Counts network activity from interpreter start (an audit hook on socket connects and name
lookups), imports the DAG file the way a DAG processor does (execute the module), and prints
JSON: seconds spent executing the file, the resident-memory high-water mark before and after,
and the network events seen.
"""

from __future__ import annotations

import sys

_NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg")
_network: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event in _NETWORK_EVENTS:
        _network.append(event)


sys.addaudithook(_audit)

import json  # noqa: E402  (after the hook: imports are part of what is audited)
import resource  # noqa: E402
import runpy  # noqa: E402
import time  # noqa: E402


def main(path: str) -> None:
    # What every DAG file of both kinds imports, so that "file execution" below is the DAG itself.
    import airflow.providers.cncf.kubernetes.operators.pod
    import airflow.sdk  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    namespace = runpy.run_path(path)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dag = namespace["dag"]
    print(
        json.dumps(
            {
                "exec_seconds": elapsed,
                "maxrss_before_kib": before,
                "maxrss_after_kib": after,
                "tasks": len(dag.task_dict),
                "network_events": len(_network),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
