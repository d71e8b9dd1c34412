/* rt_file.c — output files written whole or not at all (see rt_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_file.h"

static bool failed(char *why, size_t whylen, int err)
{
    snprintf(why, whylen, "%s", strerror(err));
    return false;
}

bool rt_out_open(RtOut *o, const char *path, unsigned mode, char *why, size_t whylen)
{
    *o = (RtOut){.path = path};
    struct stat st;
    int fd = -1;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) { /* beside it, then renamed over it */
        size_t n = strlen(path);
        if ((o->tmp = malloc(n + 16))) {
            snprintf(o->tmp, n + 16, "%s.vitc-XXXXXX", path);
            if ((fd = mkstemp(o->tmp)) >= 0) {
                mode_t mask = umask(0);
                umask(mask);
                if (fchmod(fd, (mode_t)mode & 0777 & ~mask) != 0) {
                    int e = errno;
                    close(fd);
                    rt_out_discard(o); /* removes the temporary file */
                    return failed(why, whylen, e);
                }
            } else {
                free(o->tmp); /* a folder we may not write: the file itself, in place */
                o->tmp = NULL;
            }
        }
    }
    if (fd < 0)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        rt_out_discard(o);
        return failed(why, whylen, e);
    }
    return true;
}

void rt_out_write(RtOut *o, const void *data, size_t n)
{
    if (!o->err && n && fwrite(data, 1, n, o->f) != n)
        o->err = errno ? errno : EIO;
}

bool rt_out_close(RtOut *o, char *why, size_t whylen)
{
    if (fclose(o->f) != 0 && !o->err)
        o->err = errno ? errno : EIO;
    o->f = NULL;
    if (!o->err && o->tmp) {
        if (rename(o->tmp, o->path) != 0) {
            o->err = errno;
        } else {
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    int e = o->err;
    rt_out_discard(o);
    return e ? failed(why, whylen, e) : true;
}

void rt_out_discard(RtOut *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
    }
    *o = (RtOut){0};
}

bool rt_write_file(const char *path, const void *data, size_t n, char *why, size_t whylen)
{
    RtOut o;
    if (!rt_out_open(&o, path, 0666, why, whylen))
        return false;
    rt_out_write(&o, data, n);
    return rt_out_close(&o, why, whylen);
}

bool rt_copy_file(const char *src, const char *dst, char *why, size_t whylen)
{
    FILE *in = fopen(src, "rb");
    struct stat st;
    if (!in)
        return failed(why, whylen, errno);
    RtOut o;
    if (!rt_out_open(&o, dst, fstat(fileno(in), &st) == 0 ? (unsigned)st.st_mode & 0777 : 0666, why, whylen)) {
        fclose(in);
        return false;
    }
    char buf[1 << 16];
    size_t got;
    while (!o.err && (got = fread(buf, 1, sizeof buf, in)) > 0)
        rt_out_write(&o, buf, got);
    if (!o.err && ferror(in))
        o.err = EIO;
    fclose(in);
    return rt_out_close(&o, why, whylen);
}
