#include "cli.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("container: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_FAIL;
}

int cli_fail_error(const struct error *err)
{
	return cli_fail("%s", err && err->message ? err->message : "unknown error");
}

void cli_debug(const struct cli *cli, const char *fmt, ...)
{
	if (!cli->debug)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("container: debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

static void group_help(FILE *out, const char *group, const struct cli_command *cmds, size_t n)
{
	fprintf(out, "Usage: container %s COMMAND [OPTIONS]\n\nCommands:\n", group);
	for (size_t i = 0; i < n; i++) {
		char name[64];
		if (cmds[i].alias)
			snprintf(name, sizeof(name), "%s, %s", cmds[i].name, cmds[i].alias);
		else
			snprintf(name, sizeof(name), "%s", cmds[i].name);
		fprintf(out, "  %-18s %s\n", name, cmds[i].summary);
	}
	fprintf(out, "\nRun 'container %s COMMAND --help' for a command's options.\n", group);
}

int cli_dispatch(struct cli *cli, const char *group, const struct cli_command *cmds, size_t n,
		 int argc, char **argv)
{
	if (argc < 2) {
		group_help(stderr, group, cmds, n);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		group_help(stdout, group, cmds, n);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0 ||
		    (cmds[i].alias && strcmp(argv[1], cmds[i].alias) == 0))
			return cmds[i].run(cli, argc - 1, argv + 1);
	cli_fail("unknown command '%s %s'; see 'container %s --help'", group, argv[1], group);
	return CLI_USAGE;
}

int cli_connect(struct cli *cli, struct ipc_client **out, struct error *err)
{
	_cleanup_free_ char *path = paths_apiserver_socket(&cli->paths);
	cli_debug(cli, "connecting to %s", path);
	if (ipc_client_connect(path, out, err) == 0)
		return 0;
	if (err->code == ENOENT || err->code == ECONNREFUSED) {
		int code = err->code;
		error_release(err);
		return error_set(err, code == ENOENT ? ENOTCONN : code,
				 "the API server is not running (nothing listens on %s): run "
				 "`container system start`",
				 path);
	}
	return -err->code;
}

int cli_call(struct cli *cli, const char *route, json_t *request, json_t **reply, struct error *err)
{
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, err) < 0)
		return -err->code;
	cli_debug(cli, "calling %s", route);
	int rc = ipc_call(c, route, request, reply, err);
	ipc_client_close(c);
	return rc;
}

int cli_parse_format(const char *text, enum cli_format *out)
{
	if (strcmp(text, "json") == 0)
		*out = CLI_FORMAT_JSON;
	else if (strcmp(text, "table") == 0)
		*out = CLI_FORMAT_TABLE;
	else {
		cli_fail("unknown format '%s': use 'table' or 'json'", text);
		return -1;
	}
	return 0;
}

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}

struct cli_table {
	size_t ncols, nrows;
	char **cells; /* row-major, header row first */
};

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	struct cli_table *t = xzalloc(sizeof(*t));
	t->ncols = ncols;
	cli_table_add(t, headers);
	return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	t->cells = xrealloc(t->cells, sizeof(char *) * t->ncols * (t->nrows + 1));
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

void cli_table_print(struct cli_table *t, FILE *out)
{
	_cleanup_free_ size_t *width = xzalloc(sizeof(size_t) * t->ncols);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t len = strlen(t->cells[r * t->ncols + c]);
			if (len > width[c])
				width[c] = len;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[c], cell);
		}
	}
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int cli_usage_error(const char *usage_text)
{
	fputs(usage_text, stderr);
	return CLI_USAGE;
}

void cli_format_size(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	size_t u = 0;
	/* 999.7 kB would print as "1e+03kB": it is 1 MB */
	while (bytes >= 999.5 && u + 1 < ARRAY_SIZE(units)) {
		bytes /= 1000;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f%s" : "%.3g%s", bytes, units[u]);
}
