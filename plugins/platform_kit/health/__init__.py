"""Watch Airflow's health endpoint and alert when a component turns unhealthy or recovers."""
