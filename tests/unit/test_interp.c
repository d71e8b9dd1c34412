/* test_interp.c — the interpreter's driver: rounding, tensor limits, symbol binding and its
 * errors, parameters (layout permutation, dtype conversion, mismatches), single-node
 * evaluation, outputs, out-of-memory paths, and a check that every op of ops.def has a test. */
#include <math.h>
#include <stdlib.h>

#include "test_interp.h"

static void test_dtype_round(void **state)
{
    (void)state;
    /* f16: max 65504; 65519.99 rounds down, 65520 is the tie that rounds (to even) up to inf */
    assert_true(dtype_round(DT_F16, 65504) == 65504);
    assert_true(dtype_round(DT_F16, 65519.99) == 65504);
    assert_true(isinf(dtype_round(DT_F16, 65520)) && dtype_round(DT_F16, -65520) < 0);
    assert_true(dtype_round(DT_F16, 1 + 0x1p-11) == 1);               /* tie to even */
    assert_true(dtype_round(DT_F16, 1 + 0x1p-11 + 0x1p-30) == 1 + 0x1p-10); /* above the tie */
    assert_true(dtype_round(DT_F16, 0x1p-24) == 0x1p-24);             /* smallest subnormal */
    assert_true(dtype_round(DT_F16, 0x1p-25) == 0);                   /* tie to even (0) */
    assert_true(dtype_round(DT_F16, 3 * 0x1p-25) == 0x1p-23);         /* 1.5 units -> 2 */
    assert_true(dtype_round(DT_F16, 0.1) == 0.0999755859375);
    assert_true(isnan(dtype_round(DT_F16, NAN)));
    /* bf16: 8 significant bits, the exponent range of f32 */
    assert_true(dtype_round(DT_BF16, 0.1) == 0.10009765625);
    assert_true(dtype_round(DT_BF16, 1 + 0x1p-8) == 1);
    assert_true(dtype_round(DT_BF16, 1 + 3 * 0x1p-8) == 1 + 0x1p-6);
    assert_true(dtype_round(DT_BF16, 3e38) == 1.765625 * 0x1p127); /* 3e38 = 1.76324·2^127 */
    assert_true(isinf(dtype_round(DT_BF16, 0x1.ffp127)));             /* above max + half ulp */
    assert_true(dtype_round(DT_BF16, 0x1p-133) == 0x1p-133);          /* smallest subnormal */
    /* f32 rounds to nearest */
    assert_true(dtype_round(DT_F32, 1 + 0x1p-24) == 1);
    assert_true(dtype_round(DT_F32, 1 + 3 * 0x1p-24) == 1 + 0x1p-22);
    /* integers truncate toward zero and saturate; bool is != 0 */
    assert_true(dtype_round(DT_I32, -2.9) == -2 && dtype_round(DT_I32, 2.9) == 2);
    assert_true(dtype_round(DT_I32, 1e10) == 2147483647.0 && dtype_round(DT_I32, -1e10) == -2147483648.0);
    assert_true(dtype_round(DT_I64, 1e30) <= 0x1p63 && dtype_round(DT_I64, -1e30) == -0x1p63);
    assert_true(dtype_round(DT_BOOL, 0.25) == 1 && dtype_round(DT_BOOL, 0) == 0);
}

static void test_tensor_limits(void **state)
{
    (void)state;
    assert_null(tensor_new(DT_F32, 2, DIMS(1ll << 20, 1ll << 20)));         /* 4 TiB */
    assert_null(tensor_new(DT_F32, 3, DIMS(1ll << 40, 1ll << 40, 1ll << 40))); /* numel overflows */
    assert_null(tensor_new(DT_F32, 1, DIMS(-1)));
    assert_null(tensor_new(DT_F32, IR_MAX_RANK + 1, DIMS(1, 1, 1, 1, 1, 1, 1, 1, 1)));
    Tensor *t = tensor_new(DT_I32, 2, DIMS(0, 5));
    assert_non_null(t);
    assert_int_equal(t->numel, 0);
    tensor_free(t);
    t = tensor_new(DT_F32, 0, NULL);
    assert_non_null(t);
    assert_int_equal(t->numel, 1);
    tensor_free(t);

    /* a result too large for the interpreter is an error, not a crash */
    Graph *g = ir_graph_new("t");
    int32_t x = cst(g, DT_F32, 0, NULL, VALS(1), 1);
    Attr a = attr_of(OP_BROADCAST);
    a.shape.shape = ty(DT_F32, 3, DIMS(1 << 20, 1 << 20, 1 << 10)).shape;
    run_fails(g, node(g, OP_BROADCAST, &x, 1, &a), NULL, 0, NULL, "is too large for the interpreter");
    ir_graph_free(g);
}

