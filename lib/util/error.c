#include "error.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
	if (code <= 0)
		code = code < 0 ? -code : EIO;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		char *msg = xvasprintf(fmt, ap);
		va_end(ap);
		free(err->message);
		err->message = msg;
		err->code = code;
	}
	return -code;
}

int error_errno(struct error *err, int code, const char *fmt, ...)
{
	if (code <= 0)
		code = code < 0 ? -code : EIO;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		_cleanup_free_ char *what = xvasprintf(fmt, ap);
		va_end(ap);
		free(err->message);
		err->message = xasprintf("%s: %s", what, strerror(code));
		err->code = code;
	}
	return -code;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	if (!err->message)
		return error_set(err, err->code ? err->code : EIO, "unknown error");
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *prefix = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = xasprintf("%s: %s", prefix, err->message);
	free(err->message);
	err->message = msg;
	return -err->code;
}

void error_release(struct error *err)
{
	if (!err)
		return;
	free(err->message);
	err->message = NULL;
	err->code = 0;
}

bool error_is_set(const struct error *err)
{
	return err && err->message;
}

static const struct {
	int code;
	const char *name;
} error_names[] = {
	{ENOENT, "notFound"},	       {EEXIST, "exists"},
	{EINVAL, "invalidArgument"},   {EACCES, "permissionDenied"},
	{EPERM, "permissionDenied"},   {EBUSY, "busy"},
	{ETIMEDOUT, "timeout"},	       {EPROTO, "protocolError"},
	{EMSGSIZE, "messageTooLarge"}, {ENOSYS, "unsupported"},
	{ECONNREFUSED, "unavailable"}, {ENOTCONN, "unavailable"},
	{EAGAIN, "tryAgain"},
};

const char *error_code_name(int code)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_names); i++)
		if (error_names[i].code == code)
			return error_names[i].name;
	return "internalError";
}

int error_code_from_name(const char *name)
{
	if (!name)
		return EIO;
	for (size_t i = 0; i < ARRAY_SIZE(error_names); i++)
		if (strcmp(error_names[i].name, name) == 0)
			return error_names[i].code;
	return EIO;
}
