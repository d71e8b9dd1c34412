/* backend_cases.c — the graphs and inputs of the kernel cases the LLVM and the OpenCL
 * backends are both checked on (backend_cases.h); each case goes through a Backend's
 * check against ir_interp and plan_exec.
 */
#include "test_interp.h"
#include "test_attention.h"
#include "test_moe.h"
#include "backend_cases.h"

static void check(const Backend *b, Graph *g, const WeightSource *w, const NamedTensor *in, int nin, double tol,
                  BcCheck *c, Tensor **got)
{
    BcCheck none = {0};
    b->check(b, g, w, in, nin, tol, c ? c : &none, got);
}

/* ---- elementwise ---- */

/* Special float values every op sees besides random ones. */
static const double specials[] = {0,     -0.0,  1,    -1,   INFINITY, -INFINITY, NAN, 1e-30, 100, -100, 88.5,
                                  -88.5, 1e30,  -1e30, 0.5, 3,       -3,        2.5, -2.5,  10,  -10,  1e-3};
enum { NSPECIAL = sizeof specials / sizeof *specials };

void bc_unary(const Backend *b, const Op *ops, int nops, int gelu_form, DType dt, double lo, double hi, double tol,
              uint64_t seed, bool specials_too)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 2, DIMS(4, 33)));
    for (int i = 0; i < nops; i++) {
        Attr a = attr_of(ops[i]);
        if (ops[i] == OP_GELU)
            a.gelu.approximate = gelu_form;
        assert_true(ir_add_output(g, ir_intern(g, ir_ops[ops[i]].name), node(g, ops[i], &x, 1, &a)));
        print_message("%s%s%s", i ? ", " : "", ir_ops[ops[i]].name,
                      ops[i] == OP_GELU ? (gelu_form ? " (tanh)" : " (erf)") : "");
    }
    print_message(" on %s\n", dtype_name(dt));
    Tensor *t = tl_random(dt, 2, DIMS(4, 33), lo, hi, seed);
    for (int i = 0; i < NSPECIAL && specials_too; i++)
        tensor_set(t, i, specials[i]);
    NamedTensor in = {"x", t};
    check(b, g, NULL, &in, 1, tol, NULL, NULL);
    tensor_free(t);
    ir_graph_free(g);
}

void bc_binary(const Backend *b, const Op *ops, int nops, DType dt, double lo, double hi, double tol, bool specials_too,
               uint64_t seed)
{
    Graph *g = ir_graph_new("t");
    int32_t in[2] = {input(g, "a", ty(dt, 3, DIMS(3, 1, 5))), input(g, "b", ty(dt, 2, DIMS(4, 5)))};
    for (int i = 0; i < nops; i++) {
        assert_true(ir_add_output(g, ir_intern(g, ir_ops[ops[i]].name), node(g, ops[i], in, 2, NULL)));
        print_message("%s%s", i ? ", " : "", ir_ops[ops[i]].name);
    }
    print_message(" on %s\n", dtype_name(dt));
    Tensor *ta = tl_random(dt, 3, DIMS(3, 1, 5), lo, hi, 11 + seed), *tb = tl_random(dt, 2, DIMS(4, 5), lo, hi, 23 + seed);
    if (specials_too)
        for (int i = 0; i < 15 && i < NSPECIAL; i++) {
            tensor_set(ta, i, specials[i]);
            tensor_set(tb, i, specials[(i * 7) % NSPECIAL]);
        }
    NamedTensor nt[2] = {{"a", ta}, {"b", tb}};
    check(b, g, NULL, nt, 2, tol, NULL, NULL);
    tensor_free(ta);
    tensor_free(tb);
    ir_graph_free(g);
}

/* div and pow: the interpreter's values where it has them (non-zero divisors, no
 * 0**-n; MIN/-1 wraps), then what generated code defines where it reports an error:
 * x/0 = 0, MIN/-1 = MIN, 0**-n = 0, checked against hand-computed values */
void bc_div_pow_int(void **state)
{
    const Backend *b = *state;
    for (int d = 0; d < 2; d++) {
        DType dt = d ? DT_I64 : DT_I32;
        Graph *g = ir_graph_new("t");
        int32_t a = input(g, "a", ty(dt, 1, DIMS(40))), bb = input(g, "b", ty(dt, 1, DIMS(40)));
        assert_true(ir_add_output(g, "q", node(g, OP_DIV, (int32_t[]){a, bb}, 2, NULL)));
        assert_true(ir_add_output(g, "p", node(g, OP_POW, (int32_t[]){a, bb}, 2, NULL)));
        Tensor *ta = tl_random(dt, 1, DIMS(40), -50, 50, 3), *tb = tl_random(dt, 1, DIMS(40), -4, 12, 5);
        for (int64_t i = 0; i < 40; i++) {
            if (tb->i[i] == 0)
                tb->i[i] = 3;
            if (ta->i[i] == 0 && tb->i[i] < 0)
                ta->i[i] = 2;
        }
        ta->i[0] = dt == DT_I32 ? INT32_MIN : INT64_MIN, tb->i[0] = -1; /* wraps */
        ta->i[1] = 1, tb->i[1] = -3;
        ta->i[2] = -1, tb->i[2] = -3;
        ta->i[3] = -1, tb->i[3] = -4;
        ta->i[4] = 7, tb->i[4] = -2;
        NamedTensor nt[2] = {{"a", ta}, {"b", tb}};
        check(b, g, NULL, nt, 2, 0, NULL, NULL);
        ta->i[5] = 5, tb->i[5] = 0;
        ta->i[6] = 0, tb->i[6] = -2;
        Tensor *got[2] = {NULL, NULL};
        check(b, g, NULL, nt, 2, 0, &(BcCheck){.no_reference = true}, got);
        assert_true(got[0]->i[5] == 0 && got[1]->i[6] == 0 && got[1]->i[5] == 1);
        assert_true(got[0]->i[0] == (dt == DT_I32 ? INT32_MIN : INT64_MIN));
        tensor_free(got[0]);
        tensor_free(got[1]);
        tensor_free(ta);
        tensor_free(tb);
        ir_graph_free(g);
    }
}