/* x: f32[B,3], y: f32[B,3], z: f32[2*B]; out = x + y (B <= 4) */
static Graph *sym_graph(int32_t *out)
{
    Graph *g = ir_graph_new("t");
    int32_t B = ir_symbol(g, "B", 4);
    Type t = {.dt = DT_F32, .shape = {.rank = 2, .d = {dim_sym(B, 1), dim_const(3)}}};
    Type tz = {.dt = DT_F32, .shape = {.rank = 1, .d = {dim_sym(B, 2)}}};
    int32_t in[2] = {input(g, "x", t), input(g, "y", t)};
    input(g, "z", tz);
    *out = node(g, OP_ADD, in, 2, NULL);
    return g;
}

static void test_binding(void **state)
{
    (void)state;
    int32_t out;
    Graph *g = sym_graph(&out);
    double v[15];
    for (int k = 0; k < 15; k++)
        v[k] = k;
    Tensor *x2 = tensor_of(DT_F32, 2, DIMS(2, 3), v), *y2 = tensor_of(DT_F32, 2, DIMS(2, 3), v);
    Tensor *z4 = tensor_of(DT_F32, 1, DIMS(4), v), *z5 = tensor_of(DT_F32, 1, DIMS(5), v);
    Tensor *x5 = tensor_of(DT_F32, 2, DIMS(5, 3), v), *y3 = tensor_of(DT_F32, 2, DIMS(3, 3), v);
    Tensor *x24 = tensor_of(DT_F32, 2, DIMS(2, 4), v), *x0 = tensor_of(DT_F32, 2, DIMS(0, 3), v);
    Tensor *xi = tensor_of(DT_I32, 2, DIMS(2, 3), v), *x1 = tensor_of(DT_F32, 1, DIMS(6), v);

    IrError err;
    NamedTensor ok[3] = {{"x", x2}, {"y", y2}, {"z", z4}};
    Tensor *r = run_in(g, out, ok, 3, NULL, &err);
    assert_non_null(r);
    check_dims(r, 2, DIMS(2, 3));
    check_vals(r, VALS(0, 2, 4, 6, 8, 10), 6, 0);
    tensor_free(r);

    NamedTensor big[3] = {{"x", x5}, {"y", y2}, {"z", z4}};
    run_fails(g, out, big, 3, NULL, "input 'x' has shape [5,3], which binds B = 5, above its maximum 4");
    NamedTensor clash[3] = {{"x", x2}, {"y", y3}, {"z", z4}};
    run_fails(g, out, clash, 3, NULL, "input 'y' has shape [3,3], which binds B = 3, but input 'x' bound it to 2");
    NamedTensor zclash[3] = {{"x", x2}, {"y", y2}, {"z", z5}};
    run_fails(g, out, zclash, 3, NULL, "(dimension 0 is 5, not a multiple of 2)");
    NamedTensor cdim[3] = {{"x", x24}, {"y", y2}, {"z", z4}};
    run_fails(g, out, cdim, 3, NULL, "input 'x' has shape [2,4] but the model takes f32[B,3] (dimension 1 is 4, not 3)");
    NamedTensor zero[3] = {{"x", x0}, {"y", y2}, {"z", z4}};
    run_fails(g, out, zero, 3, NULL, "which binds B = 0; it must be at least 1");
    NamedTensor missing[2] = {{"x", x2}, {"z", z4}};
    run_fails(g, out, missing, 2, NULL, "missing input 'y' (the model takes y: f32[B,3])");
    NamedTensor unknown[4] = {{"x", x2}, {"y", y2}, {"z", z4}, {"w", y2}};
    run_fails(g, out, unknown, 4, NULL, "the model has no input named 'w' (its inputs: x, y, z)");
    NamedTensor twice[4] = {{"x", x2}, {"y", y2}, {"z", z4}, {"x", x2}};
    run_fails(g, out, twice, 4, NULL, "input 'x' is given twice");
    NamedTensor dt[3] = {{"x", xi}, {"y", y2}, {"z", z4}};
    run_fails(g, out, dt, 3, NULL, "input 'x' is i32[2,3] but the model takes f32[B,3]");
    NamedTensor rank[3] = {{"x", x1}, {"y", y2}, {"z", z4}};
    run_fails(g, out, rank, 3, NULL, "input 'x' has shape [6] but the model takes f32[B,3]");

    Tensor *ts[] = {x2, y2, z4, z5, x5, y3, x24, x0, xi, x1};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        tensor_free(ts[i]);
    ir_graph_free(g);

    /* a symbol no input binds */
    g = ir_graph_new("t");
    int32_t T = ir_symbol(g, "T", 8);
    Attr a = attr_of(OP_IOTA);
    a.iota.shape = (Shape){.rank = 1, .d = {dim_sym(T, 1)}};
    run_fails(g, node(g, OP_IOTA, NULL, 0, &a), NULL, 0, NULL, "symbol 'T' in its result type is not bound by any input");
    ir_graph_free(g);
}

