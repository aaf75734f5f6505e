/* rs_gen_build.c: the Feast object builders of the generator.
 *
 * Every object is a pure function of (seed, kind, project index, object index): its random
 * choices come from its own PRNG stream, so an object looks the same whatever the other counts,
 * and a reference (a feature view's batch source, a feature service's projection) can rebuild
 * the referenced object's pieces instead of remembering them. Shapes follow real registry.db
 * files (see docs/generator.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_gen_impl.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* ---------------------------------------------------------------- vocabulary */

typedef Feast__Core__DataSource__SourceType stype;

static const char *const ENTITY_BASES[] = {"driver", "customer", "merchant", "user", "account",
                                           "device", "store", "product", "zipcode", "order",
                                           "session", "card"};
static const char *const VIEW_BASES[] = {
    "driver_hourly_stats", "customer_profile", "merchant_risk", "user_activity",
    "account_balance", "device_signals", "store_sales", "product_popularity",
    "zipcode_demographics", "order_history", "session_metrics", "card_transactions",
    "credit_history", "trip_stats"};
static const char *const FEATURE_BASES[] = {
    "conv_rate", "acc_rate", "avg_daily_trips", "trip_count", "total_spend", "avg_order_value",
    "days_since_signup", "credit_card_due", "missed_payments", "num_logins", "session_length",
    "click_rate", "fraud_score", "account_age_days", "balance", "txn_amount_mean", "txn_count",
    "refund_rate", "rating", "distance_km", "churn_score", "page_views", "cart_adds", "returns"};
static const char *const WINDOWS[] = {"", "_1h", "_24h", "_7d", "_30d"};
static const char *const REQUEST_BASES[] = {"transaction", "vals_to_add", "request_context",
                                            "search_query"};
static const char *const SERVICE_BASES[] = {"driver_ranking", "fraud_detection", "churn_model",
                                            "recommendations", "credit_scoring", "eta_model"};
static const char *const PERMISSION_BASES[] = {"feature_reader", "feature_writer", "ds_admin",
                                               "online_reader", "offline_analyst"};

/* ---------------------------------------------------------------- entities */

static void entity_info(gen_ctx *g, unsigned e, char **name, char **join_key, vtype *t)
{
    gen_rng r = gen_stream(g->seed, 1, g->proj, e, GS_MAIN);
    unsigned x = gen_below(&r, 10);
    *t = x < 6 ? FEAST__TYPES__VALUE_TYPE__ENUM__INT64
               : x < 9 ? FEAST__TYPES__VALUE_TYPE__ENUM__STRING : FEAST__TYPES__VALUE_TYPE__ENUM__INT32;
    const char *base = ENTITY_BASES[e % COUNT(ENTITY_BASES)];
    *name = ga_printf(g->a, "%s_%04u", base, e);
    *join_key = ga_printf(g->a, "%s_id_%04u", base, e);
}

Feast__Core__Entity *gen_entity(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 1, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__Entity *o = NEW(Feast__Core__Entity, feast__core__entity__descriptor);
    Feast__Core__EntitySpecV2 *s = o->spec = NEW(Feast__Core__EntitySpecV2, feast__core__entity_spec_v2__descriptor);
    entity_info(g, idx, &s->name, &s->join_key, &s->value_type);
    gen_below(r, 10);   /* the draw entity_info made */
    s->project = ga_strdup(g->a, g->project);
    if (gen_chance(r, 80))
        s->description = ga_printf(g->a, "The %s a feature row belongs to", ENTITY_BASES[idx % COUNT(ENTITY_BASES)]);
    TAGS(s, feast__core__entity_spec_v2__tags_entry__descriptor, g->tags_per_object / 2);
    if (gen_chance(r, 50))
        s->owner = gen_owner(g, r);
    gen_rng mr = gen_stream(g->seed, 1, g->proj, idx, GS_META);
    Feast__Core__EntityMeta *m = o->meta = NEW(Feast__Core__EntityMeta, feast__core__entity_meta__descriptor);
    gen_meta_times(g, &mr, &m->created_timestamp, &m->last_updated_timestamp, NULL);
    return o;
}

/* ---------------------------------------------------------------- data sources */

#define T_FILE FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_FILE
#define T_BQ FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__BATCH_BIGQUERY
#define T_KAFKA FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__STREAM_KAFKA
#define T_PUSH FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__PUSH_SOURCE
#define T_REQ FEAST__CORE__DATA_SOURCE__SOURCE_TYPE__REQUEST_SOURCE
#define M(t) (1u << (t))
#define M_BATCH (M(T_FILE) | M(T_BQ))

/* Source i's type: the first five are one of each, then a fixed cycle. */
static const stype DS_FIRST[5] = {T_FILE, T_BQ, T_KAFKA, T_PUSH, T_REQ};
static const stype DS_CYCLE[8] = {T_FILE, T_FILE, T_BQ, T_FILE, T_KAFKA, T_BQ, T_PUSH, T_REQ};

static stype ds_type(unsigned i) { return i < 5 ? DS_FIRST[i] : DS_CYCLE[(i - 5) % 8]; }

static unsigned ds_count(unsigned mask, unsigned D)
{
    unsigned n = 0;
    for (unsigned i = 0; i < 5 && i < D; i++)
        n += (mask & M(DS_FIRST[i])) != 0;
    if (D > 5) {
        unsigned per = 0, rem = (D - 5) % 8, part = 0;
        for (unsigned j = 0; j < 8; j++) {
            per += (mask & M(DS_CYCLE[j])) != 0;
            if (j < rem)
                part += (mask & M(DS_CYCLE[j])) != 0;
        }
        n += per * ((D - 5) / 8) + part;
    }
    return n;
}

