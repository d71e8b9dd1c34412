/* test_text.c — the text form of the Graph IR (ir/print.c, ir/parse.c).
 *
 * A graph with every op of ops.def (iterating the op table, so a new op without a case
 * here fails) and a non-default value of every attribute field type, built with
 * ir_build: print → parse → print must give the same bytes and the same graph. Then odd
 * names and floats, value numbering, the parser's errors with their locations, error
 * recovery, and out-of-memory at every allocation.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"
#include "ir.h"

/* ---- helpers ---- */

static char *print_str(const Graph *g)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    ir_print(g, f);
    fclose(f);
    return s;
}

/* Parses text; *diags (may be NULL) receives what the diagnostics printed. */
static Graph *parse_str(const char *text, char **diags)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    Diag *d = diag_new(f);
    assert_non_null(d);
    diag_add_source(d, "t.vir", text, strlen(text));
    Graph *g = ir_parse(text, strlen(text), "t.vir", d);
    diag_free(d);
    fclose(f);
    if (diags)
        *diags = s;
    else
        free(s);
    return g;
}

/* print → parse → print: the same text, and a graph equal to g node by node. */
static void check_roundtrip(const Graph *g)
{
    IrError err;
    if (!ir_verify(g, &err))
        fail_msg("the test graph is invalid: %s", err.msg);
    char *a = print_str(g), *diags = NULL;
    Graph *h = parse_str(a, &diags);
    if (!h)
        fail_msg("the printed graph does not parse:\n%s\n%s", a, diags);
    assert_true(ir_verify(h, &err));
    char *b = print_str(h);
    assert_string_equal(a, b);

    assert_string_equal(g->name, h->name);
    assert_int_equal(g->nsyms, h->nsyms);
    assert_int_equal(g->noutputs, h->noutputs);
    int32_t j = 0;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *x = &g->nodes[i];
        if (x->dead)
            continue;
        const Node *y = &h->nodes[j++];
        assert_int_equal(x->op, y->op);
        assert_int_equal(x->nin, y->nin);
        assert_true(attr_eq(ir_ops[x->op].attr, &x->attr, &y->attr));
        for (int32_t r = 0; r < x->nout; r++)
            assert_true(type_eq(ir_type(g, x->out + r), ir_type(h, y->out + r)));
        assert_int_equal(x->loc.file == NULL, y->loc.file == NULL);
        if (x->loc.file) {
            assert_string_equal(x->loc.file, y->loc.file);
            assert_int_equal(x->loc.line, y->loc.line);
            assert_int_equal(x->loc.col, y->loc.col);
        }
    }
    assert_int_equal(j, h->nnodes);
    Attr ma, mb;
    attr_set_defaults(ATTR_META, &ma);
    attr_set_defaults(ATTR_META, &mb);
    ma.meta = g->meta;
    mb.meta = h->meta;
    assert_true(attr_eq(ATTR_META, &ma, &mb));
    free(a);
    free(b);
    free(diags);
    ir_graph_free(h);
}

static int32_t build_input(Graph *g, const char *name, DType dt, Shape s)
{
    Attr a;
    IrError err;
    attr_set_defaults(ATTR_INPUT, &a);
    a.input.name = name;
    Type t = {dt, s};
    int32_t v = ir_build(g, OP_INPUT, NULL, 0, &a, &t, (Loc){0}, &err);
    if (v < 0)
        fail_msg("%s", err.msg);
    return v;
}

/* ---- every op, every field type ---- */

enum { MAX_VARIANTS = 4 };

typedef struct {
    Attr a;
    Type t; /* the declared type of source ops */
} Variant;

static const int64_t perm021[] = {0, 2, 1}, layout10[] = {1, 0}, axes[] = {1, -1};
static const double odd_data[] = {0.5, -0.0, NAN, INFINITY, 1e-300};

