"""Running migrations and aggregations on a Dask cluster: ``pip install 'dynamorm-async[dask]'``.

``DaskRunner(client)`` runs each parallel-scan segment of ``migrate(..., runner=...)`` or of
``.aggregate(..., runner=...)`` as a Dask task (see the "Scaling out" guide). Importing this
module imports nothing from dask; making a runner without the extra raises
:class:`~dynamorm_async.MissingDependency`.
"""

from ._distribute.dask import DaskRunner

__all__ = ["DaskRunner"]
