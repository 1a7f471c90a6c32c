"""Consumer ids: the persisted positions of streaming readers (``Table.stream``).

A consumer is ``consumer/consumer-<id>.json``: the id of the last snapshot whose changes
it acknowledged (0: none yet) and when it last moved. Written atomically (replace), so a
reader killed at any point leaves the previous position or the new one.

A consumer protects what it still needs from ``expire_snapshots``: its snapshot and every
later one (the changes of snapshot n + 1 may need n for their before-images). With the
table option ``consumer.expiration_time`` a consumer not updated for that long stops
protecting anything, and ``expire_snapshots`` removes it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina import metadata as md
from lamina._models import MAX_SNAPSHOT_ID
from lamina.errors import CorruptFileError, InvalidArgumentError

if TYPE_CHECKING:
    from lamina._context import TableContext

__all__ = ["CONSUMER_DIR", "Consumer", "check_id", "list_consumers", "load", "remove", "save"]

CONSUMER_DIR = "consumer"
CONSUMER_FORMAT_VERSION = 1
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_FILE = re.compile(r"consumer-(.+)\.json")
MAX_CONSUMER_BYTES = 1 << 12


@dataclass(frozen=True)
class Consumer:
    """A consumer's position: changes through ``snapshot_id`` were acknowledged."""

    id: str
    snapshot_id: int
    updated_ms: int


def check_id(cid: object) -> str:
    """A consumer id: 1-100 letters, digits, ``_``, ``.``, ``-`` (not first)."""
    if not isinstance(cid, str) or _ID.fullmatch(cid) is None:
        raise InvalidArgumentError(
            f"invalid consumer id {cid!r}: use 1-100 letters, digits, '_', '.' or '-' "
            "(starting with a letter or digit)"
        )
    return cid


def _path(ctx: TableContext, cid: str) -> str:
    return os.path.join(ctx.root, CONSUMER_DIR, f"consumer-{cid}.json")


def _parse(cid: str, data: bytes) -> Consumer:
    what = f"consumer file of {cid!r}"
    doc = md.parse_json(data, what)
    md.check_format_version(doc, what, CONSUMER_FORMAT_VERSION)
    if doc.get("id") != cid:
        raise CorruptFileError(f"{what} names consumer {md.brief(doc.get('id'))}")
    return Consumer(
        id=cid,
        snapshot_id=md.get_int(doc, "snapshot_id", what, 0, MAX_SNAPSHOT_ID),
        updated_ms=md.get_int(doc, "updated_ms", what),
    )


def load(ctx: TableContext, cid: str) -> Consumer | None:
    """Consumer ``cid``, None if there is none. CorruptFileError for a malformed file."""
    path = _path(ctx, check_id(cid))
    try:
        data = ctx.store.read_metadata(path, f"consumer {cid}", MAX_CONSUMER_BYTES)
    except FileNotFoundError:
        return None
    return _parse(cid, data)


def save(ctx: TableContext, cid: str, snapshot_id: int) -> Consumer:
    """Sets consumer ``cid``'s position (creating it), atomically."""
    c = Consumer(id=check_id(cid), snapshot_id=int(snapshot_id), updated_ms=int(time.time() * 1000))
    doc = {
        "format_version": CONSUMER_FORMAT_VERSION,
        "id": c.id,
        "snapshot_id": c.snapshot_id,
        "updated_ms": c.updated_ms,
    }
    ctx.io.makedirs(os.path.join(ctx.root, CONSUMER_DIR), durable=True)
    ctx.io.write_replace(_path(ctx, cid), json.dumps(doc, sort_keys=True).encode())
    return c


def remove(ctx: TableContext, cid: str) -> bool:
    """Removes consumer ``cid``; False if there was none."""
    path = _path(ctx, check_id(cid))
    if not ctx.io.exists(path):
        return False
    ctx.io.remove(path)
    return True


def list_consumers(ctx: TableContext) -> dict[str, Consumer]:
    """Every consumer of the table (a malformed file raises: expiration relies on every
    consumer being seen)."""
    out = {}
    for name in ctx.io.listdir(os.path.join(ctx.root, CONSUMER_DIR)):
        m = _FILE.fullmatch(name)
        if m is None or _ID.fullmatch(m.group(1)) is None:
            continue  # temporary files of an interrupted save, foreign names
        c = load(ctx, m.group(1))
        if c is not None:
            out[c.id] = c
    return out


def protecting(ctx: TableContext, expiration_s: int) -> tuple[int | None, list[str]]:
    """(the oldest snapshot a live consumer needs, or None; the ids of consumers expired by
    ``expiration_s`` seconds without an update, 0: never)."""
    now_ms = time.time() * 1000
    oldest = None
    expired = []
    for c in list_consumers(ctx).values():
        if expiration_s and now_ms - c.updated_ms > expiration_s * 1000:
            expired.append(c.id)
            continue
        oldest = c.snapshot_id if oldest is None else min(oldest, c.snapshot_id)
    return oldest, expired
