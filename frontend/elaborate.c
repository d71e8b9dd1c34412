/* elaborate.c — the frontend's entry points: files and imports, the top level of each
 * file, and the model.
 *
 * 1. Parse the root file, then every file it imports (transitively), each once. Imports
 *    resolve against the importing file's folder, then the include directories. Syntax
 *    errors in any file stop here.
 * 2. Run the top level of the root file: an `import` runs the imported file's top level
 *    at that point (once); `def` binds a global; `let` evaluates constants in order.
 * 3. Run the model's body, which builds the graph, and verify the graph.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elab.h"

enum { MAX_FILE_BYTES = 64 << 20 };

typedef struct {
    const char *path; /* as shown in messages */
    char *key;        /* canonical path, for "each file once"; NULL for text in memory */
    Stmt *items;
    bool root, done;
} SrcFile;

typedef struct {
    Elab *e;
    SrcFile *files;
    int nfiles;
    bool syntax_errors;
    const Stmt *model;
} Unit;

/* ---- files ---- */

static char *read_file(const char *path, size_t *len, const char **why)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *why = strerror(errno);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return NULL;
    }
    if (st.st_size > MAX_FILE_BYTES) {
        *why = "larger than 64 MiB";
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return NULL;
    }
    char *buf = ir_malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    if (buf && ferror(f)) {
        ir_free(buf);
        buf = NULL;
        *why = "read error";
    } else if (!buf) {
        *why = "out of memory";
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = n;
    }
    return buf;
}

static char *canonical(Elab *e, const char *path)
{
    char buf[PATH_MAX];
    return realpath(path, buf) ? arena_strdup(e->arena, buf) : NULL;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parses text as a new file of the unit; its index, or -1. */
static int add_file(Unit *u, const char *path, char *key, const char *text, size_t len, bool root, Loc at)
{
    Elab *e = u->e;
    if (u->nfiles >= MAX_FILES) {
        elab_error(e, at, "too many files (more than %d)", MAX_FILES);
        return -1;
    }
    const char *shown = arena_strdup(e->arena, path);
    if (!shown) {
        elab_oom(e);
        return -1;
    }
    diag_add_source(e->d, shown, text, len);
    Parser *p = ir_calloc(1, sizeof *p); /* large (jmp_buf): not on the stack */
    if (!p) {
        elab_oom(e);
        return -1;
    }
    p->arena = e->arena;
    p->d = e->d;
    p->file = shown;
    if (!ast_parse(p, text, len))
        u->syntax_errors = true;
    /* out of memory: the tree may hold the parser's scratch node, freed below */
    u->files[u->nfiles] = (SrcFile){shown, key, p->oom ? NULL : p->items, root, false};
    ir_free(p);
    return u->nfiles++;
}

/* The text of an import path: a plain string (no {...}). */
static const char *plain_string(Elab *e, const Template *t, Loc loc, const char *what)
{
    if (t->bad)
        return NULL;
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].kind == TP_NAME) {
            elab_error(e, t->parts[i].loc, "%s cannot contain '{...}'", what);
            return NULL;
        }
    if (t->nparts == 0) {
        elab_error(e, loc, "%s is empty", what);
        return NULL;
    }
    return t->parts[0].s;
}

static char *join(Elab *e, const char *dir, size_t dirlen, const char *rel)
{
    size_t n = strlen(rel);
    char *s = elab_alloc(e, dirlen + n + 2);
    if (!s)
        return NULL;
    memcpy(s, dir, dirlen);
    if (dirlen && dir[dirlen - 1] != '/')
        s[dirlen++] = '/';
    memcpy(s + dirlen, rel, n + 1);
    return s;
}

/* Finds the file an import names: next to the importing file, then in the include
 * directories. */
static char *resolve(Elab *e, const char *importer, const char *rel)
{
    if (rel[0] == '/')
        return is_file(rel) ? join(e, "", 0, rel) : NULL;
    const char *slash = strrchr(importer, '/');
    char *p = join(e, importer, slash ? (size_t)(slash - importer + 1) : 0, rel);
    if (p && is_file(p))
        return p;
    for (int i = 0; e->opts && i < e->opts->ninclude; i++) {
        const char *dir = e->opts->include_dirs[i];
        p = join(e, dir, strlen(dir), rel);
        if (p && is_file(p))
            return p;
    }
    return NULL;
}

