"""``airflow scheduler`` whose own log masks secrets, as the task log does.

Why: Airflow 3.3's LocalExecutor runs each task's supervisor inside the scheduler with
``subprocess_logs_to_stdout=True``, so every line of task output is written twice: to the task
log, through the masking processor, and to the scheduler's stdout, through the scheduler's
structlog chain, which has no masking processor. The supervisor does know every value the task
registered (the task sends each one over its comms channel before it logs anything), so adding
the task SDK's own ``mask_logs`` processor to the scheduler's chain is enough: the copy in
``scheduler.log`` shows ``***`` like the task log. The stack starts its scheduler through this
module (``python -m devstack.masked_scheduler``); everything else is ``airflow scheduler``.
"""

from __future__ import annotations

import sys
from typing import Any


def add_masking(processors: list[Any], mask: Any) -> list[Any]:
    """``processors`` with ``mask`` just before the last one (the renderer), once."""
    if mask in processors:
        return processors
    return [*processors[:-1], mask, *processors[-1:]]


def main() -> None:
    import structlog
    from airflow.__main__ import main as airflow_main  # importing Airflow configures its logging
    from airflow.sdk.log import mask_logs

    structlog.configure(processors=add_masking(list(structlog.get_config()["processors"]), mask_logs))
    sys.argv = ["airflow", "scheduler", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
