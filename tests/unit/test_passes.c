/* test_passes.c — the pass manager and the passes canonicalize, cse and dce.
 *
 * Graphs are built with ir_build; each rewrite is checked on the graph after the pass (and
 * the patterns it must leave alone too), every pass twice to check idempotence, and a
 * pipeline is checked against the reference interpreter on random small graphs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ir/interp.h"
#include "../../passes/passes.h"
#include "test_oom.h"

/* ---- building ---- */

#define SYM(s) (-1000 - (s)) /* a dimension of ty(): symbol s (n = 1); -1 is -1 */

static Type ty(DType dt, int rank, ...)
{
    Type t = {.dt = dt, .shape = {.rank = rank}};
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) {
        int64_t d = va_arg(ap, int64_t);
        t.shape.d[i] = d <= -1000 ? dim_sym((int32_t)(-1000 - d), 1) : dim_const(d);
    }
    va_end(ap);
    return t;
}
#define TY(dt, ...) ty(dt, VA_NARGS(__VA_ARGS__), __VA_ARGS__)
#define VA_NARGS(...) VA_NARGS_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define VA_NARGS_(a, b, c, d, e, f, g, h, n, ...) n
#define D(x) ((int64_t)(x))

static const Loc NOLOC = {NULL, 0, 0};

static int32_t check(int32_t v, const IrError *err)
{
    if (v < 0)
        fail_msg("build failed: %s", err->msg);
    return v;
}

static int32_t input(Graph *g, const char *name, Type t)
{
    IrError err;
    Attr a;
    attr_set_defaults(ATTR_INPUT, &a);
    a.input.name = name;
    return check(ir_build(g, OP_INPUT, NULL, 0, &a, &t, NOLOC, &err), &err);
}

static int32_t param(Graph *g, const char *name, Type t)
{
    IrError err;
    Attr a;
    attr_set_defaults(ATTR_PARAM, &a);
    a.param.name = name;
    return check(ir_build(g, OP_PARAM, NULL, 0, &a, &t, NOLOC, &err), &err);
}

static int32_t scalar(Graph *g, double v, DType dt)
{
    IrError err;
    return check(ir_build_scalar(g, v, dt, NOLOC, &err), &err);
}

static int32_t constant(Graph *g, Type t, int n, const double *data)
{
    IrError err;
    Attr a;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){n, data};
    return check(ir_build(g, OP_CONST, NULL, 0, &a, &t, NOLOC, &err), &err);
}

static int32_t un(Graph *g, Op op, int32_t x)
{
    IrError err;
    return check(ir_build1(g, op, x, NOLOC, &err), &err);
}

static int32_t bin(Graph *g, Op op, int32_t x, int32_t y)
{
    IrError err;
    return check(ir_build2(g, op, x, y, NOLOC, &err), &err);
}

static int32_t with_attr(Graph *g, Op op, const int32_t *in, int32_t nin, const Attr *a, Loc loc)
{
    IrError err;
    return check(ir_build(g, op, in, nin, a, NULL, loc, &err), &err);
}

static int32_t reshape(Graph *g, int32_t x, Type shape_of, Loc loc)
{
    Attr a;
    attr_set_defaults(ATTR_SHAPE, &a);
    a.shape.shape = shape_of.shape;
    return with_attr(g, OP_RESHAPE, &x, 1, &a, loc);
}

static int32_t broadcast(Graph *g, int32_t x, Type shape_of)
{
    Attr a;
    attr_set_defaults(ATTR_SHAPE, &a);
    a.shape.shape = shape_of.shape;
    return with_attr(g, OP_BROADCAST, &x, 1, &a, NOLOC);
}

static int32_t transpose(Graph *g, int32_t x, int n, const int64_t *perm)
{
    Attr a;
    attr_set_defaults(ATTR_PERM, &a);
    a.perm.perm = (IntList){n, perm};
    return with_attr(g, OP_TRANSPOSE, &x, 1, &a, NOLOC);
}

static int32_t slice(Graph *g, int32_t x, int64_t axis, int64_t start, int64_t stop, int64_t step)
{
    Attr a;
    attr_set_defaults(ATTR_SLICE, &a);
    a.slice = (SliceAttr){.axis = axis, .start = start, .stop = stop, .step = step};
    return with_attr(g, OP_SLICE, &x, 1, &a, NOLOC);
}

static int32_t cast(Graph *g, int32_t x, DType to)
{
    Attr a;
    attr_set_defaults(ATTR_CAST, &a);
    a.cast.to = to;
    return with_attr(g, OP_CAST, &x, 1, &a, NOLOC);
}

static void output(Graph *g, const char *name, int32_t v) { assert_true(ir_add_output(g, name, v)); }

static Graph *new_graph(void)
{
    Graph *g = ir_graph_new("g");
    assert_non_null(g);
    return g;
}

/* ---- running ---- */

static const PassInfo *find(const char *name)
{
    const PassInfo *p = pass_find(name, strlen(name));
    assert_non_null(p);
    return p;
}

/* Runs pass `name` with the verifier; returns whether it changed the graph. */
static bool run(Graph *g, const char *name)
{
    PassOptions o = {0};
    IrError err = {{0}};
    bool changed = false;
    if (!pass_run(g, find(name), &o, &changed, &err))
        fail_msg("%s: %s", name, err.msg);
    return changed;
}

