/* alloc.c — the one allocation hook of the compiler, and the arena.
 *
 * Tests call ir_alloc_fail_after(n) to make the n-th following allocation fail, so that
 * every out-of-memory path can be run (Lua's ltests, SQLite's OOM tests).
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static long fail_countdown = -1;

void ir_alloc_fail_after(long n) { fail_countdown = n; }

static bool should_fail(void)
{
    if (fail_countdown < 0)
        return false;
    if (fail_countdown == 0)
        return true;
    fail_countdown--;
    return false;
}

void *ir_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *ir_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *ir_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ir_free(void *p) { free(p); }

char *ir_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ir_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- arena: a list of blocks, bump allocation, freed at once ---- */

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} Block;

struct Arena {
    Block *head;
};

enum { BLOCK_SIZE = 64 * 1024 };

Arena *arena_new(void) { return ir_calloc(1, sizeof(Arena)); }

void *arena_alloc(Arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    Block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = ir_malloc(sizeof(Block) + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        if (a->head && n > BLOCK_SIZE) {
            /* a big block goes behind the current one, which keeps its free space */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (Block *b = a->head, *next; b; b = next) {
        next = b->next;
        ir_free(b);
    }
    ir_free(a);
}
