"""Shared test configuration: the library's own pytest plugin provides the DynamoDB fixtures,
``tests.spans`` the tracing ones."""

import os

from hypothesis import settings

pytest_plugins = ["dynamorm_async.testing", "tests.spans"]

# CI explores the same examples on every run, so a red build always reproduces; local runs
# keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
