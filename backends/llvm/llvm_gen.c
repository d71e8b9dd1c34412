/* llvm_gen.c — the module of a plan: one function per kernel and its extent, the tables.
 *
 * Every kernel, whatever its kind, has the same skeleton (runtime/rt_plan.h's ABI):
 *
 *   void vk<i>(char *const *bufs, const int64_t *syms, int64_t begin, int64_t end)
 *     load the symbols and the base pointers of the buffers it touches
 *     for it in [begin, end):                 one row of the output view
 *       (idx_0 .. idx_{r-2}) = it in mixed radix of the output's leading dims
 *       row offsets of the output and of every input view indexed like it
 *       the kind's row body (llvm_kernels.c): for j along the last output dim, compute
 *       the primary result (GEMM sum, normalised value, reduction, gathered element),
 *       evaluate the expression, store
 *   int64_t vx<i>(const int64_t *syms)       the number of rows: Π of the output's dims
 *                                            but the last (1 for rank 0 and 1)
 *
 * Buffers never overlap (the runtime's memory plan gives every buffer live at one kernel
 * its own memory), so each buffer is an alias scope and every access says it aliases no
 * other buffer's accesses: LLVM then vectorises the inner loops without runtime checks.
 */
#include <stdarg.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "llvm_internal.h"

bool gen_fail(Gen *g, const char *fmt, ...)
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

LLVMValueRef gen_i64(Gen *g, int64_t v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, 1); }

LLVMValueRef gen_alloca(Gen *g, LLVMTypeRef t, const char *name)
{
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(g->ctx);
    LLVMPositionBuilderAtEnd(eb, g->entry);
    LLVMValueRef a = LLVMBuildAlloca(eb, t, name);
    LLVMDisposeBuilder(eb);
    return a;
}

LLVMValueRef gen_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMValueRef *args, unsigned n)
{
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    if (!fn) {
        LLVMTypeRef params[4];
        for (unsigned i = 0; i < n && i < 4; i++)
            params[i] = LLVMTypeOf(args[i]);
        fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(ret, params, n, 0));
        /* libm's float functions as clang sees them without errno: pure */
        const char *attrs[] = {"nounwind", "readnone", "willreturn"};
        for (int i = 0; i < 3; i++) {
            unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
            LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, kind, 0));
        }
    }
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

/* ---- metadata ---- */

/* A node whose first operand is itself (distinct): loop ids, alias domains and scopes. */
static LLVMMetadataRef self_node(Gen *g, LLVMMetadataRef *ops, size_t n)
{
    LLVMMetadataRef all[4];
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->ctx, NULL, 0);
    all[0] = tmp;
    for (size_t i = 0; i < n && i < 3; i++)
        all[i + 1] = ops[i];
    LLVMMetadataRef node = LLVMMDNodeInContext2(g->ctx, all, n + 1);
    LLVMMetadataReplaceAllUsesWith(tmp, node);
    return node;
}

static LLVMMetadataRef md_string(Gen *g, const char *s) { return LLVMMDStringInContext2(g->ctx, s, strlen(s)); }

void gen_alias(Gen *g, LLVMValueRef inst, int32_t buf)
{
    if (g->scope_list[buf])
        LLVMSetMetadata(inst, g->md_scope, LLVMMetadataAsValue(g->ctx, g->scope_list[buf]));
    if (g->noalias_list[buf])
        LLVMSetMetadata(inst, g->md_noalias, LLVMMetadataAsValue(g->ctx, g->noalias_list[buf]));
}

