/* libFuzzer target: the text parsers behind flags and API fields that come
 * from users: --ulimit (parsed again by the API server at create), times
 * and durations (--since, --last). */
#include "util/rlimit.h"
#include "util/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct rlimit_setting rl;
	struct error err = ERROR_INIT;
	if (rlimit_parse(text, &rl, &err) == 0 && rl.soft > rl.hard)
		abort();
	error_release(&err);
	int64_t ns;
	(void)time_parse_rfc3339_ns(text, &ns);
	(void)time_parse_duration_ms(text);
	free(text);
	return 0;
}
