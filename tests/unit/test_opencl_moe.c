/* test_opencl_moe.c — the MoE kernels (KK_MOE_ROUTE, KK_MOE_COMBINE and the gathers and
 * batched GEMMs of the lowered moe op) on PoCL against the interpreter (the lowered graph
 * and the moe op's own reference) and plan_exec (test_opencl.h), as test_moe_llvm.c checks
 * the LLVM backend:
 *
 *   route goldens (token choice k = 1, 2 with capacity binding, ties and NaN gates, batch
 *   priority, expert choice, E³ members) through KK_MOE_ROUTE alone, exactly;
 *   moe layers of many configurations (capacity binding or not, BPR, k = 1..3, expert
 *   choice, normalised combine, erf GELU, a residual epilogue), each with the CPU schedule
 *   (weights packed by the plan in the device's panels) and the GPU one;
 *   members over a symbolic batch bound to 3.
 */
#include "test_interp.h"
#include "test_opencl.h"
#include "test_moe.h"

/* oc_check with the moe op's reference interpreter as a further oracle */
static void check_moe(Graph *g, MtWeights *w, const char *input, Tensor *x, double tol, OcCheck *c)
{
    WeightSource ws = mt_source(w);
    Tensor *ref, *got[1];
    mt_interp(g, &ws, input, x, &ref); /* before oc_check lowers the moe op */
    NamedTensor in = {input, x};
    oc_check(g, &ws, &in, 1, tol, c, got);
    double d = tl_diff(got[0], ref);
    if (!(d <= tol))
        fail_msg("OpenCL differs from the moe op's reference by %g", d);
    tensor_free(got[0]);
    tensor_free(ref);
}

static void route_check(const float *gates, int64_t S, int64_t E, const char *attrs)
{
    Graph *g = mt_parse("graph @r {\n  %%g = input {name = \"g\"} : f32[1,%lld,%lld]\n"
                        "  %%r = moe_route(%%g) {%s}\n  output r = %%r\n}\n",
                        (long long)S, (long long)E, attrs);
    Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){1, S, E});
    assert_non_null(x);
    memcpy(x->f, gates, (size_t)(S * E) * sizeof *gates);
    NamedTensor in = {"g", x};
    oc_check(g, NULL, &in, 1, 0, NULL, NULL);
    tensor_free(x);
    ir_graph_free(g);
}

static void test_route_goldens(void **state)
{
    (void)state;
    const float a[] = {.6f, .4f, .9f, .1f, .3f, .7f, .2f, .8f}, b[] = {.6f, .4f, .3f, .7f};
    const float t[] = {.5f, .5f, 0, NAN, .2f, .2f}, m[] = {.7f, .3f, .6f, .4f, .8f, .2f, .1f, .9f};
    route_check(a, 4, 2, "k = 1, capacity = 1");
    route_check(a, 4, 2, "k = 1, capacity = 1, batch_priority = true");
    route_check(b, 2, 2, "k = 2, capacity = 1");
    route_check(b, 2, 2, "k = 2, capacity = 2, batch_priority = true");
    route_check(t, 2, 3, "k = 2, capacity = 4");
    route_check(a, 4, 2, "capacity = 1, routing = expert_choice");
    route_check(b, 2, 2, "capacity = 4, routing = expert_choice");
    route_check(m, 4, 2, "k = 1, capacity = 1, members = 2");
}

static const char *const configs[] = {
    "k = 2, capacity_factor = 1.05, group_size = 16",
    "k = 2, capacity_factor = 0.5, group_size = 16, batch_priority = true",
    "k = 1, capacity = 3, group_size = 8, batch_priority = true",
    "k = 3, capacity = 5, group_size = 32, capacity_multiple = 0",
    "k = 2, capacity_factor = 0.75, group_size = 8, normalize_combine = true",
    "capacity_factor = 1.0, group_size = 16, routing = expert_choice",
    "capacity_factor = 0.5, group_size = 8, routing = expert_choice, normalize_combine = true",
    "k = 2, capacity = 40, approximate = erf",
};

static void test_layers(void **state)
{
    (void)state;
    enum { T = 32, D = 8, E = 4, H = 12 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 51);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    assert_non_null(x);
    mt_fill(x, -1.5, 1.5, 61);
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        /* the CPU schedule with the plan's panels (as vitc compile plans), and the GPU one */
        OcCheck c = {.pack_nr = OCL_PANEL_COLUMNS};
        if (i % 3 == 2)
            c = (OcCheck){.gen = {.gpu = true}};
        Graph *g = mt_moe_graph(T, D, E, H, configs[i], i % 2 == 1);
        check_moe(g, &w, "x", x, 1e-5, &c);
        ir_graph_free(g);
    }
    tensor_free(x);
    mt_free(&w);
}

static void test_members_symbolic(void **state)
{
    (void)state;
    MtWeights w = {0};
    mt_fill(mt_add(&w, "router", 3, (int64_t[]){6, 2, 2}), -2, 2, 71);
    mt_fill(mt_add(&w, "w1", 3, (int64_t[]){4, 6, 8}), -.5, .5, 72);
    mt_fill(mt_add(&w, "b1", 2, (int64_t[]){4, 8}), -.2, .2, 73);
    mt_fill(mt_add(&w, "w2", 3, (int64_t[]){4, 8, 6}), -.5, .5, 74);
    mt_fill(mt_add(&w, "b2", 2, (int64_t[]){4, 6}), -.2, .2, 75);
    Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){3, 12, 6});
    assert_non_null(x);
    mt_fill(x, -1, 1, 76);
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
        OcCheck c = {.pack_nr = OCL_PANEL_COLUMNS};
        check_moe(g, &w, "x", x, 1e-5, &c);
        ir_graph_free(g);
    }
    tensor_free(x);
    mt_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_goldens),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_members_symbolic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
