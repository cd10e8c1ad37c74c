#!/usr/bin/env python3
"""Generates the malformed-scales corpus (tests/data/malformed/) and its expected.tsv.

Run from anywhere: `python3 tests/data/malformed/generate.py`. The output is deterministic; the
generated files are committed so that tests, the fuzzer's seed corpus and scripts/valgrind-corpus
never need Python. Re-run after editing and commit the result (`git status` shows what changed).

expected.tsv columns (tab-separated, "-" = absent):
  file        corpus file name
  expect      "ok" (must be accepted), or the DiagCode name that must be among the diagnostics;
              "a|b" where the spec allows either code
  tp_size tp_rank num_layers model_type
              the LoadContext; a context is used when tp_size is not "-"
  pointer     the RFC 6901 pointer the expected diagnostic must carry ("" is written as "<root>")
  scale0      for "ok" rows: the expected float32 bits of scale(0, 0), e.g. 0x00000001
  note        what the file exercises

Files of 16 MiB and more are never committed: tests/hardening/ creates them at test time.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SF = "/kv_cache/scaling_factor"

rows = []
files = {}


def f32_bits(x):
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def add(name, data, expect, note, ctx=None, pointer=None, scale0=None):
    """ctx: (tp_size, tp_rank, num_layers[, model_type])."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    assert name not in files, name
    assert len(data) < (4 << 20), name
    files[name] = data
    tp = rank = layers = mt = "-"
    if ctx is not None:
        tp, rank, layers = (str(v) for v in ctx[:3])
        if len(ctx) > 3:
            mt = ctx[3]
    ptr = "-" if pointer is None else (pointer if pointer != "" else "<root>")
    rows.append([name, expect, tp, rank, layers, mt, ptr, scale0 or "-", note])


def scales(ranks=1, layers=2, value="0.5"):
    """The scaling_factor object text of a valid file."""
    per_rank = ", ".join('"%d": %s' % (l, value) for l in range(layers))
    return "{" + ", ".join('"%d": {%s}' % (r, per_rank) for r in range(ranks)) + "}"


def doc(sf=None, model_type='"llama"', dtype='"float8_e4m3fn"', top_extra="", kv_extra=""):
    """A whole file from pieces of JSON text (so that invalid JSON can be spliced in)."""
    sf = scales() if sf is None else sf
    return ('{"model_type": %s, "kv_cache": {"dtype": %s, "scaling_factor": %s%s}%s}\n' %
            (model_type, dtype, sf, kv_extra, top_extra))


def one_scale(value_text, layers=2):
    """A file whose rank 0 / layer 0 scale is value_text, the other layers 0.5."""
    rest = "".join(', "%d": 0.5' % l for l in range(1, layers))
    return doc(sf='{"0": {"0": %s%s}}' % (value_text, rest))


VALID = doc()

# ------------------------------------------------------------------------------------------------
# Truncation at every level (every prefix of a valid file is a syntax error).
for i, cut in enumerate([
        "",  # empty file
        "{",
        '{"model_type"',
        '{"model_type":',
        '{"model_type": "lla',
        '{"model_type": "llama"',
        '{"model_type": "llama", "kv_cache": {',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 1e',
        '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": -',
        '{"model_type": "ll\\u00',
        VALID.rstrip()[:-1],  # everything but the final brace
        VALID.rstrip()[:-2],  # the final two braces missing
]):
    add("trunc_%02d.json" % i, cut, "syntax_error", "truncated after %d bytes" % len(cut))
add("whitespace_only.json", " \n\t\r\n", "syntax_error", "no JSON value at all")

# ------------------------------------------------------------------------------------------------
# Not JSON (syntax) in a scales position.
for name, text in [("leading_zero", "05"), ("leading_dot", ".5"), ("plus_sign", "+0.5"), ("trailing_dot", "5."),
                   ("hex", "0x10"), ("lowercase_nan", "nan"), ("lowercase_inf", "inf"), ("single_quotes", "'0.5'"),
                   ("bare_word", "half")]:
    add("num_%s.json" % name, one_scale(text), "syntax_error", "not a JSON number: %s" % text)