/* The scope lists of this kernel: each touched buffer's own scope, and the others'. */
static bool kernel_scopes(Gen *g, const bool *touched)
{
    int32_t nb = g->p->nbufs + 1;
    LLVMMetadataRef *others = ir_malloc((size_t)nb * sizeof *others);
    if (!others)
        return gen_fail(g, "out of memory while generating code");
    for (int32_t b = 0; b < nb; b++)
        g->scope_list[b] = g->noalias_list[b] = NULL;
    for (int32_t b = 0; b < nb; b++) {
        if (!touched[b])
            continue;
        g->scope_list[b] = LLVMMDNodeInContext2(g->ctx, &g->scope[b], 1);
        size_t n = 0;
        for (int32_t o = 0; o < nb; o++)
            if (touched[o] && o != b)
                others[n++] = g->scope[o];
        g->noalias_list[b] = n ? LLVMMDNodeInContext2(g->ctx, others, n) : NULL;
    }
    ir_free(others);
    return true;
}

/* ---- loops ---- */

void gen_loop_begin(Gen *g, GenLoop *l, LLVMValueRef start, LLVMValueRef end, const char *name)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    l->header = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "done");
    LLVMBuildBr(g->b, l->header);
    LLVMPositionBuilderAtEnd(g->b, l->header);
    l->phi = LLVMBuildPhi(g->b, g->t_i64, name);
    LLVMAddIncoming(l->phi, &start, &pre, 1);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, l->phi, end, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(g->b, body);
    l->iv = l->phi;
    l->end = end;
}

void gen_loop_end(Gen *g, GenLoop *l, int flags)
{
    LLVMValueRef next = LLVMBuildNSWAdd(g->b, l->iv, gen_i64(g, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    LLVMValueRef br = LLVMBuildBr(g->b, l->header);
    if (flags & LOOP_VECTORIZE) {
        LLVMMetadataRef prop[2] = {md_string(g, "llvm.loop.vectorize.enable"),
                                   LLVMValueAsMetadata(LLVMConstInt(g->t_i1, 1, 0))};
        LLVMMetadataRef p = LLVMMDNodeInContext2(g->ctx, prop, 2);
        LLVMSetMetadata(br, g->md_loop, LLVMMetadataAsValue(g->ctx, self_node(g, &p, 1)));
    }
    LLVMAddIncoming(l->phi, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(g->b, l->exit);
}

/* ---- kernels ---- */

static LLVMValueRef new_function(Gen *g, const char *name, LLVMTypeRef ty)
{
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, ty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, kind, 0));
    if (g->tgt.wide512) { /* zmm for the vectors the kernels build (LLVM prefers ymm on these CPUs) */
        const char *attrs[2] = {"prefer-vector-width", "min-legal-vector-width"};
        for (int i = 0; i < 2; i++)
            LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                    LLVMCreateStringAttribute(g->ctx, attrs[i], (unsigned)strlen(attrs[i]), "512", 3));
    }
    return fn;
}

static void load_symbols(Gen *g, LLVMValueRef syms)
{
    for (int32_t s = 0; s < g->p->g->nsyms; s++) {
        LLVMValueRef i = gen_i64(g, s);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(g->b, g->t_i64, syms, &i, 1, "");
        g->symv[s] = LLVMBuildLoad2(g->b, g->t_i64, ptr, "");
    }
}

/* ELEMENTWISE rows shorter than this many elements take the dims before them (below). */
enum { SHORT_ROW = 64, MAX_FLAT_INS = 64 };

/* Whether every view of k steps over dim d as over dims[d + 1] elements of dim d + 1 (both
 * strides 0 included): d and d + 1 can be one dim. */
static bool contiguous_pair(const Kernel *k, int d)
{
    for (int32_t i = -1; i < k->nin; i++) {
        const View *v = i < 0 ? &k->out : &k->in[i];
        Dim want;
        if (v->rank != k->out.rank || !dim_mul(v->strides[d + 1], v->dims[d + 1], &want) ||
            !dim_eq(want, v->strides[d]))
            return false;
    }
    for (int32_t e = 0; e < k->nexpr; e++)
        if (k->expr[e].kind == EX_INDEX && k->expr[e].a >= d)
            return false;
    return true;
}