/* What generated code defines where the interpreter reports an error: x/0 = 0, 0^-n = 0. */
void bc_int_errors_defined(void **state)
{
    const Backend *b = *state;
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", ty(DT_I32, 1, DIMS(4))), bb = input(g, "b", ty(DT_I32, 1, DIMS(4)));
    int32_t q = node(g, OP_DIV, (int32_t[]){a, bb}, 2, NULL), p = node(g, OP_POW, (int32_t[]){a, bb}, 2, NULL);
    assert_true(ir_add_output(g, "q", q));
    assert_true(ir_add_output(g, "p", p));
    Tensor *ta = tensor_of(DT_I32, 1, DIMS(4), VALS(5, 0, -7, 2));
    Tensor *tb = tensor_of(DT_I32, 1, DIMS(4), VALS(0, -2, 0, 3));
    NamedTensor nt[2] = {{"a", ta}, {"b", tb}};
    Tensor *got[2] = {NULL, NULL};
    check(b, g, NULL, nt, 2, 0, &(BcCheck){.no_reference = true}, got);
    check_vals(got[0], VALS(0, 0, 0, 0), 4, 0);
    check_vals(got[1], VALS(1, 0, 1, 8), 4, 0);
    tensor_free(got[0]);
    tensor_free(got[1]);
    tensor_free(ta);
    tensor_free(tb);
    ir_graph_free(g);
}

void bc_logic_select(void **state)
{
    const Backend *be = *state;
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", ty(DT_BOOL, 2, DIMS(3, 8))), b = input(g, "b", ty(DT_BOOL, 1, DIMS(8)));
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(3, 8))), y = input(g, "y", ty(DT_F32, 2, DIMS(1, 8)));
    int32_t n_and = node(g, OP_AND, (int32_t[]){a, b}, 2, NULL), n_or = node(g, OP_OR, (int32_t[]){a, b}, 2, NULL);
    int32_t n_not = node(g, OP_NOT, &a, 1, NULL);
    int32_t n_eq = node(g, OP_EQ, (int32_t[]){a, b}, 2, NULL), n_lt = node(g, OP_LT, (int32_t[]){a, b}, 2, NULL);
    int32_t sel = node(g, OP_SELECT, (int32_t[]){n_and, x, y}, 3, NULL);
    int32_t sel2 = node(g, OP_SELECT, (int32_t[]){n_lt, y, x}, 3, NULL);
    assert_true(ir_add_output(g, "and", n_and) && ir_add_output(g, "or", n_or) && ir_add_output(g, "not", n_not));
    assert_true(ir_add_output(g, "eq", n_eq) && ir_add_output(g, "sel", sel) && ir_add_output(g, "sel2", sel2));
    Tensor *ta = tl_random(DT_BOOL, 2, DIMS(3, 8), 0, 1, 1), *tb = tl_random(DT_BOOL, 1, DIMS(8), 0, 1, 2);
    Tensor *tx = tl_random(DT_F32, 2, DIMS(3, 8), -1, 1, 3), *tyy = tl_random(DT_F32, 2, DIMS(1, 8), -1, 1, 4);
    NamedTensor nt[4] = {{"a", ta}, {"b", tb}, {"x", tx}, {"y", tyy}};
    check(be, g, NULL, nt, 4, 0, NULL, NULL);
    tensor_free(ta);
    tensor_free(tb);
    tensor_free(tx);
    tensor_free(tyy);
    ir_graph_free(g);
}

/* values that round, truncate, saturate, overflow f16 and carry NaN and infinities; exact */
void bc_casts(const Backend *b, bool per_pair)
{
    static const double fvals[] = {0.5,  -1.5, 2.5,     1e10, -1e10, NAN,   INFINITY, -INFINITY, 65520,  65519,
                                   3.14159, 1e-8, -0.0, 300.7, -2.5e9, 5e-5, 1e-7,   -128.9,   4e9,    0.1};
    static const double ivals[] = {0,         1,          -1,           127,      65504,      65520,
                                   16777217,  -16777219,  2147483647,   -2147483648.0, 3e9,  -3e9,
                                   9007199254740993.0, 1e15 + 1, 33554435, -33554433, 257, 513, -70000, 123456789};
    enum { N = 20 };
    for (int from = 0; from < DT_COUNT; from++)
        for (int to0 = 0; to0 < DT_COUNT; to0 += per_pair ? 1 : DT_COUNT) {
            Graph *g = ir_graph_new("t");
            int32_t x = input(g, "x", ty((DType)from, 1, DIMS(N)));
            for (int to = to0; to < (per_pair ? to0 + 1 : DT_COUNT); to++) {
                Attr a = attr_of(OP_CAST);
                a.cast.to = (DType)to;
                char name[16];
                snprintf(name, sizeof name, "to%d", to);
                assert_true(ir_add_output(g, ir_intern(g, name), node(g, OP_CAST, &x, 1, &a)));
            }
            Tensor *t = tensor_new((DType)from, 1, DIMS(N));
            assert_non_null(t);
            for (int i = 0; i < N; i++) {
                if (dtype_is_float((DType)from))
                    tensor_set(t, i, fvals[i]);
                else if (from == DT_I64)
                    t->i[i] = (int64_t)ivals[i];
                else
                    tensor_set(t, i, ivals[i]);
            }
            if (from == DT_I64)
                t->i[13] = INT64_MAX, t->i[14] = INT64_MIN, t->i[15] = ((int64_t)1 << 53) + 1;
            NamedTensor in = {"x", t};
            check(b, g, NULL, &in, 1, 0, &(BcCheck){.interp_only = from == DT_I64}, NULL);
            tensor_free(t);
            ir_graph_free(g);
        }
}

