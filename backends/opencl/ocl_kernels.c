/* ocl_kernels.c — the row skeleton and the kernel kinds but GEMM (ocl_gemm.c).
 *
 * Like the LLVM backend, the unit of work is an output row (the output view's last axis);
 * a work-item computes `rows_per_item` consecutive rows:
 *
 *   rows = Π of the output dims but the last; first = get_global_id(0) · R
 *   for it in [first, min(first + R, rows)):
 *       (i_0 .. i_{r-2}) = it in mixed radix of the output dims
 *       row offsets of the output and of every input view indexed like it
 *       body:  ELEMENTWISE  for j: out = expr
 *              ROW          normalize: mean, Σ(x-mean)² (or Σx²), (x-mean)/√(var+eps);
 *                           softmax / log_softmax: max, Σexp(x-max), exp(x-max)/Σ or
 *                           x-max-log Σ; then the epilogue
 *              REDUCE       per output element nested loops over the reduced axes
 *              GATHER       per output element the index, checked (0 ≤ i < len, else the
 *                           error cell gets RT_ERR_INDEX and the plan kernel, and the
 *                           element 0), then the table element
 *              SEGMENT_REDUCE  per output element (s, ..) the rows t of x with seg[t] = s:
 *                           Σ, mean or max (NaN-propagating) in f32, 0 for none
 *
 * R is 1 on GPUs (one work-item per row) and on CPUs enough rows for ~4096 elements
 * (PoCL runs work-groups of one work-item fastest; each costs a dispatch).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

static const char *const idx_names[IR_MAX_RANK] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"};

int32_t ocl_row_factors(const View *out, OclFactor *f, int64_t per_item)
{
    /* one factor when the rows are a multiple of at most one symbol, else one per dim */
    Dim total = dim_const(1);
    bool single = true;
    for (int d = 0; d + 1 < out->rank && single; d++) {
        Dim x = out->dims[d];
        if (!dim_is_const(x) && !dim_is_const(total) && x.sym != total.sym)
            single = false;
        else if (!dim_is_const(x) && !dim_is_const(total))
            single = false; /* a square of a symbol */
        else {
            if (x.n != 0 && total.n > INT64_MAX / x.n)
                single = false;
            total = (Dim){total.n * x.n, dim_is_const(x) ? total.sym : x.sym};
        }
    }
    if (single) {
        f[0] = (OclFactor){total, per_item};
        return 1;
    }
    int32_t n = 0;
    for (int d = 0; d + 1 < out->rank; d++)
        f[n++] = (OclFactor){out->dims[d], 1};
    return n;
}

/* The row length's constant part (elements of a row per unit of its symbol). */
static int64_t row_len_hint(const View *out) { return out->rank > 0 ? (out->dims[out->rank - 1].n > 0 ? out->dims[out->rank - 1].n : 1) : 1; }

void ocl_rows(OGen *g, int64_t R, void (*body)(OGen *, const char *const *, const char *const *, const char *))
{
    const Kernel *k = g->k;
    int32_t r = k->out.rank;
    char rows[1024] = "1", d[64], next[1200];
    for (int i = 0; i + 1 < r; i++) {
        ocl_dim(k->out.dims[i], d, sizeof d);
        snprintf(next, sizeof next, "%s*%s", rows, d);
        snprintf(rows, sizeof rows, "%s", next);
    }
    ogen_line(g, "const long rows = %s;", rows);
    ogen_line(g, "const long first = (long)get_global_id(0) * %" PRId64 ";", R);
    ogen_line(g, "const long last = min(first + %" PRId64 ", rows);", R);
    ogen_line(g, "for (long it = first; it < last; it++) {");
    g->indent++;
    const char *idx[IR_MAX_RANK] = {0};
    if (r > 1)
        ogen_line(g, "long rem = it;");
    for (int i = r - 2; i >= 0; i--) {
        Dim dim = k->out.dims[i];
        idx[i] = idx_names[i];
        ocl_dim(dim, d, sizeof d);
        if (dim_is_const(dim) && dim.n == 1)
            ogen_line(g, "const long %s = 0;", idx[i]);
        else if (i == 0)
            ogen_line(g, "const long %s = rem;", idx[i]);
        else
            ogen_line(g, "const long %s = rem %% %s; rem /= %s;", idx[i], d, d);
    }
    if (r > 1)
        ogen_line(g, "(void)rem;");
    char **rowbase = ir_calloc((size_t)(k->nin ? k->nin : 1), sizeof *rowbase);
    char off[1200];
    if (!rowbase) {
        ogen_fail(g, "out of memory while generating OpenCL");
        return;
    }
    for (int32_t i = 0; i < k->nin; i++) {
        if (k->in[i].rank != r)
            continue;
        rowbase[i] = ir_malloc(16);
        if (!rowbase[i])
            continue;
        snprintf(rowbase[i], 16, "rb%d", i);
        ocl_view_offset(&k->in[i], idx, r > 0 ? r - 1 : 0, off, sizeof off);
        ogen_line(g, "const long %s = %s;", rowbase[i], off);
    }
    ocl_view_offset(&k->out, idx, r > 0 ? r - 1 : 0, off, sizeof off);
    ogen_line(g, "const long ob = %s;", off);
    body(g, idx, (const char *const *)rowbase, "ob");
    g->indent--;
    ogen_line(g, "}");
    for (int32_t i = 0; i < k->nin; i++)
        ir_free(rowbase[i]);
    ir_free(rowbase);
}

