/* test_sigv4.c: SigV4 signing against AWS's published test data.
 *
 * 1. The aws-sig-v4-test-suite (AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service"):
 *    each case checks the canonical request, the string to sign and the signature exactly.
 *    (Only cases S3 semantics share are used: the suite's normalize-path cases other than
 *    get-space assume dot-segment normalisation, which S3 must not do.)
 * 2. The worked examples of the S3 "Signature Calculations for the Authorization Header" page
 *    (AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, service "s3"): GET object with Range, PUT object
 *    with a signed payload, GET ?lifecycle, GET ?max-keys=2&prefix=J.
 * 3. S3 key encoding (spaces, unicode, ()!*'), query sorting, header trimming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_error.h"
#include "rs_test.h"
#include "sigv4.h"

#define SUITE_KEY "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_SCOPE "20150830/us-east-1/service/aws4_request"
#define HOST "example.amazonaws.com"
#define EMPTY RS_SIGV4_EMPTY_SHA256
#define STS_PREFIX "AWS4-HMAC-SHA256\n" SUITE_DATE "\n" SUITE_SCOPE "\n"
#define STS_TOKEN                                                                                                 \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8Y" \
    "UuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8" \
    "YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2IC" \
    "CR/oLxBA=="

typedef struct vec {
    const char *name;
    const char *method;
    const char *path;          /* unencoded, as in the .req file */
    const char *query;         /* as in the .req file: "a=b&c=d" (unencoded) */
    rs_sigv4_kv headers[6];    /* besides Host and X-Amz-Date, which every case has */
    const char *body;
    const char *creq;          /* expected canonical request */
    const char *sts_hash;      /* last line of the expected string to sign; NULL: not published here */
    const char *signature;     /* from the .authz file */
} vec;

