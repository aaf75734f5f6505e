/* rs_splice.c: replacing one top-level field of an object with another object's occurrences
 * (wire level), for kept regional meta. */
#include "rs_buf.h"
#include "rs_registry.h"
#include "rs_wire.h"

#include <stdbool.h>

/* Appends every occurrence of field in msg (tag included) to b. */
static int append_field_occurrences(rs_buf *b, const uint8_t *msg, size_t len, uint32_t field, rs_error *err)
{
    const uint8_t *q = msg, *end = msg + len;
    rs_wfield g;
    const char *why;
    while (q < end) {
        if (rs_wire_next(&q, end, &g, &why))
            return rs_error_set(err, RS_ECORRUPT, "splice: donor object: %s", why);
        if (g.num == field && rs_buf_append(b, g.raw, g.raw_len))
            return rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    return RS_OK;
}

int rs_object_splice_field(const uint8_t *base, size_t base_len, const uint8_t *donor, size_t donor_len, uint32_t field,
                           uint8_t **out, size_t *out_len, rs_error *err)
{
    rs_buf b = {0};
    const uint8_t *p = base, *end = base + base_len;
    bool placed = false;
    const char *why;
    rs_wfield f;
    int rc = RS_OK;
    /* copy base in order; the donor's occurrences go where the field belongs by number, so an
     * ordered message stays ordered */
    while (p < end && !rc) {
        if (rs_wire_next(&p, end, &f, &why)) {
            rc = rs_error_set(err, RS_ECORRUPT, "splice: base object: %s", why);
            break;
        }
        if (!placed && f.num >= field) {
            rc = append_field_occurrences(&b, donor, donor_len, field, err);
            placed = true;
        }
        if (!rc && f.num != field && rs_buf_append(&b, f.raw, f.raw_len))
            rc = rs_error_set(err, RS_ENOMEM, "out of memory");
    }
    if (!rc && !placed)
        rc = append_field_occurrences(&b, donor, donor_len, field, err);
    if (rc) {
        rs_buf_free(&b);
        return rc;
    }
    *out = rs_buf_take(&b, out_len);
    return RS_OK;
}
