"""Assets the platform-kit DAGs produce, so other DAGs can be scheduled on them."""

from __future__ import annotations

from airflow.sdk import Asset

#: Updated by the backup DAG only after a backup has been uploaded **and verified**. The DB cleanup DAG
#: is scheduled on it, so it never runs after a failed backup.
#: Name only, on purpose: an Asset whose URI has a scheme makes Airflow load every provider's URI
#: handlers at parse time (boto3 and botocore among them), which DAG files must not pay for.
METADB_BACKUP = Asset(name="platform_kit_metadb_backup")