/* An ELEMENTWISE kernel whose rows are short (a constant under SHORT_ROW elements) with
 * its last dim merged into the dims before it, while every view is contiguous across them
 * and no index expression reads them: the patch embedding's copy [B,14,14,16,16,3] becomes
 * rows of 16·3 floats, 3 vectors, instead of 50176 scalar rows of 3 per image (0.30 → 0.13
 * ms a run of ViT-Ti/16 on 1 thread). The rows stay many (the threads split them). *flat gets the
 * kernel, its views in ins[] (at most MAX_FLAT_INS); false: k as it is. */
static bool coalesce_rows(const Kernel *k, Kernel *flat, View *ins)
{
    int r = k->out.rank, lo = r - 1;
    if (k->kind != KK_ELEMENTWISE || k->nin > MAX_FLAT_INS || r < 2)
        return false;
    Dim len = k->out.dims[r - 1];
    while (lo > 0 && dim_is_const(len) && len.n < SHORT_ROW && contiguous_pair(k, lo - 1) &&
           dim_mul(k->out.dims[lo - 1], len, &len))
        lo--;
    if (lo == r - 1)
        return false;
    *flat = *k;
    for (int32_t i = -1; i < k->nin; i++) {
        View *w = i < 0 ? &flat->out : &ins[i];
        *w = i < 0 ? k->out : k->in[i];
        w->dims[lo] = len;
        w->strides[lo] = w->strides[r - 1];
        w->rank = lo + 1;
    }
    flat->in = ins;
    return true;
}

/* The row count of kernel k: Π of its output's dims but the last (coalesce_rows' dims). */
static LLVMValueRef rows(Gen *g, const Kernel *k)
{
    if (k->kind == KK_ATTENTION) /* batch × query tiles (llvm_attention.c) */
        return gen_attention_extent(g, k);
    Kernel flat;
    View ins[MAX_FLAT_INS];
    if (coalesce_rows(k, &flat, ins))
        k = &flat;
    LLVMValueRef n = gen_i64(g, 1);
    for (int d = 0; d + 1 < k->out.rank; d++)
        n = LLVMBuildNSWMul(g->b, n, gen_dim(g, k->out.dims[d]), "");
    return n;
}

static LLVMValueRef gen_extent(Gen *g, int32_t ki)
{
    char name[32];
    snprintf(name, sizeof name, "vx%d", ki);
    LLVMTypeRef ty = LLVMFunctionType(g->t_i64, &g->t_ptr, 1, 0);
    g->fn = new_function(g, name, ty);
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    load_symbols(g, LLVMGetParam(g->fn, 0));
    g->k = &g->p->kernels[ki];
    LLVMBuildRet(g->b, g->k->kind == KK_GEMM && gen_gemm_tiled(g, g->k) ? gen_gemm_extent(g) : rows(g, g->k));
    return g->fn;
}

/* The plan's own check of the kernel (plan_kernel_check), then what this backend's attention
 * code needs of its schedule. */
static bool kernel_valid(Gen *g, const Kernel *k)
{
    char msg[256];
    if (!plan_kernel_check(g->p, g->ki, msg, sizeof msg))
        return gen_fail(g, "internal error: %s", msg);
    return k->kind != KK_ATTENTION || gen_attention_valid(g, k);
}

