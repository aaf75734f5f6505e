/* rs_journal_json.h: the one JSON form of a journal entry.
 *
 * GET /v1/versions (daemon/rs_provider.c) and `regsync-dump journal --json` (tools/dump_live.c)
 * print entries through this function, so the two never drift apart (docs/journal.md#json):
 *   {"version", "kind", "applied_at", "published_at" (RFC 3339 UTC with milliseconds, or null),
 *    "duration_ms", "ops": {"put", "delete", "by_kind": {...}}, "parent_digest",
 *    "result_digest", "filtered_digest", "target_digest" (64 hex digits, or null),
 *    "source_etag", "publisher" (or null)}
 *
 * Ownership: the entry is borrowed; the result is a new jansson reference owned by the caller
 * (json_decref), NULL only when allocation failed.
 */
#ifndef RS_JOURNAL_JSON_H
#define RS_JOURNAL_JSON_H

#include <jansson.h>

#include "rs_journal.h"

json_t *rs_journal_entry_json(const rs_journal_entry *e);

#endif
