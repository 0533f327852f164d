/* container plugin list|get|load|unload|restart, and running CLI plugins. */
#include "cli.h"
#include "json/jsonutil.h"
#include "plugin/plugin.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static int parse(int argc, char **argv, const char *usage_text, enum cli_format *format,
		 bool *quiet, int nargs, const char **arg)
{
	static const struct option options[] = {
		{"format", required_argument, NULL, 'f'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (!format || cli_parse_format(optarg, format) < 0)
				goto usage;
			break;
		case 'q':
			if (!quiet)
				goto usage;
			*quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			goto usage;
		}
	}
	if (argc - optind != nargs) {
		if (argc - optind < nargs)
			cli_fail("missing plugin name");
		else
			cli_fail("unexpected argument '%s'", argv[optind + nargs]);
		goto usage;
	}
	if (nargs)
		*arg = argv[optind];
	return 0;
usage:
	fputs(usage_text, stderr);
	return -CLI_USAGE;
}

static const char list_usage[] = "Usage: container plugin list [-q] [--format table|json]\n"
				 "\n"
				 "Lists the plugins the API server found, with their state.\n"
				 "\n"
				 "Options:\n"
				 "  -q, --quiet      print names only\n"
				 "  --format FORMAT  table (default) or json\n"
				 "  -h, --help       show this help\n";

static int plugin_list(struct cli *cli, int argc, char **argv)
{
	enum cli_format format = CLI_FORMAT_TABLE;
	bool quiet = false;
	int rc = parse(argc, argv, list_usage, &format, &quiet, 0, NULL);
	if (rc != 0)
		return rc > 0 ? CLI_OK : -rc;
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	if (cli_call(cli, "pluginList", NULL, &reply, &err) < 0)
		return cli_fail_error(&err);
	json_t *plugins = json_object_get(reply, "plugins");
	if (format == CLI_FORMAT_JSON) {
		cli_print_json(plugins);
		return CLI_OK;
	}
	size_t i;
	json_t *p;
	if (quiet) {
		json_array_foreach(plugins, i, p)
		{
			puts(json_string_value(json_object_get(p, "name")));
		}
		return CLI_OK;
	}
	static const char *const headers[] = {"NAME", "KIND",	  "SERVICES", "STATE",
					      "PID",  "RESTARTS", "ABSTRACT"};
	struct cli_table *t = cli_table_new(7, headers);
	json_array_foreach(plugins, i, p)
	{
		char services[64] = "", pid[16] = "", restarts[16];
		size_t k;
		json_t *s;
		json_array_foreach(json_object_get(p, "services"), k, s)
		{
			if (k)
				strncat(services, ",", sizeof(services) - strlen(services) - 1);
			strncat(services, json_string_value(s),
				sizeof(services) - strlen(services) - 1);
		}
		if (json_is_integer(json_object_get(p, "pid")))
			snprintf(pid, sizeof(pid), "%lld",
				 (long long)json_integer_value(json_object_get(p, "pid")));
		snprintf(restarts, sizeof(restarts), "%lld",
			 (long long)json_integer_value(json_object_get(p, "restarts")));
		const char *cells[] = {
			json_string_value(json_object_get(p, "name")),
			json_string_value(json_object_get(p, "kind")),
			services[0] ? services : "-",
			json_string_value(json_object_get(p, "state")),
			pid,
			restarts,
			json_string_value(json_object_get(p, "abstract")),
		};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_OK;
}

static int plugin_action(struct cli *cli, int argc, char **argv, const char *route,
			 const char *usage_text, const char *done)
{
	const char *name = NULL;
	int rc = parse(argc, argv, usage_text, NULL, NULL, 1, &name);
	if (rc != 0)
		return rc > 0 ? CLI_OK : -rc;
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *request = json_pack("{s:s}", "name", name);
	_cleanup_json_ json_t *reply = NULL;
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, &err) < 0)
		return cli_fail_error(&err);
	/* unload and restart answer once the old process is gone (<= 5 s + KILL). */
	ipc_client_set_timeout(c, 60000);
	rc = ipc_call(c, route, request, &reply, &err);
	ipc_client_close(c);
	if (rc < 0)
		return cli_fail_error(&err);
	json_t *plugin = json_object_get(reply, "plugin");
	if (!done) {
		cli_print_json(plugin);
		return CLI_OK;
	}
	json_t *pid = json_object_get(plugin, "pid");
	if (json_is_integer(pid))
		printf("%s %s (pid %lld)\n", name, done, (long long)json_integer_value(pid));
	else
		printf("%s %s\n", name, done);
	return CLI_OK;
}

