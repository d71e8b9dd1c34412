/* ocl_gemm.c — GEMM kernels: out[b,m,n] = epi(Σk A[b,m,k]·B[b,k,n]).
 *
 * Floats (PERF_NOTES "OpenCL on PoCL": the style PoCL compiles to FMA loops that keep their
 * accumulators in registers):
 *
 *   pack   B is copied into panels [batch][ceil(N/NR)][K][NR] of f32, zero-padded past N
 *          (NR = 16, or 32 on devices with 12 × 32 blocks: ocl_build.c), by a packing
 *          kernel (one work-item per panel). When B reads only parameters,
 *          constants or folded buffers and does not vary along the batch, the panels are
 *          packed once, at open, into a buffer kept for the model's life (RT_OCL_PERSIST);
 *          otherwise before every use, into a scratch buffer the GEMMs share.
 *   block  one work-item per MR × NR block of the output: MR·NR/VW accumulators of type
 *          floatVW in named variables, `fma()` per k with one broadcast A element and
 *          NR/VW panel vectors (vloadVW), A rows clamped to M-1 (their results are not
 *          stored); then the accumulators are stored to a private array and the epilogue
 *          runs per element inside the bounds. Work-item ids run along m fastest
 *          (consecutive blocks share their B panel, in cache), then n, then the batch.
 *   plan   panels the plan made (GemmInfo.pack_nr = NR: plan_pack's once-kernels and
 *          folded buffer) are read in place; panels of another width are repacked once.
 *
 * Integers (and anything the blocked kernel does not cover): one output row per
 * work-item, a dot product over k per element, accumulated in i64 (f32 for floats).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

/* The panel width (columns of a register block): 16, or 32 with gemm_nr. */
#define NR panel_width(g)
static int panel_width(const OGen *g) { return g->o->gemm_nr == 32 ? 32 : OCL_PANEL_COLUMNS; }

static const char *const idx_names[IR_MAX_RANK] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"};

/* Emits the batch indices i0 .. i{nb-1} from `rem` (mixed radix over the out dims). */
static void batch_indices(OGen *g, const View *out, int nb, const char **idx)
{
    char d[64];
    for (int i = nb - 1; i >= 0; i--) {
        Dim dim = out->dims[i];
        idx[i] = idx_names[i];
        ocl_dim(dim, d, sizeof d);
        if (dim_is_const(dim) && dim.n == 1)
            ogen_line(g, "const long %s = 0;", idx[i]);
        else if (i == 0)
            ogen_line(g, "const long %s = rem;", idx[i]);
        else
            ogen_line(g, "const long %s = rem %% %s; rem /= %s;", idx[i], d, d);
    }
}

/* The product of the batch dims as one Dim; false when it is not a multiple of at most
 * one symbol. */
static bool batch_dim(const View *out, int nb, Dim *res)
{
    Dim t = dim_const(1);
    for (int i = 0; i < nb; i++) {
        Dim x = out->dims[i];
        if (!dim_is_const(x) && !dim_is_const(t))
            return false;
        if (x.n != 0 && t.n > INT64_MAX / 64 / x.n)
            return false;
        t = (Dim){t.n * x.n, dim_is_const(x) ? t.sym : x.sym};
    }
    *res = t;
    return true;
}

static int64_t at_max(const Plan *p, Dim d) { return dim_is_const(d) ? d.n : d.n * p->g->syms[d.sym].max; }

/* Whether B can be packed once at open: it reads constant data and not along the batch. */
static bool pack_once(const Plan *p, const View *B, int nb)
{
    BufKind bk = p->bufs[B->buf].kind;
    if (bk != BUF_PARAM && bk != BUF_CONST && bk != BUF_FOLDED)
        return false;
    for (int i = 0; i < nb; i++)
        if (B->strides[i].n != 0 && !(dim_is_const(B->dims[i]) && B->dims[i].n == 1))
            return false;
    return true;
}

