"""The query side of InferTrace: REST API, Jaeger API, web UI, and a client for them.

``install_query_api(app)`` adds every query route to a FastAPI app (``infertrace
serve`` installs it on the collector's app); ``ApiClient`` talks to a running
server. The API reads the store from ``app.state.store`` and never imports the
collector.
"""

from infertrace.api.client import ApiClient, ApiError, ExportResult
from infertrace.api.router import install_query_api

__all__ = ["ApiClient", "ApiError", "ExportResult", "install_query_api"]
