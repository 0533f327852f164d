/* Plugin discovery and config.json validation (DESIGN §7).
 *
 * <plugins-dir>/<name>/config.json, <plugins-dir>/<name>/bin/<name>
 *
 *   {
 *     "abstract": "one line",             required string
 *     "author": "who",                     optional string
 *     "version": "1.0",                    optional string
 *     "servicesConfig": {                  optional: absent = a CLI plugin
 *       "loadAtBoot": true,                optional bool, default false
 *       "services": [{"type": "core", "description": "..."}],
 *                                          required, non-empty; type is
 *                                          runtime, network or core
 *       "defaultArguments": ["start"]      optional array of strings
 *     }
 *   }
 */
#ifndef CONTAINER_PLUGIN_H
#define CONTAINER_PLUGIN_H

#include "../util/error.h"
#include <stdbool.h>
#include <stddef.h>

enum plugin_service_type {
	PLUGIN_SERVICE_RUNTIME = 1 << 0,
	PLUGIN_SERVICE_NETWORK = 1 << 1,
	PLUGIN_SERVICE_CORE = 1 << 2,
};

struct plugin_config {
	char *name;   /* directory name, also the binary's name */
	char *dir;    /* the plugin's directory */
	char *binary; /* <dir>/bin/<name> */
	char *abstract;
	char *author;  /* may be NULL */
	char *version; /* may be NULL */
	bool user;     /* found in the user directory */
	bool has_services;
	bool load_at_boot;
	unsigned service_types; /* PLUGIN_SERVICE_* bits */
	char **default_args;	/* NULL-terminated */
};

/* Names: [a-z0-9][a-z0-9._-]{0,63}, so a name is always a safe path part. */
bool plugin_name_valid(const char *name);
const char *plugin_service_type_name(enum plugin_service_type type);
/* Parses and validates config.json text; errors name the bad field. */
int plugin_config_parse(const char *text, size_t len, struct plugin_config *out, struct error *err);
/* Loads <dir>/config.json and checks that <dir>/bin/<name> is executable. */
int plugin_config_load(const char *dir, const char *name, bool user, struct plugin_config *out,
		       struct error *err);
void plugin_config_release(struct plugin_config *cfg);

/* What discovery reports besides the list: a broken config, a shadowed one. */
typedef void (*plugin_report_fn)(void *data, bool is_error, const char *message);

/* Scans the built-in then the user directory; a user plugin shadows a
 * built-in one of the same name (reported). Broken plugins are reported and
 * skipped, so one bad config never stops the others. */
void plugin_discover(const char *builtin_dir, const char *user_dir, struct plugin_config **out,
		     size_t *n, plugin_report_fn report, void *data);
void plugin_list_free(struct plugin_config *list, size_t n);
/* Finds one plugin by name (user directory first). */
int plugin_find(const char *builtin_dir, const char *user_dir, const char *name,
		struct plugin_config *out, struct error *err);

#endif
