/* test_frontend.c — the .vit language: lexing, statements, templates, defs, indexing,
 * parameters, locations, diagnostics, limits, and the models of models/.
 *
 * Compile-time semantics are checked from inside the language where possible: a model
 * that `assert`s what it computes must compile. Graph shapes, attributes and locations
 * are checked on the nodes; diagnostics on the text the frontend reports.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd.h"

static const char *source_dir(void)
{
    const char *s = getenv("VITC_SOURCE_DIR");
    return s && *s ? s : VITC_SOURCE_DIR;
}

/* Compiles src (named "t.vit"; imports from models/) with the fail_after-th allocation
 * failing (-1: none); *errs receives the diagnostics (free it). */
static Graph *compile_oom(const char *src, size_t len, char **errs, long fail_after)
{
    char models[4096];
    snprintf(models, sizeof models, "%s/models", source_dir());
    const char *dirs[] = {models};
    FrontendOptions o = {dirs, 1};
    size_t n;
    char *buf = NULL;
    FILE *out = open_memstream(&buf, &n);
    assert_non_null(out);
    Diag *d = diag_new(out);
    assert_non_null(d);
    ir_alloc_fail_after(fail_after);
    Graph *g = fe_compile_string("t.vit", src, len, &o, d);
    ir_alloc_fail_after(-1);
    diag_free(d);
    fclose(out);
    if (errs)
        *errs = buf;
    else
        free(buf);
    return g;
}

static Graph *compile_src(const char *src, size_t len, char **errs) { return compile_oom(src, len, errs, -1); }

/* Compiles and requires success (printing the diagnostics otherwise). */
static Graph *ok(const char *src)
{
    char *errs;
    Graph *g = compile_src(src, strlen(src), &errs);
    if (!g)
        fail_msg("expected success, got:\n%s", errs);
    assert_string_equal(errs, "");
    free(errs);
    IrError err;
    if (!ir_verify(g, &err))
        fail_msg("the graph does not verify: %s", err.msg);
    return g;
}

/* Compiles and requires failure with each of the given substrings in the diagnostics. */
static void bad(const char *src, ...)
{
    char *errs;
    Graph *g = compile_src(src, strlen(src), &errs);
    if (g)
        fail_msg("expected errors, the model compiled:\n%s", src);
    va_list ap;
    va_start(ap, src);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(errs, want))
            fail_msg("expected '%s' in the diagnostics:\n%s", want, errs);
    va_end(ap);
    free(errs);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* The value of output `name`. */
static const Type *out_type(const Graph *g, const char *name, int32_t *value)
{
    if (value) /* (fail_msg does not return, but gcc -O2 cannot tell) */
        *value = 0;
    for (int i = 0; i < g->noutputs; i++)
        if (strcmp(g->outputs[i].name, name) == 0) {
            if (value)
                *value = g->outputs[i].value;
            return ir_type(g, g->outputs[i].value);
        }
    fail_msg("no output '%s'", name);
    return NULL;
}

static void expect_shape(const Graph *g, const char *name, const char *shape)
{
    char buf[256];
    ir_format_shape(g, &out_type(g, name, NULL)->shape, buf, sizeof buf);
    assert_string_equal(buf, shape);
}

#define MODEL(body) "model m {\n  input x: f32[B, 6, 8] (B <= 4)\n" body "\n}\n"

/* ---- lexing ---- */

static void test_lexing(void **state)
{
    (void)state;
    Graph *g = ok("# a comment\n"
                  "let A = 0..3, F = 1e-6, G = 0.5, H = 2.5e2  # 0..3 is a range, not floats\n"
                  "let S = \"a\\tb\\\"c\\\\\", T = \"{{x}}\"\n"
                  "model m { input x: f32[2] ; output y = x }\n"
                  "def f(a)\n{\n  if a { return 1 }\n\n  # between } and else\n\n  else if false {\n"
                  "    return 2\n  }\n  else { return 3 }\n}\n"
                  "let C = [assert(A == [0, 1, 2], \"range\"), assert(F == 0.000001, \"f\"),\n"
                  "         assert(G * 4 == 2, \"g\"), assert(H == 250, \"h\"), assert(len(S) == 6, \"s\"),\n"
                  "         assert(len(T) == 3, \"t\"), assert(f(true) == 1 and f(false) == 3, \"else\")]\n");
    ir_graph_free(g);
    bad("model m { x = \"abc\n}", "t.vit:1:15: error: unterminated string", NULL);
    bad("model m { x = \"a\\qb\" }", "unknown escape sequence", NULL);
    bad("let X = 99999999999999999999\n", "integer literal is too large", NULL);
    bad("let X = 1e999\n", "out of range", NULL);
    bad("let X = 1 $ 2\n", "unexpected character '$'", NULL);
    static const char nul[] = "let X = 1\0\nmodel m {}\n";
    char *errs;
    assert_null(compile_src(nul, sizeof nul - 1, &errs));
    assert_non_null(strstr(errs, "t.vit:1:10: error: unexpected byte 0x00"));
    free(errs);
}

