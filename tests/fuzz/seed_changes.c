/* seed_changes DIR N: writes N encoded regsync.v1.Change files (from generated registries and
 * their mutations) as a seed corpus for fuzz_change. Built only with -DRS_FUZZ=ON. */
#include "rs_change.h"
#include "rs_generate.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: seed_changes DIR N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        rs_gen_params p;
        rs_gen_defaults(&p);
        p.seed = (uint64_t)i + 1;
        p.target_bytes = 3000 + (size_t)i * 500;
        uint8_t *a, *b, *w;
        size_t al, bl, wl;
        rs_registry *ra, *rb;
        rs_change *c;
        if (rs_generate(&p, &a, &al, NULL) || rs_mutate(a, al, (uint64_t)i + 7, 1 + (unsigned)i % 5, &b, &bl, NULL, NULL) ||
            rs_registry_decode(a, al, NULL, &ra, NULL) || rs_registry_decode(b, bl, NULL, &rb, NULL) ||
            rs_change_between(ra, rb, &c, NULL))
            return 1;
        c->version = (uint64_t)i + 1;
        if (rs_change_encode(c, &w, &wl, NULL))
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/change-%03d", argv[1], i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(w, 1, wl, f) != wl || fclose(f))
            return 1;
        free(a);
        free(b);
        free(w);
        rs_change_free(c);
        rs_registry_free(ra);
        rs_registry_free(rb);
    }
    return 0;
}
