/* rs_log.h: one line per event.
 *
 * Text:  2026-11-28T08:00:00.123Z info sync applied version=7 ops=3
 * JSON:  {"ts":"...","level":"info","module":"sync","event":"applied","version":"7","ops":"3"}
 * The message is "event key=value key=\"value with spaces\" ..."; in JSON mode the pairs become
 * fields. Callers never pass secrets (credentials, tokens, full connection strings).
 * The settings are process-wide and only read by rs_log; the default is text, info, stderr.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdbool.h>

typedef enum { RS_LOG_DEBUG = 0, RS_LOG_INFO = 1, RS_LOG_WARN = 2, RS_LOG_ERROR = 3, RS_LOG_OFF = 4 } rs_log_level;

void rs_log_configure(rs_log_level min_level, bool json, int fd);
/* "debug", "info", "warn", "error", "off" -> level; -1 if unknown. */
int rs_log_level_parse(const char *s);
bool rs_log_enabled(rs_log_level level);
void rs_log(rs_log_level level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define RS_LOGD(mod, ...) rs_log(RS_LOG_DEBUG, mod, __VA_ARGS__)
#define RS_LOGI(mod, ...) rs_log(RS_LOG_INFO, mod, __VA_ARGS__)
#define RS_LOGW(mod, ...) rs_log(RS_LOG_WARN, mod, __VA_ARGS__)
#define RS_LOGE(mod, ...) rs_log(RS_LOG_ERROR, mod, __VA_ARGS__)

#endif
