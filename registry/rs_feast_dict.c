/* rs_feast_dict.c: Feast's to_dict rules, one builder per class (see rs_feast_dict.h and
 * docs/json.md, "Project mode"). Each builder mirrors the class's to_proto(from_proto(stored)):
 * it starts from an empty object and copies what to_proto writes, so a field Feast does not
 * round-trip is left out by construction. Read from feast-dev/feast (sdk/python/feast), 2026-08. */
#include "rs_feast_dict.h"
#include "rs_buf.h"
#include "rs_registry.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ helpers */

static const json_t *get(const json_t *o, const char *k) { return json_is_object(o) ? json_object_get(o, k) : NULL; }

static const char *str(const json_t *o, const char *k)
{
    const json_t *v = get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* dst[k] = v (a new reference, taken); nothing when v is NULL */
static void put(json_t *dst, const char *k, json_t *v)
{
    if (v)
        json_object_set_new(dst, k, v);
}

/* dst[k] = src[k] when present. The value is shared, not copied (the stored tree is dropped once
 * the object is built): a builder that changes a value it took makes its own copy first. */
static void copy(json_t *dst, const json_t *src, const char *k)
{
    const json_t *v = get(src, k);
    if (v)
        json_object_set(dst, k, (json_t *)v);
}

static void copy_keys(json_t *dst, const json_t *src, const char *const *keys)
{
    for (; *keys; keys++)
        copy(dst, src, *keys);
}

/* A non-empty string, or nothing (proto3 leaves "" out). */
static void put_str(json_t *dst, const char *k, const char *v)
{
    if (v && v[0])
        json_object_set_new(dst, k, json_string(v));
}

/* Fraction digits of an RFC 3339 / Duration string, truncated to microseconds (Python's datetime
 * and timedelta hold microseconds; ToDatetime/ToTimedelta round toward zero), then written the
 * way protobuf's JSON printer writes them: none, 3 or 6 digits. `body` is the part before the
 * fraction; `tail` the suffix ("Z" or "s"). */
static json_t *truncate_fraction(const char *s, char tail)
{
    const char *dot = strchr(s, '.');
    size_t n = strlen(s);
    if (!dot || n == 0 || s[n - 1] != tail)
        return json_string(s);
    char digits[7] = "000000";
    const char *p = dot + 1;
    for (int i = 0; i < 6 && p[i] >= '0' && p[i] <= '9'; i++)
        digits[i] = p[i];
    long us = strtol(digits, NULL, 10);
    char out[96];
    int w;
    if (us == 0) {
        if (tail == 's' && strncmp(s, "-0.", 3) == 0)
            return json_string("0s"); /* -0.000000500s is zero after the truncation */
        w = snprintf(out, sizeof out, "%.*s%c", (int)(dot - s), s, tail);
    } else if (us % 1000 == 0) {
        w = snprintf(out, sizeof out, "%.*s.%03ld%c", (int)(dot - s), s, us / 1000, tail);
    } else {
        w = snprintf(out, sizeof out, "%.*s.%06ld%c", (int)(dot - s), s, us, tail);
    }
    return w > 0 && (size_t)w < sizeof out ? json_string(out) : json_string(s);
}

static json_t *ts_us(const json_t *v) { return json_is_string(v) ? truncate_fraction(json_string_value(v), 'Z') : NULL; }

static json_t *dur_us(const json_t *v) { return json_is_string(v) ? truncate_fraction(json_string_value(v), 's') : NULL; }

/* A Duration that Feast reads with `timedelta(0) if d.ToNanoseconds() == 0 else d.ToTimedelta()`
 * and always writes back: absent or zero prints "0s". */
static json_t *dur_always(const json_t *v)
{
    json_t *d = dur_us(v);
    return d ? d : json_string("0s");
}

/* meta timestamps Feast keeps (ToDatetime then FromDatetime) */
static void put_ts(json_t *dst, const json_t *src, const char *k) { put(dst, k, ts_us(get(src, k))); }

static int64_t num(const json_t *o, const char *k)
{
    const json_t *v = get(o, k);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v)) /* 64-bit integers print as strings */
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

/* ------------------------------------------------------------ fields */

#define STRUCT_SCHEMA_TAG "feast:struct_schema"
#define NESTED_INNER_TAG "feast:nested_inner_type"

/* Field.to_proto(Field.from_proto(f)): FeatureSpecV2. A struct or nested-collection type without
 * the tag describing its inner type gets Feast's placeholder type, and to_proto writes its tag. */
static json_t *field(const json_t *f)
{
    static const char *const keys[] = {"name", "valueType", "description", "tags", "vectorIndex", "vectorLength",
                                       "vectorSearchMetric", NULL};
    json_t *o = json_object();
    copy_keys(o, f, keys);
    const char *vt = str(f, "valueType");
    const json_t *tags = get(f, "tags");
    const char *tag = NULL, *value = NULL;
    if ((strcmp(vt, "STRUCT") == 0 || strcmp(vt, "STRUCT_LIST") == 0) && !get(tags, STRUCT_SCHEMA_TAG)) {
        tag = STRUCT_SCHEMA_TAG;
        value = "{\"_value\": \"STRING\"}";
    } else if (strcmp(vt, "VALUE_LIST") == 0 && !get(tags, NESTED_INNER_TAG)) {
        tag = NESTED_INNER_TAG;
        value = "Array(Array(STRING))";
    } else if (strcmp(vt, "VALUE_SET") == 0 && !get(tags, NESTED_INNER_TAG)) {
        tag = NESTED_INNER_TAG;
        value = "Set(Array(STRING))";
    }
    if (tag) {
        const json_t *have = json_object_get(o, "tags");
        json_t *t = have ? json_copy((json_t *)have) : json_object(); /* the stored tags stay as they are */
        json_object_set_new(t, tag, json_string(value));
        json_object_set_new(o, "tags", t);
    }
    return o;
}

