/* test_opencl_moe.c — the MoE kernels (KK_MOE_ROUTE, KK_MOE_COMBINE and the gathers and
 * batched GEMMs of the lowered moe op) on PoCL against the interpreter (the lowered graph
 * and the moe op's own reference) and plan_exec (test_opencl.h), as test_moe_llvm.c checks
 * the LLVM backend:
 *
 *   route goldens (token choice k = 1, 2 with capacity binding, ties and NaN gates, batch
 *   priority, expert choice, E³ members) through KK_MOE_ROUTE alone, exactly;
 *   moe layers of many configurations (capacity binding or not, BPR, k = 1..3, expert
 *   choice, normalised combine, erf GELU, a residual epilogue), with the CPU schedule
 *   (weights packed by the plan in the device's panels, one set per expert as vitc compile
 *   plans, or only the shared ones) and the GPU one;
 *   members over a symbolic batch bound to 3 (the plan's panels, one set per member).
 * The cases: backend_cases.c.
 */
#include "test_opencl.h"

/* the configurations of bc_moe_configs but the second, in turn with the CPU schedule and the
 * plan's panels, one set per expert (as vitc compile plans); with the plan's panels for
 * shared weights only (the experts' repacked before every use); with the GPU schedule */
static void test_layers(void **state)
{
    (void)state;
    static const OcCheck experts = {.pack_nr = OCL_PANEL_COLUMNS, .pack_batched = true},
                         shared = {.pack_nr = OCL_PANEL_COLUMNS}, gpu = {.gen = {.gpu = true}};
    const Backend cpu_b = oc_backend(&experts), shared_b = oc_backend(&shared), gpu_b = oc_backend(&gpu);
    const char *configs[8];
    const Backend *bs[8];
    for (int i = 0, j = 0; j < 9; j++)
        if (j != 1) {
            configs[i] = bc_moe_configs[j];
            bs[i] = i % 3 == 2 ? &gpu_b : i % 3 == 1 ? &shared_b : &cpu_b;
            i++;
        }
    bc_moe_layers(bs, configs, 8);
}

int main(void)
{
    static const OcCheck panels = {.pack_nr = OCL_PANEL_COLUMNS, .pack_batched = true};
    const Backend opencl = oc_backend(NULL), packed = oc_backend(&panels);
    const struct CMUnitTest tests[] = {
        bc_unit_test(route_goldens, &opencl),
        cmocka_unit_test(test_layers),
        bc_unit_test(members_symbolic, &packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