/* Parses the files the imports of file i name (each once) and records which they are. */
static void load_imports(Unit *u, int i)
{
    Elab *e = u->e;
    for (Stmt *s = u->files[i].items; s && !e->stop; s = s->next) {
        if (s->kind != S_IMPORT)
            continue;
        s->u.import.file = -1;
        const char *rel = plain_string(e, s->u.import.path, s->u.import.pathloc, "an import path");
        if (!rel)
            continue;
        char *path = resolve(e, u->files[i].path, rel);
        if (!path) {
            elab_error(e, s->u.import.pathloc, "cannot find '%s' next to this file or in the include directories",
                       rel);
            continue;
        }
        char *key = canonical(e, path);
        int found = -1;
        for (int j = 0; j < u->nfiles && found < 0; j++)
            if (u->files[j].key && key && strcmp(u->files[j].key, key) == 0)
                found = j;
        if (found < 0) {
            size_t len;
            const char *why = "";
            char *text = read_file(path, &len, &why);
            if (!text) {
                elab_error(e, s->u.import.pathloc, "cannot read '%s': %s", path, why);
                continue;
            }
            found = add_file(u, path, key, text, len, false, s->u.import.pathloc);
            ir_free(text);
        }
        s->u.import.file = found;
    }
}

/* ---- the top level ---- */

static void declare_def(Elab *e, Stmt *s)
{
    bool defaults = false, ok = true;
    for (const Arg *p = s->u.def.params; p; p = p->next) {
        for (const Arg *q = s->u.def.params; q != p; q = q->next)
            if (strcmp(q->name, p->name) == 0) {
                elab_error(e, p->loc, "parameter '%s' appears twice", p->name);
                ok = false;
            }
        if (!p->value && defaults) {
            elab_error(e, p->loc, "parameter '%s' needs a default, as the parameters before it have one", p->name);
            ok = false;
        }
        defaults |= p->value != NULL;
    }
    Entry *old = scope_find(&e->globals, s->u.def.name);
    if (old) {
        char note[300];
        snprintf(note, sizeof note, "'%s' is first defined here", s->u.def.name);
        elab_error_note(e, s->loc, old->loc, note, "'%s' is already defined", s->u.def.name);
        return;
    }
    Val f = ok ? (Val){.k = V_FUNC, .u.fn = {F_DEF, 0, s}} : v_poison();
    bind_name(e, s->u.def.name, f, s->loc, true);
}

static void run_file(Unit *u, int i)
{
    Elab *e = u->e;
    SrcFile *f = &u->files[i];
    f->done = true;
    for (Stmt *s = f->items; s && !e->stop; s = s->next) {
        Val ignored;
        switch (s->kind) {
        case S_IMPORT:
            if (s->u.import.file >= 0 && !u->files[s->u.import.file].done)
                run_file(u, s->u.import.file);
            break;
        case S_DEF: declare_def(e, s); break;
        case S_LET: exec_stmt(e, s, &ignored); break;
        case S_MODEL:
            if (!f->root) {
                elab_error(e, s->loc, "a model can only be in the file being compiled, not in an imported one");
            } else if (u->model) {
                char note[300];
                snprintf(note, sizeof note, "model '%s' is defined here", u->model->u.model.name);
                elab_error_note(e, s->loc, u->model->loc, note, "a file holds one model; this is a second one");
            } else {
                u->model = s;
            }
            break;
        default:
            elab_error(e, s->loc, "only 'import', 'def', 'let' and 'model' may appear at the top level of a file");
        }
    }
}

/* The universe: builtins, primitives (ops but input and param), dtypes. */
static bool make_universe(Elab *e)
{
    for (int i = 0; i < nbuiltins; i++) {
        Entry *en = scope_put(&e->universe, builtins[i].name, NULL);
        if (!en)
            return false;
        en->v = (Val){.k = V_FUNC, .u.fn = {F_BUILTIN, i, NULL}};
    }
    for (int op = 0; op < OP_COUNT; op++) {
        bool added;
        if (op == OP_INPUT || op == OP_PARAM)
            continue;
        Entry *en = scope_put(&e->universe, ir_ops[op].name, &added);
        if (!en)
            return false;
        if (added)
            en->v = (Val){.k = V_FUNC, .u.fn = {F_PRIM, op, NULL}};
    }
    for (int dt = 0; dt < DT_COUNT; dt++) {
        Entry *en = scope_put(&e->universe, dtype_name((DType)dt), NULL);
        if (!en)
            return false;
        en->v = v_dtype((DType)dt);
    }
    return true;
}