/* ---- statements ---- */

static void test_statements(void **state)
{
    (void)state;
    Graph *g = ok("let W = 8\n"
                  "model stmts {\n"
                  "  input x: f32[B, 6, W] (B <= 4, T <= 100)\n"
                  "  input t: i32[T]\n"
                  "  preprocess(resize = 256, crop = 224, mean = 0.5, std = [0.2, 0.3, 0.4])\n"
                  "  labels \"imagenet.txt\"\n"
                  "  let A = 2, C = A * 3\n"
                  "  a, b = [1, x]\n"
                  "  y = x; y = y * A\n"
                  "  for i in 0 .. 3 { y = y + i }\n"
                  "  for v in [1.5, 2.5] { y = y * v }\n"
                  "  if C == 6 { z = y } else if C == 7 { z = x } else { error(\"unreachable\") }\n"
                  "  output logits = z\n"
                  "  output tokens = cast(t, i64)\n"
                  "}\n");
    assert_string_equal(g->name, "stmts");
    assert_int_equal(g->nsyms, 2);
    assert_string_equal(g->syms[0].name, "B");
    assert_int_equal(g->syms[0].max, 4);
    assert_int_equal(g->syms[1].max, 100);
    assert_int_equal(g->meta.resize, 256);
    assert_int_equal(g->meta.crop, 224);
    assert_int_equal(g->meta.mean.n, 3);
    assert_true(g->meta.mean.v[2] == 0.5);
    assert_true(g->meta.std.v[1] == 0.3);
    assert_string_equal(g->meta.labels, "imagenet.txt");
    assert_int_equal(g->noutputs, 2);
    expect_shape(g, "logits", "[B,6,8]");
    expect_shape(g, "tokens", "[T]");
    assert_int_equal(out_type(g, "tokens", NULL)->dt, DT_I64);
    ir_graph_free(g);
    bad(MODEL("  let A = 1\n  A = 2\n  output y = x"), "'A' is a constant (let)", NULL);
    bad(MODEL("  a, b = [1, 2, 3]\n  output y = x"), "cannot unpack list of 3 into 2 names", NULL);
    bad(MODEL("  if 1 { }\n  output y = x"), "must be a compile-time bool, got int 1", NULL);
    bad(MODEL("  x + 1\n  output y = x"), "this expression does nothing", NULL);
    bad(MODEL("  return x"), "'return' is only allowed in a def", NULL);
    bad("def f(x) { output y = x }\nmodel m { input x: f32[2]\n y = f(x)\n output z = x }",
        "'output' is only allowed in a model", NULL);
    bad("model m { input x: f32[2]\n output y = x\n output y = x }", "already has an output 'y'", NULL);
    bad("model m { input x: f32[B, 2]\n output y = x }", "symbol 'B' has no declared maximum", NULL);
    bad("model m { input x: f32[2] }", "model 'm' has no output", NULL);
    bad("let X = 1\n", "no model in this file", NULL);
    bad("model a { input x: f32[2]\n output y = x }\nmodel b { input x: f32[2]\n output y = x }",
        "a file holds one model", NULL);
    bad(MODEL("  preprocess(size = 3)\n  output y = x"), "'preprocess' has no attribute 'size'; its attributes are: "
                                                      "resize, crop, mean, std, labels", NULL);
}

/* ---- numbers, strings and lists at compile time ---- */

