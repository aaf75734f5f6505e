/* file.c: the file:// backend. A store is a directory; a key is a path below it.
 *
 * Writes: the data goes to a temp file in the key's directory (".rs-tmp.*"), fsynced, then, under
 * an exclusive flock on <root>/.rs-lock, is renamed over the key (always / if-match) or hard-linked
 * to it (if-absent, link() fails with EEXIST when the key exists), and the directory is fsynced.
 * Every mutation takes the lock for its commit step only, so a check-then-rename (if-match) is
 * atomic against every other regsync writer in any process on this machine. Readers take no lock:
 * they see the old file or the new one.
 *
 * ETag: the hex of the first 16 bytes of SHA-256(content), 32 characters, without quotes (as the
 * S3 backend returns ETags). Equal content, equal ETag. Comparisons ignore surrounding quotes and
 * a W/ prefix. Computed ETags are
 * cached per handle keyed by (dev, inode, size, mtime, ctime), and only for files whose mtime was
 * at least 2 s old when hashed, so an in-place rewrite (Feast writes its local registry.db in place)
 * can never be served a stale ETag.
 *
 * Names starting with ".rs-" are the backend's own (lock, temp files): never listed, refused as key
 * components. Temp files older than an hour (a crashed writer) are removed by list().
 */
#include "rs_storage_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_time.h"
#include "rs_url.h"

#define FILE_CACHE_SLOTS 64
#define TMP_PREFIX ".rs-tmp."
#define LOCK_NAME ".rs-lock"
#define STALE_TMP_SECONDS 3600

typedef struct etag_slot {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    char etag[RS_ETAG_MAX];
} etag_slot;

typedef struct file_store {
    char *root;        /* absolute, no trailing slash (except "/") */
    int lockfd;        /* -1 until the first mutation */
    rs_storage_stats *stats;
    etag_slot cache[FILE_CACHE_SLOTS];
    unsigned cache_next;
    unsigned tmp_counter;
} file_store;

/* ---- helpers ---- */

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return RS_ENOTFOUND;
    case EACCES:
    case EPERM:
        return RS_EAUTH;
    case ENOMEM:
        return RS_ENOMEM;
    case ENAMETOOLONG:
    case EISDIR:
        return RS_EINVALID;
    default:
        return RS_EIO;
    }
}

static int sys_error(rs_error *err, int e, const char *what, const char *path)
{
    int code = errno_code(e);
    bool retry = code == RS_EIO && e != ENOSPC && e != EDQUOT && e != EROFS;
    return rs_error_setr(err, code, retry, "file %s %s: %s", what, path, strerror(e));
}

static void etag_of(const uint8_t *digest, char out[RS_ETAG_MAX])
{
    char hex[33];
    rs_hex(digest, 16, hex);
    snprintf(out, RS_ETAG_MAX, "%s", hex);
}

static void etag_of_bytes(const uint8_t *data, size_t len, char out[RS_ETAG_MAX])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(len ? data : (const uint8_t *)"", len, md, &mdlen, EVP_sha256(), NULL);
    etag_of(md, out);
}

/* Compares two ETags ignoring a W/ prefix and surrounding quotes. */
static bool etag_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la, lb;
    if (strncmp(a, "W/", 2) == 0)
        a += 2;
    if (strncmp(b, "W/", 2) == 0)
        b += 2;
    la = strlen(a);
    lb = strlen(b);
    if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
        a++;
        la -= 2;
    }
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
        b++;
        lb -= 2;
    }
    return la == lb && la > 0 && memcmp(a, b, la) == 0;
}

static char *path_join(const char *root, const char *key)
{
    size_t lr = strlen(root), lk = strlen(key);
    char *p = malloc(lr + lk + 2);
    if (!p)
        return NULL;
    memcpy(p, root, lr);
    size_t o = lr;
    if (o == 0 || p[o - 1] != '/')
        p[o++] = '/';
    memcpy(p + o, key, lk + 1);
    return p;
}

/* Key rules on top of rs_storage_key_valid: no empty or "." components, no component starting
 * with ".rs-" (the backend's own files), components at most NAME_MAX bytes. */
