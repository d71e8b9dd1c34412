/* plan_blob.h — the serialised plan every generated object carries (format: runtime/rt_plan.h).
 * Shared by the backends; the runtime parses it. */
#ifndef VITC_PLAN_BLOB_H
#define VITC_PLAN_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "../ir/plan.h"

typedef struct {
    uint8_t *data; /* ir_malloc'd; ir_free it */
    size_t len;
} Blob;

/* Appends to out->data, growing it (ir_realloc): after an allocation fails, every append
 * does nothing and oom is set. Integers are 8 bytes, little-endian (rt_plan.h). */
typedef struct {
    Blob *b;
    size_t cap;
    bool oom;
} BlobWriter;

void blob_put(BlobWriter *w, const void *data, size_t n);
void blob_put_i64(BlobWriter *w, int64_t v);
/* n as an i64, then the n bytes */
void blob_put_bytes(BlobWriter *w, const void *data, size_t n);

/* Serialises p (and its graph's metadata). false with err on failure. */
bool plan_serialize(const Plan *p, Blob *out, IrError *err);
/* The same, with the text of the model's label file (its meta.labels, a path relative to
 * model_dir, the directory of the model file; NULL: the working directory) embedded. A
 * label file that cannot be read is an error naming it. */
bool plan_serialize_model(const Plan *p, const char *model_dir, Blob *out, IrError *err);

#endif