static void test_constants(void **state)
{
    (void)state;
    Graph *g = ok("let checks = [\n"
                  "  assert(7 / 2 == 3.5 and 8 / 2 == 4, \"/\"),\n"
                  "  assert(-7 // 2 == -4 and -7 % 3 == 2 and 7 % -3 == -2, \"// %\"),\n"
                  "  assert(2 ** 10 == 1024 and 4 ** -0.5 == 0.5, \"**\"),\n"
                  "  assert(sqrt(64) == 8 and abs(-3) == 3 and maximum(2, 5) == 5, \"folding\"),\n"
                  "  assert(cast(2.7, i32) == 2 and exp(0) == 1.0, \"cast\"),\n"
                  "  assert(\"a\" + \"b\" == \"ab\" and [1] + [2] == [1, 2] and [0] * 3 == [0, 0, 0], \"+\"),\n"
                  "  assert(min(3, 1, 2) == 1 and max([4, 9]) == 9 and range(1, 7, 2) == [1, 3, 5], \"min\"),\n"
                  "  assert(int(2.9) == 2 and float(3) == 3.0 and len([1, 2]) == 2, \"int\"),\n"
                  "  assert((1 if false else 2) == 2 and not (1 > 2), \"cond\"),\n"
                  "  assert([1, 2, 3, 4][-1] == 4 and [1, 2, 3, 4][1:3] == [2, 3] and [1, 2, 3][::-1] == [3, 2, 1], \"idx\"),\n"
                  "  assert(none == none and f32 != bf16, \"eq\")]\n"
                  "model m { input x: f32[2]\n output y = x }\n");
    ir_graph_free(g);
    bad("let X = 1 / 0\n", "t.vit:1:11: error: division by zero", NULL);
    bad("let X = 2 ** 64\n", "integer overflow in 2 ** 64", NULL);
    bad("let X = [1, 2][5]\n", "index 5 is out of range for a list of size 2", NULL);
    bad("let X = \"a\" + 1\n", "'+' is not defined for string \"a\" and int 1", NULL);
    bad("let X = 5 .. 2\n", "the range 5 .. 2 is backwards", NULL);
    bad("let X = sqrt(-1)\n", "'sqrt' gives not a number here", NULL);
    bad("let X = assert(1 == 2, \"one is not two\")\n", "assertion failed: one is not two", NULL);
}

/* ---- templates ---- */

static void test_templates(void **state)
{
    (void)state;
    Graph *g = ok(MODEL("  let i = 3, s = \"attn\"\n"
                        "  w = param(\"blocks.{i}.{s}.w{ i }\", [8])\n"
                        "  output y = x * w"));
    const Node *n = NULL;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_PARAM)
            n = &g->nodes[i];
    assert_non_null(n);
    assert_string_equal(n->attr.param.name, "blocks.3.attn.w3");
    ir_graph_free(g);
    bad(MODEL("  w = param(\"blocks.{j}.w\", [8])\n  output y = x"), "t.vit:3:22: error: unknown name 'j'", NULL);
    bad(MODEL("  w = param(\"blocks.{i.w\", [8])\n  output y = x"), "t.vit:3:21: error: unclosed '{' in string", NULL);
    bad(MODEL("  w = param(\"blocks.{}.w\", [8])\n  output y = x"), "expected a name inside '{...}'", NULL);
    bad(MODEL("  w = param(\"b.{x}\", [8])\n  output y = x"), "'x' cannot be put into a string (it is tensor f32[B,6,8])", NULL);
}

/* ---- defs ---- */