/* Runs the pass, which must change the graph, then again, which must not. */
static void run_idem(Graph *g, const char *name)
{
    assert_true(run(g, name));
    if (run(g, name))
        fail_msg("pass '%s' is not idempotent: the second run changed the graph", name);
}

static int count_op(const Graph *g, Op op)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

static const Node *out_node(const Graph *g, int i) { return ir_def(g, g->outputs[i].value); }

static void assert_output_is_input(const Graph *g, int i, const char *name)
{
    const Node *n = out_node(g, i);
    assert_int_equal(n->op, OP_INPUT);
    assert_string_equal(n->attr.input.name, name);
}

/* ---- canonicalize: identities ---- */

/* x OP c (or c OP x) for the scalar constant c: canonicalize must give x back. */
static void check_identity(Op op, double c, bool const_first)
{
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(2), D(3)));
    int32_t k = scalar(g, c, DT_F32);
    output(g, "y", const_first ? bin(g, op, k, x) : bin(g, op, x, k));
    run_idem(g, "canonicalize");
    assert_output_is_input(g, 0, "x");
    ir_graph_free(g);
}

static void test_binary_identities(void **state)
{
    (void)state;
    check_identity(OP_ADD, 0, false);
    check_identity(OP_ADD, 0, true);
    check_identity(OP_ADD, -0.0, false);
    check_identity(OP_SUB, 0, false);
    check_identity(OP_MUL, 1, false);
    check_identity(OP_MUL, 1, true);
    check_identity(OP_DIV, 1, false);
    check_identity(OP_POW, 1, false);
}

/* x OP c stays a binary node (possibly with its operands reordered). */
static void check_kept(Op op, Type xt, Type ct, double c, bool const_first)
{
    Graph *g = new_graph();
    int32_t x = input(g, "x", xt);
    int32_t k = constant(g, ct, 1, &c);
    output(g, "y", const_first ? bin(g, op, k, x) : bin(g, op, x, k));
    run(g, "canonicalize");
    assert_int_equal(out_node(g, 0)->op, op);
    assert_false(run(g, "canonicalize"));
    ir_graph_free(g);
}

static void test_binary_non_identities(void **state)
{
    (void)state;
    Type x = TY(DT_F32, D(4)), s = TY(DT_F32, D(1));
    s.shape.rank = 0;
    check_kept(OP_MUL, x, s, 0, false);                  /* x*0: NaN and inf */
    check_kept(OP_ADD, x, TY(DT_F32, D(3), D(4)), 0, false); /* x+0 that broadcasts x */
    check_kept(OP_MUL, x, TY(DT_F32, D(2), D(4)), 1, true);  /* 1*x that broadcasts x */
    check_kept(OP_SUB, x, s, 0, true);                   /* 0-x */
    check_kept(OP_DIV, x, s, 1, true);                   /* 1/x */
    check_kept(OP_POW, x, s, 0, false);                  /* x**0 */
    check_kept(OP_ADD, x, s, 1, false);
    check_kept(OP_MUL, x, s, -1, false);
}

static void test_unary_identities(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(2), D(3)));
    int32_t b = input(g, "b", TY(DT_BOOL, D(2)));
    output(g, "neg", un(g, OP_NEG, un(g, OP_NEG, x)));
    output(g, "not", un(g, OP_NOT, un(g, OP_NOT, b)));
    output(g, "cast", cast(g, x, DT_F32));
    output(g, "cast_i32", cast(g, x, DT_I32));
    output(g, "neg3", un(g, OP_NEG, un(g, OP_NEG, un(g, OP_NEG, x))));
    run_idem(g, "canonicalize");
    assert_output_is_input(g, 0, "x");
    assert_output_is_input(g, 1, "b");
    assert_output_is_input(g, 2, "x");
    assert_int_equal(out_node(g, 3)->op, OP_CAST);
    assert_int_equal(out_node(g, 4)->op, OP_NEG);
    assert_int_equal(ir_def(g, out_node(g, 4)->in[0])->op, OP_INPUT);
    ir_graph_free(g);
}

/* ---- canonicalize: data movement ---- */

static void test_reshape(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t B = ir_symbol(g, "B", 8);
    int32_t x = input(g, "x", TY(DT_F32, D(SYM(B)), D(4)));
    Loc here = {"m.vit", 7, 3};
    /* reshape to the same shape */
    output(g, "same", reshape(g, x, TY(DT_F32, D(SYM(B)), D(4)), NOLOC));
    /* reshape∘reshape, with a -1 in the outer one */
    int32_t r1 = reshape(g, x, TY(DT_F32, D(SYM(B)), D(2), D(2)), NOLOC);
    output(g, "twice", reshape(g, r1, TY(DT_F32, D(-1), D(2)), here));
    /* a lone reshape with -1: resolved in place */
    output(g, "infer", reshape(g, x, TY(DT_F32, D(SYM(B)), D(-1), D(1)), NOLOC));
    /* reshape∘reshape back to the original type: x itself */
    output(g, "back", reshape(g, r1, TY(DT_F32, D(SYM(B)), D(4)), NOLOC));
    run_idem(g, "canonicalize");

    assert_output_is_input(g, 0, "x");
    const Node *t = out_node(g, 1);
    assert_int_equal(t->op, OP_RESHAPE);
    assert_int_equal(ir_def(g, t->in[0])->op, OP_INPUT);
    assert_int_equal(t->attr.shape.shape.rank, 2);
    assert_true(dim_eq(t->attr.shape.shape.d[0], dim_sym(B, 2)));
    assert_true(dim_eq(t->attr.shape.shape.d[1], dim_const(2)));
    assert_non_null(t->loc.file);
    assert_string_equal(t->loc.file, "m.vit");
    assert_int_equal(t->loc.line, 7);
    assert_int_equal(t->loc.col, 3);

    const Node *inf = out_node(g, 2);
    assert_int_equal(inf->op, OP_RESHAPE);
    assert_true(dim_eq(inf->attr.shape.shape.d[1], dim_const(4)));
    assert_output_is_input(g, 3, "x");
    ir_graph_free(g);
}

