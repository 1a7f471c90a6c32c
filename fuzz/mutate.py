"""Pure-Python mutation fuzzing of lamina.format.FileReader (no atheris needed).

Mutates the seed files of make_corpus.py (bit flips, byte sets, truncations, deletions,
insertions, splices between seeds, duplicated chunks, rewritten page_meta varints), gives
most mutants valid checksums again, and reads each one. Every mutant must read back as a
table with the schema's column count and the file's row count, or raise a
lamina.LaminaError; any other exception is a finding.

    PYTHONPATH=/tmp/devpkg python fuzz/mutate.py --seed 1 --iterations 100000

Before each read the mutant is written to --last-input (default ./last-input.lam), so a
native crash (which kills the process) leaves its input behind. tests/test_fuzz.py runs
this in a subprocess with a fixed seed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time
import traceback
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lamina
import make_corpus
from lamina.format import FileReader

# ---- Mutations --------------------------------------------------------------------------

INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40]


def _flip_bit(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d))
    b = rng.randrange(8)
    d[i] ^= 1 << b
    return f"flip({i},{b})"


def _set_byte(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d))
    v = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
    d[i] = v
    return f"set({i},{v})"


def _truncate(rng: random.Random, d: bytearray, other: bytes) -> str:
    n = rng.randrange(len(d))
    del d[n:]
    return f"truncate({n})"


def _cut_middle(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d))
    n = rng.randrange(1, 17)
    del d[i : i + n]
    return f"delete({i},{n})"


def _insert(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d) + 1)
    n = rng.randrange(1, 9)
    d[i:i] = bytes(rng.randrange(256) for _ in range(n))
    return f"insert({i},{n})"


def _splice(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d))
    j = rng.randrange(len(other))
    n = rng.randrange(1, 65)
    d[i : i + n] = other[j : j + n]
    return f"splice({i},{j},{n})"


def _dup_chunk(rng: random.Random, d: bytearray, other: bytes) -> str:
    i = rng.randrange(len(d))
    n = rng.randrange(1, 33)
    j = rng.randrange(len(d) + 1)
    d[j:j] = d[i : i + n]
    return f"dup({i},{n},{j})"


def _varint_field(rng: random.Random, d: bytearray, other: bytes) -> str:
    """Rewrites a page_meta varint (offset, length or rows) in place with a same-length
    value, keeping the footer parseable while pointing somewhere else."""
    lay = make_corpus.parse_layout(bytes(d))
    pages = [p for col in lay.pages for p in col]
    if not pages:
        return _set_byte(rng, d, other)
    p = rng.choice(pages)
    pos = rng.choice([p.offset_pos, p.length_pos, p.rows_pos])
    # A one-byte tweak of the varint's first byte keeps its length.
    d[pos] = (d[pos] & 0x80) | rng.randrange(128)
    return f"varint({pos})"


MUTATORS: list[Callable[[random.Random, bytearray, bytes], str]] = [
    _flip_bit,
    _flip_bit,
    _set_byte,
    _set_byte,
    _truncate,
    _cut_middle,
    _insert,
    _splice,
    _dup_chunk,
    _varint_field,
    _varint_field,
]


def mutate(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, list[str]]:
    d = bytearray(data)
    log = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        if not d:
            break
        log.append(rng.choice(MUTATORS)(rng, d, other))
    out = bytes(d)
    # Most mutants get valid checksums, else nearly all stop at the checksum checks.
    if rng.random() < 0.75:
        out = make_corpus.fix_checksums(out)
        log.append("fix_checksums")
    return out, log


# ---- Oracle -----------------------------------------------------------------------------


def exercise(data: bytes, rng: random.Random | None = None) -> str:
    """Returns "ok" or the LaminaError class name; lets any other exception escape."""
    try:
        r = FileReader.from_bytes(data)
        schema = r.schema
        n = r.num_rows
    except lamina.LaminaError as e:
        return type(e).__name__
    outcome = "ok"
    try:
        t = r.read()
        assert t.num_columns == len(schema), (t.num_columns, len(schema))
        assert t.num_rows == n, (t.num_rows, n)
        make_corpus.validate_table(t)
    except lamina.LaminaError as e:
        outcome = type(e).__name__
    if n > 0:
        k = rng.randrange(n) if rng else n // 2
        idx = [k, n - 1, 0, k]
        try:
            t = r.take(idx)
            assert t.num_columns == len(schema) and t.num_rows == len(idx)
            make_corpus.validate_table(t)
        except lamina.LaminaError:
            pass
    try:
        r.take([n])
    except lamina.LaminaError:
        pass
    else:
        raise AssertionError(f"take([{n}]) past the last row succeeded")
    for name in schema.names[:4]:
        try:
            r.page_statistics(name)
        except lamina.LaminaError:
            pass
    return outcome


def fuzz_loop(
    seeds: dict[str, bytes],
    iterations: int,
    seed: int,
    max_seed_bytes: int = 4096,
    budget_s: float = 1e9,
    last_input: str | None = None,
) -> tuple[dict[str, int], dict[tuple[str, str], str]]:
    rng = random.Random(seed)
    names = sorted(k for k, v in seeds.items() if len(v) <= max_seed_bytes)
    outcomes: dict[str, int] = {}
    failures: dict[tuple[str, str], str] = {}
    start = time.monotonic()
    for it in range(iterations):
        if time.monotonic() - start > budget_s:
            break
        name = rng.choice(names)
        other = seeds[rng.choice(names)]
        data, log = mutate(rng, seeds[name], other)
        if last_input:
            with open(last_input, "wb") as f:
                f.write(data)
            with open(last_input + ".txt", "w") as f:
                f.write(f"iteration {it}: seed {name!r}, mutations {log}\n")
        try:
            out = exercise(data, rng)
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)
            key = (type(e).__name__, f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?")
            if key not in failures:
                failures[key] = (
                    f"iteration {it}: seed {name!r}, mutations {log}: "
                    f"{type(e).__name__} at {key[1]}: {e}\n  input (base64): "
                    f"{base64.b64encode(data).decode() if len(data) < 2048 else '<large>'}"
                )
            out = "BUG"
        outcomes[out] = outcomes.get(out, 0) + 1
    return outcomes, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--budget", type=float, default=1e9, help="seconds; stop early after")
    ap.add_argument("--max-seed-bytes", type=int, default=4096)
    ap.add_argument("--last-input", default="last-input.lam")
    args = ap.parse_args(argv)
    seeds = make_corpus.seed_files()
    outcomes, failures = fuzz_loop(
        seeds, args.iterations, args.seed, args.max_seed_bytes, args.budget, args.last_input
    )
    print(json.dumps({"outcomes": outcomes, "failures": list(failures.values())}))
    if failures:
        print(
            f"{len(failures)} distinct non-lamina outcomes:\n" + "\n".join(failures.values()),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