/* index of the k-th source (k taken modulo the count) whose type is in mask; sources 0..4 hold
 * one of each type, and D >= 5 whenever anything refers to a source */
static unsigned ds_nth(unsigned mask, unsigned k, unsigned D)
{
    unsigned cnt = ds_count(mask, D < 5 ? 5 : D);
    k %= cnt ? cnt : 1;
    unsigned first = 0;
    for (unsigned i = 0; i < 5; i++)
        if (mask & M(DS_FIRST[i])) {
            if (k == first)
                return i;
            first++;
        }
    k -= first;
    unsigned per = 0;
    for (unsigned j = 0; j < 8; j++)
        per += (mask & M(DS_CYCLE[j])) != 0;
    unsigned block = k / per, within = k % per;
    for (unsigned j = 0; j < 8; j++)
        if (mask & M(DS_CYCLE[j])) {
            if (within == 0)
                return 5 + block * 8 + j;
            within--;
        }
    return 0;
}

static char *ds_name(gen_ctx *g, unsigned i)
{
    const char *base = VIEW_BASES[i % COUNT(VIEW_BASES)];
    switch (ds_type(i)) {
    case T_FILE: return ga_printf(g->a, "%s_source_%04u", base, i);
    case T_BQ: return ga_printf(g->a, "%s_bq_%04u", base, i);
    case T_KAFKA: return ga_printf(g->a, "%s_stream_%04u", base, i);
    case T_PUSH: return ga_printf(g->a, "%s_push_%04u", base, i);
    default: return ga_printf(g->a, "%s_request_%04u", REQUEST_BASES[i % COUNT(REQUEST_BASES)], i);
    }
}

