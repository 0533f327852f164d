#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static struct {
	int fd;
	enum log_level level;
	bool stderr_copy;
	char name[64];
} log_state = {.fd = STDERR_FILENO, .level = LOG_LEVEL_INFO};

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "DEBUG",
	[LOG_LEVEL_INFO] = "INFO",
	[LOG_LEVEL_WARN] = "WARN",
	[LOG_LEVEL_ERROR] = "ERROR",
};

const char *log_level_name(enum log_level level)
{
	return level <= LOG_LEVEL_ERROR ? level_names[level] : "?";
}

int log_open(const char *name, const char *path, enum log_level level, struct error *err)
{
	snprintf(log_state.name, sizeof(log_state.name), "%s", name);
	log_state.level = level;
	if (!path)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return error_errno(err, errno, "open log file %s", path);
	if (log_state.fd > STDERR_FILENO)
		close(log_state.fd);
	log_state.fd = fd;
	return 0;
}

void log_close(void)
{
	if (log_state.fd > STDERR_FILENO)
		close(log_state.fd);
	log_state.fd = STDERR_FILENO;
}

void log_set_level(enum log_level level)
{
	log_state.level = level;
}

enum log_level log_get_level(void)
{
	return log_state.level;
}

void log_set_stderr_copy(bool copy)
{
	log_state.stderr_copy = copy;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	if (level < log_state.level)
		return;
	int saved_errno = errno;
	char stamp[40];
	time_format_rfc3339(time_realtime_ms(), stamp, sizeof(stamp));
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s %-5s %s[%d]: ", stamp, log_level_name(level),
			 log_state.name, (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line with O_APPEND: lines of concurrent writers never mix. */
	if (write(log_state.fd, line, n) < 0) {
		/* nowhere left to report it */
	}
	if (log_state.stderr_copy && log_state.fd != STDERR_FILENO) {
		if (write(STDERR_FILENO, line, n) < 0) {
		}
	}
	errno = saved_errno;
}
