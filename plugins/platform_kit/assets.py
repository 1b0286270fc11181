"""Assets the platform-kit DAGs produce, so other DAGs can be scheduled on them."""

from __future__ import annotations

from airflow.sdk import Asset

#: Updated by the backup DAG only after a backup has been uploaded **and verified**. The DB cleanup DAG
#: is scheduled on it, so it never runs after a failed backup.
METADB_BACKUP = Asset(name="platform_kit_metadb_backup", uri="platform-kit://metadb/backup")
