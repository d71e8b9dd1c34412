/* exec.c — statements, blocks and def calls.
 *
 * Scopes are Python's: the model's body and each inlined def call have one flat frame,
 * so names bound inside `for` and `if` stay bound after them. A def sees its own frame
 * and the globals (defs and top-level lets of every file), never its caller's frame.
 * `let` binds constants: binding the name again in the same frame is an error, except by
 * the same `let` on the next turn of a loop.
 */
#include <string.h>

#include "elab.h"

Entry *lookup(Elab *e, const char *name)
{
    Entry *en = e->locals ? scope_find(e->locals, name) : NULL;
    if (!en)
        en = scope_find(&e->globals, name);
    if (!en)
        en = scope_find(&e->universe, name);
    return en;
}

static bool same_loc(Loc a, Loc b) { return a.line == b.line && a.col == b.col && a.file == b.file; }

bool bind_name(Elab *e, const char *name, Val v, Loc loc, bool constant)
{
    Scope *s = e->locals ? e->locals : &e->globals;
    bool added;
    Entry *en = scope_put(s, name, &added);
    if (!en) {
        elab_oom(e);
        return false;
    }
    if (!added && (en->flags & SYM_CONST || constant) && !same_loc(en->loc, loc)) {
        char note[300];
        snprintf(note, sizeof note, "'%s' is first defined here", name);
        bool def = en->v.k == V_FUNC && en->v.u.fn.kind == F_DEF;
        elab_error_note(e, loc, en->loc, note, "'%s' is %s", name,
                        def                     ? "already defined (a def)"
                        : en->flags & SYM_CONST ? "a constant (let) and cannot be bound again"
                                                : "already defined; a let cannot rebind it");
        return false;
    }
    en->v = v;
    en->loc = loc;
    en->flags = constant ? SYM_CONST : 0;
    return true;
}

/* ---- def calls ---- */

Val call_def(Elab *e, const Stmt *def, const CallArg *args, int nargs, Loc loc)
{
    const char *name = def->u.def.name;
    for (int i = 0; i < e->ncalls; i++)
        if (e->calls[i].def == def) {
            char note[300];
            snprintf(note, sizeof note, "'%s' is defined here", name);
            elab_error_note(e, loc, def->loc, note,
                            "'%s' calls itself%s: defs are inlined, so recursion is not allowed", name,
                            i == e->ncalls - 1 ? "" : " through other defs");
            return v_poison();
        }
    if (e->ncalls >= MAX_CALL_DEPTH) {
        elab_error(e, loc, "calls are nested too deeply (more than %d defs inside each other)", MAX_CALL_DEPTH);
        return v_poison();
    }
    int n = 0, required = 0;
    for (const Arg *p = def->u.def.params; p; p = p->next, n++)
        if (!p->value && required == n)
            required++;
    if (!elab_step(e, loc, n + nargs))
        return v_poison();
    const char **names = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *names);
    Val *vals = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *vals);
    bool *given = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *given);
    if (!names || !vals || !given)
        return v_poison();
    n = 0;
    for (const Arg *p = def->u.def.params; p; p = p->next)
        names[n++] = p->name;
    if (!bind_args(e, name, def->loc, names, n, required, args, nargs, loc, vals, given))
        return v_poison();

    Scope frame = {0};
    Scope *saved_locals = e->locals;
    Context saved_ctx = e->ctx;
    e->calls[e->ncalls++] = (CallFrame){def, loc};
    e->locals = &frame;
    e->ctx = CTX_DEF;
    Val ret = v_none();
    int i = 0;
    bool ok = true;
    /* parameters in order; a default is evaluated in the new frame, so it may use the
     * parameters before it */
    for (const Arg *p = def->u.def.params; p && ok; p = p->next, i++) {
        Val v = given[i] ? vals[i] : eval(e, p->value);
        ok = v.k != V_POISON && bind_name(e, p->name, v, p->loc, false);
    }
    if (ok && exec_block(e, def->u.def.body, &ret) == FLOW_NEXT)
        ret = v_none();
    if (!ok)
        ret = v_poison();
    e->locals = saved_locals;
    e->ctx = saved_ctx;
    e->ncalls--;
    scope_free(&frame);
    return ret;
}

/* ---- statements ---- */

static const char *stmt_name(StmtKind k)
{
    static const char *const names[] = {
        [S_IMPORT] = "import", [S_DEF] = "def", [S_MODEL] = "model", [S_LET] = "let",
        [S_ASSIGN] = "an assignment", [S_EXPR] = "an expression", [S_FOR] = "for", [S_IF] = "if",
        [S_RETURN] = "return", [S_INPUT] = "input", [S_OUTPUT] = "output",
        [S_PREPROCESS] = "preprocess", [S_LABELS] = "labels",
    };
    return names[k];
}

