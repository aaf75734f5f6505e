/* rs_target.c: see rs_target.h. */
#define RS_ERROR_ORIGIN RS_ORIGIN_TARGET /* the errors this file makes (common/rs_error.h) */
#include "rs_target.h"
#include "rs_alloc.h"
#include "rs_checked.h"
#include "rs_buf.h"
#include "rs_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct rs_target {
    char *path;          /* file target */
    char *dir, *base;
    char *lock_path;     /* <dir>/.<base>.regsync.lock */
    int lock_fd;         /* -1: the lock is not held */
    char *owner;         /* what the lock file says about us */
    rs_storage *store;   /* storage target */
    char *key;
    char *desc;
};

static void remove_stale_temps(rs_target *t)
{
    DIR *d = opendir(t->dir);
    if (!d)
        return;
    char prefix[512];
    snprintf(prefix, sizeof prefix, ".%s.regsync-", t->base);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
            if (unlink(p) == 0)
                RS_LOGW("target", "removed stale temp file path=\"%s\"", p);
        }
    }
    closedir(d);
}

static int rs_target_open_(const char *target, const rs_storage_opts *opts, rs_target **out, rs_error *err)
{
    *out = NULL;
    if (!target || !*target)
        return rs_error_set(err, RS_EINVALID, "target is empty");
    rs_target *t = calloc(1, sizeof *t);
    if (!t)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    t->lock_fd = -1;
    int rc = RS_OK;
    const char *path = NULL;
    if (strncmp(target, "file://", 7) == 0)
        path = target + 7;
    else if (target[0] == '/')
        path = target;
    if (path) {
        if (path[0] != '/') {
            free(t);
            return rs_error_set(err, RS_EINVALID, "target %s: a file target needs an absolute path", target);
        }
        t->path = rs_xstrdup(path);
        char *a = rs_xstrdup(path), *b = rs_xstrdup(path);
        t->dir = rs_xstrdup(dirname(a));
        t->base = rs_xstrdup(basename(b));
        free(a);
        free(b);
        t->desc = rs_xstrdup(t->path);
        size_t ln = strlen(t->dir) + strlen(t->base) + 32;
        t->lock_path = malloc(ln);
        if (!t->dir || !t->base || !t->desc || !t->lock_path) {
            rs_target_close(t);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        snprintf(t->lock_path, ln, "%s/.%s.regsync.lock", t->dir, t->base);
        struct stat st;
        if (stat(t->dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = rs_error_set(err, RS_ENOTFOUND, "target %s: directory %s does not exist", target, t->dir);
    } else {
        char *store_url = NULL;
        rc = rs_storage_split_url(target, &store_url, &t->key, err);
        if (!rc)
            rc = rs_storage_open(store_url, opts, &t->store, err);
        if (!rc) {
            size_t n = strlen(rs_storage_url(t->store)) + strlen(t->key) + 16;
            t->desc = malloc(n);
            if (t->desc)
                snprintf(t->desc, n, "%s (key %s)", rs_storage_url(t->store), t->key);
        }
        free(store_url);
    }
    if (rc) {
        rs_target_close(t);
        return rc;
    }
    *out = t;
    return RS_OK;
}

void rs_target_close(rs_target *t)
{
    if (!t)
        return;
    if (t->lock_fd >= 0)
        close(t->lock_fd); /* releases the flock; the file stays (unlinking it would race) */
    free(t->lock_path);
    free(t->owner);
    rs_storage_close(t->store);
    free(t->path);
    free(t->dir);
    free(t->base);
    free(t->key);
    free(t->desc);
    free(t);
}

/* ------------------------------------------------------------ the lock */

int rs_target_lock(rs_target *t, const char *owner, rs_error *err)
{
    if (!t->path || t->lock_fd >= 0)
        return RS_OK;
    if (owner && (!t->owner || strcmp(owner, t->owner) != 0)) {
        char *o = strdup(owner);
        if (!o)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        free(t->owner);
        t->owner = o;
    }
    /* held through a read-only descriptor: an open writable file would keep the filesystem from
     * being remounted read-only (and the lock says nothing about the data) */
    int fd = open(t->lock_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return rs_error_set(err, RS_EIO, "target %s: cannot create its lock file %s: %s", t->path, t->lock_path,
                            strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[512] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return rs_error_set(err, RS_ECONFLICT,
                                "target %s is already written by another regsync agent (%s; lock %s): one target, one agent",
                                t->path, holder[0] ? holder : "holder unknown", t->lock_path);
        return rs_error_set(err, RS_EIO, "target %s: cannot lock %s: %s", t->path, t->lock_path, strerror(e));
    }
    /* who holds it, for the error another agent will print */
    char line[600];
    char host[128] = "?";
    gethostname(host, sizeof host - 1);
    int len = snprintf(line, sizeof line, "pid %d on %s, %s, since %lld\n", (int)getpid(), host,
                       t->owner ? t->owner : "regsync", (long long)time(NULL));
    int wfd = open(t->lock_path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (wfd < 0 || write(wfd, line, (size_t)len) != len)
        RS_LOGW("target", "cannot record the lock holder path=\"%s\" error=\"%s\"", t->lock_path, strerror(errno));
    if (wfd >= 0)
        close(wfd);
    t->lock_fd = fd;
    /* only the holder may remove temp files: another agent's may be in flight otherwise */
    remove_stale_temps(t);
    return RS_OK;
}

bool rs_target_locked(const rs_target *t) { return !t->path || t->lock_fd >= 0; }

const char *rs_target_describe(const rs_target *t) { return t->desc ? t->desc : ""; }
bool rs_target_is_file(const rs_target *t) { return t->path != NULL; }
const char *rs_target_path(const rs_target *t) { return t->path; }

static void stamp_from_stat(const struct stat *st, rs_target_stamp *s)
{
    memset(s, 0, sizeof *s);
    s->exists = true;
    /* a file's mtime can be set to anything: past 2262 nanoseconds overflow int64; saturate */
    int64_t ns;
    if (!rs_i64_mul((int64_t)st->st_mtim.tv_sec, 1000000000, &ns) || !rs_i64_add(ns, st->st_mtim.tv_nsec, &ns))
        ns = st->st_mtim.tv_sec < 0 ? INT64_MIN : INT64_MAX;
    s->mtime_ns = ns;
    s->size = (uint64_t)st->st_size;
    s->inode = (uint64_t)st->st_ino;
}

bool rs_target_stamp_equal(const rs_target_stamp *a, const rs_target_stamp *b)
{
    return a->exists == b->exists && a->mtime_ns == b->mtime_ns && a->size == b->size && a->inode == b->inode &&
           strcmp(a->etag, b->etag) == 0;
}

static int rs_target_stat_(rs_target *t, rs_target_stamp *out, rs_error *err)
{
    memset(out, 0, sizeof *out);
    if (t->path) {
        struct stat st;
        if (stat(t->path, &st) != 0) {
            if (errno == ENOENT)
                return RS_OK;
            return rs_error_set(err, RS_EIO, "target %s: %s", t->path, strerror(errno));
        }
        stamp_from_stat(&st, out);
        return RS_OK;
    }
    rs_list_entry *e;
    size_t n;
    int rc = rs_storage_list(t->store, t->key, &e, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].key, t->key) == 0) {
            out->exists = true;
            out->size = e[i].size;
            snprintf(out->etag, sizeof out->etag, "%s", e[i].etag);
        }
    rs_storage_list_free(e, n);
    return RS_OK;
}

/* fills fd with the new content; 0, or -1 with errno set */
typedef int (*fill_fn)(int fd, void *ctx);

/* The atomic replace of a file target: temp file, fill, mode and owner, fsync, rename, fsync of
 * the directory. */
static int write_file(rs_target *t, fill_fn fill, void *ctx, rs_target_stamp *stamp_out, rs_error *err)
{
    if (t->lock_fd < 0) {
        int lrc = rs_target_lock(t, NULL, err);
        if (lrc)
            return lrc;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.regsync-XXXXXX", t->dir, t->base);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return rs_error_set(err, RS_EIO, "target %s: cannot create a temp file in %s: %s", t->path, t->dir, strerror(errno));
    int rc = RS_OK;
    struct stat old;
    bool had_old = stat(t->path, &old) == 0;
    if (fill(fd, ctx) != 0) {
        rc = rs_error_set(err, RS_EIO, "target %s: write: %s", t->path, strerror(errno));
        goto fail;
    }
    if (had_old) {
        if (fchmod(fd, old.st_mode & 07777) != 0)
            RS_LOGW("target", "cannot keep the mode path=\"%s\" error=\"%s\"", t->path, strerror(errno));
        if ((old.st_uid != geteuid() || old.st_gid != getegid()) && fchown(fd, old.st_uid, old.st_gid) != 0)
            RS_LOGW("target", "cannot keep the owner path=\"%s\" error=\"%s\"", t->path, strerror(errno));
    } else {
        fchmod(fd, 0644);
    }
    if (fsync(fd) != 0) {
        rc = rs_error_set(err, RS_EIO, "target %s: fsync: %s", t->path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = rs_error_set(err, RS_EIO, "target %s: close: %s", t->path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, t->path) != 0) {
        rc = rs_error_set(err, RS_EIO, "target %s: rename: %s", t->path, strerror(errno));
        goto fail;
    }
    /* the rename is durable only once the directory is */
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return rs_error_set(err, RS_EIO, "target %s: fsync of directory %s: %s", t->path, t->dir, strerror(e));
    }
    close(dfd);
    if (stamp_out) {
        struct stat st;
        if (stat(t->path, &st) == 0)
            stamp_from_stat(&st, stamp_out);
    }
    return RS_OK;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

typedef struct bytes_ctx {
    const uint8_t *p;
    size_t n;
} bytes_ctx;

static int fill_bytes(int fd, void *ctx)
{
    bytes_ctx *b = ctx;
    return rs_write_all(fd, b->p, b->n);
}

static int rs_target_write_(rs_target *t, const uint8_t *data, size_t len, rs_target_stamp *stamp_out, rs_error *err)
{
    if (stamp_out)
        memset(stamp_out, 0, sizeof *stamp_out);
    if (!t->path) {
        char etag[RS_ETAG_MAX];
        int rc = rs_storage_put(t->store, t->key, data, len, RS_PUT_ALWAYS, NULL, etag, err);
        if (!rc && stamp_out) {
            stamp_out->exists = true;
            stamp_out->size = len;
            snprintf(stamp_out->etag, sizeof stamp_out->etag, "%s", etag);
        }
        return rc;
    }
    bytes_ctx b = {data, len};
    return write_file(t, fill_bytes, &b, stamp_out, err);
}

/* writev of the objects' own bytes, RS_TARGET_IOV objects at a time: the registry is never
 * copied into one buffer. */
#define RS_TARGET_IOV 512

typedef struct iov_writer {
    int fd;
    int failed; /* errno of a failed write */
    size_t n;   /* iovecs in use */
    struct iovec iov[2 * RS_TARGET_IOV];
    uint8_t head[RS_TARGET_IOV][20];
} iov_writer;

static int iov_flush(iov_writer *w)
{
    struct iovec *v = w->iov;
    size_t n = w->n;
    while (n > 0) {
        ssize_t k = writev(w->fd, v, (int)n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            w->failed = errno;
            return -1;
        }
        size_t left = (size_t)k;
        while (n > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    w->n = 0;
    return 0;
}

static int iov_sink(void *ctx, const uint8_t *head, size_t head_len, const uint8_t *data, size_t data_len)
{
    iov_writer *w = ctx;
    if (w->n + 2 > 2 * RS_TARGET_IOV && iov_flush(w))
        return -1;
    if (head_len) {
        uint8_t *h = w->head[w->n / 2];
        memcpy(h, head, head_len);
        w->iov[w->n++] = (struct iovec){h, head_len};
    } else {
        w->iov[w->n++] = (struct iovec){(void *)"", 0}; /* keeps head slots paired with iovecs */
    }
    if (data_len)
        w->iov[w->n++] = (struct iovec){(void *)data, data_len};
    else
        w->iov[w->n++] = (struct iovec){(void *)"", 0};
    return 0;
}

static int fill_registry(int fd, void *ctx)
{
    iov_writer *w = malloc(sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return -1;
    }
    w->fd = fd;
    w->failed = 0;
    w->n = 0;
    int rc = rs_registry_encode_to(ctx, iov_sink, w);
    if (rc == 0)
        rc = iov_flush(w);
    int e = w->failed;
    free(w);
    if (rc)
        errno = e ? e : EIO;
    return rc ? -1 : 0;
}

static int rs_target_write_registry_(rs_target *t, const rs_registry *r, rs_target_stamp *stamp_out, rs_error *err)
{
    if (stamp_out)
        memset(stamp_out, 0, sizeof *stamp_out);
    if (!t->path) { /* a storage put takes one body */
        uint8_t *bytes = NULL;
        size_t len = 0;
        int rc = rs_registry_encode(r, &bytes, &len, err);
        if (rc == RS_OK)
            rc = rs_target_write(t, bytes, len, stamp_out, err);
        free(bytes);
        return rc;
    }
    return write_file(t, fill_registry, (void *)r, stamp_out, err);
}

static int rs_target_read_(rs_target *t, uint8_t **data, size_t *len, rs_target_stamp *stamp_out, rs_error *err)
{
    *data = NULL;
    *len = 0;
    if (stamp_out)
        memset(stamp_out, 0, sizeof *stamp_out);
    if (!t->path) {
        char etag[RS_ETAG_MAX];
        int rc = rs_storage_get(t->store, t->key, NULL, data, len, etag, err);
        if (!rc && stamp_out) {
            stamp_out->exists = true;
            stamp_out->size = *len;
            snprintf(stamp_out->etag, sizeof stamp_out->etag, "%s", etag);
        }
        return rc;
    }
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rs_error_set(err, errno == ENOENT ? RS_ENOTFOUND : RS_EIO, "target %s: %s", t->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rs_error_set(err, RS_EIO, "target %s: %s", t->path, strerror(errno));
    }
    rs_buf b = {0};
    if (rs_buf_reserve(&b, (size_t)st.st_size + 1)) {
        close(fd);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    for (;;) {
        if (rs_buf_reserve(&b, 65536)) {
            close(fd);
            rs_buf_free(&b);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            rs_buf_free(&b);
            return rs_error_set(err, RS_EIO, "target %s: read: %s", t->path, strerror(errno));
        }
        if (r == 0)
            break;
        b.len += (size_t)r;
    }
    close(fd);
    if (stamp_out)
        stamp_from_stat(&st, stamp_out);
    *data = rs_buf_take(&b, len);
    return RS_OK;
}

int rs_target_open(const char *target, const rs_storage_opts *opts, rs_target **out, rs_error *err)
{
    int rc = rs_target_open_(target, opts, out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_TARGET);
    return rc;
}

int rs_target_stat(rs_target *t, rs_target_stamp *out, rs_error *err)
{
    int rc = rs_target_stat_(t, out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_TARGET);
    return rc;
}

int rs_target_write(rs_target *t, const uint8_t *data, size_t len, rs_target_stamp *stamp_out, rs_error *err)
{
    int rc = rs_target_write_(t, data, len, stamp_out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_TARGET);
    return rc;
}

int rs_target_write_registry(rs_target *t, const rs_registry *r, rs_target_stamp *stamp_out, rs_error *err)
{
    int rc = rs_target_write_registry_(t, r, stamp_out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_TARGET);
    return rc;
}

int rs_target_read(rs_target *t, uint8_t **data, size_t *len, rs_target_stamp *stamp_out, rs_error *err)
{
    int rc = rs_target_read_(t, data, len, stamp_out, err);
    if (rc)
        rs_error_set_origin(err, RS_ORIGIN_TARGET);
    return rc;
}
