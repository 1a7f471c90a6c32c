"""Table options: every key, its default and its validation, in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from lamina.errors import InvalidArgumentError

MergeEngine = Literal["deduplicate", "partial_update", "aggregate", "first_row"]
MERGE_ENGINES = ("deduplicate", "partial_update", "aggregate", "first_row")
AGGREGATE_FUNCTIONS = (
    "sum", "min", "max", "count", "last_value", "last_non_null", "first_value",
    "first_non_null", "bool_and", "bool_or", "collect_list",
)  # fmt: skip

# key -> (default, parser or (low, high) for an integer, description). The integer bounds
# keep a table openable (a schema with 10**30 retries would be refused as corrupt when
# read back) and refuse values that make no sense; they are checked at create_table.
_OPTIONS: dict[str, tuple[str, Any, str]] = {
    "target_file_size": ("134217728", (1, 1 << 40), "bytes per data file written (about)"),
    "commit.max_retries": ("100", (1, 100_000), "attempts before CommitConflictError"),
    "write.sync": ("true", "bool", "fsync data, manifests and snapshots before a commit returns"),
    "compaction.max_size_amplification_percent": (
        "200",
        (1, 1_000_000),
        "full compaction when the newer runs add more than this % of the oldest run's size",
    ),
    "compaction.size_ratio": (
        "1",
        (0, 1_000_000),
        "merge newer runs while each is within this % in size",
    ),
    "compaction.num_sorted_run_trigger": ("5", (1, 10_000), "compact when a bucket has more runs"),
    "compaction.num_sorted_run_stop_trigger": (
        "10",
        (1, 10_000),
        "writers compact inline when a bucket has more runs, so reads stay bounded",
    ),
    "compaction.after_commit": ("false", "bool", "compact after every write commit"),
    "manifest.merge_min_count": (
        "30",
        (1, 60_000),
        "merge manifests into one when a snapshot has more",
    ),
    "changelog.producer": (
        "none",
        ("none", "lookup"),
        "lookup: every write commit also writes its changes of the merged table "
        "(changelog/), so changes() and stream() read them instead of computing them",
    ),
    "consumer.expiration_time": (
        "0",
        "duration",
        "a consumer not updated for this long (e.g. 7d, 12h, 30m, 3600s; 0: never) stops "
        "protecting snapshots from expire_snapshots and is removed by it",
    ),
}

_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _parse_bool(key: str, v: str) -> bool:
    if v.lower() in ("true", "1", "yes"):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise InvalidArgumentError(f"option {key!r} must be true or false, not {v!r}")


def validate(options: Mapping[str, Any] | None, merge_engine: str) -> dict[str, str]:
    """Returns the options as strings, every known key present; raises on bad input."""
    out = {k: d for k, (d, _, _) in _OPTIONS.items()}
    for key, value in (options or {}).items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"option names must be strings, not {key!r}")
        v = str(value).lower() if isinstance(value, bool) else str(value)
        if key.startswith("fields.") and key.endswith(".aggregate"):
            if merge_engine != "aggregate":
                raise InvalidArgumentError(
                    f"option {key!r} applies only to merge_engine='aggregate'"
                )
            if v not in AGGREGATE_FUNCTIONS:
                raise InvalidArgumentError(
                    f"option {key!r}: unknown aggregate function {v!r} "
                    f"(one of {', '.join(AGGREGATE_FUNCTIONS)})"
                )
            out[key] = v
            continue
        if key not in _OPTIONS:
            raise InvalidArgumentError(
                f"unknown option {key!r}; known options: {', '.join(sorted(_OPTIONS))} "
                "and fields.<column>.aggregate"
            )
        _, parser, _ = _OPTIONS[key]
        if parser == "bool":
            _parse_bool(key, v)
        elif parser == "duration":
            v = str(_parse_duration(key, v))
        elif isinstance(parser[0], str):
            if v not in parser:
                raise InvalidArgumentError(
                    f"option {key!r} must be one of {', '.join(parser)}, not {value!r}"
                )
        else:
            low, high = parser
            try:
                n = int(v) if len(v) <= 20 else None
            except ValueError:
                n = None
            if n is None or not low <= n <= high:
                raise InvalidArgumentError(
                    f"option {key!r} must be an integer in [{low}, {high}], not {value!r}"
                )
            v = str(n)
        out[key] = v
    return out


def _parse_duration(key: str, v: str) -> int:
    """Seconds of a duration such as ``7d``, ``12h``, ``30m``, ``3600s`` or ``3600``."""
    m = re.fullmatch(r"\s*([0-9]{1,12})\s*(s|m|min|h|d)?\s*", v.lower())
    if m is None:
        raise InvalidArgumentError(
            f"option {key!r} must be a duration such as 7d, 12h, 30m, 3600s or 0, not {v!r}"
        )
    return int(m.group(1)) * _DURATION_UNITS[m.group(2) or ""]


def get_int(options: Mapping[str, str], key: str) -> int:
    return int(options.get(key, _OPTIONS[key][0]))


def get_bool(options: Mapping[str, str], key: str) -> bool:
    return _parse_bool(key, options.get(key, _OPTIONS[key][0]))


def aggregates(options: Mapping[str, str]) -> dict[str, str]:
    return {
        k[len("fields.") : -len(".aggregate")]: v
        for k, v in options.items()
        if k.startswith("fields.") and k.endswith(".aggregate")
    }


def get_str(options: Mapping[str, str], key: str) -> str:
    return options.get(key, _OPTIONS[key][0])
