/* kvscale/kvscale.h: the C ABI of kvscale (plain C99; reference: docs/c-api.md).
 *
 * A thin layer over the C++ API (scales.hpp, kv_cache.hpp, cpu.hpp, gpu.hpp) for servers and
 * bindings written in C or through an FFI (the Python package uses ctypes). No C++ type and no
 * exception crosses it: every function returns a kvscale_status (or a plain value) and
 * kvscale_last_error() gives the detail of the last failure on the calling thread.
 *
 * Ownership: handles (kvscale_scales, kvscale_device_scales) are created by one function and
 * released by their *_free function (NULL is accepted). Strings and arrays a handle returns belong
 * to the handle and live as long as it does. Data pointers of the operations belong to the caller.
 * Thread-safety: a handle may be read from several threads at once; the operations are as
 * thread-safe as the C++ backends (independent calls on distinct outputs may run concurrently). */
#ifndef KVSCALE_KVSCALE_H
#define KVSCALE_KVSCALE_H

#include <stddef.h>
#include <stdint.h>

#include "kvscale/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped on every incompatible change of this header (layouts, signatures, enum values). */
#define KVSCALE_ABI_VERSION 1

/** Results; the values equal kvscale::Status's. */
typedef enum kvscale_status {
  KVSCALE_SUCCESS = 0,          /**< Done (for GPU operations: enqueued). */
  KVSCALE_INVALID_ARGUMENT = 1, /**< A null handle or pointer, a bad shape, stride, size or slot; nothing ran. */
  KVSCALE_UNSUPPORTED = 2,      /**< No such backend in this build, or a format/dtype it lacks. */
  KVSCALE_NO_DEVICE = 3,        /**< No GPU, or the device id does not exist. */
  KVSCALE_DEVICE_ERROR = 4,     /**< A GPU runtime call failed. */
  KVSCALE_OUT_OF_MEMORY = 5,    /**< A host or device allocation failed. */
  KVSCALE_INVALID_SCALES = 6,   /**< The scales were rejected: see the handle's diagnostics. */
  KVSCALE_INTERNAL_ERROR = 7,   /**< A bug in kvscale (an unexpected exception); please report it. */
  KVSCALE_STATUS_MAX_ENUM = 0x7FFFFFFF
} kvscale_status;

/* Every enum ends in a *_MAX_ENUM = 0x7FFFFFFF member (as Vulkan does): it makes the enum an int on
 * every compiler and makes any non-negative int a valid value of its type in C++, so that a wrong
 * value from C reaches the library as a value it rejects (INVALID_ARGUMENT), not as undefined
 * behaviour. */
typedef enum kvscale_format {
  KVSCALE_E4M3FN = 0,
  KVSCALE_E4M3FNUZ = 1,
  KVSCALE_FORMAT_MAX_ENUM = 0x7FFFFFFF
} kvscale_format;
typedef enum kvscale_dtype {
  KVSCALE_F32 = 0,
  KVSCALE_F16 = 1,
  KVSCALE_BF16 = 2,
  KVSCALE_DTYPE_MAX_ENUM = 0x7FFFFFFF
} kvscale_dtype;
typedef enum kvscale_backend {
  KVSCALE_BACKEND_CPU = 0,
  KVSCALE_BACKEND_GPU = 1,
  KVSCALE_BACKEND_MAX_ENUM = 0x7FFFFFFF
} kvscale_backend;
typedef enum kvscale_granularity {
  KVSCALE_PER_TENSOR = 0,
  KVSCALE_PER_HEAD = 1,
  KVSCALE_GRANULARITY_MAX_ENUM = 0x7FFFFFFF
} kvscale_granularity;
typedef enum kvscale_kv { KVSCALE_K = 0, KVSCALE_V = 1, KVSCALE_KV_MAX_ENUM = 0x7FFFFFFF } kvscale_kv;
typedef enum kvscale_source {
  KVSCALE_SOURCE_SCALES_FILE = 0, /**< kv_cache_scales.json */
  KVSCALE_SOURCE_CHECKPOINT = 1,  /**< a checkpoint directory */
  KVSCALE_SOURCE_SAFETENSORS = 2, /**< one .safetensors file */
  KVSCALE_SOURCE_CALIBRATION = 3, /**< kvscale_scales_from_amax */
  KVSCALE_SOURCE_MAX_ENUM = 0x7FFFFFFF
} kvscale_source;