static void test_defs(void **state)
{
    (void)state;
    Graph *g = ok("let G = 10\n"
                  "def scale(x, by = 2, offset = by + 1) {\n"
                  "  if by == 0 { return x }\n"
                  "  return x * by + offset + G\n"
                  "}\n"
                  "def both(a, b) { return [a, b] }\n"
                  "def apply(f, v) { return f(v) }\n"
                  "let checks = [assert(scale(1) == 15, \"defaults\"), assert(scale(1, offset = 0) == 12, \"kw\"),\n"
                  "  assert(scale(5, by = 0) == 5, \"early return\"), assert(apply(scale, 1) == 15, \"def value\")]\n"
                  "model m { input x: f32[2]\n p, q = both(x, 1)\n output y = scale(p, by = q) }\n");
    ir_graph_free(g);
    /* a def sees the globals, not its caller's locals */
    bad("def f() { return hidden }\nmodel m { input x: f32[2]\n hidden = 1\n y = f()\n output z = x }",
        "t.vit:1:18: error: unknown name 'hidden'", "note: in call to 'f' from t.vit:4:6", NULL);
    bad("def f(x) { return f(x) }\nmodel m { input x: f32[2]\n output z = f(x) }",
        "'f' calls itself: defs are inlined, so recursion is not allowed", "note: 'f' is defined here", NULL);
    bad("def f(x) { return g(x) }\ndef g(x) { return f(x) }\nmodel m { input x: f32[2]\n output z = f(x) }",
        "'f' calls itself through other defs", NULL);
    bad("def f(x, y) { return x }\nmodel m { input x: f32[2]\n output z = f(x) }",
        "missing argument 'y' in call to 'f'", NULL);
    bad("def f(x) { return x }\nmodel m { input x: f32[2]\n output z = f(x, 2) }", "'f' takes 1 argument, got 2", NULL);
    bad("def f(x, b = 1) { return x }\nmodel m { input x: f32[2]\n output z = f(x, c = 2) }",
        "'f' has no parameter 'c'; its parameters are: x, b", NULL);
    bad("def f(x) { return x }\ndef f(y) { return y }\n", "'f' is already defined", NULL);
    bad("model m { input x: f32[2]\n output z = foo(x) }", "unknown function 'foo'", NULL);
    /* inline depth: a chain of 80 defs */
    char src[16384];
    size_t n = 0;
    for (int i = 0; i < 80; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "def step%d(x) { return step%d(x) }\n", i, i + 1);
    snprintf(src + n, sizeof src - n, "def step80(x) { return x }\nmodel m { input x: f32[2]\n output z = step0(x) }\n");
    bad(src, "calls are nested too deeply (more than 64 defs inside each other)", NULL);
}

/* ---- primitives ---- */

static void test_primitives(void **state)
{
    (void)state;
    Graph *g = ok(MODEL("  a = reshape(x, [-1, 2, 4])\n"
                        "  b = transpose(x, [0, 2, 1])\n"
                        "  c = softmax(x, -1)\n"
                        "  d = concat([x, x], axis = 1)\n"
                        "  e = concat(x, x, 2)\n"
                        "  f = gelu(x, approximate = \"tanh\")\n"
                        "  h = reduce_mean(x, [1, 2], keepdims = true)\n"
                        "  k = select(x > 0, x, 0)\n"
                        "  i = iota([3, 4], 1, i32)\n"
                        "  output a = a\n  output b = b\n  output c = c\n  output d = d\n  output e = e\n"
                        "  output f = f\n  output h = h\n  output k = k\n  output i = i"));
    expect_shape(g, "a", "[6*B,2,4]");
    expect_shape(g, "b", "[B,8,6]");
    expect_shape(g, "d", "[B,12,8]");
    expect_shape(g, "e", "[B,6,16]");
    expect_shape(g, "h", "[B,1,1]");
    expect_shape(g, "k", "[B,6,8]");
    expect_shape(g, "i", "[3,4]");
    int32_t v;
    out_type(g, "f", &v);
    assert_int_equal(ir_def(g, v)->attr.gelu.approximate, GELU_TANH);
    out_type(g, "c", &v);
    assert_int_equal(ir_def(g, v)->attr.axis.axis, -1);
    ir_graph_free(g);
    bad(MODEL("  output y = softmax(x, axes = 1)"), "'softmax' has no attribute 'axes'; its attributes are: axis", NULL);
    bad(MODEL("  output y = gelu(x, approximate = \"fast\")"),
        "attribute 'approximate' must be one of \"erf\", \"tanh\", got string \"fast\"", NULL);
    bad(MODEL("  output y = transpose(x, \"no\")"), "attribute 'perm' must be a list of ints", NULL);
    bad(MODEL("  output y = softmax(x, 1, 2)"), "'softmax' has 1 attribute (axis); this argument is one too many", NULL);
    bad(MODEL("  output y = add(x)"), "'add' takes 2 operands, got 1", NULL);
    bad(MODEL("  output y = x @ x"), "t.vit:3:16: error: 'matmul': contraction dimensions differ", NULL);
    bad(MODEL("  output y = x + transpose(x, [0, 2, 1])"), "'add': shapes [B,6,8] and [B,8,6] do not broadcast", NULL);
    bad(MODEL("  output y = reshape(x, [B, 5])"), "cannot reshape [B,6,8] into [B,5]", NULL);
    bad(MODEL("  output y = concat(x, reshape(x, [-1, 8, 6]), axis = 1)"), "'concat' along axis 1", NULL);
}

/* ---- indexing ---- */