static void test_transpose(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(2), D(3), D(5)));
    static const int64_t id[] = {0, 1, 2}, p1[] = {1, 2, 0}, p2[] = {2, 0, 1}, p3[] = {0, 2, 1};
    output(g, "id", transpose(g, x, 3, id));
    output(g, "inverse", transpose(g, transpose(g, x, 3, p1), 3, p2));
    output(g, "composed", transpose(g, transpose(g, x, 3, p1), 3, p3));
    run_idem(g, "canonicalize");
    assert_output_is_input(g, 0, "x");
    assert_output_is_input(g, 1, "x");
    /* x:[2,3,5] -p1-> [3,5,2] -p3-> [3,2,5], i.e. x transposed by [1,0,2] */
    const Node *t = out_node(g, 2);
    assert_int_equal(t->op, OP_TRANSPOSE);
    assert_int_equal(ir_def(g, t->in[0])->op, OP_INPUT);
    assert_int_equal(t->attr.perm.perm.n, 3);
    assert_int_equal(t->attr.perm.perm.v[0], 1);
    assert_int_equal(t->attr.perm.perm.v[1], 0);
    assert_int_equal(t->attr.perm.perm.v[2], 2);
    Type want = TY(DT_F32, D(3), D(2), D(5));
    assert_true(type_eq(ir_type(g, g->outputs[2].value), &want));
    ir_graph_free(g);
}

static void test_slice_broadcast_concat(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(2), D(3)));
    int32_t one = input(g, "one", TY(DT_F32, D(1), D(3)));
    output(g, "full", slice(g, x, 1, 0, 3, 1));
    output(g, "part", slice(g, x, 1, 0, 2, 1));
    output(g, "strided", slice(g, x, 1, 0, 3, 2));
    output(g, "unit_axis", slice(g, one, 0, 0, 1, 4)); /* one element whatever the step */
    output(g, "bsame", broadcast(g, x, TY(DT_F32, D(2), D(3))));
    output(g, "bigger", broadcast(g, x, TY(DT_F32, D(4), D(2), D(3))));
    Attr a;
    attr_set_defaults(ATTR_AXIS, &a);
    a.axis.axis = 0;
    output(g, "concat1", with_attr(g, OP_CONCAT, &x, 1, &a, NOLOC));
    int32_t twice[2] = {x, x};
    output(g, "concat2", with_attr(g, OP_CONCAT, twice, 2, &a, NOLOC));
    output(g, "bb", broadcast(g, broadcast(g, one, TY(DT_F32, D(2), D(3))), TY(DT_F32, D(5), D(2), D(3))));
    run_idem(g, "canonicalize");
    assert_output_is_input(g, 0, "x");
    assert_int_equal(out_node(g, 1)->op, OP_SLICE);
    assert_int_equal(out_node(g, 2)->op, OP_SLICE);
    assert_output_is_input(g, 3, "one");
    assert_output_is_input(g, 4, "x");
    assert_int_equal(out_node(g, 5)->op, OP_BROADCAST);
    assert_output_is_input(g, 6, "x");
    assert_int_equal(out_node(g, 7)->op, OP_CONCAT);
    const Node *bb = out_node(g, 8); /* broadcast∘broadcast: one broadcast of `one` */
    assert_int_equal(bb->op, OP_BROADCAST);
    assert_string_equal(ir_def(g, bb->in[0])->attr.input.name, "one");
    ir_graph_free(g);
}

static void test_select_constant_condition(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t a = input(g, "a", TY(DT_F32, D(2), D(3)));
    int32_t b = input(g, "b", TY(DT_F32, D(2), D(3)));
    int32_t small = input(g, "small", TY(DT_F32, D(3)));
    int32_t t = scalar(g, 1, DT_BOOL), f = scalar(g, 0, DT_BOOL);
    int32_t in1[3] = {t, a, b}, in2[3] = {f, a, b}, in3[3] = {t, small, b};
    output(g, "t", with_attr(g, OP_SELECT, in1, 3, NULL, NOLOC));
    output(g, "f", with_attr(g, OP_SELECT, in2, 3, NULL, NOLOC));
    output(g, "bc", with_attr(g, OP_SELECT, in3, 3, NULL, NOLOC));
    int32_t c = input(g, "c", TY(DT_BOOL, D(2), D(3)));
    int32_t in4[3] = {c, a, b};
    output(g, "var", with_attr(g, OP_SELECT, in4, 3, NULL, NOLOC));
    run_idem(g, "canonicalize");
    assert_output_is_input(g, 0, "a");
    assert_output_is_input(g, 1, "b");
    const Node *bc = out_node(g, 2);
    assert_int_equal(bc->op, OP_BROADCAST);
    assert_string_equal(ir_def(g, bc->in[0])->attr.input.name, "small");
    assert_int_equal(out_node(g, 3)->op, OP_SELECT);
    ir_graph_free(g);
}