Feast__Core__DataSource *gen_data_source(gen_ctx *g, unsigned idx, bool embedded)
{
    gen_rng rs = gen_stream(g->seed, 12, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__DataSource *d = NEW(Feast__Core__DataSource, feast__core__data_source__descriptor);
    stype t = ds_type(idx);
    d->type = t;
    d->name = ds_name(g, idx);
    if (!embedded)
        d->project = ga_strdup(g->a, g->project);
    if (gen_chance(r, 50))
        d->description = ga_printf(g->a, "Raw events behind %s", d->name);
    TAGS(d, feast__core__data_source__tags_entry__descriptor, g->tags_per_object / 2);
    if (gen_chance(r, 40))
        d->owner = gen_owner(g, r);
    const char *base = VIEW_BASES[idx % COUNT(VIEW_BASES)];
    unsigned D = g->c.data_sources;
    switch (t) {
    case T_FILE:
    case T_BQ:
        d->timestamp_field = ga_strdup(g->a, "event_timestamp");
        if (gen_chance(r, 60))
            d->created_timestamp_column = ga_strdup(g->a, "created");
        if (gen_chance(r, 15)) {
            kv_entry **fm = ga_alloc(g->a, sizeof *fm);
            fm[0] = ga_msg(g->a, &feast__core__data_source__field_mapping_entry__descriptor);
            fm[0]->key = ga_printf(g->a, "%s_raw", ENTITY_BASES[idx % COUNT(ENTITY_BASES)]);
            fm[0]->value = ga_printf(g->a, "%s_id", ENTITY_BASES[idx % COUNT(ENTITY_BASES)]);
            d->field_mapping = (Feast__Core__DataSource__FieldMappingEntry **)fm;
            d->n_field_mapping = 1;
        }
        if (t == T_FILE) {
            Feast__Core__DataSource__FileOptions *fo = NEW(Feast__Core__DataSource__FileOptions, feast__core__data_source__file_options__descriptor);
            fo->file_format = NEW(Feast__Core__FileFormat, feast__core__file_format__descriptor);
            fo->file_format->format_case = FEAST__CORE__FILE_FORMAT__FORMAT_PARQUET_FORMAT;
            fo->file_format->parquet_format = NEW(Feast__Core__FileFormat__ParquetFormat, feast__core__file_format__parquet_format__descriptor);
            fo->uri = ga_printf(g->a, "s3://feast-offline-%s/%s/%s.parquet", g->project, base, d->name);
            d->options_case = FEAST__CORE__DATA_SOURCE__OPTIONS_FILE_OPTIONS;
            d->file_options = fo;
            d->data_source_class_type = ga_strdup(g->a, "feast.infra.offline_stores.file_source.FileSource");
        } else {
            Feast__Core__DataSource__BigQueryOptions *bo = NEW(Feast__Core__DataSource__BigQueryOptions, feast__core__data_source__big_query_options__descriptor);
            if (gen_chance(r, 25))
                bo->query = ga_printf(g->a, "SELECT * FROM `analytics-prod.%s.%s` WHERE event_timestamp > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL %u DAY)",
                                      g->project, base, 7 + gen_below(r, 80));
            else
                bo->table = ga_printf(g->a, "analytics-prod.%s.%s_%04u", g->project, base, idx);
            d->options_case = FEAST__CORE__DATA_SOURCE__OPTIONS_BIGQUERY_OPTIONS;
            d->bigquery_options = bo;
            d->data_source_class_type = ga_strdup(g->a, "feast.infra.offline_stores.bigquery_source.BigQuerySource");
        }
        break;
    case T_KAFKA: {
        d->timestamp_field = ga_strdup(g->a, "event_timestamp");
        Feast__Core__DataSource__KafkaOptions *ko = NEW(Feast__Core__DataSource__KafkaOptions, feast__core__data_source__kafka_options__descriptor);
        ko->kafka_bootstrap_servers = ga_strdup(g->a, "broker-1.kafka.internal:9092,broker-2.kafka.internal:9092");
        ko->topic = ga_printf(g->a, "%s.%s.events", g->project, base);
        Feast__Core__StreamFormat *sf = ko->message_format = NEW(Feast__Core__StreamFormat, feast__core__stream_format__descriptor);
        if (gen_chance(r, 30)) {
            sf->format_case = FEAST__CORE__STREAM_FORMAT__FORMAT_AVRO_FORMAT;
            sf->avro_format = NEW(Feast__Core__StreamFormat__AvroFormat, feast__core__stream_format__avro_format__descriptor);
            sf->avro_format->schema_json = ga_printf(g->a, "{\"type\":\"record\",\"name\":\"%s\",\"fields\":[{\"name\":\"%s_id\",\"type\":\"long\"},{\"name\":\"event_timestamp\",\"type\":\"string\"},{\"name\":\"%s\",\"type\":\"double\"}]}",
                                                     base, ENTITY_BASES[idx % COUNT(ENTITY_BASES)], PICK(r, FEATURE_BASES));
        } else {
            sf->format_case = FEAST__CORE__STREAM_FORMAT__FORMAT_JSON_FORMAT;
            sf->json_format = NEW(Feast__Core__StreamFormat__JsonFormat, feast__core__stream_format__json_format__descriptor);
            sf->json_format->schema_json = ga_printf(g->a, "%s_id integer, event_timestamp timestamp, %s double, %s double, created timestamp",
                                                     ENTITY_BASES[idx % COUNT(ENTITY_BASES)], PICK(r, FEATURE_BASES), PICK(r, FEATURE_BASES));
        }
        ko->watermark_delay_threshold = gen_duration(g, 60 * (1 + gen_below(r, 10)));
        d->options_case = FEAST__CORE__DATA_SOURCE__OPTIONS_KAFKA_OPTIONS;
        d->kafka_options = ko;
        d->data_source_class_type = ga_strdup(g->a, "feast.data_source.KafkaSource");
        d->batch_source = gen_data_source(g, ds_nth(M(T_FILE), idx, D), true);
        break;
    }
    case T_PUSH:
        d->data_source_class_type = ga_strdup(g->a, "feast.data_source.PushSource");
        d->batch_source = gen_data_source(g, ds_nth(M_BATCH, idx, D), true);
        break;
    default: {
        Feast__Core__DataSource__RequestDataOptions *ro = NEW(Feast__Core__DataSource__RequestDataOptions, feast__core__data_source__request_data_options__descriptor);
        ro->n_schema = 1 + gen_below(r, 3);
        ro->schema = ga_alloc(g->a, ro->n_schema * sizeof *ro->schema);
        for (size_t i = 0; i < ro->n_schema; i++) {
            char *n = ga_printf(g->a, "%s_%02zu", i == 0 ? "transaction_amt" : "val_to_add", i);
            ro->schema[i] = gen_plain_feature(g, n, i == 0 ? FEAST__TYPES__VALUE_TYPE__ENUM__DOUBLE : FEAST__TYPES__VALUE_TYPE__ENUM__INT64);
        }
        d->options_case = FEAST__CORE__DATA_SOURCE__OPTIONS_REQUEST_DATA_OPTIONS;
        d->request_data_options = ro;
        d->data_source_class_type = ga_strdup(g->a, "feast.data_source.RequestSource");
        break;
    }
    }
    if (!embedded) {
        gen_rng mr = gen_stream(g->seed, 12, g->proj, idx, GS_META);
        d->meta = NEW(Feast__Core__DataSource__SourceMeta, feast__core__data_source__source_meta__descriptor);
        gen_meta_times(g, &mr, &d->meta->created_timestamp, &d->meta->last_updated_timestamp, NULL);
    }
    return d;
}

/* ---------------------------------------------------------------- views */

static char *fv_name(gen_ctx *g, unsigned i) { return ga_printf(g->a, "%s_%04u", VIEW_BASES[i % COUNT(VIEW_BASES)], i); }
static char *odfv_name(gen_ctx *g, unsigned i) { return ga_printf(g->a, "transformed_%s_%04u", FEATURE_BASES[i % COUNT(FEATURE_BASES)], i); }

static size_t feature_count(gen_ctx *g, gen_rng *r, unsigned mean)
{
    (void)g;
    if (mean == 0)
        return 1;
    size_t n = mean * 3 / 4 + gen_below(r, mean / 2 + 1);
    return n ? n : 1;
}

/* the features of view idx of kind (6 or 14), rebuilt from their own stream */
static Feast__Core__FeatureSpecV2 **view_features(gen_ctx *g, unsigned kind, unsigned idx, size_t *n)
{
    gen_rng rs = gen_stream(g->seed, kind, g->proj, idx, GS_FEATURES), *r = &rs;
    *n = feature_count(g, r, kind == 14 ? (g->features_per_view + 1) / 2 : g->features_per_view);
    Feast__Core__FeatureSpecV2 **v = ga_alloc(g->a, *n * sizeof *v);
    for (size_t j = 0; j < *n; j++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s_%02zu", PICK(r, FEATURE_BASES), PICK(r, WINDOWS), j);
        v[j] = gen_feature(g, r, name);
    }
    return v;
}

/* the (embedded) batch source of feature view fv; a push-fed view uses the push source's */
static Feast__Core__DataSource *fv_batch(gen_ctx *g, unsigned fv)
{
    unsigned D = g->c.data_sources;
    if (fv % 7 == 6)
        return gen_data_source(g, ds_nth(M(T_PUSH), fv / 7, D), true)->batch_source;
    return gen_data_source(g, ds_nth(M_BATCH, fv, D), true);
}

static bool fv_online(gen_ctx *g, unsigned idx)
{
    gen_rng r = gen_stream(g->seed, 6, g->proj, idx, GS_FLAGS);
    return gen_chance(&r, 90);
}

static unsigned ttl_pick(gen_rng *r)
{
    static const unsigned T[] = {3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400};
    return PICK(r, T);
}

/* entities of a view: one, sometimes two distinct */
static size_t view_entities(gen_ctx *g, gen_rng *r, unsigned idx, char ***names, Feast__Core__FeatureSpecV2 ***cols)
{
    unsigned E = g->c.entities ? g->c.entities : 1;
    unsigned e[2] = {idx % E, 0};
    size_t n = 1;
    if (E > 1 && gen_chance(r, 20)) {
        e[1] = (e[0] + 1 + gen_below(r, E - 1)) % E;
        n = 2;
    }
    *names = ga_alloc(g->a, n * sizeof **names);
    *cols = ga_alloc(g->a, n * sizeof **cols);
    for (size_t i = 0; i < n; i++) {
        char *jk;
        vtype t;
        entity_info(g, e[i], &(*names)[i], &jk, &t);
        (*cols)[i] = gen_plain_feature(g, jk, t);
    }
    return n;
}

static Feast__Core__FeatureViewMeta *view_meta(gen_ctx *g, unsigned kind, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, kind, g->proj, idx, GS_META), *r = &rs;
    Feast__Core__FeatureViewMeta *m = NEW(Feast__Core__FeatureViewMeta, feast__core__feature_view_meta__descriptor);
    int64_t created;
    gen_meta_times(g, r, &m->created_timestamp, &m->last_updated_timestamp, &created);
    unsigned ni = gen_below(r, 4);
    if (ni) {
        m->materialization_intervals = ga_alloc(g->a, ni * sizeof *m->materialization_intervals);
        int64_t t = created - 30 * 86400;
        for (unsigned i = 0; i < ni; i++) {
            Feast__Core__MaterializationInterval *mi = NEW(Feast__Core__MaterializationInterval, feast__core__materialization_interval__descriptor);
            mi->start_time = gen_ts(g, r, t);
            t += 3600 + gen_below(r, 7u * 86400u);
            mi->end_time = gen_ts(g, r, t);
            m->materialization_intervals[i] = mi;
        }
        m->n_materialization_intervals = ni;
    }
    if (gen_chance(r, 30)) {
        m->current_version_number = 1 + (int32_t)gen_below(r, 3);
        m->version_id = ga_printf(g->a, "fv-ver-%d-%08x", m->current_version_number, (unsigned)gen_next(r));
    }
    return m;
}