add("syntax_trailing_comma.json", doc(sf='{"0": {"0": 0.5, "1": 0.5,}}'), "syntax_error", "a trailing comma")
add("comment.json", "// calibrated by hand\n" + VALID, "syntax_error", "a // comment")
add("unquoted_key.json", '{model_type: "llama"}', "syntax_error", "an unquoted key")
add("raw_tab_in_string.json", doc(model_type='"lla\tma"'), "syntax_error", "a raw control character in a string")
add("bad_escape.json", doc(model_type='"lla\\xma"'), "syntax_error", "an invalid escape \\x")
add("nul_in_string.json", doc(model_type='"lla\x00ma"'), "syntax_error", "a raw NUL byte inside a string")
add("nul_between_tokens.json", VALID.replace('"kv_cache"', '\x00"kv_cache"'), "syntax_error",
    "a NUL byte between tokens")

# ------------------------------------------------------------------------------------------------
# Top level not an object; wrong types at every level (V6); missing keys.
for name, text in [("array", "[]"), ("string", '"llama"'), ("number", "42"), ("null", "null"), ("true", "true")]:
    add("top_%s.json" % name, text + "\n", "not_an_object", "top-level value is %s" % name, pointer="")
add("model_type_number.json", doc(model_type="42"), "wrong_type", "model_type is a number", pointer="/model_type")
add("model_type_array.json", doc(model_type='["llama"]'), "wrong_type", "model_type is an array",
    pointer="/model_type")
add("model_type_missing.json", '{"kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": %s}}' % scales(),
    "missing_key", "no model_type key", pointer="")
add("kv_cache_array.json", '{"model_type": "llama", "kv_cache": []}', "wrong_type", "kv_cache is an array",
    pointer="/kv_cache")
add("kv_cache_null.json", '{"model_type": "llama", "kv_cache": null}', "wrong_type", "kv_cache is null",
    pointer="/kv_cache")
add("kv_cache_missing.json", '{"model_type": "llama"}', "missing_key", "no kv_cache key", pointer="")
add("dtype_number.json", doc(dtype="8"), "wrong_type", "dtype is a number", pointer="/kv_cache/dtype")
add("dtype_null.json", doc(dtype="null"), "wrong_type", "dtype is null", pointer="/kv_cache/dtype")
add("dtype_missing.json", '{"model_type": "llama", "kv_cache": {"scaling_factor": %s}}' % scales(), "missing_key",
    "no dtype key", pointer="/kv_cache")
for name, text in [("e5m2", "float8_e5m2"), ("fnuz", "float8_e4m3fnuz"), ("upper", "FLOAT8_E4M3FN"),
                   ("space", "float8_e4m3fn "), ("empty", "")]:
    add("dtype_%s.json" % name, doc(dtype=json.dumps(text)), "dtype_mismatch", "dtype %r" % text,
        pointer="/kv_cache/dtype")
add("scaling_factor_array.json", doc(sf="[[0.5, 0.5]]"), "wrong_type", "scaling_factor is an array",
    pointer=SF)
add("scaling_factor_missing.json", '{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn"}}',
    "missing_key", "no scaling_factor key", pointer="/kv_cache")
add("rank_array.json", doc(sf='{"0": [0.5, 0.5]}'), "wrong_type", "a rank is an array", pointer=SF + "/0")
add("rank_number.json", doc(sf='{"0": 0.5}'), "wrong_type", "a rank is a number", pointer=SF + "/0")
for name, text in [("string", '"0.5"'), ("true", "true"), ("null", "null"), ("array", "[0.5]"),
                   ("object", '{"v": 0.5}')]:
    add("scale_%s.json" % name, one_scale(text), "scale_not_number", "scale is %s (H3)" % name,
        pointer=SF + "/0/0")

# ------------------------------------------------------------------------------------------------
# Nesting (H6: deeper than 64). Depth counts objects and arrays; the root object is depth 1.
def nested(depth_inside):
    return "[" * depth_inside + "]" * depth_inside


add("ok_depth_64.json", doc(top_extra=', "x": ' + nested(63)), "ok", "depth exactly 64 (root + 63 arrays)",
    scale0=f32_bits(0.5))
add("depth_65.json", doc(top_extra=', "x": ' + nested(64)), "nesting_too_deep", "depth 65 in an unknown key")
add("depth_100k.json", doc(top_extra=', "x": ' + nested(100000)), "nesting_too_deep",
    "100000 nested arrays (a recursive parser overflows its stack)")
add("depth_100k_unclosed.json", '{"x": ' + "[" * 100000, "nesting_too_deep",
    "100000 unclosed arrays: the depth limit is hit long before the end")
add("depth_objects.json", doc(top_extra=', "x": ' + '{"a": ' * 200 + "1" + "}" * 200), "nesting_too_deep",
    "200 nested objects")

