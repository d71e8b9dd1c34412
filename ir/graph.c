/* graph.c — graphs: creation, interned strings, symbols, the builder and rewriting. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- interned strings: open addressing over arena-owned strings ---- */

struct InternTable {
    const char **slots;
    size_t cap, count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool intern_grow(struct InternTable *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    const char **slots = ir_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        const char *s = t->slots[i];
        if (!s)
            continue;
        size_t j = hash_bytes(s, strlen(s)) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = s;
    }
    ir_free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

const char *ir_intern_n(Graph *g, const char *s, size_t n)
{
    struct InternTable *t = g->strings;
    if ((t->count + 1) * 2 > t->cap && !intern_grow(t))
        return NULL;
    size_t j = hash_bytes(s, n) & (t->cap - 1);
    for (; t->slots[j]; j = (j + 1) & (t->cap - 1))
        if (strncmp(t->slots[j], s, n) == 0 && t->slots[j][n] == 0)
            return t->slots[j];
    char *copy = arena_strndup(g->arena, s, n);
    if (!copy)
        return NULL;
    t->slots[j] = copy;
    t->count++;
    return copy;
}

const char *ir_intern(Graph *g, const char *s) { return ir_intern_n(g, s, strlen(s)); }

/* ---- graphs ---- */

Graph *ir_graph_new(const char *name)
{
    Graph *g = ir_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->arena = arena_new();
    g->strings = ir_calloc(1, sizeof *g->strings);
    if (!g->arena || !g->strings) {
        ir_graph_free(g);
        return NULL;
    }
    Attr meta; /* a whole Attr: attr_set_defaults clears sizeof(Attr) bytes */
    attr_set_defaults(ATTR_META, &meta);
    g->meta = meta.meta;
    g->name = ir_intern(g, name ? name : "main");
    if (!g->name) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

void ir_graph_free(Graph *g)
{
    if (!g)
        return;
    if (g->strings)
        ir_free(g->strings->slots);
    ir_free(g->strings);
    ir_free(g->nodes);
    ir_free(g->values);
    ir_free(g->syms);
    ir_free(g->outputs);
    arena_free(g->arena);
    ir_free(g);
}

/* Makes room for one more element in a growable array. */
static bool grow(void **arr, int32_t *cap, int32_t count, size_t elem)
{
    if (count < *cap)
        return true;
    if (*cap > INT32_MAX / 2)
        return false;
    int32_t ncap = *cap ? *cap * 2 : 16;
    void *p = ir_realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

int32_t ir_symbol_find(const Graph *g, const char *name, size_t len)
{
    for (int32_t i = 0; i < g->nsyms; i++)
        if (strncmp(g->syms[i].name, name, len) == 0 && g->syms[i].name[len] == 0)
            return i;
    return -1;
}

int32_t ir_symbol(Graph *g, const char *name, int64_t max)
{
    int32_t s = ir_symbol_find(g, name, strlen(name));
    if (s >= 0)
        return s;
    if (!grow((void **)&g->syms, &g->capsyms, g->nsyms, sizeof *g->syms))
        return -1;
    const char *n = ir_intern(g, name);
    if (!n)
        return -1;
    g->syms[g->nsyms] = (Symbol){n, max};
    return g->nsyms++;
}

bool ir_add_output(Graph *g, const char *name, int32_t value)
{
    if (!grow((void **)&g->outputs, &g->capoutputs, g->noutputs, sizeof *g->outputs))
        return false;
    const char *n = ir_intern(g, name);
    if (!n)
        return false;
    g->outputs[g->noutputs++] = (Output){n, value};
    return true;
}

/* ---- building ---- */

static int32_t fail(IrError *err, const char *msg)
{
    if (err)
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

int32_t ir_build(Graph *g, Op op, const int32_t *in, int32_t nin, const Attr *attr,
                 const Type *declared, Loc loc, IrError *err)
{
    const OpInfo *info = &ir_ops[op];
    char msg[sizeof err->msg];

    if (info->nin >= 0 ? nin != info->nin : nin < 1) {
        if (info->nin >= 0)
            snprintf(msg, sizeof msg, "'%s' takes %d operand%s, got %d", info->name, info->nin,
                     info->nin == 1 ? "" : "s", nin);
        else
            snprintf(msg, sizeof msg, "'%s' takes at least one operand", info->name);
        return fail(err, msg);
    }
    for (int32_t i = 0; i < nin; i++)
        if (in[i] < 0 || in[i] >= g->nvalues)
            return fail(err, "operand is not a value of this graph");
    if (!grow((void **)&g->nodes, &g->capnodes, g->nnodes, sizeof *g->nodes))
        return fail(err, "out of memory");
    for (int i = 0; i < info->nout; i++)
        if (!grow((void **)&g->values, &g->capvalues, g->nvalues + i, sizeof *g->values))
            return fail(err, "out of memory");

    Node n = {.op = op, .nin = nin, .nout = info->nout, .out = g->nvalues, .loc = loc};
    if (attr)
        n.attr = *attr;
    else
        attr_set_defaults(info->attr, &n.attr);
    if (loc.file && !(n.loc.file = ir_intern(g, loc.file)))
        return fail(err, "out of memory");
    if (!ir_attr_own(g, info->attr, &n.attr))
        return fail(err, "out of memory");
    n.in = nin ? arena_alloc(g->arena, (size_t)nin * sizeof *n.in) : NULL;
    if (nin && !n.in)
        return fail(err, "out of memory");
    if (nin)
        memcpy(n.in, in, (size_t)nin * sizeof *in);

    Type out[4] = {0};
    if (declared)
        out[0] = *declared;
    msg[0] = 0;
    if (!info->infer(g, &n, out, msg, sizeof msg))
        return fail(err, msg[0] ? msg : "invalid operands");

    int32_t id = g->nnodes++;
    g->nodes[id] = n;
    for (int i = 0; i < info->nout; i++)
        g->values[g->nvalues++] = (Value){out[i], id, i};
    return n.out;
}

int32_t ir_build1(Graph *g, Op op, int32_t a, Loc loc, IrError *err)
{
    return ir_build(g, op, &a, 1, NULL, NULL, loc, err);
}

int32_t ir_build2(Graph *g, Op op, int32_t a, int32_t b, Loc loc, IrError *err)
{
    int32_t in[2] = {a, b};
    return ir_build(g, op, in, 2, NULL, NULL, loc, err);
}

int32_t ir_build_scalar(Graph *g, double v, DType dt, Loc loc, IrError *err)
{
    Attr a;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){1, &v};
    Type t = {.dt = dt, .shape = {.rank = 0}};
    return ir_build(g, OP_CONST, NULL, 0, &a, &t, loc, err);
}

/* ---- rewriting ---- */

void ir_replace_uses(Graph *g, int32_t from, int32_t to)
{
    for (int32_t i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int32_t j = 0; j < n->nin; j++)
            if (n->in[j] == from)
                n->in[j] = to;
    }
    for (int32_t i = 0; i < g->noutputs; i++)
        if (g->outputs[i].value == from)
            g->outputs[i].value = to;
}

int32_t *ir_use_counts(const Graph *g)
{
    int32_t *uses = ir_calloc((size_t)g->nvalues, sizeof *uses);
    if (!uses)
        return NULL;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int32_t j = 0; j < n->nin; j++)
            uses[n->in[j]]++;
    }
    for (int32_t i = 0; i < g->noutputs; i++)
        uses[g->outputs[i].value]++;
    return uses;
}

