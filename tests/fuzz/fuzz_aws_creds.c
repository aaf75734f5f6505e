/* libFuzzer target: the answers of the AWS credential endpoints: the JSON document of IMDS and
 * the container (ECS/EKS) endpoint, an STS AssumeRole* answer (200 and an error status), and the
 * times in them. */
#include "aws_creds.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rs_aws_creds c;
    rs_error err = {0};
    if (rs_aws_parse_creds_json("fuzz", s, &c, &err) == RS_OK) {
        if (!c.access_key_id || !*c.access_key_id || !c.secret_access_key || !*c.secret_access_key)
            abort();
    } else if (c.access_key_id || c.secret_access_key || c.session_token) {
        abort(); /* a failure leaves nothing behind */
    }
    rs_aws_creds_clear(&c);
    static const long statuses[] = {200, 403, 503};
    for (size_t i = 0; i < 3; i++) {
        if (rs_aws_parse_sts_reply("fuzz", statuses[i], s, "fuzz-web-identity-token", &c, &err) == RS_OK) {
            if (statuses[i] != 200 || !c.access_key_id || !c.secret_access_key)
                abort();
        } else if (c.access_key_id || c.secret_access_key || c.session_token) {
            abort();
        }
        rs_aws_creds_clear(&c);
    }
    int64_t ms;
    (void)rs_aws_parse_time(s, &ms);
    free(s);
    return 0;
}