LLVMValueRef gen_kernel(Gen *g, int32_t ki)
{
    const Plan *p = g->p;
    const Kernel *k = &p->kernels[ki];
    char name[32];
    g->k = k;
    g->ki = ki;
    if (!kernel_valid(g, k))
        return NULL;
    snprintf(name, sizeof name, g->slot ? "vb%d" : "vk%d", ki); /* a body shared by kernels (llvm_share.c) */
    LLVMTypeRef params[4] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i64};
    g->fn = new_function(g, name, LLVMFunctionType(g->t_void, params, 4, 0));
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry");
    LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "start");
    LLVMPositionBuilderAtEnd(g->b, start);
    LLVMValueRef bufs = LLVMGetParam(g->fn, 0);
    load_symbols(g, LLVMGetParam(g->fn, 1));

    /* base pointers and alias scopes of the buffers it touches (+ the error cell) */
    bool *touched = ir_calloc((size_t)p->nbufs + 1, sizeof *touched);
    if (!touched) {
        gen_fail(g, "out of memory while generating code");
        return NULL;
    }
    touched[k->out.buf] = true;
    for (int32_t i = 0; i < k->nin; i++)
        touched[k->in[i].buf] = true;
    touched[p->nbufs] = k->kind == KK_GATHER || k->kind == KK_MOE_COMBINE;
    for (int32_t b = 0; b <= p->nbufs; b++) {
        g->bufp[b] = NULL;
        if (!touched[b])
            continue;
        LLVMValueRef i = gen_i64(g, g->slot ? g->slot[b] : b);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(g->b, g->t_ptr, bufs, &i, 1, "");
        g->bufp[b] = LLVMBuildLoad2(g->b, g->t_ptr, ptr, "");
    }
    bool ok = kernel_scopes(g, touched);
    ir_free(touched);
    if (!ok)
        return NULL;
    if (k->kind == KK_GEMM && gen_gemm_tiled(g, k)) { /* its own loop, over tiles */
        gen_gemm_kernel(g);
        LLVMBuildRetVoid(g->b);
        LLVMPositionBuilderAtEnd(g->b, g->entry);
        LLVMBuildBr(g->b, start);
        return g->failed ? NULL : g->fn;
    }
    if (k->kind == KK_ATTENTION) { /* its own iterations (llvm_attention.c) */
        gen_attention(g);
        LLVMBuildRetVoid(g->b);
        LLVMPositionBuilderAtEnd(g->b, g->entry);
        LLVMBuildBr(g->b, start);
        return g->failed ? NULL : g->fn;
    }

    /* the rows [begin, end) */
    Kernel flat;
    View ins[MAX_FLAT_INS];
    if (coalesce_rows(k, &flat, ins))
        g->k = k = &flat;
    int32_t r = k->out.rank;
    GenLoop it;
    gen_loop_begin(g, &it, LLVMGetParam(g->fn, 2), LLVMGetParam(g->fn, 3), "row");
    LLVMValueRef idx[IR_MAX_RANK] = {0}, rem = it.iv;
    for (int d = r - 2; d >= 0; d--) {
        Dim dim = k->out.dims[d];
        if (dim_is_const(dim) && dim.n == 1) {
            idx[d] = gen_i64(g, 0);
        } else if (d == 0) {
            idx[d] = rem;
        } else {
            LLVMValueRef n = gen_dim(g, dim);
            idx[d] = LLVMBuildURem(g->b, rem, n, "");
            rem = LLVMBuildUDiv(g->b, rem, n, "");
        }
    }
    LLVMValueRef *rowbase = ir_calloc((size_t)(k->nin ? k->nin : 1), sizeof *rowbase);
    if (!rowbase) {
        gen_fail(g, "out of memory while generating code");
        return NULL;
    }
    gen_row_bases(g, idx, rowbase);
    LLVMValueRef outbase = gen_view_base(g, &k->out, idx, r > 0 ? r - 1 : 0);
    switch (k->kind) {
    case KK_ELEMENTWISE: gen_row_elementwise(g, idx, rowbase, outbase); break;
    case KK_GEMM: gen_row_gemm(g, idx, rowbase, outbase); break;
    case KK_ROW: gen_row_norm(g, idx, rowbase, outbase); break;
    case KK_REDUCE: gen_row_reduce(g, idx, rowbase, outbase); break;
    case KK_GATHER: gen_row_gather(g, idx, rowbase, outbase); break;
    case KK_MOE_ROUTE: gen_row_moe_route(g, idx, rowbase, outbase); break;
    case KK_MOE_COMBINE: gen_row_moe_combine(g, idx, rowbase, outbase); break;
    case KK_SEGMENT_REDUCE: gen_row_segment_reduce(g, idx, rowbase, outbase); break;
    default: break;
    }
    ir_free(rowbase);
    gen_loop_end(g, &it, LOOP_PLAIN);
    g->k = &p->kernels[ki]; /* (not flat, which ends here) */
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    LLVMBuildBr(g->b, start);
    return g->failed ? NULL : g->fn;
}

