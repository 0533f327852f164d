/* libFuzzer target: a plugin's config.json, read from directories users
 * can write to. */
#include "plugin/plugin.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plugin_config cfg;
	struct error err = ERROR_INIT;
	if (plugin_config_parse((const char *)data, size, &cfg, &err) == 0)
		plugin_config_release(&cfg);
	error_release(&err);
	return 0;
}