/* ---------------------------------------------------------------------------------------------
 * Versions and errors */

/** KVSCALE_ABI_VERSION of the library actually loaded (compare with the header's). */
KVSCALE_EXPORT uint32_t kvscale_abi_version(void);
/** The library version, "MAJOR.MINOR.PATCH". Static storage. */
KVSCALE_EXPORT const char* kvscale_version(void);
/** "success", "invalid_argument", ...; "unknown" for other values. Static storage. */
KVSCALE_EXPORT const char* kvscale_status_name(kvscale_status s);
/** Detail of the last failed call on this thread ("" if none). Valid until the thread's next
 *  kvscale call; read it right after the failure. */
KVSCALE_EXPORT const char* kvscale_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Loading scales (kv_cache_scales.json, a checkpoint directory or a .safetensors file) */

/** kvscale::LoadOptions. Start from kvscale_load_options_init(). Limits may only be lowered;
 *  a limit of 0 means the spec's default. */
typedef struct kvscale_load_options {
  int has_context;        /**< 0: self-consistency only; 1: check against the fields below */
  int tp_size;            /**< default 1 */
  int tp_rank;            /**< default 0 */
  int num_layers;         /**< num_hidden_layers; 0 for a checkpoint = take it from config.json */
  const char* model_type; /**< NULL: not checked (V5) */
  int unit_fallback;      /**< 1: vLLM's all-1.0 table on rejection (diagnostics kept) */
  uint64_t max_file_bytes;
  int max_depth;
  int max_ranks;
  int max_layers;
  size_t max_diagnostics;
  uint64_t max_header_bytes;
  uint64_t max_config_bytes;
  uint64_t max_index_bytes;
  int64_t max_tensors;
  int64_t max_files;
  int max_heads;
} kvscale_load_options;

/** Fills the defaults: no context (tp_size 1, rank 0, layers 0), no fallback, limits 0 (defaults). */
KVSCALE_EXPORT void kvscale_load_options_init(kvscale_load_options* options);

/** A loaded (or rejected) scale set: the table, the diagnostics and the warnings. */
typedef struct kvscale_scales kvscale_scales;

/** Loads and validates `path` (a directory or *.safetensors goes to the checkpoint loader, anything
 *  else to the scales-file loader). options may be NULL (defaults). *out receives a handle whenever
 *  the source was read and judged, accepted or not:
 *    KVSCALE_SUCCESS         accepted (or unit_fallback was used: kvscale_scales_info.used_fallback);
 *    KVSCALE_INVALID_SCALES  rejected: *out holds the diagnostics and an empty table;
 *  other errors (null path/out: INVALID_ARGUMENT, OUT_OF_MEMORY) leave *out NULL. */
KVSCALE_EXPORT kvscale_status kvscale_scales_load(const char* path, const kvscale_load_options* options,
                                                  kvscale_scales** out);
/** Validation without a handle: SUCCESS or INVALID_SCALES; *num_diagnostics (may be NULL) gets
 *  the number of errors, and on rejection kvscale_last_error() holds the first one, formatted. */
KVSCALE_EXPORT kvscale_status kvscale_validate(const char* path, const kvscale_load_options* options,
                                               size_t* num_diagnostics);
/** Releases a handle (NULL: nothing). */
KVSCALE_EXPORT void kvscale_scales_free(kvscale_scales* scales);

