/*
 * outfile.c - opening and closing the file a report is written to, for
 * mt_report_file and the `memtally` command alike.
 *
 * A regular file (or a name that does not exist yet) is written beside its
 * name and renamed into place once complete, so a reader sees the old
 * report or the new one, never half of one. A symbolic link is followed:
 * its target is replaced, the link stays. A name for one of the process's
 * descriptors (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N, or a
 * link to one) is written through that descriptor, whatever file, pipe or
 * socket it holds: after what the program wrote there, never replacing it
 * (refused with EBADF when the descriptor is not open for writing). The
 * plain name of the file stdout holds is a file like any other: replaced,
 * so that it holds a whole report. Anything else that can be opened for writing
 * (/dev/null, a FIFO, a terminal) is written in place; it is never replaced
 * by a regular file. A directory is refused with EISDIR before anything is
 * written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

mt_format mt__format_for(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0 ? MT_FORMAT_JSON : MT_FORMAT_TEXT;
}

/* The process umask, read without changing it (umask() would race with
 * other threads creating files). 022 when /proc is not there. */
static mode_t current_umask(void) {
    char buf[2048];
    mode_t mask = 022;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mask;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return mask;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nUmask:");
    if (p) mask = (mode_t)strtoul(p + 7, NULL, 8) & 0777;
    return mask;
}

/* The directory part of path in dir (PATH_MAX bytes): "." for a bare name,
 * "/" for "/x". 0, or -1 with ENAMETOOLONG. */
static int dir_of(const char *path, char *dir) {
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, n ? path : ".", n ? n : 1);
    dir[n ? n : 1] = '\0';
    return 0;
}

/* Makes sure the rename reaches the disk; failures here are not reported,
 * the file itself is already complete. */
static void sync_parent_dir(const char *path) {
    char dir[PATH_MAX];
    if (dir_of(path, dir) != 0) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* o->f on descriptor fd (closed on failure): 0, or -1 with errno. */
static int stream_on(mt__outfile *o, int fd) {
    if (fd < 0) return -1;
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return 0;
}

static int open_in_place(mt__outfile *o, const char *path, int flags) {
    return stream_on(o, open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | flags, 0666));
}

/* The descriptor number d spells as the kernel's descriptor directories
 * name them (decimal, no leading zero), else -1. */
static int decimal_fd(const char *d) {
    size_t n = strlen(d);
    if (n == 0 || n > 9 || strspn(d, "0123456789") != n || (d[0] == '0' && n > 1)) return -1;
    return atoi(d);
}

/* The descriptor a name spells ("/dev/stdout", "/dev/fd/N"...), once
 * repeated slashes and "." components are dropped, else -1. */
static int descriptor_spelled(const char *path) {
    char norm[PATH_MAX];
    size_t n = 0;
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/' || (len >= 2 && strcmp(path + len - 2, "/.") == 0)) return -1;
    for (const char *p = path; *p && n < sizeof norm - 1;) {
        if (p[0] == '/' && (p[1] == '/' || (p[1] == '.' && p[2] == '/'))) {
            p += p[1] == '/' ? 1 : 2;
            continue;
        }
        norm[n++] = *p++;
    }
    norm[n] = '\0';
    if (strcmp(norm, "/dev/stdout") == 0) return 1;
    if (strcmp(norm, "/dev/stderr") == 0) return 2;
    static const char *const dirs[] = {"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        size_t dl = strlen(dirs[i]);
        if (strncmp(norm, dirs[i], dl) != 0) continue;
        return decimal_fd(norm + dl);
    }
    return -1;
}

/* The descriptor N of a name "DIR/N" whose DIR is this process's (or
 * thread's) descriptor directory however reached ("/dev/../dev/fd", a
 * relative "dev/fd" from /, a link to a directory), else -1. */
static int descriptor_in_dir(const char *name) {
    const char *slash = strrchr(name, '/');
    int fd = decimal_fd(slash ? slash + 1 : name);
    if (fd < 0) return -1;
    char dir[PATH_MAX], real[PATH_MAX], fds[PATH_MAX];
    if (dir_of(name, dir) != 0 || !realpath(dir, real)) return -1;
    static const char *const fd_dirs[] = {"/proc/self/fd", "/proc/thread-self/fd"};
    for (size_t i = 0; i < sizeof fd_dirs / sizeof *fd_dirs; i++)
        if (realpath(fd_dirs[i], fds) && strcmp(real, fds) == 0) return fd;
    return -1;
}

/* Replaces name (PATH_MAX bytes), a symbolic link, with where it points,
 * a relative target taken from the link's directory. 1 when name was a
 * link, 0 when it was not (or does not exist), -1 with errno. */
