/* dump_feast_sql.c: reading a Feast SQL registry (postgresql://) for regsync-dump. */
#include "dump.h"

int dump_read_feast_sql(const char *url, uint8_t **data, size_t *len, rs_error *err)
{
    (void)data;
    (void)len;
    return rs_error_set(err, RS_EUNSUPPORTED, "%s: reading a Feast SQL registry is not built yet", url);
}
