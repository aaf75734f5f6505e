/* libFuzzer target: S3's XML replies as the S3 backend reads them: a ListObjectsV2 page (under
 * the root "" and under "root/") and an error body. The first byte picks the root. */
#include "s3_xml_impl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *prefix = (data[0] & 1) ? "root/" : "";
    const char *body = (const char *)data + 1;
    size_t blen = size - 1;
    rs_list_entry *v = NULL;
    size_t n = 0, cap = 0;
    char *next = NULL;
    int rc = rs_s3_parse_list_page("bucket", prefix, body, blen, &v, &n, &cap, &next, NULL);
    if (rc == RS_OK && next && !*next)
        abort(); /* a continuation token is never empty */
    for (size_t i = 0; i < n; i++)
        if (!v[i].key || !v[i].key[0] || strlen(v[i].etag) >= RS_ETAG_MAX)
            abort();
    rs_storage_list_free(v, n);
    free(next);
    char code[128], msg[512], rid[128];
    rs_s3_xml_error_fields(body, blen, code, sizeof code, msg, sizeof msg, rid, sizeof rid);
    char etag[RS_ETAG_MAX];
    rs_s3_set_etag(etag, body, blen);
    return 0;
}