/* Opens `for (long j = 0; j < <last out dim>; j++) {` (rank 0: a block); sets idx[r-1]. */
static void open_row_loop(OGen *g, const char **idx)
{
    const Kernel *k = g->k;
    int32_t r = k->out.rank;
    char d[64];
    if (r > 0) {
        ocl_dim(k->out.dims[r - 1], d, sizeof d);
        ogen_line(g, "for (long j = 0; j < %s; j++) {", d);
        idx[r - 1] = "j";
    } else {
        ogen_line(g, "{");
    }
    g->indent++;
}

static void close_block(OGen *g)
{
    g->indent--;
    ogen_line(g, "}");
}

/* ---- ELEMENTWISE ---- */

static void body_elementwise(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const char *idx[IR_MAX_RANK];
    memcpy(idx, cidx, sizeof idx);
    open_row_loop(g, idx);
    OPoint pt = {idx, NULL, rowbase};
    ocl_store_result(g, &pt, outbase);
    close_block(g);
}

/* ---- ROW ---- */

/* Emits the epilogue of a primary result named `y` (f32) at the current j. */
static void epilogue(OGen *g, const char *const *idx, const char *const *rowbase, const char *outbase, const char *y,
                     bool isf)
{
    char acc[1400];
    ocl_convert(g, y, isf ? DT_F32 : DT_I64, ocl_acc_dtype(g->k), acc, sizeof acc);
    OPoint pt = {idx, acc, rowbase};
    ocl_store_result(g, &pt, outbase);
}

/* `float out` = the sum of the VW lanes of vector v, pairwise (a tree) */
static void lanes_sum(OGen *g, int VW, const char *v, const char *out)
{
    if (VW == 16)
        ogen_line(g, "const float8 %s_h = %s.lo + %s.hi;", v, v, v);
    else
        ogen_line(g, "const float8 %s_h = %s;", v, v);
    ogen_line(g, "const float4 %s_q = %s_h.lo + %s_h.hi;", v, v, v);
    ogen_line(g, "const float2 %s_d = %s_q.lo + %s_q.hi;", v, v, v);
    ogen_line(g, "const float %s = %s_d.x + %s_d.y;", out, v, v);
}

