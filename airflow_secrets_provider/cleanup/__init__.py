"""What outlives a task: the rules (:mod:`.rules`), the run that applies them (:mod:`.run`), task
states from the metadata DB (:mod:`.states`) and the Airflow listener that triggers it (:mod:`.listener`).
"""