/** One diagnostic or warning. Strings belong to the handle. */
typedef struct kvscale_diagnostic {
  const char* code;     /**< stable snake_case code, e.g. "layer_missing" */
  const char* rule;     /**< spec rule ("V3", "C4", "IO") or "" */
  const char* file;     /**< checkpoint file the pointer points into, "" for a scales file */
  const char* pointer;  /**< RFC 6901 JSON pointer ("" = root) */
  const char* location; /**< "FILE:POINTER" for checkpoints, else the pointer */
  const char* message;  /**< one line */
} kvscale_diagnostic;

/** Counts; 0 for a NULL handle. */
KVSCALE_EXPORT size_t kvscale_scales_diagnostic_count(const kvscale_scales* scales);
KVSCALE_EXPORT size_t kvscale_scales_warning_count(const kvscale_scales* scales);
/** The i-th diagnostic (warning). INVALID_ARGUMENT for a NULL handle or out, or i >= count. */
KVSCALE_EXPORT kvscale_status kvscale_scales_diagnostic(const kvscale_scales* scales, size_t i,
                                                        kvscale_diagnostic* out);
KVSCALE_EXPORT kvscale_status kvscale_scales_warning(const kvscale_scales* scales, size_t i, kvscale_diagnostic* out);

/** The shape and origin of a scale set. Strings belong to the handle. */
typedef struct kvscale_scales_info {
  int accepted;       /**< 1 when the source was accepted */
  int used_fallback;  /**< 1 when unit_fallback replaced a rejected source */
  int tp_size;        /**< ranks of the table (0: empty table) */
  int num_layers;     /**< layers per rank */
  int heads_per_rank; /**< KV heads of a rank for per-head entries; 0 when all are per tensor */
  int num_kv_heads;   /**< the checkpoint's KV heads; 0 when unknown */
  kvscale_source source;
  const char* granularity; /**< "tensor", "head", "mixed", or "" for an empty table */
  const char* producer;    /**< "quark", "compressed-tensors", "modelopt", "fp8", or NULL */
  const char* model_type;  /**< the table's model_type, or NULL */
} kvscale_scales_info;

KVSCALE_EXPORT kvscale_status kvscale_scales_get_info(const kvscale_scales* scales, kvscale_scales_info* out);

/** The K or V scales of (rank, layer): *count floats (1 per tensor, heads_per_rank per head) at
 *  *values, owned by the handle; *granularity (may be NULL) says which. INVALID_ARGUMENT for a NULL
 *  handle or output, an empty table, or rank/layer outside it. */
KVSCALE_EXPORT kvscale_status kvscale_scales_entry(const kvscale_scales* scales, kvscale_kv which, int rank, int layer,
                                                   const float** values, int* count, kvscale_granularity* granularity);

/** Writers (kvscale convert). merge_max: fold K != V, per-head or differing ranks with max where
 *  the format cannot hold them (else INVALID_ARGUMENT); force: replace an existing file. Atomic.
 *  INVALID_SCALES when the handle holds a rejected source. */
KVSCALE_EXPORT kvscale_status kvscale_scales_write_json(const kvscale_scales* scales, const char* path, int merge_max,
                                                        int force);
KVSCALE_EXPORT kvscale_status kvscale_scales_write_safetensors(const kvscale_scales* scales, const char* path,
                                                               int merge_max, int force);

/** Calibration: scales from an observe_amax buffer, scale = max(amax / 448, FLT_MIN) per entry
 *  (kvscale::scales_from_amax). `amax` holds tp_size * num_layers blocks of 2 + 2 * num_kv_heads
 *  floats, rank-major, each as kvscale_observe_amax fills it; num_kv_heads is one rank's.
 *  granularity KVSCALE_PER_TENSOR takes each block's K and V; KVSCALE_PER_HEAD the per-head ones.
 *  model_type (may be NULL) is stored for the JSON writer. On success *out is an accepted scale set
 *  (source KVSCALE_SOURCE_CALIBRATION, free it with kvscale_scales_free) for kvscale_scales_entry
 *  and the writers (K != V in general: kvscale_scales_write_json needs merge_max), and *floored (may
 *  be NULL) counts the entries set to FLT_MIN (amax < 448 * FLT_MIN, e.g. a layer that saw only
 *  zeros). INVALID_ARGUMENT (*out NULL): NULL amax or out, a size <= 0, an unknown granularity, an
 *  amax that is NaN, negative or inf (the message names rank, layer, K/V and head). */
