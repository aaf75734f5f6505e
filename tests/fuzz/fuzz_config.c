/* libFuzzer target: the YAML configuration (regsync.yaml) as rs_config_load reads it, with an
 * empty environment; what loads is described (text and JSON) and re-validated. */
#include "rs_config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *env[] = {NULL};
    rs_config *cfg = NULL;
    rs_config_problems probs = {0};
    rs_error err = {0};
    int rc = rs_config_parse("/nonexistent-fuzz-dir/regsync.yaml", (const char *)data, size, env, NULL, 0, &cfg,
                             &probs, &err);
    if (rc == RS_OK) {
        if (!cfg)
            abort();
        char *d = rs_config_describe(cfg, false);
        free(d);
        d = rs_config_describe(cfg, true);
        free(d);
        rs_config_problems p2 = {0};
        (void)rs_config_validate(cfg, &p2, NULL);
        rs_config_problems_free(&p2);
    } else if (cfg) {
        abort(); /* an error leaves no config */
    }
    char *t = rs_config_problems_text(&probs);
    free(t);
    rs_config_problems_free(&probs);
    rs_config_free(cfg);
    return 0;
}
