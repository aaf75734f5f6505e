/* mysql.c: the mysql:// backend (MariaDB Connector/C), also the helpers of mysql_impl.h.
 *
 * URL: mysql://user:password@host:port/db?ssl-mode=...&ssl-ca=...&table_prefix=... (mariadb://
 * too); table_prefix (default "regsync_") is ours. Works with MariaDB 10.3+ and MySQL 5.7/8.x
 * (CloudSQL), InnoDB.
 *
 * Schema (see docs/storage.md), created by a versioned migration under a named lock (GET_LOCK):
 *   <p>schema_version(version int primary key, applied datetime(6), by_app varchar(64))
 *   <p>objects(`key` varbinary(1024) primary key, data longblob, etag varchar(64) ascii,
 *              size bigint, updated_ms bigint)
 * regsync writes etag and size itself with every write (no triggers: they need SUPER or
 * log_bin_trust_function_creators where the binary log is on, as on CloudSQL; no generated
 * columns: MariaDB reads the whole longblob to return one of them).
 *
 * ETag: the hex of the first 16 bytes of SHA-256(data), as the file and postgresql:// backends.
 * A get checks that the bytes it received have the stored size and ETag (a value cut short or
 * changed behind regsync's back is an error, never a success).
 *
 * Writes are single autocommit statements on InnoDB:
 *   if-absent: INSERT -> duplicate key (1062): RS_ECONFLICT
 *   if-match:  UPDATE ... WHERE `key` = ? AND etag = ? -> 0 rows matched: RS_ECONFLICT
 * InnoDB's UPDATE reads the latest committed row under an exclusive row lock (a locking read,
 * whatever the isolation level), so of N racing if-match writers exactly one matches; the
 * connection uses CLIENT_FOUND_ROWS so that "matched" (not "changed") rows are counted.
 *
 * Idle polls: a conditional get is one statement whose data column is a subquery that is empty
 * when the ETag matches: the server answers from the primary key without reading the blob.
 */
#include "mysql_impl.h"
#include "rs_storage_impl.h"

#include <ctype.h>
#include <errmsg.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rs_buf.h"
#include "rs_log.h"
#include "rs_time.h"
#include "rs_url.h"

#define MY_SCHEMA_LATEST 1
#define MY_DEFAULT_PREFIX "regsync_"
#define MY_PREFIX_MAX 40
#define MY_DEFAULT_PORT 3306
#define MY_PACKET_SLACK 4096 /* a statement's bytes besides the value (key, etag, SQL, headers) */
#define MY_RELEASE_AFTER (1u << 20) /* a value read at least this large: reconnect afterwards */
#define MY_NOW_MS "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"

/* ---------------------------------------------------------------- library and deadlines */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;
static void lib_init(void) { lib_rc = mysql_library_init(0, NULL, NULL); }

static _Thread_local int64_t tl_deadline; /* rs_mono_ms(); 0: no call in progress */
static _Thread_local bool tl_expired;

void rs_my_deadline_begin(long timeout_ms)
{
    tl_deadline = rs_mono_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
    tl_expired = false;
}

void rs_my_deadline_end(void) { tl_deadline = 0; }

bool rs_my_deadline_expired(void) { return tl_expired; }

/* Connector/C's I/O wait (MARIADB_OPT_IO_WAIT): poll() bounded by the call's deadline. The
 * library's own timeout argument is ignored while a deadline is set (its unit differs between
 * the plain and the TLS paths); without one (a close), waits are capped at 1 s. */
static int io_wait(my_socket fd, my_bool is_read, int timeout)
{
    struct pollfd p = {.fd = fd, .events = is_read ? POLLIN : POLLOUT};
    for (;;) {
        int wait = timeout > 0 && timeout < 1000 ? timeout : 1000;
        if (tl_deadline) {
            int64_t left = tl_deadline - rs_mono_ms();
            if (left <= 0) {
                tl_expired = true;
                errno = ETIMEDOUT;
                return 0;
            }
            wait = left > INT_MAX ? INT_MAX : (int)left;
        }
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            if (tl_deadline)
                tl_expired = true;
            errno = ETIMEDOUT;
        }
        return r;
    }
}

/* ---------------------------------------------------------------- URLs */