# ------------------------------------------------------------------------------------------------
# Enormous keys, strings and numbers.
add("ok_huge_unknown_key.json", doc(top_extra=', "%s": 1' % ("k" * 100000)), "ok", "a 100 kB unknown key",
    scale0=f32_bits(0.5))
add("huge_layer_key.json", doc(sf='{"0": {"0": 0.5, "1": 0.5, "%s": 0.5}}' % ("1" * 100000)), "key_not_canonical",
    "a 100000-digit layer key (outside int32)")
add("ok_huge_model_type.json", doc(model_type='"%s"' % ("m" * 100000)), "ok", "a 100 kB model_type, no context",
    scale0=f32_bits(0.5))
add("huge_model_type_ctx.json", doc(model_type='"llama%s"' % ("m" * 100000)), "model_type_mismatch",
    "a 100 kB model_type vs the context's llama", ctx=(1, 0, 2, "llama"), pointer="/model_type")
add("ok_long_mantissa.json", one_scale("0.5" + "0" * 100000 + "1"), "ok", "a 100003-digit decimal near 0.5",
    scale0=f32_bits(0.5))
add("ok_long_exponent_digits.json", one_scale("5e-0000000000000000000000000000001"), "ok",
    "an exponent with 32 digits (5e-1)", scale0=f32_bits(0.5))
add("ok_big_integer.json", one_scale("18446744073709551616"), "ok", "2^64 as an integer literal (finite in f32)",
    scale0=f32_bits(18446744073709551616.0))

# ------------------------------------------------------------------------------------------------
# Objects with many entries (H6: more than 65536 ranks or layers). 65536 itself is accepted: the
# tests build that file in memory rather than commit another megabyte.
add("layers_100k.json", doc(sf='{"0": {%s}}' % ",".join('"%d":1' % l for l in range(100000))), "too_many_layers",
    "one rank with 10^5 layers")
add("ranks_65537.json", doc(sf="{%s}" % ",".join('"%d":{}' % r for r in range(65537))), "too_many_ranks",
    "65537 (empty) ranks")
add("ctx_tp_65537.json", VALID, "too_many_ranks", "context tp_size 65537 (above the limit)", ctx=(65537, 0, 2))
add("ctx_layers_65537.json", VALID, "too_many_layers", "context num_hidden_layers 65537", ctx=(1, 0, 65537))

# ------------------------------------------------------------------------------------------------
# Numbers at the float32 and double limits (H5: finite and > 0 after decimal -> double -> float32).
for name, text, expect in [
    ("flt_max", "3.4028235e38", "ok"),  # rounds to FLT_MAX
    ("flt_max_plus", "3.4028236e38", "scale_out_of_range"),  # above FLT_MAX + ulp/2: inf
    ("1e39", "1e39", "scale_out_of_range"),
    ("dbl_max", "1.7976931348623157e308", "scale_out_of_range"),
    ("dbl_overflow", "1e400", "scale_out_of_range"),  # inf already in double
    ("neg_dbl_overflow", "-1e400", "scale_out_of_range"),
    ("flt_true_min", "1.4e-45", "ok"),  # the smallest float32 subnormal: > 0, accepted
    ("1e-45", "1e-45", "ok"),  # rounds up to the smallest subnormal
    ("7.1e-46", "7.1e-46", "ok"),  # just above half the smallest subnormal
    ("7e-46", "7e-46", "scale_out_of_range"),  # just below half: rounds to 0
    ("1e-46", "1e-46", "scale_out_of_range"),
    ("1e-50", "1e-50", "scale_out_of_range"),
    ("dbl_underflow", "1e-400", "scale_out_of_range"),  # 0 already in double
    ("zero", "0", "scale_out_of_range"),
    ("zero_float", "0.0", "scale_out_of_range"),
    ("neg_zero", "-0.0", "scale_out_of_range"),
    ("negative", "-0.5", "scale_out_of_range"),
    ("neg_int", "-5", "scale_out_of_range"),
    ("neg_subnormal", "-1.4e-45", "scale_out_of_range"),
    ("int_one", "1", "ok"),
    ("exp_upper", "5E-1", "ok"),
    ("exp_plus", "0.05e+1", "ok"),
]:
    if expect == "ok":
        add("ok_value_%s.json" % name, one_scale(text), "ok", "scale %s" % text, scale0=f32_bits(float(text)))
    else:
        add("value_%s.json" % name, one_scale(text), expect, "scale %s" % text, pointer=SF + "/0/0")