static int link_step(char *name) {
    struct stat lst;
    if (lstat(name, &lst) != 0 || !S_ISLNK(lst.st_mode)) return 0;
    char to[PATH_MAX], full[2 * PATH_MAX];
    ssize_t n = readlink(name, to, sizeof to - 1);
    if (n < 0) return -1;
    to[n] = '\0';
    const char *slash = strrchr(name, '/');
    if (to[0] == '/' || !slash) snprintf(full, sizeof full, "%s", to);
    else snprintf(full, sizeof full, "%.*s/%s", (int)(slash - name), name, to);
    size_t len = strlen(full);
    if (len >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(name, full, len + 1);
    return 1;
}

int mt__path_descriptor(const char *path) {
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", path);
    /* a link (or a chain of them) to /dev/stdout is /dev/stdout */
    for (int hops = 0; hops < 40; hops++) {
        int fd = descriptor_spelled(name);
        if (fd < 0) fd = descriptor_in_dir(name);
        if (fd >= 0) return fd;
        if (link_step(name) != 1) return -1;
    }
    return -1;
}

unsigned mt__std_closed;

/* Whether descriptor fd is open for writing (and was open when the process
 * started, for 0-2): 0, or -1 with EBADF. */
static int descriptor_writable(int fd) {
    if (fd <= 2 && (mt__std_closed & (1u << fd))) {
        errno = EBADF;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
        errno = EBADF;
        return -1;
    }
    return 0;
}

/* Flushes a stdio stream unless another thread holds it (waiting could
 * hang an exit). */
static void flush_unless_busy(FILE *f) {
    if (ftrylockfile(f) != 0) return;
    fflush_unlocked(f);
    funlockfile(f);
}

/* A report to a descriptor goes through a copy of it: the same open file
 * and offset, so it lands after what the process wrote there, and what it
 * writes later lands after the report. */
static int open_descriptor(mt__outfile *o, int fd) {
    if (descriptor_writable(fd) != 0) return -1;
    if (fd == 1) flush_unless_busy(stdout);
    if (fd == 2) flush_unless_busy(stderr);
    return stream_on(o, fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

int mt__outfile_open(mt__outfile *o, const char *path) {
    o->f = NULL;
    o->tmp[0] = '\0';
    size_t n = path ? strlen(path) : 0;
    if (n == 0) {
        errno = ENOENT;
        return -1;
    }
    if (n >= sizeof o->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(o->path, path, n + 1);
    int named = mt__path_descriptor(path);
    if (named >= 0) return open_descriptor(o, named);
    struct stat st, lst;
    bool exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    if (exists && !S_ISREG(st.st_mode)) return open_in_place(o, path, 0);
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        /* a link to nothing yet: the file is made where it points */
        if (!exists) return open_in_place(o, path, O_CREAT | O_TRUNC);
        char target[PATH_MAX];
        if (!realpath(path, target)) return -1;
        n = strlen(target);
        if (n >= sizeof o->path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(o->path, target, n + 1);
    }
    memcpy(o->tmp, o->path, n);
    memcpy(o->tmp + n, ".XXXXXX", 8);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        o->tmp[0] = '\0';
        return -1;
    }
    /* mkstemp creates the file 0600; give the report the mode of the file
     * it replaces, or what the umask allows for a new one */
    mode_t mode = exists ? (st.st_mode & 07777) : (0666 & ~current_umask());
    if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
        errno = e;
        return -1;
    }
    return 0;
}

/* 0 when the directory of path exists and files can be made in it. */
static int dir_writable(const char *path) {
    char dir[PATH_MAX];
    if (dir_of(path, dir) != 0) return -1;
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return access(dir, W_OK | X_OK);
}

int mt__outfile_check(const char *path) {
    struct stat st;
    if (!path || !*path) {
        errno = ENOENT;
        return -1;
    }
    int named = mt__path_descriptor(path);
    if (named >= 0) return descriptor_writable(named);
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            errno = EISDIR;
            return -1;
        }
        if (!S_ISREG(st.st_mode)) return access(path, W_OK);
        char target[PATH_MAX];
        if (!realpath(path, target)) return -1;
        return dir_writable(target);
    }
    if (errno != ENOENT) return -1;
    /* a link to nothing yet: the file will be made where the last link of
     * the chain points */
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", path);
    for (int hops = 0;; hops++) {
        int step = link_step(name);
        if (step < 0) return -1;
        if (step == 0) break;
        if (hops == 40) {
            errno = ELOOP;
            return -1;
        }
    }
    return dir_writable(name);
}

int mt__outfile_close(mt__outfile *o, bool ok) {
    int e = ok ? 0 : (errno ? errno : EIO);
    errno = 0;
    if (ok && (fflush(o->f) != 0 || ferror(o->f) || (o->tmp[0] && fsync(fileno(o->f)) != 0))) {
        ok = false;
        e = errno ? errno : EIO;
    }
    if (fclose(o->f) != 0 && ok) {
        ok = false;
        e = errno ? errno : EIO;
    }
    o->f = NULL;
    if (o->tmp[0]) {
        if (ok && rename(o->tmp, o->path) != 0) {
            ok = false;
            e = errno;
        }
        if (ok) sync_parent_dir(o->path);
        else unlink(o->tmp);
        o->tmp[0] = '\0';
    }
    if (!ok) errno = e;
    return ok ? 0 : -1;
}