/* Topological sort that keeps the current order where it can: repeatedly emit the
 * earliest node whose operands are all defined (a min-heap on the old index). */
typedef struct {
    int32_t *a;
    int32_t n;
} Heap;

static void heap_push(Heap *h, int32_t x)
{
    int32_t i = h->n++;
    h->a[i] = x;
    while (i > 0 && h->a[(i - 1) / 2] > h->a[i]) {
        int32_t p = (i - 1) / 2, t = h->a[p];
        h->a[p] = h->a[i];
        h->a[i] = t;
        i = p;
    }
}

static int32_t heap_pop(Heap *h)
{
    int32_t top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (int32_t i = 0;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->a[l] < h->a[m])
            m = l;
        if (r < h->n && h->a[r] < h->a[m])
            m = r;
        if (m == i)
            break;
        int32_t t = h->a[m];
        h->a[m] = h->a[i];
        h->a[i] = t;
        i = m;
    }
    return top;
}

bool ir_compact(Graph *g)
{
    int32_t nn = g->nnodes, nv = g->nvalues;
    int32_t *pending = ir_calloc((size_t)nn, sizeof *pending);  /* operands not yet defined */
    int32_t *order = ir_malloc((size_t)nn * sizeof *order);
    int32_t *users_start = ir_calloc((size_t)nv + 1, sizeof *users_start);
    int32_t *heap = ir_malloc((size_t)nn * sizeof *heap);
    int32_t *vmap = ir_malloc((size_t)nv * sizeof *vmap);
    Node *nodes = ir_malloc((size_t)(nn ? nn : 1) * sizeof *nodes);
    Value *values = ir_malloc((size_t)(nv ? nv : 1) * sizeof *values);
    int32_t *users = NULL;
    bool ok = false;
    if (!pending || !order || !users_start || !heap || !vmap || !nodes || !values)
        goto out;

    /* users of each value, as a CSR list */
    int64_t nedges = 0;
    for (int32_t i = 0; i < nn; i++)
        if (!g->nodes[i].dead)
            for (int32_t j = 0; j < g->nodes[i].nin; j++, nedges++)
                users_start[g->nodes[i].in[j] + 1]++;
    for (int32_t v = 0; v < nv; v++)
        users_start[v + 1] += users_start[v];
    users = ir_malloc((size_t)(nedges ? nedges : 1) * sizeof *users);
    int32_t *fill = ir_malloc((size_t)(nv ? nv : 1) * sizeof *fill);
    if (!users || !fill) {
        ir_free(fill);
        goto out;
    }
    memcpy(fill, users_start, (size_t)nv * sizeof *fill);
    memset(vmap, 0xff, (size_t)nv * sizeof *vmap); /* -1: not (yet) a live value */
    for (int32_t i = 0; i < nn; i++)
        if (!g->nodes[i].dead)
            for (int32_t j = 0; j < g->nodes[i].nin; j++)
                users[fill[g->nodes[i].in[j]]++] = i;
    ir_free(fill);

    Heap h = {heap, 0};
    int32_t live = 0;
    for (int32_t i = 0; i < nn; i++) {
        if (g->nodes[i].dead)
            continue;
        live++;
        pending[i] = g->nodes[i].nin;
        if (pending[i] == 0)
            heap_push(&h, i);
    }
    int32_t done = 0;
    while (h.n > 0) {
        int32_t i = heap_pop(&h);
        order[done++] = i;
        const Node *n = &g->nodes[i];
        for (int32_t r = 0; r < n->nout; r++)
            for (int32_t u = users_start[n->out + r]; u < users_start[n->out + r + 1]; u++)
                if (--pending[users[u]] == 0)
                    heap_push(&h, users[u]);
    }
    if (done != live)
        goto out; /* a cycle, or an operand defined by a dead node */

    int32_t nvals = 0;
    for (int32_t k = 0; k < done; k++) {
        Node n = g->nodes[order[k]];
        for (int32_t r = 0; r < n.nout; r++) {
            vmap[n.out + r] = nvals;
            values[nvals] = g->values[n.out + r];
            values[nvals].node = k;
            nvals++;
        }
        n.out = vmap[n.out];
        nodes[k] = n;
    }
    for (int32_t k = 0; k < done; k++)
        for (int32_t j = 0; j < nodes[k].nin; j++)
            nodes[k].in[j] = vmap[nodes[k].in[j]];
    for (int32_t i = 0; i < g->noutputs; i++)
        if (vmap[g->outputs[i].value] < 0)
            goto out; /* an output defined by a dead node */
    for (int32_t i = 0; i < g->noutputs; i++)
        g->outputs[i].value = vmap[g->outputs[i].value];

    ir_free(g->nodes);
    ir_free(g->values);
    g->nodes = nodes;
    g->values = values;
    g->nnodes = g->capnodes = done;
    g->nvalues = g->capvalues = nvals;
    if (g->capnodes == 0)
        g->capnodes = 1;
    if (g->capvalues == 0)
        g->capvalues = 1;
    nodes = NULL;
    values = NULL;
    ok = true;
out:
    ir_free(pending);
    ir_free(order);
    ir_free(users_start);
    ir_free(users);
    ir_free(heap);
    ir_free(vmap);
    ir_free(nodes);
    ir_free(values);
    return ok;
}
