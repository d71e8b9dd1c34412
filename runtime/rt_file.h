/* rt_file.h — output files written whole or not at all (rt_file.c): `vitc compile`'s
 * objects and shared objects, the safetensors files of init, upcycle and run.
 *
 * A regular file (or a new one) is written to a temporary file beside it, which then
 * replaces it by rename: a reader never sees half a file, and a process that has the old
 * file mapped (a loaded model, its weights) keeps its pages. A device, a FIFO or a socket is
 * written in place and never replaced or removed (a linker, LLVM's file streams and
 * fopen-then-remove all clobber /dev/null or /dev/full when run as root). Every write, the
 * close and the rename are checked: a full disk is an error, and the old file is left as it
 * was.
 */
#ifndef VITC_RT_FILE_H
#define VITC_RT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char *tmp;        /* the temporary file that replaces path at the end; NULL: in place */
    const char *path;
    int err;          /* the first errno */
} RtOut;

/* Opens path for writing (a new file gets `mode` less the umask); false with why. */
bool rt_out_open(RtOut *o, const char *path, unsigned mode, char *why, size_t whylen);
/* Appends n bytes; a failure is kept for rt_out_close. */
void rt_out_write(RtOut *o, const void *data, size_t n);
/* Closes and puts the file in place; false with why (strerror's words), nothing changed. */
bool rt_out_close(RtOut *o, char *why, size_t whylen);
/* Closes and drops what was written (the old file stays); nothing for a zeroed RtOut or one
 * rt_out_open failed or rt_out_close closed. */
void rt_out_discard(RtOut *o);

/* The whole of data to path; src's bytes (and its mode) to dst. */
bool rt_write_file(const char *path, const void *data, size_t n, char *why, size_t whylen);
bool rt_copy_file(const char *src, const char *dst, char *why, size_t whylen);

#endif
