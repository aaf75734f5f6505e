/* test_untrusted_parsers.c: the parsers the fuzz targets reach, checked on known answers: the
 * AWS time format (including the short offset the fuzzer found read past the end of the string),
 * the credential endpoints' JSON and STS answers, and S3's ListObjectsV2 and error bodies. */
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "rs_test.h"
#include "s3_xml_impl.h"

static void test_parse_time(void)
{
    int64_t ms = 0;
    CU_ASSERT_EQUAL(rs_aws_parse_time("2026-11-28T08:03:26Z", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1795853006000LL);
    CU_ASSERT_EQUAL(rs_aws_parse_time("2026-11-28T08:03:26.25Z", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1795853006250LL);
    CU_ASSERT_EQUAL(rs_aws_parse_time("2026-11-28T09:33:26+01:30", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1795853006000LL);
    CU_ASSERT_EQUAL(rs_aws_parse_time("2026-11-28T06:03:26.999-02:00", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1795853006999LL);
    static const char *bad[] = {"", "2026-11-28", "2026-11-28T08:03:26", "2026-11-28T08:03:26+1:2",
                                "2026-11-28T08:03:26+01", "2026-11-28T08:03:26+01:", "2026-11-28T08:03:26Zx",
                                " 2026-11-28T08:03:26Z", "+026-11-28T08:03:26Z", "2026-13-28T08:03:26Z",
                                "2026-11-28T24:03:26Z", "2026-11-28T08:03:26+25:00", "2026-1-28T08:03:26Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* exactly as long as the string: ASan sees any read past its end */
        size_t n = strlen(bad[i]);
        char *s = malloc(n + 1);
        memcpy(s, bad[i], n + 1);
        if (rs_aws_parse_time(s, &ms) != -1)
            fprintf(stderr, "accepted: '%s'\n", s);
        CU_ASSERT_EQUAL(rs_aws_parse_time(s, &ms), -1);
        free(s);
    }
}

static void test_creds_json(void)
{
    rs_aws_creds c;
    rs_error err = {0};
    CU_ASSERT_EQUAL(rs_aws_parse_creds_json("imds",
                                            "{\"Code\":\"Success\",\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"SK\","
                                            "\"Token\":\"T\",\"Expiration\":\"2026-11-28T08:03:26Z\"}",
                                            &c, &err),
                    RS_OK);
    CU_ASSERT_STRING_EQUAL(c.access_key_id, "AK");
    CU_ASSERT_STRING_EQUAL(c.session_token, "T");
    CU_ASSERT_EQUAL(c.expires_ms, 1795853006000LL);
    rs_aws_creds_clear(&c);
    CU_ASSERT_EQUAL(rs_aws_parse_creds_json("imds", "{\"Code\":\"Failure\"}", &c, &err), RS_EAUTH);
    CU_ASSERT_PTR_NULL(c.access_key_id);
    CU_ASSERT_EQUAL(rs_aws_parse_creds_json("ecs", "[1]", &c, &err), RS_ECORRUPT);
    CU_ASSERT_EQUAL(rs_aws_parse_creds_json("ecs",
                                            "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"SK\","
                                            "\"Expiration\":\"2026-11-28T08:03:26+1:2\"}",
                                            &c, &err),
                    RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Expiration"));
    CU_ASSERT_PTR_NULL(c.secret_access_key);
}

static void test_sts_reply(void)
{
    rs_aws_creds c;
    rs_error err = {0};
    const char *ok = "<R><Credentials><AccessKeyId>AK</AccessKeyId><SecretAccessKey>a&amp;b</SecretAccessKey>"
                     "<SessionToken>T</SessionToken><Expiration>2026-11-28T08:03:26Z</Expiration></Credentials></R>";
    CU_ASSERT_EQUAL(rs_aws_parse_sts_reply("sts", 200, ok, NULL, &c, &err), RS_OK);
    CU_ASSERT_STRING_EQUAL(c.secret_access_key, "a&b");
    rs_aws_creds_clear(&c);
    const char *e = "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>token tok-12345678 expired"
                    "</Message></Error></ErrorResponse>";
    CU_ASSERT_EQUAL(rs_aws_parse_sts_reply("sts", 400, e, "tok-12345678", &c, &err), RS_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "InvalidIdentityToken"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "tok-12345678"));
    CU_ASSERT_EQUAL(rs_aws_parse_sts_reply("sts", 503, "", NULL, &c, &err), RS_EUNAVAILABLE);
    CU_ASSERT(err.retryable);
}

static void test_s3_list_page(void)
{
    const char *page = "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;1"
                       "</NextContinuationToken><Contents><Key>root/a&lt;b</Key><Size>12</Size>"
                       "<ETag>&quot;abc&quot;</ETag><LastModified>2026-11-28T08:03:26.000Z</LastModified></Contents>"
                       "<Contents><Key>other/x</Key></Contents><Contents><Key>root/</Key></Contents>"
                       "</ListBucketResult>";
    rs_list_entry *v = NULL;
    size_t n = 0, cap = 0;
    char *next = NULL;
    CU_ASSERT_EQUAL_FATAL(rs_s3_parse_list_page("b", "root/", page, strlen(page), &v, &n, &cap, &next, NULL), RS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(v[0].key, "a<b");
    CU_ASSERT_EQUAL(v[0].size, 12);
    CU_ASSERT_STRING_EQUAL(v[0].etag, "abc");
    CU_ASSERT_EQUAL(v[0].mtime_ms, 1795853006000LL);
    CU_ASSERT_STRING_EQUAL(next, "t&1");
    free(next);
    rs_storage_list_free(v, n);
    v = NULL;
    n = cap = 0;
    rs_error err = {0};
    const char *trunc = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    CU_ASSERT_EQUAL(rs_s3_parse_list_page("b", "", trunc, strlen(trunc), &v, &n, &cap, &next, &err), RS_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "continuation token"));
    CU_ASSERT_EQUAL(rs_s3_parse_list_page("b", "", "<Error/>", 8, &v, &n, &cap, &next, &err), RS_ECORRUPT);
    rs_storage_list_free(v, n);

    char code[32], msg[64], rid[32];
    const char *eb = "<Error><Code>SlowDown</Code><Message>Reduce &#x72;ate</Message><RequestId>r-1</RequestId></Error>";
    rs_s3_xml_error_fields(eb, strlen(eb), code, sizeof code, msg, sizeof msg, rid, sizeof rid);
    CU_ASSERT_STRING_EQUAL(code, "SlowDown");
    CU_ASSERT_STRING_EQUAL(msg, "Reduce rate");
    CU_ASSERT_STRING_EQUAL(rid, "r-1");
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("untrusted parsers", NULL, NULL);
    CU_add_test(s, "AWS times", test_parse_time);
    CU_add_test(s, "IMDS / container credentials JSON", test_creds_json);
    CU_add_test(s, "STS answers", test_sts_reply);
    CU_add_test(s, "S3 ListObjectsV2 page and error body", test_s3_list_page);
    return rs_test_run();
}