/* A chain over views: a transpose, a slice with a step, a broadcast row, a scalar
 * constant, a constant buffer, iota — inlined into one elementwise kernel or several. */
void bc_views_and_chains(void **state)
{
    const Backend *b = *state;
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(4, 12))), y = input(g, "y", ty(DT_F32, 2, DIMS(6, 1)));
    Attr tp = attr_of(OP_TRANSPOSE);
    tp.perm.perm = (IntList){2, (const int64_t[]){1, 0}};
    int32_t xt = node(g, OP_TRANSPOSE, &x, 1, &tp); /* [12, 4] */
    Attr sl = attr_of(OP_SLICE);
    sl.slice = (SliceAttr){.axis = 0, .start = 1, .stop = 12, .step = 2}; /* rows 1,3,..,11: [6, 4] */
    int32_t xs = node(g, OP_SLICE, &xt, 1, &sl);
    int32_t s = node(g, OP_MUL, (int32_t[]){xs, y}, 2, NULL);
    int32_t c = cst(g, DT_F32, 1, DIMS(4), VALS(1, -2, 3, -4), 4);
    int32_t e = node(g, OP_ADD, (int32_t[]){node(g, OP_TANH, &s, 1, NULL), c}, 2, NULL);
    Attr io = attr_of(OP_IOTA);
    io.iota.shape = (Shape){2, {dim_const(6), dim_const(4)}};
    io.iota.axis = 0;
    int32_t it = node(g, OP_IOTA, NULL, 0, &io);
    int32_t out = node(g, OP_SUB, (int32_t[]){e, it}, 2, NULL);
    int32_t sc = node(g, OP_MUL, (int32_t[]){out, ir_build_scalar(g, 0.5, DT_F32, NOLOC, &(IrError){{0}})}, 2, NULL);
    assert_true(ir_add_output(g, "out", sc));
    assert_true(ir_add_output(g, "xt", xt)); /* a transposed copy as an output */
    Tensor *tx = tl_random(DT_F32, 2, DIMS(4, 12), -2, 2, 9), *tyy = tl_random(DT_F32, 2, DIMS(6, 1), -2, 2, 10);
    NamedTensor nt[2] = {{"x", tx}, {"y", tyy}};
    check(b, g, NULL, nt, 2, 1e-6, NULL, NULL);
    tensor_free(tx);
    tensor_free(tyy);
    ir_graph_free(g);
}

Graph *bc_short_rows_graph(void)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_F32, 4, DIMS(2, 8, 8, 3)));
    int32_t y = input(g, "y", ty(DT_F32, 6, DIMS(1, 1, 1, 1, 4, 3)));
    Attr rs = attr_of(OP_RESHAPE);
    rs.shape.shape = (Shape){6, {dim_const(2), dim_const(2), dim_const(4), dim_const(2), dim_const(4), dim_const(3)}};
    Attr tp = attr_of(OP_TRANSPOSE);
    tp.perm.perm = (IntList){6, (const int64_t[]){0, 1, 3, 2, 4, 5}};
    int32_t patches = node(g, OP_TRANSPOSE, (int32_t[]){node(g, OP_RESHAPE, &x, 1, &rs)}, 1, &tp);
    assert_true(ir_add_output(g, "patches", patches)); /* [2,2,2,4,4,3]: rows of 4·3 */
    int32_t c = cst(g, DT_F32, 1, DIMS(3), VALS(1, -2, 3), 3);
    assert_true(ir_add_output(g, "bias", node(g, OP_ADD, (int32_t[]){patches, c}, 2, NULL)));
    assert_true(ir_add_output(g, "shift", node(g, OP_SUB, (int32_t[]){patches, y}, 2, NULL)));
    Attr io = attr_of(OP_IOTA);
    io.iota.shape = (Shape){6, {dim_const(2), dim_const(2), dim_const(2), dim_const(4), dim_const(4), dim_const(3)}};
    io.iota.axis = 4;
    assert_true(ir_add_output(g, "index", node(g, OP_MUL, (int32_t[]){patches, node(g, OP_IOTA, NULL, 0, &io)}, 2,
                                                NULL)));
    return g;
}