static void body_row(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const RowInfo *ri = &k->u.row;
    const View *in = &k->in[ri->in];
    int32_t r = k->out.rank;
    const char *idx[IR_MAX_RANK];
    memcpy(idx, cidx, sizeof idx);
    char len[64], off[1200], base[16];
    snprintf(base, sizeof base, "rb%d", ri->in);
    ocl_dim(in->dims[r - 1], len, sizeof len);
    ocl_step(base, "j", in->strides[r - 1], off, sizeof off);
    const char *x = "x";
#define FOLD(init, update)                                                                                             \
    do {                                                                                                               \
        ogen_line(g, "for (long j = 0; j < %s; j++) {", len);                                                          \
        g->indent++;                                                                                                   \
        ocl_load(g, in->buf, off, DT_F32, x);                                                                          \
        ogen_line(g, update);                                                                                          \
        g->indent--;                                                                                                   \
        ogen_line(g, "}");                                                                                             \
    } while (0)
    /* On CPU schedules, an f32 row of a constant length that the vector width divides, stored
       contiguously: normalize's sums in VW lanes, each lane in order, then the lanes
       pairwise (as the LLVM backend sums); PoCL does not vectorise an in-order float sum. */
    int VW = g->o->gemm_vec == 16 ? 16 : 8;
    int32_t slot = -1;
    if (ri->op == OP_NORMALIZE && !g->o->gpu && g->p->bufs[in->buf].dt == DT_F32 &&
        dim_is_const(in->strides[r - 1]) && in->strides[r - 1].n == 1 && dim_is_const(in->dims[r - 1]) &&
        in->dims[r - 1].n >= VW && in->dims[r - 1].n % VW == 0)
        slot = ogen_buffer(g, in->buf, false);
    if (ri->op == OP_NORMALIZE && slot >= 0) {
        char eps[48];
        ocl_float_literal((float)ri->eps, eps, sizeof eps);
        ogen_line(g, "const __global float *rowp = a%d + %s;", slot, base);
        ogen_line(g, "float%d vs = (float%d)(0.0f), vq = (float%d)(0.0f);", VW, VW, VW);
        if (ri->center) {
            ogen_line(g, "for (long j = 0; j < %s; j += %d)", len, VW);
            ogen_line(g, "    vs += vload%d(0, rowp + j);", VW);
            lanes_sum(g, VW, "vs", "sum");
            ogen_line(g, "const float c1 = sum / (float)%s;", len);
        } else {
            ogen_line(g, "const float c1 = 0.0f;");
        }
        ogen_line(g, "for (long j = 0; j < %s; j += %d) {", len, VW);
        ogen_line(g, "    const float%d d = vload%d(0, rowp + j) - (float%d)(c1);", VW, VW, VW);
        ogen_line(g, "    vq = fma(d, d, vq);");
        ogen_line(g, "}");
        lanes_sum(g, VW, "vq", "var");
        ogen_line(g, "const float c2 = 1.0f / sqrt(var / (float)%s + %s);", len, eps);
    } else if (ri->op == OP_NORMALIZE) {
        char eps[48];
        ocl_float_literal((float)ri->eps, eps, sizeof eps);
        if (ri->center) {
            ogen_line(g, "float sum = 0.0f;");
            FOLD(0, "sum += x;");
            ogen_line(g, "const float c1 = sum / (float)%s;", len);
            ogen_line(g, "float var = 0.0f;");
            FOLD(0, "var = fma(x - c1, x - c1, var);");
        } else {
            ogen_line(g, "const float c1 = 0.0f;");
            ogen_line(g, "float var = 0.0f;");
            FOLD(0, "var = fma(x, x, var);");
        }
        ogen_line(g, "const float c2 = 1.0f / sqrt(var / (float)%s + %s);", len, eps);
    } else if (ri->op == OP_SOFTMAX || ri->op == OP_LOG_SOFTMAX) {
        ogen_line(g, "float c1 = -INFINITY;");
        FOLD(0, "c1 = isnan(x) || isnan(c1) ? NAN : x > c1 ? x : c1;");
        ogen_line(g, "float c2 = 0.0f;");
        FOLD(0, "c2 += exp(x - c1);");
        if (ri->op == OP_LOG_SOFTMAX)
            ogen_line(g, "c2 = log(c2);");
    } else {
        ogen_fail(g, "kernel %d: the OpenCL backend has no row kernel for '%s'", g->ki, ir_ops[ri->op].name);
        return;
    }
#undef FOLD
    ogen_line(g, "for (long j = 0; j < %s; j++) {", len);
    g->indent++;
    idx[r - 1] = "j";
    ocl_load(g, in->buf, off, DT_F32, x);
    if (ri->op == OP_NORMALIZE)
        ogen_line(g, "const float y = (x - c1) * c2;");
    else if (ri->op == OP_SOFTMAX)
        ogen_line(g, "const float y = exp(x - c1) / c2;");
    else
        ogen_line(g, "const float y = (x - c1) - c2;");
    epilogue(g, idx, rowbase, outbase, "y", true);
    close_block(g);
}

/* ---- REDUCE ---- */

