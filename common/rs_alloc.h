/* rs_alloc.h: allocation wrappers that never return NULL (docs/allocation.md).
 *
 * regsync's allocation policy has one rule with two sides:
 *   - an allocation whose size comes from input (registry bytes, store objects, HTTP bodies,
 *     JSON, SQL rows) is checked, its size computed with overflow checks, and a failure becomes
 *     RS_ENOMEM or RS_ETOOBIG for the caller: one large or hostile input never kills the agent;
 *   - every other allocation (names, URLs, configuration strings, list nodes, fixed structs:
 *     bounded by the configuration, not by input) goes through these wrappers, which print what
 *     failed and where and abort(): there is no useful recovery from failing to copy a region
 *     name, and a NULL passed on unchecked would crash later, further from the cause.
 * The results are ordinary malloc'd memory: free() them.
 */
#ifndef RS_ALLOC_H
#define RS_ALLOC_H

#include <stddef.h>

void *rs_xmalloc_at(size_t n, const char *file, int line);
void *rs_xcalloc_at(size_t count, size_t size, const char *file, int line);
void *rs_xrealloc_at(void *p, size_t n, const char *file, int line);
char *rs_xstrdup_at(const char *s, const char *file, int line);   /* NULL in, NULL out */
char *rs_xstrndup_at(const char *s, size_t n, const char *file, int line);

#define rs_xmalloc(n) rs_xmalloc_at((n), __FILE__, __LINE__)
#define rs_xcalloc(c, s) rs_xcalloc_at((c), (s), __FILE__, __LINE__)
#define rs_xrealloc(p, n) rs_xrealloc_at((p), (n), __FILE__, __LINE__)
#define rs_xstrdup(s) rs_xstrdup_at((s), __FILE__, __LINE__)
#define rs_xstrndup(s, n) rs_xstrndup_at((s), (n), __FILE__, __LINE__)

#endif