static int key_check(const char *key, rs_error *err)
{
    const char *p = key;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.'))
            return rs_error_set(err, RS_EINVALID, "file key '%s': empty or '.' path component", key);
        if (n >= 4 && memcmp(p, ".rs-", 4) == 0)
            return rs_error_set(err, RS_EINVALID, "file key '%s': components starting with '.rs-' are reserved",
                                key);
        if (n > NAME_MAX)
            return rs_error_set(err, RS_EINVALID, "file key '%s': a path component is longer than %d bytes", key,
                                NAME_MAX);
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return rs_error_set(err, RS_EINVALID, "file key '%s' ends with '/'", key);
    }
    return RS_OK;
}

static int fsync_dir(const char *dir, rs_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sys_error(err, errno, "open directory", dir);
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL && e != EROFS)
        return sys_error(err, e, "fsync directory", dir);
    return RS_OK;
}

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *s = strrchr(d, '/');
    if (s == d)
        s[1] = '\0';
    else if (s)
        *s = '\0';
    return d;
}

/* mkdir -p of path's parents below root (and root itself); fsyncs the parent of every directory
 * it creates. */
static int make_parents(file_store *fs, const char *path, rs_error *err)
{
    char *d = dir_of(path);
    if (!d)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    struct stat st;
    if (stat(d, &st) == 0) {
        int rc = S_ISDIR(st.st_mode) ? RS_OK : rs_error_set(err, RS_EINVALID, "file %s: not a directory", d);
        free(d);
        return rc;
    }
    size_t rootlen = strlen(fs->root);
    int rc = RS_OK;
    for (char *p = d + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(d, 0755) == 0) {
            char *parent = dir_of(d);
            if (parent) {
                fsync_dir(parent, NULL);
                free(parent);
            }
        } else if (errno != EEXIST) {
            rc = sys_error(err, errno, "create directory", d);
            *p = saved;
            break;
        } else if (strlen(d) > rootlen && (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))) {
            rc = rs_error_set(err, RS_EINVALID,
                              "file %s: exists as an object, so no key can live below it (file backend)", d);
            *p = saved;
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(d);
    return rc;
}

/* ---- ETag cache ---- */

static bool ts_eq(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static etag_slot *cache_find(file_store *fs, const char *path, const struct stat *st)
{
    for (unsigned i = 0; i < FILE_CACHE_SLOTS; i++) {
        etag_slot *s = &fs->cache[i];
        if (s->path && strcmp(s->path, path) == 0) {
            if (s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size &&
                ts_eq(s->mtime, st->st_mtim) && ts_eq(s->ctime, st->st_ctim))
                return s;
            return NULL;
        }
    }
    return NULL;
}

/* Remembers an ETag computed from the content of path whose stat (taken before reading) is st.
 * Only files whose mtime is at least 2 s in the past: a later write then gets a different mtime
 * even on file systems with coarse timestamps. */
static void cache_store(file_store *fs, const char *path, const struct stat *st, const char *etag)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec - st->st_mtim.tv_sec < 2 || now.tv_sec - st->st_ctim.tv_sec < 2)
        return;
    etag_slot *s = NULL;
    for (unsigned i = 0; i < FILE_CACHE_SLOTS && !s; i++)
        if (fs->cache[i].path && strcmp(fs->cache[i].path, path) == 0)
            s = &fs->cache[i];
    if (!s) {
        s = &fs->cache[fs->cache_next++ % FILE_CACHE_SLOTS];
        free(s->path);
        s->path = strdup(path);
        if (!s->path)
            return;
    }
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    s->ctime = st->st_ctim;
    snprintf(s->etag, sizeof s->etag, "%s", etag);
}

/* Reads the whole open file fd (fstat'ed as st) into *data, or only hashes it when data is NULL.
 * The ETag is of the bytes actually read. */
