/* test_stats.c — ir_stats on small graphs, against numbers computed by hand; the exit
 * statuses of `vitc dump` (whose --stats prints them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "ir.h"

static Shape shape(int rank, const Dim *d)
{
    Shape s = {.rank = rank};
    memcpy(s.d, d, (size_t)rank * sizeof *d);
    return s;
}

static int32_t source(Graph *g, Op op, const char *name, DType dt, Shape s)
{
    Attr a;
    IrError err;
    attr_set_defaults(ir_ops[op].attr, &a);
    if (op == OP_PARAM)
        a.param.name = name;
    else
        a.input.name = name;
    Type t = {dt, s};
    int32_t v = ir_build(g, op, NULL, 0, &a, &t, (Loc){0}, &err);
    if (v < 0)
        fail_msg("%s", err.msg);
    return v;
}

static int32_t node(Graph *g, Op op, int32_t a, int32_t b, const Attr *attr)
{
    IrError err;
    int32_t in[2] = {a, b};
    int32_t v = ir_build(g, op, in, b < 0 ? 1 : 2, attr, NULL, (Loc){0}, &err);
    if (v < 0)
        fail_msg("%s", err.msg);
    return v;
}

/*   a  = input  f32[B,1,4,8]        b  = param f32[3,8,5]      bias = param f32[5]
 *   a2 = input  bf16[2,8,4]         b2 = param bf16[8,6]       c = constant f32[]
 *   mm1 = matmul(a, b)              f32[B,3,4,5]   (batch dims broadcast: B×1 with 3)
 *   mm2 = matmul(a2, b2) transpose_a bf16[2,4,6]    (K = 8)
 *   add = add(mm1, bias); sm = softmax(add); red = reduce_sum(sm, axes [-1]) f32[B,3,4]
 *   mul = mul(red, c);  outputs: y = mul, z = mm2 */
static Graph *build_mixed(void)
{
    Graph *g = ir_graph_new("mixed");
    int32_t B = ir_symbol(g, "B", 16);
    int32_t a = source(g, OP_INPUT, "a", DT_F32, shape(4, (Dim[]){dim_sym(B, 1), dim_const(1), dim_const(4), dim_const(8)}));
    int32_t b = source(g, OP_PARAM, "b", DT_F32, shape(3, (Dim[]){dim_const(3), dim_const(8), dim_const(5)}));
    int32_t bias = source(g, OP_PARAM, "bias", DT_F32, shape(1, (Dim[]){dim_const(5)}));
    int32_t a2 = source(g, OP_INPUT, "a2", DT_BF16, shape(3, (Dim[]){dim_const(2), dim_const(8), dim_const(4)}));
    int32_t b2 = source(g, OP_PARAM, "b2", DT_BF16, shape(2, (Dim[]){dim_const(8), dim_const(6)}));
    int32_t c = ir_build_scalar(g, 0.5, DT_F32, (Loc){0}, NULL);
    Attr ta, red;
    attr_set_defaults(ATTR_MATMUL, &ta);
    ta.matmul.transpose_a = true;
    attr_set_defaults(ATTR_REDUCE, &red);
    static const int64_t last[] = {-1};
    red.reduce.axes = (IntList){1, last};
    int32_t mm1 = node(g, OP_MATMUL, a, b, NULL);
    int32_t mm2 = node(g, OP_MATMUL, a2, b2, &ta);
    int32_t add = node(g, OP_ADD, mm1, bias, NULL);
    int32_t sm = node(g, OP_SOFTMAX, add, -1, NULL);
    int32_t r = node(g, OP_REDUCE_SUM, sm, -1, &red);
    int32_t mul = node(g, OP_MUL, r, c, NULL);
    assert_true(ir_add_output(g, "y", mul));
    assert_true(ir_add_output(g, "z", mm2));
    IrError err;
    assert_true(ir_verify(g, &err));
    return g;
}