/* ---- parameters ---- */

typedef struct {
    const char *name;
    RawTensor raw;
} FakeWeight;

typedef struct {
    const FakeWeight *w;
    int n;
} FakeSource;

static bool fake_lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    const FakeSource *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->w[i].name, name) == 0) {
            *out = s->w[i].raw;
            return true;
        }
    snprintf(err, errlen, "the weights file has no tensor '%s'", name);
    return false;
}

static int32_t param(Graph *g, const char *name, DType dt, int rank, const int64_t *dims, const int64_t *layout)
{
    Attr a = attr_of(OP_PARAM);
    a.param.name = name;
    if (layout)
        a.param.layout = (IntList){rank, layout};
    Type t = ty(dt, rank, dims);
    IrError err;
    int32_t r = ir_build(g, OP_PARAM, NULL, 0, &a, &t, NOLOC, &err);
    if (r < 0)
        fail_msg("param: %s", err.msg);
    return r;
}

static RawTensor raw(DType dt, int rank, const int64_t *dims, const void *data)
{
    RawTensor r = {.dt = dt, .rank = rank, .data = data};
    for (int i = 0; i < rank; i++)
        r.dims[i] = dims[i];
    return r;
}

static void test_param_layout(void **state)
{
    (void)state;
    /* w: f32[2,3] with layout [1,0] is stored as [3,2]; s = [[0,1],[2,3],[4,5]] -> w[i][j] = s[j][i] */
    static const unsigned char s32[] = {0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40,
                                        0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40}; /* 0..5 as f32 LE */
    /* v: f32[2,3,4] with layout [2,0,1]: stored[2] = 2, stored[0] = 3, stored[1] = 4 -> [3,4,2];
     * v[i0][i1][i2] = stored[i1][i2][i0]; stored element k holds k (as i64 -> into an i64 param) */
    int64_t sv[24];
    unsigned char sv_bytes[24 * 8];
    for (int k = 0; k < 24; k++) {
        sv[k] = k;
        for (int b = 0; b < 8; b++)
            sv_bytes[8 * k + b] = (unsigned char)((uint64_t)sv[k] >> (8 * b));
    }
    FakeWeight w[] = {{"w", raw(DT_F32, 2, DIMS(3, 2), s32)}, {"v", raw(DT_I64, 3, DIMS(3, 4, 2), sv_bytes)}};
    FakeSource src = {w, 2};
    WeightSource ws = {fake_lookup, &src};

    Graph *g = ir_graph_new("t");
    int32_t pw = param(g, "w", DT_F32, 2, DIMS(2, 3), DIMS(1, 0));
    int32_t pv = param(g, "v", DT_I64, 3, DIMS(2, 3, 4), DIMS(2, 0, 1));
    int64_t stored[3];
    ir_param_stored_shape(ir_def(g, pv), ir_type(g, pv), stored);
    assert_int_equal(stored[0], 3);
    assert_int_equal(stored[1], 4);
    assert_int_equal(stored[2], 2);

    IrError err;
    Tensor *r = run_in(g, pw, NULL, 0, &ws, &err);
    if (!r)
        fail_msg("%s", err.msg);
    check_dims(r, 2, DIMS(2, 3));
    check_vals(r, VALS(0, 2, 4, 1, 3, 5), 6, 0);
    tensor_free(r);

    r = run_in(g, pv, NULL, 0, &ws, &err);
    if (!r)
        fail_msg("%s", err.msg);
    check_dims(r, 3, DIMS(2, 3, 4));
    for (int i0 = 0; i0 < 2; i0++)
        for (int i1 = 0; i1 < 3; i1++)
            for (int i2 = 0; i2 < 4; i2++)
                assert_int_equal(r->i[(i0 * 3 + i1) * 4 + i2], (i1 * 4 + i2) * 2 + i0);
    tensor_free(r);
    ir_graph_free(g);
}

