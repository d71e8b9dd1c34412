/* ocl_emit.c — what the OpenCL backend writes:
 *
 *   ocl_serialize   the vit__ocl section (format: runtime/rt_ocl.h)
 *   ocl_emit_cl     `--emit=cl -o DIR`: DIR/k<i>.cl per plan kernel (a GEMM's packing
 *                   kernel in k<i>_pack.cl), each a complete program that builds alone,
 *                   and DIR/manifest.json: the buffers, and per launch in run order its
 *                   file, kernel function, global and local size and arguments
 *   ocl_compile     `--target=opencl`: generate, build for the device, and an assembly file
 *                   whose .incbin directives put the plan, the OpenCL section and the
 *                   weights into .rodata as vit__plan, vit__ocl, vit__weights (with their
 *                   _size); `cc` assembles it while linking the .so, so even large
 *                   embedded weights cost no compile time
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl_internal.h"
#include "../../runtime/rt_file.h"

/* ---- the section ---- */

static void put_str(BlobWriter *w, const char *s) { blob_put_bytes(w, s, strlen(s)); }

static void put_dim(BlobWriter *w, Dim d)
{
    blob_put_i64(w, d.n);
    blob_put_i64(w, dim_is_const(d) ? -1 : d.sym);
}

bool ocl_serialize(const OclModule *m, Blob *out, IrError *err)
{
    BlobWriter w = {out, 0, false};
    out->data = NULL;
    out->len = 0;
    blob_put(&w, "VITOCL\0\0", 8);
    blob_put_i64(&w, RT_OCL_VERSION);
    put_str(&w, m->platform);
    put_str(&w, m->device);
    put_str(&w, m->driver);
    put_str(&w, m->options);
    blob_put_i64(&w, m->nprogs);
    for (int32_t i = 0; i < m->nprogs; i++) {
        put_str(&w, m->progs[i].name);
        put_str(&w, m->progs[i].source);
        blob_put_bytes(&w, m->progs[i].binary, m->progs[i].binary ? m->progs[i].nbinary : 0);
    }
    blob_put_i64(&w, m->nxbufs);
    for (int32_t i = 0; i < m->nxbufs; i++) {
        blob_put_i64(&w, m->xbufs[i].kind);
        blob_put_i64(&w, m->xbufs[i].dt);
        put_dim(&w, m->xbufs[i].size);
    }
    blob_put_i64(&w, m->nlaunches);
    for (int32_t i = 0; i < m->nlaunches; i++) {
        const OclLaunch *l = &m->launches[i];
        blob_put_i64(&w, l->program);
        blob_put_i64(&w, l->kernel);
        blob_put_i64(&w, l->once);
        blob_put_i64(&w, l->local);
        blob_put_i64(&w, l->nglobal);
        for (int32_t f = 0; f < l->nglobal; f++) {
            put_dim(&w, l->global[f].d);
            blob_put_i64(&w, l->global[f].div);
        }
        blob_put_i64(&w, l->nargs);
        for (int32_t a = 0; a < l->nargs; a++) {
            blob_put_i64(&w, l->args[a].kind);
            blob_put_i64(&w, l->args[a].value);
        }
    }
    if (w.oom) {
        ir_free(out->data);
        out->data = NULL;
        snprintf(err->msg, sizeof err->msg, "out of memory while writing the OpenCL section");
        return false;
    }
    return true;
}

/* ---- files ---- */

static bool write_file(const char *path, const void *data, size_t n, IrError *err)
{
    char why[256];
    if (rt_write_file(path, data, n, why, sizeof why))
        return true;
    snprintf(err->msg, sizeof err->msg, "cannot write '%s': %s", path, why);
    return false;
}

