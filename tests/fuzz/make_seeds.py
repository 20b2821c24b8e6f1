#!/usr/bin/env python3
"""Writes the fuzz harness's seed corpus (tests/fuzz/corpus/npz): a few tiny .npz files, valid
and broken, in the shapes tapegrad's checkpoints take. Standard library only (no NumPy needed);
run once, the output is committed. Usage: make_seeds.py [OUT_DIR]"""
import io
import os
import struct
import sys
import zipfile


def npy(descr, shape, data, fortran=False, version=1):
    """A .npy file as np.save writes it (header padded to 64 bytes)."""
    shape_text = "(%s,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape_text)
    prefix = 10 if version == 1 else 12
    pad = 64 - (prefix + len(d) + 1) % 64
    header = (d + " " * pad + "\n").encode("latin1")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header + data


def text(s):
    cps = s.encode("utf-32-le") or b"\0\0\0\0"
    return npy("<U%d" % max(1, len(s)), (), cps)


def archive(entries, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compress
            z.writestr(info, payload)
    return buf.getvalue()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "npz")
    os.makedirs(out, exist_ok=True)
    f4 = npy("<f4", (2, 3), struct.pack("<6f", *range(6)))
    checkpoint = archive([
        ("fc.weight.npy", f4),
        ("fc.bias.npy", npy("<f4", (2,), struct.pack("<2f", 0.5, -0.5))),
        ("optim.step.npy", npy("<f8", (), struct.pack("<d", 3.0))),
        ("ids.npy", npy("<i8", (3,), struct.pack("<3q", 1, -2, 3))),
        ("ids32.npy", npy("<i4", (2, 1), struct.pack("<2i", 7, 8))),
        ("meta.example.npy", text("name_language")),
        ("meta.vocab.npy", text("abc\u00e9\u4e2d")),
        ("rng.state.npy", text("")),
    ])
    seeds = {
        "valid_one_tensor.npz": archive([("w.npy", f4)]),
        "valid_checkpoint.npz": checkpoint,
        "valid_deflate.npz": archive([("w.npy", f4), ("e.npy", npy("<f4", (0, 4), b""))],
                                     zipfile.ZIP_DEFLATED),
        "valid_npy_v2.npz": archive([("w.npy", npy("<f8", (1,), struct.pack("<d", 1.5), version=2))]),
        "valid_empty_archive.npz": archive([]),
        "truncated.npz": checkpoint[: len(checkpoint) // 2],
        "bad_header.npz": archive([("w.npy", f4.replace(b"'shape'", b"'shapf'"))]),
        "fortran_order.npz": archive([("w.npy", npy("<f4", (2, 3), struct.pack("<6f", *range(6)), True))]),
        "wrong_data_size.npz": archive([("w.npy", f4[:-4])]),
        "not_npy_name.npz": archive([("w.bin", f4)]),
        "big_endian.npz": archive([("w.npy", npy(">f4", (1,), b"\0\0\0\0"))]),
    }
    # A legal but absurd header (70 kB of padding, deflated to little): refused by its length.
    long_header = npy("<f4", (1,), b"\0\0\0\0", version=2)
    d_end = long_header.index(b"}") + 1
    padded = long_header[12:d_end] + b" " * 70000 + b"\n"
    long_header = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(padded)) + padded + b"\0\0\0\0"
    seeds["header_70kb.npz"] = archive([("w.npy", long_header)], zipfile.ZIP_DEFLATED)
    # A stored entry whose declared size (local and central headers) says ~4 GB.
    hostile = bytearray(archive([("w.npy", f4)]))
    central = hostile.find(b"PK\x01\x02")
    struct.pack_into("<I", hostile, 22, 0xF0000000)
    struct.pack_into("<I", hostile, central + 24, 0xF0000000)
    seeds["declares_4gb.npz"] = bytes(hostile)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