# H4: NaN and Infinity tokens (Python's json accepts them).
for name, text in [("nan", "NaN"), ("inf", "Infinity"), ("neg_inf", "-Infinity")]:
    add("token_%s.json" % name, one_scale(text), "nan_or_infinity", "the %s token as a scale" % text)
add("token_nan_unknown_key.json", doc(top_extra=', "calibration_amax": NaN'), "nan_or_infinity",
    "a NaN token in an unknown key: still not JSON")

# ------------------------------------------------------------------------------------------------
# Bytes: BOM, invalid UTF-8, NUL, trailing data (H7).
add("bom.json", b"\xef\xbb\xbf" + VALID.encode(), "utf8_bom", "a UTF-8 byte order mark")
add("utf16le_bom.json", b"\xff\xfe" + VALID.encode("utf-16-le"), "invalid_utf8|syntax_error",
    "a UTF-16LE file with its BOM")
for name, raw in [("ff", b"\xff"), ("overlong_slash", b"\xc0\xaf"), ("surrogate", b"\xed\xa0\x80"),
                  ("above_max", b"\xf4\x90\x80\x80"), ("truncated_seq", b"\xe2\x82"), ("lone_continuation", b"\x80"),
                  ("overlong_nul", b"\xc0\x80")]:
    add("utf8_%s.json" % name, VALID.encode().replace(b'"llama"', b'"lla' + raw + b'ma"'), "invalid_utf8",
        "invalid UTF-8 %s in model_type" % raw.hex())
add("utf8_in_key.json", VALID.encode().replace(b'"kv_cache"', b'"kv_cache", "\xfe\xfe": 1, "x"', 1), "invalid_utf8",
    "invalid UTF-8 in an unknown key")
add("utf8_outside_string.json", VALID.encode().replace(b', "kv_cache"', b', \xff "kv_cache"'),
    "invalid_utf8|syntax_error", "a 0xff byte between tokens")
add("ok_utf8_multibyte.json", doc(model_type=json.dumps("λlama-日本-\U0001F999", ensure_ascii=False)), "ok",
    "valid 2-, 3- and 4-byte UTF-8 in model_type", scale0=f32_bits(0.5))
add("model_type_escaped_nul_ctx.json", doc(model_type='"llama\\u0000"'), "model_type_mismatch",
    "model_type 'llama\\0' (escaped NUL) is not 'llama'", ctx=(1, 0, 2, "llama"), pointer="/model_type")
add("ok_model_type_escaped_ctx.json", doc(model_type='"ll\\u0061ma"'), "ok",
    "model_type ll\\u0061ma decodes to llama", ctx=(1, 0, 2, "llama"), scale0=f32_bits(0.5))
for name, tail in [("word", b"x"), ("object", b"{}"), ("brace", b"}"), ("comma", b","), ("nul", b"\x00"),
                   ("second_doc", VALID.encode())]:
    add("trailing_%s.json" % name, VALID.encode() + tail, "trailing_data", "trailing %r after the value" % tail[:8])
add("trailing_nul_then_junk.json", VALID.encode() + b"\x00junk{", "trailing_data",
    "a NUL byte, then junk: a parser that stops at NUL hides the rest")
add("ok_trailing_whitespace.json", VALID + " \t\r\n\n", "ok", "trailing whitespace is not data",
    scale0=f32_bits(0.5))

# ------------------------------------------------------------------------------------------------
# Duplicate keys at every level (H2).
add("dup_model_type.json", VALID.replace('"model_type": "llama"', '"model_type": "llama", "model_type": "mistral"'),
    "duplicate_key", "model_type twice", pointer="/model_type")
add("dup_model_type_escaped.json", VALID.replace('"kv_cache"', '"model\\u005ftype": "x", "kv_cache"'),
    "duplicate_key", "model_type twice, once spelled with a \\u escape", pointer="/model_type")
add("dup_kv_cache.json", doc(top_extra=', "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": %s}' % scales()),
    "duplicate_key", "kv_cache twice", pointer="/kv_cache")
add("dup_dtype.json", doc(kv_extra=', "dtype": "float8_e4m3fn"'), "duplicate_key", "dtype twice",
    pointer="/kv_cache/dtype")
add("dup_scaling_factor.json", doc(kv_extra=', "scaling_factor": %s' % scales()), "duplicate_key",
    "scaling_factor twice", pointer=SF)
add("dup_rank.json", doc(sf='{"0": {"0": 0.5, "1": 0.5}, "0": {"0": 0.25, "1": 0.25}}'), "duplicate_key",
    "rank 0 twice", pointer=SF + "/0")