/* %-decodes [s, s+n) into a new string; NULL on a bad escape or an encoded NUL (*bad set) or no memory. */
static char *pct_decode(const char *s, size_t n, bool *bad)
{
    char *o;
    int rc = rs_pct_decode(s, n, &o);
    if (rc == RS_EINVALID)
        *bad = true;
    return rc == RS_OK ? o : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void rs_my_target_free(rs_my_target *t)
{
    if (!t)
        return;
    free(t->user);
    wipe_free(t->password);
    free(t->host);
    free(t->socket);
    free(t->db);
    free(t->ssl_ca);
    free(t->ssl_capath);
    free(t->ssl_cert);
    free(t->ssl_key);
    free(t->table_prefix);
    free(t->display);
    memset(t, 0, sizeof *t);
}

static bool ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static int parse_ssl_mode(const char *v, rs_my_ssl_mode *m)
{
    if (ieq(v, "DISABLED") || ieq(v, "DISABLE"))
        *m = RS_MY_SSL_DISABLED;
    else if (ieq(v, "PREFERRED") || ieq(v, "PREFER"))
        *m = RS_MY_SSL_PREFERRED;
    else if (ieq(v, "REQUIRED") || ieq(v, "REQUIRE"))
        *m = RS_MY_SSL_REQUIRED;
    else if (ieq(v, "VERIFY_CA") || ieq(v, "VERIFY-CA"))
        *m = RS_MY_SSL_VERIFY_CA;
    else if (ieq(v, "VERIFY_IDENTITY") || ieq(v, "VERIFY-IDENTITY") || ieq(v, "VERIFY-FULL") || ieq(v, "VERIFY_FULL"))
        *m = RS_MY_SSL_VERIFY_IDENTITY;
    else
        return -1;
    return 0;
}

int rs_my_parse_url(const char *url, bool allow_prefix, bool ignore_charset, rs_my_target *t, rs_error *err)
{
    memset(t, 0, sizeof *t);
    t->port = MY_DEFAULT_PORT;
    const char *p;
    if (strncmp(url, "mysql://", 8) == 0)
        p = url + 8;
    else if (strncmp(url, "mariadb://", 10) == 0)
        p = url + 10;
    else
        return rs_error_set(err, RS_EINVALID, "a MySQL URL starts with mysql:// or mariadb://");
    int rc = RS_OK;
    bool bad = false;
    const char *auth_end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    const char *hp = p;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        t->user = pct_decode(p, (size_t)(uend - p), &bad);
        if (colon)
            t->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &bad);
        if (bad || !t->user || (colon && !t->password)) {
            rc = bad ? rs_error_set(err, RS_EINVALID, "MySQL URL: bad %%-escape in the user or password")
                     : rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        hp = at + 1;
    }
    /* host[:port], [v6]:port, or a %-encoded socket path */
    size_t hl = (size_t)(auth_end - hp);
    if (hl >= 3 && hp[0] == '%' && hp[1] == '2' && (hp[2] == 'F' || hp[2] == 'f')) {
        t->socket = pct_decode(hp, hl, &bad);
        if (!t->socket) {
            rc = bad ? rs_error_set(err, RS_EINVALID, "MySQL URL: bad %%-escape in the socket path")
                     : rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
    } else if (hl) {
        const char *hend = hp + hl, *port = NULL;
        if (hp[0] == '[') {
            const char *rb = memchr(hp, ']', hl);
            if (!rb) {
                rc = rs_error_set(err, RS_EINVALID, "MySQL URL: '[' without ']' in the host");
                goto fail;
            }
            t->host = strndup(hp + 1, (size_t)(rb - hp - 1));
            if (rb + 1 < hend && rb[1] == ':')
                port = rb + 2;
        } else {
            const char *colon = memchr(hp, ':', hl);
            t->host = pct_decode(hp, (size_t)((colon ? colon : hend) - hp), &bad);
            if (colon)
                port = colon + 1;
        }
        if (!t->host) {
            rc = bad ? rs_error_set(err, RS_EINVALID, "MySQL URL: bad %%-escape in the host")
                     : rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        if (port) {
            char *end = NULL;
            long v = strtol(port, &end, 10);
            if (end == port || end != hend || v <= 0 || v > 65535) {
                rc = rs_error_set(err, RS_EINVALID, "MySQL URL: port '%.*s' is not a number from 1 to 65535",
                                  (int)(hend - port), port);
                goto fail;
            }
            t->port = (unsigned)v;
        }
    }
    p = auth_end;
    if (*p == '/') {
        size_t dl = strcspn(p + 1, "?#");
        t->db = pct_decode(p + 1, dl, &bad);
        if (!t->db) {
            rc = bad ? rs_error_set(err, RS_EINVALID, "MySQL URL: bad %%-escape in the database name")
                     : rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        p += 1 + dl;
    }
    if (*p == '?') {
        p++;
        while (*p && *p != '#') {
            size_t l = strcspn(p, "&#");
            const char *eq = memchr(p, '=', l);
            if (!eq) {
                rc = rs_error_set(err, RS_EINVALID, "MySQL URL: parameter '%.*s' has no value", (int)l, p);
                goto fail;
            }
            char name[48], shown[48];
            snprintf(name, sizeof name, "%.*s", (int)(eq - p < 47 ? eq - p : 47), p);
            snprintf(shown, sizeof shown, "%s", name);
            char *v = pct_decode(eq + 1, (size_t)(p + l - eq - 1), &bad);
            if (!v) {
                rc = bad ? rs_error_set(err, RS_EINVALID, "MySQL URL: parameter %s has a bad %%-escape", name)
                         : rs_error_set(err, RS_ENOMEM, "out of memory");
                goto fail;
            }
            for (char *c = name; *c; c++)
                if (*c == '_')
                    *c = '-';
            char **slot = NULL;
            if (ieq(name, "ssl-mode") || ieq(name, "sslmode")) {
                if (parse_ssl_mode(v, &t->ssl_mode)) {
                    rc = rs_error_set(err, RS_EINVALID,
                                      "MySQL URL: ssl-mode '%.32s' is not DISABLED, PREFERRED, REQUIRED, VERIFY_CA or "
                                      "VERIFY_IDENTITY",
                                      v);
                    free(v);
                    goto fail;
                }
                free(v);
            } else if (ieq(name, "ssl-ca") || ieq(name, "sslrootcert")) {
                slot = &t->ssl_ca;
            } else if (ieq(name, "ssl-capath")) {
                slot = &t->ssl_capath;
            } else if (ieq(name, "ssl-cert")) {
                slot = &t->ssl_cert;
            } else if (ieq(name, "ssl-key")) {
                slot = &t->ssl_key;
            } else if (ieq(name, "socket") || ieq(name, "unix-socket")) {
                slot = &t->socket;
            } else if (ieq(name, "table-prefix") && allow_prefix) {
                slot = &t->table_prefix;
            } else if (ieq(name, "charset") && ignore_charset) {
                if (!ieq(v, "utf8mb4") && !ieq(v, "utf8") && !ieq(v, "utf8mb3") && !ieq(v, "binary") &&
                    !ieq(v, "latin1")) {
                    rc = rs_error_set(err, RS_EINVALID, "MySQL URL: charset '%.32s' is not supported (utf8mb4)", v);
                    free(v);
                    goto fail;
                }
                free(v);
            } else {
                rc = rs_error_set(err, RS_EINVALID,
                                  "MySQL URL: unknown parameter '%s' (known: ssl-mode, ssl-ca, ssl-capath, ssl-cert, "
                                  "ssl-key, socket%s)",
                                  shown, allow_prefix ? ", table_prefix" : ignore_charset ? ", charset" : "");
                free(v);
                goto fail;
            }
            if (slot) {
                free(*slot);
                *slot = v;
            }
            p += l;
            if (*p == '&')
                p++;
        }
    }
    if (t->socket && t->socket[0] != '/') {
        rc = rs_error_set(err, RS_EINVALID, "MySQL URL: the socket path must be absolute");
        goto fail;
    }
    if (!t->user || !*t->user) {
        rc = rs_error_set(err, RS_EINVALID, "MySQL URL: no user name (mysql://USER:PASSWORD@host:port/db)");
        goto fail;
    }
    if (!t->db || !*t->db) {
        rc = rs_error_set(err, RS_EINVALID, "MySQL URL: no database name (mysql://user@host:port/DB)");
        goto fail;
    }
    if (!t->host && !t->socket) {
        rc = rs_error_set(err, RS_EINVALID, "MySQL URL: no host (mysql://user@HOST:port/db, or ?socket=/path)");
        goto fail;
    }
    if ((t->ssl_mode == RS_MY_SSL_VERIFY_CA || t->ssl_mode == RS_MY_SSL_VERIFY_IDENTITY) && !t->ssl_ca &&
        !t->ssl_capath) {
        rc = rs_error_set(err, RS_EINVALID, "MySQL URL: ssl-mode=%s needs ssl-ca=/path/to/ca.pem",
                          t->ssl_mode == RS_MY_SSL_VERIFY_CA ? "VERIFY_CA" : "VERIFY_IDENTITY");
        goto fail;
    }
    {
        rs_buf d = {0};
        if (t->socket)
            rs_buf_printf(&d, "mysql://%s@%s/%s", t->user, t->socket, t->db);
        else if (strchr(t->host, ':'))
            rs_buf_printf(&d, "mysql://%s@[%s]:%u/%s", t->user, t->host, t->port, t->db);
        else
            rs_buf_printf(&d, "mysql://%s@%s:%u/%s", t->user, t->host, t->port, t->db);
        if (rs_buf_cstr(&d)) {
            rs_buf_free(&d);
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
            goto fail;
        }
        t->display = (char *)rs_buf_take(&d, NULL);
    }
    return RS_OK;
fail:
    rs_my_target_free(t);
    return rc;
}

/* ---------------------------------------------------------------- errors */

bool rs_my_conn_broken(unsigned code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST || code == CR_SERVER_LOST_EXTENDED ||
           code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR || code == CR_COMMANDS_OUT_OF_SYNC ||
           code == 1927 /* ER_CONNECTION_KILLED */ || code == 1053 /* ER_SERVER_SHUTDOWN */ ||
           code == 2026 /* CR_SSL_CONNECTION_ERROR mid-stream */ || code == 2057 /* CR_NEW_STMT_METADATA */;
}

static void trim_msg(char *m)
{
    size_t l = strlen(m);
    while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
        m[--l] = '\0';
    for (char *p = m; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

int rs_my_error_code(unsigned code, const char *sqlstate, const char *msg, const char *display, const char *what,
                     unsigned long max_packet, rs_error *err)
{
    char m[RS_ERROR_MSG_MAX];
    snprintf(m, sizeof m, "%s", msg && *msg ? msg : "unknown error");
    trim_msg(m);
    int rc = RS_EIO;
    bool retry = false;
    switch (code) {
    case 1045: /* ER_ACCESS_DENIED_ERROR */
    case 1044: /* ER_DBACCESS_DENIED_ERROR */
    case 1142: /* ER_TABLEACCESS_DENIED_ERROR */
    case 1143: /* ER_COLUMNACCESS_DENIED_ERROR */
    case 1227: /* ER_SPECIFIC_ACCESS_DENIED_ERROR */
    case 1370: /* ER_PROCACCESS_DENIED_ERROR */
    case 1698: /* ER_ACCESS_DENIED_NO_PASSWORD_ERROR */
    case 1820: /* ER_MUST_CHANGE_PASSWORD */
    case 1862: /* ER_MUST_CHANGE_PASSWORD_LOGIN */
    case 1251: /* ER_NOT_SUPPORTED_AUTH_MODE */
    case CR_AUTH_PLUGIN_CANNOT_LOAD:
    case 2061: /* CR_AUTH_PLUGIN_ERR: caching_sha2 needs a secure connection */
        rc = RS_EAUTH;
        break;
    case 1049: /* ER_BAD_DB_ERROR */
    case 1146: /* ER_NO_SUCH_TABLE */
    case 1054: /* ER_BAD_FIELD_ERROR */
    case 1064: /* ER_PARSE_ERROR */
    case 1193: /* ER_UNKNOWN_SYSTEM_VARIABLE */
    case 1231: /* ER_WRONG_VALUE_FOR_VAR */
        rc = RS_EINVALID;
        break;
    case CR_UNKNOWN_HOST: /* DNS in a cluster can be late: try again */
        rc = RS_EIO;
        retry = true;
        break;
    case 1062: /* ER_DUP_ENTRY */
        rc = RS_ECONFLICT;
        break;
    case 1969: /* ER_STATEMENT_TIMEOUT (MariaDB max_statement_time) */
    case 3024: /* ER_QUERY_TIMEOUT (MySQL max_execution_time) */
    case 1205: /* ER_LOCK_WAIT_TIMEOUT */
        rc = RS_ETIMEOUT;
        retry = true;
        break;
    case 1213: /* ER_LOCK_DEADLOCK */
    case 1040: /* ER_CON_COUNT_ERROR */
    case 1203: /* ER_TOO_MANY_USER_CONNECTIONS */
    case 1226: /* ER_USER_LIMIT_REACHED */
    case 1290: /* ER_OPTION_PREVENTS_STATEMENT (read_only: a failover in progress) */
    case 1836: /* ER_READ_ONLY_MODE */
    case 1792: /* ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION */
    case 1021: /* ER_DISK_FULL */
    case 1114: /* ER_RECORD_FILE_FULL */
    case 1317: /* ER_QUERY_INTERRUPTED */
        rc = RS_EUNAVAILABLE;
        retry = true;
        break;
    case 1153: /* ER_NET_PACKET_TOO_LARGE */
    case 1301: /* ER_WARN_ALLOWED_PACKET_OVERFLOWED */
    case 1406: /* ER_DATA_TOO_LONG */
    case CR_NET_PACKET_TOO_LARGE:
        rc = RS_ETOOBIG;
        break;
    case CR_OUT_OF_MEMORY:
        rc = RS_ENOMEM;
        break;
    case CR_SSL_CONNECTION_ERROR:
        /* a certificate that does not verify is a refusal to authenticate the server; other TLS
         * problems (missing files, no TLS on the server) are settings */
        rc = (strstr(m, "certificate") || strstr(m, "verify") || strstr(m, "Validation")) ? RS_EAUTH : RS_EINVALID;
        break;
    default:
        /* a broken connection, and other client-side errors: the connection is in doubt */
        if (rs_my_conn_broken(code) || (code >= 2000 && code < 3000)) {
            rc = RS_EIO;
            retry = true;
        }
        break;
    }
    if (rc == RS_ETOOBIG) {
        if (max_packet)
            return rs_error_setr(err, rc, false,
                                 "%s: %s: %s (MySQL error %u): the value does not fit the server's max_allowed_packet "
                                 "(%lu bytes); raise max_allowed_packet on the server (my.cnf [mysqld], SET GLOBAL, "
                                 "or the CloudSQL database flag)",
                                 display, what, m, code, max_packet);
        return rs_error_setr(err, rc, false,
                             "%s: %s: %s (MySQL error %u): raise max_allowed_packet on the server (my.cnf [mysqld], "
                             "SET GLOBAL, or the CloudSQL database flag)",
                             display, what, m, code);
    }
    bool state = sqlstate && *sqlstate && strcmp(sqlstate, "00000") != 0 && strcmp(sqlstate, "HY000") != 0;
    return rs_error_setr(err, rc, retry, "%s: %s: %s (MySQL error %u%s%s)", display, what, m, code,
                         state ? ", SQLSTATE " : "", state ? sqlstate : "");
}

int rs_my_error(MYSQL *m, const char *display, const char *what, unsigned long max_packet, rs_error *err)
{
    if (rs_my_deadline_expired())
        return rs_error_setr(err, RS_ETIMEOUT, true, "%s: %s: no answer within the deadline (connection dropped)",
                             display, what);
    return rs_my_error_code(mysql_errno(m), mysql_sqlstate(m), mysql_error(m), display, what, max_packet, err);
}

int rs_my_stmt_error(MYSQL_STMT *st, const char *display, const char *what, unsigned long max_packet, rs_error *err)
{
    if (rs_my_deadline_expired())
        return rs_error_setr(err, RS_ETIMEOUT, true, "%s: %s: no answer within the deadline (connection dropped)",
                             display, what);
    return rs_my_error_code(mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st), display, what,
                            max_packet, err);
}

/* ---------------------------------------------------------------- connections */

void rs_my_close(MYSQL *m)
{
    if (!m)
        return;
    my_socket fd = mysql_get_socket(m);
    if (fd != (my_socket)-1 && fd >= 0)
        shutdown(fd, SHUT_RDWR); /* COM_QUIT then fails at once instead of waiting on a dead peer */
    rs_my_deadline_begin(200);
    mysql_close(m);
    rs_my_deadline_end();
}

int rs_my_query(MYSQL *m, const char *display, const char *what, const char *sql, long timeout_ms, MYSQL_RES **res,
                rs_error *err)
{
    if (res)
        *res = NULL;
    rs_my_deadline_begin(timeout_ms);
    int rc = RS_OK;
    if (mysql_real_query(m, sql, strlen(sql)) != 0) {
        rc = rs_my_error(m, display, what, 0, err);
        goto out;
    }
    /* every result (multi-result statements are not used; one result or none) */
    MYSQL_RES *r = mysql_store_result(m);
    if (!r && mysql_field_count(m) != 0) {
        rc = rs_my_error(m, display, what, 0, err);
        goto out;
    }
    if (res)
        *res = r;
    else
        mysql_free_result(r);
out:
    rs_my_deadline_end();
    return rc;
}

int rs_my_connect(const rs_my_target *t, const char *app, const rs_storage_opts *opts, long stmt_timeout_ms,
                  bool found_rows, MYSQL **out, rs_my_session *info, rs_error *err)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    const char *files[] = {t->ssl_ca, t->ssl_cert, t->ssl_key};
    const char *names[] = {"ssl-ca", "ssl-cert", "ssl-key"};
    for (int i = 0; i < 3; i++)
        if (files[i] && t->ssl_mode != RS_MY_SSL_DISABLED && access(files[i], R_OK) != 0)
            return rs_error_setr(err, RS_EINVALID, false, "%s: %s %s: %s", t->display, names[i], files[i],
                                 strerror(errno));
    pthread_once(&lib_once, lib_init);
    if (lib_rc)
        return rs_error_set(err, RS_EIO, "%s: the MySQL client library did not initialize", t->display);
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return rs_error_set(err, RS_ENOMEM, "%s: out of memory connecting", t->display);
    long ct_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    long io_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    /* the library's own timeouts (whole seconds) only make it wait through io_wait at all; the
     * deadline of each call is ours */
    unsigned ct_s = (unsigned)((ct_ms + 999) / 1000), io_s = (unsigned)((io_ms + 999) / 1000 + 5);
    unsigned proto = t->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    my_bool no = 0, yes = 1;
    size_t max_packet = (size_t)1 << 30;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct_s);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_s);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no);
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &no);
    mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(m, MARIADB_OPT_IO_WAIT, io_wait);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", app);
    if (found_rows)
        mysql_optionsv(m, MARIADB_OPT_FOUND_ROWS, &yes);
    /* never hand the password to a plug-in that sends it in the clear unless the server's
     * certificate was verified */
    if (t->ssl_mode != RS_MY_SSL_VERIFY_CA && t->ssl_mode != RS_MY_SSL_VERIFY_IDENTITY)
        mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH,
                       "mysql_native_password,client_ed25519,caching_sha2_password,sha256_password,parsec");
    if (t->ssl_mode != RS_MY_SSL_DISABLED) {
        mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes); /* 3.3: TLS when the server offers it */
        if (t->ssl_ca)
            mysql_optionsv(m, MYSQL_OPT_SSL_CA, t->ssl_ca); /* a CA: the chain is verified */
        if (t->ssl_capath)
            mysql_optionsv(m, MYSQL_OPT_SSL_CAPATH, t->ssl_capath);
        if (t->ssl_cert)
            mysql_optionsv(m, MYSQL_OPT_SSL_CERT, t->ssl_cert);
        if (t->ssl_key)
            mysql_optionsv(m, MYSQL_OPT_SSL_KEY, t->ssl_key);
        my_bool verify = t->ssl_mode == RS_MY_SSL_VERIFY_IDENTITY;
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    rs_my_deadline_begin(ct_ms);
    /* no password in the URL: MYSQL_PWD, as the mysql and mariadb clients read it */
    const char *pw = t->password ? t->password : getenv("MYSQL_PWD");
    MYSQL *c = mysql_real_connect(m, t->host, t->user, pw ? pw : "", t->db, t->port, t->socket, CLIENT_REMEMBER_OPTIONS);
    int rc = RS_OK;
    if (!c) {
        if (rs_my_deadline_expired())
            rc = rs_error_setr(err, RS_ETIMEOUT, true, "%s: cannot connect: no answer within %ld ms", t->display, ct_ms);
        else
            rc = rs_my_error(m, t->display, "cannot connect", 0, err);
        rs_my_deadline_end();
        if (rc == RS_EAUTH && err && !pw)
            rs_error_prefix(err, "no password in the URL or MYSQL_PWD");
        rs_my_close(m);
        return rc;
    }
    rs_my_deadline_end();
    info->tls = mysql_get_ssl_cipher(m) != NULL;
    if (!info->tls && t->ssl_mode != RS_MY_SSL_DISABLED && t->ssl_mode != RS_MY_SSL_PREFERRED) {
        rs_my_close(m);
        return rs_error_setr(err, RS_EINVALID, false,
                             "%s: cannot connect: ssl-mode requires TLS and the server does not offer it", t->display);
    }
    const char *ver = mysql_get_server_info(m);
    snprintf(info->version, sizeof info->version, "%s", ver ? ver : "");
    info->mariadb = ver && strstr(ver, "MariaDB") != NULL;
    /* the session: strict (an over-long value is an error, never cut), UTC, bounded waits */
    rs_buf sql = {0};
    rs_buf_printf(&sql, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'");
    if (stmt_timeout_ms > 0) {
        long lock_s = (stmt_timeout_ms + 999) / 1000;
        if (info->mariadb)
            rs_buf_printf(&sql, ", max_statement_time = %ld.%03ld", stmt_timeout_ms / 1000, stmt_timeout_ms % 1000);
        else
            rs_buf_printf(&sql, ", max_execution_time = %ld", stmt_timeout_ms);
        rs_buf_printf(&sql, ", innodb_lock_wait_timeout = %ld, lock_wait_timeout = %ld", lock_s, lock_s);
    }
    if (rs_buf_cstr(&sql)) {
        rs_buf_free(&sql);
        rs_my_close(m);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    rc = rs_my_query(m, t->display, "set up the session", (const char *)sql.data, io_ms, NULL, err);
    rs_buf_free(&sql);
    MYSQL_RES *r = NULL;
    if (!rc)
        rc = rs_my_query(m, t->display, "read max_allowed_packet", "SELECT @@max_allowed_packet", io_ms, &r, err);
    if (!rc) {
        MYSQL_ROW row = mysql_fetch_row(r);
        info->max_packet = row && row[0] ? strtoul(row[0], NULL, 10) : 0;
        mysql_free_result(r);
    }
    if (rc) {
        rs_my_close(m);
        return rc;
    }
    *out = m;
    return RS_OK;
}

/* ---------------------------------------------------------------- the backend */

enum { ST_GET, ST_PUT_ALWAYS, ST_PUT_ABSENT, ST_PUT_MATCH, ST_LIST, ST_DEL, ST_DEL_IF, ST_ETAG, ST_COUNT };

typedef struct my_store {
    rs_my_target t;
    char prefix[MY_PREFIX_MAX + 1];
    char t_objects[MY_PREFIX_MAX + 32];
    char t_version[MY_PREFIX_MAX + 32];
    rs_storage_opts opts;
    long stmt_timeout_ms;
    long timeout_ms;
    int max_retries;
    MYSQL *conn;
    rs_my_session sess;
    MYSQL_STMT *st[ST_COUNT]; /* prepared with each connection */
    bool migrated;            /* the tables exist: statements can be prepared */
    rs_storage_stats *stats;
} my_store;

static void etag_hex(const uint8_t *data, size_t len, char hex[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(len ? data : (const uint8_t *)"", len, md, &mdlen, EVP_sha256(), NULL);
    rs_hex(md, 16, hex);
}

static bool etag_bare(const char *in, char *out, size_t cap)
{
    if (!in)
        return false;
    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    size_t l = strlen(in);
    if (l >= 2 && in[0] == '"' && in[l - 1] == '"') {
        in++;
        l -= 2;
    }
    if (l + 1 > cap)
        return false;
    memcpy(out, in, l);
    out[l] = '\0';
    return true;
}

static void backoff_sleep(int attempt)
{
    long ms = 100L << (attempt < 5 ? attempt : 5);
    if (ms > 2000)
        ms = 2000;
    ms = ms / 2 + (long)(((unsigned)rand() ^ (unsigned)rs_mono_ns()) % (unsigned long)(ms / 2 + 1));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void drop_conn(my_store *ms)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (ms->st[i]) {
            /* closing a statement sends a message: not on a connection we are about to drop */
            if (ms->conn)
                shutdown(mysql_get_socket(ms->conn), SHUT_RDWR);
            rs_my_deadline_begin(100);
            mysql_stmt_close(ms->st[i]);
            rs_my_deadline_end();
            ms->st[i] = NULL;
        }
    }
    rs_my_close(ms->conn);
    ms->conn = NULL;
}

static int prepared(my_store *ms, int which, const char *what, MYSQL_STMT **out, rs_error *err);

/* Prepares every statement of the backend on a new connection, so that each call afterwards is
 * one round trip. Counted with the connection as one request (as the other backends count a
 * connection's handshake). */
static int prepare_all(my_store *ms, rs_error *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        MYSQL_STMT *st;
        int rc = prepared(ms, i, "prepare", &st, err);
        if (rc)
            return rc;
    }
    return RS_OK;
}