#define ACTION_USAGE(verb, text)                                                                   \
	"Usage: container plugin " verb " NAME\n\n" text "\n\nOptions:\n  -h, --help  show this "  \
	"help\n"

static int plugin_get(struct cli *cli, int argc, char **argv)
{
	return plugin_action(cli, argc, argv, "pluginGet",
			     ACTION_USAGE("get", "Prints one plugin's configuration and state as "
						 "JSON."),
			     NULL);
}

static int plugin_load(struct cli *cli, int argc, char **argv)
{
	return plugin_action(cli, argc, argv, "pluginLoad",
			     ACTION_USAGE("load", "Starts a service plugin and keeps it running."),
			     "loaded");
}

static int plugin_unload(struct cli *cli, int argc, char **argv)
{
	return plugin_action(
		cli, argc, argv, "pluginUnload",
		ACTION_USAGE("unload", "Stops a service plugin; it is not restarted until loaded."),
		"unloaded");
}

static int plugin_restart(struct cli *cli, int argc, char **argv)
{
	return plugin_action(cli, argc, argv, "pluginRestart",
			     ACTION_USAGE("restart", "Stops a service plugin and starts it again."),
			     "restarted");
}

static const struct cli_command plugin_commands[] = {
	{"list", "ls", plugin_list, "list plugins"},
	{"get", "inspect", plugin_get, "show one plugin as JSON"},
	{"load", NULL, plugin_load, "start a service plugin"},
	{"unload", NULL, plugin_unload, "stop a service plugin"},
	{"restart", NULL, plugin_restart, "restart a service plugin"},
};

int cli_plugin(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "plugin", plugin_commands, ARRAY_SIZE(plugin_commands), argc,
			    argv);
}

int cli_run_plugin(struct cli *cli, int argc, char **argv)
{
	_cleanup_error_ struct error err = ERROR_INIT;
	struct plugin_config cfg;
	if (plugin_find(cli->paths.builtin_plugins, cli->paths.user_plugins, argv[0], &cfg, &err) <
	    0) {
		if (err.code == ENOENT) {
			cli_fail("unknown command '%s'; see 'container --help'", argv[0]);
			return CLI_USAGE;
		}
		return cli_fail_error(&err);
	}
	if (cfg.has_services) {
		cli_fail("plugin %s provides services; manage it with `container plugin`",
			 cfg.name);
		plugin_config_release(&cfg);
		return CLI_USAGE;
	}
	setenv("CONTAINER_APP_ROOT", cli->paths.app_root, 1);
	setenv("CONTAINER_RUN_ROOT", cli->paths.run_root, 1);
	setenv("CONTAINER_LOG_ROOT", cli->paths.log_root, 1);
	setenv("CONTAINER_INSTALL_ROOT", cli->paths.install_root, 1);
	setenv("CONTAINER_PLUGIN_NAME", cfg.name, 1);
	cli_debug(cli, "running plugin %s", cfg.binary);
	argv[0] = cfg.binary;
	execv(cfg.binary, argv);
	int saved = errno;
	cli_fail("cannot run plugin %s: %s", cfg.binary, strerror(saved));
	plugin_config_release(&cfg);
	return 126;
}
