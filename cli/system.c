/* container system start|stop|status|version|logs */
#include "build-info.h"
#include "cli.h"
#include "json/jsonutil.h"
#include "util/fs.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SYSTEMD_UNIT	  "container-apiserver.service"
#define SYSTEMD_UNIT_PATH "/etc/systemd/system/" SYSTEMD_UNIT

/* Parses the options every system command shares: --help and --format. */
static int parse_simple(int argc, char **argv, const char *usage_text, enum cli_format *format)
{
	static const struct option options[] = {
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (!format) {
				fputs(usage_text, stderr);
				return -CLI_USAGE;
			}
			if (cli_parse_format(optarg, format) < 0)
				return -CLI_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			fputs(usage_text, stderr);
			return -CLI_USAGE;
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return -CLI_USAGE;
	}
	return 0;
}

static int ping(struct cli *cli, json_t **reply, struct error *err)
{
	return cli_call(cli, "ping", NULL, reply, err);
}

/* systemd runs as PID 1 and nobody moved the roots: the unit owns the daemon. */
static bool use_systemd(const struct cli *cli)
{
	if (access("/run/systemd/system", F_OK) != 0)
		return false;
	if (cli->app_root_flag || cli->run_root_flag || cli->log_root_flag)
		return false;
	return !getenv("CONTAINER_APP_ROOT") && !getenv("CONTAINER_RUN_ROOT") &&
	       !getenv("CONTAINER_LOG_ROOT");
}