KVSCALE_EXPORT kvscale_status kvscale_scales_from_amax(const float* amax, int tp_size, int num_layers, int num_kv_heads,
                                                       kvscale_granularity granularity, const char* model_type,
                                                       kvscale_scales** out, int* floored);

/* ---------------------------------------------------------------------------------------------
 * Device scales (kvscale::DeviceScales): one rank's effective scales on a GPU, at fixed pointers */

typedef struct kvscale_device_scales kvscale_device_scales;

/** Uploads layers [first_layer, first_layer + num_layers) (num_layers < 0: to the end) of `rank`
 *  for a cache of `cache_format` (x2 for e4m3fnuz when apply_fnuz_factor) with a copy on `stream`
 *  (a hipStream_t/cudaStream_t, NULL = default). Errors: INVALID_ARGUMENT (NULL, rank/range),
 *  INVALID_SCALES (a rejected handle), NO_DEVICE, OUT_OF_MEMORY, DEVICE_ERROR, UNSUPPORTED (no GPU backend). */
KVSCALE_EXPORT kvscale_status kvscale_device_scales_create(int device, const kvscale_scales* scales, int rank,
                                                           int first_layer, int num_layers, kvscale_format cache_format,
                                                           int apply_fnuz_factor, void* stream,
                                                           kvscale_device_scales** out);
/** Rewrites the values in place from another load of the same shape (pointers unchanged). */
KVSCALE_EXPORT kvscale_status kvscale_device_scales_update(kvscale_device_scales* device_scales,
                                                           const kvscale_scales* scales, void* stream);
/** Device pointers and scale strides (0 per tensor, 1 per head) of an absolute layer index.
 *  INVALID_ARGUMENT for NULL arguments or a layer outside the range. */
KVSCALE_EXPORT kvscale_status kvscale_device_scales_layer(const kvscale_device_scales* device_scales, int layer,
                                                          const float** k_scale, const float** v_scale,
                                                          int* k_scale_stride, int* v_scale_stride);
/** Floats per layer and half (max(1, heads of the rank)); 0 for NULL. */
KVSCALE_EXPORT int kvscale_device_scales_head_slots(const kvscale_device_scales* device_scales);
KVSCALE_EXPORT void kvscale_device_scales_free(kvscale_device_scales* device_scales);

/* ---------------------------------------------------------------------------------------------
 * GPU queries */

/** "hip", "cuda" or "none". */
KVSCALE_EXPORT const char* kvscale_gpu_backend(void);
/** Number of devices (*count = 0 and NO_DEVICE / UNSUPPORTED when there is none). */
KVSCALE_EXPORT kvscale_status kvscale_gpu_device_count(int* count);
/** The format the device converts natively (e4m3fnuz on gfx940/941/942, else e4m3fn). */
KVSCALE_EXPORT kvscale_status kvscale_gpu_native_format(int device, kvscale_format* out);
/** Makes `device` current for the calling thread. */
KVSCALE_EXPORT kvscale_status kvscale_gpu_set_device(int device);
/** Waits for `stream`. (No operation below synchronises by itself.) */
KVSCALE_EXPORT kvscale_status kvscale_gpu_synchronize(void* stream);

/* ---------------------------------------------------------------------------------------------
 * Operations. backend CPU: host pointers (scales too), synchronous, `stream` ignored.
 * backend GPU: device pointers (scales too), enqueued on `stream`, never synchronised or allocating.
 * Size 0 is a no-op. Errors: INVALID_ARGUMENT (see kv_cache.hpp's validate()), UNSUPPORTED (no GPU
 * backend), DEVICE_ERROR. Byte results equal on both backends (the CPU one is the reference). */