static void exec_let(Elab *e, const Stmt *s)
{
    for (const Arg *b = s->u.let.binds; b && !e->stop; b = b->next) {
        Val v = eval(e, b->value);
        if (v.k == V_TENSOR) {
            elab_error(e, b->loc, "'let' binds compile-time constants, and '%s' would be a tensor; "
                       "write '%s = ...' instead", b->name, b->name);
            v = v_poison();
        }
        bind_name(e, b->name, v, b->loc, true);
    }
}

static void exec_assign(Elab *e, const Stmt *s)
{
    Val v = eval(e, s->u.assign.value);
    const Arg *t = s->u.assign.targets;
    if (!t->next) {
        bind_name(e, t->name, v, t->loc, false);
        return;
    }
    int n = 0;
    for (const Arg *a = t; a; a = a->next)
        n++;
    if (v.k != V_POISON && (v.k != V_LIST || v.u.list.n != n)) {
        char d[300];
        val_describe(e, v, d, sizeof d);
        elab_error(e, s->u.assign.value->loc, "cannot unpack %s into %d names", d, n);
        v = v_poison();
    }
    int i = 0;
    for (const Arg *a = t; a; a = a->next, i++)
        bind_name(e, a->name, v.k == V_LIST ? v.u.list.v[i] : v, a->loc, false);
}

static Flow exec_for(Elab *e, const Stmt *s, Val *ret)
{
    Val it = eval(e, s->u.loop.iter);
    if (it.k == V_POISON)
        return FLOW_NEXT;
    if (it.k != V_LIST) {
        char d[300];
        val_describe(e, it, d, sizeof d);
        elab_error(e, s->u.loop.iter->loc, "'for' iterates over a list or a range 'a .. b', got %s", d);
        return FLOW_NEXT;
    }
    for (int32_t i = 0; i < it.u.list.n && !e->stop; i++) {
        if (!bind_name(e, s->u.loop.var, it.u.list.v[i], s->u.loop.varloc, false))
            break;
        if (exec_block(e, s->u.loop.body, ret) == FLOW_RETURN)
            return FLOW_RETURN;
    }
    return FLOW_NEXT;
}

static Flow exec_if(Elab *e, const Stmt *s, Val *ret)
{
    Val c = eval(e, s->u.cond.cond);
    if (c.k == V_POISON)
        return FLOW_NEXT;
    if (c.k != V_BOOL) {
        char d[300];
        val_describe(e, c, d, sizeof d);
        elab_error(e, s->u.cond.cond->loc, "the condition of 'if' must be a compile-time bool, got %s%s", d,
                   c.k == V_TENSOR ? " (use select() to choose between tensors elementwise)" : "");
        return FLOW_NEXT;
    }
    return exec_block(e, c.u.b ? s->u.cond.then : s->u.cond.els, ret);
}

Flow exec_stmt(Elab *e, const Stmt *s, Val *ret)
{
    if (!elab_step(e, s->loc, 0))
        return FLOW_NEXT;
    switch (s->kind) {
    case S_LET: exec_let(e, s); return FLOW_NEXT;
    case S_ASSIGN: exec_assign(e, s); return FLOW_NEXT;
    case S_EXPR:
        if (s->u.expr.e->kind != E_CALL) {
            elab_error(e, s->u.expr.e->loc, "this expression does nothing: bind it to a name ('x = ...')");
            return FLOW_NEXT;
        }
        eval(e, s->u.expr.e);
        return FLOW_NEXT;
    case S_FOR: return exec_for(e, s, ret);
    case S_IF: return exec_if(e, s, ret);
    case S_RETURN:
        if (e->ctx != CTX_DEF) {
            elab_error(e, s->loc, "'return' is only allowed in a def");
            return FLOW_NEXT;
        }
        *ret = s->u.ret.value ? eval(e, s->u.ret.value) : v_none();
        return FLOW_RETURN;
    case S_INPUT:
    case S_OUTPUT:
    case S_PREPROCESS:
    case S_LABELS:
        if (e->ctx != CTX_MODEL) {
            elab_error(e, s->loc, "'%s' is only allowed in a model", stmt_name(s->kind));
            return FLOW_NEXT;
        }
        if (s->kind == S_INPUT)
            exec_input(e, s);
        else if (s->kind == S_OUTPUT)
            exec_output(e, s);
        else if (s->kind == S_PREPROCESS)
            exec_preprocess(e, s);
        else
            exec_labels(e, s);
        return FLOW_NEXT;
    default:
        elab_error(e, s->loc, "'%s' is only allowed at the top level of a file", stmt_name(s->kind));
        return FLOW_NEXT;
    }
}

Flow exec_block(Elab *e, const Stmt *s, Val *ret)
{
    if (e->nest >= MAX_NEST) {
        if (s)
            elab_error(e, s->loc, "blocks and calls are nested too deeply (more than %d levels)", MAX_NEST);
        e->stop = true;
        return FLOW_NEXT;
    }
    e->nest++;
    Flow f = FLOW_NEXT;
    for (; s && !e->stop && f == FLOW_NEXT; s = s->next)
        f = exec_stmt(e, s, ret);
    e->nest--;
    return f;
}