/* Non-default attributes of kind k (several tries: each op keeps those that build). */
static int variants(AttrKind k, int32_t B, Variant *v)
{
    int n = 0;
    for (int i = 0; i < MAX_VARIANTS; i++)
        attr_set_defaults(k, &v[i].a);
    switch (k) {
    case ATTR_NONE:
        return 1;
    case ATTR_INPUT:
        v[0].a.input.name = "odd input \"1\"\n";
        v[0].t = (Type){DT_BF16, {2, {dim_sym(B, 2), dim_const(3)}}};
        return 1;
    case ATTR_PARAM:
        v[0].a.param.name = "blocks.0.attn qkv/w";
        v[0].a.param.layout = (IntList){2, layout10};
        v[0].a.param.init = INIT_ONES;
        v[0].a.param.std = 0.5;
        v[0].t = (Type){DT_F32, {2, {dim_const(8), dim_const(4)}}};
        return 1;
    case ATTR_CONST:
        v[0].a.constant.data = (FloatList){5, odd_data};
        v[0].t = (Type){DT_F32, {1, {dim_const(5)}}};
        v[1].a.constant.data = (FloatList){1, odd_data};
        v[1].t = (Type){DT_F16, {0, {{0, 0}}}};
        return 2;
    case ATTR_IOTA:
        v[0].a.iota.shape = (Shape){2, {dim_sym(B, 1), dim_const(3)}};
        v[0].a.iota.axis = 1;
        v[0].a.iota.dtype = DT_I32;
        v[0].t = (Type){DT_I32, v[0].a.iota.shape};
        return 1;
    case ATTR_CAST:
        v[0].a.cast.to = DT_BF16;
        return 1;
    case ATTR_GELU:
        v[0].a.gelu.approximate = GELU_TANH;
        return 1;
    case ATTR_REDUCE:
        v[0].a.reduce.axes = (IntList){2, axes};
        v[0].a.reduce.keepdims = true;
        return 1;
    case ATTR_AXIS:
        v[0].a.axis.axis = 1;
        return 1;
    case ATTR_NORM:
        v[0].a.norm.eps = 1e-5;
        v[0].a.norm.center = false;
        return 1;
    case ATTR_MATMUL:
        v[0].a.matmul.transpose_b = true;
        v[1].a.matmul.transpose_a = true;
        return 2;
    case ATTR_SHAPE:
        v[0].a.shape.shape = (Shape){3, {dim_sym(B, 1), dim_const(-1), dim_const(2)}};
        v[1].a.shape.shape = (Shape){4, {dim_const(3), dim_sym(B, 1), dim_const(4), dim_const(8)}};
        return 2;
    case ATTR_PERM:
        v[0].a.perm.perm = (IntList){3, perm021};
        return 1;
    case ATTR_SLICE:
        v[0].a.slice = (SliceAttr){.axis = 1, .start = 1, .stop = 4, .step = 2};
        return 1;
    case ATTR_ATTN: /* (masks need a fourth operand: tests/lit/passes/attention-*.vir) */
        v[0].a.attn.scale = 0.125;
        v[1].a.attn.scale = -3.0;
        return 2;
    case ATTR_MOE: /* built with operands of their own: build_moe_ops */
        v[0].a.moe = (MoeAttr){.experts = 2, .k = 1, .capacity_factor = 0.75, .capacity_multiple = 0, .group_size = 4,
                               .batch_priority = true, .approximate = GELU_ERF, .members = 1};
        v[1].a.moe.group_size = 2;
        v[1].a.moe.routing = ROUTING_EXPERT;
        v[1].a.moe.normalize_combine = true;
        v[1].a.moe.capacity = 3;
        return 2;
    case ATTR_ROUTE:
        v[0].a.route.batch_priority = true;
        v[1].a.route = (RouteAttr){.k = 1, .capacity = 2, .routing = ROUTING_TOKEN, .members = 2, .normalize_combine = true};
        return 2;
    case ATTR_SEGRED: /* built with operands of their own: build_segment_ops */
        v[0].a.segred = (SegredAttr){.segments = 3, .reduce = SEGRED_MAX};
        v[1].a.segred = (SegredAttr){.segments = 1, .reduce = SEGRED_SUM};
        return 2;
    default:
        fail_msg("attribute kind %s has no variants in test_text.c: add some", attr_schema(k)->name);
    }
    return n;
}