/** out[i] = quantize(format, in[i] / *scale) for i < n (saturating to the format's max finite). */
KVSCALE_EXPORT kvscale_status kvscale_quantize(kvscale_backend backend, kvscale_format format, kvscale_dtype dtype,
                                               const void* in, uint8_t* out, size_t n, const float* scale,
                                               void* stream);
/** out[i] = round_to_dtype(decode(in[i]) * *scale) for i < n. */
KVSCALE_EXPORT kvscale_status kvscale_dequantize(kvscale_backend backend, kvscale_format format, kvscale_dtype dtype,
                                                 const uint8_t* in, void* out, size_t n, const float* scale,
                                                 void* stream);

typedef enum kvscale_cache_layout {
  KVSCALE_LAYOUT_NHD = 0, /**< [num_blocks, block_size, heads, head_size] (vLLM flash) */
  KVSCALE_LAYOUT_HND = 1, /**< [num_blocks, heads, block_size, head_size] */
  /** K [blocks, heads, head_size/16, block_size, 16], V [blocks, heads, head_size, block_size] */
  KVSCALE_LAYOUT_SPLIT = 2,
  KVSCALE_LAYOUT_MAX_ENUM = 0x7FFFFFFF
} kvscale_cache_layout;

/** kvscale::PagedCacheShape (in elements = bytes): strides all 0 = the layout's dense preset. */
typedef struct kvscale_cache_shape {
  kvscale_cache_layout layout;
  int64_t num_blocks;
  int64_t block_size;
  int64_t num_kv_heads;
  int64_t head_size;
  int64_t block_stride;
  int64_t slot_stride;
  int64_t head_stride;
  int64_t allocation_bytes; /**< K and V in one allocation of this many bytes; 0 = unchecked */
} kvscale_cache_shape;

/** kvscale::TokenRows: [num_tokens, num_kv_heads, head_size], rows *_row_stride elements apart. */
typedef struct kvscale_token_rows {
  int64_t num_tokens;
  int64_t num_kv_heads;
  int64_t head_size;
  int64_t key_row_stride;
  int64_t value_row_stride;
} kvscale_token_rows;

/** Arguments of the paged operations. Write reads key/value and writes the caches at
 *  slot_mapping[t] (negative slots skipped); read dequantizes the caches back into key/value.
 *  Scales: head h uses k_scale[h * k_scale_stride] (stride 0 per tensor, 1 per head). */
typedef struct kvscale_paged_args {
  kvscale_format format;
  kvscale_dtype dtype;
  kvscale_token_rows rows;
  void* key;
  void* value;
  const int64_t* slot_mapping;
  kvscale_cache_shape cache;
  uint8_t* key_cache;
  uint8_t* value_cache;
  const float* k_scale;
  const float* v_scale;
  int k_scale_stride;
  int v_scale_stride;
} kvscale_paged_args;

/** vLLM reshape_and_cache(_flash): quantize rows into the paged cache. */
KVSCALE_EXPORT kvscale_status kvscale_paged_write(kvscale_backend backend, const kvscale_paged_args* args,
                                                  void* stream);
/** Gather and dequantize slots back into rows (rows of negative slots untouched). */
KVSCALE_EXPORT kvscale_status kvscale_paged_read(kvscale_backend backend, const kvscale_paged_args* args, void* stream);
/** Calibration: folds max |K|, |V| of the rows into amax (2 + 2 * num_kv_heads floats:
 *  [K, V, K_head..., V_head...]); slot_mapping may be NULL. See kvscale::ObserveAmaxArgs. */
KVSCALE_EXPORT kvscale_status kvscale_observe_amax(kvscale_backend backend, kvscale_dtype dtype,
                                                   const kvscale_token_rows* rows, const void* key, const void* value,
                                                   const int64_t* slot_mapping, float* amax, void* stream);

/** CPU backend threads (1 disables threading; <= 0 restores the default). */
KVSCALE_EXPORT void kvscale_cpu_set_num_threads(int n);

#ifdef __cplusplus
}
#endif

#endif /* KVSCALE_KVSCALE_H */
