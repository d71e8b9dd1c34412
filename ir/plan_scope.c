/* plan_scope.c — the part of the model a kernel computes, named after the parameters it
 * reads: profiles group kernels by it and labels carry it ("k9 gemm
 * models/vit_b16.vit:13:9 [blocks.0.attn.qkv]"), where a source location alone names the
 * line of a loop, the same for every layer.
 *
 * Names are components separated by '.' (timm, PyTorch) or '/' (Flax, big_vision). A
 * parameter's scope is its name without the last component ("blocks.0.attn.qkv.weight" →
 * "blocks.0.attn.qkv", "Encoder/encoderblock_1/MlpBlock_0/Dense_0/kernel" →
 * "Encoder/encoderblock_1/MlpBlock_0/Dense_0"); a name of one component is its own scope
 * ("cls_token"). A kernel's own scope is the longest common prefix, in whole components, of
 * the scopes of the parameters it reads, directly or through folded buffers (the
 * parameters read by the once-kernels that write them: a GEMM's weight packed into panels).
 * A run-time kernel without one (attention, a copy between layouts, a kernel reading the
 * parameters of two layers) takes the layer of the nearest run-time kernel before it that
 * has one, else after it. A scope's layer is its prefix through its first component that
 * ends in a digit ("blocks.0", "Encoder/encoderblock_1"), else its first component
 * ("patch_embed").
 */
#include <ctype.h>
#include <string.h>

#include "plan.h"

enum { MAX_FOLD_DEPTH = 8 }; /* folded buffers written from folded buffers, at most */

typedef struct {
    char s[256];
    size_t n;
    bool any; /* a parameter was seen (n = 0 then: nothing in common) */
} Scope;

static bool is_sep(char c) { return c == '.' || c == '/'; }

/* The length of the common prefix of a[0, na) and b[0, nb) that ends on a component
 * boundary of both. */
static size_t common_components(const char *a, size_t na, const char *b, size_t nb)
{
    size_t keep = 0;
    for (size_t i = 0;; i++) {
        bool ea = i == na || is_sep(a[i]), eb = i == nb || is_sep(b[i]);
        if (ea && eb)
            keep = i;
        if (ea || eb) {
            if (!(ea && eb) || i == na || i == nb || a[i] != b[i])
                return keep;
        } else if (a[i] != b[i]) {
            return keep;
        }
    }
}

/* Narrows sc to what it shares with the scope of parameter `name`. */
static void add_param(Scope *sc, const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && !is_sep(name[n - 1]))
        n--;
    n = n > 0 ? n - 1 : strlen(name);
    if (!sc->any) {
        if (n >= sizeof sc->s)
            n = sizeof sc->s - 1;
        memcpy(sc->s, name, n);
        sc->n = n;
        sc->any = true;
    } else {
        sc->n = common_components(sc->s, sc->n, name, n);
    }
    sc->s[sc->n] = 0;
}

/* The parameters kernel k reads, directly or through the once-kernels writing its folded
 * inputs, into sc. */
static void own_scope(const Plan *p, int32_t k, Scope *sc, int depth)
{
    const Kernel *kn = &p->kernels[k];
    for (int32_t i = 0; i < kn->nin; i++) {
        int32_t b = kn->in[i].buf;
        if (b < 0 || b >= p->nbufs)
            continue;
        const Buffer *buf = &p->bufs[b];
        if (buf->kind == BUF_PARAM && buf->name) {
            add_param(sc, buf->name);
        } else if (buf->kind == BUF_FOLDED && depth < MAX_FOLD_DEPTH) {
            for (int32_t j = 0; j < p->nkernels; j++)
                if (j != k && p->kernels[j].out.buf == b)
                    own_scope(p, j, sc, depth + 1);
        }
    }
}

size_t plan_scope_layer(const char *scope)
{
    size_t first = 0;
    while (scope[first] && !is_sep(scope[first]))
        first++;
    for (size_t i = 0; scope[i]; i++)
        if (isdigit((unsigned char)scope[i]) && (!scope[i + 1] || is_sep(scope[i + 1])))
            return i + 1;
    return first;
}

size_t plan_kernel_scope(const Plan *p, int32_t k, char *buf, size_t n)
{
    if (!n)
        return 0;
    buf[0] = 0;
    if (k < 0 || k >= p->nkernels)
        return 0;
    Scope sc = {.n = 0};
    own_scope(p, k, &sc, 0);
    size_t len = sc.n;
    if (!len && !p->kernels[k].once) { /* a neighbour's layer: before, then after */
        for (int dir = -1; dir <= 1 && !len; dir += 2)
            for (int32_t j = k + dir; j >= 0 && j < p->nkernels && !len; j += dir) {
                if (p->kernels[j].once)
                    continue;
                sc = (Scope){.n = 0};
                own_scope(p, j, &sc, 0);
                len = plan_scope_layer(sc.s);
            }
    }
    if (len >= n)
        len = n - 1;
    memcpy(buf, sc.s, len);
    buf[len] = 0;
    return len;
}

size_t plan_kernel_where(const Plan *p, int32_t k, char *buf, size_t n)
{
    char loc[512] = "", scope[256];
    int32_t node = k >= 0 && k < p->nkernels ? p->kernels[k].node : -1;
    const Loc *l = node >= 0 && node < p->g->nnodes ? &p->g->nodes[node].loc : NULL;
    if (l && l->file)
        snprintf(loc, sizeof loc, " %s:%d:%d", l->file, l->line, l->col);
    bool named = plan_kernel_scope(p, k, scope, sizeof scope) > 0;
    int len = snprintf(buf, n, "%s%s%s%s", loc, named ? " [" : "", named ? scope : "", named ? "]" : "");
    return len <= 0 || !n ? 0 : (size_t)len < n ? (size_t)len : n - 1;
}
