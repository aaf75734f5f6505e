/* mysql_url.h: the mysql:// (and mariadb://) URL of the MySQL store and Feast SQL source, parsed.
 * Public: the benchmarks connect the mysql client to the same server with it.
 *
 * URL: mysql://user:password@host:port/db?ssl-mode=...&ssl-ca=...&table_prefix=... host may be a
 * %-encoded absolute path (a unix socket) or absent with ?socket=/path (docs/storage.md).
 *
 * Ownership: strings in rs_my_target are malloc'd and freed (the password wiped) by
 * rs_my_target_free. Messages never contain a password: they name the server with
 * rs_my_target.display.
 */
#ifndef RS_MYSQL_URL_H
#define RS_MYSQL_URL_H

#include <stdbool.h>

#include "rs_error.h"

typedef enum rs_my_ssl_mode {
    RS_MY_SSL_PREFERRED = 0, /* default: TLS when the server offers it */
    RS_MY_SSL_DISABLED,
    RS_MY_SSL_REQUIRED,      /* TLS or fail; the certificate is not checked */
    RS_MY_SSL_VERIFY_CA,     /* TLS, certificate chain checked against ssl-ca */
    RS_MY_SSL_VERIFY_IDENTITY, /* VERIFY_CA and the host name (or IP) in the certificate */
} rs_my_ssl_mode;

typedef struct rs_my_target {
    char *user;
    char *password;     /* wiped when freed; never printed */
    char *host;         /* NULL with a unix socket */
    char *socket;       /* unix socket path or NULL */
    char *db;
    unsigned port;      /* 3306 by default */
    rs_my_ssl_mode ssl_mode;
    char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key;
    char *table_prefix; /* table_prefix=, NULL when absent (only the store accepts it) */
    char *display;      /* "mysql://user@host:port/db" for messages */
} rs_my_target;

/* Parses url (mysql:// or mariadb://). allow_prefix: whether table_prefix= is accepted (the
 * store) or an error (the Feast source). ignore_charset: accept SQLAlchemy's charset= (Feast's
 * URLs). Unknown parameters are RS_EINVALID naming them. */
int rs_my_parse_url(const char *url, bool allow_prefix, bool ignore_charset, rs_my_target *t, rs_error *err);
void rs_my_target_free(rs_my_target *t);

#endif