void bc_short_rows(void **state)
{
    const Backend *b = *state;
    Graph *g = bc_short_rows_graph();
    Tensor *tx = tl_random(DT_F32, 4, DIMS(2, 8, 8, 3), -2, 2, 31);
    Tensor *tyy = tl_random(DT_F32, 6, DIMS(1, 1, 1, 1, 4, 3), -2, 2, 32);
    NamedTensor nt[2] = {{"x", tx}, {"y", tyy}};
    check(b, g, NULL, nt, 2, 1e-6, NULL, NULL);
    tensor_free(tx);
    tensor_free(tyy);
    ir_graph_free(g);
}

/* concat along a middle axis, with a broadcast part and a symbolic batch bound to 1 and 3 */
void bc_concat_symbolic(void **state)
{
    const Backend *b = *state;
    for (int bsz = 1; bsz <= 3; bsz += 2) {
        Graph *g = ir_graph_new("t");
        int32_t B = ir_symbol(g, "B", 8);
        Type tx = {DT_F32, {3, {dim_sym(B, 1), dim_const(5), dim_const(4)}}};
        int32_t x = input(g, "x", tx);
        int32_t c = cst(g, DT_F32, 3, DIMS(1, 1, 4), VALS(9, 8, 7, 6), 4);
        Attr bc = attr_of(OP_BROADCAST);
        bc.shape.shape = (Shape){3, {dim_sym(B, 1), dim_const(1), dim_const(4)}};
        int32_t cb = node(g, OP_BROADCAST, &c, 1, &bc);
        Attr ca = attr_of(OP_CONCAT);
        ca.axis.axis = 1;
        int32_t cat = node(g, OP_CONCAT, (int32_t[]){cb, node(g, OP_EXP, &x, 1, NULL)}, 2, &ca);
        assert_true(ir_add_output(g, "out", node(g, OP_NEG, &cat, 1, NULL)));
        Tensor *t = tl_random(DT_F32, 3, DIMS(bsz, 5, 4), -1, 1, 12);
        NamedTensor in = {"x", t};
        check(b, g, NULL, &in, 1, 1e-6, NULL, NULL);
        tensor_free(t);
        ir_graph_free(g);
    }
}

/* ---- GEMM, row, reduce and gather kernels ---- */

Type bc_sym_type(Graph *g, DType dt, int rank, const int64_t *dims, int symdim)
{
    Type t = ty(dt, rank, dims);
    if (symdim >= 0)
        t.shape.d[symdim] = dim_sym(ir_symbol(g, "B", 8), 1);
    return t;
}

void bc_matmul(const Backend *be, DType dt, int ra, const int64_t *da, int rb, const int64_t *db, bool ta, bool tb,
               int bsym, bool epi, double tol)
{
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", bc_sym_type(g, dt, ra, da, bsym));
    int32_t b = input(g, "b", ty(dt, rb, db));
    Attr at = attr_of(OP_MATMUL);
    at.matmul.transpose_a = ta;
    at.matmul.transpose_b = tb;
    int32_t y = node(g, OP_MATMUL, (int32_t[]){a, b}, 2, &at);
    if (epi) {
        int64_t n = ir_type(g, y)->shape.d[ir_type(g, y)->shape.rank - 1].n;
        int32_t bias = input(g, "bias", ty(dt, 1, (const int64_t[]){n}));
        y = node(g, OP_GELU, (int32_t[]){node(g, OP_ADD, (int32_t[]){y, bias}, 2, NULL)}, 1, NULL);
        y = node(g, OP_ADD, (int32_t[]){y, node(g, OP_MUL, (int32_t[]){y, y}, 2, NULL)}, 2, NULL);
    }
    assert_true(ir_add_output(g, "out", y));
    double lo = dtype_is_float(dt) ? -1 : -20, hi = dtype_is_float(dt) ? 1 : 20;
    Tensor *ta_ = tl_random(dt, ra, da, lo, hi, 31), *tb_ = tl_random(dt, rb, db, lo, hi, 32);
    const Type *yt = ir_type(g, y);
    int64_t nb = yt->shape.d[yt->shape.rank - 1].n;
    Tensor *tbias = tl_random(dt, 1, (const int64_t[]){nb}, lo, hi, 33);
    NamedTensor in[3] = {{"a", ta_}, {"b", tb_}, {"bias", tbias}};
    check(be, g, NULL, in, epi ? 3 : 2, tol, NULL, NULL);
    tensor_free(ta_);
    tensor_free(tb_);
    tensor_free(tbias);
    ir_graph_free(g);
}

void bc_gemm_orientations(const Backend *b)
{
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int64_t da[2] = {ta ? 37 : 5, ta ? 5 : 37}, db[2] = {tb ? 9 : 37, tb ? 37 : 9};
        bc_matmul(b, DT_F32, 2, da, 2, db, ta, tb, -1, false, 1e-5);
        bc_matmul(b, DT_F32, 2, da, 2, db, ta, tb, -1, true, 1e-5);
    }
}

