/* rs_url.h: URL helpers. */
#ifndef RS_URL_H
#define RS_URL_H

/* A copy of url safe to print: the password of user:password@ replaced by "***" and the value of
 * secret-looking query parameters (password, secret, token, signature, credential, key) too.
 * malloc'd (caller frees); NULL on allocation failure or when url is NULL. */
char *rs_url_redact(const char *url);

#endif
