"""Brief, deterministic fuzzing of the file reader (the long runs are done by hand with
fuzz/fuzz_reader.py, fuzz/mutate.py and cpp/fuzz/fuzz_file_reader.cc; see fuzz/).

Every mutated file must either read back as a table with the schema's column count and
the file's row count, or raise a lamina.LaminaError. Any other exception, a native crash
or a hang fails the test. The loops run in a subprocess so that a crash is reported with
the input that caused it instead of killing pytest.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DIR = os.path.join(REPO, "fuzz")
sys.path.insert(0, FUZZ_DIR)

import make_corpus  # noqa: E402
import mutate  # noqa: E402


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


@pytest.fixture(scope="module")
def seeds():
    return make_corpus.seed_files()


def test_seeds_are_valid(seeds):
    assert len(seeds) >= 40
    for name, data in seeds.items():
        assert mutate.exercise(data) == "ok", name
        assert make_corpus.fix_checksums(data) == data, name


def test_python_crc32c_matches_files(seeds):
    assert make_corpus.crc32c(b"123456789") == 0xE3069283
    data = seeds["col_int64_wide"]
    lay = make_corpus.parse_layout(data)
    p = lay.pages[0][0]
    assert make_corpus.crc32c(data[p.offset : p.offset + p.length]) == p.crc
    footer = data[lay.footer_pos : lay.footer_pos + lay.footer_len]
    assert make_corpus.crc32c(footer) == int.from_bytes(data[-12:-8], "little")


def _run_loop(
    tmp_path, seed: int, iterations: int, budget: float, max_seed_bytes: int, timeout: float
) -> dict:
    last = tmp_path / "last-input.lam"
    cmd = [
        sys.executable,
        os.path.join(FUZZ_DIR, "mutate.py"),
        f"--seed={seed}",
        f"--iterations={iterations}",
        f"--budget={budget}",
        f"--max-seed-bytes={max_seed_bytes}",
        f"--last-input={last}",
    ]
    try:
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"fuzz loop hung; last input: {_describe(last)}")
    if proc.returncode < 0 or (proc.returncode != 0 and not proc.stdout.strip()):
        pytest.fail(
            f"reader crashed (exit {proc.returncode}) on {_describe(last)}\n{proc.stderr[-3000:]}"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["failures"], (
        f"{len(result['failures'])} distinct non-lamina outcomes:\n" + "\n".join(result["failures"])
    )
    return result["outcomes"]


def _describe(last) -> str:
    if not os.path.exists(last):
        return "<no input recorded>"
    data = open(last, "rb").read()
    how = open(str(last) + ".txt").read().strip() if os.path.exists(str(last) + ".txt") else ""
    b64 = base64.b64encode(data).decode() if len(data) < 4096 else f"<{len(data)} bytes>"
    return f"{how}\n  input (base64): {b64}"


def test_mutation_fuzz_brief(tmp_path):
    """A fixed-seed mutation loop: a few thousand mutants in well under 20 s."""
    outcomes = _run_loop(
        tmp_path, seed=0x1A31A, iterations=2000, budget=12.0, max_seed_bytes=4096, timeout=120
    )
    assert sum(outcomes.values()) >= 500  # the budget is a guard, not the normal stop
    assert outcomes.get("CorruptFileError", 0) > 0


@pytest.mark.slow
def test_mutation_fuzz_long(tmp_path):
    _run_loop(tmp_path, seed=7, iterations=60000, budget=1e9, max_seed_bytes=1 << 20, timeout=3600)


def _atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def _run_atheris(tmp_path, runs: int, seed: int, timeout: int) -> None:
    corpus = tmp_path / "corpus"
    make_corpus.main(["make_corpus", str(corpus)])
    cmd = [
        sys.executable,
        os.path.join(FUZZ_DIR, "fuzz_reader.py"),
        f"-runs={runs}",
        f"-seed={seed}",
        "-rss_limit_mb=4096",
        "-timeout=30",
        str(corpus),
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    assert "Done" in proc.stderr, proc.stderr[-4000:]


@pytest.mark.skipif(not _atheris_available(), reason="atheris is not installed")
def test_atheris_brief(tmp_path):
    _run_atheris(tmp_path, runs=500, seed=12345, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(not _atheris_available(), reason="atheris is not installed")
def test_atheris_long(tmp_path):
    _run_atheris(tmp_path, runs=30000, seed=1, timeout=1800)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("LAMINA_FUZZ_BINARY"),
    reason="set LAMINA_FUZZ_BINARY to a built cpp/fuzz/fuzz_file_reader",
)
def test_libfuzzer_binary(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus.main(["make_corpus", str(corpus)])
    proc = subprocess.run(
        [
            os.environ["LAMINA_FUZZ_BINARY"],
            "-seed=1",
            "-runs=20000",
            "-rss_limit_mb=2048",
            "-timeout=10",
            str(corpus),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-8000:]