/* ---- canonicalize: normal forms ---- */

static void test_commutative_order(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(4)));
    int32_t two = scalar(g, 2, DT_F32);
    output(g, "y", bin(g, OP_MUL, two, x));
    output(g, "z", bin(g, OP_SUB, two, x));
    run_idem(g, "canonicalize");
    const Node *m = out_node(g, 0);
    assert_int_equal(m->op, OP_MUL);
    assert_int_equal(ir_def(g, m->in[0])->op, OP_INPUT);
    assert_int_equal(ir_def(g, m->in[1])->op, OP_CONST);
    const Node *s = out_node(g, 1); /* not commutative: untouched */
    assert_int_equal(ir_def(g, s->in[0])->op, OP_CONST);
    ir_graph_free(g);
}

static void test_splat_constant(void **state)
{
    (void)state;
    Graph *g = new_graph();
    static const double same[4] = {2, 2, 2, 2}, diff[4] = {2, 2, 2, 3};
    output(g, "a", constant(g, TY(DT_F32, D(4)), 4, same));
    output(g, "b", constant(g, TY(DT_F32, D(4)), 4, diff));
    run_idem(g, "canonicalize");
    assert_int_equal(out_node(g, 0)->attr.constant.data.n, 1);
    assert_true(out_node(g, 0)->attr.constant.data.v[0] == 2.0);
    assert_int_equal(out_node(g, 1)->attr.constant.data.n, 4);
    ir_graph_free(g);
}

/* ---- canonicalize: constant folding (needs the interpreter) ---- */

static void test_constant_folding(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(3)));
    static const double v[3] = {1, 2, 3};
    int32_t c = constant(g, TY(DT_F32, D(3)), 3, v);
    int32_t two = scalar(g, 2, DT_F32);
    Attr io;
    attr_set_defaults(ATTR_IOTA, &io);
    io.iota.shape = TY(DT_F32, D(3)).shape;
    int32_t iota = with_attr(g, OP_IOTA, NULL, 0, &io, NOLOC);
    /* (c * 2 + iota) folds to [2, 5, 8]; added to x it stays */
    int32_t folded = bin(g, OP_ADD, bin(g, OP_MUL, c, two), iota);
    output(g, "folded", folded);
    output(g, "kept", bin(g, OP_ADD, x, folded));
    /* a result above 1024 elements is not folded */
    output(g, "big", broadcast(g, two, TY(DT_F32, D(2000))));
    run_idem(g, "canonicalize");

    const Node *f = out_node(g, 0);
    assert_int_equal(f->op, OP_CONST);
    assert_int_equal(f->attr.constant.data.n, 3);
    assert_true(f->attr.constant.data.v[0] == 2 && f->attr.constant.data.v[1] == 5 &&
                f->attr.constant.data.v[2] == 8);
    const Node *k = out_node(g, 1);
    assert_int_equal(k->op, OP_ADD);
    assert_int_equal(ir_def(g, k->in[1])->op, OP_CONST);
    assert_int_equal(out_node(g, 2)->op, OP_BROADCAST);
    ir_graph_free(g);
}

static void test_folding_splat_and_bool(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t two = scalar(g, 2, DT_I32), three = scalar(g, 3, DT_I32);
    output(g, "lt", bin(g, OP_LT, broadcast(g, two, TY(DT_I32, D(4))), three));
    run_idem(g, "canonicalize");
    const Node *n = out_node(g, 0);
    assert_int_equal(n->op, OP_CONST);
    assert_int_equal(ir_type(g, g->outputs[0].value)->dt, DT_BOOL);
    assert_int_equal(n->attr.constant.data.n, 1); /* a splat */
    assert_true(n->attr.constant.data.v[0] == 1);
    ir_graph_free(g);
}

/* ---- cse ---- */

