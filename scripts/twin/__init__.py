"""The Docker-free twin of the docker compose sandbox, and the throwaway services the tests use.

Everything here is development tooling: it is not part of the installed ``platform_kit`` package.
"""