add("dup_layer.json", doc(sf='{"0": {"0": 0.5, "1": 0.5, "1": 0.25}}'), "duplicate_key", "layer 1 twice",
    pointer=SF + "/0/1")
add("dup_unknown.json", doc(top_extra=', "note": 1, "note": 2'), "duplicate_key", "an unknown key twice",
    pointer="/note")

# ------------------------------------------------------------------------------------------------
# Canonical and non-canonical keys (H1); negative and very large ranks and layers.
for name, key in [("leading_zero", "01"), ("space", " 1"), ("plus", "+1"), ("float", "1.0"), ("underscore", "1_0"),
                  ("neg_zero", "-0"), ("exponent", "1e0"), ("empty", ""), ("arabic_digit", "\u0661"),
                  ("negative", "-1"), ("int32_overflow", "2147483648"), ("huge", "99999999999999999999"),
                  ("trailing_space", "1 ")]:
    add("key_layer_%s.json" % name, doc(sf='{"0": {"0": 0.5, %s: 0.5}}' % json.dumps(key, ensure_ascii=False)),
        "key_not_canonical", "layer key %r" % key, pointer=SF + "/0/" + key)
add("key_zero_and_double_zero.json", doc(sf='{"0": {"0": 0.5, "00": 0.25, "1": 0.5}}'), "key_not_canonical",
    '"0" and "00": vLLM keeps one of them silently', pointer=SF + "/0/00")
add("key_rank_leading_zero.json", doc(sf='{"00": {"0": 0.5, "1": 0.5}}'), "key_not_canonical", 'rank key "00"',
    pointer=SF + "/00")
add("key_rank_negative.json", doc(sf='{"0": {"0": 0.5, "1": 0.5}, "-1": {"0": 0.5, "1": 0.5}}'),
    "key_not_canonical", 'rank key "-1"', pointer=SF + "/-1")
add("key_rank_huge.json", doc(sf='{"0": {"0": 0.5, "1": 0.5}, "4294967296": {"0": 0.5, "1": 0.5}}'),
    "key_not_canonical", "rank key 2^32", pointer=SF + "/4294967296")
add("key_slash_tilde.json", doc(sf='{"0": {"0": 0.5, "1": 0.5, "a/b~c": 0.5}}'), "key_not_canonical",
    "a key with / and ~ (RFC 6901 escaping of the pointer)", pointer=SF + "/0/a~1b~0c")
add("layer_int32_max_ctx.json", doc(sf='{"0": {"0": 0.5, "1": 0.5, "2147483647": 0.5}}'), "layer_unexpected",
    "layer 2147483647 with 2 layers", ctx=(1, 0, 2), pointer=SF + "/0/2147483647")
add("rank_int32_max_ctx.json", doc(sf='{"0": {"0": 0.5, "1": 0.5}, "2147483647": {"0": 0.5, "1": 0.5}}'),
    "rank_unexpected", "rank 2147483647 with tp_size 1", ctx=(1, 0, 2), pointer=SF + "/2147483647")
add("layer_int32_max_noctx.json", doc(sf='{"0": {"0": 0.5, "1": 0.5, "2147483647": 0.5}}'),
    "layer_missing|layer_unexpected|too_many_layers", "layers 0, 1, 2147483647 without context (not 0..L-1)")

# ------------------------------------------------------------------------------------------------
# V2..V5 (with and without a context).
add("ranks_gap.json", doc(sf='{"0": {"0": 0.5, "1": 0.5}, "2": {"0": 0.5, "1": 0.5}}'), "rank_missing",
    "ranks 0 and 2, no context", pointer=SF)
add("ctx_rank_missing.json", VALID, "rank_missing", "tp_size 2, the file has rank 0 only", ctx=(2, 0, 2),
    pointer=SF)
add("ctx_rank_unexpected.json", doc(sf=scales(ranks=2)), "rank_unexpected", "tp_size 1, the file has 2 ranks",
    ctx=(1, 0, 2), pointer=SF + "/1")
add("ctx_other_rank_layer_missing.json", doc(sf='{"0": {"0": 1, "1": 1, "2": 1}, "1": {"0": 1, "1": 1}}'),
    "layer_missing", "V3: rank 1 (not the current rank) lacks layer 2", ctx=(2, 0, 3), pointer=SF + "/1")
add("ctx_layer_unexpected.json", doc(sf=scales(layers=3)), "layer_unexpected", "3 layers, the model has 2",
    ctx=(1, 0, 2), pointer=SF + "/0/2")
