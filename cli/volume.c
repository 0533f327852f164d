/* container volume create|list|inspect|delete|prune */
#include "cli.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

/* Options that take no argument but --help; returns -1 to go on, else the
 * exit code. */
static int only_help(int argc, char **argv, const char *usage_text)
{
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_text, stdout);
			return CLI_OK;
		}
		return cli_usage_error(usage_text);
	}
	return -1;
}

/* ---- create ---- */

static const char create_usage[] =
	"Usage: container volume create [--label KEY=VALUE]... [--opt KEY=VALUE]... [NAME]\n"
	"\n"
	"Creates a volume and prints its name; without NAME it gets a random one.\n"
	"NAME is 1 to 128 of [a-zA-Z0-9_.-], starting with a letter or digit.\n"
	"\n"
	"Options:\n"
	"  --label KEY=VALUE      set a label (repeatable)\n"
	"  -o, --opt KEY=VALUE    set a driver option (repeatable; recorded only)\n"
	"  -h, --help             show this help\n";

/* Adds "KEY=VALUE" to the object map; false (after saying why) if malformed. */
static bool add_key_value(json_t *map, const char *flag, const char *text)
{
	const char *eq = strchr(text, '=');
	if (!eq || eq == text) {
		cli_fail("--%s wants KEY=VALUE, not '%s'", flag, text);
		return false;
	}
	_cleanup_free_ char *key = xstrndup(text, (size_t)(eq - text));
	json_object_set_new(map, key, json_string(eq + 1));
	return true;
}

static int volume_create(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"label", required_argument, NULL, 'l'},
		{"opt", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_json_ json_t *labels = json_object(), *opts = json_object();
	int opt;
	while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (!add_key_value(labels, "label", optarg))
				return CLI_USAGE;
			break;
		case 'o':
			if (!add_key_value(opts, "opt", optarg))
				return CLI_USAGE;
			break;
		case 'h':
			fputs(create_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(create_usage);
		}
	}
	if (argc - optind > 1) {
		cli_fail("create takes at most one volume name");
		return cli_usage_error(create_usage);
	}
	_cleanup_json_ json_t *request = json_pack("{s:O,s:O}", "labels", labels, "options", opts);
	if (optind < argc)
		json_object_set_new(request, "name", json_string(argv[optind]));
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (cli_call(cli, "volumeCreate", request, &reply, &err) < 0)
		return cli_fail_error(&err);
	puts(json_string_value(json_object_get(json_object_get(reply, "volume"), "name")));
	return CLI_OK;
}

/* ---- list ---- */

static const char list_usage[] = "Usage: container volume list [-q] [--format table|json]\n"
				 "\n"
				 "Lists volumes.\n"
				 "\n"
				 "Options:\n"
				 "  -q, --quiet      print names only\n"
				 "  --format FORMAT  table (default) or json\n"
				 "  -h, --help       show this help\n";

