"""The query side of InferTrace: REST API, Jaeger API, web UI, and a client for them.

``install_query_api(app)`` adds every query route to a FastAPI app (the
collector's ``create_app`` does this); ``ApiClient`` talks to a running server.
"""

from infertrace.api.client import ApiClient, ApiError, ExportResult
from infertrace.api.router import install_query_api

__all__ = ["ApiClient", "ApiError", "ExportResult", "install_query_api"]