static void test_mixed_bound(void **state)
{
    (void)state;
    Graph *g = build_mixed();
    int64_t bind[] = {2};
    IrStats st;
    ir_stats(g, bind, &st);
    assert_int_equal(st.params, 120 + 5 + 48);
    assert_int_equal(st.param_bytes, 120 * 4 + 5 * 4 + 48 * 2);
    /* 2 × numel(result) × K: 2·(2·3·4·5)·8 + 2·(2·4·6)·8 */
    assert_true(st.matmul_flops == 1920.0 + 768.0);
    /* add 1×120, softmax 5×120, reduce_sum 1×max(120, 24), mul 1×24 */
    assert_true(st.other_flops == 120.0 + 600.0 + 120.0 + 24.0);
    /* inputs 256 + 128, mm1 480, mm2 96, add 480, sm 480, red 96, mul 96 */
    assert_int_equal(st.activation_bytes, 2112);
    /* largest at add: mm1 and add (960) with a2 gone and mm2 (96) held as an output */
    assert_int_equal(st.peak_live_bytes, 1056);
    assert_int_equal(st.nodes, 12);
    assert_int_equal(st.op_counts[OP_INPUT], 2);
    assert_int_equal(st.op_counts[OP_PARAM], 3);
    assert_int_equal(st.op_counts[OP_CONST], 1);
    assert_int_equal(st.op_counts[OP_MATMUL], 2);
    assert_int_equal(st.op_counts[OP_REDUCE_SUM], 1);
    assert_int_equal(st.op_counts[OP_NEG], 0);
    ir_graph_free(g);
}

/* bind == NULL: every symbol is 1 */
static void test_mixed_unbound(void **state)
{
    (void)state;
    Graph *g = build_mixed();
    IrStats st;
    ir_stats(g, NULL, &st);
    assert_true(st.matmul_flops == 960.0 + 768.0);
    assert_true(st.other_flops == 60.0 + 300.0 + 60.0 + 12.0);
    assert_int_equal(st.activation_bytes, 128 + 128 + 240 + 96 + 240 + 240 + 48 + 48);
    assert_int_equal(st.params, 173);

    /* a dead node counts for nothing */
    int32_t e = node(g, OP_EXP, g->nvalues - 1, -1, NULL);
    g->nodes[g->values[e].node].dead = true;
    IrStats st2;
    ir_stats(g, NULL, &st2);
    assert_int_equal(st2.nodes, st.nodes);
    assert_true(st2.other_flops == st.other_flops);
    assert_int_equal(st2.activation_bytes, st.activation_bytes);
    assert_int_equal(st2.peak_live_bytes, st.peak_live_bytes);
    ir_graph_free(g);
}

/*   x = input f32[B,4]; w = param f32[4,4]; m = matmul(x, w); n = neg(m); s = add(n, x);
 *   e = exp(s); output e (and m when keep_m). 32 bytes each at B = 2. */
static int64_t chain_peak(bool keep_m)
{
    Graph *g = ir_graph_new("chain");
    int32_t B = ir_symbol(g, "B", 4);
    int32_t x = source(g, OP_INPUT, "x", DT_F32, shape(2, (Dim[]){dim_sym(B, 1), dim_const(4)}));
    int32_t w = source(g, OP_PARAM, "w", DT_F32, shape(2, (Dim[]){dim_const(4), dim_const(4)}));
    int32_t m = node(g, OP_MATMUL, x, w, NULL);
    int32_t n = node(g, OP_NEG, m, -1, NULL);
    int32_t s = node(g, OP_ADD, n, x, NULL);
    int32_t e = node(g, OP_EXP, s, -1, NULL);
    assert_true(ir_add_output(g, "e", e));
    if (keep_m)
        assert_true(ir_add_output(g, "m", m));
    int64_t bind[] = {2};
    IrStats st;
    ir_stats(g, bind, &st);
    assert_int_equal(st.activation_bytes, 5 * 32);
    ir_graph_free(g);
    return st.peak_live_bytes;
}