static const char *const FV_DESCRIPTIONS[] = {"Hourly statistics of %s", "Daily aggregates for %s",
                                              "Rolling window features of %s", "Latest known values for %s"};

Feast__Core__FeatureView *gen_feature_view(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 6, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__FeatureView *o = NEW(Feast__Core__FeatureView, feast__core__feature_view__descriptor);
    Feast__Core__FeatureViewSpec *s = o->spec = NEW(Feast__Core__FeatureViewSpec, feast__core__feature_view_spec__descriptor);
    s->name = fv_name(g, idx);
    s->project = ga_strdup(g->a, g->project);
    s->n_entities = s->n_entity_columns = view_entities(g, r, idx, &s->entities, &s->entity_columns);
    s->features = view_features(g, 6, idx, &s->n_features);
    TAGS(s, feast__core__feature_view_spec__tags_entry__descriptor, g->tags_per_object);
    s->ttl = gen_duration(g, ttl_pick(r));
    if (idx % 7 == 6) {   /* fed by a push source, like the quickstart's driver_stats_fresh */
        s->stream_source = gen_data_source(g, ds_nth(M(T_PUSH), idx / 7, g->c.data_sources), true);
        s->batch_source = s->stream_source->batch_source;
    } else {
        s->batch_source = fv_batch(g, idx);
    }
    s->online = fv_online(g, idx);
    if (gen_chance(r, 70))
        s->description = ga_printf(g->a, PICK(r, FV_DESCRIPTIONS), s->entities[0]);
    if (gen_chance(r, 60))
        s->owner = gen_owner(g, r);
    o->meta = view_meta(g, 6, idx);
    return o;
}