static void json_str(Str *s, const char *text)
{
    str_add(s, "\"");
    for (const char *c = text ? text : ""; *c; c++) {
        if (*c == '"' || *c == '\\')
            str_addf(s, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            str_addf(s, "\\u%04x", (unsigned)*c);
        else
            str_addf(s, "%c", *c);
    }
    str_add(s, "\"");
}

static void json_dim(Str *s, const Plan *p, Dim d)
{
    if (dim_is_const(d))
        str_addf(s, "%" PRId64, d.n);
    else if (d.n == 1)
        json_str(s, p->g->syms[d.sym].name);
    else {
        char t[128];
        snprintf(t, sizeof t, "%" PRId64 "*%s", d.n, p->g->syms[d.sym].name);
        json_str(s, t);
    }
}

static const char *const arg_kinds[] = {"buffer", "packed", "symbol", "error_cell", "kernel_index"};

/* The file of launch l: k<i>.cl or k<i>_pack.cl. */
static void launch_file(const OclLaunch *l, char *buf, size_t n)
{
    snprintf(buf, n, "k%d%s.cl", l->kernel, l->pack ? "_pack" : "");
}

static void manifest(const OclModule *m, const Plan *p, Str *s)
{
    str_add(s, "{\n  \"format\": \"vitc-opencl-manifest\",\n  \"version\": 1,\n  \"model\": ");
    json_str(s, p->g->name);
    str_add(s, ",\n  \"build_options\": ");
    json_str(s, m->options);
    str_add(s, ",\n  \"symbols\": [");
    for (int32_t i = 0; i < p->g->nsyms; i++) {
        str_add(s, i ? ", " : "");
        str_add(s, "{\"name\": ");
        json_str(s, p->g->syms[i].name);
        str_addf(s, ", \"max\": %" PRId64 "}", p->g->syms[i].max);
    }
    str_add(s, "],\n  \"buffers\": [\n");
    for (int32_t i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        str_addf(s, "    {\"id\": %d, \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": [", i, plan_buf_kind_name(b->kind),
                 dtype_name(b->dt));
        for (int d = 0; d < b->shape.rank; d++) {
            str_add(s, d ? ", " : "");
            json_dim(s, p, b->shape.d[d]);
        }
        str_add(s, "]");
        if (b->name) {
            str_add(s, ", \"name\": ");
            json_str(s, b->name);
        }
        str_addf(s, "}%s\n", i + 1 < p->nbufs ? "," : "");
    }
    str_add(s, "  ],\n  \"packed_buffers\": [\n");
    for (int32_t i = 0; i < m->nxbufs; i++) {
        str_addf(s, "    {\"id\": %d, \"kind\": \"%s\", \"dtype\": \"%s\", \"elements\": ", i,
                 m->xbufs[i].kind == RT_OCL_PERSIST ? "persistent" : "scratch", dtype_name(m->xbufs[i].dt));
        json_dim(s, p, m->xbufs[i].size);
        str_addf(s, "}%s\n", i + 1 < m->nxbufs ? "," : "");
    }
    str_add(s, "  ],\n  \"launches\": [\n");
    for (int32_t i = 0; i < m->nlaunches; i++) {
        const OclLaunch *l = &m->launches[i];
        char file[64];
        launch_file(l, file, sizeof file);
        str_addf(s, "    {\"file\": \"%s\", \"kernel\": \"%s\", \"plan_kernel\": %d, \"once\": %s, \"local_size\": %"
                 PRId64 ", \"global_size\": [", file, m->progs[l->program].name, l->kernel, l->once ? "true" : "false",
                 l->local);
        for (int32_t f = 0; f < l->nglobal; f++) {
            str_add(s, f ? ", " : "");
            str_add(s, "{\"ceil_div\": [");
            json_dim(s, p, l->global[f].d);
            str_addf(s, ", %" PRId64 "]}", l->global[f].div);
        }
        str_add(s, "], \"args\": [");
        for (int32_t a = 0; a < l->nargs; a++)
            str_addf(s, "%s{\"%s\": %" PRId64 "}", a ? ", " : "", arg_kinds[l->args[a].kind], l->args[a].value);
        str_addf(s, "]}%s\n", i + 1 < m->nlaunches ? "," : "");
    }
    str_add(s, "  ],\n  \"arguments\": \"buffer and packed: a __global pointer and a long element offset; symbol and "
               "kernel_index: a long; error_cell: __global int * ([0] code, [1] kernel)\"\n}\n");
}

bool ocl_emit_cl(const OclModule *m, const Plan *p, const char *dir, IrError *err)
{
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot create the folder '%s': %s", dir, strerror(errno));
        return false;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err->msg, sizeof err->msg, "'%s' is not a folder (--emit=cl writes a folder of .cl files)", dir);
        return false;
    }
    char path[4200], file[64];
    for (int32_t i = 0; i < m->nlaunches; i++) {
        const OclLaunch *l = &m->launches[i];
        launch_file(l, file, sizeof file);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        const char *src = m->progs[l->program].source;
        if (!write_file(path, src, strlen(src), err))
            return false;
    }
    Str s = {0};
    manifest(m, p, &s);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    bool ok = !s.oom && write_file(path, s.s, s.len, err);
    if (s.oom)
        snprintf(err->msg, sizeof err->msg, "out of memory while writing the manifest");
    str_free(&s);
    return ok;
}

