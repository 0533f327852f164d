/* container: the command-line client.
 *
 *   container [--app-root DIR] [--run-root DIR] [--log-root DIR] [--debug] COMMAND ...
 */
#include "build-info.h"
#include "cli.h"
#include "util/util.h"

#include <getopt.h>
#include <signal.h>
#include <string.h>

static const struct cli_command commands[] = {
	{"system", NULL, cli_system, "manage the container system (start, stop, status, logs)"},
	{"image", NULL, cli_image, "manage images (load, save, import, list, ...)"},
	{"volume", NULL, cli_volume, "manage volumes"},
	{"plugin", NULL, cli_plugin, "list and manage plugins"},
};

static void usage(FILE *out)
{
	fputs("Usage: container [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
	      "\n"
	      "Linux containers managed by one API server.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < cli_container_ncommands; i++) {
		char name[32];
		const struct cli_command *c = &cli_container_commands[i];
		snprintf(name, sizeof(name), "%s%s%s", c->name, c->alias ? ", " : "",
			 c->alias ? c->alias : "");
		fprintf(out, "  %-10s %s\n", name, c->summary);
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("  NAME       run the CLI plugin NAME (see `container plugin list`)\n"
	      "\n"
	      "Global options:\n"
	      "  --app-root DIR  state directory (env CONTAINER_APP_ROOT, default "
	      "/var/lib/container)\n"
	      "  --run-root DIR  sockets and pid files (env CONTAINER_RUN_ROOT, default "
	      "/run/container)\n"
	      "  --log-root DIR  log files (env CONTAINER_LOG_ROOT, default <app-root>/logs)\n"
	      "  --debug         print what the CLI does; `system start --debug` also makes the\n"
	      "                  API server log at debug level\n"
	      "  -h, --help      show this help\n"
	      "  -v, --version   print the CLI's version\n"
	      "\n"
	      "Run 'container COMMAND --help' for a command's options.\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"app-root", required_argument, NULL, 'a'},
		{"run-root", required_argument, NULL, 'r'},
		{"log-root", required_argument, NULL, 'l'},
		{"debug", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'v'},
		{0},
	};
	struct cli cli = {0};
	signal(SIGPIPE, SIG_IGN);
	int opt;
	/* "+": stop at the first non-option, which is the command. */
	while ((opt = getopt_long(argc, argv, "+hv", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			cli.app_root_flag = optarg;
			break;
		case 'r':
			cli.run_root_flag = optarg;
			break;
		case 'l':
			cli.log_root_flag = optarg;
			break;
		case 'd':
			cli.debug = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'v':
			printf("container version %s (%s)\n", CONTAINER_VERSION,
			       CONTAINER_GIT_COMMIT);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	paths_resolve(&cli.paths, cli.app_root_flag, cli.run_root_flag, cli.log_root_flag);
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	/* getopt in the sub-commands starts afresh. */
	optind = 0;
	int rc = -1;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(sub_argv[0], commands[i].name) == 0)
			rc = commands[i].run(&cli, sub_argc, sub_argv);
	for (size_t i = 0; rc < 0 && i < cli_container_ncommands; i++) {
		const struct cli_command *c = &cli_container_commands[i];
		if (strcmp(sub_argv[0], c->name) == 0 ||
		    (c->alias && strcmp(sub_argv[0], c->alias) == 0))
			rc = c->run(&cli, sub_argc, sub_argv);
	}
	if (rc < 0) {
		if (strcmp(sub_argv[0], "help") == 0) {
			usage(stdout);
			rc = CLI_OK;
		} else {
			rc = cli_run_plugin(&cli, sub_argc, sub_argv);
		}
	}
	paths_release(&cli.paths);
	return rc;
}