static int ensure_conn(my_store *ms, rs_error *err)
{
    if (ms->conn)
        return RS_OK;
    ms->stats->requests++;
    int rc = rs_my_connect(&ms->t, "regsync", &ms->opts, ms->stmt_timeout_ms, true, &ms->conn, &ms->sess, err);
    if (rc == RS_OK && ms->migrated && (rc = prepare_all(ms, err)) != RS_OK)
        drop_conn(ms);
    return rc;
}

static const char *stmt_sql(my_store *ms, int which, char *buf, size_t cap)
{
    const char *o = ms->t_objects;
    switch (which) {
    case ST_GET:
        /* the data column is empty when the caller's ETag matches: no blob is read then */
        snprintf(buf, cap,
                 "SELECT m.etag, m.size, (SELECT d.data FROM `%s` d WHERE d.`key` = m.`key` AND NOT (m.etag <=> ?)) "
                 "FROM `%s` m WHERE m.`key` = ?",
                 o, o);
        break;
    case ST_PUT_ALWAYS:
        snprintf(buf, cap,
                 "INSERT INTO `%s` (`key`, data, etag, size, updated_ms) VALUES (?, ?, ?, ?, " MY_NOW_MS ") "
                 "ON DUPLICATE KEY UPDATE data = VALUES(data), etag = VALUES(etag), size = VALUES(size), "
                 "updated_ms = VALUES(updated_ms)",
                 o);
        break;
    case ST_PUT_ABSENT:
        snprintf(buf, cap, "INSERT INTO `%s` (`key`, data, etag, size, updated_ms) VALUES (?, ?, ?, ?, " MY_NOW_MS ")",
                 o);
        break;
    case ST_PUT_MATCH:
        snprintf(buf, cap,
                 "UPDATE `%s` SET data = ?, etag = ?, size = ?, updated_ms = " MY_NOW_MS " WHERE `key` = ? AND etag = ?",
                 o);
        break;
    case ST_LIST:
        snprintf(buf, cap,
                 "SELECT `key`, size, etag, updated_ms FROM `%s` WHERE `key` LIKE ? ESCAPE '!' ORDER BY `key`", o);
        break;
    case ST_DEL:
        snprintf(buf, cap, "DELETE FROM `%s` WHERE `key` = ?", o);
        break;
    case ST_DEL_IF:
        /* the time as rs_storage_list gives it: a rewrite with the same bytes moves it */
        snprintf(buf, cap, "DELETE FROM `%s` WHERE `key` = ? AND etag = ? AND (? = 0 OR updated_ms = ?)", o);
        break;
    case ST_ETAG:
    default:
        snprintf(buf, cap, "SELECT etag FROM `%s` WHERE `key` = ?", o);
        break;
    }
    return buf;
}

