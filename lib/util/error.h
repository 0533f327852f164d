/* The error convention (crun's): a fallible function returns < 0 (or NULL)
 * and fills a struct error with an errno value and a message; callers add
 * context on the way up with error_prefix(). */
#ifndef CONTAINER_ERROR_H
#define CONTAINER_ERROR_H

#include <stdbool.h>

struct error {
	int code;      /* an errno value, never 0 once set */
	char *message; /* owned; NULL when no error is set */
};

#define ERROR_INIT                                                                                 \
	{                                                                                          \
		0, NULL                                                                            \
	}
#define _cleanup_error_ __attribute__((cleanup(error_release)))

/* Sets the error and returns -code (or -1 when code is 0), so that one line
 * both records and propagates: return error_set(err, errno, "open %s", p); */
int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for a failed system call: appends ": <strerror(code)>". */
int error_errno(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepends "context: " to an error already set; returns -code. */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops an error that the caller decided not to propagate. */
void error_release(struct error *err);
bool error_is_set(const struct error *err);

/* Stable wire names for error codes ("notFound", "invalidArgument", ...). */
const char *error_code_name(int code);
int error_code_from_name(const char *name);

#endif