static int run_wait(char *const argv[], struct error *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return error_errno(err, errno, "fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "container: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return error_errno(err, errno, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return error_set(err, EIO, "%s failed", argv[0]);
	return 0;
}

static char *apiserver_binary(const struct cli *cli)
{
	return xasprintf("%s/bin/container-apiserver", cli->paths.install_root);
}

static int start_with_systemd(struct cli *cli, struct error *err)
{
	_cleanup_free_ char *bin = apiserver_binary(cli);
	_cleanup_free_ char *unit = xasprintf("[Unit]\n"
					      "Description=container API server\n"
					      "After=network.target\n"
					      "\n"
					      "[Service]\n"
					      "ExecStart=%s start --foreground%s\n"
					      "KillMode=process\n"
					      "Delegate=yes\n"
					      "Restart=on-failure\n"
					      "\n"
					      "[Install]\n"
					      "WantedBy=multi-user.target\n",
					      bin, cli->debug ? " --debug" : "");
	if (fs_write_file_atomic(SYSTEMD_UNIT_PATH, unit, strlen(unit), 0644, err) < 0)
		return -err->code;
	char *reload[] = {"systemctl", "daemon-reload", NULL};
	char *start[] = {"systemctl", "start", SYSTEMD_UNIT, NULL};
	if (run_wait(reload, err) < 0 || run_wait(start, err) < 0)
		return -err->code;
	return 0;
}

/* Runs `container-apiserver start` in a new session; it detaches itself and
 * exits once it listens (or with the reason it cannot). */
static int start_detached(struct cli *cli, int timeout_ms, struct error *err)
{
	_cleanup_free_ char *bin = apiserver_binary(cli);
	char *argv[12];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "start";
	argv[n++] = "--app-root";
	argv[n++] = cli->paths.app_root;
	argv[n++] = "--run-root";
	argv[n++] = cli->paths.run_root;
	argv[n++] = "--log-root";
	argv[n++] = cli->paths.log_root;
	if (cli->debug)
		argv[n++] = "--debug";
	argv[n] = NULL;
	cli_debug(cli, "running %s", bin);
	pid_t pid = fork();
	if (pid < 0)
		return error_errno(err, errno, "fork");
	if (pid == 0) {
		setsid();
		execv(bin, argv);
		fprintf(stderr, "container: cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	int64_t deadline = time_monotonic_ms() + timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return 0;
			return error_set(err, EIO,
					 "the API server did not start (see above, and "
					 "`container system logs`)");
		}
		if (time_monotonic_ms() >= deadline) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
			return error_set(err, ETIMEDOUT,
					 "the API server did not start within %d ms", timeout_ms);
		}
		usleep(5000);
	}
}

static int wait_for_ping(struct cli *cli, int64_t deadline, json_t **reply, struct error *err)
{
	for (;;) {
		error_release(err);
		if (ping(cli, reply, err) == 0)
			return 0;
		if (time_monotonic_ms() >= deadline)
			return error_prefix(err, "the API server does not answer");
		usleep(10000);
	}
}

static const char start_usage[] =
	"Usage: container system start [--timeout SECONDS] [--debug]\n"
	"\n"
	"Starts the API server (under systemd when systemd runs the machine and the\n"
	"default roots are used, else as a detached daemon) and waits until it answers.\n"
	"\n"
	"Options:\n"
	"  --timeout SECONDS  how long to wait for the API server (default 10)\n"
	"  --debug            make the API server log at debug level\n"
	"  -h, --help         show this help\n";

static int system_start(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"timeout", required_argument, NULL, 't'},
		{"debug", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int timeout_ms = 10000;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			double secs = strtod(optarg, &end);
			if (*end || secs <= 0 || secs > 3600) {
				cli_fail("--timeout wants seconds between 0 and 3600, not '%s'",
					 optarg);
				return CLI_USAGE;
			}
			timeout_ms = (int)(secs * 1000);
			break;
		}
		case 'd':
			cli->debug = true;
			break;
		case 'h':
			fputs(start_usage, stdout);
			return CLI_OK;
		default:
			fputs(start_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	if (ping(cli, &reply, &err) == 0) {
		printf("container-apiserver is already running (pid %lld)\n",
		       (long long)json_integer_value(json_object_get(reply, "pid")));
		return CLI_OK;
	}
	if (err.code == EACCES || err.code == EPERM)
		return cli_fail_error(&err);
	error_release(&err);
	int64_t deadline = time_monotonic_ms() + timeout_ms;
	int rc = use_systemd(cli) ? start_with_systemd(cli, &err)
				  : start_detached(cli, timeout_ms, &err);
	if (rc < 0 || wait_for_ping(cli, deadline, &reply, &err) < 0)
		return cli_fail_error(&err);
	printf("container-apiserver started (pid %lld)\n",
	       (long long)json_integer_value(json_object_get(reply, "pid")));
	return CLI_OK;
}

/* The pid-file lock is held for exactly the life of the apiserver. */
static bool apiserver_gone(const struct cli *cli)
{
	_cleanup_free_ char *path = paths_apiserver_pidfile(&cli->paths);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	return flock(fd, LOCK_SH | LOCK_NB) == 0;
}

static const char stop_usage[] =
	"Usage: container system stop [--timeout SECONDS]\n"
	"\n"
	"Stops the API server and its plugins; waits until it has exited.\n"
	"\n"
	"Options:\n"
	"  --timeout SECONDS  how long to wait (default 30)\n"
	"  -h, --help         show this help\n";

static int system_stop(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int timeout_ms = 30000;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			double secs = strtod(optarg, &end);
			if (*end || secs <= 0 || secs > 3600) {
				cli_fail("--timeout wants seconds, not '%s'", optarg);
				return CLI_USAGE;
			}
			timeout_ms = (int)(secs * 1000);
			break;
		}
		case 'h':
			fputs(stop_usage, stdout);
			return CLI_OK;
		default:
			fputs(stop_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	if (use_systemd(cli) && access(SYSTEMD_UNIT_PATH, F_OK) == 0) {
		char *stop[] = {"systemctl", "stop", SYSTEMD_UNIT, NULL};
		if (run_wait(stop, &err) < 0)
			return cli_fail_error(&err);
		puts("container-apiserver stopped");
		return CLI_OK;
	}
	_cleanup_json_ json_t *reply = NULL;
	if (cli_call(cli, "systemShutdown", NULL, &reply, &err) < 0) {
		if (err.code == ENOTCONN || err.code == ECONNREFUSED) {
			puts("container-apiserver is not running");
			return CLI_OK;
		}
		return cli_fail_error(&err);
	}
	int64_t deadline = time_monotonic_ms() + timeout_ms;
	while (!apiserver_gone(cli)) {
		if (time_monotonic_ms() >= deadline)
			return cli_fail(
				"the API server (pid %lld) did not exit within %d ms",
				(long long)json_integer_value(json_object_get(reply, "pid")),
				timeout_ms);
		usleep(10000);
	}
	puts("container-apiserver stopped");
	return CLI_OK;
}

static const char status_usage[] =
	"Usage: container system status [--format table|json]\n"
	"\n"
	"Shows whether the API server runs, and its details. Exits 1 when it does not.\n"
	"\n"
	"Options:\n"
	"  --format FORMAT  table (default) or json\n"
	"  -h, --help       show this help\n";

static int system_status(struct cli *cli, int argc, char **argv)
{
	enum cli_format format = CLI_FORMAT_TABLE;
	int rc = parse_simple(argc, argv, status_usage, &format);
	if (rc != 0)
		return rc > 0 ? CLI_OK : -rc;
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	if (ping(cli, &reply, &err) < 0) {
		if (format == CLI_FORMAT_JSON) {
			_cleanup_json_ json_t *j =
				json_pack("{s:s,s:s}", "status", "stopped", "message", err.message);
			cli_print_json(j);
		}
		if (err.code == ENOTCONN || err.code == ECONNREFUSED)
			return cli_fail("container-apiserver is not running: run `container "
					"system start`");
		return cli_fail_error(&err);
	}
	if (format == CLI_FORMAT_JSON) {
		json_object_set_new(reply, "status", json_string("running"));
		cli_print_json(reply);
		return CLI_OK;
	}
	static const char *const headers[] = {"FIELD", "VALUE"};
	struct cli_table *t = cli_table_new(2, headers);
	static const struct {
		const char *label, *key;
	} rows[] = {
		{"status", NULL},	  {"pid", "pid"},	   {"version", "version"},
		{"commit", "commit"},	  {"build", "buildType"},  {"built", "buildDate"},
		{"started", "startedAt"}, {"uptime", "uptime"},	   {"app root", "appRoot"},
		{"run root", "runRoot"},  {"log root", "logRoot"}, {"install root", "installRoot"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char buf[64];
		const char *value = "running";
		if (rows[i].key) {
			json_t *v = json_object_get(reply, rows[i].key);
			if (json_is_string(v)) {
				value = json_string_value(v);
			} else if (json_is_integer(v)) {
				snprintf(buf, sizeof(buf), "%lld",
					 (long long)json_integer_value(v));
				value = buf;
			} else if (json_is_real(v)) {
				snprintf(buf, sizeof(buf), "%.1fs", json_real_value(v));
				value = buf;
			} else {
				value = "";
			}
		}
		const char *cells[] = {rows[i].label, value};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_OK;
}

static const char version_usage[] =
	"Usage: container system version [--format table|json]\n"
	"\n"
	"Prints the versions of the CLI and, when it runs, the API server.\n"
	"\n"
	"Options:\n"
	"  --format FORMAT  table (default) or json\n"
	"  -h, --help       show this help\n";

static int system_version(struct cli *cli, int argc, char **argv)
{
	enum cli_format format = CLI_FORMAT_TABLE;
	int rc = parse_simple(argc, argv, version_usage, &format);
	if (rc != 0)
		return rc > 0 ? CLI_OK : -rc;
	_cleanup_json_ json_t *all = json_array();
	json_array_append_new(
		all, json_pack("{s:s,s:s,s:s,s:s,s:s}", "appName", "container", "version",
			       CONTAINER_VERSION, "commit", CONTAINER_GIT_COMMIT, "buildType",
			       CONTAINER_BUILD_TYPE, "buildDate", CONTAINER_BUILD_DATE));
	_cleanup_error_ struct error err = ERROR_INIT;
	json_t *server = NULL;
	if (ping(cli, &server, &err) == 0)
		json_array_append_new(all, server);
	if (format == CLI_FORMAT_JSON) {
		cli_print_json(all);
		return CLI_OK;
	}
	static const char *const headers[] = {"COMPONENT", "VERSION", "COMMIT", "BUILD", "DATE"};
	struct cli_table *t = cli_table_new(5, headers);
	size_t i;
	json_t *item;
	json_array_foreach(all, i, item)
	{
		const char *cells[] = {
			json_string_value(json_object_get(item, "appName")),
			json_string_value(json_object_get(item, "version")),
			json_string_value(json_object_get(item, "commit")),
			json_string_value(json_object_get(item, "buildType")),
			json_string_value(json_object_get(item, "buildDate")),
		};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	if (!server)
		fprintf(stderr, "container: the API server is not running (run `container system "
				"start`); only the CLI's version is shown\n");
	return CLI_OK;
}

/* Logs: every *.log file of the log root, merged by the timestamp that leads
 * each line; a line without one (a plugin's raw output) keeps the time of the
 * line before it in its file. */
struct log_file {
	char *path;
	off_t offset;
	char *partial; /* an unterminated last line, completed on the next read */
	char stamp[32];
};

struct log_line {
	char stamp[32];
	char *text;
	size_t file, seq;
};

static bool line_stamp(const char *line, char *stamp)
{
	/* 2026-11-23T14:07:11.123Z */
	if (strlen(line) < 24 || line[4] != '-' || line[10] != 'T' || line[23] != 'Z')
		return false;
	memcpy(stamp, line, 24);
	stamp[24] = '\0';
	return true;
}

static int compare_lines(const void *a, const void *b)
{
	const struct log_line *x = a, *y = b;
	int c = strcmp(x->stamp, y->stamp);
	if (c)
		return c;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void read_new_lines(struct log_file *f, size_t index, struct log_line **lines, size_t *n)
{
	_cleanup_close_ int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	if (st.st_size < f->offset) /* truncated or replaced: start over */
		f->offset = 0;
	if (st.st_size == f->offset)
		return;
	size_t len = st.st_size - f->offset;
	_cleanup_free_ char *buf = xmalloc(len + 1);
	ssize_t got = pread(fd, buf, len, f->offset);
	if (got <= 0)
		return;
	buf[got] = '\0';
	f->offset += got;
	_cleanup_free_ char *text = f->partial ? xasprintf("%s%s", f->partial, buf) : xstrdup(buf);
	free(f->partial);
	f->partial = NULL;
	char *p = text;
	for (;;) {
		char *nl = strchr(p, '\n');
		if (!nl) {
			if (*p)
				f->partial = xstrdup(p);
			break;
		}
		*nl = '\0';
		char stamp[32];
		if (line_stamp(p, stamp))
			memcpy(f->stamp, stamp, sizeof(stamp));
		*lines = xrealloc(*lines, sizeof(**lines) * (*n + 1));
		struct log_line *l = &(*lines)[(*n)++];
		memcpy(l->stamp, f->stamp, sizeof(l->stamp));
		l->text = xstrdup(p);
		l->file = index;
		l->seq = *n;
		p = nl + 1;
	}
}

static void print_lines(struct log_line *lines, size_t n, const char *since)
{
	qsort(lines, n, sizeof(*lines), compare_lines);
	for (size_t i = 0; i < n; i++) {
		if (!since || strcmp(lines[i].stamp, since) >= 0)
			puts(lines[i].text);
		free(lines[i].text);
	}
	fflush(stdout);
}

static void scan_log_files(const char *root, struct log_file **files, size_t *n)
{
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!str_has_suffix(de->d_name, ".log"))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", root, de->d_name);
		bool known = false;
		for (size_t i = 0; i < *n; i++)
			if (strcmp((*files)[i].path, path) == 0)
				known = true;
		if (known)
			continue;
		*files = xrealloc(*files, sizeof(**files) * (*n + 1));
		struct log_file *f = &(*files)[(*n)++];
		memset(f, 0, sizeof(*f));
		f->path = move_ptr(path);
	}
	closedir(d);
}

static volatile sig_atomic_t follow_stop;
static void on_follow_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static const char logs_usage[] =
	"Usage: container system logs [-f|--follow] [--last DURATION]\n"
	"\n"
	"Prints the logs of the API server and its plugins, oldest first.\n"
	"\n"
	"Options:\n"
	"  -f, --follow      keep printing new lines until interrupted\n"
	"  --last DURATION   only lines from the last DURATION (e.g. 30s, 5m, 2h, 1d)\n"
	"  -h, --help        show this help\n";

static int system_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"follow", no_argument, NULL, 'f'},
		{"last", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool follow = false;
	int64_t last_ms = -1;
	int opt;
	while ((opt = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'l':
			last_ms = time_parse_duration_ms(optarg);
			if (last_ms < 0) {
				cli_fail("--last wants a duration such as 30s, 5m, 2h or 1d, not "
					 "'%s'",
					 optarg);
				return CLI_USAGE;
			}
			break;
		case 'h':
			fputs(logs_usage, stdout);
			return CLI_OK;
		default:
			fputs(logs_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	/* A running server knows its log root best. */
	_cleanup_free_ char *root = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	if (ping(cli, &reply, &err) == 0 && json_is_string(json_object_get(reply, "logRoot")))
		root = xstrdup(json_string_value(json_object_get(reply, "logRoot")));
	else
		root = xstrdup(cli->paths.log_root);
	struct stat st;
	if (stat(root, &st) < 0)
		return cli_fail("no logs in %s: the system has not run with this log root", root);
	char since_buf[40];
	const char *since = NULL;
	if (last_ms >= 0) {
		time_format_rfc3339(time_realtime_ms() - last_ms, since_buf, sizeof(since_buf));
		since = since_buf;
	}
	struct log_file *files = NULL;
	size_t nfiles = 0;
	scan_log_files(root, &files, &nfiles);
	struct log_line *lines = NULL;
	size_t nlines = 0;
	for (size_t i = 0; i < nfiles; i++)
		read_new_lines(&files[i], i, &lines, &nlines);
	print_lines(lines, nlines, since);
	free(lines);
	if (follow) {
		struct sigaction sa = {.sa_handler = on_follow_signal};
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		while (!follow_stop) {
			usleep(200000);
			scan_log_files(root, &files, &nfiles);
			lines = NULL;
			nlines = 0;
			for (size_t i = 0; i < nfiles; i++)
				read_new_lines(&files[i], i, &lines, &nlines);
			print_lines(lines, nlines, NULL);
			free(lines);
		}
	}
	for (size_t i = 0; i < nfiles; i++) {
		free(files[i].path);
		free(files[i].partial);
	}
	free(files);
	return CLI_OK;
}

static const struct cli_command system_commands[] = {
	{"start", NULL, system_start, "start the API server"},
	{"stop", NULL, system_stop, "stop the API server"},
	{"status", NULL, system_status, "show whether the API server runs"},
	{"version", NULL, system_version, "print versions of the CLI and the API server"},
	{"logs", NULL, system_logs, "print the system's logs"},
};

int cli_system(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "system", system_commands, ARRAY_SIZE(system_commands), argc,
			    argv);
}
