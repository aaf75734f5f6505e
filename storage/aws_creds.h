/* aws_creds.h: where AWS settings come from. The shared config/credentials files, the region
 * resolution order, and the credentials provider chain with refresh of temporary credentials.
 *
 * Credentials chain, first match wins (resolved once, when the provider opens), in the order the
 * AWS SDKs for Java and PHP document for their default chain:
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *   2. web identity (EKS IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (+ AWS_ROLE_SESSION_NAME)
 *      -> STS AssumeRoleWithWebIdentity; the token file is read again for every call (Kubernetes
 *      rotates it)
 *   3. the profile (AWS_PROFILE or "default") in the shared files, AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials section [NAME] first, then AWS_CONFIG_FILE or ~/.aws/config section
 *      [default] / [profile NAME]:
 *      - role_arn with web_identity_token_file -> AssumeRoleWithWebIdentity;
 *        role_arn with source_profile (that profile's credentials, recursively, up to 5 deep; a
 *        profile may name itself to use its own keys) or credential_source (Environment,
 *        Ec2InstanceMetadata, EcsContainer) -> STS AssumeRole signed with those credentials;
 *        also role_session_name, duration_seconds, external_id; mfa_serial is refused
 *      - else aws_access_key_id + aws_secret_access_key (+ aws_session_token)
 *   4. container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended to
 *      http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback /
 *      ECS / EKS address only), with the Authorization header from
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read on every fetch) or _TOKEN
 *   5. EC2 instance metadata, IMDSv2 only (PUT token, then GET the role's credentials); endpoint
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254); disabled by
 *      AWS_EC2_METADATA_DISABLED=true
 * STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else https://sts.REGION.amazonaws.com
 * (.com.cn in China) for the region (rs_aws_provider_opts.region, AWS_REGION, AWS_DEFAULT_REGION,
 * the profile's region), or https://sts.amazonaws.com without a region or when
 * AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints is "legacy" for one of the regions that
 * used the global endpoint. Session name default: regsync-<unix ms>.
 * Temporary credentials (2 to 5) are fetched again 5 minutes before they expire (halfway through
 * their life when shorter); a failed refresh keeps the old ones while they are valid. An assumed
 * role's own source credentials refresh the same way when they are temporary.
 *
 * Secrets never reach a log or an error message. Ownership: rs_aws_creds is filled by copy and
 * wiped by rs_aws_creds_clear; strings returned through char ** are the caller's (free()).
 * A provider is not thread-safe (one per storage handle).
 */
#ifndef RS_AWS_CREDS_H
#define RS_AWS_CREDS_H

#include <stdbool.h>
#include <stdint.h>

#include "rs_error.h"

typedef struct rs_aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;   /* NULL when none */
    int64_t expires_ms;    /* wall clock ms; 0: does not expire */
} rs_aws_creds;

void rs_aws_creds_clear(rs_aws_creds *c);   /* wipes and frees the strings; c may be NULL */

typedef struct rs_aws_provider_opts {
    long timeout_ms;        /* each request to the container endpoint / IMDS; 0: 2000 */
    const char *ca_bundle;  /* for an https container endpoint or STS; NULL: system default */
    const char *region;     /* the caller's region, for the STS endpoint; NULL: environment, profile */
    long sts_timeout_ms;    /* each request to STS; 0: 10000 */
} rs_aws_provider_opts;

typedef struct rs_aws_provider rs_aws_provider;

/* Walks the chain. RS_EAUTH when nothing provides credentials, naming every place looked at. */
int rs_aws_provider_open(const rs_aws_provider_opts *opts, rs_aws_provider **out, rs_error *err);
void rs_aws_provider_close(rs_aws_provider *p);

/* Current credentials (copies into *out, which the caller clears), refreshed when due. */
int rs_aws_provider_get(rs_aws_provider *p, rs_aws_creds *out, rs_error *err);

/* Forces a refresh on the next get (after the server said the token expired). No-op for static
 * credentials. Returns true when the source can refresh. */
bool rs_aws_provider_invalidate(rs_aws_provider *p);

/* Where the credentials come from, for logs: "environment", "shared credentials file (profile
 * NAME)", "config file (profile NAME)", "container endpoint", "instance metadata (IMDSv2)",
 * "web identity token (HOW, role ARN)", "assume role ARN (profile NAME, with SOURCE)". */
const char *rs_aws_provider_source(const rs_aws_provider *p);
/* Fetches from the source so far (1 for static sources), for tests and metrics. */
unsigned rs_aws_provider_fetches(const rs_aws_provider *p);

/* The STS endpoint for region (NULL: none known) and mode ("regional", "legacy"; NULL or "":
 * regional), with the override variables above; *url and *signing_region are the caller's.
 * RS_EINVALID for another mode. */
int rs_aws_sts_endpoint(const char *region, const char *mode, char **url, char **signing_region, rs_error *err);

/* Region resolution: url_region, opts_region, AWS_REGION, AWS_DEFAULT_REGION, then `region` of the
 * profile in the config file. *region is the caller's; *source (static string) says where it came
 * from. RS_EINVALID naming every place looked at when none has one, or when the value is not a
 * region name ([a-z0-9-]). */
int rs_aws_resolve_region(const char *url_region, const char *opts_region, char **region, const char **source,
                          rs_error *err);

/* AWS_PROFILE or "default". Borrowed. */
const char *rs_aws_profile(void);
/* Paths of the shared files (env override or ~/.aws/...); NULL when neither env nor HOME is set. */
char *rs_aws_config_path(void);
char *rs_aws_credentials_path(void);

/* One value from an INI file of the AWS kind. RS_OK and *value, RS_ENOTFOUND when the file, the
 * section or the key is missing (*section_found tells which; may be NULL). */
int rs_aws_ini_get(const char *path, const char *section, const char *key, char **value, bool *section_found);

/* ISO 8601 / RFC 3339 time ("2026-11-28T08:03:26Z", fractions and +hh:mm offsets allowed) to
 * wall-clock ms. 0 or -1. */
int rs_aws_parse_time(const char *s, int64_t *ms);

/* The untrusted answers of the credential endpoints (exposed for the fuzz target; the provider
 * calls them). what names the endpoint in messages. On success *out holds the credentials (the
 * caller clears them); on failure *out is empty. Secrets never appear in messages.
 *   rs_aws_parse_creds_json: the JSON document of the container (ECS/EKS) and IMDS endpoints,
 *     NUL-terminated. RS_EAUTH for a Code other than "Success", RS_ECORRUPT when malformed.
 *   rs_aws_parse_sts_reply: an STS AssumeRole* answer (XML, NUL-terminated) with its HTTP status;
 *     a non-200 answer is an error naming its Code and Message (token, the web identity token,
 *     removed from the message; may be NULL): RS_EUNAVAILABLE (retryable) for 5xx, 429 and
 *     throttling, RS_EAUTH for other 4xx, RS_EIO otherwise. */
int rs_aws_parse_creds_json(const char *what, const char *body, rs_aws_creds *out, rs_error *err);
int rs_aws_parse_sts_reply(const char *what, long status, const char *doc, const char *token, rs_aws_creds *out,
                           rs_error *err);

#endif