static void run_model(Unit *u)
{
    Elab *e = u->e;
    int errors = diag_error_count(e->d);
    const Stmt *m = u->model;
    const char *name = ir_intern(e->g, m->u.model.name);
    if (!name) {
        elab_oom(e);
        return;
    }
    e->g->name = name;
    Scope frame = {0};
    Val ignored;
    e->locals = &frame;
    e->ctx = CTX_MODEL;
    exec_block(e, m->u.model.body, &ignored);
    if (!e->stop && e->g->noutputs == 0 && diag_error_count(e->d) == errors)
        elab_error(e, m->loc, "model '%s' has no output: add 'output NAME = ...'", name);
    e->locals = NULL;
    e->ctx = CTX_TOP;
    scope_free(&frame);
}

static Graph *compile(const char *path, char *key, const char *text, size_t len, const FrontendOptions *o,
                      Diag *d)
{
    int errors = diag_error_count(d);
    Elab e = {.d = d, .opts = o};
    Unit u = {.e = &e};
    e.arena = arena_new();
    e.g = ir_graph_new("main");
    u.files = e.arena ? arena_alloc(e.arena, MAX_FILES * sizeof *u.files) : NULL;
    if (!e.arena || !e.g || !u.files || !make_universe(&e)) {
        elab_oom(&e);
        goto out;
    }
    if (key && !(key = arena_strdup(e.arena, key))) {
        elab_oom(&e);
        goto out;
    }
    add_file(&u, path, key, text, len, true, (Loc){0});
    for (int i = 0; i < u.nfiles && !e.stop; i++)
        load_imports(&u, i);
    if (u.syntax_errors || diag_error_count(d) > errors || e.stop)
        goto out;
    run_file(&u, 0);
    if (!u.model && !e.stop && diag_error_count(d) == errors)
        elab_error(&e, (Loc){u.files[0].path, 1, 1}, "no model in this file: a model file needs 'model NAME { ... }'");
    if (u.model && !e.stop)
        run_model(&u);
    if (diag_error_count(d) == errors) {
        IrError err;
        if (!ir_verify(e.g, &err))
            diag_error(d, (Loc){u.files[0].path, 0, 0}, "internal compiler error (%s:%d, frontend): the graph does "
                       "not verify: %s", __FILE__, __LINE__, err.msg);
    }
out:
    scope_free(&e.universe);
    scope_free(&e.globals);
    scope_free(&e.params);
    scope_free(&e.inputs);
    scope_free(&e.outputs);
    scope_free(&e.reported);
    arena_free(e.arena);
    if (diag_error_count(d) > errors) {
        ir_graph_free(e.g);
        return NULL;
    }
    return e.g;
}

Graph *fe_compile_file(const char *path, const FrontendOptions *o, Diag *d)
{
    size_t len;
    const char *why = "";
    char *text = read_file(path, &len, &why);
    if (!text) {
        diag_error(d, (Loc){path, 0, 0}, "cannot read the file: %s", why);
        return NULL;
    }
    char buf[PATH_MAX];
    Graph *g = compile(path, realpath(path, buf) ? buf : NULL, text, len, o, d);
    ir_free(text);
    return g;
}

Graph *fe_compile_string(const char *name, const char *text, size_t len, const FrontendOptions *o, Diag *d)
{
    return compile(name ? name : "<string>", NULL, text, len, o, d);
}

/* ---- model statements ---- */

/* input patches, seg, row, col: packed(tokens = T, patch = P, channels = C, images = S)
 *
 * A packed NaViT sequence (docs/NAVIT.md): the names, in this order, bind the inputs of
 * the roles patches f32[T, P·P·C], seg, row, col, height, width (i32[T]); at least the
 * first two. Each becomes an `input` node named as its binding, with its `pack` role. */