/* A graph of one parameter whose evaluation must fail with `want`. */
static void param_fails(const WeightSource *ws, const char *name, DType dt, int rank, const int64_t *dims,
                        const int64_t *layout, const char *want)
{
    Graph *g = ir_graph_new("t");
    run_fails(g, param(g, name, dt, rank, dims, layout), NULL, 0, ws, want);
    ir_graph_free(g);
}

static void test_param_dtypes(void **state)
{
    (void)state;
    /* f16 LE: 1.0 = 0x3C00, -2 = 0xC000, 65504 = 0x7BFF, 2^-24 = 0x0001 */
    static const unsigned char h[] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00};
    /* bf16 LE: 1.0 = 0x3F80, 3.140625 = 0x4049, -inf = 0xFF80, 2^-133 = 0x0001 */
    static const unsigned char bf[] = {0x80, 0x3f, 0x49, 0x40, 0x80, 0xff, 0x01, 0x00};
    /* f32 LE 0.1f = 0x3DCCCCCD, into an f16 param: 0.0999755859375 */
    static const unsigned char f[] = {0xcd, 0xcc, 0xcc, 0x3d};
    /* i64 LE [1, 2^40] into an i32 param: the second does not fit */
    static const unsigned char big[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    /* bool bytes into an i32 param */
    static const unsigned char bo[] = {1, 0};
    FakeWeight w[] = {{"h", raw(DT_F16, 1, DIMS(4), h)},  {"bf", raw(DT_BF16, 1, DIMS(4), bf)},
                      {"f", raw(DT_F32, 1, DIMS(1), f)},  {"big", raw(DT_I64, 1, DIMS(2), big)},
                      {"bo", raw(DT_BOOL, 1, DIMS(2), bo)}, {"i", raw(DT_I32, 1, DIMS(1), f)}};
    FakeSource src = {w, 6};
    WeightSource ws = {fake_lookup, &src};
    Graph *g = ir_graph_new("t");
    IrError err;

    Tensor *r = run_in(g, param(g, "h", DT_F32, 1, DIMS(4), NULL), NULL, 0, &ws, &err);
    assert_non_null(r);
    check_vals(r, VALS(1, -2, 65504, 0x1p-24), 4, 0);
    tensor_free(r);
    r = run_in(g, param(g, "bf", DT_F32, 1, DIMS(4), NULL), NULL, 0, &ws, &err);
    assert_non_null(r);
    check_vals(r, VALS(1, 3.140625, -INFINITY, 0x1p-133), 4, 0);
    tensor_free(r);
    r = run_in(g, param(g, "f", DT_F16, 1, DIMS(1), NULL), NULL, 0, &ws, &err);
    assert_non_null(r);
    check_vals(r, VALS(0.0999755859375), 1, 0);
    tensor_free(r);
    r = run_in(g, param(g, "bo", DT_I32, 1, DIMS(2), NULL), NULL, 0, &ws, &err);
    assert_non_null(r);
    check_vals(r, VALS(1, 0), 2, 0);
    tensor_free(r);
    ir_graph_free(g);

    param_fails(&ws, "big", DT_I32, 1, DIMS(2), NULL,
                "parameter 'big': stored value 1099511627776 does not fit its dtype i32");
    param_fails(&ws, "i", DT_F32, 1, DIMS(1), NULL,
                "parameter 'i': the weights file has i32[1], but the model needs [1] of f32, f16 or bf16");
    param_fails(&ws, "h", DT_F32, 2, DIMS(2, 2), DIMS(1, 0),
                "parameter 'h': the weights file has f16[4], but the model needs [2,2] of f32, f16 or bf16 (it "
                "declares f32[2,2] with layout [1,0])");
    param_fails(&ws, "f", DT_I64, 1, DIMS(1), NULL, "needs [1] of i32, i64 or bool");
    param_fails(&ws, "nope", DT_F32, 2, DIMS(2, 3), DIMS(1, 0),
                "the weights file has no tensor 'nope' (the model declares nope: f32[2,3], stored as [3,2])");
    param_fails(&ws, "nope2", DT_BF16, 1, DIMS(7), NULL,
                "the weights file has no tensor 'nope2' (the model declares nope2: bf16[7])");
    param_fails(NULL, "h", DT_F32, 1, DIMS(4), NULL, "parameter 'h': no weights were given");

    /* ir_param_from_raw directly */
    g = ir_graph_new("t");
    int32_t p = param(g, "w", DT_F32, 2, DIMS(2, 2), DIMS(1, 0));
    RawTensor rt = raw(DT_F16, 2, DIMS(2, 2), h);
    Tensor *t = ir_param_from_raw(g, ir_def(g, p), &rt, &err);
    assert_non_null(t);
    check_vals(t, VALS(1, 65504, -2, 0x1p-24), 4, 0); /* the transpose of [[1,-2],[65504,2^-24]] */
    tensor_free(t);
    rt.dims[0] = 4;
    rt.rank = 1;
    assert_null(ir_param_from_raw(g, ir_def(g, p), &rt, &err));
    assert_non_null(strstr(err.msg, "the weights file has f16[4]"));
    ir_graph_free(g);
}

