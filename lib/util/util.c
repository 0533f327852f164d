#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/random.h>

static void oom(void)
{
	fputs("container: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xzalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p = NULL;
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_monotonic_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t time_monotonic_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t time_realtime_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000;
}

void time_format_rfc3339(int64_t realtime_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(realtime_ms % 1000));
}

/* n decimal digits at *p into *out; advances *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

bool time_parse_rfc3339_ns(const char *text, int64_t *out)
{
	const char *p = text;
	int year, mon, day, hour = 0, min = 0, sec = 0;
	int64_t frac_ns = 0, offset_s = 0;
	if (!p || !digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) || *p++ != '-' ||
	    !digits(&p, 2, &day))
		return false;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return false;
		p++;
		if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min) || *p++ != ':' ||
		    !digits(&p, 2, &sec))
			return false;
		if (*p == '.') {
			p++;
			int64_t scale = 100000000;
			if (*p < '0' || *p > '9')
				return false;
			for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac_ns += scale * (*p - '0');
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
			    om > 59)
				return false;
			offset_s = sign * (oh * 3600 + om * 60);
		} else {
			return false;
		}
		if (*p)
			return false;
	}
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	/* days since the epoch of a proleptic Gregorian date (Howard Hinnant's
	 * days_from_civil) */
	int y = year - (mon <= 2);
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + doe - 719468;
	int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset_s;
	/* nanoseconds in 64 bits: the years 1678 to 2261 */
	if (secs <= INT64_MIN / 1000000000 || secs >= INT64_MAX / 1000000000)
		return false;
	*out = secs * 1000000000 + frac_ns;
	return true;
}

int64_t time_parse_duration_ms(const char *text)
{
	static const struct {
		const char *suffix;
		int64_t ms;
	} units[] = {
		{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	if (!text || !*text)
		return -1;
	errno = 0;
	char *end = NULL;
	long long value = strtoll(text, &end, 10);
	if (errno || end == text || value < 0)
		return -1;
	if (*end == '\0') /* a bare number means seconds */
		return value > INT64_MAX / 1000 ? -1 : value * 1000;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (value > INT64_MAX / units[i].ms)
				return -1;
			return value * units[i].ms;
		}
	}
	return -1;
}

void random_id(char out[RANDOM_ID_LEN + 1])
{
	unsigned char bytes[RANDOM_ID_LEN / 2];
	ssize_t got;
	do
		got = getrandom(bytes, sizeof(bytes), 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(bytes)) {
		/* Only uniqueness matters here (a clash is refused, never merged). */
		static unsigned counter;
		uint64_t t = (uint64_t)time_realtime_ms() ^ ((uint64_t)time_monotonic_us() << 20);
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (unsigned char)(t >> ((i % 8) * 8)) ^
				   (unsigned char)(getpid() >> (i % 4)) ^
				   (unsigned char)(counter * 31 + i);
		counter++;
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

bool name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len < 1 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}
