/* attrs.c — the attribute schemas generated from attrs.def, and the generic operations
 * over them (defaults, equality, hashing, copying into a graph). */
#include <stddef.h>
#include <string.h>

#include "ir.h"

#define ENUM_NAME(id, name) #name,
#define ENUM(x, VALUES) static const char *const x##_names[] = {VALUES(ENUM_NAME)};
#define ATTR(kind, member, Struct, FIELDS)
#include "attrs.def"
#undef ATTR
#undef ENUM

#define FTYPE_BOOL FT_BOOL, NULL, 0
#define FTYPE_INT FT_INT, NULL, 0
#define FTYPE_FLOAT FT_FLOAT, NULL, 0
#define FTYPE_STR FT_STR, NULL, 0
#define FTYPE_DTYPE FT_DTYPE, NULL, 0
#define FTYPE_INTS FT_INTS, NULL, 0
#define FTYPE_FLOATS FT_FLOATS, NULL, 0
#define FTYPE_SHAPE FT_SHAPE, NULL, 0
#define FTYPE_ENUM_INIT FT_ENUM, INIT_names, INIT_COUNT
#define FTYPE_ENUM_GELU FT_ENUM, GELU_names, GELU_COUNT
#define FTYPE_ENUM_ROUTING FT_ENUM, ROUTING_names, ROUTING_COUNT
#define FTYPE_ENUM_MASK FT_ENUM, MASK_names, MASK_COUNT
#define FTYPE_ENUM_PACK FT_ENUM, PACK_names, PACK_COUNT
#define FTYPE_ENUM_SEGRED FT_ENUM, SEGRED_names, SEGRED_COUNT

/* Per kind: its field table (after a placeholder entry: C has no empty arrays) and its
 * default value. */
#define FIELD_ENTRY(S, T, name, def) {#name, offsetof(S, name), FTYPE_##T},
#define FIELD_DEFAULT(S, T, name, def) .name = def,
#define ENUM(x, VALUES)
#define ATTR(kind, member, Struct, FIELDS)                                                   \
    static const AttrField fields_##kind[] = {{"", 0, FT_BOOL, NULL, 0},                    \
                                              FIELDS(FIELD_ENTRY, Struct)};                 \
    static const Struct default_##kind = {.unused_ = 0, FIELDS(FIELD_DEFAULT, Struct)};
#include "attrs.def"
#undef ATTR

static const AttrSchema schemas[ATTR_COUNT] = {
#define ATTR(kind, member, Struct, FIELDS)                                                   \
    {#kind, fields_##kind + 1, (int)(sizeof fields_##kind / sizeof fields_##kind[0]) - 1},
#include "attrs.def"
#undef ATTR
};

static const void *const defaults[ATTR_COUNT] = {
#define ATTR(kind, member, Struct, FIELDS) &default_##kind,
#include "attrs.def"
#undef ATTR
};

static const size_t sizes[ATTR_COUNT] = {
#define ATTR(kind, member, Struct, FIELDS) sizeof(Struct),
#include "attrs.def"
#undef ATTR
};
#undef ENUM

const AttrSchema *attr_schema(AttrKind k) { return &schemas[k]; }

void attr_set_defaults(AttrKind k, Attr *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a, defaults[k], sizes[k]);
}

const AttrField *attr_field_find(AttrKind k, const char *name, size_t len)
{
    const AttrSchema *s = &schemas[k];
    for (int i = 0; i < s->nfields; i++)
        if (strlen(s->fields[i].name) == len && memcmp(s->fields[i].name, name, len) == 0)
            return &s->fields[i];
    return NULL;
}