void bc_gemm_batch(void **state)
{
    const Backend *b = *state;
    /* [2,3,5,7] @ [7,9]; [2,1,5,7] @ [3,7,9]; [2,3,5,7] @ [3,9,7]ᵀ */
    bc_matmul(b, DT_F32, 4, DIMS(2, 3, 5, 7), 2, DIMS(7, 9), false, false, -1, false, 1e-5);
    bc_matmul(b, DT_F32, 4, DIMS(2, 1, 5, 7), 3, DIMS(3, 7, 9), false, false, -1, true, 1e-5);
    bc_matmul(b, DT_F32, 4, DIMS(2, 3, 5, 7), 3, DIMS(3, 9, 7), false, true, -1, false, 1e-5);
    /* a symbolic batch bound to 1 and 3, both orientations */
    for (int bsz = 1; bsz <= 3; bsz += 2) {
        bc_matmul(b, DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(10, 4), false, false, 0, true, 1e-5);
        bc_matmul(b, DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(4, 10), false, true, 0, true, 1e-5);
    }
}

void bc_gemm_dtypes(void **state)
{
    const Backend *b = *state;
    bc_matmul(b, DT_I32, 2, DIMS(4, 9), 2, DIMS(9, 5), false, false, -1, false, 0);
    bc_matmul(b, DT_I64, 3, DIMS(2, 4, 9), 2, DIMS(5, 9), false, true, -1, false, 0);
    /* f16: accumulated in f32, rounded once (the interpreter: in double) */
    bc_matmul(b, DT_F16, 2, DIMS(4, 30), 2, DIMS(30, 6), false, false, -1, false, 1e-3);
    bc_matmul(b, DT_BF16, 2, DIMS(4, 30), 2, DIMS(6, 30), false, true, -1, false, 8e-3);
}

/* x[:, 2:9] @ w, and the product of two slices of one buffer (q·kᵀ of a fused qkv) */
void bc_gemm_sliced(void **state)
{
    const Backend *b = *state;
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(5, 12))), w = input(g, "w", ty(DT_F32, 2, DIMS(7, 4)));
    Attr sl = attr_of(OP_SLICE);
    sl.slice = (SliceAttr){.axis = 1, .start = 2, .stop = 9, .step = 1};
    int32_t xs = node(g, OP_SLICE, &x, 1, &sl);
    assert_true(ir_add_output(g, "y", node(g, OP_MATMUL, (int32_t[]){xs, w}, 2, NULL)));
    Attr s2 = sl, s3 = sl;
    s2.slice.start = 0;
    s2.slice.stop = 6;
    s3.slice.start = 6;
    s3.slice.stop = 12;
    int32_t q = node(g, OP_SLICE, &x, 1, &s2), k = node(g, OP_SLICE, &x, 1, &s3);
    Attr mt = attr_of(OP_MATMUL);
    mt.matmul.transpose_b = true;
    assert_true(ir_add_output(g, "qk", node(g, OP_MATMUL, (int32_t[]){q, k}, 2, &mt)));
    Tensor *tx = tl_random(DT_F32, 2, DIMS(5, 12), -1, 1, 41), *tw = tl_random(DT_F32, 2, DIMS(7, 4), -1, 1, 42);
    NamedTensor in[2] = {{"x", tx}, {"w", tw}};
    check(b, g, NULL, in, 2, 1e-5, NULL, NULL);
    tensor_free(tx);
    tensor_free(tw);
    ir_graph_free(g);
}

void bc_row(const Backend *b, Op op, int axis, bool center, DType dt, double tol, int64_t L)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 3, DIMS(2, 5, L)));
    Attr a = attr_of(op);
    if (op == OP_NORMALIZE)
        a.norm.center = center;
    else
        a.axis.axis = axis;
    int32_t y = node(g, op, &x, 1, &a);
    int32_t s = input(g, "s", ty(dt, 1, DIMS(L)));
    y = node(g, OP_ADD, (int32_t[]){node(g, OP_MUL, (int32_t[]){y, s}, 2, NULL), s}, 2, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(2, 5, L), -4, 4, 51), *ts = tl_random(dt, 1, DIMS(L), -2, 2, 52);
    for (int64_t i = 0; L > 7 && i < tx->numel; i++)
        tensor_set(tx, i, tensor_get(tx, i) + 10.0);
    NamedTensor in[2] = {{"x", tx}, {"s", ts}};
    print_message("%s axis %d%s on %s, rows of %lld\n", ir_ops[op].name, axis, center ? "" : " (no center)",
                  dtype_name(dt), (long long)L);
    check(b, g, NULL, in, 2, tol, NULL, NULL);
    tensor_free(tx);
    tensor_free(ts);
    ir_graph_free(g);
}

void bc_row_kernels(const Backend *b)
{
    for (int axis = -1; axis <= 1; axis++) {
        bc_row(b, OP_SOFTMAX, axis, false, DT_F32, 1e-6, 7);
        bc_row(b, OP_LOG_SOFTMAX, axis, false, DT_F32, 1e-6, 7);
    }
    bc_row(b, OP_NORMALIZE, -1, true, DT_F32, 1e-5, 7);
    bc_row(b, OP_NORMALIZE, -1, false, DT_F32, 1e-5, 7);
    bc_row(b, OP_SOFTMAX, 1, false, DT_F16, 2e-3, 7);
    bc_row(b, OP_NORMALIZE, -1, true, DT_BF16, 2e-2, 7);
}

