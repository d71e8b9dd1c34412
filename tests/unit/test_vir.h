/* test_vir.h — a graph from .vir text written in a test, for the tests that build their
 * graphs by hand: a text that does not parse fails the test, with the parser's diagnostics
 * (file "test.vir", the line shown) on stderr. */
#ifndef VITC_TEST_VIR_H
#define VITC_TEST_VIR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"
#include "ir.h"

static inline Graph *test_parse_vir(const char *text)
{
    Diag *d = diag_new(stderr);
    assert_non_null(d);
    diag_add_source(d, "test.vir", text, strlen(text));
    Graph *g = ir_parse(text, strlen(text), "test.vir", d);
    diag_free(d);
    if (!g)
        fail_msg("the test's graph does not parse (diagnostics above):\n%s", text);
    return g;
}

#endif