Feast__Core__InfraObject *gen_infra_object(gen_ctx *g, unsigned idx)
{
    if (!fv_online(g, idx))
        return NULL;
    Feast__Core__InfraObject *io = NEW(Feast__Core__InfraObject, feast__core__infra_object__descriptor);
    io->infra_object_class_type = ga_strdup(g->a, "feast.infra.online_stores.sqlite.SqliteTable");
    io->infra_object_case = FEAST__CORE__INFRA_OBJECT__INFRA_OBJECT_SQLITE_TABLE;
    io->sqlite_table = NEW(Feast__Core__SqliteTable, feast__core__sqlite_table__descriptor);
    io->sqlite_table->path = ga_printf(g->a, "/var/lib/feast/%s/online_store.db", g->project);
    io->sqlite_table->name = ga_printf(g->a, "%s_%s", g->project, fv_name(g, idx));
    return io;
}

/* pickled-UDF stand-in: a pickle protocol 4 header, then opaque bytes */
static ProtobufCBinaryData udf_body(gen_ctx *g, unsigned kind, unsigned idx, size_t mean)
{
    gen_rng r = gen_stream(g->seed, kind, g->proj, idx, GS_UDF);
    size_t n = mean ? mean * 3 / 4 + gen_below(&r, (uint32_t)(mean / 2 + 1)) : 0;
    uint8_t *b = ga_alloc(g->a, n + 8);
    static const uint8_t hdr[] = {0x80, 0x04, 0x95};
    static const char dill[] = "\x8c\x0a" "dill._dill\x94\x8c\x10_create_function\x94\x93\x94";
    size_t i = 0;
    if (n >= sizeof hdr + 8 + sizeof dill - 1) {
        memcpy(b, hdr, sizeof hdr);
        uint64_t body = n - sizeof hdr - 8;
        for (int k = 0; k < 8; k++)
            b[sizeof hdr + k] = (uint8_t)(body >> (8 * k));
        memcpy(b + sizeof hdr + 8, dill, sizeof dill - 1);
        i = sizeof hdr + 8 + sizeof dill - 1;
    }
    for (; i < n; i += 8) {
        uint64_t x = gen_next(&r);
        memcpy(b + i, &x, 8);   /* b has 8 bytes of slack */
    }
    return (ProtobufCBinaryData){n, b};
}

static char *udf_text(gen_ctx *g, const char *fn, const char *src, const char *out, const char *a, const char *b)
{
    return ga_printf(g->a,
                     "@on_demand_feature_view(\n    sources=[%s],\n    schema=[Field(name=\"%s\", dtype=Float64)],\n"
                     "    mode=\"pandas\",\n)\ndef %s(inputs: pd.DataFrame) -> pd.DataFrame:\n"
                     "    df = pd.DataFrame()\n    df[\"%s\"] = inputs[\"%s\"] * 0.5 + inputs[\"%s\"]\n    return df\n",
                     src, out, fn, out, a, b);
}

static Feast__Core__FeatureTransformationV2 *transformation(gen_ctx *g, const char *name, ProtobufCBinaryData body, char *text)
{
    Feast__Core__FeatureTransformationV2 *ft = NEW(Feast__Core__FeatureTransformationV2, feast__core__feature_transformation_v2__descriptor);
    Feast__Core__UserDefinedFunctionV2 *u = NEW(Feast__Core__UserDefinedFunctionV2, feast__core__user_defined_function_v2__descriptor);
    u->name = ga_strdup(g->a, name);
    u->body = body;
    u->body_text = text;
    ft->transformation_case = FEAST__CORE__FEATURE_TRANSFORMATION_V2__TRANSFORMATION_USER_DEFINED_FUNCTION;
    ft->user_defined_function = u;
    return ft;
}

static Feast__Core__UserDefinedFunction *udf_v1(gen_ctx *g, const char *name, ProtobufCBinaryData body, char *text)
{
    Feast__Core__UserDefinedFunction *u = NEW(Feast__Core__UserDefinedFunction, feast__core__user_defined_function__descriptor);
    u->name = ga_strdup(g->a, name);
    u->body = body;
    u->body_text = text;
    return u;
}

static Feast__Core__FeatureSpecV2 **odfv_features(gen_ctx *g, unsigned idx, size_t *n)
{
    gen_rng r = gen_stream(g->seed, 8, g->proj, idx, GS_FEATURES);
    static const vtype T[] = {FEAST__TYPES__VALUE_TYPE__ENUM__DOUBLE, FEAST__TYPES__VALUE_TYPE__ENUM__FLOAT,
                              FEAST__TYPES__VALUE_TYPE__ENUM__BOOL, FEAST__TYPES__VALUE_TYPE__ENUM__INT64};
    *n = 2 + gen_below(&r, 5);
    Feast__Core__FeatureSpecV2 **v = ga_alloc(g->a, *n * sizeof *v);
    for (size_t j = 0; j < *n; j++) {
        char name[96];
        snprintf(name, sizeof name, "%s_adjusted_%02zu", PICK(&r, FEATURE_BASES), j);
        v[j] = gen_plain_feature(g, name, PICK(&r, T));
    }
    return v;
}

/* a projection of feature view fv (a subset of its features, in order) */
static Feast__Core__FeatureViewProjection *fv_projection(gen_ctx *g, gen_rng *r, unsigned fv, unsigned pct, size_t max)
{
    Feast__Core__FeatureViewProjection *p = NEW(Feast__Core__FeatureViewProjection, feast__core__feature_view_projection__descriptor);
    p->feature_view_name = fv_name(g, fv);
    size_t nf;
    Feast__Core__FeatureSpecV2 **f = view_features(g, 6, fv, &nf);
    p->feature_columns = ga_alloc(g->a, nf * sizeof *f);
    for (size_t j = 0; j < nf && p->n_feature_columns < max; j++)
        if (gen_chance(r, pct))
            p->feature_columns[p->n_feature_columns++] = f[j];
    if (p->n_feature_columns == 0)
        p->feature_columns[p->n_feature_columns++] = f[0];
    p->timestamp_field = ga_strdup(g->a, "event_timestamp");
    p->batch_source = fv_batch(g, fv);
    return p;
}