/* Tries operand tuples from the pool until the node builds; true when it did. */
static bool build_any(Graph *g, Op op, const Variant *v, const int32_t *pool, int npool, Loc loc)
{
    const OpInfo *info = &ir_ops[op];
    int lo = info->nin >= 0 ? info->nin : 1, hi = info->nin >= 0 ? info->nin : 3;
    for (int nin = lo; nin <= hi; nin++) {
        int combos = 1;
        for (int i = 0; i < nin; i++)
            combos *= npool;
        for (int c = 0; c < combos; c++) {
            int32_t in[3];
            for (int i = 0, k = c; i < nin; i++, k /= npool)
                in[i] = pool[k % npool];
            IrError err;
            if (ir_build(g, op, in, nin, &v->a, (info->flags & OPF_SOURCE) ? &v->t : NULL, loc, &err) >= 0)
                return true;
        }
    }
    return false;
}

/* The moe ops, whose operands the pool cannot give: moe's six, moe_combine's i32 route. */
static void build_moe_ops(Graph *g, int32_t B, int *count)
{
    Variant v[MAX_VARIANTS];
    IrError err;
    Shape xs = {3, {dim_sym(B, 1), dim_const(4), dim_const(8)}};
    int32_t in[6] = {build_input(g, "moe x", DT_F32, xs),
                     build_input(g, "moe router", DT_F32, (Shape){2, {dim_const(8), dim_const(2)}}),
                     build_input(g, "moe w1", DT_F32, (Shape){3, {dim_const(2), dim_const(8), dim_const(3)}}),
                     build_input(g, "moe b1", DT_F32, (Shape){2, {dim_const(2), dim_const(3)}}),
                     build_input(g, "moe w2", DT_F32, (Shape){3, {dim_const(2), dim_const(3), dim_const(8)}}),
                     build_input(g, "moe b2", DT_F32, (Shape){2, {dim_const(2), dim_const(8)}})};
    int nv = variants(ATTR_MOE, B, v);
    for (int i = 0; i < nv; i++)
        count[OP_MOE] += ir_build(g, OP_MOE, in, 6, &v[i].a, NULL, (Loc){"moe.vit", 3, i + 1}, &err) >= 0;
    int32_t gates = build_input(g, "moe gates", DT_F32, (Shape){3, {dim_sym(B, 1), dim_const(4), dim_const(2)}});
    nv = variants(ATTR_ROUTE, B, v);
    for (int i = 0; i < nv; i++) {
        int32_t r = ir_build(g, OP_MOE_ROUTE, &gates, 1, &v[i].a, NULL, (Loc){0}, &err);
        const RouteAttr *a = &v[i].a.route;
        Shape ys = {3, {dim_const(2 * a->members), dim_sym(B, a->capacity), dim_const(8)}};
        int32_t c[3] = {build_input(g, i ? "moe y1" : "moe y0", DT_F32, ys), r, gates};
        count[OP_MOE_COMBINE] += r >= 0 && ir_build(g, OP_MOE_COMBINE, c, 3, &v[i].a, NULL, (Loc){0}, &err) >= 0;
    }
}

