/* rs_url.h: URL and secret-name helpers (used by storage, the daemon's configuration and the
 * tools, so that every place redacts the same way). */
#ifndef RS_URL_H
#define RS_URL_H

#include <stdbool.h>
#include <stddef.h>

/* A copy of url safe to print: the password of user:password@ and the values of secret-looking
 * query parameters replaced by "<redacted>". malloc'd (caller frees); NULL when url is NULL or on
 * allocation failure. */
char *rs_url_redact(const char *url);

/* true when url carries a password in its userinfo or a secret-looking query parameter. */
bool rs_url_has_secret(const char *url);

/* true when a key or parameter name looks like it holds a secret (token, password, secret,
 * access_key, api_key, credential, private_key, ...); a name ending in
 * "_file" (token_file, password_file) names a file, not a secret. */
bool rs_secret_name(const char *leaf);

/* The value of one hex digit (0-9, a-f, A-F), or -1. */
int rs_hexdigit(int c);

/* Percent-decodes [s, s+n) ("+" stays "+") into a new NUL-terminated string (*out, caller frees).
 * RS_OK; RS_EINVALID for a bad or truncated escape or an encoded NUL ("%00", which would cut the
 * value short); RS_ENOMEM. *out is NULL on failure. */
int rs_pct_decode(const char *s, size_t n, char **out);

#endif