static void test_interp_node_and_outputs(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t a = cst(g, DT_F32, 1, DIMS(2), VALS(1, 2), 2), b = cst(g, DT_F32, 1, DIMS(2), VALS(10, 20), 2);
    int32_t in2[2] = {a, b};
    int32_t s = node(g, OP_ADD, in2, 2, NULL);
    Tensor *ta = tensor_of(DT_F32, 1, DIMS(2), VALS(3, 4)), *tb = tensor_of(DT_F32, 1, DIMS(2), VALS(5, 6));
    const Tensor *ops[2] = {ta, tb};
    Tensor *out[1];
    IrError err;
    assert_true(ir_interp_node(g, ir_def(g, s), ops, out, &err));
    check_vals(out[0], VALS(8, 10), 2, 0);
    tensor_free(out[0]);
    /* operands that do not match the node's types are refused */
    const Tensor *bad[2] = {ta, ta};
    Tensor *t3 = tensor_of(DT_F32, 1, DIMS(3), VALS(0, 0, 0));
    bad[1] = t3;
    assert_false(ir_interp_node(g, ir_def(g, s), bad, out, &err));
    assert_non_null(strstr(err.msg, "operand 1 does not match its type f32[2]"));
    assert_null(out[0]);
    /* a constant evaluates alone; an input does not */
    assert_true(ir_interp_node(g, ir_def(g, a), NULL, out, &err));
    check_vals(out[0], VALS(1, 2), 2, 0);
    tensor_free(out[0]);
    int32_t x = input(g, "x", ty(DT_F32, 0, NULL));
    assert_false(ir_interp_node(g, ir_def(g, x), NULL, out, &err));
    tensor_free(ta);
    tensor_free(tb);
    tensor_free(t3);

    /* the same value as two outputs gives two tensors; unused values are computed and freed */
    g->noutputs = 0;
    ir_add_output(g, "first", s);
    ir_add_output(g, "second", s);
    ir_add_output(g, "a", a);
    Tensor *res[3];
    Tensor *tx = tensor_of(DT_F32, 0, NULL, VALS(0));
    NamedTensor nx = {"x", tx};
    assert_true(ir_interp(g, NULL, &nx, 1, res, &err));
    assert_ptr_not_equal(res[0], res[1]);
    check_vals(res[0], VALS(11, 22), 2, 0);
    check_vals(res[1], VALS(11, 22), 2, 0);
    check_vals(res[2], VALS(1, 2), 2, 0);
    for (int i = 0; i < 3; i++)
        tensor_free(res[i]);
    tensor_free(tx);
    ir_graph_free(g);
}