static void test_indexing(void **state)
{
    (void)state;
    Graph *g = ok(MODEL("  output a = x[:, 0]\n"
                        "  output b = x[:, 1:]\n"
                        "  output c = x[..., :3]\n"
                        "  output d = x[:, -1, ::2]\n"
                        "  output e = x[:, none, 2:5, 0]\n"
                        "  output f = x[0:, :, :]"));
    expect_shape(g, "a", "[B,8]");
    expect_shape(g, "b", "[B,5,8]");
    expect_shape(g, "c", "[B,6,3]");
    expect_shape(g, "d", "[B,4]");
    expect_shape(g, "e", "[B,1,3]");
    expect_shape(g, "f", "[B,6,8]");
    int32_t v;
    out_type(g, "a", &v); /* reshape(slice(x, axis 1, 0:1)) */
    const Node *r = ir_def(g, v);
    assert_int_equal(r->op, OP_RESHAPE);
    const Node *s = ir_def(g, r->in[0]);
    assert_int_equal(s->op, OP_SLICE);
    assert_int_equal(s->attr.slice.axis, 1);
    assert_int_equal(s->attr.slice.start, 0);
    assert_int_equal(s->attr.slice.stop, 1);
    out_type(g, "d", &v);
    s = ir_def(g, ir_def(g, v)->in[0]); /* the step-2 slice on axis 2, after axis 1's */
    assert_int_equal(s->op, OP_SLICE);
    assert_int_equal(s->attr.slice.axis, 2);
    assert_int_equal(s->attr.slice.step, 2);
    assert_int_equal(s->attr.slice.stop, 7);
    s = ir_def(g, s->in[0]);
    assert_int_equal(s->attr.slice.start, 5);
    out_type(g, "f", &v);
    assert_int_equal(ir_def(g, v)->op, OP_INPUT); /* full slices build nothing */
    ir_graph_free(g);
    bad(MODEL("  output y = x[:, 6]"), "index 6 is out of range for an axis of size 6", NULL);
    bad(MODEL("  output y = x[0]"), "axis 0 has the symbolic size B: it can only be taken whole", NULL);
    bad(MODEL("  output y = x[:, :, :, 0]"), "too many indices (4) for a tensor of rank 3", NULL);
    bad(MODEL("  output y = x[..., ...]"), "only one '...'", NULL);
    bad(MODEL("  output y = x[:, ::-1]"), "tensor slices need a positive step", NULL);
}

/* ---- parameters ---- */

static void test_params(void **state)
{
    (void)state;
    Graph *g = ok(MODEL("  w = param(\"w\", [8, 4], layout = [1, 0], init = \"zeros\")\n"
                        "  v = param(\"w\", [8, 4], layout = [1, 0], init = \"zeros\")\n"
                        "  u = param(\"u\", [4], std = 0.5, dtype = bf16)\n"
                        "  output y = x @ w + x @ v"));
    int params = 0;
    const Node *w = NULL, *u = NULL;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_PARAM) {
            params++;
            if (strcmp(g->nodes[i].attr.param.name, "w") == 0)
                w = &g->nodes[i];
            else
                u = &g->nodes[i];
        }
    assert_int_equal(params, 2); /* w declared twice is one parameter (tied) */
    assert_int_equal(w->attr.param.layout.n, 2);
    assert_int_equal(w->attr.param.layout.v[0], 1);
    assert_int_equal(w->attr.param.init, INIT_ZEROS);
    assert_true(u->attr.param.std == 0.5);
    assert_int_equal(ir_type(g, u->out)->dt, DT_BF16);
    ir_graph_free(g);
    bad(MODEL("  w = param(\"w\", [8, 4])\n  v = param(\"w\", [8, 5])\n  output y = x"),
        "parameter 'w' is declared again differently: f32[8,5] init normal std 0.02 here, f32[8,4]",
        "note: first declared here", NULL);
    bad(MODEL("  w = param(\"w\", [8, 4], layout = [0, 0])\n  output y = x"), "layout is not a permutation", NULL);
    bad(MODEL("  w = param(\"w\", [B])\n  output y = x"), "parameter 'w' has a symbolic dimension", NULL);
    bad(MODEL("  w = param(\"w\", [2], init = \"uniform\")\n  output y = x"),
        "attribute 'init' must be one of \"normal\", \"zeros\", \"ones\"", NULL);
}

/* ---- locations ---- */

