/* rs_target.c: see rs_target.h. */
#include "rs_target.h"
#include "rs_buf.h"
#include "rs_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rs_target {
    char *path;          /* file target */
    char *dir, *base;
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

int rs_target_open(const char *target, const rs_storage_opts *opts, rs_target **out, rs_error *err)
{
    *out = NULL;
    if (!target || !*target)
        return rs_error_set(err, RS_EINVALID, "target is empty");
    rs_target *t = calloc(1, sizeof *t);
    if (!t)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
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
        t->path = strdup(path);
        char *a = strdup(path), *b = strdup(path);
        t->dir = strdup(dirname(a));
        t->base = strdup(basename(b));
        free(a);
        free(b);
        t->desc = strdup(t->path);
        struct stat st;
        if (stat(t->dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = rs_error_set(err, RS_ENOTFOUND, "target %s: directory %s does not exist", target, t->dir);
        else
            remove_stale_temps(t);
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
    rs_storage_close(t->store);
    free(t->path);
    free(t->dir);
    free(t->base);
    free(t->key);
    free(t->desc);
    free(t);
}

const char *rs_target_describe(const rs_target *t) { return t->desc ? t->desc : ""; }
bool rs_target_is_file(const rs_target *t) { return t->path != NULL; }
const char *rs_target_path(const rs_target *t) { return t->path; }

static void stamp_from_stat(const struct stat *st, rs_target_stamp *s)
{
    memset(s, 0, sizeof *s);
    s->exists = true;
    s->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    s->size = (uint64_t)st->st_size;
    s->inode = (uint64_t)st->st_ino;
}

bool rs_target_stamp_equal(const rs_target_stamp *a, const rs_target_stamp *b)
{
    return a->exists == b->exists && a->mtime_ns == b->mtime_ns && a->size == b->size && a->inode == b->inode &&
           strcmp(a->etag, b->etag) == 0;
}

int rs_target_stat(rs_target *t, rs_target_stamp *out, rs_error *err)
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

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int rs_target_write(rs_target *t, const uint8_t *data, size_t len, rs_target_stamp *stamp_out, rs_error *err)
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
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.regsync-XXXXXX", t->dir, t->base);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return rs_error_set(err, RS_EIO, "target %s: cannot create a temp file in %s: %s", t->path, t->dir, strerror(errno));
    int rc = RS_OK;
    struct stat old;
    bool had_old = stat(t->path, &old) == 0;
    if (write_all(fd, data, len) != 0) {
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
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
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

int rs_target_read(rs_target *t, uint8_t **data, size_t *len, rs_target_stamp *stamp_out, rs_error *err)
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
