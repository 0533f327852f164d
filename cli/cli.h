/* The `container` CLI: one file per command group, dispatched by tables. */
#ifndef CONTAINER_CLI_H
#define CONTAINER_CLI_H

#include "ipc/client.h"
#include "util/error.h"
#include "util/paths.h"

#include <jansson.h>
#include <stdbool.h>

struct cli {
	struct paths paths;
	bool debug;
	const char *app_root_flag, *run_root_flag, *log_root_flag;
};

struct cli_command {
	const char *name;
	const char *alias;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

/* Exit codes: 0 success, 1 failure, 2 bad usage. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Finds and runs a sub-command from a table; prints the group's help for
 * -h/--help or no sub-command. */
int cli_dispatch(struct cli *cli, const char *group, const struct cli_command *cmds, size_t n,
		 int argc, char **argv);
/* Prints the usage text to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *usage_text);
/* Sizes as Docker prints them: powers of 1000, three significant digits. */
void cli_format_size(double bytes, char *buf, size_t len);
/* Prints "container: message" to stderr and returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail_error(const struct error *err);
void cli_debug(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv holds -h or --help before any "--". */
bool cli_wants_help(int argc, char **argv);

/* Connects to the apiserver; when it is not running, err says so and what
 * to do next. */
int cli_connect(struct cli *cli, struct ipc_client **out, struct error *err);
/* Connects, calls one route, closes. */
int cli_call(struct cli *cli, const char *route, json_t *request, json_t **reply,
	     struct error *err);

/* --format table|json */
enum cli_format { CLI_FORMAT_TABLE, CLI_FORMAT_JSON };
int cli_parse_format(const char *text, enum cli_format *out);
void cli_print_json(json_t *j);

/* A table: add rows of strings, then print with aligned columns. */
struct cli_table;
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* Command groups. */
int cli_system(struct cli *cli, int argc, char **argv);
int cli_plugin(struct cli *cli, int argc, char **argv);
int cli_image(struct cli *cli, int argc, char **argv);
int cli_volume(struct cli *cli, int argc, char **argv);
/* Top-level container commands (run, create, start, ...). */
extern const struct cli_command cli_container_commands[];
extern const size_t cli_container_ncommands;
/* `container <name> args...` for a CLI plugin; returns only on failure. */
int cli_run_plugin(struct cli *cli, int argc, char **argv);

#endif