static void test_locations(void **state)
{
    (void)state;
    Graph *g = ok("def twice(x) {\n  y = x * 2\n  return y + 1\n}\n"
                  "model m {\n  input x: f32[4]\n  a = twice(x)\n  b = a - x\n  output y = b\n}\n");
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        assert_string_equal(n->loc.file, "t.vit");
        if (n->op == OP_MUL || n->op == OP_ADD) { /* inside the def: the call site */
            assert_int_equal(n->loc.line, 7);
            assert_int_equal(n->loc.col, 7);
        } else if (n->op == OP_SUB) { /* in the model: the operator */
            assert_int_equal(n->loc.line, 8);
            assert_int_equal(n->loc.col, 9);
        } else if (n->op == OP_INPUT) {
            assert_int_equal(n->loc.line, 6);
        }
    }
    ir_graph_free(g);
    /* an error inside a def points into it, then the call stack */
    char *errs;
    const char *src = "def inner(x) { return x @ x }\ndef outer(x) { return inner(x) }\n"
                      "model m {\n  input x: f32[4, 5]\n  output y = outer(x)\n}\n";
    assert_null(compile_src(src, strlen(src), &errs));
    assert_non_null(strstr(errs, "t.vit:1:25: error: 'matmul': contraction dimensions differ"));
    const char *n1 = strstr(errs, "note: in call to 'inner' from t.vit:2:23");
    const char *n2 = strstr(errs, "note: in call to 'outer' from t.vit:5:14");
    assert_true(n1 && n2 && n1 < n2);
    free(errs);
}

/* ---- diagnostics: recovery, several errors, one message per mistake ---- */

static void test_diagnostics(void **state)
{
    (void)state;
    char *errs;
    const char *src = "model m {\n  input x: f32[4]\n  y = x +\n  z = (x * 2\n  w = 1\n  q = ) 2\n"
                      "  output o = x\n}\n";
    assert_null(compile_src(src, strlen(src), &errs));
    assert_int_equal(count(errs, ": error: "), 3);
    assert_non_null(strstr(errs, "t.vit:3:10: error: syntax error: unexpected end of line"));
    assert_non_null(strstr(errs, "note: the '(' that is not closed"));
    free(errs);
    /* an error in a loop body or in a def called many times is reported once */
    src = "def f(x) { return x @ x }\nmodel m {\n  input x: f32[4, 5]\n"
          "  for i in 0 .. 10 { y = f(x)\n z = nope }\n  output o = x\n}\n";
    assert_null(compile_src(src, strlen(src), &errs));
    assert_int_equal(count(errs, ": error: "), 2);
    free(errs);
    /* a missing brace */
    bad("model m {\n  input x: f32[4]\n  output o = x\n", "unexpected end of file, expected '}'",
        "note: the '{' that is not closed", NULL);
    /* too many errors: stops at 20 */
    char big[8192];
    size_t n = 0;
    n += (size_t)snprintf(big, sizeof big, "model m {\n");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "  y%d = nothing%d\n", i, i);
    snprintf(big + n, sizeof big - n, "}\n");
    assert_null(compile_src(big, strlen(big), &errs));
    assert_int_equal(count(errs, ": error: "), 20);
    assert_non_null(strstr(errs, "too many errors"));
    free(errs);
}

/* ---- limits: hostile inputs end in errors, quickly ---- */

static void test_limits(void **state)
{
    (void)state;
    bad("model m { input x: f32[2]\n for i in 0 .. 100000000 { y = i }\n output o = x }", "too long", NULL);
    bad("let L = [0] * 100000000\n", "too long", NULL);
    bad("model m { input x: f32[2]\n l = [0]\n for i in 0 .. 40 { l = l + l }\n output o = x }", "too long", NULL);
    bad("model m { input x: f32[2]\n for i in 0 .. 3000 { for j in 0 .. 3000 { y = j } }\n output o = x }",
        "elaboration takes too long", NULL);
    /* deep nesting: parentheses, unary minus, lists, blocks */
    size_t n = 200000;
    char *src = malloc(n + 64);
    assert_non_null(src);
    char *p = src + sprintf(src, "let X = ");
    for (size_t i = 0; i < n / 2; i++)
        *p++ = '(';
    strcpy(p, "1\n");
    bad(src, "nested too deeply", NULL);
    p = src + sprintf(src, "let X = ");
    for (size_t i = 0; i < n / 2; i++)
        *p++ = '-';
    strcpy(p, "1\n");
    bad(src, "nested too deeply", NULL);
    p = src + sprintf(src, "let X = ");
    for (size_t i = 0; i < 1000; i++)
        *p++ = '[';
    *p++ = '1';
    for (size_t i = 0; i < 1000; i++)
        *p++ = ']';
    strcpy(p, "\n");
    bad(src, "nested too deeply", NULL);
    p = src + sprintf(src, "model m { input x: f32[2]\n");
    for (size_t i = 0; i < 1000; i++)
        p += sprintf(p, "if true {");
    strcpy(p, "\n");
    bad(src, "nested", NULL);
    /* binary garbage */
    for (size_t i = 0; i < n; i++)
        src[i] = (char)(i * 7919 % 251);
    char *errs;
    assert_null(compile_src(src, n, &errs));
    assert_true(count(errs, ": error: ") <= 20);
    free(errs);
    free(src);
}