static void test_cse(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t a = input(g, "a", TY(DT_F32, D(4)));
    int32_t b = input(g, "b", TY(DT_F32, D(4)));
    int32_t a2 = input(g, "a2", TY(DT_F32, D(4))); /* same type, another input: kept */
    int32_t w1 = param(g, "w1", TY(DT_F32, D(4)));
    int32_t w2 = param(g, "w2", TY(DT_F32, D(4)));
    int32_t c1 = scalar(g, 2, DT_F32), c2 = scalar(g, 2, DT_F32), c3 = scalar(g, 2, DT_I32);
    output(g, "ab", bin(g, OP_ADD, a, b));
    output(g, "ba", bin(g, OP_ADD, b, a));
    output(g, "sab", bin(g, OP_SUB, a, b));
    output(g, "sba", bin(g, OP_SUB, b, a));
    output(g, "e1", un(g, OP_EXP, a));
    output(g, "e2", un(g, OP_EXP, a));
    output(g, "ea2", un(g, OP_EXP, a2));
    output(g, "w", bin(g, OP_ADD, w1, w2));
    output(g, "c1", bin(g, OP_MUL, a, c1));
    output(g, "c2", bin(g, OP_MUL, a, c2));
    output(g, "c3", c3);
    static const int64_t p[] = {0};
    output(g, "t1", transpose(g, a, 1, p));
    output(g, "r1", reshape(g, a, TY(DT_F32, D(2), D(2)), NOLOC));
    output(g, "r2", reshape(g, a, TY(DT_F32, D(4), D(1)), NOLOC));
    output(g, "r3", reshape(g, a, TY(DT_F32, D(2), D(2)), NOLOC));
    int32_t inputs_before = count_op(g, OP_INPUT), params_before = count_op(g, OP_PARAM);
    run_idem(g, "cse");

    assert_int_equal(g->outputs[0].value, g->outputs[1].value); /* a+b, b+a */
    assert_int_not_equal(g->outputs[2].value, g->outputs[3].value);
    assert_int_equal(g->outputs[4].value, g->outputs[5].value);
    assert_int_not_equal(g->outputs[4].value, g->outputs[6].value);
    assert_int_equal(g->outputs[8].value, g->outputs[9].value); /* equal constants merged */
    assert_int_equal(g->outputs[12].value, g->outputs[14].value);
    assert_int_not_equal(g->outputs[12].value, g->outputs[13].value);
    assert_int_equal(count_op(g, OP_INPUT), inputs_before);
    assert_int_equal(count_op(g, OP_PARAM), params_before);
    assert_int_equal(count_op(g, OP_CONST), 2); /* f32 2.0 once, i32 2 */
    (void)w1;
    (void)w2;
    ir_graph_free(g);
}

/* Chains of duplicates collapse in one run: exp(exp(a)) twice. */
static void test_cse_transitive(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t a = input(g, "a", TY(DT_F32, D(4)));
    output(g, "x", un(g, OP_NEG, un(g, OP_EXP, a)));
    output(g, "y", un(g, OP_NEG, un(g, OP_EXP, a)));
    run_idem(g, "cse");
    assert_int_equal(g->outputs[0].value, g->outputs[1].value);
    assert_int_equal(g->nnodes, 3);
    ir_graph_free(g);
}

/* ---- dce ---- */

static void test_dce(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(4)));
    input(g, "unused", TY(DT_F32, D(4)));
    int32_t w = param(g, "w", TY(DT_F32, D(4)));
    int32_t k = scalar(g, 3, DT_F32);
    bin(g, OP_ADD, un(g, OP_EXP, x), w); /* dead chain using w */
    un(g, OP_NEG, k);
    output(g, "y", un(g, OP_TANH, x));
    run_idem(g, "dce");
    assert_int_equal(g->nnodes, 3);
    assert_int_equal(count_op(g, OP_INPUT), 2);
    assert_int_equal(count_op(g, OP_PARAM), 0);
    assert_int_equal(count_op(g, OP_CONST), 0);
    assert_int_equal(out_node(g, 0)->op, OP_TANH);
    assert_false(run(g, "dce"));
    ir_graph_free(g);
}

/* ---- the pass manager ---- */

static void test_table_and_defaults(void **state)
{
    (void)state;
    assert_true(pass_count >= 3);
    for (int i = 0; i < pass_count; i++) {
        assert_ptr_equal(pass_find(pass_table[i].name, strlen(pass_table[i].name)), &pass_table[i]);
        assert_non_null(pass_table[i].help);
    }
    assert_null(pass_find("cs", 2));
    assert_non_null(pass_find("cse,dce", 3));
    assert_string_equal(pass_default_pipeline(0), "moe-dispatch-lowering");
    for (int lvl = 0; lvl <= 3; lvl++) {
        IrError err;
        if (!pass_check_pipeline(pass_default_pipeline(lvl), &err))
            fail_msg("-O%d: %s", lvl, err.msg);
    }
    assert_string_equal(pass_default_pipeline(1),
                        "moe-dispatch-lowering,canonicalize,attention-fusion,packing-mask-elimination,cse,dce");
}

static void test_pipeline_parser(void **state)
{
    (void)state;
    IrError err;
    assert_true(pass_check_pipeline("", &err));
    assert_true(pass_check_pipeline("  ", &err));
    assert_true(pass_check_pipeline("cse", &err));
    assert_true(pass_check_pipeline(" canonicalize ,cse,\tdce ", &err));
    assert_true(pass_check_pipeline("dce,dce", &err));

    assert_false(pass_check_pipeline("cse,frobnicate", &err));
    assert_non_null(strstr(err.msg, "unknown pass 'frobnicate'"));
    assert_non_null(strstr(err.msg, "canonicalize, cse, dce"));
    assert_false(pass_error_is_internal(&err));

    assert_false(pass_check_pipeline("cse,,dce", &err));
    assert_non_null(strstr(err.msg, "empty pass name"));
    assert_false(pass_check_pipeline("cse,", &err));
    assert_false(pass_check_pipeline(",cse", &err));
    assert_false(pass_check_pipeline("cse, ,dce", &err));

    /* an unknown pass stops the pipeline before anything runs */
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(4)));
    un(g, OP_EXP, x);
    output(g, "y", x);
    int32_t before = g->nnodes;
    PassOptions o = {0};
    assert_false(pass_run_pipeline(g, "dce,nope", &o, &err));
    assert_int_equal(g->nnodes, before);
    o.print_after = "dce,nope";
    assert_false(pass_run_pipeline(g, "dce", &o, &err));
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_int_equal(g->nnodes, before);
    o.print_after = NULL;
    assert_true(pass_run_pipeline(g, " dce ", &o, &err));
    assert_int_equal(g->nnodes, 1);
    assert_true(pass_run_pipeline(g, "", &o, &err));
    assert_true(pass_run_pipeline(g, NULL, &o, &err));
    ir_graph_free(g);
}

