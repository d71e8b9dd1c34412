/* shape.c — dtypes, dimensions and shapes, including symbolic element counts. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const struct {
    const char *name;
    size_t bytes;
    bool is_float;
} dtypes[DT_COUNT] = {
#define DTYPE(id, name, bytes, isf) {name, bytes, isf},
#include "dtypes.def"
#undef DTYPE
};

const char *dtype_name(DType t) { return (unsigned)t < DT_COUNT ? dtypes[t].name : "?"; }
size_t dtype_size(DType t) { return (unsigned)t < DT_COUNT ? dtypes[t].bytes : 0; }
bool dtype_is_float(DType t) { return (unsigned)t < DT_COUNT && dtypes[t].is_float; }

bool dtype_from_name(const char *name, size_t len, DType *out)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, name, len) == 0) {
            *out = (DType)i;
            return true;
        }
    return false;
}

bool shape_eq(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_eq(a->d[i], b->d[i]))
            return false;
    return true;
}

bool type_eq(const Type *a, const Type *b) { return a->dt == b->dt && shape_eq(&a->shape, &b->shape); }

bool shape_is_const(const Shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (!dim_is_const(s->d[i]))
            return false;
    return true;
}

int64_t dim_eval(Dim d, const int64_t *bind)
{
    if (dim_is_const(d))
        return d.n;
    return d.n * (bind ? bind[d.sym] : 1);
}

int64_t shape_numel(const Shape *s, const int64_t *bind)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t k = dim_eval(s->d[i], bind);
        if (k < 0 || (k != 0 && n > INT64_MAX / k))
            return -1;
        n *= k;
    }
    return n;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

bool shape_product(const Shape *s, Monomial *out)
{
    out->coef = 1;
    out->nsym = 0;
    for (int i = 0; i < s->rank; i++) {
        int64_t n = s->d[i].n;
        if (n < 0 || (n != 0 && out->coef > INT64_MAX / n))
            return false;
        out->coef *= n;
        if (!dim_is_const(s->d[i]))
            out->sym[out->nsym++] = s->d[i].sym;
    }
    if (out->coef == 0)
        out->nsym = 0; /* zero elements whatever the symbols are */
    qsort(out->sym, (size_t)out->nsym, sizeof out->sym[0], cmp_i32);
    return true;
}

bool monomial_eq(const Monomial *a, const Monomial *b)
{
    if (a->coef != b->coef || a->nsym != b->nsym)
        return false;
    return memcmp(a->sym, b->sym, (size_t)a->nsym * sizeof a->sym[0]) == 0;
}

bool monomial_div_dim(const Monomial *a, const Monomial *b, Dim *out)
{
    if (b->coef == 0 || a->coef % b->coef != 0)
        return false;
    /* the symbols of a minus those of b, both sorted */
    int32_t rest[2 * IR_MAX_RANK];
    int nrest = 0, j = 0;
    for (int i = 0; i < a->nsym; i++) {
        if (j < b->nsym && b->sym[j] == a->sym[i])
            j++;
        else
            rest[nrest++] = a->sym[i];
    }
    if (j != b->nsym || nrest > 1)
        return false;
    out->n = a->coef / b->coef;
    out->sym = nrest ? rest[0] : -1;
    return true;
}

bool axis_norm(int64_t axis, int32_t rank, int32_t *out)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return false;
    *out = (int32_t)(axis < 0 ? axis + rank : axis);
    return true;
}

void ir_format_dim(const Graph *g, Dim d, char *buf, size_t n)
{
    if (dim_is_const(d))
        snprintf(buf, n, "%" PRId64, d.n);
    else if (d.n == 1)
        snprintf(buf, n, "%s", g->syms[d.sym].name);
    else
        snprintf(buf, n, "%" PRId64 "*%s", d.n, g->syms[d.sym].name);
}

void ir_format_shape(const Graph *g, const Shape *s, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0)
        return;
    buf[0] = 0;
    len += (size_t)snprintf(buf + len, n - len, "[");
    for (int i = 0; i < s->rank && len < n; i++) {
        char d[64];
        ir_format_dim(g, s->d[i], d, sizeof d);
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "", d);
    }
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

void ir_format_double(double v, char *buf, size_t n)
{
    if (v != v) {
        snprintf(buf, n, "nan");
        return;
    }
    if (v == 1.0 / 0.0 || v == -1.0 / 0.0) {
        snprintf(buf, n, "%sinf", v < 0 ? "-" : "");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* keep it recognisably a float: "1" -> "1.0" */
    if (!strpbrk(buf, ".eEn")) {
        size_t len = strlen(buf);
        if (len + 2 < n)
            memcpy(buf + len, ".0", 3);
    }
}
