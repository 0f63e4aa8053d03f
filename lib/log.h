/* Levelled logging to stderr. The level is checked before any formatting (Redis serverLog):
 * a disabled debug line costs one compare. Messages are lowercase and say what failed with
 * what value: log_error("cri: connect %s: %s", path, strerror(-err)). */
#ifndef PODLENS_LIB_LOG_H
#define PODLENS_LIB_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log__level;

/* Program name shown in every line; default "podlens". */
void log__init(const char *prog, int level);
/* "error" | "warn" | "info" | "debug" -> level, or -EINVAL. */
int log__parse_level(const char *s);
const char *log__level_name(int level);
void log__write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) do { if (log__level >= (lvl)) log__write((lvl), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
