/* fuzz_safetensors.c — the safetensors reader on arbitrary bytes (st_open_memory).
 *
 * Nothing may crash, leak or read outside the input. A rejected input must come with a
 * message; an accepted one must keep the promises of safetensors.h, checked here: every
 * tensor's bytes lie inside the input, in file order and tiling the data after the header
 * exactly; nbytes = prod(shape) × dtype size; names are unique and found by st_find.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define CHECK(cond)   \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = 0;
    StFile *f = st_open_memory(data, size, err, sizeof err);
    if (!f) {
        CHECK(err[0] != 0);
        return 0;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | data[i];
    const uint8_t *at = data + 8 + n, *end = data + size;
    volatile unsigned sum = 0;
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        CHECK(t && t->name && (unsigned)t->dtype < ST_DTYPE_COUNT && t->rank >= 0 && t->rank <= ST_MAX_RANK);
        size_t need = st_dtype_size(t->dtype);
        for (int d = 0; d < t->rank; d++) {
            CHECK(t->shape[d] >= 0);
            need *= (size_t)t->shape[d];
        }
        CHECK(need == t->nbytes);
        CHECK((const uint8_t *)t->data == at && t->nbytes <= (size_t)(end - at));
        for (size_t b = 0; b < t->nbytes; b++) /* touch every byte */
            sum += ((const uint8_t *)t->data)[b];
        at += t->nbytes;
        CHECK(st_find(f, t->name) == t);
        (void)st_metadata(f, t->name);
    }
    CHECK(at == end);
    CHECK(st_tensor(f, st_count(f)) == NULL && st_tensor(f, -1) == NULL);
    (void)st_metadata(f, "format");
    (void)sum;
    st_close(f);
    return 0;
}