static json_t *fields(const json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return NULL;
    json_t *o = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) json_array_append_new(o, field(v));
    return o;
}

static json_t *strings(const json_t *arr)
{
    return json_is_array(arr) && json_array_size(arr) ? json_incref((json_t *)arr) : NULL;
}

/* ------------------------------------------------------------ data sources */

enum { DS_TOP = 0, DS_SERIALIZED = 1, DS_PLAIN = 2 };

typedef struct ds_class {
    const char *type;        /* SourceType name */
    const char *cls;         /* module.Class Feast's DataSource.from_proto picks */
} ds_class;

static const ds_class DS_CLASSES[] = {
    {"BATCH_FILE", "feast.infra.offline_stores.file_source.FileSource"},
    {"BATCH_BIGQUERY", "feast.infra.offline_stores.bigquery_source.BigQuerySource"},
    {"BATCH_REDSHIFT", "feast.infra.offline_stores.redshift_source.RedshiftSource"},
    {"BATCH_SNOWFLAKE", "feast.infra.offline_stores.snowflake_source.SnowflakeSource"},
    {"BATCH_TRINO", "feast.infra.offline_stores.contrib.trino_offline_store.trino_source.TrinoSource"},
    {"BATCH_SPARK", "feast.infra.offline_stores.contrib.spark_offline_store.spark_source.SparkSource"},
    {"BATCH_ATHENA", "feast.infra.offline_stores.contrib.athena_offline_store.athena_source.AthenaSource"},
    {"BATCH_ICEBERG", "feast.infra.data_sources.contrib.iceberg_catalog.iceberg_source.IcebergSource"},
    {"STREAM_KAFKA", "feast.data_source.KafkaSource"},
    {"STREAM_KINESIS", "feast.data_source.KinesisSource"},
    {"REQUEST_SOURCE", "feast.data_source.RequestSource"},
    {"PUSH_SOURCE", "feast.data_source.PushSource"},
};

#define POSTGRES_CLASS "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource"

static json_t *data_source(const json_t *d, int mode);

/* FileFormat.from_proto/to_proto: parquet and delta are written back empty. */
static json_t *file_format(const json_t *f)
{
    if (get(f, "parquetFormat")) {
        json_t *o = json_object();
        json_object_set_new(o, "parquetFormat", json_object());
        return o;
    }
    if (get(f, "deltaFormat")) {
        json_t *o = json_object();
        json_object_set_new(o, "deltaFormat", json_object());
        return o;
    }
    return NULL; /* absent (Feast raises on any other format) */
}

/* StreamFormat.from_proto/to_proto: avro and json keep schema_json, proto keeps class_path. */
static json_t *stream_format(const json_t *f)
{
    static const struct {
        const char *key, *field;
    } fm[] = {{"avroFormat", "schemaJson"}, {"jsonFormat", "schemaJson"}, {"protoFormat", "classPath"}};
    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++) {
        const json_t *x = get(f, fm[i].key);
        if (!x)
            continue;
        json_t *in = json_object(), *o = json_object();
        copy(in, x, fm[i].field);
        json_object_set_new(o, fm[i].key, in);
        return o;
    }
    return NULL;
}

/* Python json.dumps (ensure_ascii) of a string. */
static void py_json_string(rs_buf *b, const json_t *v)
{
    if (!json_is_string(v)) {
        rs_buf_append(b, (const uint8_t *)"null", 4);
        return;
    }
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    rs_buf_append(b, (const uint8_t *)"\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        char e[16];
        int w = 0;
        uint32_t cp = c;
        size_t len = 1;
        if (c >= 0xf0 && i + 3 < n + 0) {
            cp = ((c & 7u) << 18) | ((s[i + 1] & 63u) << 12) | ((s[i + 2] & 63u) << 6) | (s[i + 3] & 63u);
            len = 4;
        } else if (c >= 0xe0 && i + 2 < n) {
            cp = ((c & 15u) << 12) | ((s[i + 1] & 63u) << 6) | (s[i + 2] & 63u);
            len = 3;
        } else if (c >= 0xc0 && i + 1 < n) {
            cp = ((c & 31u) << 6) | (s[i + 1] & 63u);
            len = 2;
        }
        if (cp == '"')
            w = snprintf(e, sizeof e, "\\\"");
        else if (cp == '\\')
            w = snprintf(e, sizeof e, "\\\\");
        else if (cp == '\n')
            w = snprintf(e, sizeof e, "\\n");
        else if (cp == '\r')
            w = snprintf(e, sizeof e, "\\r");
        else if (cp == '\t')
            w = snprintf(e, sizeof e, "\\t");
        else if (cp == '\b')
            w = snprintf(e, sizeof e, "\\b");
        else if (cp == '\f')
            w = snprintf(e, sizeof e, "\\f");
        else if (cp >= 0x20 && cp < 0x7f)
            w = snprintf(e, sizeof e, "%c", (char)cp);
        else if (cp >= 0x10000)
            w = snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else
            w = snprintf(e, sizeof e, "\\u%04x", cp);
        rs_buf_append(b, (const uint8_t *)e, (size_t)w);
        i += len;
    }
    rs_buf_append(b, (const uint8_t *)"\"", 1);
}

