"""Claude Code's OpenTelemetry names, as its monitoring documentation publishes them.

Source: https://code.claude.com/docs/en/monitoring-usage (formerly
https://docs.anthropic.com/en/docs/claude-code/monitoring-usage), sections
"Standard attributes", "Metrics", "Metric details" and "Events". Names are kept
here without the ``claude_code`` prefix, so a tool that mirrors the same shapes
under another prefix (``AgentFeedSettings.prefixes``) is read by the same rules.

What the documentation says and the feed relies on:

- Every metric is a counter (an OTLP sum); Claude Code exports them with *delta*
  temporality unless ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative``.
- Every metric and event carries the standard attributes (``session.id``,
  ``user.email``, ``user.account_uuid`` ...) and the keys of the organisation's
  ``OTEL_RESOURCE_ATTRIBUTES`` (``department``, ``team.id``, ``cost_center``).
- Events are OTLP log records whose *event name* (``claude_code.api_request``) is
  the body; their ``event.name`` attribute holds the short name (``api_request``).
"""

from __future__ import annotations

# -- metrics (section "Metrics") ------------------------------------------------

SESSION_COUNT = "session.count"
"""Count of CLI sessions started (attribute ``start_type``)."""
LINES_OF_CODE = "lines_of_code.count"
"""Count of lines of code modified; attribute ``type`` is ``added`` or ``removed``."""
PULL_REQUEST_COUNT = "pull_request.count"
"""Number of pull requests created."""
COMMIT_COUNT = "commit.count"
"""Number of git commits created."""
COST_USAGE = "cost.usage"
"""Cost of the session in US dollars, per ``model``."""
TOKEN_USAGE = "token.usage"
"""Tokens used, per ``model`` and ``type`` (input, output, cacheRead, cacheCreation)."""
EDIT_DECISION = "code_edit_tool.decision"
"""Edit/Write/NotebookEdit permission decisions: ``tool_name``, ``decision``,
``source``, ``language``."""
ACTIVE_TIME = "active_time.total"
"""Active time in seconds; ``type`` is ``user`` or ``cli``."""

METRICS = frozenset(
    {SESSION_COUNT, LINES_OF_CODE, PULL_REQUEST_COUNT, COMMIT_COUNT, COST_USAGE, TOKEN_USAGE,
     EDIT_DECISION, ACTIVE_TIME}
)  # fmt: skip

# -- events (section "Events"; the body is "<prefix>.<name>") -------------------

USER_PROMPT = "user_prompt"
TOOL_RESULT = "tool_result"
API_REQUEST = "api_request"
"""Attributes ``model``, ``cost_usd``, ``duration_ms``, ``input_tokens``,
``output_tokens``, ``cache_read_tokens``, ``cache_creation_tokens``."""
API_ERROR = "api_error"
TOOL_DECISION = "tool_decision"
"""Attributes ``tool_name``, ``tool_use_id``, ``decision`` (accept/reject), ``source``."""

EVENTS = frozenset({USER_PROMPT, TOOL_RESULT, API_REQUEST, API_ERROR, TOOL_DECISION,
                    "assistant_response", "api_refusal", "permission_mode_changed"})  # fmt: skip
"""Events the feed recognises; each marks activity in its session."""

# -- attributes -----------------------------------------------------------------

SESSION_ID = "session.id"
USER_EMAIL = "user.email"
ACCOUNT_UUID = "user.account_uuid"
ACCOUNT_ID = "user.account_id"
"""The tagged account id (``user_01...``), sent beside ``user.account_uuid``."""
ORGANIZATION_ID = "organization.id"
EVENT_NAME = "event.name"
TYPE = "type"
TOOL_NAME = "tool_name"
TOOL = "tool"
"""Not in the documentation: accepted as a fallback for ``tool_name`` from tools
that mirror the shapes loosely."""
DECISION = "decision"
LANGUAGE = "language"
TOOL_USE_ID = "tool_use_id"
EVENT_SEQUENCE = "event.sequence"
COST_USD = "cost_usd"
INPUT_TOKENS = "input_tokens"
OUTPUT_TOKENS = "output_tokens"

ACCEPT = "accept"
ADDED = "added"
REMOVED = "removed"
INPUT = "input"
OUTPUT = "output"

EDIT_TOOLS = frozenset({"Edit", "Write", "NotebookEdit", "MultiEdit"})
"""The tools whose decisions ``code_edit_tool.decision`` counts (the documentation
names Edit, Write and NotebookEdit; MultiEdit is the multi-hunk Edit of older
versions). A ``tool_decision`` event for any other tool (Read, Bash) is not a
change to code."""


def tool_for(prefix: str) -> str:
    """The tool name sessions and changes carry for a prefix: ``claude_code`` is
    ``claude-code`` (the name git co-author trailers and the generator use)."""
    return prefix.replace("_", "-")
