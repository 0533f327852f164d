/* Levelled logging to one file per process:
 *   2026-11-23T14:07:11.123Z INFO  container-apiserver[123]: message
 * The timestamp leads every line so `container system logs --last` can
 * filter and merge files by comparing prefixes. */
#ifndef CONTAINER_LOG_H
#define CONTAINER_LOG_H

#include "error.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* path NULL logs to stderr. Returns < 0 when the file cannot be opened. */
int log_open(const char *name, const char *path, enum log_level level, struct error *err);
void log_close(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Also copies every line to stderr (foreground daemons). */
void log_set_stderr_copy(bool copy);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *log_level_name(enum log_level level);

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
