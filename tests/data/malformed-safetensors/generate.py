#!/usr/bin/env python3
"""Generates the malformed-safetensors corpus (tests/data/malformed-safetensors/) and expected.tsv.

Run from anywhere: `python3 tests/data/malformed-safetensors/generate.py`. Standard library only;
every file is written by hand (struct + text), so that invalid JSON and impossible offsets can be
spliced in. The output is deterministic; the generated files are committed so that the tests and
the fuzzer's seed corpus never need Python. Re-run after editing and commit the result.

Spec: docs/checkpoint-scales.md, "The safetensors container (S rules)". Every file is < 4 KiB.

expected.tsv columns (tab-separated, "-" = absent):
  file      corpus file name
  expect    "ok" (must be accepted), or the DiagCode name of the FIRST diagnostic; "a|b" where
            either code is right (JSON problems whose code is the shared reader's business)
  pointer   the RFC 6901 pointer into the header that first diagnostic must carry ("" is written
            as "<root>"; "-" = not checked)
  limits    lowered LoadLimits, "name=value,..." (max_tensors, max_header_bytes, max_depth), or "-"
  tensors   for "ok" rows: the number of tensors in the header
  note      what the file exercises
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

rows = []
files = {}

DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}


def add(name, data, expect, note, pointer=None, limits=None, tensors=None):
    assert name not in files, name
    assert len(data) < 4096, (name, len(data))
    files[name] = data
    ptr = "-" if pointer is None else (pointer if pointer != "" else "<root>")
    rows.append([name, expect, ptr, limits or "-", "-" if tensors is None else str(tensors), note])


def container(header, data=b"", n=None):
    """u64 LE length | header bytes | data. n overrides the length field."""
    if isinstance(header, str):
        header = header.encode("utf-8")
    if n is None:
        n = len(header)
    return struct.pack("<Q", n) + header + data


def pad8(text):
    """Pads a header with spaces to a multiple of 8 bytes, as the reference writer does."""
    return text + " " * ((8 - len(text.encode("utf-8")) % 8) % 8)


def hdr(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def nbytes(dtype, shape):
    n = 1
    for d in shape:
        n *= d
    return n * DTYPE_BITS[dtype] // 8


def build(tensors, metadata=None, data=None, pad=True):
    """A valid file from [(name, dtype, shape)], packed in list order; data defaults to a ramp."""
    obj = {}
    if metadata is not None:
        obj["__metadata__"] = metadata
    off = 0
    for name, dtype, shape in tensors:
        size = nbytes(dtype, shape)
        obj[name] = t(dtype, shape, off, off + size)
        off += size
    text = hdr(obj)
    if pad:
        text = pad8(text)
    if data is None:
        data = bytes(i % 251 for i in range(off))
    return container(text, data)


def f32(*values):
    return b"".join(struct.pack("<f", v) for v in values)


K = "model.layers.%d.self_attn.k_scale"
V = "model.layers.%d.self_attn.v_scale"
SCALES = [(K % 0, "F32", []), (V % 0, "F32", []), (K % 1, "F32", []), (V % 1, "F32", [])]

# ------------------------------------------------------------------------------------------------
# Valid files.
add("ok_empty.safetensors", container(pad8("{}")), "ok", "no tensors, header padded to 8 bytes", tensors=0)
add("ok_empty_unpadded.safetensors", container("{}"), "ok", "no tensors, N = 2 (padding is not required)",
    tensors=0)
add("ok_scales.safetensors", build(SCALES, data=f32(0.5, 0.25, 0.125, 2.0)), "ok",
    "two layers of per-tensor K/V scales, F32 []", tensors=4)
add("ok_metadata.safetensors", build(SCALES, metadata={"format": "pt", "producer": "kvscale"},
                                     data=f32(0.5, 0.25, 0.125, 2.0)),
    "ok", "__metadata__ with string values", tensors=4)
add("ok_metadata_empty.safetensors", build([("a", "F32", [1])], metadata={}), "ok", "empty __metadata__",
    tensors=1)
add("ok_per_head.safetensors", build([(K % 0, "F32", [8]), (V % 0, "F32", [8, 1, 1])]), "ok",
    "per-head scales [8] and [8,1,1]", tensors=2)
add("ok_zero_size.safetensors",
    build([("empty_first", "F32", [0]), ("a", "F32", [2]), ("empty_mid", "BF16", [3, 0]), ("b", "F16", [1]),
           ("empty_last", "F64", [0, 5])]),
    "ok", "zero-size tensors at the start, in the middle and at the end", tensors=5)
add("ok_zero_size_only.safetensors", build([("e1", "F32", [0]), ("e2", "U8", [0, 0])]), "ok",
    "only zero-size tensors, empty data buffer", tensors=2)
add("ok_zero_dim_huge.safetensors", build([("e", "F32", [0, 1 << 62])]), "ok",
    "[0, 2^62]: zero elements, the running product never exceeds 2^62", tensors=1)
add("ok_scalar_shape.safetensors", build([("s", "F64", [])]), "ok", "shape [] is one element", tensors=1)
add("ok_all_dtypes.safetensors",
    build([("t_" + d.lower(), d, [4] if DTYPE_BITS[d] < 8 else [1]) for d in DTYPE_BITS]), "ok",
    "one tensor of every dtype (F4 / F6 with whole bytes)", tensors=len(DTYPE_BITS))
# Offsets in the reverse order of the keys: the reader sorts by offset.
add("ok_unsorted.safetensors",
    container(pad8(hdr({"a": t("F32", [1], 8, 12), "b": t("F32", [2], 0, 8)})), bytes(12)), "ok",
    "keys in the opposite order of their offsets", tensors=2)
add("ok_trailing_whitespace.safetensors",
    container(hdr({"a": t("U8", [2], 0, 2)}) + " \t\r\n   ", b"\x01\x02"), "ok",
    "JSON whitespace after the object (writers pad with spaces)", tensors=1)
add("ok_leading_space.safetensors", container("  " + hdr({"a": t("U8", [1], 0, 1)}), b"\x07"), "ok",
    "whitespace before the object", tensors=1)
add("ok_unicode_names.safetensors",
    build([("caf\u00e9.\u4e2d.\U0001F600", "F32", [1]), ("a/b~c", "F32", [1])]), "ok",
    "multi-byte UTF-8, '/' and '~' in names", tensors=2)
add("ok_metadata_unicode.safetensors", build([("x", "U8", [1])], metadata={"note": "\u00e9\u20ac", "": ""}),
    "ok", "non-ASCII and empty strings in __metadata__", tensors=1)
add("ok_shape_large.safetensors", container(pad8(hdr({"w": t("U8", [1, 1, 1, 1, 1, 1, 1, 1, 64], 0, 64)})),
                                            bytes(64)), "ok", "nine dimensions", tensors=1)

# ------------------------------------------------------------------------------------------------
# S1: the length prefix and the header's top level.
HS = "safetensors_header_invalid"
add("s1_empty_file.safetensors", b"", HS, "a 0-byte file", pointer="")
add("s1_seven_bytes.safetensors", b"\x02\x00\x00\x00\x00\x00\x00", HS, "7 bytes: no room for the length",
    pointer="")
add("s1_header_over_limit.safetensors", struct.pack("<Q", 100000001) + b"{}", HS,
    "N = 100,000,001: over the spec's limit, refused before reading", pointer="")
add("s1_header_u64_max.safetensors", struct.pack("<Q", 2**64 - 1) + b"{}", HS, "N = 2^64 - 1", pointer="")
add("s1_header_2_63.safetensors", struct.pack("<Q", 2**63) + b"{}", HS, "N = 2^63 (negative as i64)",
    pointer="")
add("s1_header_past_eof.safetensors", container("{}", n=3), HS, "N one byte past the end of the file",
    pointer="")
add("s1_truncated_in_header.safetensors", build(SCALES)[:40], HS, "a valid file cut inside its header",
    pointer="")
add("s1_json_file.safetensors", b'{"model_type": "llama", "kv_cache": {}}', HS,
    "a JSON file: its first 8 bytes read as a huge N", pointer="")
add("s1_top_array.safetensors", container(pad8("[]")), HS, "the header is an array", pointer="")
add("s1_top_string.safetensors", container(pad8('"x"')), HS, "the header is a string", pointer="")
add("s1_top_number.safetensors", container(pad8("1")), HS, "the header is a number", pointer="")
add("s1_top_null.safetensors", container(pad8("null")), HS, "the header is null", pointer="")
add("s1_header_limit_lowered.safetensors", build(SCALES), HS,
    "a valid file whose header exceeds a lowered max_header_bytes", pointer="", limits="max_header_bytes=64")

# ------------------------------------------------------------------------------------------------
# S2: the JSON rules (codes from the shared reader json_reader.hpp; pointers pinned where it gives
# one below the root).
add("s2_empty_header.safetensors", container(""), "syntax_error", "N = 0: an empty header")
add("s2_spaces_only.safetensors", container("        "), "syntax_error", "a header of spaces only")
add("s2_truncated_json.safetensors", container('{"a":'), "syntax_error", "JSON cut after a key")
add("s2_comment.safetensors", container(pad8('{} // x')), "syntax_error|trailing_data", "a // comment")
add("s2_single_quotes.safetensors", container(pad8("{'a': 1}")), "syntax_error", "single-quoted key")
add("s2_trailing_comma.safetensors", container(pad8('{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},}'),
                                               b"\x00"), "syntax_error", "a trailing comma")
add("s2_trailing_data.safetensors", container("{} x"), "trailing_data", "a word after the object")
add("s2_trailing_object.safetensors", container("{}{}"), "trailing_data", "two objects")
add("s2_nul_padding.safetensors", container("{}\x00\x00\x00\x00\x00\x00"), "trailing_data|syntax_error",
    "padded with NUL bytes instead of spaces")
add("s2_duplicate_tensor.safetensors",
    container(pad8('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                   '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'), b"\x00\x00"),
    "duplicate_key", "the same tensor twice (a parser would keep the last)", pointer="/a")
add("s2_duplicate_field.safetensors",
    container(pad8('{"a":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}'), b"\x00"),
    "duplicate_key", "dtype twice in one entry", pointer="/a/dtype")
add("s2_duplicate_metadata.safetensors", container(pad8('{"__metadata__":{"k":"1","k":"2"}}')),
    "duplicate_key", "a duplicate key in __metadata__", pointer="/__metadata__/k")
add("s2_duplicate_metadata_key.safetensors", container(pad8('{"__metadata__":{},"__metadata__":{}}')),
    "duplicate_key", "__metadata__ twice", pointer="/__metadata__")
add("s2_bom.safetensors", container(b"\xef\xbb\xbf{}     "), "utf8_bom", "a UTF-8 BOM before the object")
add("s2_utf8_name.safetensors",
    container(b'{"a\xff":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' + b" " * 6, b"\x00"),
    "invalid_utf8", "0xff in a tensor name")
add("s2_utf8_overlong.safetensors", container(b'{"__metadata__":{"k":"\xc0\xaf"}}' + b" " * 5),
    "invalid_utf8", "an overlong '/' in a metadata value")
add("s2_utf8_surrogate.safetensors", container(b'{"__metadata__":{"k":"\xed\xa0\x80"}}' + b" " * 4),
    "invalid_utf8", "an encoded surrogate")
add("s2_nan_shape.safetensors", container(pad8('{"a":{"dtype":"U8","shape":[NaN],"data_offsets":[0,1]}}'),
                                          b"\x00"), "nan_or_infinity", "NaN as a dimension", pointer="/a/shape/0")
add("s2_infinity_offset.safetensors",
    container(pad8('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,Infinity]}}'), b"\x00"),
    "nan_or_infinity", "Infinity as an offset", pointer="/a/data_offsets/1")
add("s2_neg_infinity.safetensors",
    container(pad8('{"a":{"dtype":"U8","shape":[-Infinity],"data_offsets":[0,1]}}'), b"\x00"),
    "nan_or_infinity", "-Infinity as a dimension", pointer="/a/shape/0")
add("s2_depth_65.safetensors", container(pad8('{"__metadata__":' + "[" * 64 + "]" * 64 + "}")),
    "nesting_too_deep", "65 levels of nesting")
add("s2_depth_lowered.safetensors", build(SCALES, metadata={"a": "b"}), "nesting_too_deep",
    "a valid file under max_depth = 1 (a header needs 2 levels for __metadata__)", limits="max_depth=1")

# ------------------------------------------------------------------------------------------------
# S3: __metadata__.
MI = "safetensors_metadata_invalid"
add("s3_metadata_array.safetensors", container(pad8('{"__metadata__":["a"]}')), MI, "an array",
    pointer="/__metadata__")
add("s3_metadata_null.safetensors", container(pad8('{"__metadata__":null}')), MI,
    "null (serde reads it as absent; the spec says object)", pointer="/__metadata__")
add("s3_metadata_string.safetensors", container(pad8('{"__metadata__":"pt"}')), MI, "a string",
    pointer="/__metadata__")
add("s3_value_number.safetensors", container(pad8('{"__metadata__":{"format":"pt","epoch":3}}')), MI,
    "a number value", pointer="/__metadata__/epoch")
add("s3_value_null.safetensors", container(pad8('{"__metadata__":{"x":null}}')), MI, "a null value",
    pointer="/__metadata__/x")
add("s3_value_object.safetensors", container(pad8('{"__metadata__":{"x":{"y":"z"}}}')), MI,
    "an object value", pointer="/__metadata__/x")
add("s3_value_bool_escaped_key.safetensors", container(pad8('{"__metadata__":{"a/b~c":true}}')), MI,
    "a bool value under a key that needs RFC 6901 escapes", pointer="/__metadata__/a~1b~0c")

# ------------------------------------------------------------------------------------------------
# S4: tensor entries.
TI = "safetensors_tensor_invalid"


def entry(body, data=b""):
    return container(pad8('{"t":%s}' % body), data)


add("s4_entry_array.safetensors", entry('["F32",[1],[0,4]]', bytes(4)), TI, "an array instead of an object",
    pointer="/t")
add("s4_entry_string.safetensors", entry('"F32"'), TI, "a string instead of an object", pointer="/t")
add("s4_entry_null.safetensors", entry("null"), TI, "null instead of an object", pointer="/t")
add("s4_missing_dtype.safetensors", entry('{"shape":[1],"data_offsets":[0,4]}', bytes(4)), TI, "no dtype",
    pointer="/t")
add("s4_missing_shape.safetensors", entry('{"dtype":"F32","data_offsets":[0,4]}', bytes(4)), TI, "no shape",
    pointer="/t")
add("s4_missing_offsets.safetensors", entry('{"dtype":"F32","shape":[1]}', bytes(4)), TI, "no data_offsets",
    pointer="/t")
add("s4_extra_key.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[0,4],"align":8}', bytes(4)),
    TI, "an unknown key (the reference ignores it; kvscale refuses)", pointer="/t/align")
add("s4_empty_entry.safetensors", entry("{}"), TI, "an empty object", pointer="/t")
add("s4_dtype_number.safetensors", entry('{"dtype":4,"shape":[1],"data_offsets":[0,4]}', bytes(4)), TI,
    "dtype is a number", pointer="/t/dtype")
add("s4_dtype_unknown.safetensors", entry('{"dtype":"F31","shape":[1],"data_offsets":[0,4]}', bytes(4)), TI,
    "an unknown dtype", pointer="/t/dtype")
add("s4_dtype_lowercase.safetensors", entry('{"dtype":"f32","shape":[1],"data_offsets":[0,4]}', bytes(4)), TI,
    "a lower-case dtype", pointer="/t/dtype")
add("s4_dtype_torch_name.safetensors",
    entry('{"dtype":"float32","shape":[1],"data_offsets":[0,4]}', bytes(4)), TI, "torch's name for F32",
    pointer="/t/dtype")
add("s4_shape_number.safetensors", entry('{"dtype":"F32","shape":1,"data_offsets":[0,4]}', bytes(4)), TI,
    "shape is a number", pointer="/t/shape")
add("s4_shape_negative.safetensors", entry('{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}', bytes(4)), TI,
    "a negative dimension", pointer="/t/shape/0")
add("s4_shape_float.safetensors", entry('{"dtype":"F32","shape":[1,2.0],"data_offsets":[0,8]}', bytes(8)), TI,
    "2.0 as a dimension (serde's usize refuses it too)", pointer="/t/shape/1")
add("s4_shape_string.safetensors", entry('{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}', bytes(4)), TI,
    "a string dimension", pointer="/t/shape/0")
add("s4_shape_null.safetensors", entry('{"dtype":"F32","shape":[null],"data_offsets":[0,4]}', bytes(4)), TI,
    "a null dimension", pointer="/t/shape/0")
add("s4_shape_beyond_u64.safetensors",
    entry('{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}'), TI,
    "a dimension of 2^64 (parsed as a float)", pointer="/t/shape/0")
add("s4_shape_overflow.safetensors",
    entry('{"dtype":"U8","shape":[2147483648,2147483648,2],"data_offsets":[0,0]}'), TI,
    "product 2^63 > 2^62", pointer="/t/shape")
add("s4_shape_dim_over_2_62.safetensors", entry('{"dtype":"U8","shape":[4611686018427387905],"data_offsets":[0,0]}'),
    TI, "one dimension of 2^62 + 1", pointer="/t/shape")
add("s4_shape_overflow_then_zero.safetensors",
    entry('{"dtype":"U8","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}'), TI,
    "2^40 x 2^40 x 0: overflows before the 0, as in the reference", pointer="/t/shape")
add("s4_offsets_object.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":{"begin":0}}', bytes(4)),
    TI, "data_offsets is an object", pointer="/t/data_offsets")
add("s4_offsets_three.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}', bytes(4)), TI,
    "three offsets", pointer="/t/data_offsets")
add("s4_offsets_one.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[4]}', bytes(4)), TI,
    "one offset", pointer="/t/data_offsets")
add("s4_offsets_negative.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}', bytes(4)), TI,
    "a negative begin", pointer="/t/data_offsets/0")
add("s4_offsets_float.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}', bytes(4)), TI,
    "4.0 as the end", pointer="/t/data_offsets/1")
add("s4_offsets_string.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}', bytes(4)),
    TI, "string offsets", pointer="/t/data_offsets/0")
add("s4_offsets_reversed.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[4,0]}', bytes(4)), TI,
    "begin > end", pointer="/t/data_offsets")
add("s4_f4_odd.safetensors", entry('{"dtype":"F4","shape":[3],"data_offsets":[0,2]}', bytes(2)), TI,
    "3 x 4 bits: not a whole number of bytes", pointer="/t/shape")
add("s4_f6_partial.safetensors", entry('{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,2]}', bytes(2)), TI,
    "2 x 6 bits: not a whole number of bytes", pointer="/t/shape")
add("s4_empty_name.safetensors", container(pad8('{"":{"dtype":"X","shape":[],"data_offsets":[0,0]}}')), TI,
    "the empty tensor name: pointer \"/\"", pointer="//dtype")
add("s4_escaped_name.safetensors", container(pad8('{"a/b~c":{"dtype":"F32","shape":[1],"data_offsets":[0]}}'),
                                             bytes(4)), TI, "a name that needs RFC 6901 escapes",
    pointer="/a~1b~0c/data_offsets")
add("s4_second_tensor.safetensors",
    container(pad8(hdr({K % 0: t("F32", [], 0, 4), V % 0: {"dtype": "F32", "shape": [], "offsets": [4, 8]}})),
              bytes(8)), TI, "the second of two scales is broken", pointer="/" + V % 0 + "/offsets")

# ------------------------------------------------------------------------------------------------
# S5: sizes and coverage of the data buffer.
OI = "safetensors_offsets_invalid"
add("s5_size_short.safetensors", entry('{"dtype":"F32","shape":[2],"data_offsets":[0,4]}', bytes(4)), OI,
    "F32 [2] in 4 bytes", pointer="/t/data_offsets")
add("s5_size_long.safetensors", entry('{"dtype":"F16","shape":[2],"data_offsets":[0,8]}', bytes(8)), OI,
    "F16 [2] in 8 bytes", pointer="/t/data_offsets")
add("s5_size_scalar_zero.safetensors", entry('{"dtype":"F32","shape":[],"data_offsets":[0,0]}'), OI,
    "shape [] is one element, not zero", pointer="/t/data_offsets")
add("s5_size_overflow_bytes.safetensors",
    entry('{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}', bytes(8)), OI,
    "2^62 F64 elements: more than 2^64 bytes", pointer="/t/data_offsets")
add("s5_gap_at_start.safetensors", entry('{"dtype":"F32","shape":[1],"data_offsets":[4,8]}', bytes(8)), OI,
    "the first tensor starts at 4", pointer="/t/data_offsets")
add("s5_gap_between.safetensors",
    container(pad8(hdr({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)})), bytes(12)), OI,
    "4 bytes between two tensors", pointer="/b/data_offsets")
add("s5_overlap.safetensors",
    container(pad8(hdr({"a": t("F32", [2], 0, 8), "b": t("F32", [1], 4, 8)})), bytes(8)), OI,
    "b lies inside a", pointer="/b/data_offsets")
add("s5_same_offsets.safetensors",
    container(pad8(hdr({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 0, 4)})), bytes(4)), OI,
    "two tensors on the same bytes", pointer="/b/data_offsets")
add("s5_zero_size_inside.safetensors",
    container(pad8(hdr({"a": t("F32", [2], 0, 8), "z": t("F32", [0], 4, 4)})), bytes(8)), OI,
    "a zero-size tensor inside another (the reference refuses it too)", pointer="/z/data_offsets")
add("s5_tail.safetensors", container(pad8(hdr({"a": t("F32", [1], 0, 4)})), bytes(8)), OI,
    "4 bytes after the last tensor", pointer="")
add("s5_data_without_tensors.safetensors", container(pad8("{}"), b"\x00\x01"), OI,
    "2 data bytes and no tensor", pointer="")
add("s5_data_metadata_only.safetensors", container(pad8('{"__metadata__":{"a":"b"}}'), b"\x00"), OI,
    "1 data byte, only __metadata__", pointer="")
add("s5_end_past_buffer.safetensors", entry('{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', bytes(4)), OI,
    "the tensor ends past the file", pointer="/t/data_offsets")
add("s5_truncated_data.safetensors", build(SCALES)[:-1], OI, "a valid file missing its last byte",
    pointer="/" + V % 1 + "/data_offsets")
add("s5_end_u64_max.safetensors",
    entry('{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551615]}', bytes(4)), OI,
    "end = 2^64 - 1", pointer="/t/data_offsets")
add("s5_gap_after_zero_size.safetensors",
    container(pad8(hdr({"a": t("U8", [1], 0, 1), "e": t("U8", [0], 2, 2), "b": t("U8", [1], 2, 3)})), bytes(3)),
    OI, "a zero-size tensor does not fill a gap", pointer="/e/data_offsets")

# ------------------------------------------------------------------------------------------------
# S6: resource limits (lowered: the spec's 1,000,000 would need a large file).
add("s6_too_many_tensors.safetensors", build([("a", "U8", [1]), ("b", "U8", [1]), ("c", "U8", [1])]),
    "too_many_tensors", "3 tensors with max_tensors = 2", pointer="", limits="max_tensors=2")
add("s6_metadata_not_counted.safetensors",
    build([("a", "U8", [1]), ("b", "U8", [1])], metadata={"k": "v"}), "ok",
    "2 tensors and __metadata__ with max_tensors = 2", limits="max_tensors=2", tensors=2)
add("s6_zero_tensors_allowed.safetensors", build([("a", "U8", [1])]), "too_many_tensors",
    "max_tensors = 0 refuses any tensor", pointer="", limits="max_tensors=0")


def main():
    for name in os.listdir(HERE):
        if name.endswith(".safetensors") and name not in files:
            os.remove(os.path.join(HERE, name))
    for name, data in sorted(files.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "expected.tsv"), "w", encoding="utf-8") as f:
        f.write("# Generated by generate.py; do not edit. Columns: see generate.py.\n")
        f.write("file\texpect\tpointer\tlimits\ttensors\tnote\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("%d files" % len(files))


if __name__ == "__main__":
    main()
