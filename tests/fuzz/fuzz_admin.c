/* libFuzzer target: the admin API's own request parsing. The byte stream goes through the framing
 * checker (rs_frame) whole and byte by byte (the verdict must not depend on how TCP cut it); the
 * same bytes, as a string, go through the route matcher, the query parser, the Authorization,
 * Host and listen parsers and the region list check; and as a POST body through the body parser. */
#include "rs_admin_impl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_frame whole, bytes;
    rs_frame_init(&whole, 4096);
    rs_frame_init(&bytes, 4096);
    int rw = rs_frame_feed(&whole, data, size);
    int rb = 0;
    for (size_t i = 0; i < size && rb == 0; i++)
        rb = rs_frame_feed(&bytes, data + i, 1);
    if (rw != rb || rs_frame_bad(&whole) != rs_frame_bad(&bytes) || rs_frame_off(&whole) != rs_frame_off(&bytes))
        abort();

    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    const char *tail = NULL;
    rs_route rt = rs_admin_match_route(s, &tail);
    if (rt == RT_VERSION && tail) {
        uint64_t v;
        (void)rs_admin_parse_u64(tail, &v);
    }
    rs_admin_query q;
    rs_error err = {0};
    if (rs_admin_query_parse(s, &q, &err) == RS_OK) {
        if (q.n > RS_ADMIN_MAX_PARAMS)
            abort();
        for (size_t i = 0; i < q.n; i++)
            if (rs_admin_query_get(&q, q.key[i]) != q.val[i])
                abort(); /* duplicate keys are refused, so each key finds its own value */
        rs_admin_query_free(&q);
    }
    size_t n = 0;
    const char *tok = rs_admin_bearer(s, &n);
    if (tok && (tok < s || tok + n > s + size))
        abort();
    (void)rs_admin_host_is_loopback(s);
    (void)rs_admin_regions_valid(s);
    char host[256], port[32];
    (void)rs_admin_parse_listen(s, host, sizeof host, port, sizeof port, NULL);
    free(s);

    json_t *body = NULL;
    char why[256];
    if (rs_admin_parse_body((const char *)data, size, &body, why, sizeof why) == 0 && body && !json_is_object(body))
        abort();
    json_decref(body);
    return 0;
}
