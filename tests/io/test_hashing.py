"""io.hashing: a file's sha256, read in chunks."""

from __future__ import annotations

import hashlib

from streamguard.io.hashing import CHUNK, sha256_file


def test_the_hash_of_a_file_larger_than_one_chunk(tmp_path):
    data = bytes(range(256)) * (CHUNK // 256 * 2 + 3)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)