/* NaViT: packed inputs, segment_reduce and the segment / slot attentions over their seg. */
static void build_segment_ops(Graph *g, int *count)
{
    Variant v[MAX_VARIANTS];
    IrError err;
    Attr ia;
    attr_set_defaults(ATTR_INPUT, &ia);
    ia.input = (InputAttr){.name = "packed patches", .pack = PACK_PATCHES, .patch = 2, .channels = 1, .images = 3};
    Type pt = {DT_F32, {2, {dim_const(6), dim_const(4)}}}, st = {DT_I32, {1, {dim_const(6)}}};
    ir_build(g, OP_INPUT, NULL, 0, &ia, &pt, (Loc){0}, &err);
    ia.input = (InputAttr){.name = "packed seg", .pack = PACK_SEG};
    int32_t seg = ir_build(g, OP_INPUT, NULL, 0, &ia, &st, (Loc){"navit.vit", 2, 7}, &err);
    ia.input = (InputAttr){.name = "packed width", .pack = PACK_WIDTH};
    ir_build(g, OP_INPUT, NULL, 0, &ia, &st, (Loc){0}, &err);
    int32_t x = build_input(g, "segment x", DT_F32, (Shape){3, {dim_const(6), dim_const(2), dim_const(5)}});
    int nv = variants(ATTR_SEGRED, 0, v);
    for (int i = 0; i < nv; i++) {
        int32_t in[2] = {x, seg};
        count[OP_SEGMENT_REDUCE] += ir_build(g, OP_SEGMENT_REDUCE, in, 2, &v[i].a, NULL, (Loc){0}, &err) >= 0;
    }
    int32_t q = build_input(g, "segment q", DT_F32, (Shape){3, {dim_const(2), dim_const(6), dim_const(4)}});
    int32_t qs = build_input(g, "slot q", DT_F32, (Shape){3, {dim_const(2), dim_const(3), dim_const(4)}});
    Attr a;
    attr_set_defaults(ATTR_ATTN, &a);
    a.attn.mask = MASK_SEGMENT;
    int32_t in[4] = {q, q, q, seg};
    count[OP_ATTENTION] += ir_build(g, OP_ATTENTION, in, 4, &a, NULL, (Loc){0}, &err) >= 0;
    a.attn.mask = MASK_SLOT;
    in[0] = qs;
    count[OP_ATTENTION] += ir_build(g, OP_ATTENTION, in, 4, &a, NULL, (Loc){0}, &err) >= 0;
}

static void test_every_op_roundtrips(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("all_ops");
    int32_t B = ir_symbol(g, "B", 8);
    ir_symbol(g, "T", 1024);
    int32_t pool[] = {
        build_input(g, "x", DT_F32, (Shape){3, {dim_sym(B, 1), dim_const(4), dim_const(8)}}),
        build_input(g, "m", DT_BOOL, (Shape){3, {dim_sym(B, 1), dim_const(4), dim_const(8)}}),
        build_input(g, "idx", DT_I32, (Shape){1, {dim_const(3)}}),
        ir_build_scalar(g, 2.0, DT_F32, (Loc){"scalar.vit", 1, 1}, NULL),
    };
    static const char *const files[] = {"model.vit", "dir/odd \"file\".vit", " spaced.vit", "C:/x:y.vit"};
    int count[OP_COUNT] = {0};
    for (int op = 0; op < OP_COUNT; op++) {
        Variant v[MAX_VARIANTS];
        if (op == OP_MOE || op == OP_MOE_COMBINE || op == OP_SEGMENT_REDUCE)
            continue; /* build_moe_ops, build_segment_ops */
        int nv = variants(ir_ops[op].attr, B, v);
        for (int i = 0; i < nv; i++) {
            Loc loc = op % 5 == 0 ? (Loc){0} : (Loc){files[op % 4], op + 1, i + 2};
            count[op] += build_any(g, (Op)op, &v[i], pool, 4, loc);
        }
    }
    build_moe_ops(g, B, count);
    build_segment_ops(g, count);
    for (int op = 0; op < OP_COUNT; op++)
        if (!count[op])
            fail_msg("op '%s' has no round-trip case: give its attribute kind variants or its operands "
                     "a pool value in test_text.c",
                     ir_ops[op].name);

    static const double mean[] = {0.485, 0.456, 0.406};
    Attr meta;
    attr_set_defaults(ATTR_META, &meta);
    meta.meta.resize = 224;
    meta.meta.crop = 256;
    meta.meta.mean = (FloatList){3, mean};
    meta.meta.std = (FloatList){3, mean};
    meta.meta.labels = "labels/imagenet.txt";
    assert_true(ir_attr_own(g, ATTR_META, &meta));
    g->meta = meta.meta;
    assert_true(ir_add_output(g, "logits", g->nvalues - 1));
    assert_true(ir_add_output(g, "odd output", pool[0]));

    /* every field type appears with a non-default value */
    bool seen[FT_ENUM + 1] = {0};
    for (int32_t i = 0; i <= g->nnodes; i++) {
        AttrKind k = i < g->nnodes ? ir_ops[g->nodes[i].op].attr : ATTR_META;
        const Attr *a = i < g->nnodes ? &g->nodes[i].attr : &meta;
        for (int f = 0; f < attr_schema(k)->nfields; f++)
            if (!attr_field_is_default(k, a, &attr_schema(k)->fields[f]))
                seen[attr_schema(k)->fields[f].type] = true;
    }
    for (int t = 0; t <= FT_ENUM; t++)
        if (!seen[t])
            fail_msg("field type %d is not covered", t);
    check_roundtrip(g);
    ir_graph_free(g);
}

