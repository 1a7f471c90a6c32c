"""The checksum every page and footer carries."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from lamina import _core


def test_crc32c_known_values():
    # Check values of CRC-32C (Castagnoli) from RFC 3720 / iSCSI.
    assert _core.crc32c(b"") == 0
    assert _core.crc32c(b"123456789") == 0xE3069283
    assert _core.crc32c(bytes(32)) == 0x8A9136AA
    assert _core.crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    assert _core.crc32c(bytes(range(32))) == 0x46DD794E


@given(st.binary(max_size=300))
def test_crc32c_fast_path_matches_reference(data):
    assert _core.crc32c(data) == _core.crc32c(data, scalar=True)


def test_crc32c_large_and_unaligned():
    data = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    for start in range(8):
        chunk = data[start:]
        assert _core.crc32c(chunk) == _core.crc32c(chunk, scalar=True)
