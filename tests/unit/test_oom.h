/* test_oom.h — running a pass while the k-th allocation fails (ir_alloc_fail_after), for the
 * out-of-memory tests of the passes (test_passes.c, test_attention_pass.c, test_navit.c): a
 * pass may give up, never leave an invalid graph. */
#ifndef VITC_TEST_OOM_H
#define VITC_TEST_OOM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../ir/ir.h"
#include "../../passes/passes.h"

/* Runs pass on g with allocation k failing; fails the test (naming `what`) when g is then
 * invalid. true: the pass made fewer than k allocations (one more still succeeds), so larger
 * k test nothing new. */
static inline bool oom_run_pass(Graph *g, PassFn pass, long k, const char *what)
{
    PassOptions o = {0};
    ir_alloc_fail_after(k);
    pass(g, &o);
    void *probe = ir_malloc(1);
    ir_alloc_fail_after(-1);
    bool completed = probe != NULL;
    ir_free(probe);
    IrError err;
    if (!ir_verify(g, &err))
        fail_msg("%s with allocation %ld failing: invalid graph: %s", what, k, err.msg);
    return completed;
}

#endif