/* The prepared statement for `which` on the current connection. */
static int prepared(my_store *ms, int which, const char *what, MYSQL_STMT **out, rs_error *err)
{
    if (ms->st[which]) {
        *out = ms->st[which];
        return RS_OK;
    }
    MYSQL_STMT *st = mysql_stmt_init(ms->conn);
    if (!st)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    my_bool upd = 1;
    mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &upd);
    char sql[512];
    stmt_sql(ms, which, sql, sizeof sql);
    rs_my_deadline_begin(ms->timeout_ms);
    int rc = RS_OK;
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        rc = rs_my_stmt_error(st, ms->t.display, what, ms->sess.max_packet, err);
        bool broken = rs_my_deadline_expired() || rs_my_conn_broken(mysql_stmt_errno(st));
        rs_my_deadline_end();
        mysql_stmt_close(st);
        if (broken)
            drop_conn(ms);
        return rc;
    }
    rs_my_deadline_end();
    ms->st[which] = st;
    *out = st;
    return RS_OK;
}

/* Executes a prepared statement with params (and stores its result when it has one). On a
 * broken connection the connection is dropped; *sent tells whether the statement may have reached
 * the server. */
static int run_stmt(my_store *ms, int which, const char *what, MYSQL_BIND *params, MYSQL_STMT **out, bool *sent,
                    rs_error *err)
{
    *sent = false;
    MYSQL_STMT *st = NULL;
    int rc = ensure_conn(ms, err);
    if (!rc)
        rc = prepared(ms, which, what, &st, err);
    if (rc)
        return rc;
    if (params && mysql_stmt_bind_param(st, params) != 0)
        return rs_my_stmt_error(st, ms->t.display, what, ms->sess.max_packet, err);
    ms->stats->requests++;
    rs_my_deadline_begin(ms->timeout_ms);
    *sent = true;
    /* results are buffered by the library, except a get's one row: its value is fetched straight
     * into our buffer (one copy of a large value less) */
    if (mysql_stmt_execute(st) != 0 ||
        (which != ST_GET && mysql_stmt_field_count(st) && mysql_stmt_store_result(st) != 0)) {
        rc = rs_my_stmt_error(st, ms->t.display, what, ms->sess.max_packet, err);
        bool broken = rs_my_deadline_expired() || rs_my_conn_broken(mysql_stmt_errno(st));
        rs_my_deadline_end();
        if (broken) {
            drop_conn(ms);
            if (rc == RS_ETIMEOUT && err)
                rs_error_setr(err, RS_ETIMEOUT, true, "%s: %s: no answer within %ld ms (connection dropped)",
                              ms->t.display, what, ms->timeout_ms);
        } else {
            mysql_stmt_free_result(st);
        }
        return rc;
    }
    rs_my_deadline_end();
    *out = st;
    return RS_OK;
}