Feast__Core__OnDemandFeatureView *gen_odfv(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 8, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__OnDemandFeatureView *o = NEW(Feast__Core__OnDemandFeatureView, feast__core__on_demand_feature_view__descriptor);
    Feast__Core__OnDemandFeatureViewSpec *s = o->spec = NEW(Feast__Core__OnDemandFeatureViewSpec, feast__core__on_demand_feature_view_spec__descriptor);
    s->name = odfv_name(g, idx);
    s->project = ga_strdup(g->a, g->project);
    s->features = odfv_features(g, idx, &s->n_features);
    unsigned F = g->c.feature_views, D = g->c.data_sources;
    Feast__Core__OnDemandFeatureViewSpec__SourcesEntry **src = ga_alloc(g->a, 2 * sizeof *src);
    const char *in_a = "conv_rate", *in_b = "val_to_add", *src_a = "", *src_b = "";
    if (F) {
        Feast__Core__OnDemandFeatureViewSpec__SourcesEntry *e = NEW(Feast__Core__OnDemandFeatureViewSpec__SourcesEntry, feast__core__on_demand_feature_view_spec__sources_entry__descriptor);
        Feast__Core__OnDemandSource *os = e->value = NEW(Feast__Core__OnDemandSource, feast__core__on_demand_source__descriptor);
        os->source_case = FEAST__CORE__ON_DEMAND_SOURCE__SOURCE_FEATURE_VIEW_PROJECTION;
        os->feature_view_projection = fv_projection(g, r, (idx * 3 + 1) % F, 40, 6);
        e->key = os->feature_view_projection->feature_view_name;
        in_a = os->feature_view_projection->feature_columns[0]->name;
        src_a = e->key;
        src[s->n_sources++] = e;
    }
    if (gen_chance(r, 70) || !F) {
        Feast__Core__OnDemandFeatureViewSpec__SourcesEntry *e = NEW(Feast__Core__OnDemandFeatureViewSpec__SourcesEntry, feast__core__on_demand_feature_view_spec__sources_entry__descriptor);
        Feast__Core__OnDemandSource *os = e->value = NEW(Feast__Core__OnDemandSource, feast__core__on_demand_source__descriptor);
        os->source_case = FEAST__CORE__ON_DEMAND_SOURCE__SOURCE_REQUEST_DATA_SOURCE;
        os->request_data_source = gen_data_source(g, ds_nth(M(T_REQ), idx, D), true);
        e->key = os->request_data_source->name;
        in_b = os->request_data_source->request_data_options->schema[0]->name;
        src_b = e->key;
        src[s->n_sources++] = e;
    }
    s->sources = src;
    ProtobufCBinaryData body = udf_body(g, 8, idx, g->udf_bytes);
    char *text = udf_text(g, s->name, *src_b ? ga_printf(g->a, "%s%s%s", src_a, *src_a ? ", " : "", src_b) : src_a,
                          s->features[0]->name, in_a, in_b);
    s->feature_transformation = transformation(g, s->name, body, text);
    if (idx % 2)   /* views written by older Feast also carry the deprecated field */
        s->user_defined_function = udf_v1(g, s->name, body, text);
    s->mode = ga_strdup(g->a, gen_chance(r, 70) ? "pandas" : "python");
    if (gen_chance(r, 60))
        s->description = ga_printf(g->a, "On-demand adjustment of %s", in_a);
    TAGS(s, feast__core__on_demand_feature_view_spec__tags_entry__descriptor, g->tags_per_object);
    if (gen_chance(r, 50))
        s->owner = gen_owner(g, r);
    s->write_to_online_store = gen_chance(r, 20);
    gen_rng mr = gen_stream(g->seed, 8, g->proj, idx, GS_META);
    Feast__Core__OnDemandFeatureViewMeta *m = o->meta = NEW(Feast__Core__OnDemandFeatureViewMeta, feast__core__on_demand_feature_view_meta__descriptor);
    gen_meta_times(g, &mr, &m->created_timestamp, &m->last_updated_timestamp, NULL);
    return o;
}

