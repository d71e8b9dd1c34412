/* ocl_gen.c — the OpenCL module of a plan: programs and launches.
 *
 * Each plan kernel becomes one program with one kernel function (a GEMM may add packing
 * programs before it). A kernel's arguments are the buffers it touches, each as a pointer
 * and an element offset (rt_ocl.h: the workspace holds several buffers), then the symbols,
 * then (gathers) the error cell and the plan kernel's index. Buffers are named by their
 * argument slot, not by their plan index, and view offsets and strides are constants in
 * the text, so the kernels of the twelve blocks of a ViT are one program: the module
 * keeps one copy of each distinct text (compared in full, looked up by hash), and the
 * name of its kernel function is that hash ("vit_gemm_3f2a...").
 *
 * Every program starts with `#pragma OPENCL FP_CONTRACT OFF` (a*b+c stays two roundings,
 * as in the interpreter; GEMMs call fma() explicitly) and the helper functions it uses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

/* ---- strings ---- */

static void str_reserve(Str *s, size_t more)
{
    if (s->oom || s->len + more + 1 <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + more + 1)
        cap *= 2;
    char *n = ir_realloc(s->s, cap);
    if (!n) {
        s->oom = true;
        return;
    }
    s->s = n;
    s->cap = cap;
}

void str_add(Str *s, const char *text)
{
    size_t n = strlen(text);
    str_reserve(s, n);
    if (s->oom)
        return;
    memcpy(s->s + s->len, text, n + 1);
    s->len += n;
}

static void str_vaddf(Str *s, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        s->oom = true;
        return;
    }
    str_reserve(s, (size_t)n);
    if (s->oom)
        return;
    vsnprintf(s->s + s->len, (size_t)n + 1, fmt, ap);
    s->len += (size_t)n;
}

void str_addf(Str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    str_vaddf(s, fmt, ap);
    va_end(ap);
}

void str_free(Str *s)
{
    ir_free(s->s);
    *s = (Str){0};
}

/* ---- generator state ---- */

bool ogen_fail(OGen *g, const char *fmt, ...)
{
    if (!g->failed && g->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err->msg, sizeof g->err->msg, fmt, ap);
        va_end(ap);
    }
    g->failed = true;
    return false;
}

void ogen_line(OGen *g, const char *fmt, ...)
{
    for (int i = 0; i < g->indent; i++)
        str_add(&g->body, "    ");
    va_list ap;
    va_start(ap, fmt);
    str_vaddf(&g->body, fmt, ap);
    va_end(ap);
    str_add(&g->body, "\n");
}

void ogen_fresh(OGen *g, char *buf, size_t n) { snprintf(buf, n, "t%d", g->tmp++); }

int32_t ogen_buffer(OGen *g, int32_t buf, bool written)
{
    if (buf < 0 || buf >= g->p->nbufs) {
        ogen_fail(g, "internal error: kernel %d names buffer %d of %d", g->ki, buf, g->p->nbufs);
        return -1;
    }
    if (g->slot[buf] < 0) {
        if (g->nargs >= MAX_SLOTS) {
            ogen_fail(g, "kernel %d touches more than %d buffers", g->ki, MAX_SLOTS);
            return -1;
        }
        g->slot[buf] = g->nargs;
        g->written[g->nargs] = false;
        g->args[g->nargs++] = (OclArg){RT_OCL_ARG_BUF, buf};
    }
    if (written)
        g->written[g->slot[buf]] = true;
    return g->slot[buf];
}

int32_t ogen_xbuf(OGen *g, int kind, DType dt, Dim size)
{
    OclModule *m = g->m;
    OclXBuf *n = ir_realloc(m->xbufs, (size_t)(m->nxbufs + 1) * sizeof *n);
    if (!n) {
        ogen_fail(g, "out of memory while generating OpenCL");
        return -1;
    }
    m->xbufs = n;
    n[m->nxbufs] = (OclXBuf){kind, dt, size};
    return m->nxbufs++;
}