/* run_stmt with reconnects and retries for idempotent statements. */
static int exec_stmt(my_store *ms, int which, const char *what, MYSQL_BIND *params, bool idempotent,
                     MYSQL_STMT **out, bool *sent_out, rs_error *err)
{
    if (sent_out)
        *sent_out = false;
    for (int attempt = 0;; attempt++) {
        bool sent = false;
        int rc = run_stmt(ms, which, what, params, out, &sent, err);
        if (rc == RS_OK)
            return RS_OK;
        if (sent && sent_out)
            *sent_out = true;
        bool retryable = err ? err->retryable : (rc == RS_EIO || rc == RS_ETIMEOUT || rc == RS_EUNAVAILABLE);
        if (!retryable || attempt >= ms->max_retries || (sent && !idempotent))
            return rc;
        ms->stats->retries++;
        RS_LOGW("storage", "mysql_retry what=\"%s\" attempt=%d", what, attempt + 1);
        backoff_sleep(attempt);
    }
}

static void bind_blob(MYSQL_BIND *b, const void *p, size_t n, unsigned long *len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_BLOB;
    b->buffer = (void *)(uintptr_t)(p ? p : "");
    b->buffer_length = (unsigned long)n;
    *len = (unsigned long)n;
    b->length = len;
}

static void bind_str(MYSQL_BIND *b, const char *s, unsigned long *len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)(uintptr_t)s;
    *len = (unsigned long)strlen(s);
    b->buffer_length = *len;
    b->length = len;
}

static void bind_null(MYSQL_BIND *b)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_NULL;
}

