#!/usr/bin/env python3
"""Rewrites a safetensors file with its F32 tensors as BF16 (other dtypes kept), in pure Python.

    safetensors_bf16.py IN.safetensors OUT.safetensors

Rounding is truncation (the upper 16 bits of each f32): the file is a smaller model to carry,
not a replacement for a real bf16 export. Every run that compares devices loads the same file.
"""
import json
import struct
import sys
from array import array


def main(src, dst):
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    if sys.byteorder != "little":
        sys.exit("this converter assumes a little-endian machine")
    meta = header.pop("__metadata__", None)
    out_header, chunks, offset = {}, [], 0
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = t["data_offsets"]
        raw = data[start:end]
        dtype = t["dtype"]
        if dtype == "F32":
            halves = array("H")
            halves.frombytes(raw)
            raw = halves[1::2].tobytes()
            dtype = "BF16"
        out_header[name] = {"dtype": dtype, "shape": t["shape"],
                            "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if meta is not None:
        out_header["__metadata__"] = meta
    blob = json.dumps(out_header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
