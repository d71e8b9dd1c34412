/* safetensors.h — a reader (mmap, validated) and a writer of safetensors files.
 *
 * Part of the runtime: it includes nothing of the compiler. The format (MODELS.md §9.4):
 * an 8-byte little-endian header length N, N bytes of JSON mapping names to
 * {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" map of strings, then
 * the data. The reader checks everything: N within the file and at most 100,000,000,
 * valid UTF-8 JSON, known dtypes, non-negative shapes, sizes equal to
 * prod(shape) × sizeof(dtype), tensors tiling the data exactly with no gap or overlap,
 * no duplicate names. Every failure gives a message naming the problem (and the tensor).
 */
#ifndef VITC_SAFETENSORS_H
#define VITC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_RANK 8

#define ST_DTYPES(X)                                                                        \
    X(BOOL, 1) X(U8, 1) X(I8, 1) X(F8_E5M2, 1) X(F8_E4M3, 1) X(I16, 2) X(U16, 2) X(F16, 2) \
    X(BF16, 2) X(I32, 4) X(U32, 4) X(F32, 4) X(F64, 8) X(I64, 8) X(U64, 8)

typedef enum {
#define ST_ENUM(name, size) ST_##name,
    ST_DTYPES(ST_ENUM)
#undef ST_ENUM
    ST_DTYPE_COUNT
} StDType;

typedef struct {
    const char *name;
    StDType dtype;
    int rank;
    int64_t shape[ST_MAX_RANK];
    const void *data; /* inside the mapping: valid until st_close */
    size_t nbytes;
} StTensor;

typedef struct StFile StFile;

/* Opens and validates a file (mmap). NULL on failure with the reason in err. */
StFile *st_open(const char *path, char *err, size_t errlen);
/* The same over bytes in memory (not copied: they must outlive the StFile). */
StFile *st_open_memory(const void *data, size_t len, char *err, size_t errlen);
void st_close(StFile *f);

int st_count(const StFile *f);
const StTensor *st_tensor(const StFile *f, int i); /* in file order */
const StTensor *st_find(const StFile *f, const char *name);
/* A value of the __metadata__ map, or NULL. */
const char *st_metadata(const StFile *f, const char *key);

const char *st_dtype_name(StDType t);
size_t st_dtype_size(StDType t);
int st_dtype_from_name(const char *name, size_t len, StDType *out); /* 1 if known */

/* Writes tensors (data taken from each StTensor's data/nbytes) and optional metadata
 * (meta[2i] = key, meta[2i+1] = value) in the layout of the reference writer: sorted by
 * descending dtype alignment then name, header padded with spaces to a multiple of 8.
 * Returns 0, or -1 with the reason in err. */
int st_write(const char *path, const StTensor *tensors, int n, const char *const *meta, int nmeta,
             char *err, size_t errlen);

/* IEEE half and bfloat16 to float. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);
uint16_t st_f32_to_bf16(float f);

#endif