/* The extra buffer the panels go to: its own for a once-pack, else the shared scratch of
 * this size's symbol (grown to the largest user). -1 on failure. */
static int32_t panel_buffer(OGen *g, bool once, Dim batch, Dim N, Dim K)
{
    const Plan *p = g->p;
    int64_t per = at_max(p, K) * ((at_max(p, N) + NR - 1) / NR) * NR; /* per batch element */
    Dim size;
    if (dim_is_const(N) && dim_is_const(K))
        size = (Dim){batch.n * per, batch.sym};
    else
        size = dim_const(at_max(p, batch) * per);
    if (once)
        return ogen_xbuf(g, RT_OCL_PERSIST, DT_F32, size);
    OclModule *m = g->m;
    for (int32_t x = 0; x < m->nxbufs; x++)
        if (m->xbufs[x].kind == RT_OCL_SCRATCH && m->xbufs[x].size.sym == size.sym) {
            if (m->xbufs[x].size.n < size.n)
                m->xbufs[x].size.n = size.n;
            return x;
        }
    return ogen_xbuf(g, RT_OCL_SCRATCH, DT_F32, size);
}

/* The offset of B[batch idx..., k, n] as C text: B's own view, or the plan's panels
 * (GemmInfo.pack_nr = nr: B[..., k, n] = in[b][n / nr, k, n mod nr], or per batch index
 * in[b][idx..., n / nr, k, n mod nr] when the view has the batch dims too). */
static void b_offset(const Kernel *k, const char *const *idx, int nb, const char *kk, const char *n, char *buf,
                     size_t len)
{
    const GemmInfo *gi = &k->u.gemm;
    const View *B = &k->in[gi->b];
    if (gi->pack_nr > 0) {
        char p[64], r[64];
        snprintf(p, sizeof p, "(%s / %d)", n, gi->pack_nr);
        snprintf(r, sizeof r, "(%s %% %d)", n, gi->pack_nr);
        const char *pi[IR_MAX_RANK + 1];
        int np = 0;
        for (int i = 0; i < nb && B->rank > 3; i++)
            pi[np++] = idx[i];
        pi[np++] = p, pi[np++] = kk, pi[np++] = r;
        ocl_view_offset(B, pi, np, buf, len);
        return;
    }
    const char *bi[IR_MAX_RANK];
    for (int i = 0; i < nb; i++)
        bi[i] = idx[i];
    bi[nb] = kk;
    bi[nb + 1] = n;
    ocl_view_offset(B, bi, nb + 2, buf, len);
}

/* The packing kernel of B into extra buffer x, and its launch. */
static bool gen_pack(OGen *g, int32_t x, bool once, int nb)
{
    const Kernel *k = g->k;
    const GemmInfo *gi = &k->u.gemm;
    const View *B = &k->in[gi->b], *out = &k->out;
    char N[64], K[64], off[1200];
    ocl_dim(gi->n, N, sizeof N);
    ocl_dim(gi->k, K, sizeof K);
    int32_t px = ogen_xarg(g, x, true);
    if (px < 0)
        return false;
    ogen_line(g, "const long N = %s, K = %s, TN = (N + %d) / %d;", N, K, NR - 1, NR);
    ogen_line(g, "const long gid = get_global_id(0);");
    ogen_line(g, "const long pn = gid %% TN;");
    ogen_line(g, "long rem = gid / TN;");
    const char *idx[IR_MAX_RANK] = {0};
    if (!once)
        batch_indices(g, out, nb, idx);
    ogen_line(g, "(void)rem;");
    ogen_line(g, "__global float *dst = a%d + gid * K * %d;", px, NR);
    ogen_line(g, "for (long kk = 0; kk < K; kk++) {");
    g->indent++;
    ogen_line(g, "for (int jj = 0; jj < %d; jj++) {", NR);
    g->indent++;
    ogen_line(g, "const long n = pn * %d + jj;", NR);
    ogen_line(g, "float v = 0.0f;");
    ogen_line(g, "if (n < N) {");
    g->indent++;
    b_offset(k, idx, nb, "kk", "n", off, sizeof off);
    ocl_load(g, B->buf, off, DT_F32, "b");
    ogen_line(g, "v = b;");
    g->indent--;
    ogen_line(g, "}");
    ogen_line(g, "dst[kk * %d + jj] = v;", NR);
    g->indent--;
    ogen_line(g, "}");
    g->indent--;
    ogen_line(g, "}");
    OclFactor f[IR_MAX_RANK + 2];
    int32_t nf = 0;
    for (int i = 0; i < nb && !once; i++)
        f[nf++] = (OclFactor){out->dims[i], 1};
    f[nf++] = (OclFactor){gi->n, NR};
    return ogen_finish(g, "pack", -1, once || k->once, true, f, nf, g->o->gpu ? 0 : 1) >= 0;
}