static const int packed_roles[] = {PACK_PATCHES, PACK_SEG, PACK_ROW, PACK_COL, PACK_HEIGHT, PACK_WIDTH};
enum { NROLES = (int)(sizeof packed_roles / sizeof packed_roles[0]) };

static void exec_input_packed(Elab *e, const Stmt *s)
{
    const char *keys[] = {"tokens", "patch", "channels", "images"};
    int64_t val[4] = {0, 0, 3, 0};
    bool given[4] = {false, false, false, false}, ok = true;
    if (strcmp(s->u.input.dtype, "packed") != 0) {
        elab_error(e, s->u.input.dtloc,
                   "unknown input kind '%s': a packed sequence is declared 'packed(tokens = T, patch = P, "
                   "channels = C, images = S)', other inputs 'DTYPE[dims]'",
                   s->u.input.dtype);
        ok = false;
    }
    for (const Arg *a = s->u.input.args; a && ok && !e->stop; a = a->next) {
        if (!a->name) {
            elab_error(e, a->loc, "'packed' takes keyword arguments only: tokens, patch, channels, images");
            ok = false;
            break;
        }
        int k = 0;
        while (k < 4 && strcmp(keys[k], a->name) != 0)
            k++;
        if (k == 4) {
            elab_error(e, a->loc, "'packed' has no argument '%s'; its arguments are tokens, patch, channels, images",
                       a->name);
            ok = false;
            break;
        }
        if (given[k]) {
            elab_error(e, a->loc, "'packed': '%s' is given twice", a->name);
            ok = false;
            break;
        }
        given[k] = true;
        char what[64];
        snprintf(what, sizeof what, "'packed': %s", a->name);
        if (!want_int(e, eval(e, a->value), a->value->loc, what, &val[k])) {
            ok = false;
            break;
        }
        if (val[k] < 1 || val[k] > (1 << 20)) {
            elab_error(e, a->value->loc, "'packed': %s must be between 1 and %d, got %" PRId64, a->name, 1 << 20,
                       val[k]);
            ok = false;
            break;
        }
    }
    for (int k = 0; k < 4 && ok; k++)
        if (!given[k] && k != 2) {
            elab_error(e, s->u.input.dtloc, "'packed' needs '%s' (tokens, patch and images; channels defaults to 3)",
                       keys[k]);
            ok = false;
        }
    if (ok && val[1] * val[1] * val[2] > (1 << 24)) {
        elab_error(e, s->u.input.dtloc, "'packed': a patch of %" PRId64 "×%" PRId64 "×%" PRId64 " values is too large",
                   val[1], val[1], val[2]);
        ok = false;
    }
    /* the names: first, then the rest */
    const char *names[NROLES];
    Loc locs[NROLES];
    int nnames = 0;
    names[nnames] = s->u.input.name;
    locs[nnames++] = s->loc;
    for (const Arg *a = s->u.input.more; a; a = a->next) {
        if (nnames == NROLES) {
            elab_error(e, a->loc, "a packed sequence binds at most %d inputs: patches, seg, row, col, height, width",
                       NROLES);
            ok = false;
            break;
        }
        names[nnames] = a->name;
        locs[nnames++] = a->loc;
    }
    if (nnames < 2 && ok) {
        elab_error(e, s->loc, "a packed sequence binds at least its patches and segment ids: "
                              "'input patches, seg, row, col: packed(...)'");
        ok = false;
    }
    if (ok && e->packed) {
        elab_error(e, s->loc, "the model already declares a packed sequence; a model takes at most one");
        ok = false;
    }
    e->packed = e->packed || ok;
    for (int i = 0; i < nnames; i++) {
        Entry *old = scope_find(&e->inputs, names[i]);
        if (old) {
            elab_error_note(e, locs[i], old->loc, "the first one is here", "the model already has an input '%s'",
                            names[i]);
            bind_name(e, names[i], v_poison(), locs[i], false);
            continue;
        }
        if (e->inputs.count >= MAX_INPUTS) {
            elab_error(e, locs[i], "too many inputs (more than %d)", MAX_INPUTS);
            return;
        }
        int32_t id = -1;
        if (ok) {
            Attr a;
            attr_set_defaults(ATTR_INPUT, &a);
            a.input.name = names[i];
            a.input.pack = packed_roles[i];
            Type t = {DT_I32, {.rank = 1, .d = {dim_const(val[0])}}};
            if (packed_roles[i] == PACK_PATCHES) {
                a.input.patch = val[1];
                a.input.channels = val[2];
                a.input.images = val[3];
                t = (Type){DT_F32, {.rank = 2, .d = {dim_const(val[0]), dim_const(val[1] * val[1] * val[2])}}};
            }
            id = build(e, OP_INPUT, NULL, 0, &a, &t, locs[i]);
        }
        Entry *en = scope_put(&e->inputs, names[i], NULL);
        if (!en) {
            elab_oom(e);
            return;
        }
        en->loc = locs[i];
        bind_name(e, names[i], v_tensor(id), locs[i], false);
    }
}