static int volume_list(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool quiet = false;
	enum cli_format format = CLI_FORMAT_TABLE;
	int opt;
	while ((opt = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = true;
			break;
		case 'f':
			if (cli_parse_format(optarg, &format) < 0)
				return CLI_USAGE;
			break;
		case 'h':
			fputs(list_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(list_usage);
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (cli_call(cli, "volumeList", NULL, &reply, &err) < 0)
		return cli_fail_error(&err);
	json_t *volumes = json_object_get(reply, "volumes");
	if (format == CLI_FORMAT_JSON) {
		cli_print_json(volumes);
		return CLI_OK;
	}
	size_t i;
	json_t *v;
	if (quiet) {
		json_array_foreach(volumes, i, v)
		{
			puts(json_string_value(json_object_get(v, "name")));
		}
		return CLI_OK;
	}
	static const char *const headers[] = {"NAME", "CREATED", "MOUNTPOINT"};
	struct cli_table *t = cli_table_new(ARRAY_SIZE(headers), headers);
	json_array_foreach(volumes, i, v)
	{
		char created[20] = "";
		const char *at = json_string_value(json_object_get(v, "createdAt"));
		/* "2026-11-23T14:07:11.123Z" -> "2026-11-23T14:07:11" */
		snprintf(created, sizeof(created), "%s", at ? at : "");
		const char *cells[] = {json_string_value(json_object_get(v, "name")), created,
				       json_string_value(json_object_get(v, "mountpoint"))};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_OK;
}

/* ---- inspect ---- */

static const char inspect_usage[] = "Usage: container volume inspect NAME...\n"
				    "\n"
				    "Prints the volumes as a JSON array.\n"
				    "\n"
				    "Options:\n"
				    "  -h, --help  show this help\n";

static int volume_inspect(struct cli *cli, int argc, char **argv)
{
	int rc = only_help(argc, argv, inspect_usage);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		cli_fail("name at least one volume");
		return cli_usage_error(inspect_usage);
	}
	_cleanup_json_ json_t *all = json_array();
	rc = CLI_OK;
	for (int i = optind; i < argc; i++) {
		_cleanup_json_ json_t *request = json_pack("{s:s}", "name", argv[i]);
		_cleanup_json_ json_t *reply = NULL;
		_cleanup_error_ struct error err = ERROR_INIT;
		if (cli_call(cli, "volumeInspect", request, &reply, &err) < 0) {
			rc = cli_fail_error(&err);
			if (err.code != ENOENT)
				return rc;
			continue;
		}
		json_array_append(all, json_object_get(reply, "volume"));
	}
	cli_print_json(all);
	return rc;
}

/* ---- delete and prune ---- */

static const char delete_usage[] = "Usage: container volume delete NAME...\n"
				   "\n"
				   "Removes volumes and everything in them. A volume that a\n"
				   "container uses (running or not) is not removed: remove the\n"
				   "container first.\n"
				   "\n"
				   "Options:\n"
				   "  -h, --help  show this help\n";

static int volume_delete(struct cli *cli, int argc, char **argv)
{
	int rc = only_help(argc, argv, delete_usage);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		cli_fail("name at least one volume");
		return cli_usage_error(delete_usage);
	}
	rc = CLI_OK;
	for (int i = optind; i < argc; i++) {
		_cleanup_json_ json_t *request = json_pack("{s:s}", "name", argv[i]);
		_cleanup_json_ json_t *reply = NULL;
		_cleanup_error_ struct error err = ERROR_INIT;
		if (cli_call(cli, "volumeDelete", request, &reply, &err) < 0) {
			rc = cli_fail_error(&err);
			/* the others are independent; the server being gone is not */
			if (err.code == ENOTCONN || err.code == ECONNREFUSED)
				return rc;
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

static const char prune_usage[] = "Usage: container volume prune\n"
				  "\n"
				  "Removes every volume that no container uses, and prints what\n"
				  "it removed and the space that freed.\n"
				  "\n"
				  "Options:\n"
				  "  -h, --help  show this help\n";

static int volume_prune(struct cli *cli, int argc, char **argv)
{
	int rc = only_help(argc, argv, prune_usage);
	if (rc >= 0)
		return rc;
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (cli_call(cli, "volumePrune", NULL, &reply, &err) < 0)
		return cli_fail_error(&err);
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(reply, "deleted"), i, name)
	{
		printf("Deleted: %s\n", json_string_value(name));
	}
	char size[16];
	cli_format_size((double)json_integer_value(json_object_get(reply, "reclaimed")), size,
			sizeof(size));
	printf("Reclaimed space: %s\n", size);
	return CLI_OK;
}

static const struct cli_command volume_commands[] = {
	{"create", NULL, volume_create, "create a volume"},
	{"list", "ls", volume_list, "list volumes"},
	{"inspect", NULL, volume_inspect, "show volumes as JSON"},
	{"delete", "rm", volume_delete, "remove volumes"},
	{"prune", NULL, volume_prune, "remove every volume no container uses"},
};

int cli_volume(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "volume", volume_commands, ARRAY_SIZE(volume_commands), argc,
			    argv);
}