/* ---- imports ---- */

static void test_imports(void **state)
{
    (void)state;
    /* the prelude from the include directory, imported twice: once */
    Graph *g = ok("import \"prelude.vit\"\nimport \"prelude.vit\"\n"
                  "model m { input x: f32[B, 3, 8] (B <= 2)\n output y = layernorm(x, \"ln\") }\n");
    ir_graph_free(g);
    bad("import \"no_such_file.vit\"\n", "t.vit:1:8: error: cannot find 'no_such_file.vit' next to this file or in the "
        "include directories", NULL);
    bad("import \"prelude.vit\"\nmodel m { input x: f32[B, 3, 8] (B <= 2)\n output y = layernorm(x) }\n",
        "missing argument 'name' in call to 'layernorm'", "prelude.vit", NULL);
}

/* ---- the models ---- */

static Graph *compile_model(const char *name)
{
    char path[4096], models[4096];
    snprintf(models, sizeof models, "%s/models", source_dir());
    snprintf(path, sizeof path, "%s/%s.vit", models, name);
    const char *dirs[] = {models};
    FrontendOptions o = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = fe_compile_file(path, &o, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", path);
    IrError err;
    if (!ir_verify(g, &err))
        fail_msg("%s does not verify: %s", path, err.msg);
    return g;
}

static int64_t param_count(const Graph *g)
{
    int64_t total = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_PARAM)
            total += shape_numel(&ir_type(g, g->nodes[i].out)->shape, NULL);
    return total;
}

static void test_models(void **state)
{
    (void)state;
    static const struct {
        const char *name, *output, *shape;
        int64_t params;
    } models[] = {
        {"vit_ti16", "logits", "[B,1000]", 5717416},
        {"vit_s16", "logits", "[B,1000]", 22050664},
        {"vit_b16", "logits", "[B,1000]", 86567656},
        {"vit_l16", "logits", "[B,1000]", 304326632},
        {"vit_h14", "logits", "[B,1000]", 632045800},
        {"vit_e", "tokens", "[B,256,1792]", 3805417728},
        {"vit_test_cls", "logits", "[B,10]", 114250},
        {"vit_test_gap", "logits", "[B,10]", 114122},
        {"vit_test_map", "logits", "[B,10]", 164042},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        Graph *g = compile_model(models[i].name);
        assert_string_equal(g->name, models[i].name);
        expect_shape(g, models[i].output, models[i].shape);
        assert_int_equal(param_count(g), models[i].params);
        assert_int_equal(g->meta.mean.n, 3);
        assert_true(g->meta.std.v[0] == 0.5);
        ir_graph_free(g);
    }
}

/* every model file of models/ (those with a model) compiles and verifies */
static void test_models_dir(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models", source_dir());
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int n = 0;
    for (struct dirent *de; (de = readdir(dp));) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".vit") != 0 || strncmp(de->d_name, "prelude", 7) == 0)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 4), de->d_name);
        ir_graph_free(compile_model(name));
        n++;
    }
    closedir(dp);
    assert_true(n >= 9);
}

