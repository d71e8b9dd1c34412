/* test_interp.h — helpers shared by the interpreter's unit tests (tests/unit/test_interp*.c):
 * build small graphs with ir_build and run them through ir_interp.
 *
 * Expected values in the tests are computed by hand (or with a few digits of a calculator),
 * never by the code under test.
 */
#ifndef VITC_TEST_INTERP_H
#define VITC_TEST_INTERP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "interp.h"
#include "ir.h"

static const Loc NOLOC = {NULL, 0, 0};

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define VALS(...) ((const double[]){__VA_ARGS__})
#define NV(...) (int)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double))

static inline Type ty(DType dt, int rank, const int64_t *dims)
{
    Type t = {.dt = dt, .shape = {.rank = rank}};
    for (int i = 0; i < rank; i++)
        t.shape.d[i] = dim_const(dims[i]);
    return t;
}

/* A constant node (n values: numel of them, or 1 to splat). */
static inline int32_t cst(Graph *g, DType dt, int rank, const int64_t *dims, const double *v, int n)
{
    Attr a;
    IrError err;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){n, v};
    Type t = ty(dt, rank, dims);
    int32_t r = ir_build(g, OP_CONST, NULL, 0, &a, &t, NOLOC, &err);
    if (r < 0)
        fail_msg("constant: %s", err.msg);
    return r;
}

static inline int32_t input(Graph *g, const char *name, Type t)
{
    Attr a;
    IrError err;
    attr_set_defaults(ATTR_INPUT, &a);
    a.input.name = name;
    int32_t r = ir_build(g, OP_INPUT, NULL, 0, &a, &t, NOLOC, &err);
    if (r < 0)
        fail_msg("input: %s", err.msg);
    return r;
}

/* A node; attr NULL for defaults. */
static inline int32_t node(Graph *g, Op op, const int32_t *in, int nin, const Attr *a)
{
    IrError err;
    int32_t r = ir_build(g, op, in, nin, a, NULL, NOLOC, &err);
    if (r < 0)
        fail_msg("%s: %s", ir_ops[op].name, err.msg);
    return r;
}

static inline Attr attr_of(Op op)
{
    Attr a;
    attr_set_defaults(ir_ops[op].attr, &a);
    return a;
}

static inline Tensor *tensor_of(DType dt, int rank, const int64_t *dims, const double *v)
{
    Tensor *t = tensor_new(dt, rank, dims);
    assert_non_null(t);
    for (int64_t k = 0; k < t->numel; k++)
        tensor_set(t, k, v[k]);
    return t;
}

/* Runs g with value `out` as its only output; NULL with the message in err on failure. */
static inline Tensor *run_in(Graph *g, int32_t out, const NamedTensor *in, int nin, const WeightSource *w,
                             IrError *err)
{
    g->noutputs = 0;
    if (!ir_add_output(g, "out", out))
        fail_msg("out of memory");
    Tensor *res = NULL;
    if (!ir_interp(g, w, in, nin, &res, err))
        return NULL;
    return res;
}

static inline Tensor *run(Graph *g, int32_t out)
{
    IrError err = {{0}};
    Tensor *t = run_in(g, out, NULL, 0, NULL, &err);
    if (!t)
        fail_msg("ir_interp: %s", err.msg);
    return t;
}

/* Runs g expecting failure; the message must contain `want`. */
static inline void run_fails(Graph *g, int32_t out, const NamedTensor *in, int nin, const WeightSource *w,
                             const char *want)
{
    IrError err = {{0}};
    Tensor *t = run_in(g, out, in, nin, w, &err);
    if (t) {
        tensor_free(t);
        fail_msg("expected an error containing \"%s\"", want);
    }
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static inline void check_dims(const Tensor *t, int rank, const int64_t *dims)
{
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(t->dims[i], dims[i]);
}

/* Each element within tol of want (NaN matches NaN, inf matches inf of the same sign). */
static inline void check_vals(const Tensor *t, const double *want, int n, double tol)
{
    assert_int_equal(t->numel, n);
    for (int k = 0; k < n; k++) {
        double got = tensor_get(t, k), w = want[k];
        bool ok = (w != w) ? got != got : (got == w || (got - w <= tol && w - got <= tol));
        if (!ok)
            fail_msg("element %d: got %.17g, want %.17g (tolerance %g)", k, got, w, tol);
    }
}

/* Runs g with output v, checks shape and values, frees the result. */
static inline void expect(Graph *g, int32_t v, int rank, const int64_t *dims, const double *want, int n, double tol)
{
    Tensor *t = run(g, v);
    check_dims(t, rank, dims);
    check_vals(t, want, n, tol);
    tensor_free(t);
}

#endif