/* A "pass" that breaks the graph: the output type no longer matches inference. */
static bool corrupt(Graph *g, const PassOptions *o)
{
    (void)o;
    g->values[g->nvalues - 1].type.dt = DT_I32;
    return true;
}

static bool reports_bug(Graph *g, const PassOptions *o)
{
    (void)g;
    PASS_ICE(o, "invariant %d broken", 42);
    return false;
}

static void test_verifier_ice(void **state)
{
    (void)state;
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(4)));
    output(g, "y", un(g, OP_EXP, x));
    PassInfo bad = {"corrupt", corrupt, "breaks the graph"};
    PassOptions o = {0};
    IrError err = {{0}};
    bool changed = false;
    assert_false(pass_run(g, &bad, &o, &changed, &err));
    assert_true(changed);
    assert_true(pass_error_is_internal(&err));
    const char *want = "internal compiler error: the graph is invalid after pass 'corrupt': ";
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("unexpected message: %s", err.msg);
    assert_non_null(strstr(err.msg, "exp"));

    /* no_verify: the corruption goes unnoticed */
    o.no_verify = true;
    assert_true(pass_run(g, &bad, &o, &changed, &err));
    o.no_verify = false;

    /* the pipeline rejects a broken graph before running anything */
    assert_false(pass_run_pipeline(g, "dce", &o, &err));
    assert_true(pass_error_is_internal(&err));
    assert_non_null(strstr(err.msg, "before the first pass"));

    /* a pass reporting its own bug */
    Graph *h = new_graph();
    output(h, "x", input(h, "x", TY(DT_F32, D(4))));
    PassInfo rep = {"reporter", reports_bug, ""};
    assert_false(pass_run(h, &rep, &o, &changed, &err));
    assert_true(pass_error_is_internal(&err));
    assert_non_null(strstr(err.msg, "in pass 'reporter'"));
    assert_non_null(strstr(err.msg, "test_passes.c:"));
    assert_non_null(strstr(err.msg, "invariant 42 broken"));
    ir_graph_free(h);
    ir_graph_free(g);
}

/* ---- printing and timing ---- */

static Graph *sample_graph(void)
{
    Graph *g = new_graph();
    int32_t x = input(g, "x", TY(DT_F32, D(2), D(3)));
    int32_t zero = scalar(g, 0, DT_F32);
    int32_t e1 = un(g, OP_EXP, bin(g, OP_ADD, x, zero));
    int32_t e2 = un(g, OP_EXP, x);
    un(g, OP_NEG, x);
    output(g, "y", bin(g, OP_MUL, e1, e2));
    return g;
}

static char *read_all(FILE *f)
{
    long n = ftell(f);
    assert_true(n >= 0);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static char *print_to_string(const Graph *g)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    ir_print(g, f);
    fflush(f);
    char *s = read_all(f);
    fclose(f);
    return s;
}

static void test_print_after(void **state)
{
    (void)state;
    /* the expected text: the header, then ir_print of the graph after that pass */
    Graph *ref = sample_graph();
    IrError err = {{0}};
    PassOptions quiet = {0};
    assert_true(pass_run_pipeline(ref, "canonicalize,cse", &quiet, &err));
    char *after_cse = print_to_string(ref);
    assert_true(pass_run_pipeline(ref, "dce", &quiet, &err));
    char *after_dce = print_to_string(ref);
    ir_graph_free(ref);
    size_t cap = strlen(after_cse) + strlen(after_dce) + 200;
    char *want = calloc(cap, 1);
    assert_non_null(want);
    snprintf(want, cap, "# -----// IR after cse //-----\n%s# -----// IR after dce //-----\n%s", after_cse,
             after_dce);

    Graph *g = sample_graph();
    FILE *dump = tmpfile();
    assert_non_null(dump);
    PassOptions o = {.print_after = " dce ,cse", .dump = dump};
    if (!pass_run_pipeline(g, "canonicalize,cse,dce", &o, &err))
        fail_msg("%s", err.msg);
    fflush(dump);
    char *got = read_all(dump);
    assert_string_equal(got, want);
    fclose(dump);
    free(got);
    ir_graph_free(g);

    /* print_after_all: one header per pass, in order */
    g = sample_graph();
    dump = tmpfile();
    o = (PassOptions){.print_after_all = true, .dump = dump};
    assert_true(pass_run_pipeline(g, "canonicalize,cse,dce,dce", &o, &err));
    fflush(dump);
    got = read_all(dump);
    const char *p = got;
    const char *names[] = {"canonicalize", "cse", "dce", "dce"};
    for (int i = 0; i < 4; i++) {
        char h[80];
        snprintf(h, sizeof h, "# -----// IR after %s //-----\n", names[i]);
        p = strstr(p, h);
        if (!p)
            fail_msg("no header for pass %d (%s) in:\n%s", i, names[i], got);
        p += strlen(h);
    }
    fclose(dump);
    free(got);
    ir_graph_free(g);
    free(after_cse);
    free(after_dce);
    free(want);
}