int32_t ogen_xarg(OGen *g, int32_t x, bool written)
{
    if (g->nargs >= MAX_SLOTS) {
        ogen_fail(g, "kernel %d touches more than %d buffers", g->ki, MAX_SLOTS);
        return -1;
    }
    g->written[g->nargs] = written;
    g->args[g->nargs] = (OclArg){RT_OCL_ARG_XBUF, x};
    return g->nargs++;
}

void ogen_reset(OGen *g)
{
    for (int32_t i = 0; i < g->nargs; i++)
        if (g->args[i].kind == RT_OCL_ARG_BUF)
            g->slot[g->args[i].value] = -1;
    g->nargs = 0;
    g->helpers = 0;
    g->indent = 1;
    g->tmp = 0;
    str_free(&g->body);
    for (int32_t e = 0; g->k && e < g->k->nexpr; e++)
        g->ename[e][0] = 0;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The parameter list of the current kernel. */
static void params(OGen *g, Str *s)
{
    const Plan *p = g->p;
    for (int32_t i = 0; i < g->nargs; i++) {
        const OclArg *a = &g->args[i];
        if (i)
            str_add(s, ",\n    ");
        else
            str_add(s, "\n    ");
        if (a->kind == RT_OCL_ARG_BUF || a->kind == RT_OCL_ARG_XBUF) {
            DType dt = a->kind == RT_OCL_ARG_BUF ? p->bufs[a->value].dt : g->m->xbufs[a->value].dt;
            str_addf(s, "__global %s%s *restrict g%d, long o%d", g->written[i] ? "" : "const ",
                     ocl_memory_type(dt), i, i);
        } else if (a->kind == RT_OCL_ARG_SYM) {
            str_addf(s, "long s%" PRId64, a->value);
        } else if (a->kind == RT_OCL_ARG_ERR) {
            str_add(s, "__global int *err");
        } else {
            str_add(s, "long kid");
        }
    }
}

int32_t ogen_finish(OGen *g, const char *kind_name, int32_t kind, bool once, bool pack, const OclFactor *global,
                    int32_t nglobal, int64_t local)
{
    if (g->failed)
        return -1;
    OclModule *m = g->m;
    /* the symbols go last, all of them, so that texts do not depend on which are used */
    for (int32_t s = 0; s < g->p->g->nsyms && g->nargs < MAX_SLOTS + 4; s++)
        g->args[g->nargs++] = (OclArg){RT_OCL_ARG_SYM, s};
    Str text = {0}, sig = {0};
    str_add(&text, "#pragma OPENCL FP_CONTRACT OFF\n\n");
    ocl_helpers(&text, g->helpers);
    params(g, &sig);
    size_t head = text.len;
    str_addf(&text, "__kernel void @(%s)\n{\n", sig.s ? sig.s : "void");
    for (int32_t i = 0; i < g->nargs; i++)
        if (g->args[i].kind == RT_OCL_ARG_BUF || g->args[i].kind == RT_OCL_ARG_XBUF) {
            DType dt = g->args[i].kind == RT_OCL_ARG_BUF ? g->p->bufs[g->args[i].value].dt
                                                         : m->xbufs[g->args[i].value].dt;
            str_addf(&text, "    __global %s%s *restrict a%d = g%d + o%d;\n", g->written[i] ? "" : "const ",
                     ocl_memory_type(dt), i, i, i);
        }
    str_add(&text, g->body.s ? g->body.s : "");
    str_add(&text, "}\n");
    str_free(&sig);
    if (text.oom || g->body.oom) {
        str_free(&text);
        ogen_fail(g, "out of memory while generating OpenCL");
        return -1;
    }
    /* name the kernel by the hash of its text, then find or add the program */
    uint64_t h = fnv1a(text.s, text.len);
    char name[64];
    snprintf(name, sizeof name, "vit_%s_%016" PRIx64, kind_name, h);
    char *at = strchr(text.s + head, '@');
    size_t nlen = strlen(name);
    char *src = ir_malloc(text.len + nlen);
    int32_t prog = -1;
    if (src) {
        size_t pre = (size_t)(at - text.s);
        memcpy(src, text.s, pre);
        memcpy(src + pre, name, nlen);
        memcpy(src + pre + nlen, at + 1, text.len - pre);
        for (int32_t i = 0; i < m->nprogs && prog < 0; i++)
            if (strcmp(m->progs[i].source, src) == 0)
                prog = i;
        if (prog >= 0) {
            ir_free(src);
        } else {
            OclProgram *np = ir_realloc(m->progs, (size_t)(m->nprogs + 1) * sizeof *np);
            char *dn = ir_strdup(name);
            if (np && dn) {
                m->progs = np;
                np[m->nprogs] = (OclProgram){.name = dn, .source = src, .kind = kind};
                prog = m->nprogs++;
            } else {
                if (np)
                    m->progs = np;
                ir_free(dn);
                ir_free(src);
            }
        }
    }
    str_free(&text);
    OclLaunch *nl = prog >= 0 ? ir_realloc(m->launches, (size_t)(m->nlaunches + 1) * sizeof *nl) : NULL;
    OclArg *args = nl ? ir_malloc((size_t)g->nargs * sizeof *args + 1) : NULL;
    if (!nl || !args) {
        if (nl)
            m->launches = nl;
        ir_free(args);
        ogen_fail(g, "out of memory while generating OpenCL");
        return -1;
    }
    m->launches = nl;
    memcpy(args, g->args, (size_t)g->nargs * sizeof *args);
    OclLaunch *l = &nl[m->nlaunches++];
    *l = (OclLaunch){.program = prog, .kernel = g->ki, .once = once, .pack = pack, .local = local,
                     .nglobal = nglobal, .args = args, .nargs = g->nargs};
    memcpy(l->global, global, (size_t)nglobal * sizeof *global);
    return prog;
}

/* ---- the module ---- */

void ocl_module_free(OclModule *m)
{
    if (!m)
        return;
    for (int32_t i = 0; i < m->nprogs; i++) {
        ir_free(m->progs[i].name);
        ir_free(m->progs[i].source);
        ir_free(m->progs[i].binary);
    }
    for (int32_t i = 0; i < m->nlaunches; i++)
        ir_free(m->launches[i].args);
    ir_free(m->progs);
    ir_free(m->launches);
    ir_free(m->xbufs);
    ir_free(m);
}

void ocl_plan_options(const OclGenOptions *o, PlanOptions *po)
{
    memset(po, 0, sizeof *po);
    po->gemm_pack_nr = o && o->gemm_nr == 32 ? 32 : OCL_PANEL_COLUMNS;
    po->gemm_pack_batched = true; /* expert weights: one panel set per expert, packed at open */
}

OclModule *ocl_generate(const Plan *p, const OclGenOptions *o, IrError *err)
{
    OclGenOptions defaults = {0};
    OGen g = {.p = p, .o = o ? o : &defaults, .err = err, .indent = 1};
    if (err)
        err->msg[0] = 0;
    g.m = ir_calloc(1, sizeof *g.m);
    g.slot = ir_malloc((size_t)(p->nbufs + 1) * sizeof *g.slot);
    int32_t maxexpr = 1;
    for (int32_t k = 0; k < p->nkernels; k++)
        if (p->kernels[k].nexpr > maxexpr)
            maxexpr = p->kernels[k].nexpr;
    g.ename = ir_calloc((size_t)maxexpr, sizeof *g.ename);
    if (!g.m || !g.slot || !g.ename) {
        ogen_fail(&g, "out of memory while generating OpenCL");
    } else {
        for (int32_t b = 0; b <= p->nbufs; b++)
            g.slot[b] = -1;
        /* f32 division and sqrt are correctly rounded on CPUs; ask GPUs for the same */
        snprintf(g.m->options, sizeof g.m->options, "-cl-std=CL1.2");
        for (int32_t k = 0; k < p->nkernels && !g.failed; k++) {
            g.k = &p->kernels[k];
            g.ki = k;
            ogen_reset(&g);
            ocl_gen_kernel(&g, k);
        }
        ogen_reset(&g);
    }
    ir_free(g.slot);
    ir_free(g.ename);
    if (g.failed) {
        ocl_module_free(g.m);
        return NULL;
    }
    return g.m;
}
