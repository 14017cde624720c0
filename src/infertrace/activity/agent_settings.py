"""How the coding-agent feed is configured: which prefixes, which attribute keys.

``prefixes`` name the metric and event prefixes read as Claude Code-shaped
(``claude_code``; a tool mirroring the same names under ``opencode`` adds
``opencode``). ``attribute_map`` says which resource or record attribute keys
set a developer's region, division and team: the organisation's
``OTEL_RESOURCE_ATTRIBUTES`` (``department=platform,team.id=infra``) arrive as
such keys on every metric and event (Claude Code's monitoring documentation,
"Multi-team organization support": https://code.claude.com/docs/en/monitoring-usage).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from infertrace.errors import InvalidParameter

FIELDS = ("region", "division", "team")
"""The developer fields an attribute may set."""

DEFAULT_ATTRIBUTE_MAP: Mapping[str, str] = MappingProxyType({
    "region": "region",
    "department": "division",
    "division": "division",
    "team.id": "team",
    "team": "team",
})  # fmt: skip
"""Keys the feed reads without configuration (Claude Code's documentation uses
``department`` and ``team.id`` in its examples)."""

_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*")


def _frozen_map() -> Mapping[str, str]:
    return DEFAULT_ATTRIBUTE_MAP


@dataclass(frozen=True, slots=True)
class AgentFeedSettings:
    """The feed's configuration; checked on construction (InvalidParameter naming
    the bad value). ``max_series`` and ``idle_seconds`` bound the per-series counter
    state (see :mod:`infertrace.activity.agent_counters`)."""

    prefixes: tuple[str, ...] = ("claude_code",)
    attribute_map: Mapping[str, str] = field(default_factory=_frozen_map)
    max_series: int = 65_536
    idle_seconds: float = 6 * 3600.0

    def __post_init__(self) -> None:
        prefixes = self.prefixes
        if isinstance(prefixes, str) or not isinstance(prefixes, Sequence) or not prefixes:
            raise InvalidParameter("prefixes", f"prefixes {prefixes!r} must be a non-empty list")
        for p in prefixes:
            if type(p) is not str or not _PREFIX.fullmatch(p):
                raise InvalidParameter(
                    "prefix", f"prefix {p!r} must be a metric name prefix like claude_code"
                )
        object.__setattr__(self, "prefixes", tuple(dict.fromkeys(prefixes)))
        if not isinstance(self.attribute_map, Mapping):
            raise InvalidParameter(
                "attribute_map", f"attribute_map {self.attribute_map!r} must be a mapping"
            )
        for key, target in self.attribute_map.items():
            if type(key) is not str or not key:
                raise InvalidParameter("attribute_map", f"attribute key {key!r} must be a name")
            if target not in FIELDS:
                raise InvalidParameter(
                    "attribute_map",
                    f"attribute {key!r} maps to {target!r}, not one of {', '.join(FIELDS)}",
                )
        object.__setattr__(self, "attribute_map", MappingProxyType(dict(self.attribute_map)))
        if type(self.max_series) is not int or self.max_series < 1:
            raise InvalidParameter(
                "max_series", f"max_series {self.max_series!r} must be an int >= 1"
            )
        if not isinstance(self.idle_seconds, int | float) or not self.idle_seconds > 0:
            raise InvalidParameter(
                "idle_seconds", f"idle_seconds {self.idle_seconds!r} must be a number > 0"
            )

    @classmethod
    def parse(cls, prefixes: Sequence[str], mappings: Sequence[str]) -> AgentFeedSettings:
        """Settings from command-line or environment text: ``prefixes`` (none: the
        default ``claude_code``) and ``mappings`` like ``department=division``, each
        added to the default map (a key given again takes the new field).
        InvalidParameter names a bad prefix or mapping."""
        chosen = tuple(p.strip() for p in prefixes if p.strip()) or ("claude_code",)
        amap = dict(DEFAULT_ATTRIBUTE_MAP)
        for text in mappings:
            key, sep, target = text.partition("=")
            key, target = key.strip(), target.strip()
            if not sep or not key or target not in FIELDS:
                raise InvalidParameter(
                    "activity_attribute",
                    f"mapping {text!r} must be KEY=FIELD with FIELD one of {', '.join(FIELDS)}",
                )
            amap[key] = target
        return cls(chosen, amap)