/* ---- odd names and floats ---- */

static void test_odd_names_and_floats(void **state)
{
    (void)state;
    static const char *const names[] = {"a b", "quote\"d", "back\\slash", "new\nline", "tab\tx", "\xc3\xbc" "tf-8",
                                        "a:b/c-d.e_f", "-", "123", "#hash", "x\x7f" "del", "trailing "};
    static const double odd[] = {1e-6, 0.1, 1e300, -0.0, NAN, INFINITY, -INFINITY, 5e-324, 1.7976931348623157e308,
                                 -2.5, 1.0 / 3.0, 123456789.0, 0.0};
    int nodd = (int)(sizeof odd / sizeof odd[0]);
    Graph *g = ir_graph_new("my graph \"1\"");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Attr a;
        IrError err;
        attr_set_defaults(ATTR_PARAM, &a);
        a.param.name = names[i];
        a.param.std = odd[i % 4];
        Type t = {DT_F32, {1, {dim_const(2)}}};
        int32_t v = ir_build(g, OP_PARAM, NULL, 0, &a, &t, (Loc){names[i], (int32_t)i, -1}, &err);
        if (v < 0)
            fail_msg("%s", err.msg);
        assert_true(ir_add_output(g, names[i], v));
    }
    Attr c;
    attr_set_defaults(ATTR_CONST, &c);
    c.constant.data = (FloatList){nodd, odd};
    Type t = {DT_F32, {1, {dim_const(nodd)}}};
    int32_t cv = ir_build(g, OP_CONST, NULL, 0, &c, &t, (Loc){"", 0, 0}, NULL);
    assert_true(cv >= 0);
    check_roundtrip(g);

    char *text = print_str(g);
    for (const char *want = "1e-06\0" "0.1\0" "1e+300\0" "-0.0\0" "nan\0" "-inf\0" "5e-324\0"; *want;
         want += strlen(want) + 1)
        if (!strstr(text, want))
            fail_msg("'%s' not printed in:\n%s", want, text);
    Graph *h = parse_str(text, NULL);
    assert_non_null(h);
    const FloatList *d = &h->nodes[h->nnodes - 1].attr.constant.data;
    assert_int_equal(d->n, nodd);
    for (int i = 0; i < nodd; i++)
        assert_true(isnan(odd[i]) ? isnan(d->v[i]) : memcmp(&odd[i], &d->v[i], sizeof(double)) == 0);
    free(text);
    ir_graph_free(h);
    ir_graph_free(g);
}