static void bind_i64(MYSQL_BIND *b, long long *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

/* ---- schema ---- */

static int schema_version(my_store *ms, int *version, rs_error *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COALESCE(MAX(version), 0) FROM `%s`", ms->t_version);
    MYSQL_RES *r = NULL;
    rs_error e2 = {0};
    ms->stats->requests++;
    int rc = rs_my_query(ms->conn, ms->t.display, "read schema version", sql, ms->timeout_ms, &r, &e2);
    if (rc && mysql_errno(ms->conn) == 1146) { /* no table yet */
        *version = 0;
        return RS_OK;
    }
    if (rc) {
        if (err) {
            *err = e2;
            if (rc == RS_EAUTH)
                rs_error_prefix(err, "the account lacks privileges on table prefix %s (the first open creates the "
                                     "tables and needs CREATE; afterwards SELECT on %s and SELECT, INSERT, UPDATE, "
                                     "DELETE on %s are enough)",
                                ms->prefix, ms->t_version, ms->t_objects);
        }
        return rc;
    }
    MYSQL_ROW row = mysql_fetch_row(r);
    *version = row && row[0] ? atoi(row[0]) : 0;
    mysql_free_result(r);
    return RS_OK;
}

static int run(my_store *ms, const char *what, const char *sql, rs_error *err)
{
    ms->stats->requests++;
    return rs_my_query(ms->conn, ms->t.display, what, sql, ms->timeout_ms, NULL, err);
}

/* Brings the schema to MY_SCHEMA_LATEST. DDL commits by itself in MySQL, so every step is
 * idempotent (IF NOT EXISTS) and the steps run under a named lock (GET_LOCK, per database and
 * prefix): any number of processes may start at once; one migrates, the others wait and find it
 * done. */
static int migrate(my_store *ms, rs_error *err)
{
    int v = 0;
    int rc = schema_version(ms, &v, err);
    if (rc)
        return rc;
    if (v == MY_SCHEMA_LATEST)
        return RS_OK;
    if (v > MY_SCHEMA_LATEST)
        return rs_error_set(err, RS_EUNSUPPORTED,
                            "%s: table %s says schema version %d; this regsync knows up to %d (upgrade regsync)",
                            ms->t.display, ms->t_version, v, MY_SCHEMA_LATEST);
    char sql[1200];
    long wait_s = (ms->timeout_ms + 999) / 1000;
    snprintf(sql, sizeof sql,
             "SELECT GET_LOCK(CONCAT('regsync-migrate:', LEFT(SHA2(CONCAT(DATABASE(), '.', '%s'), 256), 40)), %ld)",
             ms->prefix, wait_s);
    MYSQL_RES *r = NULL;
    ms->stats->requests++;
    rc = rs_my_query(ms->conn, ms->t.display, "migrate: take the lock", sql, ms->timeout_ms + 1000, &r, err);
    if (rc)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(r);
    bool locked = row && row[0] && strcmp(row[0], "1") == 0;
    mysql_free_result(r);
    if (!locked)
        return rs_error_set(err, RS_ETIMEOUT, "%s: migrate: another process held the migration lock for %ld s",
                            ms->t.display, wait_s);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS `%s` (version INT NOT NULL PRIMARY KEY, applied DATETIME(6) NOT NULL, "
             "by_app VARCHAR(64)) ENGINE=InnoDB",
             ms->t_version);
    rc = run(ms, "create regsync's tables", sql, err);
    if (rc == RS_EAUTH && err)
        rs_error_prefix(err, "the first open of table prefix %s creates its tables: the account needs CREATE on the "
                             "database",
                        ms->prefix);
    if (!rc)
        rc = schema_version(ms, &v, err); /* re-read under the lock */
    if (!rc && v < 1) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE IF NOT EXISTS `%s` (\n"
                 "  `key` VARBINARY(1024) NOT NULL PRIMARY KEY,\n"
                 "  data LONGBLOB NOT NULL,\n"
                 "  etag VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n"
                 "  size BIGINT NOT NULL,\n"
                 "  updated_ms BIGINT NOT NULL\n"
                 ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
                 ms->t_objects);
        rc = run(ms, "migrate to schema version 1", sql, err);
        if (!rc) {
            snprintf(sql, sizeof sql,
                     "INSERT IGNORE INTO `%s` (version, applied, by_app) VALUES (1, UTC_TIMESTAMP(6), 'regsync')",
                     ms->t_version);
            rc = run(ms, "migrate: record version 1", sql, err);
        }
        if (!rc)
            RS_LOGI("storage", "mysql_migrated where=\"%s\" prefix=%s version=1", ms->t.display, ms->prefix);
    }
    /* future steps: if (!rc && v < 2) { ... } */
    rs_error e2;
    snprintf(sql, sizeof sql,
             "SELECT RELEASE_LOCK(CONCAT('regsync-migrate:', LEFT(SHA2(CONCAT(DATABASE(), '.', '%s'), 256), 40)))",
             ms->prefix);
    run(ms, "migrate: release the lock", sql, &e2);
    return rc;
}

static void my_close(void *impl)
{
    my_store *ms = impl;
    if (!ms)
        return;
    for (int i = 0; i < ST_COUNT; i++) {
        if (ms->st[i]) {
            rs_my_deadline_begin(200);
            mysql_stmt_close(ms->st[i]);
            rs_my_deadline_end();
        }
    }
    rs_my_close(ms->conn);
    rs_my_target_free(&ms->t);
    free(ms);
}

static int my_open(const char *url, const rs_storage_opts *opts, void **impl, rs_storage_stats *stats, rs_error *err)
{
    my_store *ms = calloc(1, sizeof *ms);
    if (!ms)
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    ms->stats = stats;
    ms->opts = *opts;
    ms->stmt_timeout_ms = opts->statement_timeout_ms > 0 ? opts->statement_timeout_ms : 30000;
    ms->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    ms->max_retries = opts->max_retries == 0 ? 4 : (opts->max_retries < 0 ? 0 : opts->max_retries);
    int rc = rs_my_parse_url(url, true, false, &ms->t, err);
    if (rc) {
        free(ms);
        return rc;
    }
    const char *pf = ms->t.table_prefix ? ms->t.table_prefix : MY_DEFAULT_PREFIX;
    size_t pl = strlen(pf);
    bool ok = pl <= MY_PREFIX_MAX && (pl == 0 || islower((unsigned char)pf[0]) || pf[0] == '_');
    for (size_t i = 0; ok && i < pl; i++)
        ok = islower((unsigned char)pf[i]) || isdigit((unsigned char)pf[i]) || pf[i] == '_';
    if (!ok) {
        rc = rs_error_set(err, RS_EINVALID,
                          "%s: table_prefix '%s' must be at most %d characters of [a-z0-9_], not starting with a digit",
                          ms->t.display, pf, MY_PREFIX_MAX);
        goto fail;
    }
    snprintf(ms->prefix, sizeof ms->prefix, "%s", pf);
    snprintf(ms->t_objects, sizeof ms->t_objects, "%sobjects", pf);
    snprintf(ms->t_version, sizeof ms->t_version, "%sschema_version", pf);
    for (int attempt = 0;; attempt++) {
        rc = ensure_conn(ms, err);
        if (rc == RS_OK || !(err && err->retryable) || attempt >= ms->max_retries || rc == RS_EAUTH)
            break;
        ms->stats->retries++;
        backoff_sleep(attempt);
    }
    if (rc)
        goto fail;
    rc = migrate(ms, err);
    if (rc)
        goto fail;
    ms->migrated = true;
    rc = prepare_all(ms, err);
    if (rc)
        goto fail;
    RS_LOGD("storage", "mysql_open where=\"%s\" server=\"%s\" tls=%s max_allowed_packet=%lu", ms->t.display,
            ms->sess.version, ms->sess.tls ? "yes" : "no", ms->sess.max_packet);
    *impl = ms;
    return RS_OK;
fail:
    my_close(ms);
    return rc;
}

/* Fetches the one row of a stored result whose column `col` is a blob of unknown length into a
 * malloc'd buffer. */
static int fetch_blob(my_store *ms, MYSQL_STMT *st, MYSQL_BIND *res, int col, unsigned long blen, uint8_t **out,
                      rs_error *err)
{
    uint8_t *buf = malloc(blen ? blen : 1);
    if (!buf)
        return rs_error_set(err, RS_ENOMEM, "%s: out of memory for %lu bytes", ms->t.display, blen);
    if (blen) {
        MYSQL_BIND b = res[col];
        b.buffer = buf;
        b.buffer_length = blen;
        unsigned long got = 0;
        b.length = &got;
        if (mysql_stmt_fetch_column(st, &b, (unsigned)col, 0) != 0 || got != blen) {
            free(buf);
            return rs_error_set(err, RS_EIO, "%s: reading a %lu-byte value failed (%s)", ms->t.display, blen,
                                mysql_stmt_error(st));
        }
    }
    *out = buf;
    return RS_OK;
}