Feast__Core__StreamFeatureView *gen_sfv(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 14, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__StreamFeatureView *o = NEW(Feast__Core__StreamFeatureView, feast__core__stream_feature_view__descriptor);
    Feast__Core__StreamFeatureViewSpec *s = o->spec = NEW(Feast__Core__StreamFeatureViewSpec, feast__core__stream_feature_view_spec__descriptor);
    s->name = ga_printf(g->a, "%s_stream_%04u", VIEW_BASES[idx % COUNT(VIEW_BASES)], idx);
    s->project = ga_strdup(g->a, g->project);
    s->n_entities = s->n_entity_columns = view_entities(g, r, idx, &s->entities, &s->entity_columns);
    s->features = view_features(g, 14, idx, &s->n_features);
    if (gen_chance(r, 60))
        s->description = ga_printf(g->a, "Streaming aggregates of %s", s->entities[0]);
    TAGS(s, feast__core__stream_feature_view_spec__tags_entry__descriptor, g->tags_per_object);
    if (gen_chance(r, 60))
        s->owner = gen_owner(g, r);
    s->ttl = gen_duration(g, ttl_pick(r));
    s->stream_source = gen_data_source(g, ds_nth(M(T_KAFKA), idx, g->c.data_sources), true);
    s->batch_source = s->stream_source->batch_source;
    s->online = 1;
    s->mode = ga_strdup(g->a, gen_chance(r, 50) ? "spark" : "pandas");
    static const char *const FN[] = {"sum", "count", "mean", "max", "min"};
    static const unsigned WIN[] = {3600, 6 * 3600, 86400, 7 * 86400};
    s->n_aggregations = 1 + gen_below(r, 3);
    s->aggregations = ga_alloc(g->a, s->n_aggregations * sizeof *s->aggregations);
    for (size_t i = 0; i < s->n_aggregations; i++) {
        Feast__Core__Aggregation *a = NEW(Feast__Core__Aggregation, feast__core__aggregation__descriptor);
        a->column = ga_strdup(g->a, s->features[i % s->n_features]->name);
        a->function = ga_strdup(g->a, PICK(r, FN));
        a->time_window = gen_duration(g, PICK(r, WIN));
        s->aggregations[i] = a;
    }
    s->timestamp_field = ga_strdup(g->a, "event_timestamp");
    ProtobufCBinaryData body = udf_body(g, 14, idx, g->udf_bytes / 2);
    char *text = udf_text(g, s->name, s->stream_source->name, s->features[0]->name, s->features[0]->name, "event_timestamp");
    s->feature_transformation = transformation(g, s->name, body, text);
    s->user_defined_function = udf_v1(g, s->name, body, text);
    o->meta = view_meta(g, 14, idx);
    return o;
}

/* ---------------------------------------------------------------- services, permissions, projects */

Feast__Core__FeatureService *gen_feature_service(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 7, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__FeatureService *o = NEW(Feast__Core__FeatureService, feast__core__feature_service__descriptor);
    Feast__Core__FeatureServiceSpec *s = o->spec = NEW(Feast__Core__FeatureServiceSpec, feast__core__feature_service_spec__descriptor);
    s->name = ga_printf(g->a, "%s_v%u_%04u", SERVICE_BASES[idx % COUNT(SERVICE_BASES)], 1 + gen_below(r, 4), idx);
    s->project = ga_strdup(g->a, g->project);
    unsigned F = g->c.feature_views, O = g->c.on_demand_views;
    unsigned np = F ? 1 + gen_below(r, 3) : 0;
    if (np > F)
        np = F;
    s->features = ga_alloc(g->a, (np + 1) * sizeof *s->features);
    unsigned first = F ? (idx * 7) % F : 0;
    for (unsigned j = 0; j < np; j++)
        s->features[s->n_features++] = fv_projection(g, r, (first + j) % F, 60, 1000);
    if (O && gen_chance(r, 30)) {
        Feast__Core__FeatureViewProjection *p = NEW(Feast__Core__FeatureViewProjection, feast__core__feature_view_projection__descriptor);
        unsigned od = (idx * 5 + 2) % O;
        p->feature_view_name = odfv_name(g, od);
        p->feature_columns = odfv_features(g, od, &p->n_feature_columns);
        s->features[s->n_features++] = p;
    }
    TAGS(s, feast__core__feature_service_spec__tags_entry__descriptor, g->tags_per_object);
    if (gen_chance(r, 70))
        s->description = ga_printf(g->a, "Features served to the %s model", SERVICE_BASES[idx % COUNT(SERVICE_BASES)]);
    if (gen_chance(r, 60))
        s->owner = gen_owner(g, r);
    if (gen_chance(r, 20)) {
        Feast__Core__LoggingConfig *lc = s->logging_config = NEW(Feast__Core__LoggingConfig, feast__core__logging_config__descriptor);
        lc->sample_rate = 0.1f * (float)(1 + gen_below(r, 10));
        lc->destination_case = FEAST__CORE__LOGGING_CONFIG__DESTINATION_FILE_DESTINATION;
        lc->file_destination = NEW(Feast__Core__LoggingConfig__FileDestination, feast__core__logging_config__file_destination__descriptor);
        lc->file_destination->path = ga_printf(g->a, "s3://feast-logs-%s/%s", g->project, s->name);
    }
    gen_rng mr = gen_stream(g->seed, 7, g->proj, idx, GS_META);
    Feast__Core__FeatureServiceMeta *m = o->meta = NEW(Feast__Core__FeatureServiceMeta, feast__core__feature_service_meta__descriptor);
    gen_meta_times(g, &mr, &m->created_timestamp, &m->last_updated_timestamp, NULL);
    return o;
}

static char **strings(gen_ctx *g, gen_rng *r, const char *const *pool, size_t npool, size_t *n)
{
    *n = 1 + gen_below(r, 2);
    char **v = ga_alloc(g->a, *n * sizeof *v);
    unsigned start = gen_below(r, (uint32_t)npool);
    for (size_t i = 0; i < *n; i++)
        v[i] = ga_strdup(g->a, pool[(start + i) % npool]);
    return v;
}

