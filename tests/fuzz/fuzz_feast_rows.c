/* libFuzzer target: the rows a Feast SQL registry database returns (PostgreSQL or MySQL), as
 * rs_feast_sql_read turns them into a Registry: the objects query (field number, project, name,
 * payload) and the feature_view_version_history query (8 columns). The server and the tables are
 * not ours, so every cell is untrusted. What the assembly accepts must decode as a registry.
 *
 * Input: sections separated by 0x1d (objects, history; a third sets the column limit), rows by
 * 0x1e, cells by 0x1f; a cell that is exactly 0x1a is SQL NULL. Missing cells are NULL. */
#include "feast_sql_impl.h"
#include "rs_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fr_split(const uint8_t *p, size_t n, size_t cols, fsql_result *r)
{
    memset(r, 0, sizeof *r);
    r->cols = cols;
    size_t rows = 1;
    for (size_t i = 0; i < n; i++)
        rows += p[i] == 0x1e;
    r->cells = calloc(rows * cols, sizeof *r->cells);
    if (!r->cells)
        return;
    size_t row = 0, col = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != 0x1e && p[i] != 0x1f)
            continue;
        if (col < cols) {
            fsql_cell *c = &r->cells[row * cols + col];
            if (!(i - start == 1 && p[start] == 0x1a)) {
                c->p = (const char *)p + start;
                c->n = i - start;
            }
        }
        if (i == n || p[i] == 0x1e) {
            row++;
            col = 0;
        } else {
            col++;
        }
        start = i + 1;
    }
    r->rows = row;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sec[3] = {data, NULL, NULL};
    size_t len[3] = {size, 0, 0};
    for (int k = 0; k < 2 && sec[k]; k++) {
        const uint8_t *gs = memchr(sec[k], 0x1d, len[k]);
        if (!gs)
            break;
        sec[k + 1] = gs + 1;
        len[k + 1] = len[k] - (size_t)(gs + 1 - sec[k]);
        len[k] = (size_t)(gs - sec[k]);
    }
    rs_feast_sql *h = calloc(1, sizeof *h);
    if (!h)
        return 0;
    h->display = (char *)"postgresql://fuzz@db/feast";
    if (sec[2] && len[2] > 0) { /* a discovered column limit, like MySQL's 64 KB BLOB */
        for (int k = 0; k < FSQL_NTABLES; k++) {
            h->t[k].proto_cap = len[2];
            snprintf(h->t[k].proto_col, sizeof h->t[k].proto_col, "proto");
        }
    }
    fsql_result objects, history;
    fr_split(sec[0], len[0], 4, &objects);
    if (sec[1])
        fr_split(sec[1], len[1], 8, &history);
    rs_buf out = {0};
    rs_error err = {0};
    if (objects.cells && (!sec[1] || history.cells) &&
        fsql_assemble_rows(h, (int64_t)size, &objects, sec[1] ? &history : NULL, &out, &err) == RS_OK) {
        rs_registry *r = NULL;
        rs_limits lim = {.max_registry_bytes = 1 << 24};
        /* what reaches the agent is a Registry message: it decodes, or is refused cleanly */
        if (rs_registry_decode(out.data, out.len, &lim, &r, NULL) == RS_OK)
            rs_registry_free(r);
    }
    rs_buf_free(&out);
    free(objects.cells);
    if (sec[1])
        free(history.cells);
    free(h);
    return 0;
}