static const vec suite[] = {
    {"get-vanilla", "GET", "/", "", {{0}}, "",
     "GET\n/\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {{0}}, "",
     "GET\n/\nParam1=value1&Param2=value2\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", {{0}}, "",
     "GET\n/\nParam1=Value1&Param1=value2\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
    {"get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", {{0}}, "",
     "GET\n/\nParam1=value1&Param1=value2\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
     "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
    {"get-vanilla-empty-query-key", "GET", "/", "Param1=value1", {{0}}, "",
     "GET\n/\nParam1=value1\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved", "GET", "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
     "abcdefghijklmnopqrstuvwxyz",
     {{0}}, "",
     "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRS"
     "TUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", {{0}}, "",
     "GET\n/\n%E1%88%B4=bar\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", {{0}}, "",
     "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:" HOST
     "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8", "GET", "/\xe1\x88\xb4", "", {{0}}, "",
     "GET\n/%E1%88%B4\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY, NULL,
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-space", "GET", "/example space/", "", {{0}}, "",
     "GET\n/example%20space/\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-header-value-trim", "GET", "/", "", {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, "",
     "GET\n/\n\nhost:" HOST "\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:" SUITE_DATE
     "\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY,
     "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-key-duplicate", "GET", "/", "",
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, "",
     "GET\n/\n\nhost:" HOST "\nmy-header1:value2,value2,value1\nx-amz-date:" SUITE_DATE
     "\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-order", "GET", "/", "",
     {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}, "",
     "GET\n/\n\nhost:" HOST "\nmy-header1:value4,value1,value3,value2\nx-amz-date:" SUITE_DATE
     "\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"post-vanilla", "POST", "/", "", {{0}}, "",
     "POST\n/\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query", "POST", "/", "Param1=value1", {{0}}, "",
     "POST\n/\nParam1=value1\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-header-key-sort", "POST", "/", "", {{"My-Header1", "value1"}}, "",
     "POST\n/\n\nhost:" HOST "\nmy-header1:value1\nx-amz-date:" SUITE_DATE "\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", "/", "", {{"My-Header1", "VALUE1"}}, "",
     "POST\n/\n\nhost:" HOST "\nmy-header1:VALUE1\nx-amz-date:" SUITE_DATE "\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-x-www-form-urlencoded", "POST", "/", "", {{"Content-Type", "application/x-www-form-urlencoded"}},
     "Param1=value1",
     "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:" HOST "\nx-amz-date:" SUITE_DATE
     "\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-sts-header-before", "POST", "/", "", {{"X-Amz-Security-Token", STS_TOKEN}}, "",
     "POST\n/\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\nx-amz-security-token:" STS_TOKEN
     "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY,
     "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    /* post-sts-header-after: the token header is added after signing, so it is not signed */
    {"post-sts-header-after", "POST", "/", "", {{0}}, "",
     "POST\n/\n\nhost:" HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
};

/* Splits "a=b&c=d" (unencoded) into kv pairs; strings point into a copy the caller frees. */
static size_t parse_query(const char *q, char **copy, rs_sigv4_kv *out, size_t max)
{
    *copy = strdup(q);
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(*copy, "&", &save); tok && n < max; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        out[n].name = tok;
        out[n].value = eq ? eq : "";
        n++;
    }
    return n;
}

static void run_vector(const vec *v)
{
    rs_sigv4_kv headers[8];
    size_t nh = 0;
    headers[nh++] = (rs_sigv4_kv){"Host", HOST};
    for (size_t i = 0; i < 6 && v->headers[i].name; i++)
        headers[nh++] = v->headers[i];
    headers[nh++] = (rs_sigv4_kv){"X-Amz-Date", SUITE_DATE};
    rs_sigv4_kv query[4];
    char *qcopy = NULL;
    size_t nq = parse_query(v->query, &qcopy, query, 4);
    char body_hash[65];
    rs_sigv4_sha256_hex(v->body, strlen(v->body), body_hash);
    rs_sigv4_request r = {v->method, v->path, query, nq, headers, nh, body_hash};
    rs_sigv4_key k = {SUITE_KEY, SUITE_SECRET, "us-east-1", "service"};

    /* step by step */
    rs_buf creq = {0}, sh = {0}, scope = {0}, sts = {0}, auth = {0}, creq2 = {0}, sts2 = {0};
    CU_ASSERT_EQUAL_FATAL(rs_sigv4_canonical_request(&r, &creq, &sh), 0);
    if (strcmp((char *)creq.data, v->creq) != 0)
        fprintf(stderr, "%s: canonical request\n--- got\n%s\n--- want\n%s\n", v->name, (char *)creq.data, v->creq);
    CU_ASSERT_STRING_EQUAL(creq.data, v->creq);
    CU_ASSERT_EQUAL(rs_sigv4_scope("20150830", "us-east-1", "service", &scope), 0);
    CU_ASSERT_STRING_EQUAL(scope.data, SUITE_SCOPE);
    CU_ASSERT_EQUAL(rs_sigv4_string_to_sign(SUITE_DATE, (char *)scope.data, (char *)creq.data, creq.len, &sts), 0);
    if (v->sts_hash) {
        char want[512];
        snprintf(want, sizeof want, STS_PREFIX "%s", v->sts_hash);
        if (strcmp((char *)sts.data, want) != 0)
            fprintf(stderr, "%s: string to sign\n--- got\n%s\n--- want\n%s\n", v->name, (char *)sts.data, want);
        CU_ASSERT_STRING_EQUAL(sts.data, want);
    } else {
        CU_ASSERT_EQUAL(strncmp((char *)sts.data, STS_PREFIX, strlen(STS_PREFIX)), 0);
    }
    uint8_t key[32];
    char sig[65];
    rs_sigv4_signing_key(SUITE_SECRET, "20150830", "us-east-1", "service", key);
    rs_sigv4_signature(key, (char *)sts.data, sts.len, sig);
    if (strcmp(sig, v->signature) != 0)
        fprintf(stderr, "%s: signature got %s want %s\n", v->name, sig, v->signature);
    CU_ASSERT_STRING_EQUAL(sig, v->signature);

    /* all at once: the Authorization header exactly as the .authz file has it */
    CU_ASSERT_EQUAL(rs_sigv4_sign(&r, &k, SUITE_DATE, &auth, &creq2, &sts2), 0);
    char want_auth[512];
    snprintf(want_auth, sizeof want_auth,
             "AWS4-HMAC-SHA256 Credential=" SUITE_KEY "/" SUITE_SCOPE ", SignedHeaders=%s, Signature=%s",
             (char *)sh.data, v->signature);
    CU_ASSERT_STRING_EQUAL(auth.data, want_auth);
    CU_ASSERT_STRING_EQUAL(creq2.data, creq.data);
    CU_ASSERT_STRING_EQUAL(sts2.data, sts.data);
    rs_buf_free(&creq);
    rs_buf_free(&sh);
    rs_buf_free(&scope);
    rs_buf_free(&sts);
    rs_buf_free(&auth);
    rs_buf_free(&creq2);
    rs_buf_free(&sts2);
    free(qcopy);
}

static void test_aws_suite(void)
{
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++)
        run_vector(&suite[i]);
}

static void test_signing_key(void)
{
    /* the derived key of the suite's credentials for 20150830/us-east-1/iam, as AWS documents it */
    uint8_t key[32];
    char hex[65];
    rs_sigv4_signing_key(SUITE_SECRET, "20150830", "us-east-1", "iam", key);
    rs_hex(key, 32, hex);
    CU_ASSERT_STRING_EQUAL(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

/* S3's own worked examples (AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, examplebucket). */
static const char *s3_sig(const char *method, const char *path, const rs_sigv4_kv *q, size_t nq,
                          const rs_sigv4_kv *extra, size_t nextra, const char *payload_hash, char out[65])
{
    rs_sigv4_kv h[8];
    size_t n = 0;
    h[n++] = (rs_sigv4_kv){"Host", "examplebucket.s3.amazonaws.com"};
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    h[n++] = (rs_sigv4_kv){"x-amz-content-sha256", payload_hash};
    h[n++] = (rs_sigv4_kv){"x-amz-date", "20130524T000000Z"};
    rs_sigv4_request r = {method, path, q, nq, h, n, payload_hash};
    rs_sigv4_key k = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};
    rs_buf auth = {0};
    out[0] = '\0';
    if (rs_sigv4_sign(&r, &k, "20130524T000000Z", &auth, NULL, NULL) == 0) {
        const char *s = strstr((char *)auth.data, "Signature=");
        if (s)
            snprintf(out, 65, "%s", s + 10);
    }
    rs_buf_free(&auth);
    return out;
}

static void test_s3_examples(void)
{
    char sig[65];
    rs_sigv4_kv range[] = {{"Range", "bytes=0-9"}};
    CU_ASSERT_STRING_EQUAL(s3_sig("GET", "/test.txt", NULL, 0, range, 1, EMPTY, sig),
                           "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

    const char *body = "Welcome to Amazon S3.";
    char h[65];
    rs_sigv4_sha256_hex(body, strlen(body), h);
    CU_ASSERT_STRING_EQUAL(h, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    rs_sigv4_kv put_h[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    CU_ASSERT_STRING_EQUAL(s3_sig("PUT", "/test$file.text", NULL, 0, put_h, 2, h, sig),
                           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

    rs_sigv4_kv lifecycle[] = {{"lifecycle", NULL}};
    CU_ASSERT_STRING_EQUAL(s3_sig("GET", "/", lifecycle, 1, NULL, 0, EMPTY, sig),
                           "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

    rs_sigv4_kv list[] = {{"prefix", "J"}, {"max-keys", "2"}}; /* unsorted on purpose */
    CU_ASSERT_STRING_EQUAL(s3_sig("GET", "/", list, 2, NULL, 0, EMPTY, sig),
                           "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_uri_encoding(void)
{
    rs_buf b = {0};
    CU_ASSERT_EQUAL(rs_sigv4_uri_encode("/bucket/dir/a b(1)!*'\xc3\xbc~-_.+=&:@$,;?#%.db", true, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data,
                           "/bucket/dir/a%20b%281%29%21%2A%27%C3%BC~-_.%2B%3D%26%3A%40%24%2C%3B%3F%23%25.db");
    rs_buf_free(&b);
    CU_ASSERT_EQUAL(rs_sigv4_uri_encode("a/b c", false, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "a%2Fb%20c");
    rs_buf_free(&b);
    CU_ASSERT_EQUAL(rs_sigv4_uri_encode("", true, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "");
    rs_buf_free(&b);

    /* query values are encoded (slashes too) and sorted by name then value; NULL value = "" */
    rs_sigv4_kv q[] = {{"prefix", "rs test/a(b)"}, {"list-type", "2"}, {"continuation-token", "1/x+y=="},
                       {"encoding-type", NULL}};
    CU_ASSERT_EQUAL(rs_sigv4_canonical_query(q, 4, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data,
                           "continuation-token=1%2Fx%2By%3D%3D&encoding-type=&list-type=2&prefix=rs%20test%2Fa%28b%29");
    rs_buf_free(&b);
    CU_ASSERT_EQUAL(rs_sigv4_canonical_query(NULL, 0, &b), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "");
    rs_buf_free(&b);
}

static void test_bad_input(void)
{
    rs_buf b = {0};
    rs_sigv4_kv bad[] = {{"Bad Header", "x"}};
    rs_sigv4_request r = {"GET", "/", NULL, 0, bad, 1, EMPTY};
    CU_ASSERT_EQUAL(rs_sigv4_canonical_request(&r, &b, NULL), RS_EINVALID);
    rs_buf_free(&b);
    rs_sigv4_request r2 = {NULL, "/", NULL, 0, NULL, 0, EMPTY};
    CU_ASSERT_EQUAL(rs_sigv4_canonical_request(&r2, &b, NULL), RS_EINVALID);
    rs_buf_free(&b);
    rs_sigv4_key k = {"AK", "SK", "us-east-1", "s3"};
    rs_sigv4_request r3 = {"GET", "/", NULL, 0, NULL, 0, EMPTY};
    CU_ASSERT_EQUAL(rs_sigv4_sign(&r3, &k, "2015", &b, NULL, NULL), RS_EINVALID);
    rs_buf_free(&b);

    char d[17], d8[9];
    rs_sigv4_amz_date((time_t)1440938160, d, d8); /* 2015-08-30T12:36:00Z */
    CU_ASSERT_STRING_EQUAL(d, SUITE_DATE);
    CU_ASSERT_STRING_EQUAL(d8, "20150830");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sigv4", NULL, NULL);
    CU_add_test(s, "aws-sig-v4-test-suite vectors", test_aws_suite);
    CU_add_test(s, "signing key derivation", test_signing_key);
    CU_add_test(s, "S3 documented examples", test_s3_examples);
    CU_add_test(s, "S3 URI encoding and query sorting", test_uri_encoding);
    CU_add_test(s, "invalid input", test_bad_input);
    return rs_test_run();
}
