/* file.c — the compiler's output files (`vitc compile -o`, --emit=obj/asm/llvm/cl).
 *
 * An output path is opened in place and written: a regular file is created or truncated,
 * and a device or a FIFO is written to, never replaced (a linker or LLVM's file streams
 * unlink and recreate their output, which as root turns /dev/null into a regular file).
 * Every write and the close are checked, so a full disk is an error and not a truncated
 * file with exit status 0; a regular file left half written is removed, anything else left
 * alone. A new file takes the mode 0666 (a copy: its source's), less the umask.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"

typedef struct {
    FILE *f;
    bool regular; /* removable on failure */
    int err;      /* the first errno */
} Out;

/* Opens path for writing, created with `mode` (less the umask) when new. */
static bool out_open(Out *o, const char *path, mode_t mode)
{
    *o = (Out){0};
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        o->err = errno;
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct stat st;
    o->regular = fstat(fileno(o->f), &st) == 0 && S_ISREG(st.st_mode);
    return true;
}

static void out_write(Out *o, const void *data, size_t n)
{
    if (!o->err && n && fwrite(data, 1, n, o->f) != n)
        o->err = errno ? errno : EIO;
}

static bool out_close(Out *o, const char *path, char *why, size_t whylen)
{
    if (fclose(o->f) != 0 && !o->err)
        o->err = errno ? errno : EIO;
    if (!o->err)
        return true;
    snprintf(why, whylen, "%s", strerror(o->err));
    if (o->regular)
        unlink(path);
    return false;
}

bool ir_write_file(const char *path, const void *data, size_t n, char *why, size_t whylen)
{
    Out o;
    if (!out_open(&o, path, 0666)) {
        snprintf(why, whylen, "%s", strerror(o.err));
        return false;
    }
    out_write(&o, data, n);
    return out_close(&o, path, why, whylen);
}

bool ir_copy_file(const char *src, const char *dst, char *why, size_t whylen)
{
    FILE *in = fopen(src, "rb");
    if (!in) {
        snprintf(why, whylen, "cannot read '%s': %s", src, strerror(errno));
        return false;
    }
    struct stat st;
    Out o;
    if (!out_open(&o, dst, fstat(fileno(in), &st) == 0 ? st.st_mode & 0777 : 0666)) {
        snprintf(why, whylen, "%s", strerror(o.err));
        fclose(in);
        return false;
    }
    char buf[1 << 16];
    size_t got;
    while (!o.err && (got = fread(buf, 1, sizeof buf, in)) > 0)
        out_write(&o, buf, got);
    if (!o.err && ferror(in))
        o.err = EIO;
    fclose(in);
    return out_close(&o, dst, why, whylen);
}
