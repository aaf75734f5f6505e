/* dump_feast_sql.c: reading a Feast SQL registry (postgresql://, mysql://) for regsync-dump. */
#include "dump.h"
#include "feast_sql.h"

#include <stdlib.h>

int dump_read_feast_sql(const char *url, uint8_t **data, size_t *len, rs_error *err)
{
    rs_feast_sql *h;
    int rc = rs_feast_sql_open(url, NULL, &h, err);
    if (rc)
        return rc;
    rc = rs_feast_sql_read(h, data, len, NULL, err);
    rs_feast_sql_close(h);
    return rc;
}