/* The register-blocked kernel over the panels: extra buffer x of ours ([batch][TN][K][NR],
 * one panel set for the whole batch when `once`), or with x < 0 the plan's own (pack_nr =
 * NR: in[b], read through its view as b_offset reads it, per batch index or shared). */
static bool gen_block(OGen *g, int32_t x, bool once, int nb)
{
    const Kernel *k = g->k;
    const GemmInfo *gi = &k->u.gemm;
    const View *A = &k->in[gi->a], *out = &k->out;
    int32_t r = out->rank;
    int MR = g->o->gemm_mr > 0 && g->o->gemm_mr <= 16 ? g->o->gemm_mr : 6;
    int VW = g->o->gemm_vec == 16 ? 16 : 8, NV = NR / VW;
    char M[64], N[64], K[64], off[1200], t[1300];
    ocl_dim(gi->m, M, sizeof M);
    ocl_dim(gi->n, N, sizeof N);
    ocl_dim(gi->k, K, sizeof K);
    int32_t px = x < 0 ? ogen_buffer(g, k->in[gi->b].buf, false) : ogen_xarg(g, x, false);
    if (px < 0)
        return false;
    ogen_line(g, "const long M = %s, N = %s, K = %s;", M, N, K);
    ogen_line(g, "const long TM = (M + %d) / %d, TN = (N + %d) / %d;", MR - 1, MR, NR - 1, NR);
    ogen_line(g, "const long gid = get_global_id(0);");
    ogen_line(g, "const long mt = gid %% TM, nt = (gid / TM) %% TN;");
    ogen_line(g, "long rem = gid / TN / TM;");
    ogen_line(g, "const long pb = %s;", once ? "0" : "rem");
    const char *idx[IR_MAX_RANK] = {0};
    batch_indices(g, out, nb, idx);
    ogen_line(g, "(void)rem;");
    ogen_line(g, "const long m0 = mt * %d, n0 = nt * %d;", MR, NR);
    char mi[16];
    for (int i = 0; i < MR; i++) {
        snprintf(mi, sizeof mi, "mr%d", i);
        ogen_line(g, "const long %s = min(m0 + %d, M - 1);", mi, i);
        idx[r - 2] = mi;
        ocl_view_offset(A, idx, r - 1, off, sizeof off);
        ogen_line(g, "const long ra%d = %s;", i, off);
    }
    /* f32 A: a pointer per row, loaded at [kk·stride]. (Offsets ra_i + kk instead are
       isomorphic integer adds that PoCL's SLP vectoriser packs into vectors and extracts
       one by one, every k: 8 rows and more then ran 1.4–1.9× slower than 6.) */
    bool aptr = g->p->bufs[A->buf].dt == DT_F32;
    if (aptr) {
        int32_t sa = ogen_buffer(g, A->buf, false);
        if (sa < 0)
            return false;
        for (int i = 0; i < MR; i++)
            ogen_line(g, "const __global float *restrict pa%d = a%d + ra%d;", i, sa, i);
    }
    if (x < 0) { /* the start of panel nt (of this batch index): B[idx..., 0, nt·NR] */
        char n0[64];
        snprintf(n0, sizeof n0, "(nt * %d)", NR);
        b_offset(k, idx, nb, "0", n0, off, sizeof off);
        ogen_line(g, "const __global float *bp = a%d + %s;", px, off);
    } else {
        ogen_line(g, "const __global float *bp = a%d + (pb * TN + nt) * K * %d;", px, NR);
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            ogen_line(g, "float%d c%d_%d = (float%d)(0.0f);", VW, i, v, VW);
    ogen_line(g, "for (long kk = 0; kk < K; kk++) {");
    g->indent++;
    for (int v = 0; v < NV; v++)
        ogen_line(g, "const float%d b%d = vload%d(%d, bp + kk * %d);", VW, v, VW, v, NR);
    for (int i = 0; i < MR; i++) {
        char ra[16], nm[16];
        snprintf(ra, sizeof ra, "ra%d", i);
        snprintf(nm, sizeof nm, "x%d", i);
        if (aptr) {
            ocl_step("0", "kk", A->strides[r - 1], t, sizeof t);
            ogen_line(g, "const float %s = pa%d[%s];", nm, i, t);
        } else {
            ocl_step(ra, "kk", A->strides[r - 1], t, sizeof t);
            ocl_load(g, A->buf, t, DT_F32, nm);
        }
        for (int v = 0; v < NV; v++)
            ogen_line(g, "c%d_%d = fma((float%d)(x%d), b%d, c%d_%d);", i, v, VW, i, v, i, v);
    }
    g->indent--;
    ogen_line(g, "}");
    ogen_line(g, "float accv[%d];", MR * NR);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            ogen_line(g, "vstore%d(c%d_%d, 0, accv + %d);", VW, i, v, i * NR + v * VW);
    ogen_line(g, "for (int ii = 0; ii < %d && m0 + ii < M; ii++) {", MR);
    g->indent++;
    ogen_line(g, "const long m = m0 + ii;");
    idx[r - 2] = "m";
    ocl_view_offset(out, idx, r - 1, off, sizeof off);
    ogen_line(g, "const long ob = %s;", off);
    ogen_line(g, "for (int jj = 0; jj < %d && n0 + jj < N; jj++) {", NR);
    g->indent++;
    ogen_line(g, "const long n = n0 + jj;");
    idx[r - 1] = "n";
    char acc[1400];
    char av[64];
    snprintf(av, sizeof av, "accv[ii * %d + jj]", NR);
    ocl_convert(g, av, DT_F32, ocl_acc_dtype(k), acc, sizeof acc);
    OPoint pt = {idx, acc, NULL};
    ocl_store_result(g, &pt, "ob");
    g->indent--;
    ogen_line(g, "}");
    g->indent--;
    ogen_line(g, "}");
    OclFactor f[IR_MAX_RANK + 2];
    int32_t nf = 0;
    for (int i = 0; i < nb; i++)
        f[nf++] = (OclFactor){out->dims[i], 1};
    f[nf++] = (OclFactor){gi->m, MR};
    f[nf++] = (OclFactor){gi->n, NR};
    return ogen_finish(g, "gemm", KK_GEMM, k->once, false, f, nf, g->o->gpu ? 0 : 1) >= 0;
}

/* ---- the generic GEMM: a row per work-item, a dot product per element ---- */

static void body_dot(OGen *g, const char *const *cidx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const GemmInfo *gi = &k->u.gemm;
    const View *A = &k->in[gi->a], *B = &k->in[gi->b];
    int32_t r = k->out.rank;
    bool isf = dtype_is_float(g->p->bufs[A->buf].dt);
    const char *idx[IR_MAX_RANK];
    memcpy(idx, cidx, sizeof idx);
    char N[64], K[64], off[1200], t[1300], ra[16];
    ocl_dim(gi->n, N, sizeof N);
    ocl_dim(gi->k, K, sizeof K);
    snprintf(ra, sizeof ra, "rb%d", gi->a);
    ogen_line(g, "for (long j = 0; j < %s; j++) {", N);
    g->indent++;
    idx[r - 1] = "j";
    ogen_line(g, "%s acc = 0;", isf ? "float" : "long");
    ogen_line(g, "for (long kk = 0; kk < %s; kk++) {", K);
    g->indent++;
    ocl_step(ra, "kk", A->strides[r - 1], t, sizeof t);
    ocl_load(g, A->buf, t, isf ? DT_F32 : DT_I64, "x");
    b_offset(k, idx, r - 2, "kk", "j", off, sizeof off);
    ocl_load(g, B->buf, off, isf ? DT_F32 : DT_I64, "y");
    ogen_line(g, isf ? "acc = fma(x, y, acc);" : "acc = as_long((ulong)acc + (ulong)x * (ulong)y);");
    g->indent--;
    ogen_line(g, "}");
    char acc[1400];
    ocl_convert(g, "acc", isf ? DT_F32 : DT_I64, ocl_acc_dtype(k), acc, sizeof acc);
    OPoint pt = {idx, acc, rowbase};
    ocl_store_result(g, &pt, outbase);
    g->indent--;
    ogen_line(g, "}");
}

bool ocl_gen_gemm(OGen *g)
{
    const Kernel *k = g->k;
    const GemmInfo *gi = &k->u.gemm;
    const View *A = &k->in[gi->a], *B = &k->in[gi->b];
    int32_t r = k->out.rank, nb = r - 2;
    bool isf = dtype_is_float(g->p->bufs[A->buf].dt) && dtype_is_float(g->p->bufs[B->buf].dt);
    Dim batch;
    if (gi->pack_nr > 0) { /* the plan's panels: [batch dims..., ceil(N/nr), K, nr], contiguous f32 rows */
        int64_t nr = gi->pack_nr;
        int q = B->rank - 3; /* 0, or nb: one panel set per batch index */
        bool ok = (q == 0 || q == nb) && dim_is_const(gi->n) && dim_is_const(gi->k) && dim_is_const(B->offset);
        for (int d = 0; d < B->rank && ok; d++)
            ok = dim_is_const(B->strides[d]) && (d < q || dim_is_const(B->dims[d]));
        if (!ok || B->dims[q].n != (gi->n.n + nr - 1) / nr || B->dims[q + 1].n != gi->k.n || B->dims[q + 2].n != nr ||
            B->strides[q + 2].n != 1 || B->strides[q + 1].n != nr || B->strides[q].n != nr * gi->k.n)
            return ogen_fail(g, "internal error: GEMM kernel %d has packed B panels of an unexpected view", g->ki);
        if (isf && nr == NR && g->p->bufs[B->buf].dt == DT_F32 && batch_dim(&k->out, nb, &batch))
            return gen_block(g, -1, q == 0, nb);
    }
    if (isf && batch_dim(&k->out, nb, &batch)) {
        /* the plan's panels of another width: repacked once when shared by the batch */
        bool once = (gi->pack_nr > 0 && B->rank == 3) || pack_once(g->p, B, nb);
        int32_t x = panel_buffer(g, once, once ? dim_const(1) : batch, gi->n, gi->k);
        if (x < 0 || !gen_pack(g, x, once, nb))
            return false;
        ogen_reset(g);
        return gen_block(g, x, once, nb);
    }
    OclFactor f[IR_MAX_RANK + 2];
    int32_t nf = ocl_row_factors(&k->out, f, 1);
    ocl_rows(g, 1, body_dot);
    return ogen_finish(g, "gemm", KK_GEMM, k->once, false, f, nf, g->o->gpu ? 0 : 1) >= 0;
}