static int read_fd(int fd, const char *path, const struct stat *st, uint8_t **data, size_t *len,
                   char etag[RS_ETAG_MAX], rs_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t cap = data ? (size_t)st->st_size + 1 : 1 << 16;
    uint8_t *buf = malloc(cap);
    size_t n = 0;
    int rc = RS_OK;
    if (!buf) {
        rc = rs_error_set(err, RS_ENOMEM, "file %s: out of memory for %zu bytes", path, cap);
        goto out;
    }
    for (;;) {
        if (data && n == cap) {
            size_t ncap = cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                rc = rs_error_set(err, RS_ENOMEM, "file %s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t off = data ? n : 0;
        ssize_t r = read(fd, buf + off, cap - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = sys_error(err, errno, "read", path);
            goto out;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf + off, (size_t)r);
        if (data)
            n += (size_t)r;
    }
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    etag_of(md, etag);
    if (data) {
        *data = buf;
        *len = n;
        buf = NULL;
    }
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ETag of the file at path (cached when possible). RS_ENOTFOUND when it does not exist. */
static int etag_of_path(file_store *fs, const char *path, char etag[RS_ETAG_MAX], struct stat *st_out,
                        rs_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? RS_ENOTFOUND : sys_error(err, errno, "open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sys_error(err, e, "stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return RS_ENOTFOUND;
    }
    if (st_out)
        *st_out = st;
    etag_slot *c = cache_find(fs, path, &st);
    if (c) {
        snprintf(etag, RS_ETAG_MAX, "%s", c->etag);
        close(fd);
        return RS_OK;
    }
    int rc = read_fd(fd, path, &st, NULL, NULL, etag, err);
    close(fd);
    if (rc == RS_OK)
        cache_store(fs, path, &st, etag);
    return rc;
}

/* ---- vtable ---- */

static void file_close(void *impl)
{
    file_store *fs = impl;
    if (!fs)
        return;
    if (fs->lockfd >= 0)
        close(fs->lockfd);
    for (unsigned i = 0; i < FILE_CACHE_SLOTS; i++)
        free(fs->cache[i].path);
    free(fs->root);
    free(fs);
}

static int file_open(const char *url, const rs_storage_opts *opts, void **impl, rs_storage_stats *stats,
                     rs_error *err)
{
    (void)opts;
    const char *p = url + strlen("file://");
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    if (p[0] != '/')
        return rs_error_set(err, RS_EINVALID, "file URL must name an absolute directory (file:///abs/dir): %s", url);
    if (strchr(p, '?') || strchr(p, '#'))
        return rs_error_set(err, RS_EINVALID, "file URL takes no parameters (escape '?' as %%3F): %s", url);
    char *root = NULL;
    int rc = rs_pct_decode(p, strlen(p), &root);
    if (rc == RS_ENOMEM)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    if (rc)
        return rs_error_set(err, RS_EINVALID, "file URL has a bad %%-escape: %s", url);
    size_t l = strlen(root);
    while (l > 1 && root[l - 1] == '/')
        root[--l] = '\0';
    file_store *fs = calloc(1, sizeof *fs);
    if (!fs) {
        free(root);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    fs->root = root;
    fs->lockfd = -1;
    fs->stats = stats;
    struct stat st;
    if (stat(root, &st) == 0 && !S_ISDIR(st.st_mode)) {
        rs_error_set(err, RS_EINVALID, "file store %s is not a directory", root);
        file_close(fs);
        return RS_EINVALID;
    }
    if (stat(root, &st) != 0) {
        /* create it (and its parents); a read-only consumer of a missing directory just sees no keys */
        char *probe = path_join(root, "x");
        if (probe) {
            make_parents(fs, probe, NULL);
            free(probe);
        }
    }
    *impl = fs;
    return RS_OK;
}

static int store_lock(file_store *fs, rs_error *err)
{
    if (fs->lockfd < 0) {
        char *lp = path_join(fs->root, LOCK_NAME);
        if (!lp)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        if (make_parents(fs, lp, err) != RS_OK) {
            free(lp);
            return err ? err->code : RS_EIO;
        }
        fs->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fs->lockfd < 0) {
            int rc = sys_error(err, errno, "open lock", lp);
            free(lp);
            return rc;
        }
        free(lp);
    }
    while (flock(fs->lockfd, LOCK_EX) != 0) {
        if (errno != EINTR)
            return sys_error(err, errno, "lock", fs->root);
    }
    return RS_OK;
}

static void store_unlock(file_store *fs)
{
    if (fs->lockfd >= 0)
        flock(fs->lockfd, LOCK_UN);
}

static int file_get(void *impl, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
                    char etag_out[RS_ETAG_MAX], rs_error *err)
{
    file_store *fs = impl;
    int rc = key_check(key, err);
    if (rc)
        return rc;
    char *path = path_join(fs->root, key);
    if (!path)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    fs->stats->requests++;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rc = (e == ENOENT || e == ENOTDIR) ? rs_error_set(err, RS_ENOTFOUND, "file %s: no such object", path)
                                           : sys_error(err, e, "open", path);
        free(path);
        return rc;
    }
    struct stat st;
    char etag[RS_ETAG_MAX];
    uint8_t *buf = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        rc = sys_error(err, errno, "stat", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = rs_error_set(err, RS_ENOTFOUND, "file %s: not an object (a directory)", path);
        goto out;
    }
    if (if_none_match && *if_none_match) {
        etag_slot *c = cache_find(fs, path, &st);
        if (c && etag_eq(c->etag, if_none_match)) {
            if (etag_out)
                snprintf(etag_out, RS_ETAG_MAX, "%s", c->etag);
            rc = RS_ENOTMODIFIED;
            goto out;
        }
    }
    rc = read_fd(fd, path, &st, &buf, &n, etag, err);
    if (rc)
        goto out;
    cache_store(fs, path, &st, etag);
    if (etag_out)
        snprintf(etag_out, RS_ETAG_MAX, "%s", etag);
    if (if_none_match && *if_none_match && etag_eq(etag, if_none_match)) {
        rc = RS_ENOTMODIFIED;
        goto out;
    }
    fs->stats->bytes_in += n;
    *data = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    free(path);
    return rc;
}

/* Creates and fills a temp file next to path; *tmp_out is its name (caller frees). */
static int write_temp(file_store *fs, const char *path, const uint8_t *data, size_t len, char **tmp_out,
                      rs_error *err)
{
    char *dir = dir_of(path);
    if (!dir)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    size_t cap = strlen(dir) + 96;
    char *tmp = malloc(cap);
    if (!tmp) {
        free(dir);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    int rc = RS_OK, fd = -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        rc = make_parents(fs, path, err);
        if (rc)
            break;
        snprintf(tmp, cap, "%s/" TMP_PREFIX "%ld.%u.%lld", dir, (long)getpid(), ++fs->tmp_counter,
                 (long long)(rs_mono_ns() % 1000000000LL));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || (errno != ENOENT && errno != EEXIST))
            break; /* ENOENT: a concurrent delete removed the (empty) directory; EEXIST: name clash */
    }
    if (!rc && fd < 0)
        rc = sys_error(err, errno, "create temp file in", dir);
    if (rc)
        goto fail;
    if (rs_write_all(fd, data, len) != 0) {
        rc = sys_error(err, errno, "write", tmp);
        goto fail;
    }
    if (fsync(fd) != 0) {
        rc = sys_error(err, errno, "fsync", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = sys_error(err, errno, "close", tmp);
        goto fail;
    }
    free(dir);
    *tmp_out = tmp;
    return RS_OK;
fail:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(dir);
    return rc;
}

static int file_put(void *impl, const char *key, const uint8_t *data, size_t len, rs_put_mode mode,
                    const char *if_match, char etag_out[RS_ETAG_MAX], rs_error *err)
{
    file_store *fs = impl;
    int rc = key_check(key, err);
    if (rc)
        return rc;
    char *path = path_join(fs->root, key);
    char *dir = path ? dir_of(path) : NULL;
    char *tmp = NULL;
    bool locked = false;
    char etag[RS_ETAG_MAX];
    if (!path || !dir) {
        rc = rs_error_set(err, RS_ENOMEM, "out of memory");
        goto out;
    }
    fs->stats->requests++;
    etag_of_bytes(data, len, etag);
    rc = write_temp(fs, path, data, len, &tmp, err);
    if (rc)
        goto out;
    rc = store_lock(fs, err);
    if (rc)
        goto out;
    locked = true;
    switch (mode) {
    case RS_PUT_IF_ABSENT:
        if (link(tmp, path) != 0) {
            int e = errno;
            if (e == EEXIST) {
                rc = rs_error_set(err, RS_ECONFLICT, "file %s: already exists (put if absent)", path);
                goto out;
            }
            if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS || e == EMLINK) {
                /* no hard links here (some FUSE/vfat): every regsync writer holds the lock, so
                 * check-then-rename is still atomic among them */
                struct stat st;
                if (lstat(path, &st) == 0) {
                    rc = rs_error_set(err, RS_ECONFLICT, "file %s: already exists (put if absent)", path);
                    goto out;
                }
                if (rename(tmp, path) != 0) {
                    rc = sys_error(err, errno, "rename to", path);
                    goto out;
                }
                free(tmp);
                tmp = NULL;
                break;
            }
            rc = sys_error(err, e, "link", path);
            goto out;
        }
        break;
    case RS_PUT_IF_MATCH: {
        char cur[RS_ETAG_MAX];
        rc = etag_of_path(fs, path, cur, NULL, err);
        if (rc == RS_ENOTFOUND) {
            rc = rs_error_set(err, RS_ECONFLICT, "file %s: does not exist (put if match %s)", path, if_match);
            goto out;
        }
        if (rc)
            goto out;
        if (!etag_eq(cur, if_match)) {
            rc = rs_error_set(err, RS_ECONFLICT, "file %s: ETag is %s, not %s (put if match)", path, cur, if_match);
            goto out;
        }
    }
        /* fall through */
    case RS_PUT_ALWAYS:
    default:
        if (rename(tmp, path) != 0) {
            int e = errno;
            rc = e == EISDIR || e == ENOTEMPTY || e == EEXIST
                     ? rs_error_set(err, RS_EINVALID, "file %s: is a directory (keys live below it)", path)
                     : sys_error(err, e, "rename to", path);
            goto out;
        }
        free(tmp);
        tmp = NULL;
        break;
    }
    rc = fsync_dir(dir, err);
    if (rc)
        goto out;
    fs->stats->bytes_out += len;
    if (etag_out)
        snprintf(etag_out, RS_ETAG_MAX, "%s", etag);
out:
    if (tmp)
        unlink(tmp); /* if-absent: the link holds the data, or the put failed */
    if (locked)
        store_unlock(fs);
    free(tmp);
    free(dir);
    free(path);
    return rc;
}

/* Can keys below directory key (no trailing '/') start with prefix? */
static bool dir_may_match(const char *key, size_t klen, const char *prefix, size_t plen)
{
    if (plen <= klen)
        return strncmp(key, prefix, plen) == 0;
    return strncmp(key, prefix, klen) == 0 && prefix[klen] == '/';
}

typedef struct list_acc {
    rs_list_entry *v;
    size_t n, cap;
} list_acc;

static int list_walk(file_store *fs, const char *dirpath, size_t rootlen, const char *prefix, list_acc *acc,
                     int depth, rs_error *err)
{
    if (depth > 256)
        return RS_OK;
    DIR *d = opendir(dirpath);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return RS_OK;
        return sys_error(err, errno, "list directory", dirpath);
    }
    int rc = RS_OK;
    struct dirent *e;
    size_t plen = strlen(prefix);
    time_t now = time(NULL);
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        char *full = path_join(dirpath, nm);
        if (!full) {
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            break;
        }
        struct stat st;
        if (lstat(full, &st) != 0) {
            free(full);
            continue; /* vanished meanwhile */
        }
        if (strncmp(nm, ".rs-", 4) == 0) {
            if (strncmp(nm, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 && S_ISREG(st.st_mode) &&
                now - st.st_mtim.tv_sec > STALE_TMP_SECONDS)
                unlink(full); /* left by a writer that crashed */
            free(full);
            continue;
        }
        const char *key = full + rootlen + 1;
        size_t klen = strlen(key);
        if (S_ISLNK(st.st_mode)) {
            /* follow links to regular files only (no directory loops) */
            if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
                free(full);
                continue;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            /* descend only when keys below can match the prefix */
            if (dir_may_match(key, klen, prefix, plen))
                rc = list_walk(fs, full, rootlen, prefix, acc, depth + 1, err);
            free(full);
            if (rc)
                break;
            continue;
        }
        if (!S_ISREG(st.st_mode) || strncmp(key, prefix, plen) != 0) {
            free(full);
            continue;
        }
        if (acc->n == acc->cap) {
            size_t nc = acc->cap ? acc->cap * 2 : 64;
            rs_list_entry *nv = realloc(acc->v, nc * sizeof *nv);
            if (!nv) {
                free(full);
                rc = rs_error_set(err, RS_ENOMEM, "out of memory");
                break;
            }
            acc->v = nv;
            acc->cap = nc;
        }
        rs_list_entry *le = &acc->v[acc->n];
        memset(le, 0, sizeof *le);
        le->key = strdup(key);
        if (!le->key) {
            free(full);
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            break;
        }
        struct stat st2;
        int r2 = etag_of_path(fs, full, le->etag, &st2, err);
        if (r2 == RS_ENOTFOUND) { /* deleted meanwhile */
            free(le->key);
            free(full);
            continue;
        }
        if (r2) {
            free(le->key);
            free(full);
            rc = r2;
            break;
        }
        le->size = (uint64_t)st2.st_size;
        le->mtime_ms = (int64_t)st2.st_mtim.tv_sec * 1000 + st2.st_mtim.tv_nsec / 1000000;
        acc->n++;
        free(full);
    }
    closedir(d);
    return rc;
}

