from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

__all__ = ["SecretTaskOperator"]
