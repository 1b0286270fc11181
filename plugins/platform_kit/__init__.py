"""airflow-platform-kit: maintenance DAGs, alerting and examples for Apache Airflow 3.

Importing this package is cheap on purpose: DAG files import it at parse time, so submodules pull in
their heavy dependencies (boto3, google-cloud, psycopg) only inside the functions that need them.
"""

__version__ = "0.1.0"