add("noctx_layers_differ.json", doc(sf='{"0": {"0": 1, "1": 1}, "1": {"0": 1}}'), "layer_missing",
    "ranks with different layers, no context", pointer=SF + "/1")
add("ctx_empty_scaling_factor.json", doc(sf="{}"), "rank_missing", "scaling_factor {}", ctx=(1, 0, 2), pointer=SF)
add("noctx_empty_scaling_factor.json", doc(sf="{}"), "rank_missing",
    "scaling_factor {} without context: n = 0 ranks cannot be loaded with any tp_size", pointer=SF)
add("noctx_empty_rank.json", doc(sf='{"0": {}}'), "layer_missing",
    "rank 0 is {} without context: L = 0 layers cannot be loaded with any num_hidden_layers", pointer=SF + "/0")
add("ctx_empty_rank.json", doc(sf='{"0": {}}'), "layer_missing", "rank 0 is {}", ctx=(1, 0, 2), pointer=SF + "/0")
add("ctx_model_type_null.json", doc(model_type="null"), "model_type_mismatch", "V5: null vs llama",
    ctx=(1, 0, 2, "llama"), pointer="/model_type")
add("ctx_model_type_other.json", doc(model_type='"mistral"'), "model_type_mismatch", "V5: mistral vs llama",
    ctx=(1, 0, 2, "llama"), pointer="/model_type")
add("ctx_tp_rank_equal_size.json", doc(sf=scales(ranks=2)), "tp_rank_out_of_range", "tp_rank 2 of tp_size 2",
    ctx=(2, 2, 2))
add("ctx_tp_rank_negative.json", VALID, "tp_rank_out_of_range|invalid_context", "tp_rank -1", ctx=(1, -1, 2))
add("ctx_tp_size_zero.json", VALID, "invalid_context", "tp_size 0", ctx=(0, 0, 2))
add("ctx_tp_size_negative.json", VALID, "invalid_context", "tp_size -1", ctx=(-1, 0, 2))
add("ctx_layers_negative.json", VALID, "invalid_context", "num_hidden_layers -1", ctx=(1, 0, -1))
add("many_errors.json", doc(sf="{\"0\": {%s}}" % ", ".join('"%d": -1' % l for l in range(300))),
    "too_many_diagnostics", "300 negative scales: the list is capped")

# ------------------------------------------------------------------------------------------------
# Near misses that must be accepted.
add("ok_unknown_keys.json", doc(top_extra=', "quantized_by": "AMMO", "extra": {"a": [1, 2, {"b": null}]}',
                                 kv_extra=', "comment": "per-tensor", "version": 2'), "ok",
    "unknown keys at the top and in kv_cache (ignored, as in vLLM)", scale0=f32_bits(0.5))
add("ok_model_type_null.json", doc(model_type="null"), "ok", "model_type null without a context",
    scale0=f32_bits(0.5))
add("ok_key_order.json", doc(sf='{"1": {"1": 0.25, "0": 0.125}, "0": {"1": 0.5, "0": 0.75}}'), "ok",
    "ranks and layers in reverse order", ctx=(2, 1, 2), scale0=f32_bits(0.75))
add("ok_compact.json", VALID.replace(" ", "").replace("\n", ""), "ok", "no whitespace at all",
    scale0=f32_bits(0.5))
add("ok_whitespace.json", VALID.replace(" ", "\n\t \r\n "), "ok", "every JSON whitespace character",
    scale0=f32_bits(0.5))
add("ok_vllm_precision.json", one_scale("0.0152239128947258"), "ok", "a vLLM fixture value",
    scale0=f32_bits(0.0152239128947258))


def main():
    out = HERE
    keep = set(files) | {"generate.py", "expected.tsv", "README.md"}
    for old in os.listdir(out):
        if old not in keep and (old.endswith(".json")):
            os.remove(os.path.join(out, old))
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "expected.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# Generated by generate.py; do not edit. Columns: see generate.py.\n")
        f.write("\t".join(["file", "expect", "tp_size", "tp_rank", "num_layers", "model_type", "pointer", "scale0",
                           "note"]) + "\n")
        for r in rows:
            assert all("\t" not in c and "\n" not in c for c in r), r
            f.write("\t".join(r) + "\n")
    total = sum(len(d) for d in files.values())
    print("%d files, %d bytes (%d rejected, %d accepted)" %
          (len(files), total, sum(r[1] != "ok" for r in rows), sum(r[1] == "ok" for r in rows)), file=sys.stderr)


if __name__ == "__main__":
    main()
