/* Kill-at-a-write and fail-a-write shim for the crash harness (mtj_hil/testing/crash.py).
 *
 * Loaded with LD_PRELOAD, it stands in front of libc's file-system writes: write, pwrite,
 * writev, pwritev, fsync, fdatasync, ftruncate, truncate, open/openat/creat with O_CREAT or
 * O_TRUNC, rename(at), link(at), unlink(at), mkdir(at), rmdir. Each such call on a path
 * under the armed folder is one "write point". Armed with mtjcrash_arm(k, mode, errno, dir):
 *   mode 0: count only;
 *   mode 1: SIGKILL this process just before write point k (as a power cut or OOM kill);
 *   mode 2: write point k and every later one fail with errno (a full disk, a read-only
 *           file system...), nothing being written.
 * mtjcrash_count() gives the write points seen, mtjcrash_faulted() whether one failed.
 * Calls on other files (the terminal, pipes, sockets, Python's caches) pass untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static volatile long seen = 0;
static volatile long target = 0;
static volatile int mode = 0;
static volatile int fault_errno = 0;
static volatile int faulted = 0;
static char folder[PATH_MAX] = "";
static size_t folder_len = 0;

void mtjcrash_arm(long k, int m, int err, const char *dir) {
    seen = 0;
    target = k;
    mode = m;
    fault_errno = err;
    faulted = 0;
    if (dir) {
        strncpy(folder, dir, sizeof folder - 1);
        folder[sizeof folder - 1] = 0;
        folder_len = strlen(folder);
    } else {
        folder[0] = 0;
        folder_len = 0;
    }
}

long mtjcrash_count(void) { return seen; }
int mtjcrash_faulted(void) { return faulted; }

static int inside(const char *path) {
    if (!folder_len || !path) return 0;
    return strncmp(path, folder, folder_len) == 0 &&
           (path[folder_len] == '/' || path[folder_len] == 0);
}

static int path_inside(int dirfd, const char *path) {
    char buf[2 * PATH_MAX + 2], base[PATH_MAX];
    if (!folder_len || !path) return 0;
    if (path[0] == '/') return inside(path);
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) return 0;
    } else {
        char link[64];
        ssize_t n;
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        n = readlink(link, base, sizeof base - 1);
        if (n < 0) return 0;
        base[n] = 0;
    }
    snprintf(buf, sizeof buf, "%s/%s", base, path);
    return inside(buf);
}

static int fd_inside(int fd) {
    char link[64], buf[PATH_MAX];
    ssize_t n;
    if (!folder_len) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, buf, sizeof buf - 1);
    if (n < 0) return 0;
    buf[n] = 0;
    return inside(buf);
}

/* 0: go ahead; -1: fail with fault_errno (errno set). Never returns at the kill point. */
static int point(int relevant) {
    long k;
    if (!relevant || mode == 0) {
        if (relevant) __sync_fetch_and_add(&seen, 1);
        return 0;
    }
    k = __sync_add_and_fetch(&seen, 1);
    if (mode == 1 && k == target) {
        kill(getpid(), SIGKILL);
        for (;;) pause();
    }
    if (mode == 2 && (k >= target)) {
        faulted = 1;
        errno = fault_errno;
        return -1;
    }
    return 0;
}

#define REAL(name, ret, ...)                                      \
    static ret (*real_##name)(__VA_ARGS__) = NULL;                \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name);

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, ssize_t, int, const void *, size_t)
    if (point(fd > 2 && fd_inside(fd))) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
    if (point(fd_inside(fd))) return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
    if (point(fd_inside(fd))) return -1;
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev, ssize_t, int, const struct iovec *, int)
    if (point(fd > 2 && fd_inside(fd))) return -1;
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
    if (point(fd_inside(fd))) return -1;
    return real_pwritev(fd, iov, cnt, off);
}

int fsync(int fd) {
    REAL(fsync, int, int)
    if (point(fd_inside(fd))) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync, int, int)
    if (point(fd_inside(fd))) return -1;
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len) {
    REAL(ftruncate, int, int, off_t)
    if (point(fd_inside(fd))) return -1;
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) {
    REAL(ftruncate64, int, int, off_t)
    if (point(fd_inside(fd))) return -1;
    return real_ftruncate64(fd, len);
}

int truncate(const char *path, off_t len) {
    REAL(truncate, int, const char *, off_t)
    if (point(path_inside(AT_FDCWD, path))) return -1;
    return real_truncate(path, len);
}

static int creating(int flags) { return (flags & (O_CREAT | O_TRUNC)) != 0; }

int open(const char *path, int flags, ...) {
    REAL(open, int, const char *, int, ...)
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (creating(flags) && point(path_inside(AT_FDCWD, path))) return -1;
    return real_open(path, flags, m);
}

int open64(const char *path, int flags, ...) {
    REAL(open64, int, const char *, int, ...)
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (creating(flags) && point(path_inside(AT_FDCWD, path))) return -1;
    return real_open64(path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(openat, int, int, const char *, int, ...)
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (creating(flags) && point(path_inside(dirfd, path))) return -1;
    return real_openat(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    REAL(openat64, int, int, const char *, int, ...)
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (creating(flags) && point(path_inside(dirfd, path))) return -1;
    return real_openat64(dirfd, path, flags, m);
}

int creat(const char *path, mode_t m) {
    REAL(creat, int, const char *, mode_t)
    if (point(path_inside(AT_FDCWD, path))) return -1;
    return real_creat(path, m);
}

int rename(const char *a, const char *b) {
    REAL(rename, int, const char *, const char *)
    if (point(path_inside(AT_FDCWD, a) || path_inside(AT_FDCWD, b))) return -1;
    return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b) {
    REAL(renameat, int, int, const char *, int, const char *)
    if (point(path_inside(da, a) || path_inside(db, b))) return -1;
    return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned int flags) {
    REAL(renameat2, int, int, const char *, int, const char *, unsigned int)
    if (point(path_inside(da, a) || path_inside(db, b))) return -1;
    return real_renameat2(da, a, db, b, flags);
}

int link(const char *a, const char *b) {
    REAL(link, int, const char *, const char *)
    if (point(path_inside(AT_FDCWD, b))) return -1;
    return real_link(a, b);
}

int linkat(int da, const char *a, int db, const char *b, int flags) {
    REAL(linkat, int, int, const char *, int, const char *, int)
    if (point(path_inside(db, b))) return -1;
    return real_linkat(da, a, db, b, flags);
}

int unlink(const char *path) {
    REAL(unlink, int, const char *)
    if (point(path_inside(AT_FDCWD, path))) return -1;
    return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
    REAL(unlinkat, int, int, const char *, int)
    if (point(path_inside(dirfd, path))) return -1;
    return real_unlinkat(dirfd, path, flags);
}

int mkdir(const char *path, mode_t m) {
    REAL(mkdir, int, const char *, mode_t)
    if (point(path_inside(AT_FDCWD, path))) return -1;
    return real_mkdir(path, m);
}

int mkdirat(int dirfd, const char *path, mode_t m) {
    REAL(mkdirat, int, int, const char *, mode_t)
    if (point(path_inside(dirfd, path))) return -1;
    return real_mkdirat(dirfd, path, m);
}

int rmdir(const char *path) {
    REAL(rmdir, int, const char *)
    if (point(path_inside(AT_FDCWD, path))) return -1;
    return real_rmdir(path);
}
