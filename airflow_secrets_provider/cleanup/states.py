"""Task instance states from the Airflow metadata DB, for the cleanup (see :mod:`.cleanup`).

Read where Airflow's own services read them: the scheduler and the API server (the listener in
:mod:`~airflow_secrets_provider.cleanup.listener`) and the ``airflow-secrets cleanup`` command, run where the ``airflow``
CLI works. Task code in Airflow 3 has no ORM access; this module is not for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_secrets_provider.cleanup.rules import TaskKey, TaskStates


def read_task_states(keys: Iterable[TaskKey]) -> TaskStates:
    """The DAGs this Airflow knows, and the state of every task instance of the DAGs in ``keys``.

    Called after the objects were listed: a task instance that starts afterwards creates pods
    this run of the cleanup never saw, so it cannot be mistaken for an ended one.
    """
    from airflow.models.dag import DagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted = {key.dag_id for key in keys}
    with create_session() as session:
        dag_ids = list(session.scalars(select(DagModel.dag_id)))
        # Labels of long or odd ids are hashed by KPO, so match on the label-safe form in Python.
        chosen = [dag_id for dag_id in dag_ids if TaskKey.of(dag_id, "", "").dag_id in wanted]
        rows: list[tuple[str, str, str, int | None, str | None]] = []
        if chosen:
            query = select(
                TaskInstance.dag_id,
                TaskInstance.task_id,
                TaskInstance.run_id,
                TaskInstance.map_index,
                TaskInstance.state,
            ).where(TaskInstance.dag_id.in_(chosen))
            rows = [tuple(row) for row in session.execute(query)]  # type: ignore[misc]
    return TaskStates.build(dag_ids, rows)
