/* STUB: replaced by the frontend work. */
#include "frontend.h"
Graph *fe_compile_file(const char *path, const FrontendOptions *o, Diag *d)
{ (void)o; diag_error(d, (Loc){path, 0, 0}, "the .vit frontend is not built yet"); return NULL; }
Graph *fe_compile_string(const char *name, const char *text, size_t len, const FrontendOptions *o, Diag *d)
{ (void)text; (void)len; (void)o; diag_error(d, (Loc){name, 0, 0}, "the .vit frontend is not built yet"); return NULL; }