/* ---- the object's data ---- */

static const char *const suffixes[] = {".plan", ".ocl", ".weights"};

void ocl_compile_cleanup(const char *asm_path)
{
    char path[4200];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", asm_path, suffixes[i]);
        unlink(path);
    }
}

static void asm_blob(Str *s, const char *name, const char *file, size_t n)
{
    str_addf(s, "\t.globl %s\n\t.type %s, \"object\"\n\t.balign 64\n%s:\n\t.incbin \"%s\"\n\t.size %s, . - %s\n", name,
             name, name, file, name, name);
    str_addf(s, "\t.globl %s_size\n\t.type %s_size, \"object\"\n\t.balign 8\n%s_size:\n\t.quad %zu\n\t.size %s_size, 8\n",
             name, name, name, n, name);
}

bool ocl_compile(const Plan *p, const Blob *plan_blob, const uint8_t *w, size_t wlen, const OclOptions *o,
                 const char *asm_path, IrError *err)
{
    if (strpbrk(asm_path, "\"\\\n")) {
        snprintf(err->msg, sizeof err->msg, "the temporary path '%s' has a character assemblers do not take",
                 asm_path);
        return false;
    }
    OclGenOptions go = {0};
    if (!o->no_build && !ocl_device_schedule(o->device, &go, err))
        return false;
    OclModule *m = ocl_generate(p, &go, err);
    if (!m)
        return false;
    Blob ob = {0};
    bool ok = (o->no_build || ocl_build(m, p, o->device, err)) && ocl_serialize(m, &ob, err);
    ocl_module_free(m);
    char path[3][4200];
    const void *data[3] = {plan_blob->data, ob.data, w};
    size_t len[3] = {plan_blob->len, ob.len, wlen};
    for (int i = 0; i < 3 && ok; i++) {
        snprintf(path[i], sizeof path[i], "%s%s", asm_path, suffixes[i]);
        if (i < 2 || w)
            ok = write_file(path[i], data[i], len[i], err);
    }
    ir_free(ob.data);
    if (!ok)
        return false;
    Str s = {0};
    str_add(&s, "/* generated by vitc compile --target=opencl: the model's data */\n\t.section .rodata\n");
    asm_blob(&s, "vit__plan", path[0], len[0]);
    asm_blob(&s, "vit__ocl", path[1], len[1]);
    if (w)
        asm_blob(&s, "vit__weights", path[2], len[2]);
    str_add(&s, "\t.section .note.GNU-stack,\"\",%progbits\n");
    ok = !s.oom && write_file(asm_path, s.s, s.len, err);
    if (s.oom)
        snprintf(err->msg, sizeof err->msg, "out of memory");
    str_free(&s);
    return ok;
}
