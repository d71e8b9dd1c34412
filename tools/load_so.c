/* load_so.c — loads a model compiled by vitc (a shared object) for `vitc run` and `vitc bench`.
 *
 * dlopen maps an ELF file's segments as its program headers describe them, and the loader
 * then reads them: a segment that runs past the end of a truncated file is a SIGBUS inside
 * dlopen. So the file's headers are checked first: every segment and the section header
 * table must lie within the file. A file that passes is handed to dlopen, whose own errors
 * (not an ELF file, another architecture, a missing library) are reported as it words them.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* Whether the ELF file at path lies within its size; false with a message in err. A file
 * that is not a 64-bit ELF file of this machine's byte order passes: dlopen refuses it
 * with its own message. */
static bool elf_within_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return false;
    }
    bool ok = true;
    Elf64_Ehdr eh;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    rewind(f);
    int order = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    if (size < (long)sizeof eh || fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != order) {
        fclose(f);
        return true; /* dlopen words its own refusal */
    }
    uint64_t n = (uint64_t)size;
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > n ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > n - eh.e_phoff) {
        snprintf(err, errlen, "'%s' is truncated or corrupt: its program headers lie past its end (%" PRIu64 " bytes)",
                 path, n);
        ok = false;
    } else if (eh.e_shnum && (eh.e_shoff > n || (uint64_t)eh.e_shnum * eh.e_shentsize > n - eh.e_shoff)) {
        snprintf(err, errlen, "'%s' is truncated or corrupt: its section headers lie past its end (%" PRIu64 " bytes)",
                 path, n);
        ok = false;
    }
    for (int i = 0; ok && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * sizeof ph), SEEK_SET) != 0 || fread(&ph, sizeof ph, 1, f) != 1) {
            snprintf(err, errlen, "cannot read '%s'", path);
            ok = false;
        } else if (ph.p_offset > n || ph.p_filesz > n - ph.p_offset) {
            snprintf(err, errlen,
                     "'%s' is truncated or corrupt: its segment %d ends at byte %" PRIu64 ", past its end (%" PRIu64
                     " bytes)",
                     path, i, ph.p_offset + ph.p_filesz, n);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}

bool tool_load_so(const char *cmd, const char *path, ToolSo *so)
{
    memset(so, 0, sizeof *so);
    char err[512], buf[4200];
    if (!elf_within_file(path, err, sizeof err)) {
        fprintf(stderr, "vitc: %s: error: %s\n", cmd, err);
        return false;
    }
    /* a name without a slash: dlopen would search the library path */
    snprintf(buf, sizeof buf, "%s%s", strchr(path, '/') ? "" : "./", path);
    if (!(so->handle = dlopen(buf, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "vitc: %s: error: cannot load '%s': %s\n", cmd, path, dlerror());
        return false;
    }
    *(void **)&so->open = dlsym(so->handle, "vit_open");
    *(void **)&so->info = dlsym(so->handle, "vit_info");
    *(void **)&so->run = dlsym(so->handle, "vit_run");
    *(void **)&so->set_threads = dlsym(so->handle, "vit_set_threads");
    *(void **)&so->set_option = dlsym(so->handle, "vit_set_option");
    *(void **)&so->close = dlsym(so->handle, "vit_close");
    if (!so->open || !so->info || !so->run || !so->set_threads || !so->close) {
        fprintf(stderr,
                "vitc: %s: error: '%s' is not a model compiled by vitc (it lacks the vit_* functions of vitrt.h)\n",
                cmd, path);
        tool_unload_so(so);
        return false;
    }
    return true;
}

void tool_unload_so(ToolSo *so)
{
    if (so->handle)
        dlclose(so->handle);
    memset(so, 0, sizeof *so);
}