static int my_get(void *impl, const char *key, const char *if_none_match, uint8_t **data, size_t *len,
                  char etag_out[RS_ETAG_MAX], rs_error *err)
{
    my_store *ms = impl;
    char inm[RS_ETAG_MAX] = "";
    bool have_inm = if_none_match && *if_none_match && etag_bare(if_none_match, inm, sizeof inm);
    MYSQL_BIND p[2];
    unsigned long l0, l1;
    if (have_inm)
        bind_str(&p[0], inm, &l0);
    else
        bind_null(&p[0]);
    bind_blob(&p[1], key, strlen(key), &l1);
    MYSQL_STMT *st = NULL;
    int rc = exec_stmt(ms, ST_GET, "get", p, true, &st, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    char etag[RS_ETAG_MAX] = "";
    long long size = 0;
    unsigned long elen = 0, dlen = 0;
    my_bool enull = 0, dnull = 0, snull = 0, derr = 0;
    MYSQL_BIND r[3];
    memset(r, 0, sizeof r);
    r[0].buffer_type = MYSQL_TYPE_STRING;
    r[0].buffer = etag;
    r[0].buffer_length = sizeof etag - 1;
    r[0].length = &elen;
    r[0].is_null = &enull;
    r[1].buffer_type = MYSQL_TYPE_LONGLONG;
    r[1].buffer = &size;
    r[1].is_null = &snull;
    r[2].buffer_type = MYSQL_TYPE_BLOB;
    r[2].buffer = NULL;
    r[2].buffer_length = 0;
    r[2].length = &dlen;
    r[2].is_null = &dnull;
    r[2].error = &derr;
    /* the row is read from the connection now (unbuffered): under a deadline of its own */
    uint8_t *buf = NULL;
    bool broken = false;
    rs_my_deadline_begin(ms->timeout_ms);
    if (mysql_stmt_bind_result(st, r) != 0) {
        rc = rs_my_stmt_error(st, ms->t.display, "get", 0, err);
        goto done;
    }
    int f = mysql_stmt_fetch(st);
    if (f == MYSQL_NO_DATA) {
        rc = rs_error_set(err, RS_ENOTFOUND, "%s: key %s: no such object", ms->t.display, key);
        goto done;
    }
    if (f == 1) {
        broken = rs_my_deadline_expired() || rs_my_conn_broken(mysql_stmt_errno(st));
        rc = rs_my_stmt_error(st, ms->t.display, "get", ms->sess.max_packet, err);
        goto done;
    }
    etag[elen < sizeof etag ? elen : sizeof etag - 1] = '\0';
    if (etag_out)
        snprintf(etag_out, RS_ETAG_MAX, "%s", etag);
    if (dnull) {
        if (have_inm && strcmp(inm, etag) == 0)
            rc = RS_ENOTMODIFIED;
        else /* cannot happen in one statement's snapshot, but say so rather than return nothing */
            rc = rs_error_setr(err, RS_EIO, true, "%s: key %s: the value vanished while it was read", ms->t.display,
                               key);
        goto done;
    }
    rc = fetch_blob(ms, st, r, 2, dlen, &buf, err);
done:
    mysql_stmt_free_result(st); /* reads what is left of the result */
    broken = broken || rs_my_deadline_expired();
    rs_my_deadline_end();
    if (broken)
        drop_conn(ms);
    if (rc) {
        free(buf);
        if (rc != RS_ENOTMODIFIED && rc != RS_ENOTFOUND && err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    /* never a cut or altered value: the bytes must have the stored size and ETag */
    if (!snull && (unsigned long long)size != (unsigned long long)dlen) {
        free(buf);
        return rs_error_set(err, RS_ECORRUPT,
                            "%s: key %s: %lu bytes arrived but the stored size is %lld (a truncated value)",
                            ms->t.display, key, dlen, size);
    }
    char want[33];
    etag_hex(buf, dlen, want);
    if (strcmp(want, etag) != 0) {
        free(buf);
        return rs_error_set(err, RS_ECORRUPT,
                            "%s: key %s: the data does not match its etag column (\"%s\", the data hashes to \"%s\"): "
                            "it was changed without regsync; set etag = LEFT(SHA2(data, 256), 32) and size = "
                            "LENGTH(data) with every write (docs/storage.md)",
                            ms->t.display, key, etag, want);
    }
    ms->stats->bytes_in += dlen;
    *data = buf;
    *len = dlen;
    /* Connector/C keeps its network buffer at the size of the largest packet for the connection's
     * life: after a large value (a snapshot, a whole registry) the connection is closed, so that
     * this memory is not held beside the caller's copy; the next call connects again */
    if (dlen >= MY_RELEASE_AFTER) {
        RS_LOGD("storage", "mysql_release_buffer where=\"%s\" bytes=%lu", ms->t.display, dlen);
        drop_conn(ms);
    }
    return RS_OK;
}

static int current_etag(my_store *ms, const char *key, char *out, size_t cap, rs_error *err)
{
    MYSQL_BIND p[1];
    unsigned long l0;
    bind_blob(&p[0], key, strlen(key), &l0);
    MYSQL_STMT *st = NULL;
    int rc = exec_stmt(ms, ST_ETAG, "read etag", p, true, &st, NULL, err);
    if (rc)
        return rc;
    char etag[RS_ETAG_MAX] = "";
    unsigned long elen = 0;
    MYSQL_BIND r[1];
    memset(r, 0, sizeof r);
    r[0].buffer_type = MYSQL_TYPE_STRING;
    r[0].buffer = etag;
    r[0].buffer_length = sizeof etag - 1;
    r[0].length = &elen;
    mysql_stmt_bind_result(st, r);
    int f = mysql_stmt_fetch(st);
    etag[elen < sizeof etag ? elen : sizeof etag - 1] = '\0';
    snprintf(out, cap, "%s", f == 0 || f == MYSQL_DATA_TRUNCATED ? etag : "");
    mysql_stmt_free_result(st);
    return RS_OK;
}

static int my_put(void *impl, const char *key, const uint8_t *data, size_t len, rs_put_mode mode, const char *if_match,
                  char etag_out[RS_ETAG_MAX], rs_error *err)
{
    my_store *ms = impl;
    if (len > (size_t)UINT32_MAX)
        return rs_error_set(err, RS_ETOOBIG, "%s: key %s: %zu bytes is more than a LONGBLOB holds (4 GiB)",
                            ms->t.display, key, len);
    char etag[33], im[RS_ETAG_MAX] = "";
    etag_hex(data, len, etag);
    if (mode == RS_PUT_IF_MATCH && !etag_bare(if_match, im, sizeof im))
        return rs_error_set(err, RS_EINVALID, "%s: key %s: if-match ETag too long", ms->t.display, key);
    int rc = ensure_conn(ms, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    /* a statement larger than the server's max_allowed_packet is refused (and the connection
     * dropped): say so before sending it */
    if (ms->sess.max_packet && (unsigned long long)len + strlen(key) + MY_PACKET_SLACK > ms->sess.max_packet)
        return rs_error_set(err, RS_ETOOBIG,
                            "%s: key %s: a %zu-byte value does not fit the server's max_allowed_packet (%lu bytes); "
                            "raise max_allowed_packet to at least %llu (my.cnf [mysqld], SET GLOBAL, or the CloudSQL "
                            "database flag)",
                            ms->t.display, key, len, ms->sess.max_packet,
                            (unsigned long long)len + strlen(key) + MY_PACKET_SLACK);
    long long size = (long long)len;
    unsigned long lk, ld, le, lm;
    MYSQL_BIND p[5];
    int which;
    if (mode == RS_PUT_IF_MATCH) {
        which = ST_PUT_MATCH;
        bind_blob(&p[0], data, len, &ld);
        bind_str(&p[1], etag, &le);
        bind_i64(&p[2], &size);
        bind_blob(&p[3], key, strlen(key), &lk);
        bind_str(&p[4], im, &lm);
    } else {
        which = mode == RS_PUT_IF_ABSENT ? ST_PUT_ABSENT : ST_PUT_ALWAYS;
        bind_blob(&p[0], key, strlen(key), &lk);
        bind_blob(&p[1], data, len, &ld);
        bind_str(&p[2], etag, &le);
        bind_i64(&p[3], &size);
    }
    bool idempotent = mode == RS_PUT_ALWAYS;
    for (int attempt = 0;; attempt++) {
        MYSQL_STMT *st = NULL;
        bool sent = false;
        rc = exec_stmt(ms, which, "put", p, idempotent, &st, &sent, err);
        if (rc == RS_OK) {
            bool won = mysql_stmt_affected_rows(st) > 0;
            mysql_stmt_free_result(st);
            if (won) {
                ms->stats->bytes_out += len;
                if (etag_out)
                    snprintf(etag_out, RS_ETAG_MAX, "%s", etag);
                return RS_OK;
            }
            char cur[RS_ETAG_MAX] = "";
            current_etag(ms, key, cur, sizeof cur, NULL);
            if (!*cur)
                return rs_error_set(err, RS_ECONFLICT, "%s: key %s: does not exist (put if match \"%s\")",
                                    ms->t.display, key, im);
            return rs_error_set(err, RS_ECONFLICT, "%s: key %s: ETag is \"%s\", not \"%s\" (put if match)",
                                ms->t.display, key, cur, im);
        }
        if (rc == RS_ECONFLICT && mode == RS_PUT_IF_ABSENT) /* duplicate key */
            return rs_error_set(err, RS_ECONFLICT, "%s: key %s: already exists (put if absent)", ms->t.display, key);
        if (!sent || idempotent || attempt >= ms->max_retries || !(err ? err->retryable : true)) {
            if (err)
                rs_error_prefix(err, "key %s", key);
            return rc;
        }
        /* a conditional write whose outcome is unknown (the connection broke after sending it):
         * look at what is stored now; our content there means it committed */
        rs_error sub;
        char cur[RS_ETAG_MAX] = "";
        ms->stats->retries++;
        backoff_sleep(attempt);
        if (current_etag(ms, key, cur, sizeof cur, &sub) != RS_OK) {
            if (err)
                *err = sub;
            return sub.code;
        }
        if (strcmp(cur, etag) == 0) {
            ms->stats->bytes_out += len;
            if (etag_out)
                snprintf(etag_out, RS_ETAG_MAX, "%s", etag);
            return RS_OK;
        }
        /* otherwise it did not commit: run it again (it fails cleanly if the condition is gone) */
    }
}

static int my_list(void *impl, const char *prefix, rs_list_entry **entries, size_t *n, rs_error *err)
{
    my_store *ms = impl;
    rs_buf pat = {0};
    for (const char *c = prefix; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '!')
            rs_buf_putc(&pat, '!');
        rs_buf_putc(&pat, (uint8_t)*c);
    }
    rs_buf_putc(&pat, '%');
    if (rs_buf_cstr(&pat))
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    MYSQL_BIND p[1];
    unsigned long l0;
    bind_blob(&p[0], pat.data, pat.len, &l0);
    MYSQL_STMT *st = NULL;
    int rc = exec_stmt(ms, ST_LIST, "list", p, true, &st, NULL, err);
    rs_buf_free(&pat);
    if (rc) {
        if (err)
            rs_error_prefix(err, "prefix '%s'", prefix);
        return rc;
    }
    char key[1100], etag[RS_ETAG_MAX];
    unsigned long klen = 0, elen = 0;
    long long size = 0, upd = 0;
    MYSQL_BIND r[4];
    memset(r, 0, sizeof r);
    r[0].buffer_type = MYSQL_TYPE_BLOB;
    r[0].buffer = key;
    r[0].buffer_length = sizeof key - 1;
    r[0].length = &klen;
    r[1].buffer_type = MYSQL_TYPE_LONGLONG;
    r[1].buffer = &size;
    r[2].buffer_type = MYSQL_TYPE_STRING;
    r[2].buffer = etag;
    r[2].buffer_length = sizeof etag - 1;
    r[2].length = &elen;
    r[3].buffer_type = MYSQL_TYPE_LONGLONG;
    r[3].buffer = &upd;
    mysql_stmt_bind_result(st, r);
    size_t rows = (size_t)mysql_stmt_num_rows(st);
    rs_list_entry *v = calloc(rows ? rows : 1, sizeof *v);
    if (!v) {
        mysql_stmt_free_result(st);
        return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    size_t i = 0;
    int f;
    while (i < rows && ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED)) {
        size_t kl = klen < sizeof key - 1 ? klen : sizeof key - 1;
        v[i].key = strndup(key, kl);
        if (!v[i].key) {
            mysql_stmt_free_result(st);
            rs_storage_list_free(v, i);
            return rs_error_set(err, RS_ENOMEM, "out of memory");
        }
        etag[elen < sizeof etag ? elen : sizeof etag - 1] = '\0';
        snprintf(v[i].etag, sizeof v[i].etag, "%s", etag);
        v[i].size = (uint64_t)size;
        v[i].mtime_ms = upd;
        i++;
    }
    mysql_stmt_free_result(st);
    *entries = v;
    *n = i;
    return RS_OK;
}

static int my_del(void *impl, const char *key, rs_error *err)
{
    my_store *ms = impl;
    MYSQL_BIND p[1];
    unsigned long l0;
    bind_blob(&p[0], key, strlen(key), &l0);
    MYSQL_STMT *st = NULL;
    int rc = exec_stmt(ms, ST_DEL, "delete", p, true, &st, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    mysql_stmt_free_result(st);
    return RS_OK;
}

static int my_del_if(void *impl, const char *key, const char *if_match, int64_t if_mtime_ms, rs_error *err)
{
    my_store *ms = impl;
    char im[RS_ETAG_MAX];
    if (!etag_bare(if_match, im, sizeof im))
        return rs_error_set(err, RS_EINVALID, "%s: delete key %s: ETag '%s' is not valid", ms->t.display, key,
                            if_match);
    long long mt = if_mtime_ms;
    MYSQL_BIND p[4];
    unsigned long l0, l1;
    bind_blob(&p[0], key, strlen(key), &l0);
    bind_str(&p[1], im, &l1);
    bind_i64(&p[2], &mt);
    bind_i64(&p[3], &mt);
    MYSQL_STMT *st = NULL;
    /* one statement: the row goes only while it holds that ETag (and time); run again after a
     * broken connection, it deletes nothing more */
    int rc = exec_stmt(ms, ST_DEL_IF, "delete if match", p, true, &st, NULL, err);
    if (rc) {
        if (err)
            rs_error_prefix(err, "key %s", key);
        return rc;
    }
    bool deleted = mysql_stmt_affected_rows(st) > 0;
    mysql_stmt_free_result(st);
    if (deleted)
        return RS_OK;
    char cur[RS_ETAG_MAX] = "";
    if ((rc = current_etag(ms, key, cur, sizeof cur, err)) != RS_OK)
        return rc;
    if (!*cur)
        return RS_OK; /* gone already */
    return rs_error_set(err, RS_ECONFLICT, "%s: key %s: changed since it was listed (ETag %s, wanted %s)",
                        ms->t.display, key, cur, im);
}

const rs_storage_vtable rs_mysql_backend = {
    .scheme = "mysql",
    .caps = 0,
    .open = my_open,
    .close = my_close,
    .get = my_get,
    .put = my_put,
    .list = my_list,
    .del = my_del,
    .del_if = my_del_if,
    .watch = NULL,
};
