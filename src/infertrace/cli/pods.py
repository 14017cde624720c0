"""``infertrace pods``: the pod registry of a running server, as a table.

One row per pod (key, status, providers, address, last seen, error rate,
origin), filtered by service name, model and status. ``--watch`` redraws it
every ``--interval`` seconds until Ctrl-C (or ``--count`` tables). Talks to the
server's REST API like the other query commands (``--url``, ``--token``,
``--json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infertrace.api.client import JSON, ApiClient, ApiError
from infertrace.cli.query import api_options, echo_json, json_option
from infertrace.registry import ServiceStatus

STATUS_STYLES = {
    "healthy": "green",
    "degraded": "yellow",
    "unhealthy": "bold red",
    "draining": "magenta",
    "unknown": "dim",
}
"""The colour of each status in the table."""


def ago(unix_nano: int | None, now_ns: int) -> str:
    """``unix_nano`` as a short age before ``now_ns``: ``4s ago``, ``3m ago``, ``2h ago``."""
    if unix_nano is None:
        return "never"
    seconds = max(0, now_ns - unix_nano) // 1_000_000_000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def rate(value: float | None) -> str:
    """An error rate as a percentage; ``—`` without spans."""
    return "—" if value is None else f"{value * 100:.1f}%"


def address(pod: JSON) -> str:
    """``host:port``, the host alone without a port, ``—`` when unknown."""
    host, port = pod["address"], pod["port"]
    if not host:
        return "—" if not port else f":{port}"
    return f"{host}:{port}" if port else host


def pods_table(doc: JSON, now_ns: int) -> Table:
    """The table of an ``/api/registry/pods`` answer, ages relative to ``now_ns``."""
    table = Table(title=f"{doc['count']} pods", title_justify="left")
    for column in ("Key", "Status", "Providers", "Address", "Last seen", "Error rate", "Origin"):
        justify = "right" if column in ("Last seen", "Error rate") else "left"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for pod in doc["pods"]:
        status = pod["status"]
        table.add_row(
            pod["key"],
            Text(status, style=STATUS_STYLES.get(status, "")),
            ", ".join(pod["providers"]) or "—",
            address(pod),
            ago(pod["last_seen_unix_nano"], now_ns),
            rate(pod["error_rate"]),
            pod["origin"],
        )
    return table


def watch(
    fetch: Callable[[], JSON],
    show: Callable[[JSON], None],
    interval: float,
    count: int | None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Fetch and show every ``interval`` seconds, ``count`` times (None: until Ctrl-C);
    how many were shown. A failing fetch ends the watch with its error."""
    shown = 0
    try:
        while count is None or shown < count:
            show(fetch())
            shown += 1
            if count is None or shown < count:
                sleep(interval)
    except KeyboardInterrupt:
        pass
    return shown


@click.command()
@click.option("--name", help="Only pods of this service.")
@click.option("--model", help="Only pods serving this model.")
@click.option(
    "--status", type=click.Choice([s.value for s in ServiceStatus]), help="Only pods in it."
)
@click.option("--watch", "watching", is_flag=True, help="Redraw every --interval until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between redraws with --watch.",
)
@click.option(
    "--count", type=click.IntRange(min=1), help="With --watch: stop after this many tables."
)
@api_options
@json_option
def pods(
    name: str | None,
    model: str | None,
    status: str | None,
    watching: bool,
    interval: float,
    count: int | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """List the model-serving pods the server's registry knows, with their health."""
    console = Console()

    def show(doc: JSON) -> None:
        if as_json:
            echo_json(doc)
            return
        if watching and console.is_terminal:
            console.clear()
        console.print(pods_table(doc, time.time_ns()))

    try:
        with ApiClient(url, token) as api:

            def fetch() -> JSON:
                return api.pods(name=name, model=model, status=status)

            watch(fetch, show, interval, count if watching else 1)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
