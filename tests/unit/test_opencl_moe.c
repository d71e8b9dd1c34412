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
 *   members over a symbolic batch bound to 3 (the plan's panels).
 * The cases: backend_cases.c.
 */
#include "test_opencl.h"

/* the configurations of bc_moe_configs but the second, each with the CPU schedule and the
 * plan's panels (as vitc compile plans) or, every third, the GPU one */
static void test_layers(void **state)
{
    (void)state;
    static const OcCheck packed = {.pack_nr = OCL_PANEL_COLUMNS}, gpu = {.gen = {.gpu = true}};
    const Backend cpu_b = oc_backend(&packed), gpu_b = oc_backend(&gpu);
    const char *configs[8];
    const Backend *bs[8];
    for (int i = 0, j = 0; j < 9; j++)
        if (j != 1) {
            configs[i] = bc_moe_configs[j];
            bs[i] = i % 3 == 2 ? &gpu_b : &cpu_b;
            i++;
        }
    bc_moe_layers(bs, configs, 8);
}

int main(void)
{
    static const OcCheck panels = {.pack_nr = OCL_PANEL_COLUMNS};
    const Backend opencl = oc_backend(NULL), packed = oc_backend(&panels);
    const struct CMUnitTest tests[] = {
        bc_unit_test(route_goldens, &opencl),
        cmocka_unit_test(test_layers),
        bc_unit_test(members_symbolic, &packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