void bc_reduce(const Backend *b, Op op, DType dt, const int64_t *axes, int naxes, bool keepdims, bool wrap)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 3, DIMS(3, 4, 5)));
    Attr a = attr_of(op);
    a.reduce.axes = (IntList){naxes, axes};
    a.reduce.keepdims = keepdims;
    int32_t y = node(g, op, &x, 1, &a);
    if (dtype_is_float(dt))
        y = node(g, OP_EXP, &y, 1, NULL); /* an epilogue */
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(3, 4, 5), -2, 2, 61);
    if (wrap)
        tx->i[0] = dt == DT_I32 ? INT32_MAX : INT64_MAX; /* sums wrap */
    NamedTensor in = {"x", tx};
    check(b, g, NULL, &in, 1, dtype_is_float(dt) ? 1e-5 : 0, &(BcCheck){.interp_only = wrap}, NULL);
    tensor_free(tx);
    ir_graph_free(g);
}

/* The bad index: the backend reports it, in the error cell (LLVM: its check requires it)
 * or by failing the run with a message naming the kernel (OpenCL: no outputs then); the
 * outputs a backend does return are defined: every element gathered with it is 0. */
void bc_take(const Backend *b, int axis, int ri, DType idt, bool bad)
{
    Graph *g = ir_graph_new("t");
    int64_t tdims[3] = {5, 4, 3}, idims[2] = {2, 3};
    int32_t t = input(g, "t", ty(DT_F32, 3, tdims)), ix = input(g, "i", ty(idt, ri, idims));
    Attr a = attr_of(OP_TAKE);
    a.axis.axis = axis;
    int32_t y = node(g, OP_TAKE, (int32_t[]){t, ix}, 2, &a);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tt = tl_random(DT_F32, 3, tdims, -1, 1, 71);
    Tensor *ti = tl_random(idt, ri, idims, 0, (double)tdims[axis] - 1, 72 + (uint64_t)axis);
    int64_t bad_at = ti->numel - 1;
    if (bad)
        ti->i[bad_at] = axis == 1 ? -1 : tdims[axis];
    NamedTensor in[2] = {{"t", tt}, {"i", ti}};
    Tensor *got = NULL;
    BcCheck c = {.expect_error = bad, .no_reference = bad};
    check(b, g, NULL, in, 2, 0, &c, &got);
    if (bad && !got && !strstr(c.error, "a gather index was out of range in kernel k"))
        fail_msg("unexpected error: %s", c.error);
    if (bad && got) {
        const Type *yt = ir_type(g, y);
        int64_t inner = 1;
        for (int d = axis + ri; d < yt->shape.rank; d++)
            inner *= yt->shape.d[d].n;
        for (int64_t e = 0; e < got->numel; e++) {
            int64_t which = (e / inner) % (ti->numel ? ti->numel : 1);
            if (which == bad_at)
                assert_true(tensor_get(got, e) == 0);
        }
    }
    tensor_free(got);
    tensor_free(tt);
    tensor_free(ti);
    ir_graph_free(g);
}

void bc_attention_chain(const Backend *const *bs, int n)
{
    Graph *g = ir_graph_new("t");
    int32_t q = input(g, "q", ty(DT_F32, 4, DIMS(2, 3, 9, 8))), k = input(g, "k", ty(DT_F32, 4, DIMS(2, 3, 9, 8)));
    int32_t v = input(g, "v", ty(DT_F32, 4, DIMS(2, 3, 9, 8)));
    Attr mt = attr_of(OP_MATMUL);
    mt.matmul.transpose_b = true;
    int32_t qs = node(g, OP_MUL, (int32_t[]){q, ir_build_scalar(g, 0.35, DT_F32, NOLOC, &(IrError){{0}})}, 2, NULL);
    int32_t s = node(g, OP_MATMUL, (int32_t[]){qs, k}, 2, &mt);
    int32_t p = node(g, OP_SOFTMAX, &s, 1, NULL);
    assert_true(ir_add_output(g, "out", node(g, OP_MATMUL, (int32_t[]){p, v}, 2, NULL)));
    Tensor *tq = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 81), *tk = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 82);
    Tensor *tv = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 83);
    NamedTensor in[3] = {{"q", tq}, {"k", tk}, {"v", tv}};
    for (int i = 0; i < n; i++)
        check(bs[i], g, NULL, in, 3, 1e-5, NULL, NULL);
    ir_graph_free(g);

    /* the heads merged back ([2, 3, 9, 8] → [2, 9, 3, 8] → [2, 9, 24]) into a matmul: the
     * attention writes the merged layout through a permuted view (plan.c,
     * materialize_as_buffer), no copy kernel between it and the matmul */
    g = test_parse_vir("graph @merged {\n"
                       "  %q = input {name = \"q\"} : f32[2,3,9,8]\n"
                       "  %k = input {name = \"k\"} : f32[2,3,9,8]\n"
                       "  %v = input {name = \"v\"} : f32[2,3,9,8]\n"
                       "  %w = input {name = \"w\"} : f32[24,5]\n"
                       "  %a = attention(%q, %k, %v) {scale = 0.35} : f32[2,3,9,8]\n"
                       "  %t = transpose(%a) {perm = [0, 2, 1, 3]} : f32[2,9,3,8]\n"
                       "  %r = reshape(%t) {shape = [2, 9, 24]} : f32[2,9,24]\n"
                       "  %y = matmul(%r, %w) : f32[2,9,5]\n"
                       "  output y = %y\n"
                       "}\n");
    IrError err;
    Plan *p2 = plan_build(g, &err);
    if (!p2)
        fail_msg("%s", err.msg);
    assert_int_equal(p2->nkernels, 2);
    assert_int_equal(p2->kernels[0].kind, KK_ATTENTION);
    const View *o = &p2->kernels[0].out; /* [2, 3, 9, 8] over a [2, 9, 3, 8] buffer */
    const int64_t want[4] = {216, 8, 24, 1};
    for (int d = 0; d < 4; d++)
        assert_int_equal(o->strides[d].n, want[d]);
    plan_free(p2);
    Tensor *tw = tl_random(DT_F32, 2, DIMS(24, 5), -1, 1, 84);
    NamedTensor in2[4] = {{"q", tq}, {"k", tk}, {"v", tv}, {"w", tw}};
    for (int i = 0; i < n; i++)
        check(bs[i], g, NULL, in2, 4, 1e-5, NULL, NULL);
    tensor_free(tw);
    tensor_free(tq);
    tensor_free(tk);
    tensor_free(tv);
    ir_graph_free(g);
}