static void body_reduce(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const View *in = &k->in[k->u.reduce.in];
    Op op = k->u.reduce.op;
    int32_t r = k->out.rank;
    DType idt = g->p->bufs[in->buf].dt;
    bool isf = dtype_is_float(idt), sum = op == OP_REDUCE_SUM || op == OP_REDUCE_MEAN;
    const char *idx[IR_MAX_RANK + IR_MAX_RANK];
    static const char *const q[IR_MAX_RANK] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"};
    memcpy(idx, cidx, sizeof(const char *) * IR_MAX_RANK);
    open_row_loop(g, idx);
    if (isf)
        ogen_line(g, "float acc = %s;", sum ? "0.0f" : op == OP_REDUCE_MAX ? "-INFINITY" : "INFINITY");
    else if (sum)
        ogen_line(g, "long acc = 0;");
    else
        ogen_line(g, "long acc = %s;", op == OP_REDUCE_MAX ? (idt == DT_I32 ? "(long)INT_MIN" : "LONG_MIN")
                                                          : (idt == DT_I32 ? "(long)INT_MAX" : "LONG_MAX"));
    char d[64], off[1200];
    for (int i = r; i < in->rank; i++) {
        ocl_dim(in->dims[i], d, sizeof d);
        ogen_line(g, "for (long %s = 0; %s < %s; %s++) {", q[i - r], q[i - r], d, q[i - r]);
        g->indent++;
        idx[i] = q[i - r];
    }
    ocl_view_offset(in, idx, in->rank, off, sizeof off);
    ocl_load(g, in->buf, off, isf ? DT_F32 : DT_I64, "x");
    if (sum)
        ogen_line(g, isf ? "acc += x;" : "acc = as_long((ulong)acc + (ulong)x);");
    else if (isf)
        ogen_line(g, "acc = isnan(x) || isnan(acc) ? NAN : x %s acc ? x : acc;", op == OP_REDUCE_MAX ? ">" : "<");
    else
        ogen_line(g, "acc = x %s acc ? x : acc;", op == OP_REDUCE_MAX ? ">" : "<");
    for (int i = r; i < in->rank; i++)
        close_block(g);
    if (op == OP_REDUCE_MEAN) {
        char count[1024] = "1", next[1100];
        for (int i = r; i < in->rank; i++) {
            ocl_dim(in->dims[i], d, sizeof d);
            snprintf(next, sizeof next, "%s*%s", count, d);
            snprintf(count, sizeof count, "%s", next);
        }
        ogen_line(g, "const long count = %s;", count);
        if (isf) {
            ogen_line(g, "acc = acc / (float)count;");
        } else {
            /* the sum wraps to the dtype first; the mean of nothing is 0 */
            if (idt == DT_I32)
                ogen_line(g, "acc = (long)as_int((uint)(ulong)acc);");
            ogen_line(g, "acc = count == 0 ? 0 : acc / count;");
        }
    }
    epilogue(g, idx, rowbase, outbase, "acc", isf);
    close_block(g);
}

/* ---- GATHER ---- */

static void body_gather(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const GatherInfo *ga = &k->u.gather;
    const View *tv = &k->in[ga->in], *iv = &k->in[ga->idx];
    int32_t ax = ga->axis, ri = iv->rank;
    DType adt = ocl_acc_dtype(k);
    const char *idx[IR_MAX_RANK];
    memcpy(idx, cidx, sizeof idx);
    open_row_loop(g, idx);
    char off[1200], len[64];
    ocl_view_offset(iv, idx + ax, ri, off, sizeof off);
    ocl_load(g, iv->buf, off, DT_I64, "at");
    ocl_dim(tv->dims[ax], len, sizeof len);
    ogen_line(g, "%s v = 0;", ocl_value_type(adt));
    ogen_line(g, "if ((ulong)at < (ulong)%s) {", len);
    g->indent++;
    const char *ti[IR_MAX_RANK];
    for (int d = 0; d < tv->rank; d++)
        ti[d] = d < ax ? idx[d] : d == ax ? "at" : idx[d - 1 + ri];
    ocl_view_offset(tv, ti, tv->rank, off, sizeof off);
    ocl_load(g, tv->buf, off, adt, "tv");
    ogen_line(g, "v = tv;");
    g->indent--;
    ogen_line(g, "} else if (atomic_cmpxchg(err, 0, %d) == 0) {", RT_ERR_INDEX);
    ogen_line(g, "    err[1] = (int)kid;");
    ogen_line(g, "}");
    OPoint pt = {idx, "v", rowbase};
    ocl_store_result(g, &pt, outbase);
    close_block(g);
}

/* ---- SEGMENT_REDUCE ---- */

/* Output row (s, i_1, ..): per element j the rows t of x [T, ...] with seg[t] = s, summed
 * (or maxed) in f32 in order of t; the mean divides by their count; 0 when there is none
 * (semantics: ir/infer_segment.c). */