/* A constant global array of pointers named `name`. */
static void pointer_table(Gen *g, const char *name, LLVMValueRef *fns, int32_t n)
{
    LLVMTypeRef ty = LLVMArrayType(g->t_ptr, (unsigned)n);
    LLVMValueRef t = LLVMAddGlobal(g->mod, ty, name);
    LLVMSetInitializer(t, LLVMConstArray(g->t_ptr, fns, (unsigned)n));
    LLVMSetGlobalConstant(t, 1);
    LLVMSetLinkage(t, LLVMExternalLinkage);
}

bool gen_module(LLVMContextRef ctx, LLVMModuleRef mod, const Plan *p, const GenTarget *t, IrError *err)
{
    Gen g = {.ctx = ctx, .mod = mod, .p = p, .err = err, .tgt = *t, .share = gen_share_new()};
    g.b = LLVMCreateBuilderInContext(ctx);
    g.t_void = LLVMVoidTypeInContext(ctx);
    g.t_i1 = LLVMInt1TypeInContext(ctx);
    g.t_i8 = LLVMInt8TypeInContext(ctx);
    g.t_i16 = LLVMInt16TypeInContext(ctx);
    g.t_i32 = LLVMInt32TypeInContext(ctx);
    g.t_i64 = LLVMInt64TypeInContext(ctx);
    g.t_f32 = LLVMFloatTypeInContext(ctx);
    g.t_f64 = LLVMDoubleTypeInContext(ctx);
    g.t_ptr = LLVMPointerType(g.t_i8, 0);
    g.md_scope = LLVMGetMDKindIDInContext(ctx, "alias.scope", 11);
    g.md_noalias = LLVMGetMDKindIDInContext(ctx, "noalias", 7);
    g.md_loop = LLVMGetMDKindIDInContext(ctx, "llvm.loop", 9);

    size_t nb = (size_t)p->nbufs + 1, nk = (size_t)(p->nkernels ? p->nkernels : 1);
    g.scope = ir_calloc(nb, sizeof *g.scope);
    g.scope_list = ir_calloc(nb, sizeof *g.scope_list);
    g.noalias_list = ir_calloc(nb, sizeof *g.noalias_list);
    g.bufp = ir_calloc(nb, sizeof *g.bufp);
    g.symv = ir_calloc((size_t)(p->g->nsyms ? p->g->nsyms : 1), sizeof *g.symv);
    LLVMValueRef *kfns = ir_calloc(nk, sizeof *kfns), *xfns = ir_calloc(nk, sizeof *xfns);
    if (!g.scope || !g.scope_list || !g.noalias_list || !g.bufp || !g.symv || !kfns || !xfns) {
        gen_fail(&g, "out of memory while generating code");
        goto out;
    }
    LLVMMetadataRef dname = md_string(&g, "vitc.buffers");
    g.domain = self_node(&g, &dname, 1);
    for (size_t b = 0; b < nb; b++) {
        char name[32];
        snprintf(name, sizeof name, b + 1 == nb ? "error cell" : "b%zu", b);
        LLVMMetadataRef ops[2] = {g.domain, md_string(&g, name)};
        g.scope[b] = self_node(&g, ops, 2);
    }
    for (int32_t i = 0; i < p->nkernels && !g.failed; i++) {
        kfns[i] = gen_kernel_shared(&g, i);
        if (kfns[i])
            xfns[i] = gen_extent(&g, i);
    }
    if (!g.failed) {
        pointer_table(&g, "vit__kernels", kfns, p->nkernels);
        pointer_table(&g, "vit__extents", xfns, p->nkernels);
    }
out:
    ir_free(g.scope);
    ir_free(g.scope_list);
    ir_free(g.noalias_list);
    ir_free(g.bufp);
    ir_free(g.symv);
    ir_free(kfns);
    ir_free(xfns);
    gen_share_free(g.share);
    LLVMDisposeBuilder(g.b);
    return !g.failed;
}