/* ---- MoE ---- */

void bc_moe_check(const Backend *b, Graph *g, WeightSource *ws, const char *input, Tensor *x, double tol)
{
    Tensor *ref, *got[1];
    mt_interp(g, ws, input, x, &ref); /* before the check lowers the moe op */
    NamedTensor in = {input, x};
    check(b, g, ws, &in, 1, tol, NULL, got);
    double d = tl_diff(got[0], ref);
    if (!(d <= tol))
        fail_msg("%s differs from the moe op's reference by %g", b->name, d);
    tensor_free(got[0]);
    tensor_free(ref);
}

static void route_check(const Backend *b, const float *gates, int64_t S, int64_t E, const char *attrs)
{
    Graph *g = mt_parse("graph @r {\n  %%g = input {name = \"g\"} : f32[1,%lld,%lld]\n"
                        "  %%r = moe_route(%%g) {%s}\n  output r = %%r\n}\n",
                        (long long)S, (long long)E, attrs);
    Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){1, S, E});
    assert_non_null(x);
    memcpy(x->f, gates, (size_t)(S * E) * sizeof *gates);
    NamedTensor in = {"g", x};
    check(b, g, NULL, &in, 1, 0, NULL, NULL);
    tensor_free(x);
    ir_graph_free(g);
}

/* token choice k = 1, 2 with capacity binding, ties and NaN gates, batch priority, expert
 * choice, E³ members, through KK_MOE_ROUTE alone, exactly */
void bc_route_goldens(void **state)
{
    const Backend *be = *state;
    const float a[] = {.6f, .4f, .9f, .1f, .3f, .7f, .2f, .8f}, b[] = {.6f, .4f, .3f, .7f};
    const float t[] = {.5f, .5f, 0, NAN, .2f, .2f}, m[] = {.7f, .3f, .6f, .4f, .8f, .2f, .1f, .9f};
    route_check(be, a, 4, 2, "k = 1, capacity = 1");
    route_check(be, a, 4, 2, "k = 1, capacity = 1, batch_priority = true");
    route_check(be, b, 2, 2, "k = 2, capacity = 1");
    route_check(be, b, 2, 2, "k = 2, capacity = 2, batch_priority = true");
    route_check(be, t, 2, 3, "k = 2, capacity = 4");
    route_check(be, a, 4, 2, "capacity = 1, routing = expert_choice");
    route_check(be, b, 2, 2, "capacity = 4, routing = expert_choice");
    route_check(be, m, 4, 2, "k = 1, capacity = 1, members = 2");
}

const char *const bc_moe_configs[9] = {MT_MOE_CONFIGS};

void bc_moe_layers(const Backend *const *bs, const char *const *configs, int n)
{
    enum { T = 32, D = 8, E = 4, H = 12 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 51);
    WeightSource ws = mt_source(&w);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    assert_non_null(x);
    mt_fill(x, -1.5, 1.5, 61);
    for (int i = 0; i < n; i++) {
        Graph *g = mt_moe_graph(T, D, E, H, configs[i], i % 2 == 1);
        bc_moe_check(bs[i], g, &ws, "x", x, 1e-5);
        ir_graph_free(g);
    }
    tensor_free(x);
    mt_free(&w);
}

/* E³ members over a symbolic batch bound to 3, with a residual */
void bc_members_symbolic(void **state)
{
    const Backend *b = *state;
    MtWeights w = {0};
    mt_members_weights(&w);
    Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){3, 12, 6});
    assert_non_null(x);
    mt_fill(x, -1, 1, 76);
    WeightSource ws = mt_source(&w);
    const char *attrs[] = {"k = 1, capacity = 2, group_size = 12, members = 2",
                           "k = 2, capacity_factor = 1.0, group_size = 6, members = 2, batch_priority = true"};
    for (int i = 0; i < 2; i++) {
        Graph *g = mt_parse("graph @e3 {\n  dim B <= 8\n"
                            "  %%x = input {name = \"x\"} : f32[B,12,6]\n  %%r = param $router : f32[6,2,2]\n"
                            "  %%w1 = param $w1 : f32[4,6,8]\n  %%b1 = param $b1 : f32[4,8]\n"
                            "  %%w2 = param $w2 : f32[4,8,6]\n  %%b2 = param $b2 : f32[4,6]\n"
                            "  %%m = moe(%%x, %%r, %%w1, %%b1, %%w2, %%b2) {%s}\n"
                            "  %%y = add(%%x, %%m)\n  output y = %%y\n}\n",
                            attrs[i]);
        bc_moe_check(b, g, &ws, "x", x, 1e-5);
        ir_graph_free(g);
    }
    tensor_free(x);
    mt_free(&w);
}