static void body_segment_reduce(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const SegReduceInfo *si = &k->u.segred;
    const View *x = &k->in[si->x], *sv = &k->in[si->seg];
    const char *idx[IR_MAX_RANK];
    memcpy(idx, cidx, sizeof idx);
    open_row_loop(g, idx);
    char d[64], off[1200];
    bool mx = si->reduce == SEGRED_MAX;
    ogen_line(g, "float acc = %s;", mx ? "-INFINITY" : "0.0f");
    ogen_line(g, "long count = 0;");
    ocl_dim(x->dims[0], d, sizeof d);
    ogen_line(g, "for (long t = 0; t < %s; t++) {", d);
    g->indent++;
    const char *t[1] = {"t"};
    ocl_view_offset(sv, t, 1, off, sizeof off);
    ocl_load(g, sv->buf, off, DT_I64, "st");
    ogen_line(g, "if (st != %s)", k->out.rank > 1 ? idx[0] : "0");
    ogen_line(g, "    continue;");
    ogen_line(g, "count++;");
    const char *xi[IR_MAX_RANK];
    memcpy(xi, idx, sizeof xi);
    xi[0] = "t";
    ocl_view_offset(x, xi, x->rank, off, sizeof off);
    ocl_load(g, x->buf, off, DT_F32, "v");
    ogen_line(g, mx ? "acc = isnan(v) || isnan(acc) ? NAN : v > acc ? v : acc;" : "acc += v;");
    close_block(g);
    ogen_line(g, "const float y = count == 0 ? 0.0f : %s;", si->reduce == SEGRED_MEAN ? "acc / (float)count" : "acc");
    epilogue(g, idx, rowbase, outbase, "y", true);
    close_block(g);
}

/* ---- kernels ---- */

/* The plan's own check of the kernel (plan_kernel_check). */
static bool kernel_valid(OGen *g, int32_t ki)
{
    char msg[256];
    if (!plan_kernel_check(g->p, ki, msg, sizeof msg))
        return ogen_fail(g, "internal error: %s", msg);
    return true;
}


bool ocl_gen_kernel(OGen *g, int32_t ki)
{
    const Kernel *k = &g->p->kernels[ki];
    if (!kernel_valid(g, ki))
        return false;
    if (k->kind == KK_GEMM)
        return ocl_gen_gemm(g);
    if (k->kind == KK_ATTENTION)
        return ocl_gen_attention(g);
    void (*body)(OGen *, const char *const *, const char *const *, const char *) = NULL;
    switch (k->kind) {
    case KK_ELEMENTWISE: body = body_elementwise; break;
    case KK_ROW: body = body_row; break;
    case KK_REDUCE: body = body_reduce; break;
    case KK_GATHER: body = body_gather; break;
    case KK_MOE_ROUTE: body = ocl_body_moe_route; break;
    case KK_MOE_COMBINE: body = ocl_body_moe_combine; break;
    case KK_SEGMENT_REDUCE: body = body_segment_reduce; break;
    default: return ogen_fail(g, "kernel %d: the OpenCL backend has no code for kernel kind %d", ki, (int)k->kind);
    }
    int64_t R = 1;
    if (!g->o->gpu) {
        int64_t work = row_len_hint(&k->out);
        if (k->kind == KK_REDUCE)
            for (int i = k->out.rank; i < k->in[k->u.reduce.in].rank; i++)
                work *= k->in[k->u.reduce.in].dims[i].n > 0 ? k->in[k->u.reduce.in].dims[i].n : 1;
        if (k->kind == KK_SEGMENT_REDUCE) /* every output element reads every row t */
            work *= k->in[k->u.segred.x].dims[0].n > 0 ? k->in[k->u.segred.x].dims[0].n : 1;
        R = work >= 4096 ? 1 : 4096 / work;
    }
    OclFactor f[IR_MAX_RANK + 2];
    int32_t nf = ocl_row_factors(&k->out, f, R);
    if (nf != 1 || f[0].div != R)
        R = 1, nf = ocl_row_factors(&k->out, f, 1);
    for (int32_t i = 0; i < nf; i++)
        f[i].div = i + 1 == nf ? R : 1;
    ocl_rows(g, R, body);
    if (k->kind == KK_GATHER || k->kind == KK_MOE_COMBINE) {
        g->args[g->nargs++] = (OclArg){RT_OCL_ARG_ERR, 0};
        g->args[g->nargs++] = (OclArg){RT_OCL_ARG_KERNEL, 0};
    }
    return ogen_finish(g, plan_kind_name(k->kind), k->kind, k->once, false, f, nf, g->o->gpu ? 0 : 1) >= 0;
}