/* PostgreSQLSource keeps name, query and table of its JSON configuration and writes them back
 * with json.dumps; its name is the configuration's. NULL when the configuration is not that. */
static json_t *postgres_configuration(const json_t *custom, json_t **name)
{
    const char *b64 = str(custom, "configuration");
    size_t n = strlen(b64);
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    if (!raw)
        return NULL;
    int l = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (l < 0) {
        free(raw);
        return NULL;
    }
    while (l > 0 && n > 0 && b64[n - 1] == '=') { /* EVP_DecodeBlock counts the padding */
        l--;
        n--;
    }
    json_t *cfg = json_loadb((const char *)raw, (size_t)l, 0, NULL);
    free(raw);
    if (!json_is_object(cfg) || !get(cfg, "name") || !get(cfg, "query") || !get(cfg, "table")) {
        json_decref(cfg);
        return NULL;
    }
    rs_buf b = {0};
    rs_buf_append(&b, (const uint8_t *)"{\"name\": ", 9);
    py_json_string(&b, get(cfg, "name"));
    rs_buf_append(&b, (const uint8_t *)", \"query\": ", 11);
    py_json_string(&b, get(cfg, "query"));
    rs_buf_append(&b, (const uint8_t *)", \"table\": ", 11);
    py_json_string(&b, get(cfg, "table"));
    rs_buf_append(&b, (const uint8_t *)"}", 1);
    char *enc = malloc(4 * ((b.len + 2) / 3) + 1);
    json_t *out = NULL;
    if (enc && b.data) {
        EVP_EncodeBlock((unsigned char *)enc, b.data, (int)b.len);
        out = json_object();
        json_object_set_new(out, "configuration", json_string(enc));
    }
    *name = json_is_string(get(cfg, "name")) ? json_incref((json_t *)get(cfg, "name")) : NULL;
    free(enc);
    rs_buf_free(&b);
    json_decref(cfg);
    return out;
}

/* DataSource.to_proto(DataSource.from_proto(d)); mode DS_SERIALIZED adds the class path
 * (serialize_data_source, used for a view's sources). `project` is never written back. */
