/* --ulimit values (Docker's names), parsed where they are given (the API
 * server refuses bad ones at create) and applied by the runtime. */
#include "rlimit.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{"core", RLIMIT_CORE},	       {"cpu", RLIMIT_CPU},
	{"data", RLIMIT_DATA},	       {"fsize", RLIMIT_FSIZE},
	{"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
	{"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
	{"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
	{"rss", RLIMIT_RSS},	       {"rtprio", RLIMIT_RTPRIO},
	{"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
	{"stack", RLIMIT_STACK},
};

const char *rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (rlimit_names[i].resource == resource)
			return rlimit_names[i].name;
	return "unknown";
}

/* A decimal count or "-1" for unlimited; exactly [start, end). */
static bool rlimit_parse_value(const char *start, const char *end, uint64_t *value)
{
	size_t n = (size_t)(end - start);
	if (n == 2 && memcmp(start, "-1", 2) == 0) {
		*value = RLIM_INFINITY;
		return true;
	}
	if (n == 0)
		return false;
	uint64_t v = 0;
	for (const char *p = start; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned digit = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	/* The kernel's RLIM_INFINITY is all ones: a number that large means it. */
	*value = v;
	return true;
}

int rlimit_parse(const char *text, struct rlimit_setting *out, struct error *err)
{
	if (!text)
		return error_set(err, EINVAL, "missing ulimit");
	const char *eq = strchr(text, '=');
	if (!eq)
		return error_set(err, EINVAL, "ulimit \"%s\": expected name=soft[:hard]", text);
	size_t name_len = (size_t)(eq - text);
	int resource = -1;
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++) {
		if (strlen(rlimit_names[i].name) == name_len &&
		    memcmp(rlimit_names[i].name, text, name_len) == 0)
			resource = rlimit_names[i].resource;
	}
	if (resource < 0)
		return error_set(err, EINVAL, "ulimit \"%s\": unknown name \"%.*s\"", text,
				 (int)name_len, text);
	const char *values = eq + 1;
	const char *colon = strchr(values, ':');
	const char *soft_end = colon ? colon : values + strlen(values);
	uint64_t soft, hard;
	if (!rlimit_parse_value(values, soft_end, &soft))
		return error_set(err, EINVAL, "ulimit \"%s\": bad soft limit \"%.*s\"", text,
				 (int)(soft_end - values), values);
	if (colon) {
		const char *hard_start = colon + 1;
		if (!rlimit_parse_value(hard_start, hard_start + strlen(hard_start), &hard))
			return error_set(err, EINVAL, "ulimit \"%s\": bad hard limit \"%s\"", text,
					 hard_start);
	} else {
		hard = soft;
	}
	if (soft > hard)
		return error_set(err, EINVAL, "ulimit \"%s\": soft limit above the hard limit",
				 text);
	out->resource = resource;
	out->soft = soft;
	out->hard = hard;
	return 0;
}