static void test_peak_live(void **state)
{
    (void)state;
    /* x lives until add; m dies at neg: at most x, m, n or x, n, s */
    assert_int_equal(chain_peak(false), 96);
    /* m is an output: x, m, n, s at add */
    assert_int_equal(chain_peak(true), 128);
}

static void test_empty(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("empty");
    IrStats st;
    ir_stats(g, NULL, &st);
    assert_int_equal(st.nodes, 0);
    assert_int_equal(st.peak_live_bytes, 0);
    assert_true(st.matmul_flops == 0 && st.other_flops == 0);
    ir_graph_free(g);
}

/* Runs `vitc dump ARGS...` in process, its output silenced; returns its exit status. */
static int dump(const char *first, ...)
{
    char *argv[32] = {"dump"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    int status = cmd_dump(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    close(null);
    return status;
}

static char *read_all(const char *path)
{
    size_t n;
    char *s = tool_read_file(path, &n);
    assert_non_null(s);
    return s;
}

static void test_dump_command(void **state)
{
    (void)state;
    char dir[] = "/tmp/vitc_test_stats_XXXXXX", vir[64], bad[64], out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(vir, sizeof vir, "%s/mixed.vir", dir);
    snprintf(bad, sizeof bad, "%s/bad.vir", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    Graph *g = build_mixed();
    FILE *f = fopen(vir, "w");
    assert_non_null(f);
    ir_print(g, f);
    fclose(f);
    f = fopen(bad, "w");
    assert_non_null(f);
    fputs("graph @g {\n  %0 = nosuchop()\n}\n", f);
    fclose(f);

    assert_int_equal(dump("--stats", "--bind", "B=2", "-o", out, vir, NULL), 0);
    char *text = read_all(out);
    assert_non_null(strstr(text, "model mixed (symbols: B = 2)"));
    assert_non_null(strstr(text, "173"));
    ir_free(text);
    assert_int_equal(dump("-o", out, vir, NULL), 0);
    text = read_all(out);
    char *want = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&want, &n);
    ir_print(g, m);
    fclose(m);
    assert_string_equal(text, want);
    free(want);
    ir_free(text);
    assert_int_equal(dump("--dot", "-o", out, vir, NULL), 0);
    assert_int_equal(dump("--help", NULL), 0);

    /* errors in the input: 1 */
    assert_int_equal(dump(bad, NULL), 1);
    assert_int_equal(dump("/nonexistent/x.vir", NULL), 1);
    assert_int_equal(dump("-o", "/nonexistent/dir/out", vir, NULL), 1);
    /* bad usage: 2 */
    assert_int_equal(dump(NULL), 2);
    assert_int_equal(dump("--frobnicate", vir, NULL), 2);
    assert_int_equal(dump(vir, vir, NULL), 2);
    assert_int_equal(dump("-O9", vir, NULL), 2);
    assert_int_equal(dump("--passes=nosuchpass", vir, NULL), 2);
    assert_int_equal(dump("--print-after=nosuchpass", vir, NULL), 2);
    assert_int_equal(dump("--passes=dce", "-O2", vir, NULL), 2);
    assert_int_equal(dump("--stats", "--dot", vir, NULL), 2);
    assert_int_equal(dump("--stats", "--bind", "C=1", vir, NULL), 2);
    assert_int_equal(dump("--stats", "--bind", "B=0", vir, NULL), 2);
    assert_int_equal(dump("--stats", "--bind", "B=17", vir, NULL), 2);
    assert_int_equal(dump("--stats", "--bind", "B", vir, NULL), 2);
    assert_int_equal(dump("-o", NULL), 2);

    remove(vir);
    remove(bad);
    remove(out);
    rmdir(dir);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_bound),
        cmocka_unit_test(test_mixed_unbound),
        cmocka_unit_test(test_peak_live),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_dump_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
