"""The platform at a glance: the "Platform" page in the Airflow UI and the Prometheus metrics endpoint.

Runs in the **api-server** only (the plugin mounts :mod:`platform_kit.status.app` there); task code never
imports this package, so :mod:`platform_kit.status.collect` may read the metadata DB through the ORM.

* :mod:`~platform_kit.status.catalog` - the maintenance DAGs and where each keeps its run summary;
* :mod:`~platform_kit.status.model` - what one reading of the platform holds (plain data);
* :mod:`~platform_kit.status.collect` - that reading from the metadata DB (indexed queries, XCom of the
  handful of runs shown, never a scan);
* :mod:`~platform_kit.status.verdicts` - red/amber/green per DAG and the rule that decided it;
* :mod:`~platform_kit.status.summaries` - each run summary in human terms;
* :mod:`~platform_kit.status.metrics` - the Prometheus exposition (``prometheus-client``);
* :mod:`~platform_kit.status.page` - the HTML page;
* :mod:`~platform_kit.status.app` - the FastAPI app: routes, authentication and authorization.
"""

#: Where the plugin mounts the app on the api-server: the page is ``/platform-kit/``, the metrics
#: ``/platform-kit/metrics``.
URL_PREFIX = "/platform-kit"
