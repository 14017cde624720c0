"""The ``infertrace`` command: one entry point, one subcommand per task.

``serve`` runs the whole server (:mod:`~infertrace.cli.serve`), ``demo`` feeds a
running one with the synthetic workload (:mod:`~infertrace.cli.demo`), ``trace``,
``spans``, ``models``, ``stats`` and ``export`` query its API
(:mod:`~infertrace.cli.query`), ``pods`` lists its pod registry
(:mod:`~infertrace.cli.pods`), ``activity`` its activity database
(:mod:`~infertrace.cli.activity`), ``db`` manages the PostgreSQL schema
(:mod:`~infertrace.cli.db`), ``snapshot`` inspects, verifies and compacts a
data directory (:mod:`~infertrace.cli.snapshot`). The top layer: it may import
every other package, and none imports it.
"""

import click

from infertrace import __version__
from infertrace.cli.activity import activity
from infertrace.cli.db import db
from infertrace.cli.demo import demo
from infertrace.cli.pods import pods
from infertrace.cli.query import COMMANDS as QUERY_COMMANDS
from infertrace.cli.serve import serve
from infertrace.cli.snapshot import snapshot


@click.group()
@click.version_option(__version__, prog_name="infertrace")
def main() -> None:
    """InferTrace: an OpenTelemetry-native collector and store for ML inference telemetry."""


for _command in (serve, demo, *QUERY_COMMANDS, pods, activity, db, snapshot):
    main.add_command(_command)

__all__ = ["main"]