static void test_time_passes(void **state)
{
    (void)state;
    Graph *g = sample_graph();
    FILE *log = tmpfile();
    assert_non_null(log);
    PassOptions o = {.time_passes = true, .log = log};
    IrError err;
    assert_true(pass_run_pipeline(g, "canonicalize,cse,dce,dce", &o, &err));
    fflush(log);
    char *got = read_all(log);
    assert_non_null(strstr(got, "wall ms"));
    assert_non_null(strstr(got, "changed"));
    assert_non_null(strstr(got, "total"));
    /* one row per pipeline entry, in order; the first dce changes the graph, the second
     * nothing (rows cut at their newlines: no pointer arithmetic past strstr, which gcc 12
     * misreads as reading a string literal) */
    char *rows[8] = {0}, *save = NULL;
    int n = 0, canon = -1, dce[2] = {-1, -1};
    for (char *row = strtok_r(got, "\n", &save); row && n < 8; row = strtok_r(NULL, "\n", &save), n++) {
        rows[n] = row;
        if (strncmp(row, "canonicalize ", 13) == 0)
            canon = n;
        else if (strncmp(row, "dce ", 4) == 0 && canon >= 0)
            dce[dce[0] >= 0] = n;
    }
    if (canon < 0 || dce[0] < 0 || dce[1] < 0)
        fail_msg("missing rows in the time-passes table (%d rows)", n);
    assert_non_null(strstr(rows[dce[0]], "yes"));
    assert_non_null(strstr(rows[dce[1]], "no"));
    free(got);
    fclose(log);
    ir_graph_free(g);
}

/* ---- out of memory: every pass leaves a valid graph ---- */

static void test_out_of_memory(void **state)
{
    (void)state;
    const char *names[] = {"canonicalize", "cse", "dce"};
    for (int p = 0; p < 3; p++) {
        bool completed = false;
        for (long k = 0; !completed; k++) {
            if (k > 10000)
                fail_msg("%s: still allocating after %ld allocations", names[p], k);
            Graph *g = sample_graph();
            int32_t x = g->nodes[0].out;
            int32_t r = reshape(g, reshape(g, x, TY(DT_F32, D(3), D(2)), NOLOC), TY(DT_F32, D(-1)), NOLOC);
            output(g, "r", r);
            output(g, "f", bin(g, OP_ADD, scalar(g, 1, DT_F32), scalar(g, 2, DT_F32)));
            output(g, "i", un(g, OP_NEG, un(g, OP_NEG, x)));
            completed = oom_run_pass(g, find(names[p])->run, k, names[p]);
            ir_graph_free(g);
        }
    }
}

/* ---- differential: the interpreter gives the same results before and after ---- */

typedef struct {
    uint64_t s;
} Rng;

static uint32_t rnd(Rng *r, uint32_t n)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33) % n;
}

/* A random graph over x: f32[2,3] (or f32[B,3]) and y: f32[3], built from ops that the passes rewrite
 * (identities, constants, duplicates, reshapes, transposes) and some that they do not. */
static Graph *random_graph(uint64_t seed)
{
    Rng r = {seed * 2654435761u + 1};
    Graph *g = new_graph();
    int32_t vals[64];
    int nv = 0;
    /* odd seeds: x is f32[B,3], bound to [2,3] by the test's input */
    int32_t B = ir_symbol(g, "B", 4);
    vals[nv++] = input(g, "x", seed % 2 ? TY(DT_F32, D(SYM(B)), D(3)) : TY(DT_F32, D(2), D(3)));
    vals[nv++] = input(g, "y", TY(DT_F32, D(3)));
    static const double consts[] = {0, 1, -1, 2, 0.5, -0.0};
    for (int step = 0; step < 24 && nv < 60; step++) {
        int32_t a = vals[rnd(&r, (uint32_t)nv)], b = vals[rnd(&r, (uint32_t)nv)];
        const Type *ta = ir_type(g, a);
        int32_t v = -1;
        IrError err;
        switch (rnd(&r, 12)) {
        case 0:
            v = scalar(g, consts[rnd(&r, 6)], DT_F32);
            break;
        case 1: case 2: {
            static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_POW};
            Op op = ops[rnd(&r, 7)];
            v = rnd(&r, 2) ? ir_build2(g, op, a, b, NOLOC, &err) : ir_build2(g, op, b, a, NOLOC, &err);
            break;
        }
        case 3: {
            static const Op ops[] = {OP_NEG, OP_EXP, OP_TANH, OP_ABS, OP_SIGMOID};
            v = ir_build1(g, ops[rnd(&r, 5)], a, NOLOC, &err);
            break;
        }
        case 4: /* a duplicate of an earlier node */
            if (nv > 2) {
                const Node *n = ir_def(g, vals[2 + rnd(&r, (uint32_t)nv - 2)]);
                Node copy = *n;
                int32_t in[4];
                for (int32_t j = 0; j < copy.nin && j < 4; j++)
                    in[j] = copy.in[j];
                Type decl = *ir_type(g, copy.out);
                v = ir_build(g, copy.op, in, copy.nin, &copy.attr, &decl, NOLOC, &err);
            }
            break;
        case 5:
            if (shape_numel(&ta->shape, NULL) == 6)
                v = reshape(g, a, rnd(&r, 2) ? TY(DT_F32, D(3), D(2)) : TY(DT_F32, D(-1)), NOLOC);
            break;
        case 6:
            if (ta->shape.rank == 2) {
                static const int64_t sw[] = {1, 0}, id[] = {0, 1};
                v = transpose(g, a, 2, rnd(&r, 4) ? sw : id);
            }
            break;
        case 7: {
            int32_t k = scalar(g, consts[rnd(&r, 3)], DT_F32);
            static const Op ops[] = {OP_ADD, OP_MUL, OP_SUB, OP_DIV};
            Op op = ops[rnd(&r, 4)];
            v = rnd(&r, 2) ? ir_build2(g, op, a, k, NOLOC, &err) : ir_build2(g, op, k, a, NOLOC, &err);
            break;
        }
        case 8:
            v = un(g, OP_NEG, un(g, OP_NEG, a));
            break;
        case 9: {
            int32_t k1 = scalar(g, consts[rnd(&r, 6)], DT_F32), k2 = scalar(g, consts[rnd(&r, 6)], DT_F32);
            v = bin(g, OP_MUL, bin(g, OP_ADD, k1, k2), k2);
            break;
        }
        case 10: {
            int32_t c = bin(g, OP_LT, a, a);
            int32_t t = scalar(g, (double)rnd(&r, 2), DT_BOOL);
            int32_t in[3] = {rnd(&r, 2) ? c : t, a, b};
            v = ir_build(g, OP_SELECT, in, 3, NULL, NULL, NOLOC, &err);
            break;
        }
        case 11:
            if (ta->shape.rank >= 1) {
                Attr at;
                attr_set_defaults(ATTR_REDUCE, &at);
                static const int64_t ax[] = {-1};
                at.reduce.axes = (IntList){1, ax};
                at.reduce.keepdims = rnd(&r, 2);
                v = ir_build(g, OP_REDUCE_SUM, &a, 1, &at, NULL, NOLOC, &err);
            }
            break;
        }
        if (v >= 0)
            vals[nv++] = v;
    }
    /* a few outputs, the last values (some others stay dead) */
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "o%d", i);
        output(g, name, vals[nv - 1 - i]);
    }
    return g;
}

