/* rs_alloc.c: see rs_alloc.h. */
#include "rs_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "regsync: out of memory allocating %zu bytes at %s:%d; stopping\n", n, file, line);
    abort();
}

void *rs_xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n, file, line);
    return p;
}

void *rs_xcalloc_at(size_t count, size_t size, const char *file, int line)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size, file, line); /* calloc refuses an overflowing product itself */
    return p;
}

void *rs_xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n, file, line);
    return q;
}

char *rs_xstrdup_at(const char *s, const char *file, int line)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        oom(strlen(s) + 1, file, line);
    return d;
}

char *rs_xstrndup_at(const char *s, size_t n, const char *file, int line)
{
    char *d = strndup(s, n);
    if (!d)
        oom(n + 1, file, line);
    return d;
}