void exec_input(Elab *e, const Stmt *s)
{
    const char *name = s->u.input.name;
    if (s->u.input.packed) {
        exec_input_packed(e, s);
        return;
    }
    Entry *dte = lookup(e, s->u.input.dtype);
    if (!dte) {
        char names[128];
        size_t n = 0;
        for (int i = 0; i < DT_COUNT; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", dtype_name((DType)i));
        elab_error(e, s->u.input.dtloc, "unknown dtype '%s'; the dtypes are %s", s->u.input.dtype, names);
        bind_name(e, name, v_poison(), s->loc, false);
        return;
    }
    if (dte->v.k != V_DTYPE) {
        char d[300];
        val_describe(e, dte->v, d, sizeof d);
        elab_error(e, s->u.input.dtloc, "'%s' is not a dtype (it is %s)", s->u.input.dtype, d);
        bind_name(e, name, v_poison(), s->loc, false);
        return;
    }
    bool ok = true;
    for (const Arg *l = s->u.input.limits; l && !e->stop; l = l->next) {
        int64_t max;
        if (!want_int(e, eval(e, l->value), l->value->loc, "a symbol's maximum", &max)) {
            bind_name(e, l->name, v_poison(), l->loc, true);
            ok = false;
            continue;
        }
        if (max < 1) {
            elab_error(e, l->value->loc, "the maximum of symbol '%s' must be at least 1", l->name);
            bind_name(e, l->name, v_poison(), l->loc, true);
            ok = false;
            continue;
        }
        Entry *old = scope_find(e->locals, l->name);
        if (old && old->v.k == V_DIM && old->v.u.dim.n == 1 && e->g->syms[old->v.u.dim.sym].max == max)
            continue; /* declared again alike */
        if (old) {
            char note[300];
            snprintf(note, sizeof note, "'%s' is first defined here", l->name);
            elab_error_note(e, l->loc, old->loc, note, "'%s' is already defined%s", l->name,
                            old->v.k == V_DIM ? " as a symbol with another maximum" : "");
            ok = false;
            continue;
        }
        if (e->g->nsyms >= MAX_SYMBOLS) {
            elab_error(e, l->loc, "too many symbols (more than %d)", MAX_SYMBOLS);
            ok = false;
            continue;
        }
        int32_t id = ir_symbol(e->g, l->name, max);
        if (id < 0) {
            elab_oom(e);
            return;
        }
        bind_name(e, l->name, (Val){.k = V_DIM, .u.dim = dim_sym(id, 1)}, l->loc, true);
    }
    Type t = {dte->v.u.dt, {.rank = 0}};
    for (const Expr *x = s->u.input.dims; x && !e->stop; x = x->next) {
        if (t.shape.rank == IR_MAX_RANK) {
            elab_error(e, x->loc, "an input has at most %d dimensions", IR_MAX_RANK);
            return;
        }
        if (x->kind == E_NAME && !lookup(e, x->u.name)) {
            elab_error(e, x->loc, "symbol '%s' has no declared maximum: write (%s <= N) after the type", x->u.name,
                       x->u.name);
            ok = false;
            continue;
        }
        Val v = eval(e, x);
        if (v.k == V_INT && v.u.i >= 0)
            t.shape.d[t.shape.rank++] = dim_const(v.u.i);
        else if (v.k == V_DIM)
            t.shape.d[t.shape.rank++] = v.u.dim;
        else {
            if (v.k != V_POISON) {
                char d[300];
                val_describe(e, v, d, sizeof d);
                elab_error(e, x->loc, "a dimension must be a non-negative int or a symbol, got %s", d);
            }
            ok = false;
        }
    }
    Entry *old = scope_find(&e->inputs, name);
    if (old) {
        elab_error_note(e, s->loc, old->loc, "the first one is here", "the model already has an input '%s'", name);
        return;
    }
    if (e->inputs.count >= MAX_INPUTS) {
        elab_error(e, s->loc, "too many inputs (more than %d)", MAX_INPUTS);
        return;
    }
    int32_t id = -1;
    if (ok) {
        Attr a;
        attr_set_defaults(ATTR_INPUT, &a);
        a.input.name = name;
        id = build(e, OP_INPUT, NULL, 0, &a, &t, s->loc);
    }
    Entry *en = scope_put(&e->inputs, name, NULL);
    if (!en) {
        elab_oom(e);
        return;
    }
    en->loc = s->loc;
    bind_name(e, name, v_tensor(id), s->loc, false);
}

void exec_output(Elab *e, const Stmt *s)
{
    const char *name = s->u.output.name;
    Val v = eval(e, s->u.output.value);
    Entry *old = scope_find(&e->outputs, name);
    if (old) {
        elab_error_note(e, s->loc, old->loc, "the first one is here", "the model already has an output '%s'", name);
        return;
    }
    if (v.k != V_TENSOR) {
        if (v.k != V_POISON) {
            char d[300];
            val_describe(e, v, d, sizeof d);
            elab_error(e, s->u.output.value->loc, "an output must be a tensor, got %s", d);
        }
        return;
    }
    if (e->outputs.count >= MAX_OUTPUTS) {
        elab_error(e, s->loc, "too many outputs (more than %d)", MAX_OUTPUTS);
        return;
    }
    Entry *en = scope_put(&e->outputs, name, NULL);
    if (!en || !ir_add_output(e->g, name, v.u.t)) {
        elab_oom(e);
        return;
    }
    en->loc = s->loc;
}

/* preprocess(resize = 224, crop = 224, mean = 0.5, std = 0.5, labels = "...") fills the
 * graph's MetaAttr through its attribute schema; a single mean or std is per channel. */
void exec_preprocess(Elab *e, const Stmt *s)
{
    int n = 0;
    for (const Arg *a = s->u.preprocess.args; a; a = a->next)
        n++;
    CallArg *args = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *args);
    if (!args)
        return;
    n = 0;
    for (const Arg *a = s->u.preprocess.args; a; a = a->next, n++) {
        args[n] = (CallArg){a->name, a->loc, eval(e, a->value)};
        if (args[n].v.k == V_POISON)
            return;
    }
    Attr a;
    attr_set_defaults(ATTR_META, &a);
    a.meta = e->g->meta;
    if (!attr_from_args(e, ATTR_META, &a, args, n, "preprocess"))
        return;
    FloatList *lists[2] = {&a.meta.mean, &a.meta.std};
    for (int i = 0; i < 2; i++)
        if (lists[i]->n == 1) {
            double *v = elab_alloc(e, 3 * sizeof *v);
            if (!v)
                return;
            v[0] = v[1] = v[2] = lists[i]->v[0];
            *lists[i] = (FloatList){3, v};
        }
    for (int i = 0; i < a.meta.std.n; i++)
        if (a.meta.std.v[i] == 0) {
            elab_error(e, s->loc, "'preprocess': std must not be zero");
            return;
        }
    if (a.meta.resize < 0 || a.meta.crop < 0) {
        elab_error(e, s->loc, "'preprocess': resize and crop must not be negative");
        return;
    }
    if (!ir_attr_own(e->g, ATTR_META, &a)) {
        elab_oom(e);
        return;
    }
    e->g->meta = a.meta;
}

void exec_labels(Elab *e, const Stmt *s)
{
    Val v = eval_template(e, s->u.labels.path, s->u.labels.pathloc);
    if (v.k != V_STR)
        return;
    const char *l = ir_intern(e->g, v.u.str.s);
    if (!l) {
        elab_oom(e);
        return;
    }
    e->g->meta.labels = l;
}