/* Values print as %0, %1, ... in definition order, skipping dead nodes. */
static void test_numbering(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("n");
    int32_t x = build_input(g, "x", DT_F32, (Shape){1, {dim_const(4)}});
    int32_t a = ir_build1(g, OP_NEG, x, (Loc){0}, NULL);
    int32_t b = ir_build1(g, OP_EXP, x, (Loc){0}, NULL);
    int32_t c = ir_build2(g, OP_ADD, a, x, (Loc){0}, NULL);
    assert_true(b >= 0 && c >= 0);
    g->nodes[g->values[b].node].dead = true;
    assert_true(ir_add_output(g, "y", c));
    char *text = print_str(g);
    assert_string_equal(text, "graph @n {\n"
                              "  %0 = input {name = \"x\"} : f32[4]\n"
                              "  %1 = neg(%0) : f32[4]\n"
                              "  %2 = add(%1, %0) : f32[4]\n"
                              "  output y = %2\n"
                              "}\n");
    free(text);
    ir_graph_free(g);

    /* any %names, defined before use */
    Graph *h = parse_str("graph @n {\n  %in.put = input {name = \"x\"} : f32[4]\n  %_9 = neg(%in.put)\n"
                         "  output y = %_9\n}\n", NULL);
    assert_non_null(h);
    text = print_str(h);
    assert_non_null(strstr(text, "%1 = neg(%0) : f32[4]\n"));
    free(text);
    ir_graph_free(h);
}

/* ---- errors ---- */

typedef struct {
    const char *line; /* the 4th line of the file */
    const char *msg;  /* expected: "t.vir:4:COL: error: MSG..." (a prefix of the message) */
} ErrorCase;

static const ErrorCase error_cases[] = {
    {"%1 = foo(%x)", "4:8: error: unknown op 'foo'"},
    {"%1 = add(%x, %y)", "4:16: error: use of undefined value %y"},
    {"%x = neg(%x)", "4:3: error: redefinition of %x"},
    {"%1 = add(%x)", "4:8: error: 'add' takes 2 operands, got 1"},
    {"%1 = neg(%x) {axis = 1}", "4:17: error: 'neg' takes no attributes"},
    {"%1 = softmax(%x) {axes = 1}", "4:21: error: unknown attribute 'axes' of 'softmax' (valid: axis)"},
    {"%1 = softmax(%x) {axis = true}", "4:28: error: attribute 'axis' takes an integer, got 'true'"},
    {"%1 = softmax(%x) {axis = 1, axis = 0}", "4:31: error: attribute 'axis' is given twice"},
    {"%1 = matmul(%x, %x) {transpose_b = 1}", "4:38: error: attribute 'transpose_b' takes true or false"},
    {"%1 = cast(%x) {to = f33}", "4:23: error: attribute 'to' takes a dtype"},
    {"%1 = gelu(%x) {approximate = exact}", "4:32: error: attribute 'approximate' takes one of erf, tanh"},
    {"%1 = transpose(%x) {perm = [1, 0.5]}", "4:34: error: attribute 'perm' takes a list of integers, got '0.5'"},
    {"%1 = neg(%x) : f32[B,5]", "4:18: error: type annotation f32[B,5] does not match the inferred f32[B,4]"},
    {"%1 = neg(%x) : f99[B,4]", "4:18: error: expected a type such as f32[B,197,768], got 'f99'"},
    {"%1 = neg(%x) : f32[B,4", "4:25: error: expected ',' or ']' in a shape, got the end of the line"},
    {"%1 = reshape(%x) {shape = [C, 4]}", "4:30: error: unknown symbol 'C'"},
    {"%1 = softmax(%x) {axis = 5}", "4:8: error: 'softmax': axis 5 is out of range for rank 2"},
    {"%1 = input {name = \"y\"}", "4:8: error: 'input' needs its result type after ':'"},
    {"%1, %2 = neg(%x)", "4:12: error: 'neg' has 1 result, but 2 names are given"},
    {"%1, %1 = neg(%x)", "4:7: error: redefinition of %1"},
    {"%1 = neg(%x) \"abc", "4:16: error: unterminated string"},
    {"%1 = neg(%x) {}}", "4:18: error: expected the end of the line, got '}'"},
    {"%1 = neg(%x) ; 2", "4:16: error: unexpected character ';'"},
    {"%1 = neg(%x) \x01", "4:16: error: unexpected byte 0x01"},
    {"output y = %zz", "4:14: error: use of undefined value %zz"},
    {"dim B <= 3", "4:7: error: symbol 'B' is declared twice"},
    {"dim C <= 0", "4:12: error: expected the symbol's maximum, an integer of at least 1, got '0'"},
    {"%1 = constant {data = [1, 2]} : f32[3]", "4:8: error: constant has 2 values for 3 elements"},
    {"%1 = input {name = \"x\"} : f32[4]", "4:8: error: input 'x' is declared twice"},
    {"%1 = slice(%x) {stop = 99999999999999999999}", "4:26: error: integer out of range"},
    {"%1 = constant {data = [1x]} : f32[1]", "4:26: error: malformed number '1x'"},
    {"%1 = param $\"a\\q\" : f32[1]", "4:17: error: unknown escape sequence"},
    {"%1 = param $\"a\\x00\" : f32[1]", "4:17: error: a string cannot hold a NUL byte"},
    {"%1 = param $\"a\\x0g\" : f32[1]", "4:17: error: '\\x' takes two hexadecimal digits"},
    {"%1 = neg $w (%x)", "4:12: error: only 'param' takes a $name"},
    {"meta {colour = 1}", "4:9: error: unknown attribute 'colour' of meta (valid: resize, crop, mean, std, labels)"},
    {"%1 = reshape(%x) {shape = [1, 2, 3, 4, 5, 6, 7, 8, 9]}", "4:29: error: a shape has at most 8 dimensions"},
    {"%1 =", "4:7: error: expected an op name, got the end of the line"},
    {"output = %x", "4:10: error: expected the output's name, got '='"},
    {"42", "4:3: error: expected a statement"},
};