/* ---- NaViT ---- */

char *bc_navit_attention_vir(int64_t T, int H, int Dh, int S)
{
    char *s = malloc(8192);
    assert_non_null(s);
    snprintf(s, 8192,
             "graph @seg_attention {\n"
             "  %%p = input {name = \"patches\", pack = patches, patch = 1, channels = 1, images = %d} : f32[%lld,1]\n"
             "  %%seg = input {name = \"seg\", pack = seg} : i32[%lld]\n"
             "  %%q = input {name = \"q\"} : f32[1,%d,%lld,%d]\n"
             "  %%k = input {name = \"k\"} : f32[1,%d,%lld,%d]\n"
             "  %%v = input {name = \"v\"} : f32[1,%d,%lld,%d]\n"
             "  %%qs = input {name = \"qs\"} : f32[1,%d,%d,%d]\n"
             "  %%sq = reshape(%%seg) {shape = [%lld, 1]}\n"
             "  %%sk = reshape(%%seg) {shape = [1, %lld]}\n"
             "  %%same = eq(%%sq, %%sk)\n"
             "  %%zero = constant {data = [0.0]} : i32[]\n"
             "  %%valid = ge(%%sk, %%zero)\n"
             "  %%mask = and(%%same, %%valid)\n"
             "  %%c = constant {data = [%.17g]} : f32[]\n"
             "  %%qc = mul(%%q, %%c)\n"
             "  %%l = matmul(%%qc, %%k) {transpose_b = true}\n"
             "  %%min = constant {data = [-3.4028234663852886e+38]} : f32[]\n"
             "  %%lm = select(%%mask, %%l, %%min)\n"
             "  %%pr = softmax(%%lm)\n"
             "  %%o = matmul(%%pr, %%v)\n"
             "  %%io = iota {shape = [%d, 1], dtype = i32} : i32[%d,1]\n"
             "  %%smask = eq(%%sk, %%io)\n"
             "  %%qsc = mul(%%qs, %%c)\n"
             "  %%ls = matmul(%%qsc, %%k) {transpose_b = true}\n"
             "  %%lsm = select(%%smask, %%ls, %%min)\n"
             "  %%ps = softmax(%%lsm)\n"
             "  %%os = matmul(%%ps, %%v)\n"
             "  output out = %%o\n"
             "  output slots = %%os\n"
             "}\n",
             S, (long long)T, (long long)T, H, (long long)T, Dh, H, (long long)T, Dh, H, (long long)T, Dh, H, S, Dh,
             (long long)T, (long long)T, 1.0 / sqrt((double)Dh), S, S);
    return s;
}

static Tensor *load_ref(StFile *f, const char *name)
{
    const StTensor *t = st_find(f, name);
    if (!t || (t->dtype != ST_F32 && t->dtype != ST_I32) || t->rank > IR_MAX_RANK)
        fail_msg("reference file: no tensor '%s'", name);
    Tensor *x = tensor_new(t->dtype == ST_F32 ? DT_F32 : DT_I32, t->rank, t->shape);
    assert_non_null(x);
    for (int64_t i = 0; i < x->numel; i++) {
        int32_t v;
        memcpy(&v, (const char *)t->data + 4 * i, 4);
        if (t->dtype == ST_F32)
            memcpy(&x->f[i], &v, 4);
        else
            x->i[i] = v;
    }
    return x;
}

void bc_navit_ref_open(StFile **weights, StFile **io)
{
    char wpath[4096], iopath[4096], err[512];
    snprintf(wpath, sizeof wpath, "%s/tests/reference/navit/navit_test.safetensors", tl_source_dir());
    snprintf(iopath, sizeof iopath, "%s/tests/reference/navit/navit_test_io.safetensors", tl_source_dir());
    *weights = st_open(wpath, err, sizeof err);
    *io = st_open(iopath, err, sizeof err);
    if (!*weights || !*io)
        fail_msg("%s", err);
}

void bc_navit_ref_load(StFile *io, int m, int seq, BcNavitRef *r)
{
    static const char *const names[6] = {"patches", "seg", "row", "col", "height", "width"};
    static const char *const outs[2] = {"logits", "logits_gap"};
    char name[64];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s_%d", names[i], seq);
        r->t[i] = load_ref(io, name);
        r->in[i] = (NamedTensor){names[i], r->t[i]};
    }
    snprintf(name, sizeof name, "images_%d", seq);
    Tensor *n = load_ref(io, name);
    r->images = n->i[0];
    tensor_free(n);
    snprintf(name, sizeof name, "%s_%d", outs[m], seq);
    r->want = load_ref(io, name);
}

void bc_navit_ref_free(BcNavitRef *r)
{
    for (int i = 0; i < 6; i++)
        tensor_free(r->t[i]);
    tensor_free(r->want);
}

double bc_ref_diff(const Tensor *a, const Tensor *b, int64_t rows)
{
    int64_t per = b->numel / b->dims[0];
    double worst = 0;
    for (int64_t i = 0; i < rows * per; i++) {
        double d = fabs((double)a->f[i] - (double)b->f[i]) / (1 + fabs((double)b->f[i]));
        if (!(d <= worst))
            worst = d != d ? INFINITY : d;
    }
    return worst;
}
