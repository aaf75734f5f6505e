/* rs_journal_json.c: see rs_journal_json.h. */
#include "rs_journal_json.h"

#include "rs_buf.h"
#include "rs_time.h"
#include "rs_json.h"

static json_t *digest_json(bool has, const uint8_t *d)
{
    if (!has)
        return json_null();
    char h[2 * RS_JOURNAL_DIGEST_LEN + 1];
    rs_hex(d, RS_JOURNAL_DIGEST_LEN, h);
    return json_string(h);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *rs_journal_entry_json(const rs_journal_entry *e)
{
    json_t *o = json_object();
    json_t *ops = json_object();
    if (!o || !ops) {
        json_decref(o);
        json_decref(ops);
        return NULL;
    }
    json_object_set_new(o, "version", json_integer((json_int_t)e->version));
    json_object_set_new(o, "kind", json_string(rs_journal_kind_name(e->kind)));
    json_object_set_new(o, "applied_at", rs_json_time_ms(e->applied_at_ms));
    json_object_set_new(o, "published_at", rs_json_time_ms(e->published_at_ms));
    json_object_set_new(o, "duration_ms", json_integer(e->duration_ms));
    json_object_set_new(ops, "put", json_integer((json_int_t)e->ops_put));
    json_object_set_new(ops, "delete", json_integer((json_int_t)e->ops_delete));
    /* counts_by_kind is stored as a JSON object; anything else (an old or damaged row) prints {} */
    json_t *bk = e->counts_by_kind ? json_loads(e->counts_by_kind, 0, NULL) : NULL;
    if (bk && !json_is_object(bk)) {
        json_decref(bk);
        bk = NULL;
    }
    json_object_set_new(ops, "by_kind", bk ? bk : json_object());
    json_object_set_new(o, "ops", ops);
    json_object_set_new(o, "parent_digest", digest_json(e->has_parent_digest, e->parent_digest));
    json_object_set_new(o, "result_digest", digest_json(e->has_result_digest, e->result_digest));
    json_object_set_new(o, "filtered_digest", digest_json(e->has_filtered_digest, e->filtered_digest));
    json_object_set_new(o, "target_digest", digest_json(e->has_target_digest, e->target_digest));
    json_object_set_new(o, "source_etag", str_or_null(e->source_etag));
    json_object_set_new(o, "publisher", str_or_null(e->publisher));
    return o;
}