static json_t *data_source(const json_t *d, int mode)
{
    const char *type = str(d, "type");
    const char *cls = NULL;
    for (size_t i = 0; i < sizeof DS_CLASSES / sizeof DS_CLASSES[0]; i++)
        if (strcmp(type, DS_CLASSES[i].type) == 0)
            cls = DS_CLASSES[i].cls;
    bool custom = strcmp(type, "CUSTOM_SOURCE") == 0;
    if (custom)
        cls = str(d, "dataSourceClassType");
    json_t *o = json_object();
    json_t *cfg_name = NULL; /* PostgreSQLSource: the configuration's name */
    bool handled = true;
    if (strcmp(type, "BATCH_FILE") == 0) {
        const json_t *fo = get(d, "fileOptions");
        json_t *x = json_object();
        put(x, "fileFormat", file_format(get(fo, "fileFormat")));
        copy(x, fo, "uri");
        copy(x, fo, "s3EndpointOverride");
        put(o, "fileOptions", x);
    } else if (strcmp(type, "BATCH_BIGQUERY") == 0) {
        json_t *x = json_object();
        static const char *const k[] = {"table", "query", NULL};
        copy_keys(x, get(d, "bigqueryOptions"), k);
        put(o, "bigqueryOptions", x);
        copy(o, d, "datePartitionColumn");
        copy(o, d, "timestampFieldType");
    } else if (strcmp(type, "BATCH_REDSHIFT") == 0) {
        json_t *x = json_object();
        static const char *const k[] = {"table", "schema", "query", "database", NULL};
        copy_keys(x, get(d, "redshiftOptions"), k);
        put(o, "redshiftOptions", x);
    } else if (strcmp(type, "BATCH_SNOWFLAKE") == 0) {
        json_t *x = json_object();
        static const char *const k[] = {"database", "schema", "table", "query", NULL};
        copy_keys(x, get(d, "snowflakeOptions"), k);
        put(o, "snowflakeOptions", x);
    } else if (strcmp(type, "BATCH_SPARK") == 0) {
        json_t *x = json_object();
        static const char *const k[] = {"table", "query", "path", "fileFormat", "datePartitionColumnFormat", "tableFormat",
                                        NULL};
        copy_keys(x, get(d, "sparkOptions"), k);
        put(o, "sparkOptions", x);
        json_object_set_new(o, "dataSourceClassType", json_string(cls));
        copy(o, d, "datePartitionColumn");
    } else if (strcmp(type, "STREAM_KAFKA") == 0) {
        const json_t *ko = get(d, "kafkaOptions");
        json_t *x = json_object();
        copy(x, ko, "kafkaBootstrapServers");
        copy(x, ko, "topic");
        put(x, "messageFormat", stream_format(get(ko, "messageFormat")));
        put(x, "watermarkDelayThreshold", dur_always(get(ko, "watermarkDelayThreshold")));
        put(o, "kafkaOptions", x);
        if (get(d, "batchSource"))
            put(o, "batchSource", data_source(get(d, "batchSource"), DS_PLAIN));
    } else if (strcmp(type, "STREAM_KINESIS") == 0) {
        const json_t *ko = get(d, "kinesisOptions");
        json_t *x = json_object();
        copy(x, ko, "region");
        copy(x, ko, "streamName");
        put(x, "recordFormat", stream_format(get(ko, "recordFormat")));
        put(o, "kinesisOptions", x);
        if (get(d, "batchSource"))
            put(o, "batchSource", data_source(get(d, "batchSource"), DS_PLAIN));
    } else if (strcmp(type, "REQUEST_SOURCE") == 0) {
        json_t *x = json_object();
        put(x, "schema", fields(get(get(d, "requestDataOptions"), "schema")));
        put(o, "requestDataOptions", x);
    } else if (strcmp(type, "PUSH_SOURCE") == 0) {
        const json_t *bs = get(d, "batchSource");
        if (bs) {
            json_t *b = data_source(bs, DS_PLAIN);
            /* PushSource copies its batch source's columns (as that class kept them) */
            copy(o, b, "timestampField");
            copy(o, b, "createdTimestampColumn");
            copy(o, b, "fieldMapping");
            copy(o, b, "datePartitionColumn");
            put(o, "batchSource", b);
        }
    } else if (custom && strcmp(cls, POSTGRES_CLASS) == 0) {
        json_t *x = postgres_configuration(get(d, "customOptions"), &cfg_name);
        if (x) {
            put(o, "customOptions", x);
            json_object_set_new(o, "dataSourceClassType", json_string(cls));
        } else {
            handled = false;
        }
    } else {
        handled = false;
    }
    if (!handled) {
        /* a class regsync does not model (Trino, Athena, Iceberg, a plugin's custom source): the
         * stored fields Feast's schema knows, without project */
        json_decref(o);
        o = json_copy((json_t *)d); /* shallow: only keys are removed below */
        json_object_del(o, "project");
        json_object_del(o, "meta");
        json_object_del(o, "tags");
        if (mode != DS_SERIALIZED && !custom)
            json_object_del(o, "dataSourceClassType");
    } else {
        if (cfg_name && json_string_value(cfg_name)[0])
            put_str(o, "name", json_string_value(cfg_name));
        else
            copy(o, d, "name");
        copy(o, d, "type");
        copy(o, d, "description");
        copy(o, d, "owner");
        if (strcmp(type, "PUSH_SOURCE") != 0 && strcmp(type, "REQUEST_SOURCE") != 0) {
            copy(o, d, "fieldMapping");
            copy(o, d, "createdTimestampColumn");
        }
        if (strcmp(type, "PUSH_SOURCE") != 0)
            copy(o, d, "timestampField");
    }
    json_decref(cfg_name);
    /* tags as stored: the connection reference Feast reads from them (ConnectionRef.from_tags) is
     * written back over the same keys with the same values */
    copy(o, d, "tags");
    /* meta: always written; the timestamps Feast read (a source stored without them gets the time
     * of the dump in Feast: regsync cannot print that) */
    json_t *meta = json_object();
    put_ts(meta, get(d, "meta"), "createdTimestamp");
    put_ts(meta, get(d, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "meta", meta);
    if (mode == DS_SERIALIZED && cls && cls[0])
        json_object_set_new(o, "dataSourceClassType", json_string(cls));
    return o;
}

/* ------------------------------------------------------------ entities */

static json_t *entity(const json_t *e)
{
    static const char *const keys[] = {"name", "valueType", "joinKey", "description", "tags", "owner", NULL};
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    copy_keys(spec, get(e, "spec"), keys);
    put_ts(meta, get(e, "meta"), "createdTimestamp");
    put_ts(meta, get(e, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

/* ------------------------------------------------------------ views */

/* FeatureViewState.from_proto: a value it does not know is STATE_UNSPECIFIED (not written) */
static void put_state(json_t *meta, const json_t *stored_meta)
{
    static const char *const known[] = {"CREATED", "GENERATED", "MATERIALIZING", "AVAILABLE_ONLINE", NULL};
    const char *s = str(stored_meta, "state");
    for (const char *const *k = known; *k; k++)
        if (strcmp(s, *k) == 0)
            json_object_set_new(meta, "state", json_string(s));
}

static void put_version_meta(json_t *meta, const json_t *stored_meta)
{
    int64_t cvn = num(stored_meta, "currentVersionNumber");
    if (cvn > 0)
        json_object_set_new(meta, "currentVersionNumber", json_integer(cvn));
    put_state(meta, stored_meta);
}

static json_t *view_meta(const json_t *m, bool intervals)
{
    json_t *meta = json_object();
    put_ts(meta, m, "createdTimestamp");
    put_ts(meta, m, "lastUpdatedTimestamp");
    const json_t *iv = get(m, "materializationIntervals");
    if (intervals && json_array_size(iv)) {
        json_t *a = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach(iv, i, v)
        {
            json_t *x = json_object();
            put_ts(x, v, "startTime");
            put_ts(x, v, "endTime");
            json_array_append_new(a, x);
        }
        json_object_set_new(meta, "materializationIntervals", a);
    }
    put_version_meta(meta, m);
    return meta;
}

static const char *version_or_latest(const json_t *spec)
{
    const char *v = str(spec, "version");
    return v[0] ? v : "latest";
}

static json_t *fv_spec(const json_t *s)
{
    json_t *o = json_object();
    static const char *const keys[] = {"name", "description", "tags", "owner", "org", "online", "offline",
                                       "featureTransformation", "mode", "enableValidation", "disabled", NULL};
    copy_keys(o, s, keys);
    put(o, "entities", strings(get(s, "entities")));
    put(o, "entityColumns", fields(get(s, "entityColumns")));
    put(o, "features", fields(get(s, "features")));
    put(o, "ttl", dur_always(get(s, "ttl")));
    if (get(s, "batchSource"))
        put(o, "batchSource", data_source(get(s, "batchSource"), DS_SERIALIZED));
    if (get(s, "streamSource"))
        put(o, "streamSource", data_source(get(s, "streamSource"), DS_SERIALIZED));
    const json_t *sv = get(s, "sourceViews");
    if (json_array_size(sv)) {
        json_t *a = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach(sv, i, v) json_array_append_new(a, fv_spec(v));
        json_object_set_new(o, "sourceViews", a);
    }
    json_object_set_new(o, "version", json_string(version_or_latest(s)));
    return o;
}

static json_t *feature_view(const json_t *fv)
{
    json_t *o = json_object();
    json_object_set_new(o, "spec", fv_spec(get(fv, "spec")));
    json_object_set_new(o, "meta", view_meta(get(fv, "meta"), true));
    return o;
}

/* FeatureViewProjection.to_proto(from_proto(p)) */
static json_t *projection(const json_t *p)
{
    static const char *const keys[] = {"featureViewName", "featureViewNameAlias", "joinKeyMap", "timestampField",
                                       "datePartitionColumn", "createdTimestampColumn", "versionTag", NULL};
    json_t *o = json_object();
    copy_keys(o, p, keys);
    put(o, "featureColumns", fields(get(p, "featureColumns")));
    const json_t *bs = get(p, "batchSource");
    if (json_object_size(bs))
        put(o, "batchSource", data_source(bs, DS_PLAIN));
    const char *vt = str(p, "viewType");
    json_object_set_new(o, "viewType", json_string(vt[0] ? vt : "featureView"));
    return o;
}

static json_t *aggregation(const json_t *a)
{
    json_t *o = json_object();
    copy(o, a, "column");
    copy(o, a, "function");
    copy(o, a, "name");
    json_t *tw = dur_always(get(a, "timeWindow"));
    json_t *si = dur_us(get(a, "slideInterval"));
    if (!si || strcmp(json_string_value(si), "0s") == 0) { /* `if not slide_interval`: the window */
        json_decref(si);
        si = json_deep_copy(tw);
    }
    json_object_set_new(o, "timeWindow", tw);
    json_object_set_new(o, "slideInterval", si);
    return o;
}

static json_t *aggregations(const json_t *arr)
{
    if (!json_array_size(arr))
        return NULL;
    json_t *o = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) json_array_append_new(o, aggregation(v));
    return o;
}

#define TRACK_METRICS_TAG "feast:track_metrics"

/* OnDemandFeatureView. patch (to_dict): NULL with *skip when Feast has no transformation for it
 * (aggregations only), which to_dict leaves out, and the UDF's source text in place of its body;
 * without patch, what to_proto writes (the body: the stored pickle stands for Feast's re-pickled
 * one). */
static json_t *on_demand_view(const json_t *v, bool patch, bool *skip)
{
    const json_t *s = get(v, "spec");
    const json_t *ft = get(s, "featureTransformation");
    const json_t *udf = get(ft, "userDefinedFunction");
    const json_t *sub = get(ft, "substraitTransformation");
    const json_t *old = get(s, "userDefinedFunction");
    char mode[64];
    snprintf(mode, sizeof mode, "%s", str(s, "mode")[0] ? str(s, "mode") : "pandas");
    for (char *c = mode; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    bool no_transformation = !udf && !sub && json_array_size(get(s, "aggregations"));
    if (no_transformation && patch) {
        *skip = true;
        return NULL;
    }
    json_t *o = json_object(), *spec = json_object();
    static const char *const keys[] = {"name", "description", "owner", "org", "writeToOnlineStore", "singleton",
                                       "disabled", NULL};
    copy_keys(spec, s, keys);
    put(spec, "entities", strings(get(s, "entities")));
    put(spec, "entityColumns", fields(get(s, "entityColumns")));
    put(spec, "features", fields(get(s, "features")));
    put(spec, "aggregations", aggregations(get(s, "aggregations")));
    json_object_set_new(spec, "mode", json_string(mode));
    json_object_set_new(spec, "version", json_string(version_or_latest(s)));
    /* tags: the track-metrics tag is read as a flag and written back as "true" or not at all */
    const json_t *tags = get(s, "tags");
    if (json_object_size(tags)) {
        json_t *t = json_deep_copy(tags);
        const json_t *tm = get(tags, TRACK_METRICS_TAG);
        if (tm) {
            bool on = json_is_string(tm) && strcasecmp(json_string_value(tm), "true") == 0;
            if (on)
                json_object_set_new(t, TRACK_METRICS_TAG, json_string("true"));
            else
                json_object_del(t, TRACK_METRICS_TAG);
        }
        if (json_object_size(t))
            json_object_set_new(spec, "tags", t);
        else
            json_decref(t);
    }
    /* sources: keyed by the source's own name (a projection's view name, a request source's name) */
    const json_t *srcs = get(s, "sources");
    if (json_object_size(srcs)) {
        json_t *m = json_object();
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)srcs, k, x)
        {
            json_t *e = json_object();
            const json_t *p = get(x, "featureViewProjection"), *rq = get(x, "requestDataSource"), *fvs = get(x, "featureView");
            const char *key = k;
            if (p) {
                json_object_set_new(e, "featureViewProjection", projection(p));
                key = str(p, "featureViewName");
            } else if (rq) {
                json_object_set_new(e, "requestDataSource", data_source(rq, DS_PLAIN));
                key = str(rq, "name");
            } else if (fvs) {
                /* an old-style source (a whole feature view) becomes that view's projection */
                const json_t *fs = get(fvs, "spec");
                json_t *pj = json_object();
                put_str(pj, "featureViewName", str(fs, "name"));
                put(pj, "featureColumns", fields(get(fs, "features")));
                const json_t *bs = get(fs, "batchSource");
                if (bs) {
                    json_t *b = data_source(bs, DS_PLAIN);
                    put_str(pj, "timestampField", str(b, "createdTimestampColumn"));
                    copy(pj, b, "createdTimestampColumn");
                    copy(pj, b, "datePartitionColumn");
                    put(pj, "batchSource", b);
                }
                json_object_set_new(pj, "viewType", json_string("featureView"));
                json_object_set_new(e, "featureViewProjection", pj);
                key = str(fs, "name");
            }
            json_object_set_new(m, key, e);
        }
        json_object_set_new(spec, "sources", m);
    }
    /* the transformation, with the UDF's source text where the pickled body was (to_dict). A UDF
     * with its source text is a pandas or python transformation by the view's mode; one without
     * (older Feast) is rebuilt from the deprecated spec.user_defined_function as pandas. */
    const json_t *u = NULL;
    bool pandas = true;
    if (udf && str(udf, "bodyText")[0]) {
        u = udf;
        pandas = strcmp(mode, "pandas") == 0;
    } else if (!no_transformation && (udf || !sub)) {
        u = old;
    }
    if (u && !patch) {
        json_t *x = json_object(), *f = json_object();
        put_str(x, "name", str(u, "name"));
        put_str(x, "bodyText", str(u, "bodyText"));
        copy(x, u, "body");
        json_object_set_new(x, "mode", json_string(pandas ? "pandas" : mode));
        json_object_set_new(f, "userDefinedFunction", x);
        json_object_set_new(spec, "featureTransformation", f);
    } else if (u) {
        const char *text = str(u, "bodyText");
        json_t *x = json_object(), *f = json_object();
        put_str(x, "name", str(u, "name"));
        put_str(x, "bodyText", text);
        json_object_set_new(x, "mode", json_string(pandas ? "pandas" : mode));
        if (pandas) {
            json_object_set_new(x, "body", json_string(text));
            json_t *legacy = json_object();
            json_object_set_new(legacy, "body", json_string(text));
            json_object_set_new(spec, "userDefinedFunction", legacy);
        } else {
            /* to_dict sets body to None, then fails on the missing substraitPlan key */
            json_object_set_new(x, "body", json_null());
        }
        json_object_set_new(f, "userDefinedFunction", x);
        json_object_set_new(spec, "featureTransformation", f);
    } else if (sub) {
        json_t *f = json_object(), *x = json_object();
        copy(x, sub, "substraitPlan");
        copy(x, sub, "ibisFunction");
        json_object_set_new(f, "substraitTransformation", x);
        json_object_set_new(spec, "featureTransformation", f);
    }
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", view_meta(get(v, "meta"), false));
    return o;
}

static json_t *stream_view(const json_t *v, bool patch)
{
    const json_t *s = get(v, "spec");
    json_t *o = json_object(), *spec = json_object();
    static const char *const keys[] = {"name", "description", "owner", "org", "online", "timestampField", "mode",
                                       "enableTiling", "enableValidation", "disabled", "tags", NULL};
    copy_keys(spec, s, keys);
    put(spec, "entities", strings(get(s, "entities")));
    put(spec, "entityColumns", fields(get(s, "entityColumns")));
    put(spec, "features", fields(get(s, "features")));
    put(spec, "aggregations", aggregations(get(s, "aggregations")));
    put(spec, "ttl", dur_always(get(s, "ttl")));
    json_t *hop = dur_us(get(s, "tilingHopSize"));
    if (hop && strcmp(json_string_value(hop), "0s") != 0)
        json_object_set_new(spec, "tilingHopSize", hop);
    else
        json_decref(hop);
    if (get(s, "batchSource"))
        put(spec, "batchSource", data_source(get(s, "batchSource"), DS_SERIALIZED));
    if (get(s, "streamSource"))
        put(spec, "streamSource", data_source(get(s, "streamSource"), DS_SERIALIZED));
    json_object_set_new(spec, "version", json_string(version_or_latest(s)));
    const json_t *u = get(s, "userDefinedFunction");
    if (u) {
        /* the UDF is written back twice (the deprecated field and the transformation); to_dict puts
         * the source text in the first one's body */
        const char *text = str(u, "bodyText");
        json_t *a = json_object(), *b = json_object(), *f = json_object();
        put_str(a, "name", str(u, "name"));
        put_str(a, "bodyText", text);
        if (patch)
            json_object_set_new(a, "body", json_string(text));
        else
            copy(a, u, "body");
        put_str(b, "name", str(u, "name"));
        put_str(b, "bodyText", text);
        copy(b, u, "body");
        json_object_set_new(f, "userDefinedFunction", b);
        json_object_set_new(spec, "userDefinedFunction", a);
        json_object_set_new(spec, "featureTransformation", f);
    }
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", view_meta(get(v, "meta"), true));
    return o;
}

static json_t *label_view(const json_t *v)
{
    const json_t *s = get(v, "spec");
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    static const char *const keys[] = {"name", "description", "tags", "owner", "online", "conflictPolicy",
                                       "referenceFeatureView", NULL};
    copy_keys(spec, s, keys);
    put(spec, "entities", strings(get(s, "entities")));
    put(spec, "entityColumns", fields(get(s, "entityColumns")));
    put(spec, "features", fields(get(s, "features")));
    put(spec, "ttl", dur_always(get(s, "ttl")));
    json_object_set_new(spec, "labelerField", json_string(str(s, "labelerField")[0] ? str(s, "labelerField") : "labeler"));
    if (get(s, "source"))
        put(spec, "source", data_source(get(s, "source"), DS_SERIALIZED));
    put_ts(meta, get(v, "meta"), "createdTimestamp");
    put_ts(meta, get(v, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

/* ------------------------------------------------------------ others */

static json_t *feature_service(const json_t *v)
{
    const json_t *s = get(v, "spec");
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    static const char *const keys[] = {"name", "tags", "description", "owner", "precomputeOnline", NULL};
    copy_keys(spec, s, keys);
    const json_t *fs = get(s, "features");
    if (json_array_size(fs)) {
        json_t *a = json_array();
        size_t i;
        const json_t *p;
        json_array_foreach(fs, i, p) json_array_append_new(a, projection(p));
        json_object_set_new(spec, "features", a);
    }
    /* LoggingConfig.from_proto: no destination, no logging config */
    const json_t *lc = get(s, "loggingConfig");
    if (json_object_size(lc) && !(json_object_size(lc) == 1 && get(lc, "sampleRate")))
        json_object_set(spec, "loggingConfig", (json_t *)lc);
    put_ts(meta, get(v, "meta"), "createdTimestamp");
    put_ts(meta, get(v, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

static json_t *storage(const json_t *st)
{
    json_t *o = json_object();
    const json_t *f = get(st, "fileStorage");
    if (f) {
        json_t *x = json_object();
        put(x, "fileFormat", file_format(get(f, "fileFormat")));
        copy(x, f, "uri");
        copy(x, f, "s3EndpointOverride");
        json_object_set_new(o, "fileStorage", x);
        return o;
    }
    static const struct {
        const char *key;
        const char *const keys[7];
    } kinds[] = {{"bigqueryStorage", {"table", NULL}},
                 {"redshiftStorage", {"table", "schema", "query", "database", NULL}},
                 {"snowflakeStorage", {"database", "schema", "table", "query", NULL}},
                 {"sparkStorage", {"table", "query", "path", "fileFormat", "tableFormat", NULL}}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const json_t *x = get(st, kinds[i].key);
        if (!x)
            continue;
        json_t *y = json_object();
        copy_keys(y, x, kinds[i].keys);
        json_object_set_new(o, kinds[i].key, y);
        return o;
    }
    json_decref(o);
    return json_deep_copy(st);
}

static json_t *saved_dataset(const json_t *v)
{
    const json_t *s = get(v, "spec"), *m = get(v, "meta");
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    static const char *const keys[] = {"name", "features", "joinKeys", "fullFeatureNames", "tags", "namespace",
                                       "collection", "description", "featureServiceName", NULL};
    copy_keys(spec, s, keys);
    if (get(s, "storage"))
        put(spec, "storage", storage(get(s, "storage")));
    else
        json_object_set_new(spec, "storage", json_object());
    /* SavedDataset.to_proto writes created, min and max event timestamps: not last_updated */
    put_ts(meta, m, "createdTimestamp");
    put_ts(meta, m, "minEventTimestamp");
    put_ts(meta, m, "maxEventTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

static json_t *permission(const json_t *v)
{
    const json_t *s = get(v, "spec");
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    static const char *const keys[] = {"name", "namePatterns", "actions", "policy", "tags", "requiredTags", NULL};
    copy_keys(spec, s, keys);
    if (json_array_size(get(s, "types"))) {
        copy(spec, s, "types");
    } else { /* no types: every resource type Feast manages (ALL_RESOURCE_TYPES) */
        static const char *const all[] = {"PROJECT", "FEATURE_VIEW", "ON_DEMAND_FEATURE_VIEW", "BATCH_FEATURE_VIEW",
                                          "STREAM_FEATURE_VIEW", "LABEL_VIEW", "ENTITY", "FEATURE_SERVICE",
                                          "DATA_SOURCE", "VALIDATION_REFERENCE", "SAVED_DATASET", "PERMISSION", NULL};
        json_t *a = json_array();
        for (const char *const *t = all; *t; t++)
            json_array_append_new(a, json_string(*t));
        json_object_set_new(spec, "types", a);
    }
    put_ts(meta, get(v, "meta"), "createdTimestamp");
    put_ts(meta, get(v, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

static json_t *project_metadata(const json_t *v)
{
    json_t *o = json_object();
    copy(o, v, "project");
    copy(o, v, "projectUuid"); /* empty: Feast prints a fresh random uuid4 */
    return o;
}

/* ------------------------------------------------------------ public */

static json_t *project(const json_t *v)
{
    const json_t *s = get(v, "spec");
    json_t *o = json_object(), *spec = json_object(), *meta = json_object();
    static const char *const keys[] = {"name", "description", "tags", "owner", NULL};
    copy_keys(spec, s, keys);
    put_ts(meta, get(v, "meta"), "createdTimestamp");
    put_ts(meta, get(v, "meta"), "lastUpdatedTimestamp");
    json_object_set_new(o, "spec", spec);
    json_object_set_new(o, "meta", meta);
    return o;
}

static json_t *object(uint32_t kind, const json_t *stored, bool patch, bool *skip)
{
    *skip = false;
    switch (kind) {
    case RS_KIND_ENTITIES: return entity(stored);
    case RS_KIND_DATA_SOURCES: return data_source(stored, DS_TOP);
    case RS_KIND_FEATURE_VIEWS: return feature_view(stored);
    case RS_KIND_FEATURE_SERVICES: return feature_service(stored);
    case RS_KIND_ON_DEMAND_FEATURE_VIEWS: return on_demand_view(stored, patch, skip);
    case RS_KIND_STREAM_FEATURE_VIEWS: return stream_view(stored, patch);
    case RS_KIND_LABEL_VIEWS: return label_view(stored);
    case RS_KIND_SAVED_DATASETS: return saved_dataset(stored);
    case RS_KIND_PERMISSIONS: return permission(stored);
    case RS_KIND_PROJECT_METADATA: return project_metadata(stored);
    case RS_KIND_PROJECTS: return project(stored);
    default: return json_incref((json_t *)stored);
    }
}

json_t *rs_feast_dict_object(uint32_t kind, const json_t *stored, bool *skip) { return object(kind, stored, true, skip); }

json_t *rs_feast_round_trip(uint32_t kind, const json_t *stored)
{
    bool skip;
    return object(kind, stored, false, &skip);
}

#define SQLITE_CLASS "feast.infra.online_stores.sqlite.SqliteTable"
#define DATASTORE_CLASS "feast.infra.online_stores.datastore.DatastoreTable"

static json_t *infra_object(const json_t *io)
{
    const char *cls = str(io, "infraObjectClassType");
    json_t *o = json_object();
    const json_t *t;
    if (strcmp(cls, SQLITE_CLASS) == 0 || (!cls[0] && get(io, "sqliteTable"))) {
        t = get(io, "sqliteTable");
        copy(o, t, "path");
        copy(o, t, "name");
    } else if (strcmp(cls, DATASTORE_CLASS) == 0 || (!cls[0] && get(io, "datastoreTable"))) {
        t = get(io, "datastoreTable");
        copy(o, t, "project");
        copy(o, t, "name");
        /* wrappers are written back only when non-empty */
        static const char *const w[] = {"projectId", "namespace", "database", NULL};
        for (const char *const *k = w; *k; k++)
            put_str(o, *k, str(t, *k));
    } else {
        /* another InfraObject class (a plugin's): its own table message, as stored */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)io, k, v) if (strcmp(k, "infraObjectClassType") != 0)
        {
            json_decref(o);
            return json_deep_copy(v);
        }
    }
    return o;
}

typedef struct named_json {
    const char *name;
    size_t idx;
    json_t *j;
} named_json;

static int cmp_named_json(const void *a, const void *b)
{
    const named_json *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

json_t *rs_feast_dict_infra(const json_t *stored_infra)
{
    const json_t *objs = get(stored_infra, "infraObjects");
    size_t n = json_array_size(objs);
    json_t *out = json_array();
    if (!n)
        return out;
    named_json *v = calloc(n, sizeof *v);
    if (!v) {
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].j = infra_object(json_array_get(objs, i));
        v[i].name = str(v[i].j, "name");
        v[i].idx = i;
    }
    qsort(v, n, sizeof *v, cmp_named_json);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i].j);
    free(v);
    return out;
}

const char *rs_feast_dict_sort_key(uint32_t kind, const json_t *dict)
{
    switch (kind) {
    case RS_KIND_DATA_SOURCES: return str(dict, "name");
    case RS_KIND_PROJECT_METADATA: return str(dict, "project");
    default: return str(get(dict, "spec"), "name");
    }
}