static void test_error_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        char text[512], *diags;
        snprintf(text, sizeof text, "graph @g {\n  dim B <= 8\n  %%x = input {name = \"x\"} : f32[B,4]\n  %s\n}\n",
                 error_cases[i].line);
        Graph *g = parse_str(text, &diags);
        char want[300];
        snprintf(want, sizeof want, "t.vir:%s", error_cases[i].msg);
        if (g || strncmp(diags, want, strlen(want)) != 0)
            fail_msg("for line `%s`\nexpected: %s\ngot:      %s", error_cases[i].line, want, diags);
        /* exactly one error, shown with its source line and a caret */
        if (strstr(diags + 1, ": error: ") != strstr(diags, ": error: ") || !strstr(diags, "    4 |   "))
            fail_msg("for line `%s`, not one error with its line:\n%s", error_cases[i].line, diags);
        free(diags);
        ir_graph_free(g);
    }
}

static void expect_file_error(const char *text, const char *want)
{
    char *diags;
    Graph *g = parse_str(text, &diags);
    if (g || strncmp(diags, want, strlen(want)) != 0)
        fail_msg("expected: %s\ngot:      %s", want, diags);
    free(diags);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("", "t.vir:1:1: error: expected 'graph @name {', got the end of the file");
    expect_file_error("# only a comment\n\nfoo", "t.vir:3:1: error: expected 'graph @name {', got 'foo'");
    expect_file_error("graph g {\n}\n", "t.vir:1:7: error: expected the graph's name (@name), got 'g'");
    expect_file_error("graph @g {\n", "t.vir:2:1: error: missing '}' at the end of the graph");
    expect_file_error("graph @g {\n}\ngraph @h {\n}\n",
                      "t.vir:3:1: error: unexpected 'graph' after the end of the graph (one graph per file)");
    expect_file_error("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\x00\n}\n", "t.vir:2:");

    /* the packed inputs together (ir_verify_packed), at the input that breaks the rule */
    const char *patches = "graph @g {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 1, images = 3}"
                          " : f32[8,4]\n";
    char text[512];
    snprintf(text, sizeof text, "%s  %%s = input {name = \"s\", pack = seg} : i32[7]\n}\n", patches);
    expect_file_error(text, "t.vir:3:3: error: packed input 's' has 7 tokens, but 'p' has 8");
    snprintf(text, sizeof text, "%s  %%s = input {name = \"s\", pack = seg} : i32[8]\n"
             "  %%q = input {name = \"q\", pack = patches, patch = 2, channels = 1, images = 3} : f32[8,4]\n}\n",
             patches);
    expect_file_error(text, "t.vir:4:3: error: a second packed input of role patches");
    snprintf(text, sizeof text, "%s}\n", patches);
    expect_file_error(text, "t.vir:2:3: error: a packed sequence needs its seg input (pack = patches and pack = seg)");

    /* CRLF, no final newline, comments everywhere */
    Graph *g = parse_str("# c\r\ngraph @g { # c\r\n  %0 = input {name = \"x\"} : f32[2] # note: not a loc\r\n"
                         "\r\n  output y = %0 # c\r\n}",
                         NULL);
    assert_non_null(g);
    assert_null(g->nodes[0].loc.file);
    ir_graph_free(g);
}