static bool same_float(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void test_pipeline_preserves_interpretation(void **state)
{
    (void)state;
    static const float xs[6] = {0.5f, -1.25f, 2.0f, 0.0f, -0.0f, 3.5f}, ys[3] = {1.5f, -2.0f, 0.25f};
    int64_t dx[2] = {2, 3}, dy[1] = {3};
    Tensor *x = tensor_new(DT_F32, 2, dx), *y = tensor_new(DT_F32, 1, dy);
    assert_non_null(x);
    assert_non_null(y);
    memcpy(x->f, xs, sizeof xs);
    memcpy(y->f, ys, sizeof ys);
    NamedTensor in[2] = {{"x", x}, {"y", y}};
    WeightSource none = {NULL, NULL};
    for (uint64_t seed = 0; seed < 200; seed++) {
        Graph *g = random_graph(seed);
        Tensor *before[3] = {0}, *after[3] = {0};
        IrError err;
        if (!ir_interp(g, &none, in, 2, before, &err))
            fail_msg("seed %llu: interpreter: %s", (unsigned long long)seed, err.msg);
        PassOptions o = {0};
        if (!pass_run_pipeline(g, "canonicalize,cse,dce", &o, &err))
            fail_msg("seed %llu: %s", (unsigned long long)seed, err.msg);
        if (!ir_interp(g, &none, in, 2, after, &err))
            fail_msg("seed %llu: interpreter after the passes: %s", (unsigned long long)seed, err.msg);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(before[i]->numel, after[i]->numel);
            assert_int_equal(before[i]->rank, after[i]->rank);
            for (int64_t k = 0; k < before[i]->numel; k++)
                if (!same_float(tensor_get(before[i], k), tensor_get(after[i], k)))
                    fail_msg("seed %llu: output %d element %lld: %g before, %g after", (unsigned long long)seed,
                             i, (long long)k, tensor_get(before[i], k), tensor_get(after[i], k));
            tensor_free(before[i]);
            tensor_free(after[i]);
        }
        /* and the pipeline is idempotent as a whole */
        char *once = print_to_string(g);
        assert_true(pass_run_pipeline(g, "canonicalize,cse,dce", &o, &err));
        char *twice = print_to_string(g);
        assert_string_equal(once, twice);
        free(once);
        free(twice);
        ir_graph_free(g);
    }
    tensor_free(x);
    tensor_free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_identities),
        cmocka_unit_test(test_binary_non_identities),
        cmocka_unit_test(test_unary_identities),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_slice_broadcast_concat),
        cmocka_unit_test(test_select_constant_condition),
        cmocka_unit_test(test_commutative_order),
        cmocka_unit_test(test_splat_constant),
        cmocka_unit_test(test_constant_folding),
        cmocka_unit_test(test_folding_splat_and_bool),
        cmocka_unit_test(test_cse),
        cmocka_unit_test(test_cse_transitive),
        cmocka_unit_test(test_dce),
        cmocka_unit_test(test_table_and_defaults),
        cmocka_unit_test(test_pipeline_parser),
        cmocka_unit_test(test_verifier_ice),
        cmocka_unit_test(test_print_after),
        cmocka_unit_test(test_time_passes),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_pipeline_preserves_interpretation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
