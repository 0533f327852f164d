#include "plugin.h"
#include "../json/jsonutil.h"
#include "../util/fs.h"
#include "../util/util.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
	enum plugin_service_type type;
	const char *name;
} service_types[] = {
	{PLUGIN_SERVICE_RUNTIME, "runtime"},
	{PLUGIN_SERVICE_NETWORK, "network"},
	{PLUGIN_SERVICE_CORE, "core"},
};

const char *plugin_service_type_name(enum plugin_service_type type)
{
	for (size_t i = 0; i < ARRAY_SIZE(service_types); i++)
		if (service_types[i].type == type)
			return service_types[i].name;
	return "unknown";
}

bool plugin_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

static int parse_services(json_t *services_config, struct plugin_config *out, struct error *err)
{
	if (json_get_bool(services_config, "loadAtBoot", false, &out->load_at_boot, err) < 0)
		return error_prefix(err, "servicesConfig");
	json_t *services = NULL;
	if (json_get_array(services_config, "services", true, &services, err) < 0)
		return error_prefix(err, "servicesConfig");
	if (json_array_size(services) == 0)
		return error_set(err, EINVAL,
				 "servicesConfig.services: must list at least one "
				 "service");
	size_t i;
	json_t *svc;
	json_array_foreach(services, i, svc)
	{
		if (!json_is_object(svc))
			return error_set(err, EINVAL,
					 "servicesConfig.services[%zu]: must be an "
					 "object",
					 i);
		const char *type = NULL, *description = NULL;
		if (json_get_string(svc, "type", true, &type, err) < 0 ||
		    json_get_string(svc, "description", false, &description, err) < 0)
			return error_prefix(err, "servicesConfig.services[%zu]", i);
		unsigned bit = 0;
		for (size_t k = 0; k < ARRAY_SIZE(service_types); k++)
			if (strcmp(type, service_types[k].name) == 0)
				bit = service_types[k].type;
		if (!bit)
			return error_set(err, EINVAL,
					 "servicesConfig.services[%zu].type: '%s' is not one of "
					 "runtime, network, core",
					 i, type);
		out->service_types |= bit;
	}
	json_t *args = NULL;
	if (json_get_string_array(services_config, "defaultArguments", false, &args, err) < 0)
		return error_prefix(err, "servicesConfig");
	size_t nargs = args ? json_array_size(args) : 0;
	out->default_args = xzalloc(sizeof(char *) * (nargs + 1));
	for (size_t k = 0; k < nargs; k++)
		out->default_args[k] = xstrdup(json_string_value(json_array_get(args, k)));
	out->has_services = true;
	return 0;
}

int plugin_config_parse(const char *text, size_t len, struct plugin_config *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	_cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	if (!json_is_object(root))
		return error_set(err, EINVAL, "the top level must be a JSON object");
	const char *abstract = NULL, *author = NULL, *version = NULL;
	if (json_get_string(root, "abstract", true, &abstract, err) < 0 ||
	    json_get_string(root, "author", false, &author, err) < 0 ||
	    json_get_string(root, "version", false, &version, err) < 0)
		return -err->code;
	if (!*abstract)
		return error_set(err, EINVAL, "key 'abstract' must not be empty");
	out->abstract = xstrdup(abstract);
	out->author = author ? xstrdup(author) : NULL;
	out->version = version ? xstrdup(version) : NULL;
	json_t *services_config = NULL;
	int rc = json_get_object(root, "servicesConfig", false, &services_config, err);
	if (rc == 0 && services_config)
		rc = parse_services(services_config, out, err);
	if (rc == 0 && !out->default_args)
		out->default_args = xzalloc(sizeof(char *));
	if (rc < 0)
		plugin_config_release(out);
	return rc;
}

int plugin_config_load(const char *dir, const char *name, bool user, struct plugin_config *out,
		       struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (!plugin_name_valid(name))
		return error_set(err, EINVAL,
				 "plugin name '%s' is not valid (lower case letters, "
				 "digits, '.', '_', '-')",
				 name);
	_cleanup_free_ char *path = xasprintf("%s/config.json", dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, 1 << 20, &text, &len, err) < 0)
		return -err->code;
	if (plugin_config_parse(text, len, out, err) < 0)
		return error_prefix(err, "%s", path);
	out->name = xstrdup(name);
	out->dir = xstrdup(dir);
	out->binary = xasprintf("%s/bin/%s", dir, name);
	out->user = user;
	struct stat st;
	if (stat(out->binary, &st) < 0 || !S_ISREG(st.st_mode) || access(out->binary, X_OK) < 0) {
		int rc = error_set(err, errno ? errno : EACCES,
				   "plugin %s: %s is missing or not executable", name, out->binary);
		plugin_config_release(out);
		return rc;
	}
	return 0;
}

void plugin_config_release(struct plugin_config *cfg)
{
	free(cfg->name);
	free(cfg->dir);
	free(cfg->binary);
	free(cfg->abstract);
	free(cfg->author);
	free(cfg->version);
	if (cfg->default_args)
		for (char **a = cfg->default_args; *a; a++)
			free(*a);
	free(cfg->default_args);
	memset(cfg, 0, sizeof(*cfg));
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(((const struct plugin_config *)a)->name,
		      ((const struct plugin_config *)b)->name);
}

static void scan_dir(const char *root, bool user, struct plugin_config **list, size_t *n,
		     plugin_report_fn report, void *data)
{
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *dir = xasprintf("%s/%s", root, de->d_name);
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		struct plugin_config cfg;
		_cleanup_error_ struct error err = ERROR_INIT;
		if (plugin_config_load(dir, de->d_name, user, &cfg, &err) < 0) {
			if (report) {
				_cleanup_free_ char *msg = xasprintf("skipping plugin %s: %s",
								     de->d_name, err.message);
				report(data, true, msg);
			}
			continue;
		}
		size_t existing = *n;
		for (size_t i = 0; i < *n; i++)
			if (strcmp((*list)[i].name, cfg.name) == 0)
				existing = i;
		if (existing < *n) {
			if (report) {
				_cleanup_free_ char *msg = xasprintf(
					"user plugin %s (%s) shadows the built-in one in %s",
					cfg.name, cfg.dir, (*list)[existing].dir);
				report(data, false, msg);
			}
			plugin_config_release(&(*list)[existing]);
			(*list)[existing] = cfg;
			continue;
		}
		*list = xrealloc(*list, sizeof(**list) * (*n + 1));
		(*list)[(*n)++] = cfg;
	}
	closedir(d);
}

void plugin_discover(const char *builtin_dir, const char *user_dir, struct plugin_config **out,
		     size_t *n, plugin_report_fn report, void *data)
{
	*out = NULL;
	*n = 0;
	scan_dir(builtin_dir, false, out, n, report, data);
	if (user_dir && strcmp(user_dir, builtin_dir) != 0)
		scan_dir(user_dir, true, out, n, report, data);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), compare_names);
}

void plugin_list_free(struct plugin_config *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		plugin_config_release(&list[i]);
	free(list);
}

int plugin_find(const char *builtin_dir, const char *user_dir, const char *name,
		struct plugin_config *out, struct error *err)
{
	if (!plugin_name_valid(name))
		return error_set(err, ENOENT, "no plugin named '%s'", name);
	const char *roots[] = {user_dir, builtin_dir};
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		if (!roots[i])
			continue;
		_cleanup_free_ char *dir = xasprintf("%s/%s", roots[i], name);
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		return plugin_config_load(dir, name, i == 0, out, err);
	}
	return error_set(err, ENOENT, "no plugin named '%s'", name);
}