static bool field_eq(const AttrField *f, const void *x, const void *y)
{
    switch (f->type) {
    case FT_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case FT_INT:
        return *(const int64_t *)x == *(const int64_t *)y;
    case FT_FLOAT:
        return memcmp(x, y, sizeof(double)) == 0;
    case FT_STR: {
        const char *a = *(const char *const *)x, *b = *(const char *const *)y;
        return a == b || (a && b && strcmp(a, b) == 0);
    }
    case FT_DTYPE:
        return *(const DType *)x == *(const DType *)y;
    case FT_ENUM:
        return *(const int *)x == *(const int *)y;
    case FT_INTS: {
        const IntList *a = x, *b = y;
        return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, (size_t)a->n * sizeof *a->v) == 0);
    }
    case FT_FLOATS: {
        const FloatList *a = x, *b = y;
        return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, (size_t)a->n * sizeof *a->v) == 0);
    }
    case FT_SHAPE: {
        const Shape *a = x, *b = y;
        return a->rank == b->rank && (a->rank < 0 || shape_eq(a, b));
    }
    }
    return false;
}

bool attr_field_is_default(AttrKind k, const Attr *a, const AttrField *f)
{
    return field_eq(f, attr_field_cptr(a, f), (const char *)defaults[k] + f->offset);
}

bool attr_eq(AttrKind k, const Attr *a, const Attr *b)
{
    const AttrSchema *s = &schemas[k];
    for (int i = 0; i < s->nfields; i++)
        if (!field_eq(&s->fields[i], attr_field_cptr(a, &s->fields[i]), attr_field_cptr(b, &s->fields[i])))
            return false;
    return true;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) /* FNV-1a */
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

uint64_t attr_hash(AttrKind k, const Attr *a, uint64_t h)
{
    const AttrSchema *s = &schemas[k];
    for (int i = 0; i < s->nfields; i++) {
        const AttrField *f = &s->fields[i];
        const void *p = attr_field_cptr(a, f);
        switch (f->type) {
        case FT_BOOL: h = mix(h, p, sizeof(bool)); break;
        case FT_INT: h = mix(h, p, sizeof(int64_t)); break;
        case FT_FLOAT: h = mix(h, p, sizeof(double)); break;
        case FT_DTYPE: h = mix(h, p, sizeof(DType)); break;
        case FT_ENUM: h = mix(h, p, sizeof(int)); break;
        case FT_STR: {
            const char *str = *(const char *const *)p;
            if (str)
                h = mix(h, str, strlen(str));
            break;
        }
        case FT_INTS: {
            const IntList *l = p;
            h = mix(h, &l->n, sizeof l->n);
            if (l->n)
                h = mix(h, l->v, (size_t)l->n * sizeof *l->v);
            break;
        }
        case FT_FLOATS: {
            const FloatList *l = p;
            h = mix(h, &l->n, sizeof l->n);
            if (l->n)
                h = mix(h, l->v, (size_t)l->n * sizeof *l->v);
            break;
        }
        case FT_SHAPE: {
            const Shape *sh = p;
            h = mix(h, &sh->rank, sizeof sh->rank);
            for (int d = 0; d < sh->rank; d++) {
                h = mix(h, &sh->d[d].n, sizeof sh->d[d].n);
                h = mix(h, &sh->d[d].sym, sizeof sh->d[d].sym);
            }
            break;
        }
        }
    }
    return h;
}

bool ir_attr_own(Graph *g, AttrKind k, Attr *a)
{
    const AttrSchema *s = &schemas[k];
    for (int i = 0; i < s->nfields; i++) {
        const AttrField *f = &s->fields[i];
        void *p = attr_field_ptr(a, f);
        switch (f->type) {
        case FT_STR: {
            const char **str = p;
            if (*str && !(*str = ir_intern(g, *str)))
                return false;
            break;
        }
        case FT_INTS: {
            IntList *l = p;
            if (l->n > 0) {
                int64_t *v = arena_alloc(g->arena, (size_t)l->n * sizeof *v);
                if (!v)
                    return false;
                memcpy(v, l->v, (size_t)l->n * sizeof *v);
                l->v = v;
            } else {
                l->v = NULL;
            }
            break;
        }
        case FT_FLOATS: {
            FloatList *l = p;
            if (l->n > 0) {
                double *v = arena_alloc(g->arena, (size_t)l->n * sizeof *v);
                if (!v)
                    return false;
                memcpy(v, l->v, (size_t)l->n * sizeof *v);
                l->v = v;
            } else {
                l->v = NULL;
            }
            break;
        }
        default:
            break;
        }
    }
    return true;
}
