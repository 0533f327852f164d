/* Small helpers every module uses: allocation that aborts on OOM,
 * scope-bound cleanup, ownership transfer. */
#ifndef CONTAINER_UTIL_H
#define CONTAINER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Out of memory is not an error path: abort with a message. */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_	 __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_	 __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))

/* Hand ownership over: returns the value and resets the source. */
#define move_ptr(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _moved = (p);                                                        \
		(p) = NULL;                                                                        \
		_moved;                                                                            \
	})
#define move_fd(fd)                                                                                \
	({                                                                                         \
		int _moved = (fd);                                                                 \
		(fd) = -1;                                                                         \
		_moved;                                                                            \
	})

/* Monotonic and wall clocks in milliseconds. */
int64_t time_monotonic_ms(void);
int64_t time_monotonic_us(void);
int64_t time_realtime_ms(void);

/* "2026-11-23T14:07:11.123Z" into buf (at least 32 bytes). */
void time_format_rfc3339(int64_t realtime_ms, char *buf, size_t len);
/* Parses "90s", "5m", "2h", "1d", "250ms"; returns milliseconds or -1. */
int64_t time_parse_duration_ms(const char *text);
/* Parses an RFC 3339 time ("2026-11-23T14:07:11Z", fractions of a second,
 * "+01:00" offsets, a lowercase t/z) or a date ("2026-11-23", midnight UTC)
 * into nanoseconds since the epoch; false if it is neither. */
bool time_parse_rfc3339_ns(const char *text, int64_t *out);

/* After piped input to a terminal ends, its end-of-file character goes in,
 * and again every TTY_EOF_INTERVAL_MS while the program runs (TTY_EOF_MAX
 * times in all): one that arrives before the program switched the terminal
 * out of canonical mode (a shell's line editor does) turns into a NUL and
 * is lost. Used by the helper (run -t) and the CLI (exec -t). */
#define TTY_EOF_INTERVAL_MS 50
#define TTY_EOF_MAX	    40

/* Ids of containers and names of anonymous volumes: 64 lowercase hex
 * digits from getrandom (unique, if not random, should it fail). */
#define RANDOM_ID_LEN 64
void random_id(char out[RANDOM_ID_LEN + 1]);

/* Container and volume names, as Docker's: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127};
 * never a path, never "." or "..". */
bool name_valid(const char *name);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

#endif