/* Several errors per run; uses of names from failed lines do not cascade (lines 3 and 6),
 * other errors on their lines are still found (line 4). */
static void test_recovery(void **state)
{
    (void)state;
    char *diags;
    Graph *g = parse_str("graph @g {\n  %0 = foo()\n  %1 = neg(%0)\n  %2 = exp(%1) {x = 1}\n"
                         "  %3 = bar(%2)\n  output y = %3\n  dim 5\n}\n",
                         &diags);
    assert_null(g);
    int n = 0;
    for (const char *p = diags; (p = strstr(p, ": error: ")); p++)
        n++;
    if (n != 4 || !strstr(diags, "t.vir:2:8:") || !strstr(diags, "t.vir:4:17:") || !strstr(diags, "t.vir:5:8:") ||
        !strstr(diags, "t.vir:7:7:"))
        fail_msg("expected errors at 2:8, 4:17, 5:8, 7:7, got:\n%s", diags);
    free(diags);

    /* it stops after too many */
    char text[8192] = "graph @g {\n";
    for (int i = 0; i < 50; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  %%%d = foo()\n", i);
    strcat(text, "}\n");
    assert_null(parse_str(text, &diags));
    assert_non_null(strstr(diags, "too many errors"));
    assert_null(strstr(diags, "t.vir:30:"));
    free(diags);
}

/* Out of memory at every allocation: NULL or a correct graph, never a crash or a leak. */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *text = "graph @g {\n  dim B <= 8\n  meta {mean = [0.5, 0.5], labels = \"l.txt\"}\n"
                       "  %0 = input {name = \"x\"} : f32[B,4]\n  %1 = param $w {layout = [1, 0]} : f32[4,4]\n"
                       "  %2 = matmul(%0, %1) : f32[B,4]  # m.vit:3:4\n  output y = %2\n}\n";
    Graph *ref = parse_str(text, NULL);
    assert_non_null(ref);
    char *want = print_str(ref);
    bool ok = false;
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    for (long n = 0; n < 10000 && !ok; n++) {
        ir_alloc_fail_after(n);
        Diag *d = diag_new(null);
        Graph *g = d ? ir_parse(text, strlen(text), "t.vir", d) : NULL;
        diag_free(d);
        ir_alloc_fail_after(-1);
        if (g) {
            char *got = print_str(g);
            assert_string_equal(got, want);
            free(got);
            ok = true;
        }
        ir_graph_free(g);
    }
    assert_true(ok);
    fclose(null);
    free(want);
    ir_graph_free(ref);
}

static void test_print_type(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t B = ir_symbol(g, "B", 4);
    Type t = {DT_BF16, {3, {dim_sym(B, 1), dim_sym(B, 197), dim_const(768)}}}, s = {DT_BOOL, {0, {{0, 0}}}};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ir_print_type(g, &t, f);
    fputc(' ', f);
    ir_print_type(g, &s, f);
    fclose(f);
    assert_string_equal(buf, "bf16[B,197*B,768] bool[]");
    free(buf);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_roundtrips),
        cmocka_unit_test(test_odd_names_and_floats),
        cmocka_unit_test(test_numbering),
        cmocka_unit_test(test_error_cases),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_print_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
