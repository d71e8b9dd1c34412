/* diag.h — diagnostics with locations, source lines and carets.
 *
 *   model.vit:14:9: error: 'matmul': contraction dimensions differ ...
 *      14 |   x = x @ w
 *         |         ^
 *
 * Errors accumulate; after `max_errors` (20) the sink says so and stops printing, and
 * diag_too_many() tells the caller to stop. Sources are registered by file name so the
 * line can be shown; a location in an unregistered file prints without it.
 */
#ifndef VITC_DIAG_H
#define VITC_DIAG_H

#include <stdio.h>

#include "ir.h"

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagKind;

Diag *diag_new(FILE *out); /* out: where messages go (stderr if NULL) */
void diag_free(Diag *d);
/* Keeps a copy of the text of `file` for showing source lines. */
void diag_add_source(Diag *d, const char *file, const char *text, size_t len);
/* Reports at loc (loc.file == NULL: no location). */
void diag_report(Diag *d, DiagKind kind, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_vreport(Diag *d, DiagKind kind, Loc loc, const char *fmt, va_list ap);
int diag_error_count(const Diag *d);
bool diag_too_many(const Diag *d);

void diag_error(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