Feast__Core__Permission *gen_permission(gen_ctx *g, unsigned idx)
{
    gen_rng rs = gen_stream(g->seed, 16, g->proj, idx, GS_MAIN), *r = &rs;
    Feast__Core__Permission *o = NEW(Feast__Core__Permission, feast__core__permission__descriptor);
    Feast__Core__PermissionSpec *s = o->spec = NEW(Feast__Core__PermissionSpec, feast__core__permission_spec__descriptor);
    s->name = ga_printf(g->a, "%s_%04u", PERMISSION_BASES[idx % COUNT(PERMISSION_BASES)], idx);
    s->project = ga_strdup(g->a, g->project);
    s->types = ga_alloc(g->a, 12 * sizeof *s->types);
    for (unsigned t = 0; t < 12; t++)
        if (gen_chance(r, 35))
            s->types[s->n_types++] = (Feast__Core__PermissionSpec__Type)t;
    if (!s->n_types)
        s->types[s->n_types++] = FEAST__CORE__PERMISSION_SPEC__TYPE__FEATURE_VIEW;
    s->n_name_patterns = 1 + gen_below(r, 2);
    s->name_patterns = ga_alloc(g->a, s->n_name_patterns * sizeof *s->name_patterns);
    for (size_t i = 0; i < s->n_name_patterns; i++)
        s->name_patterns[i] = ga_printf(g->a, "%s_.*", PICK(r, VIEW_BASES));
    if (gen_chance(r, 50)) {
        kv_entry **rt = ga_alloc(g->a, sizeof *rt);
        rt[0] = ga_msg(g->a, &feast__core__permission_spec__required_tags_entry__descriptor);
        rt[0]->key = ga_strdup(g->a, "team");
        rt[0]->value = ga_strdup(g->a, PICK(r, GEN_TEAMS));
        s->required_tags = (Feast__Core__PermissionSpec__RequiredTagsEntry **)rt;
        s->n_required_tags = 1;
    }
    s->actions = ga_alloc(g->a, 8 * sizeof *s->actions);
    for (unsigned a = 0; a < 8; a++)
        if (gen_chance(r, 40))
            s->actions[s->n_actions++] = (Feast__Core__PermissionSpec__AuthzedAction)a;
    if (!s->n_actions)
        s->actions[s->n_actions++] = FEAST__CORE__PERMISSION_SPEC__AUTHZED_ACTION__DESCRIBE;
    Feast__Core__Policy *p = s->policy = NEW(Feast__Core__Policy, feast__core__policy__descriptor);
    static const char *const ROLES[] = {"reader", "writer", "analyst", "admin", "ml-engineer"};
    if (gen_chance(r, 60)) {
        p->policy_type_case = FEAST__CORE__POLICY__POLICY_TYPE_ROLE_BASED_POLICY;
        p->role_based_policy = NEW(Feast__Core__RoleBasedPolicy, feast__core__role_based_policy__descriptor);
        p->role_based_policy->roles = strings(g, r, ROLES, COUNT(ROLES), &p->role_based_policy->n_roles);
    } else {
        p->policy_type_case = FEAST__CORE__POLICY__POLICY_TYPE_GROUP_BASED_POLICY;
        p->group_based_policy = NEW(Feast__Core__GroupBasedPolicy, feast__core__group_based_policy__descriptor);
        p->group_based_policy->groups = strings(g, r, GEN_TEAMS, COUNT(GEN_TEAMS), &p->group_based_policy->n_groups);
    }
    TAGS(s, feast__core__permission_spec__tags_entry__descriptor, g->tags_per_object / 2);
    gen_rng mr = gen_stream(g->seed, 16, g->proj, idx, GS_META);
    Feast__Core__PermissionMeta *m = o->meta = NEW(Feast__Core__PermissionMeta, feast__core__permission_meta__descriptor);
    gen_meta_times(g, &mr, &m->created_timestamp, &m->last_updated_timestamp, NULL);
    return o;
}

Feast__Core__Project *gen_project(gen_ctx *g)
{
    gen_rng rs = gen_stream(g->seed, 17, g->proj, 0, GS_MAIN), *r = &rs;
    Feast__Core__Project *o = NEW(Feast__Core__Project, feast__core__project__descriptor);
    Feast__Core__ProjectSpec *s = o->spec = NEW(Feast__Core__ProjectSpec, feast__core__project_spec__descriptor);
    s->name = ga_strdup(g->a, g->project);
    s->description = ga_printf(g->a, "Feature repository of the %s team", PICK(r, GEN_TEAMS));
    TAGS(s, feast__core__project_spec__tags_entry__descriptor, g->tags_per_object);
    s->owner = gen_owner(g, r);
    Feast__Core__ProjectMeta *m = o->meta = NEW(Feast__Core__ProjectMeta, feast__core__project_meta__descriptor);
    int64_t c = g->t0 - (int64_t)gen_below(r, 30u * 86400u);
    m->created_timestamp = gen_ts(g, r, c);
    m->last_updated_timestamp = gen_ts(g, r, c + (int64_t)gen_below(r, 90u * 86400u));
    return o;
}

Feast__Core__ProjectMetadata *gen_project_metadata(gen_ctx *g)
{
    gen_rng r = gen_stream(g->seed, 15, g->proj, 0, GS_MAIN);
    Feast__Core__ProjectMetadata *o = NEW(Feast__Core__ProjectMetadata, feast__core__project_metadata__descriptor);
    char u[37];
    gen_uuid(&r, u);
    o->project = ga_strdup(g->a, g->project);
    o->project_uuid = ga_strdup(g->a, u);
    return o;
}
