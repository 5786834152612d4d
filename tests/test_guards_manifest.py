"""Data set manifests, guard by guard: the fingerprint covers every file's hash, size and
path in a fixed order, a manifest is trusted only as its fingerprint, malformed lines are
named, and a changed file is found whatever its mtime (found by benchmarks/mutation.py)."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest

from mle3.datasets import manifest as m

A, B, C = "a" * 64, "b" * 64, "c" * 64


def entries():
    return [m.Entry("data/b.jpg", 20, 1, B), m.Entry("data/a.jpg", 10, 2, A), m.Entry("data/c/x.txt", 0, 3, C)]


def test_manifest_text_is_sorted_lines_of_hash_size_path():
    assert m.manifest_text(entries()) == f"{A}  10  data/a.jpg\n{B}  20  data/b.jpg\n{C}  0  data/c/x.txt\n"
    assert m.manifest_text([]) == ""


def test_the_fingerprint_is_the_sha256_of_that_text_and_ignores_order_and_mtime():
    fp = m.fingerprint(entries())
    assert fp == "sha256:" + hashlib.sha256(m.manifest_text(entries()).encode()).hexdigest()
    reordered = [m.Entry(e.path, e.size, 999, e.sha256) for e in reversed(entries())]
    assert m.fingerprint(reordered) == fp


@pytest.mark.parametrize(
    "change",
    [
        lambda es: es[:-1],  # removed
        lambda es: es + [m.Entry("data/d.jpg", 1, 0, A)],  # added
        lambda es: [m.Entry("data/z.jpg", es[0].size, 0, es[0].sha256)] + es[1:],  # renamed
        lambda es: [m.Entry(es[0].path, es[0].size + 1, 0, es[0].sha256)] + es[1:],  # size
        lambda es: [m.Entry(es[0].path, es[0].size, 0, C)] + es[1:],  # content
    ],
)
def test_any_change_to_the_set_changes_the_fingerprint(change):
    assert m.fingerprint(change(entries())) != m.fingerprint(entries())


def test_the_manifest_name_is_the_fingerprints_hex():
    assert m.manifest_name("sha256:" + A) == A + ".manifest.gz"
    assert m.manifest_name(A) == A + ".manifest.gz"


def test_encoding_is_byte_identical_everywhere_and_round_trips():
    text = m.manifest_text(entries())
    data = m.encode_manifest(text)
    assert data == m.encode_manifest(text) and data[4:8] == b"\0\0\0\0"  # no timestamp
    fp = m.fingerprint(entries())
    decoded = m.decode_manifest(data, "x.gz", fp)
    assert [(e.path, e.size, e.sha256, e.mtime_ns) for e in decoded] == [
        (e.path, e.size, e.sha256, 0) for e in sorted(entries(), key=lambda e: e.path)
    ]
    assert m.decode_manifest(m.encode_manifest(""), "empty.gz", m.fingerprint([])) == []


def test_a_manifest_is_trusted_only_as_its_fingerprint():
    data = m.encode_manifest(m.manifest_text(entries()))
    with pytest.raises(ValueError, match="x.gz: content does not hash to the fingerprint"):
        m.decode_manifest(data, "x.gz", m.fingerprint(entries()[:2]))
    assert len(m.decode_manifest(data, "x.gz")) == 3  # without a fingerprint: just parsed


def test_multi_member_and_padded_gzip_is_read_whole():
    lines = m.manifest_text(entries()).splitlines(keepends=True)
    data = (
        b"".join(gzip.compress(line.encode(), mtime=0) for line in lines[:2])
        + b"\0\0\0"
        + gzip.compress(lines[2].encode(), mtime=0)
    )
    assert m.gunzip(data) == "".join(lines).encode()
    assert len(m.decode_manifest(data, "x.gz", m.fingerprint(entries()))) == 3


@pytest.mark.parametrize("data", [b"", b"not gzip at all", m.encode_manifest("x" * 1000)[:-12]])
def test_truncated_or_foreign_data_is_not_a_manifest(data):
    if data == b"":
        assert m.decode_manifest(data, "x.gz") == []
        with pytest.raises(ValueError, match="does not hash"):
            m.decode_manifest(data, "x.gz", m.fingerprint(entries()))
        return
    with pytest.raises(ValueError, match="x.gz: not a gzip manifest"):
        m.decode_manifest(data, "x.gz")


@pytest.mark.parametrize(
    "bad, number",
    [
        (f"{A}  10  a.jpg\n{B}  x  b.jpg\n", 2),  # size not a number
        (f"{A}  10  a.jpg\n{B}  20\n", 2),  # missing path
        (f"{A}  10  a.jpg\n{A}  5  c.jpg\nabc  20  b.jpg\n", 3),  # short digest
        (f"{A}0  10  a.jpg\n", 1),  # long digest
        ("garbage\n", 1),
    ],
)
def test_a_malformed_line_is_named(bad, number):
    with pytest.raises(ValueError, match=rf"^x\.gz:{number}: malformed manifest line$"):
        m.decode_manifest(m.encode_manifest(bad), "x.gz")


def test_paths_may_contain_double_spaces():
    (e,) = m.decode_manifest(m.encode_manifest(f"{A}  3  data/a  b.jpg\n"), "x.gz")
    assert (e.path, e.size, e.sha256) == ("data/a  b.jpg", 3, A)


def test_v1_tsv_is_read_with_mtimes_and_malformed_lines_named(tmp_path):
    good = tmp_path / "m.tsv"
    good.write_text(f"# header\n\ndata/a.jpg\t10\t123\t{A}\n")
    assert m.read_manifest(good) == [m.Entry("data/a.jpg", 10, 123, A)]
    for bad in ("data/a.jpg\t10\t123\n", f"data/a.jpg\t10\t123\t{A[:-1]}\n", f"data/a.jpg\t10\t123\t{A}\textra\n"):
        good.write_text(f"# h\n{bad}")
        with pytest.raises(ValueError, match=r"m\.tsv:2: malformed manifest line"):
            m.read_manifest(good)
    gz = tmp_path / "m.manifest.gz"
    gz.write_bytes(m.encode_manifest(f"{A}  10  data/a.jpg\n"))
    assert m.read_manifest(gz) == [m.Entry("data/a.jpg", 10, 0, A)]


def _recorded(root, names):
    out = []
    for name in names:
        p = root / name
        st = p.stat()
        out.append(m.Entry(name, st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()))
    return out


def test_compare_with_disk_finds_changed_removed_and_same_size_edits(tmp_path):
    for name, text in {"a": "aaaa", "b": "bbbb", "c": "cccc", "d": "dddd", "e": "eeee"}.items():
        (tmp_path / name).write_text(text)
    recorded = _recorded(tmp_path, ["a", "b", "c", "d", "e"])
    (tmp_path / "a").write_text("longer")  # size differs
    (tmp_path / "b").unlink()  # removed
    st = (tmp_path / "c").stat()
    (tmp_path / "c").write_text("CCCC")  # same size, new content, new mtime
    os.utime(tmp_path / "c", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    st = (tmp_path / "d").stat()
    os.utime(tmp_path / "d", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))  # touched only
    seen = []
    diff = m.compare_with_disk(tmp_path, recorded, observe=lambda path, st: seen.append((path, st is None)))
    assert diff.changed == ["a", "c"] and diff.removed == ["b"] and diff.hashed == 2
    assert seen == [("a", False), ("b", True), ("c", False), ("d", False), ("e", False)]
    assert m.compare_with_disk(tmp_path, recorded[4:]).hashed == 0


def test_changed_and_removed_are_sorted(tmp_path):
    recorded = [m.Entry(n, 1, 0, A) for n in ("z", "y", "x")]
    (tmp_path / "x").write_text("xx")
    (tmp_path / "z").write_text("zz")
    diff = m.compare_with_disk(tmp_path, recorded)
    assert diff.changed == ["x", "z"] and diff.removed == ["y"]
    diff = m.compare_with_disk(tmp_path, [m.Entry(n, 1, 0, A) for n in ("q", "p")])
    assert diff.removed == ["p", "q"]


@pytest.mark.parametrize(
    "name, data",
    [
        ("img.jpg", True),
        ("labels", True),
        (".hidden", False),
        ("train.cache", False),
        (".mle3-manifests", False),
        ("cache.txt", True),
    ],
)
def test_hidden_files_and_label_caches_are_not_data(name, data):
    assert m.is_data_file(name) is data


def test_entries_are_immutable_values():
    import dataclasses

    e = m.Entry("a", 1, 0, A)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.size = 2  # type: ignore[misc]
    assert {e, m.Entry("a", 1, 0, A)} == {e}


def test_a_file_that_shrank_is_changed_even_with_its_old_mtime(tmp_path):
    (tmp_path / "a").write_text("aaaa")
    recorded = _recorded(tmp_path, ["a"])
    st = (tmp_path / "a").stat()
    (tmp_path / "a").write_text("aa")
    os.utime(tmp_path / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert m.compare_with_disk(tmp_path, recorded).changed == ["a"]


def test_a_same_size_edit_is_found_whichever_way_its_hash_sorts(tmp_path):
    for name in ("low", "high"):
        (tmp_path / name).write_text("data")
    # recorded hashes below and above any real one; mtimes differ from the disk: hashed
    recorded = [m.Entry("low", 4, 1, "0" * 64), m.Entry("high", 4, 1, "f" * 64)]
    diff = m.compare_with_disk(tmp_path, recorded)
    assert diff.changed == ["high", "low"] and diff.hashed == 2