/* the prelude's options: attention mask (select with the most negative float), QK-norm */
static void test_prelude_options(void **state)
{
    (void)state;
    Graph *g = ok("import \"prelude.vit\"\n"
                  "model m {\n  input x: f32[B, 16, 64] (B <= 4)\n  input mask: bool[B, 1, 16, 16]\n"
                  "  y = attention(x, 4, \"attn\", mask = mask, qk_norm = true, qkv_bias = false)\n"
                  "  output y = x + mlp(layernorm(y, \"ln\", center = false, bias = false), 32, \"mlp\", approximate = \"tanh\")\n"
                  "  output p = pre_logits(x[:, 0], 8)\n"
                  "  output z = dense(x, 8, \"d\")\n}\n");
    bool select = false, qnorm = false, qkv_bias = false, kernel = false;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_SELECT) {
            const Node *c = ir_def(g, n->in[2]);
            select = c->op == OP_CONST && c->attr.constant.data.v[0] == -3.4028234663852886e38;
        }
        if (n->op == OP_PARAM && strcmp(n->attr.param.name, "attn.q_norm.weight") == 0)
            qnorm = ir_type(g, n->out)->shape.d[0].n == 16;
        if (n->op == OP_PARAM && strcmp(n->attr.param.name, "attn.qkv.bias") == 0)
            qkv_bias = true;
        if (n->op == OP_PARAM && strcmp(n->attr.param.name, "d/kernel") == 0)
            kernel = n->attr.param.layout.n == 0;
        if (n->op == OP_NORMALIZE && ir_type(g, n->out)->shape.rank == 3)
            assert_false(n->attr.norm.center);
    }
    assert_true(select && qnorm && !qkv_bias && kernel);
    expect_shape(g, "p", "[B,8]");
    ir_graph_free(g);
}

/* out of memory at every allocation of a compilation: an error, never a crash or a leak */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *src = "import \"prelude.vit\"\n"
                      "model m {\n  input x: f32[B, 8, 8, 3] (B <= 4)\n  preprocess(mean = 0.5, std = 0.5)\n"
                      "  y = patch_embed(x, 4, 16, \"pe\")\n  y = block(pos_embed(class_token(y)), 2, 32, \"b\")\n"
                      "  output o = linear(y[:, 0], 3, \"head\")\n  output p = posemb_sincos2d(2, 2, 8)\n}\n";
    int failed = 0;
    for (long n = 0;; n++) {
        char *errs;
        Graph *g = compile_oom(src, strlen(src), &errs, n);
        if (g) { /* n is past the last allocation */
            assert_string_equal(errs, "");
            free(errs);
            ir_graph_free(g);
            break;
        }
        assert_non_null(strstr(errs, "error: "));
        free(errs);
        failed++;
    }
    assert_true(failed > 100);
}

/* ---- sincos2d against MODELS.md §1.2 (D = 8, ω = [1, 1e-4]) ---- */

static void test_sincos2d(void **state)
{
    (void)state;
    Graph *g = ok("import \"prelude.vit\"\nmodel m { output pe = posemb_sincos2d(2, 2, 8) }\n");
    expect_shape(g, "pe", "[1,4,8]");
    Tensor *out = NULL;
    IrError err;
    if (!ir_interp(g, NULL, NULL, 0, &out, &err))
        fail_msg("interpreter: %s", err.msg);
    static const double pe01[8] = {0.841471, 1e-4, 0.540302, 1, 0, 0, 1, 1};
    static const double pe10[8] = {0, 0, 1, 1, 0.841471, 1e-4, 0.540302, 1};
    for (int i = 0; i < 8; i++) {
        assert_true(fabs(tensor_get(out, 1 * 8 + i) - pe01[i]) < 1e-6); /* token y·w + x = 1 */
        assert_true(fabs(tensor_get(out, 2 * 8 + i) - pe10[i]) < 1e-6); /* token 2 */
        assert_true(fabs(tensor_get(out, i) - (i % 4 < 2 ? 0 : 1)) < 1e-7); /* pe(0, 0) */
    }
    tensor_free(out);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexing),     cmocka_unit_test(test_statements), cmocka_unit_test(test_constants),
        cmocka_unit_test(test_templates),  cmocka_unit_test(test_defs),       cmocka_unit_test(test_primitives),
        cmocka_unit_test(test_indexing),   cmocka_unit_test(test_params),     cmocka_unit_test(test_locations),
        cmocka_unit_test(test_diagnostics), cmocka_unit_test(test_limits),    cmocka_unit_test(test_imports),
        cmocka_unit_test(test_models),     cmocka_unit_test(test_models_dir), cmocka_unit_test(test_prelude_options),
        cmocka_unit_test(test_sincos2d),   cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