/* Every allocation failing in turn: ir_interp either succeeds or reports, never crashes or
 * leaks (the sanitizer build checks the leaks). */
static void test_out_of_memory(void **state)
{
    (void)state;
    int32_t out;
    Graph *g = sym_graph(&out);
    double v[6] = {1, 2, 3, 4, 5, 6};
    Tensor *x = tensor_of(DT_F32, 2, DIMS(2, 3), v), *z = tensor_of(DT_F32, 1, DIMS(4), v);
    NamedTensor in[3] = {{"x", x}, {"y", x}, {"z", z}};
    Attr sa = attr_of(OP_SOFTMAX);
    int32_t sm = node(g, OP_SOFTMAX, &out, 1, &sa);
    int32_t mm_in[2] = {sm, sm};
    Attr ma = attr_of(OP_MATMUL);
    ma.matmul.transpose_b = true;
    int32_t mm = node(g, OP_MATMUL, mm_in, 2, &ma);
    g->noutputs = 0;
    ir_add_output(g, "out", mm);
    int failures = 0;
    for (long n = 0; n < 200; n++) {
        Tensor *res = NULL;
        IrError err = {{0}};
        ir_alloc_fail_after(n);
        bool ok = ir_interp(g, NULL, in, 3, &res, &err);
        ir_alloc_fail_after(-1);
        if (ok) {
            tensor_free(res);
            break;
        }
        assert_null(res);
        assert_true(err.msg[0] != 0);
        failures++;
    }
    assert_true(failures > 3);
    tensor_free(x);
    tensor_free(z);
    ir_graph_free(g);
}

/* Every op of ops.def must appear as OP_<ID> in one of the interpreter's test files. */
static const char *const op_ids[OP_COUNT] = {
#define OP(id, name, nin, nout, attr, flags, cost, infer, interp) [OP_##id] = "OP_" #id,
#include "ops.def"
#undef OP
};

static bool mentions(const char *text, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = strstr(text, id); p; p = strstr(p + 1, id)) {
        char c = p[n];
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return true;
    }
    return false;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static void test_every_op_has_a_test(void **state)
{
    (void)state;
    const char *src = getenv("VITC_SOURCE_DIR");
#ifdef VITC_SOURCE_DIR
    if (!src || !*src)
        src = VITC_SOURCE_DIR;
#endif
    if (!src)
        fail_msg("VITC_SOURCE_DIR is not set");
    static const char *const files[] = {"test_interp_ew.c",   "test_interp_reduce.c", "test_interp_matmul.c",
                                        "test_interp_data.c", "test_interp.c",        "test_interp.h",
                                        "test_attention.c",   "test_moe.c",
                                        "test_navit.c"};
    enum { NFILES = sizeof files / sizeof files[0] };
    char *text[NFILES];
    for (int i = 0; i < NFILES; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/unit/%s", src, files[i]);
        if (!(text[i] = slurp(path)))
            fail_msg("cannot read %s", path);
    }
    int missing = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        bool found = false;
        for (int i = 0; i < NFILES && !found; i++)
            found = mentions(text[i], op_ids[op]);
        /* the coverage table above names every op once: only a test elsewhere counts */
        if (!found) {
            print_error("op '%s' (%s) has no interpreter test\n", ir_ops[op].name, op_ids[op]);
            missing++;
        }
    }
    for (int i = 0; i < NFILES; i++)
        free(text[i]);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_round),   cmocka_unit_test(test_tensor_limits),
        cmocka_unit_test(test_binding),       cmocka_unit_test(test_param_layout),
        cmocka_unit_test(test_param_dtypes),  cmocka_unit_test(test_interp_node_and_outputs),
        cmocka_unit_test(test_out_of_memory), cmocka_unit_test(test_every_op_has_a_test),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
