/* libFuzzer target: store and source URLs as the backends parse them (s3://, mysql:// and
 * mariadb:// in both modes, postgresql:// query parameters and display form) and the redaction
 * every message and log line goes through (which must be idempotent). */
#include "mysql_impl.h"
#include "pg_impl.h"
#include "rs_config.h"
#include "rs_url.h"
#include "s3.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* URLs come from configuration; longer ones teach nothing more */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    /* For a URL that starts with its scheme, redaction is idempotent (what it leaves is not taken
       for another secret). Without one, "://" may first appear in the query and a redacted '/'
       can turn text into userinfo on a second pass: nothing leaks, so that is not checked. */
    size_t sl = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    bool has_scheme = sl > 0 && strncmp(s + sl, "://", 3) == 0;
    char *red = rs_url_redact(s);
    if (red && has_scheme) {
        char *again = rs_url_redact(red);
        if (again && strcmp(again, red) != 0)
            abort();
        free(again);
    }
    free(red);
    red = rs_config_redact_url(s);
    free(red);

    rs_storage_opts opts = {.region = "us-east-1"};
    rs_s3_config c = {0};
    if (rs_s3_config_parse(s, &opts, &c, NULL) == RS_OK && (!c.bucket || !c.origin || !c.host))
        abort();
    rs_s3_config_free(&c);

    for (int mode = 0; mode < 2; mode++) {
        rs_my_target t = {0};
        if (rs_my_parse_url(s, mode == 0, mode == 1, &t, NULL) == RS_OK && !t.display)
            abort();
        rs_my_target_free(&t);
    }

    char *copy = strdup(s);
    char *val = NULL;
    if (copy && rs_pg_url_take_param(copy, "password_file", &val, NULL) == RS_OK && strlen(copy) > size)
        abort(); /* taking a parameter out never makes the URL longer */
    free(val);
    free(copy);
    char *disp = rs_pg_url_display(s);
    free(disp);
    free(s);
    return 0;
}