static int file_list(void *impl, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err)
{
    file_store *fs = impl;
    /* the prefix must stay inside the store */
    for (const char *p = prefix; *p; p++)
        if ((p == prefix && *p == '/') ||
            ((p == prefix || p[-1] == '/') && p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')))
            return rs_error_set(err, RS_EINVALID, "file list: prefix '%s' leaves the store", prefix);
    fs->stats->requests++;
    /* start at the deepest directory the prefix names */
    char *start;
    const char *slash = strrchr(prefix, '/');
    if (slash) {
        char *sub = strndup(prefix, (size_t)(slash - prefix));
        if (!sub)
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        start = path_join(fs->root, sub);
        free(sub);
    } else {
        start = strdup(fs->root);
    }
    if (!start)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    list_acc acc = {0};
    size_t rootlen = strlen(fs->root);
    if (rootlen == 1) /* root "/" */
        rootlen = 0;
    int rc = list_walk(fs, start, rootlen, prefix, &acc, 0, err);
    free(start);
    if (rc) {
        rs_storage_list_free(acc.v, acc.n);
        return rc;
    }
    *entries = acc.v;
    *n = acc.n;
    return RS_OK;
}

static int file_del(void *impl, const char *key, rs_error *err)
{
    file_store *fs = impl;
    int rc = key_check(key, err);
    if (rc)
        return rc;
    char *path = path_join(fs->root, key);
    char *dir = path ? dir_of(path) : NULL;
    if (!path || !dir) {
        free(path);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    fs->stats->requests++;
    rc = store_lock(fs, err);
    if (rc)
        goto out;
    if (unlink(path) != 0) {
        int e = errno;
        if (e != ENOENT && e != ENOTDIR && e != EISDIR)
            rc = sys_error(err, e, "delete", path);
    } else {
        rc = fsync_dir(dir, err);
        /* remove directories left empty, up to the root (S3 has no directories) */
        size_t rootlen = strlen(fs->root);
        char *d = strdup(dir);
        while (d && strlen(d) > rootlen) {
            if (rmdir(d) != 0)
                break;
            char *s = strrchr(d, '/');
            if (!s)
                break;
            *s = '\0';
        }
        free(d);
    }
    store_unlock(fs);
out:
    free(dir);
    free(path);
    return rc;
}

/* Under the store's lock, which every put takes: nothing can change the key in between. */
static int file_del_if(void *impl, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err)
{
    file_store *fs = impl;
    int rc = key_check(key, err);
    if (rc)
        return rc;
    char *path = path_join(fs->root, key);
    char *dir = path ? dir_of(path) : NULL;
    if (!path || !dir) {
        free(path);
        free(dir);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    fs->stats->requests++;
    rc = store_lock(fs, err);
    if (rc)
        goto out;
    char cur[RS_ETAG_MAX];
    struct stat st;
    rc = etag_of_path(fs, path, cur, &st, err);
    int64_t mt = rc ? 0 : (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (rc == RS_ENOTFOUND) {
        rc = RS_OK;
    } else if (!rc && !etag_eq(cur, if_match)) {
        rc = rs_error_set(err, RS_ECONFLICT, "file %s: ETag is %s, not %s (delete if match)", path, cur, if_match);
    } else if (!rc && if_mtime_ms && mt != if_mtime_ms) {
        rc = rs_error_set(err, RS_ECONFLICT, "file %s: rewritten since it was listed (delete if unchanged)", path);
    } else if (!rc) {
        if (unlink(path) != 0 && errno != ENOENT)
            rc = sys_error(err, errno, "delete", path);
        else
            rc = fsync_dir(dir, err);
    }
    store_unlock(fs);
out:
    free(dir);
    free(path);
    return rc;
}

const rs_storage_vtable rs_file_backend = {
    .scheme = "file",
    .caps = 0,
    .open = file_open,
    .close = file_close,
    .get = file_get,
    .put = file_put,
    .list = file_list,
    .del = file_del,
    .del_if = file_del_if,
    .watch = NULL,
};
