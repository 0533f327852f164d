/* Plugin config.json validation and discovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "plugin/plugin.h"
#include "util/fs.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_valid_service_plugin(void **state)
{
	const char *text = "{\"abstract\":\"images\",\"author\":\"us\",\"version\":\"1\","
			   "\"servicesConfig\":{\"loadAtBoot\":true,\"services\":[{\"type\":"
			   "\"core\",\"description\":\"d\"},{\"type\":\"network\"}],"
			   "\"defaultArguments\":[\"start\",\"--debug\"]}}";
	struct plugin_config cfg;
	struct error err = ERROR_INIT;
	assert_int_equal(plugin_config_parse(text, strlen(text), &cfg, &err), 0);
	assert_string_equal(cfg.abstract, "images");
	assert_string_equal(cfg.author, "us");
	assert_true(cfg.has_services);
	assert_true(cfg.load_at_boot);
	assert_int_equal(cfg.service_types, PLUGIN_SERVICE_CORE | PLUGIN_SERVICE_NETWORK);
	assert_string_equal(cfg.default_args[0], "start");
	assert_string_equal(cfg.default_args[1], "--debug");
	assert_null(cfg.default_args[2]);
	plugin_config_release(&cfg);
}

static void test_valid_cli_plugin(void **state)
{
	const char *text = "{\"abstract\":\"a tool\"}";
	struct plugin_config cfg;
	struct error err = ERROR_INIT;
	assert_int_equal(plugin_config_parse(text, strlen(text), &cfg, &err), 0);
	assert_false(cfg.has_services);
	assert_false(cfg.load_at_boot);
	assert_null(cfg.author);
	assert_non_null(cfg.default_args);
	assert_null(cfg.default_args[0]);
	plugin_config_release(&cfg);
}

static void test_invalid_configs_name_the_field(void **state)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
		{"{", "invalid JSON"},
		{"[]", "the top level must be a JSON object"},
		{"{}", "missing required key 'abstract'"},
		{"{\"abstract\":3}", "key 'abstract' must be a string"},
		{"{\"abstract\":\"\"}", "key 'abstract' must not be empty"},
		{"{\"abstract\":\"x\",\"author\":[]}", "key 'author' must be a string"},
		{"{\"abstract\":\"x\",\"servicesConfig\":[]}",
		 "key 'servicesConfig' must be an object"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{}}",
		 "servicesConfig: missing required key 'services'"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"services\":[]}}",
		 "servicesConfig.services: must list at least one service"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"services\":[1]}}",
		 "servicesConfig.services[0]: must be an object"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"services\":[{}]}}",
		 "servicesConfig.services[0]: missing required key 'type'"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"services\":[{\"type\":\"core\"},"
		 "{\"type\":\"gpu\"}]}}",
		 "servicesConfig.services[1].type: 'gpu' is not one of runtime, network, core"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"loadAtBoot\":\"yes\",\"services\":[{"
		 "\"type\":\"core\"}]}}",
		 "servicesConfig: key 'loadAtBoot' must be a boolean"},
		{"{\"abstract\":\"x\",\"servicesConfig\":{\"services\":[{\"type\":\"core\"}],"
		 "\"defaultArguments\":[\"a\",1]}}",
		 "servicesConfig: key 'defaultArguments[1]' must be a string"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plugin_config cfg;
		struct error err = ERROR_INIT;
		assert_int_equal(
			plugin_config_parse(cases[i].text, strlen(cases[i].text), &cfg, &err),
			-EINVAL);
		if (!strstr(err.message, cases[i].message))
			fail_msg("case %zu: got '%s', want '%s'", i, err.message, cases[i].message);
		error_release(&err);
	}
}

static void test_names(void **state)
{
	assert_true(plugin_name_valid("core-images"));
	assert_true(plugin_name_valid("net.bridge_2"));
	assert_false(plugin_name_valid(""));
	assert_false(plugin_name_valid("../x"));
	assert_false(plugin_name_valid("-x"));
	assert_false(plugin_name_valid("Upper"));
	assert_false(plugin_name_valid("a/b"));
	char long_name[70];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_false(plugin_name_valid(long_name));
}

static void make_plugin(const char *root, const char *name, const char *config, bool exec)
{
	struct error err = ERROR_INIT;
	char *bin = xasprintf("%s/%s/bin", root, name);
	assert_int_equal(fs_mkdir_p(bin, 0755, &err), 0);
	char *cfg = xasprintf("%s/%s/config.json", root, name);
	assert_int_equal(fs_write_file_atomic(cfg, config, strlen(config), 0644, &err), 0);
	char *exe = xasprintf("%s/%s", bin, name);
	assert_int_equal(fs_write_file_atomic(exe, "#!/bin/sh\n", 10, exec ? 0755 : 0644, &err), 0);
	free(bin);
	free(cfg);
	free(exe);
}

struct reports {
	int errors, infos;
	char last_error[512];
	char last_info[512];
};

static void collect(void *data, bool is_error, const char *message)
{
	struct reports *r = data;
	if (is_error) {
		r->errors++;
		snprintf(r->last_error, sizeof(r->last_error), "%s", message);
	} else {
		r->infos++;
		snprintf(r->last_info, sizeof(r->last_info), "%s", message);
	}
}

static void test_discovery_shadowing_and_broken(void **state)
{
	char dir[] = "/tmp/plugin-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *builtin = xasprintf("%s/builtin", dir), *user = xasprintf("%s/user", dir);
	make_plugin(builtin, "alpha", "{\"abstract\":\"built-in alpha\"}", true);
	make_plugin(builtin, "beta", "{\"abstract\":\"beta\"}", true);
	make_plugin(builtin, "broken", "{\"abstract\":", true);
	make_plugin(builtin, "noexec", "{\"abstract\":\"x\"}", false);
	make_plugin(user, "alpha", "{\"abstract\":\"user alpha\"}", true);
	struct plugin_config *list = NULL;
	size_t n = 0;
	struct reports r = {0};
	plugin_discover(builtin, user, &list, &n, collect, &r);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "alpha");
	assert_string_equal(list[0].abstract, "user alpha");
	assert_true(list[0].user);
	assert_string_equal(list[1].name, "beta");
	assert_int_equal(r.errors, 2);
	assert_int_equal(r.infos, 1);
	assert_non_null(strstr(r.last_info, "shadows"));
	plugin_list_free(list, n);

	struct plugin_config cfg;
	struct error err = ERROR_INIT;
	assert_int_equal(plugin_find(builtin, user, "alpha", &cfg, &err), 0);
	assert_true(cfg.user);
	plugin_config_release(&cfg);
	assert_int_equal(plugin_find(builtin, user, "nosuch", &cfg, &err), -ENOENT);
	error_release(&err);
	assert_int_equal(plugin_find(builtin, user, "../etc", &cfg, &err), -ENOENT);
	error_release(&err);
	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(builtin);
	free(user);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_service_plugin),
		cmocka_unit_test(test_valid_cli_plugin),
		cmocka_unit_test(test_invalid_configs_name_the_field),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_discovery_shadowing_and_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
