"""Shared test configuration: the library's own pytest plugin provides the DynamoDB fixtures."""

pytest_plugins = ["dynamorm_async.testing.plugin"]
