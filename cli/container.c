/* container run|create|start|stop|kill|delete|list|inspect */
#include "cli.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

/* Signal names as `kill -s` takes them: "TERM", "SIGTERM", or a number. */
static int parse_signal(const char *text, int *out)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (*text && !*end && n > 0 && n < NSIG) {
		*out = (int)n;
		return 0;
	}
	const char *name = str_has_prefix(text, "SIG") ? text + 3 : text;
	for (int s = 1; s < NSIG; s++) {
		const char *abbrev = sigabbrev_np(s);
		if (abbrev && strcasecmp(abbrev, name) == 0) {
			*out = s;
			return 0;
		}
	}
	return -1;
}

static int call(struct cli *cli, const char *route, json_t *request, const int *fds, unsigned nfds,
		json_t **reply, int timeout_ms, struct error *err)
{
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, err) < 0)
		return -err->code;
	ipc_client_set_timeout(c, timeout_ms);
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	cli_debug(cli, "calling %s", route);
	int rc = ipc_call_fds(c, route, request, fds, nfds, &frame, err);
	if (rc == 0 && reply)
		*reply = move_ptr(frame.body);
	ipc_frame_release(&frame);
	ipc_client_close(c);
	return rc;
}

/* ---- create and run ---- */

struct create_options {
	json_t *config;
	bool detach, rm, interactive, tty;
};

enum {
	OPT_ENTRYPOINT = 1000,
	OPT_RM,
	OPT_NAME,
	OPT_HOSTNAME,
	OPT_READ_ONLY,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_LABEL,
	OPT_SHM_SIZE,
	OPT_STOP_SIGNAL,
	OPT_STOP_TIMEOUT,
	OPT_CPUS,
	OPT_PIDS_LIMIT,
	OPT_MOUNT,
	OPT_TMPFS,
	OPT_ENV_FILE,
	OPT_ULIMIT,
	OPT_INIT,
};

/* -v SOURCE:TARGET[:ro|rw], -v TARGET (anonymous volume); a SOURCE that is
 * an absolute path is a bind mount, else a volume name. */
static json_t *parse_volume_flag(const char *text)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *parts[3] = {0};
	int n = 0;
	for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && n < 4;
	     p = strtok_r(NULL, ":", &save))
		if (n < 3)
			parts[n++] = p;
		else
			return NULL;
	bool readonly = false;
	if (n == 3) {
		if (strcmp(parts[2], "ro") == 0)
			readonly = true;
		else if (strcmp(parts[2], "rw") != 0)
			return NULL;
	}
	if (n == 1)
		return json_pack("{s:s,s:s,s:b}", "type", "volume", "target", parts[0], "readonly",
				 0);
	if (n < 2)
		return NULL;
	return json_pack("{s:s,s:s,s:s,s:b}", "type", parts[0][0] == '/' ? "bind" : "volume",
			 "source", parts[0], "target", parts[1], "readonly", readonly);
}

/* --mount type=bind|volume|tmpfs,source=...,target=...,readonly,tmpfs-size=... */
static json_t *parse_mount_flag(const char *text, char *why, size_t len)
{
	_cleanup_free_ char *copy = xstrdup(text);
	json_t *m = json_object();
	json_t *options = json_array();
	for (char *save = NULL, *p = strtok_r(copy, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		const char *value = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		if (strcmp(p, "type") == 0)
			json_object_set_new(m, "type", json_string(value));
		else if (strcmp(p, "source") == 0 || strcmp(p, "src") == 0)
			json_object_set_new(m, "source", json_string(value));
		else if (strcmp(p, "target") == 0 || strcmp(p, "dst") == 0 ||
			 strcmp(p, "destination") == 0)
			json_object_set_new(m, "target", json_string(value));
		else if (strcmp(p, "readonly") == 0 || strcmp(p, "ro") == 0)
			json_object_set_new(m, "readonly",
					    json_boolean(!eq || strcmp(value, "true") == 0 ||
							 strcmp(value, "1") == 0));
		else if (strcmp(p, "tmpfs-size") == 0)
			json_array_append_new(options, json_sprintf("size=%s", value));
		else if (strcmp(p, "tmpfs-mode") == 0)
			json_array_append_new(options, json_sprintf("mode=%s", value));
		else {
			snprintf(why, len, "unknown --mount key '%s'", p);
			json_decref(options);
			json_decref(m);
			return NULL;
		}
	}
	if (json_array_size(options))
		json_object_set_new(m, "options", options);
	else
		json_decref(options);
	if (!json_object_get(m, "type"))
		json_object_set_new(m, "type", json_string("volume"));
	json_object_set_new(m, "strict", json_true()); /* --mount bind: the source must exist */
	return m;
}

static int64_t parse_size(const char *text)
{
	char *end;
	double v = strtod(text, &end);
	if (end == text || v < 0)
		return -1;
	int64_t mult = 1;
	switch (*end) {
	case 'b':
	case 'B':
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mult = 1024LL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end && end[1] && !(end[1] == 'b' || end[1] == 'B'))
		return -1;
	return (int64_t)(v * (double)mult);
}

static const char create_usage_text[] =
	"Options:\n"
	"  -d, --detach            run in the background and print the id (run only)\n"
	"  --rm                    remove the container when it exits\n"
	"  -i, --interactive       keep standard input attached\n"
	"  -t, --tty               allocate a terminal\n"
	"  --name NAME             a name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128)\n"
	"  -e, --env KEY=VALUE     set an environment variable (repeatable)\n"
	"  -w, --workdir DIR       working directory inside the container\n"
	"  -u, --user USER[:GROUP] user name or uid, optional gid\n"
	"  --entrypoint CMD        override the image's entrypoint\n"
	"  --hostname NAME         the container's hostname\n"
	"  --read-only             mount the root file system read-only\n"
	"  --init                  run a tiny init as pid 1 that reaps zombies and\n"
	"                          forwards signals to the command\n"
	"  --cap-add CAP           add a capability (repeatable; ALL)\n"
	"  --cap-drop CAP          drop a capability (repeatable; ALL)\n"
	"  -l, --label KEY=VALUE   set a label (repeatable)\n"
	"  --shm-size SIZE         size of /dev/shm (e.g. 64m)\n"
	"  --stop-signal SIGNAL    signal for `stop` (default: the image's, else SIGTERM)\n"
	"  --stop-timeout SECONDS  seconds `stop` waits before SIGKILL (default 5)\n"
	"  --cpus N                CPU quota (e.g. 0.5, 2)\n"
	"  -m, --memory SIZE       memory limit (e.g. 256m)\n"
	"  --pids-limit N          most processes (default 4096; 0 unlimited)\n"
	"  -v, --volume SPEC       NAME:/PATH[:ro] (a volume, made if missing),\n"
	"                          /HOST:/PATH[:ro] (a bind mount), /PATH (anonymous)\n"
	"  --mount SPEC            type=bind|volume|tmpfs,source=...,target=...,readonly\n"
	"  --tmpfs PATH[:OPTS]     a tmpfs at PATH (e.g. /run:size=64m)\n"
	"  --env-file FILE         read KEY=VALUE lines\n"
	"  --ulimit NAME=SOFT[:HARD]  e.g. nofile=1024:2048 (repeatable)\n"
	"  -h, --help              show this help\n";

/* Parses the flags of create and run; leaves optind at IMAGE. */
static int parse_create(int argc, char **argv, bool is_run, const char *usage_head,
			struct create_options *o)
{
	static const struct option options[] = {
		{"detach", no_argument, NULL, 'd'},
		{"rm", no_argument, NULL, OPT_RM},
		{"interactive", no_argument, NULL, 'i'},
		{"tty", no_argument, NULL, 't'},
		{"name", required_argument, NULL, OPT_NAME},
		{"env", required_argument, NULL, 'e'},
		{"workdir", required_argument, NULL, 'w'},
		{"user", required_argument, NULL, 'u'},
		{"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
		{"hostname", required_argument, NULL, OPT_HOSTNAME},
		{"read-only", no_argument, NULL, OPT_READ_ONLY},
		{"init", no_argument, NULL, OPT_INIT},
		{"cap-add", required_argument, NULL, OPT_CAP_ADD},
		{"cap-drop", required_argument, NULL, OPT_CAP_DROP},
		{"label", required_argument, NULL, 'l'},
		{"shm-size", required_argument, NULL, OPT_SHM_SIZE},
		{"stop-signal", required_argument, NULL, OPT_STOP_SIGNAL},
		{"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"memory", required_argument, NULL, 'm'},
		{"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
		{"volume", required_argument, NULL, 'v'},
		{"mount", required_argument, NULL, OPT_MOUNT},
		{"tmpfs", required_argument, NULL, OPT_TMPFS},
		{"env-file", required_argument, NULL, OPT_ENV_FILE},
		{"ulimit", required_argument, NULL, OPT_ULIMIT},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	o->config = json_object();
	json_t *env = json_array(), *cap_add = json_array(), *cap_drop = json_array(),
	       *labels = json_object();
	json_object_set_new(o->config, "env", env);
	json_object_set_new(o->config, "capAdd", cap_add);
	json_object_set_new(o->config, "capDrop", cap_drop);
	json_object_set_new(o->config, "labels", labels);
	json_t *mounts = json_array(), *ulimits = json_array();
	json_object_set_new(o->config, "mounts", mounts);
	json_object_set_new(o->config, "ulimits", ulimits);
	int opt;
	/* "+": options stop at the image; what follows is the command */
	while ((opt = getopt_long(argc, argv, "+ditne:w:u:l:m:v:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (!is_run)
				goto usage;
			o->detach = true;
			break;
		case OPT_RM:
			o->rm = true;
			break;
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case OPT_NAME:
			json_object_set_new(o->config, "name", json_string(optarg));
			break;
		case 'e':
			if (!strchr(optarg, '=')) {
				const char *v = getenv(optarg);
				if (!v)
					break; /* Docker: an unset variable is left out */
				json_array_append_new(env, json_sprintf("%s=%s", optarg, v));
			} else {
				json_array_append_new(env, json_string(optarg));
			}
			break;
		case 'w':
			json_object_set_new(o->config, "workdir", json_string(optarg));
			break;
		case 'u':
			json_object_set_new(o->config, "user", json_string(optarg));
			break;
		case OPT_ENTRYPOINT:
			json_object_set_new(o->config, "entrypoint", json_pack("[s]", optarg));
			break;
		case OPT_HOSTNAME:
			json_object_set_new(o->config, "hostname", json_string(optarg));
			break;
		case OPT_READ_ONLY:
			json_object_set_new(o->config, "readOnly", json_true());
			break;
		case OPT_INIT:
			json_object_set_new(o->config, "init", json_true());
			break;
		case OPT_CAP_ADD:
			json_array_append_new(cap_add, json_string(optarg));
			break;
		case OPT_CAP_DROP:
			json_array_append_new(cap_drop, json_string(optarg));
			break;
		case 'l': {
			const char *eq = strchr(optarg, '=');
			_cleanup_free_ char *key =
				eq ? xstrndup(optarg, eq - optarg) : xstrdup(optarg);
			json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
			break;
		}
		case OPT_SHM_SIZE: {
			int64_t size = parse_size(optarg);
			if (size <= 0) {
				cli_fail("--shm-size wants a size such as 64m, not '%s'", optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "shmSize", json_integer(size));
			break;
		}
		case OPT_STOP_SIGNAL: {
			int sig;
			if (parse_signal(optarg, &sig) < 0) {
				cli_fail("unknown signal '%s'", optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "stopSignal",
					    json_string(sigabbrev_np(sig)));
			break;
		}
		case OPT_STOP_TIMEOUT: {
			char *end;
			long t = strtol(optarg, &end, 10);
			if (*end || t < 0) {
				cli_fail("--stop-timeout wants seconds, not '%s'", optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "stopTimeout", json_integer(t));
			break;
		}
		case 'v': {
			json_t *m = parse_volume_flag(optarg);
			if (!m) {
				cli_fail("-v wants NAME:/PATH[:ro], /HOST:/PATH[:ro] or /PATH, not "
					 "'%s'",
					 optarg);
				return -CLI_USAGE;
			}
			json_array_append_new(mounts, m);
			break;
		}
		case OPT_MOUNT: {
			char why[128] = "";
			json_t *m = parse_mount_flag(optarg, why, sizeof(why));
			if (!m) {
				cli_fail("--mount %s: %s", optarg, why);
				return -CLI_USAGE;
			}
			json_array_append_new(mounts, m);
			break;
		}
		case OPT_TMPFS: {
			_cleanup_free_ char *copy = xstrdup(optarg);
			char *colon = strchr(copy, ':');
			if (colon)
				*colon++ = '\0';
			json_t *m = json_pack("{s:s,s:s}", "type", "tmpfs", "target", copy);
			if (colon && *colon)
				json_object_set_new(m, "options", json_pack("[s]", colon));
			json_array_append_new(mounts, m);
			break;
		}
		case OPT_ENV_FILE: {
			_cleanup_fclose_ FILE *f = fopen(optarg, "re");
			if (!f) {
				cli_fail("--env-file %s: %s", optarg, strerror(errno));
				return -CLI_USAGE;
			}
			char line[8192];
			while (fgets(line, sizeof(line), f)) {
				line[strcspn(line, "\r\n")] = '\0';
				char *p = line;
				while (*p == ' ' || *p == '\t')
					p++;
				if (!*p || *p == '#')
					continue;
				if (!strchr(p, '=')) {
					const char *v = getenv(p);
					if (v)
						json_array_append_new(env,
								      json_sprintf("%s=%s", p, v));
					continue;
				}
				json_array_append_new(env, json_string(p));
			}
			break;
		}
		case OPT_ULIMIT:
			json_array_append_new(ulimits, json_string(optarg));
			break;
		case OPT_CPUS: {
			char *end;
			double cpus = strtod(optarg, &end);
			if (*end || cpus <= 0 || cpus > 4096) {
				cli_fail("--cpus wants a number of CPUs such as 1.5, not '%s'",
					 optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "cpuMillis",
					    json_integer((json_int_t)(cpus * 1000 + 0.5)));
			break;
		}
		case 'm': {
			int64_t size = parse_size(optarg);
			if (size <= 0) {
				cli_fail("--memory wants a size such as 256m, not '%s'", optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "memoryBytes", json_integer(size));
			break;
		}
		case OPT_PIDS_LIMIT: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 0) {
				cli_fail("--pids-limit wants a number, not '%s'", optarg);
				return -CLI_USAGE;
			}
			json_object_set_new(o->config, "pidsMax", json_integer(n));
			break;
		}
		case 'h':
			fputs(usage_head, stdout);
			fputs(create_usage_text, stdout);
			return 1;
		default:
			goto usage;
		}
	}
	if (optind >= argc) {
		cli_fail("name an image");
		goto usage;
	}
	json_object_set_new(o->config, "image", json_string(argv[optind]));
	if (optind + 1 < argc) {
		json_t *args = json_array();
		for (int i = optind + 1; i < argc; i++)
			json_array_append_new(args, json_string(argv[i]));
		json_object_set_new(o->config, "args", args);
	}
	json_object_set_new(o->config, "tty", json_boolean(o->tty));
	json_object_set_new(o->config, "interactive", json_boolean(o->interactive));
	json_object_set_new(o->config, "autoRemove", json_boolean(o->rm));
	return 0;
usage:
	fputs(usage_head, stderr);
	return -CLI_USAGE;
}

static int create(struct cli *cli, struct create_options *o, json_t **reply, struct error *err)
{
	_cleanup_json_ json_t *request = json_pack("{s:O}", "config", o->config);
	int rc = call(cli, "containerCreate", request, NULL, 0, reply, 600000, err);
	if (rc == 0) {
		/* volumes that -v made on the way: say so, as Docker does not */
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(*reply, "createdVolumes"), i, v)
			fprintf(stderr, "container: created volume %s\n", json_string_value(v));
	}
	return rc;
}

static const char create_usage[] = "Usage: container create [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
				   "\n"
				   "Creates a container and prints its id.\n"
				   "\n";

/* The flags of create or run, then containerCreate. Returns 0 with
 * *created, 1 with *code set when there is nothing to create (--help, a
 * usage error), or < 0 with err set when the API server refused. */
static int create_from_args(struct cli *cli, int argc, char **argv, bool is_run, const char *usage,
			    struct create_options *o, json_t **created, int *code,
			    struct error *err)
{
	int rc = parse_create(argc, argv, is_run, usage, o);
	if (rc != 0) {
		json_decref(o->config);
		*code = rc > 0 ? CLI_OK : -rc;
		return 1;
	}
	rc = create(cli, o, created, err);
	json_decref(o->config);
	return rc;
}

static int container_create(struct cli *cli, int argc, char **argv)
{
	struct create_options o = {0};
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	int code = CLI_OK;
	int rc = create_from_args(cli, argc, argv, false, create_usage, &o, &reply, &code, &err);
	if (rc > 0)
		return code;
	if (rc < 0)
		return cli_fail_error(&err);
	puts(json_string_value(json_object_get(reply, "id")));
	return CLI_OK;
}

/* Exit codes of `run` for engine errors, as Docker's: 125 the engine
 * failed, 126 the command cannot be run, 127 it was not found. */
static int engine_error(const struct error *err)
{
	cli_fail_error(err);
	return err->code == ENOENT && strstr(err->message, "not found in") ? 127
	       : err->code == EACCES					   ? 126
									   : 125;
}

static const char run_usage[] =
	"Usage: container run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
	"\n"
	"Creates and starts a container; without -d, waits for it and exits\n"
	"with its exit code.\n"
	"\n";

static volatile sig_atomic_t forwarded_signal;
static void on_signal(int sig)
{
	forwarded_signal = sig;
}

/* -t: the terminal goes raw while the container owns it, and comes back
 * as it was however we leave. */
static struct termios saved_termios;
static bool termios_saved;
static volatile sig_atomic_t window_changed;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
}

static void on_winch(int sig)
{
	(void)sig;
	window_changed = 1;
}

static void raw_terminal(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	termios_saved = true;
	atexit(restore_terminal);
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

static void send_window_size(struct cli *cli, const char *id)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
		return;
	_cleanup_json_ json_t *request =
		json_pack("{s:s,s:i,s:i}", "id", id, "rows", ws.ws_row, "cols", ws.ws_col);
	struct error err = ERROR_INIT;
	call(cli, "containerResize", request, NULL, 0, NULL, 5000, &err);
	error_release(&err);
}

/* The terminal's size, for the container's first one (NULL when stdout is
 * not a terminal). */
static json_t *terminal_size(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
		return NULL;
	return json_pack("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col);
}

struct attach {
	bool attach;	  /* stdout and stderr go to ours, and we wait */
	bool interactive; /* and stdin comes from ours */
	bool tty;
	bool rm_on_failure; /* a start that fails removes the container (run --rm) */
};

/* Boots and starts a created container with our stdio (or none), then,
 * when attached, waits for it and returns its exit code, forwarding
 * signals and window size changes; else prints its id. */
static int start_attached(struct cli *cli, const char *id, const struct attach *a)
{
	_cleanup_error_ struct error err = ERROR_INIT;
	/* stdio: our own descriptors go to the helper; nothing is copied here */
	int fds[3];
	unsigned n = 0;
	if (a->attach) {
		if (a->interactive)
			fds[n++] = STDIN_FILENO;
		fds[n++] = STDOUT_FILENO;
		fds[n++] = STDERR_FILENO;
	}
	_cleanup_json_ json_t *boot = json_pack("{s:s,s:[bbb]}", "id", id, "stdio",
						a->attach && a->interactive, a->attach, a->attach);
	if (a->tty && a->attach) {
		json_t *size = terminal_size();
		if (size)
			json_object_set_new(boot, "terminalSize", size);
	}
	_cleanup_json_ json_t *idreq = json_pack("{s:s}", "id", id);
	if (call(cli, "containerBootstrap", boot, fds, n, NULL, 30000, &err) < 0 ||
	    call(cli, "containerStartProcess", idreq, NULL, 0, NULL, 30000, &err) < 0) {
		int code = engine_error(&err);
		if (a->rm_on_failure) {
			struct error ignored = ERROR_INIT;
			_cleanup_json_ json_t *del = json_pack("{s:s,s:b}", "id", id, "force", 1);
			call(cli, "containerDelete", del, NULL, 0, NULL, 30000, &ignored);
			error_release(&ignored);
		}
		return code;
	}
	if (!a->attach) {
		puts(id);
		return CLI_OK;
	}
	if (a->tty) {
		struct sigaction winch = {.sa_handler = on_winch};
		sigaction(SIGWINCH, &winch, NULL);
		if (a->interactive)
			raw_terminal();
	}
	/* Forward the signals a user sends to us to the container. */
	static const int forward[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
	struct sigaction sa = {.sa_handler = on_signal};
	for (size_t i = 0; i < ARRAY_SIZE(forward); i++)
		sigaction(forward[i], &sa, NULL);
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, &err) < 0)
		return engine_error(&err);
	ipc_client_set_timeout(c, 1000);
	_cleanup_json_ json_t *reply = NULL;
	/* wait; a timeout just means "look at the signals and wait again" */
	for (;;) {
		int rc = ipc_call(c, "containerWait", idreq, &reply, &err);
		if (rc == 0)
			break;
		if (err.code != ETIMEDOUT && err.code != EINTR) {
			ipc_client_close(c);
			return engine_error(&err);
		}
		error_release(&err);
		if (window_changed) {
			window_changed = 0;
			send_window_size(cli, id);
		}
		if (forwarded_signal) {
			_cleanup_json_ json_t *k =
				json_pack("{s:s,s:i}", "id", id, "signal", (int)forwarded_signal);
			forwarded_signal = 0;
			struct error ignored = ERROR_INIT;
			call(cli, "containerKill", k, NULL, 0, NULL, 5000, &ignored);
			error_release(&ignored);
		}
		/* a new connection per wait: the old one still holds the stale call */
		ipc_client_close(c);
		if (cli_connect(cli, &c, &err) < 0)
			return engine_error(&err);
		ipc_client_set_timeout(c, 1000);
	}
	ipc_client_close(c);
	json_int_t code = json_integer_value(json_object_get(reply, "exitCode"));
	return code < 0 ? 125 : (int)code;
}

static int container_run(struct cli *cli, int argc, char **argv)
{
	struct create_options o = {0};
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *created = NULL;
	int code = CLI_OK;
	int rc = create_from_args(cli, argc, argv, true, run_usage, &o, &created, &code, &err);
	if (rc > 0)
		return code;
	if (rc < 0)
		return engine_error(&err);
	struct attach a = {
		.attach = !o.detach,
		.interactive = o.interactive,
		.tty = o.tty,
		.rm_on_failure = o.rm,
	};
	return start_attached(cli, json_string_value(json_object_get(created, "id")), &a);
}

/* ---- start, stop, kill, delete ---- */

static int for_each(struct cli *cli, int argc, char **argv, int first, const char *route,
		    json_t *extra, int timeout_ms, bool print_id)
{
	int rc = CLI_OK;
	for (int i = first; i < argc; i++) {
		_cleanup_json_ json_t *request = extra ? json_deep_copy(extra) : json_object();
		json_object_set_new(request, "id", json_string(argv[i]));
		_cleanup_error_ struct error err = ERROR_INIT;
		if (call(cli, route, request, NULL, 0, NULL, timeout_ms, &err) < 0)
			rc = cli_fail_error(&err);
		else if (print_id)
			puts(argv[i]);
	}
	return rc;
}

static int all_ids(struct cli *cli, bool running_only, json_t **ids, struct error *err)
{
	_cleanup_json_ json_t *request = json_pack("{s:b}", "all", !running_only);
	_cleanup_json_ json_t *reply = NULL;
	if (call(cli, "containerList", request, NULL, 0, &reply, 30000, err) < 0)
		return -err->code;
	*ids = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(reply, "containers"), i, c)
		json_array_append(*ids, json_object_get(c, "id"));
	return 0;
}

/* Runs route on the named containers, or on every one (running ones only
 * when running_only) with --all. */
static int on_containers(struct cli *cli, int argc, char **argv, bool all, bool running_only,
			 const char *route, json_t *extra, int timeout_ms, const char *usage_text)
{
	if (all && optind < argc) {
		cli_fail("--all takes no container names");
		return CLI_USAGE;
	}
	if (!all) {
		if (optind >= argc) {
			fputs(usage_text, stderr);
			return CLI_USAGE;
		}
		return for_each(cli, argc, argv, optind, route, extra, timeout_ms, true);
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *ids = NULL;
	if (all_ids(cli, running_only, &ids, &err) < 0)
		return cli_fail_error(&err);
	int rc = CLI_OK;
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		char *one[] = {(char *)route, (char *)json_string_value(id)};
		if (for_each(cli, 2, one, 1, route, extra, timeout_ms, true) != CLI_OK)
			rc = CLI_FAIL;
	}
	return rc;
}

static const char start_usage[] =
	"Usage: container start [-a [-i]] CONTAINER...\n"
	"\n"
	"Starts created or stopped containers, in the background unless -a.\n"
	"\n"
	"Options:\n"
	"  -a, --attach       attach stdout and stderr, wait, and exit with the\n"
	"                     container's exit code (one container only)\n"
	"  -i, --interactive  attach stdin too\n"
	"  -h, --help         show this help\n";

static int container_start(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"attach", no_argument, NULL, 'a'},
		{"interactive", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool attach = false, interactive = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "+aih", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			attach = true;
			break;
		case 'i':
			interactive = true;
			break;
		case 'h':
			fputs(start_usage, stdout);
			return CLI_OK;
		default:
			fputs(start_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(start_usage, stderr);
		return CLI_USAGE;
	}
	if ((attach || interactive) && argc - optind > 1) {
		cli_fail("-a and -i attach to one container only");
		return CLI_USAGE;
	}
	if (attach || interactive) {
		/* -i alone attaches too, as with Docker; the terminal comes
		 * from the container's own configuration */
		_cleanup_error_ struct error err = ERROR_INIT;
		_cleanup_json_ json_t *request = json_pack("{s:s}", "id", argv[optind]);
		_cleanup_json_ json_t *reply = NULL;
		if (call(cli, "containerInspect", request, NULL, 0, &reply, 30000, &err) < 0)
			return cli_fail_error(&err);
		json_t *c = json_object_get(reply, "container");
		json_t *config = json_object_get(c, "config");
		const char *id = json_string_value(json_object_get(c, "id"));
		if (!id)
			return cli_fail("no such container: %s", argv[optind]);
		struct attach a = {
			.attach = true,
			.interactive = interactive,
			.tty = json_is_true(json_object_get(config, "tty")),
		};
		return start_attached(cli, id, &a);
	}
	int rc = CLI_OK;
	for (int i = optind; i < argc; i++) {
		struct attach a = {0};
		int one = start_attached(cli, argv[i], &a);
		if (one != CLI_OK)
			rc = CLI_FAIL;
	}
	return rc;
}

static const char stop_usage[] =
	"Usage: container stop [-t SECONDS] [-s SIGNAL] [--all] "
	"CONTAINER...\n"
	"\n"
	"Sends the stop signal (the image's, else SIGTERM), waits, then "
	"SIGKILL.\n"
	"\n"
	"Options:\n"
	"  -t, --time SECONDS    wait this long before SIGKILL (default 5)\n"
	"  -s, --signal SIGNAL   the signal to send first\n"
	"  -a, --all             stop every running container\n"
	"  -h, --help            show this help\n";

static int container_stop(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"time", required_argument, NULL, 't'},
		{"signal", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_json_ json_t *extra = json_object();
	bool all = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "t:s:ah", options, NULL)) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			long t = strtol(optarg, &end, 10);
			if (*end || t < 0) {
				cli_fail("-t wants seconds, not '%s'", optarg);
				return CLI_USAGE;
			}
			json_object_set_new(extra, "timeout", json_integer(t));
			break;
		}
		case 's': {
			int sig;
			if (parse_signal(optarg, &sig) < 0) {
				cli_fail("unknown signal '%s'", optarg);
				return CLI_USAGE;
			}
			json_object_set_new(extra, "signal", json_integer(sig));
			break;
		}
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(stop_usage, stdout);
			return CLI_OK;
		default:
			fputs(stop_usage, stderr);
			return CLI_USAGE;
		}
	}
	return on_containers(cli, argc, argv, all, true, "containerStop", extra, 600000,
			     stop_usage);
}

static const char kill_usage[] =
	"Usage: container kill [-s SIGNAL] [--all] CONTAINER...\n"
	"\n"
	"Sends a signal (default SIGKILL) to the container's main process.\n"
	"\n"
	"Options:\n"
	"  -s, --signal SIGNAL  the signal (name or number)\n"
	"  -a, --all            every running container\n"
	"  -h, --help           show this help\n";

static int container_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"signal", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_json_ json_t *extra = json_object();
	bool all = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "s:ah", options, NULL)) != -1) {
		switch (opt) {
		case 's': {
			int sig;
			if (parse_signal(optarg, &sig) < 0) {
				cli_fail("unknown signal '%s'", optarg);
				return CLI_USAGE;
			}
			json_object_set_new(extra, "signal", json_integer(sig));
			break;
		}
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(kill_usage, stdout);
			return CLI_OK;
		default:
			fputs(kill_usage, stderr);
			return CLI_USAGE;
		}
	}
	return on_containers(cli, argc, argv, all, true, "containerKill", extra, 30000, kill_usage);
}

static const char delete_usage[] = "Usage: container delete [-f] [--all] CONTAINER...\n"
				   "\n"
				   "Removes containers; a running one only with --force.\n"
				   "\n"
				   "Options:\n"
				   "  -f, --force  kill running containers first\n"
				   "  -a, --all    every container\n"
				   "  -h, --help   show this help\n";

static int container_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"force", no_argument, NULL, 'f'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool force = false, all = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "fah", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			force = true;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(delete_usage, stdout);
			return CLI_OK;
		default:
			fputs(delete_usage, stderr);
			return CLI_USAGE;
		}
	}
	_cleanup_json_ json_t *extra = json_pack("{s:b}", "force", force);
	return on_containers(cli, argc, argv, all, false, "containerDelete", extra, 60000,
			     delete_usage);
}

/* ---- list and inspect ---- */

static const char list_usage[] = "Usage: container list [-a] [-q] [--format table|json]\n"
				 "\n"
				 "Lists running containers (all with -a).\n"
				 "\n"
				 "Options:\n"
				 "  -a, --all        include stopped and created containers\n"
				 "  -q, --quiet      print ids only\n"
				 "  --format FORMAT  table (default) or json\n"
				 "  -h, --help       show this help\n";

/* Binary sizes: 512MiB, 1.5GiB. */
static void human(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	while (bytes >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		bytes /= 1024;
		u++;
	}
	/* whole numbers as they are (64MiB), others with at most 3 digits */
	double whole = (double)(long long)(bytes + 0.5);
	int precision = u == 0 || (bytes - whole < 0.005 && whole - bytes < 0.005) ? 0
			: bytes < 10						   ? 2
			: bytes < 100						   ? 1
										   : 0;
	snprintf(buf, len, "%.*f%s", precision, bytes, units[u]);
}

static int container_list(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"quiet", no_argument, NULL, 'q'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool all = false, quiet = false;
	enum cli_format format = CLI_FORMAT_TABLE;
	int opt;
	while ((opt = getopt_long(argc, argv, "aqh", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
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
			fputs(list_usage, stderr);
			return CLI_USAGE;
		}
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *request = json_pack("{s:b}", "all", all);
	_cleanup_json_ json_t *reply = NULL;
	if (call(cli, "containerList", request, NULL, 0, &reply, 30000, &err) < 0)
		return cli_fail_error(&err);
	json_t *list = json_object_get(reply, "containers");
	if (format == CLI_FORMAT_JSON) {
		cli_print_json(list);
		return CLI_OK;
	}
	size_t i;
	json_t *c;
	if (quiet) {
		json_array_foreach(list, i, c) puts(json_string_value(json_object_get(c, "id")));
		return CLI_OK;
	}
	static const char *const headers[] = {"ID", "NAME", "IMAGE",  "STATE",
					      "IP", "CPUS", "MEMORY", "STARTED"};
	/* limits as given: "-" when there is none (the host's share) */
	struct cli_table *t = cli_table_new(8, headers);
	json_array_foreach(list, i, c)
	{
		char id[13];
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
		const char *started = json_string_value(json_object_get(c, "startedAt"));
		char when[20] = "";
		if (started)
			snprintf(when, sizeof(when), "%s", started);
		json_t *config = json_object_get(c, "config");
		json_int_t millis = json_integer_value(json_object_get(config, "cpuMillis"));
		json_int_t memory = json_integer_value(json_object_get(config, "memoryBytes"));
		char cpus[24] = "-", mem[24] = "-";
		if (millis > 0)
			snprintf(cpus, sizeof(cpus), "%g", (double)millis / 1000);
		if (memory > 0)
			human((double)memory, mem, sizeof(mem));
		const char *ip = json_string_value(json_object_get(c, "ip"));
		const char *cells[] = {id,
				       json_string_value(json_object_get(c, "name")),
				       json_string_value(json_object_get(c, "image")),
				       json_string_value(json_object_get(c, "state")),
				       ip && *ip ? ip : "-",
				       cpus,
				       mem,
				       when};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_OK;
}

static const char inspect_usage[] = "Usage: container inspect CONTAINER...\n"
				    "\n"
				    "Prints the containers as a JSON array.\n"
				    "\n"
				    "Options:\n"
				    "  -h, --help  show this help\n";

static int container_inspect(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(inspect_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2) {
		fputs(inspect_usage, stderr);
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *all = json_array();
	int rc = CLI_OK;
	for (int i = 1; i < argc; i++) {
		_cleanup_error_ struct error err = ERROR_INIT;
		_cleanup_json_ json_t *request = json_pack("{s:s}", "id", argv[i]);
		_cleanup_json_ json_t *reply = NULL;
		if (call(cli, "containerInspect", request, NULL, 0, &reply, 30000, &err) < 0)
			rc = cli_fail_error(&err);
		else
			json_array_append(all, json_object_get(reply, "container"));
	}
	cli_print_json(all);
	return rc;
}

/* ---- exec ---- */

/* call() that also takes the one descriptor the reply may carry. */
static int call_fd(struct cli *cli, const char *route, json_t *request, const int *fds,
		   unsigned nfds, json_t **reply, int *fd_out, struct error *err)
{
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, err) < 0)
		return -err->code;
	ipc_client_set_timeout(c, 30000);
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	cli_debug(cli, "calling %s", route);
	int rc = ipc_call_fds(c, route, request, fds, nfds, &frame, err);
	if (rc == 0) {
		*reply = move_ptr(frame.body);
		*fd_out = frame.nfds > 0 ? ipc_frame_take_fd(&frame, 0) : -1;
	}
	ipc_frame_release(&frame);
	ipc_client_close(c);
	return rc;
}

/* exec -t: a thread waits for the exit while the main one relays the
 * terminal; it says so on a pipe. */
struct exec_waiter {
	struct cli *cli;
	json_t *request;
	json_t *reply;
	struct error err;
	int rc;
	int done_fd;
};

static void *exec_wait_thread(void *arg)
{
	struct exec_waiter *w = arg;
	for (;;) {
		w->rc = call(w->cli, "containerWait", w->request, NULL, 0, &w->reply, 1000,
			     &w->err);
		if (w->rc == 0 || (w->err.code != ETIMEDOUT && w->err.code != EINTR))
			break;
		error_release(&w->err);
	}
	if (write(w->done_fd, "x", 1) < 0) {
		/* the reader is gone: nothing to tell */
	}
	return NULL;
}

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static void copy_size(int master)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

/* Relays our terminal and the process's until it exits; returns its code. */
static int exec_relay(struct cli *cli, const char *id, json_int_t pid, int master, bool interactive,
		      json_t *wait)
{
	int done[2];
	if (pipe2(done, O_CLOEXEC) < 0) {
		close(master);
		return cli_fail("pipe: %s", strerror(errno));
	}
	struct exec_waiter w = {.cli = cli, .request = wait, .err = ERROR_INIT, .done_fd = done[1]};
	/* signals are for this thread: the waiter blocks them all */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t thread;
	int prc = pthread_create(&thread, NULL, exec_wait_thread, &w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prc != 0) {
		close(master);
		close(done[0]);
		close(done[1]);
		return cli_fail("thread: %s", strerror(prc));
	}
	struct sigaction winch = {.sa_handler = on_winch};
	sigaction(SIGWINCH, &winch, NULL);
	if (interactive)
		raw_terminal();
	struct pollfd p[3] = {
		{.fd = done[0], .events = POLLIN},
		{.fd = master, .events = POLLIN},
		{.fd = interactive ? STDIN_FILENO : -1, .events = POLLIN},
	};
	char buf[16384];
	bool exited = false;
	/* the end of our input, again until taken (TTY_EOF_MAX) */
	int eofs = 0;
	while (!exited) {
		if (window_changed) {
			window_changed = 0;
			copy_size(master);
		}
		if (forwarded_signal) {
			_cleanup_json_ json_t *k = json_pack("{s:s,s:i,s:I}", "id", id, "signal",
							     (int)forwarded_signal, "pid", pid);
			forwarded_signal = 0;
			struct error ignored = ERROR_INIT;
			call(cli, "containerKill", k, NULL, 0, NULL, 5000, &ignored);
			error_release(&ignored);
		}
		int ready = poll(p, 3, eofs > 0 && eofs < TTY_EOF_MAX ? TTY_EOF_INTERVAL_MS : -1);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ready == 0) {
			write_all(master, "\004", 1);
			eofs++;
			continue;
		}
		if (p[0].revents)
			exited = true;
		if (p[1].revents) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n > 0)
				write_all(STDOUT_FILENO, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				p[1].fd = -1; /* EIO: every holder of the terminal is gone */
		}
		if (p[2].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0) {
				write_all(master, buf, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				/* end of our input: an end of file on the terminal */
				write_all(master, "\004", 1);
				eofs = 1;
				p[2].fd = -1;
			}
		}
	}
	/* what the process wrote before it went */
	if (p[1].fd >= 0 && fcntl(master, F_SETFL, O_NONBLOCK) == 0) {
		ssize_t n;
		while ((n = read(master, buf, sizeof(buf))) > 0)
			write_all(STDOUT_FILENO, buf, (size_t)n);
	}
	restore_terminal();
	pthread_join(thread, NULL);
	close(master);
	close(done[0]);
	close(done[1]);
	int code;
	if (w.rc < 0)
		code = engine_error(&w.err);
	else {
		json_int_t c = json_integer_value(json_object_get(w.reply, "exitCode"));
		code = c < 0 ? 125 : (int)c;
	}
	json_decref(w.reply);
	error_release(&w.err);
	return code;
}

static const char exec_usage[] =
	"Usage: container exec [-d] [-i] [-t] [-e K=V] [-u USER] [-w DIR] "
	"CONTAINER COMMAND [ARG...]\n"
	"\n"
	"Runs a command in a running container (same namespaces, cgroup and\n"
	"confinement) and exits with its exit code.\n"
	"\n"
	"Options:\n"
	"  -d, --detach            do not wait; print the process id\n"
	"  -i, --interactive       keep standard input attached\n"
	"  -t, --tty               give the command a terminal (ours, relayed)\n"
	"  -e, --env KEY=VALUE     set an environment variable (repeatable)\n"
	"  -u, --user USER[:GROUP] user name or uid, optional gid\n"
	"  -w, --workdir DIR       working directory\n"
	"  -h, --help              show this help\n";

static int container_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"detach", no_argument, NULL, 'd'},	{"interactive", no_argument, NULL, 'i'},
		{"tty", no_argument, NULL, 't'},	{"env", required_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'}, {"workdir", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},	{0},
	};
	bool detach = false, interactive = false, tty = false;
	_cleanup_json_ json_t *request = json_object();
	json_t *env = json_array();
	json_object_set_new(request, "env", env);
	int opt;
	while ((opt = getopt_long(argc, argv, "+dite:u:w:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			detach = true;
			break;
		case 'i':
			interactive = true;
			break;
		case 't':
			tty = true;
			break;
		case 'e':
			json_array_append_new(env, json_string(optarg));
			break;
		case 'u':
			json_object_set_new(request, "user", json_string(optarg));
			break;
		case 'w':
			json_object_set_new(request, "workdir", json_string(optarg));
			break;
		case 'h':
			fputs(exec_usage, stdout);
			return CLI_OK;
		default:
			fputs(exec_usage, stderr);
			return CLI_USAGE;
		}
	}
	if (argc - optind < 2) {
		cli_fail("exec takes a container and a command");
		fputs(exec_usage, stderr);
		return CLI_USAGE;
	}
	const char *id = argv[optind];
	json_t *args = json_array();
	for (int i = optind + 1; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_object_set_new(request, "id", json_string(id));
	json_object_set_new(request, "args", args);
	/* -d -t: nobody would read the terminal, so there is none (the
	 * output goes nowhere either way) */
	tty = tty && !detach;
	bool pass = !detach && !tty;
	json_object_set_new(request, "stdio", json_pack("[bbb]", pass && interactive, pass, pass));
	int fds[3];
	unsigned n = 0;
	if (pass) {
		if (interactive)
			fds[n++] = STDIN_FILENO;
		fds[n++] = STDOUT_FILENO;
		fds[n++] = STDERR_FILENO;
	}
	if (tty) {
		json_object_set_new(request, "tty", json_true());
		json_t *size = terminal_size();
		if (size)
			json_object_set_new(request, "terminalSize", size);
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *started = NULL;
	int master = -1;
	if (call_fd(cli, "containerCreateProcess", request, fds, n, &started, &master, &err) < 0)
		return engine_error(&err);
	json_int_t pid = json_integer_value(json_object_get(started, "pid"));
	if (detach) {
		printf("%lld\n", (long long)pid);
		return CLI_OK;
	}
	if (tty && master < 0)
		return cli_fail("the API server sent no terminal");
	static const int forward[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
	struct sigaction sa = {.sa_handler = on_signal};
	for (size_t i = 0; i < ARRAY_SIZE(forward); i++)
		sigaction(forward[i], &sa, NULL);
	_cleanup_json_ json_t *wait = json_pack("{s:s,s:I}", "id", id, "pid", pid);
	if (tty)
		return exec_relay(cli, id, pid, master, interactive, wait);
	_cleanup_json_ json_t *reply = NULL;
	for (;;) {
		int rc = call(cli, "containerWait", wait, NULL, 0, &reply, 1000, &err);
		if (rc == 0)
			break;
		if (err.code != ETIMEDOUT && err.code != EINTR)
			return engine_error(&err);
		error_release(&err);
		if (forwarded_signal) {
			_cleanup_json_ json_t *k = json_pack("{s:s,s:i,s:I}", "id", id, "signal",
							     (int)forwarded_signal, "pid", pid);
			forwarded_signal = 0;
			struct error ignored = ERROR_INIT;
			call(cli, "containerKill", k, NULL, 0, NULL, 5000, &ignored);
			error_release(&ignored);
		}
	}
	json_int_t code = json_integer_value(json_object_get(reply, "exitCode"));
	return code < 0 ? 125 : (int)code;
}

/* ---- logs ---- */

/* One CRI log line: "<RFC3339Nano> <stream> <F|P> <text>". */
struct log_entry {
	char stamp[40];
	bool is_stderr, partial;
	const char *text;
};

static bool parse_log_line(char *line, struct log_entry *e)
{
	char *sp1 = strchr(line, ' ');
	if (!sp1 || sp1 - line >= (long)sizeof(e->stamp))
		return false;
	char *sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || !sp2[1] || (sp2[1] != 'F' && sp2[1] != 'P'))
		return false;
	memcpy(e->stamp, line, sp1 - line);
	e->stamp[sp1 - line] = '\0';
	e->is_stderr = strncmp(sp1 + 1, "stderr", 6) == 0;
	e->partial = sp2[1] == 'P';
	e->text = sp2[2] == ' ' ? sp2 + 3 : sp2 + 2;
	return true;
}

static void print_entry(const struct log_entry *e, bool timestamps)
{
	FILE *out = e->is_stderr ? stderr : stdout;
	if (timestamps)
		fprintf(out, "%s ", e->stamp);
	fputs(e->text, out);
	if (!e->partial)
		fputc('\n', out);
	fflush(out);
}

/* --since: Unix seconds (as Docker: digits, maybe a fraction), an RFC 3339
 * time or date, or a duration back from now. */
static bool parse_since(const char *text, int64_t *ns)
{
	char *end;
	if (text[0] >= '0' && text[0] <= '9' && strspn(text, "0123456789.") == strlen(text)) {
		errno = 0;
		double secs = strtod(text, &end);
		if (*end || errno || secs > 9e9)
			return false;
		*ns = (int64_t)(secs * 1e9);
		return true;
	}
	if (time_parse_rfc3339_ns(text, ns))
		return true;
	int64_t ms = time_parse_duration_ms(text);
	if (ms < 0)
		return false;
	*ns = (time_realtime_ms() - ms) * 1000000;
	return true;
}

/* A line older than --since (one whose time cannot be read is kept). */
static bool before(const struct log_entry *e, int64_t since_ns)
{
	int64_t t;
	return since_ns >= 0 && time_parse_rfc3339_ns(e->stamp, &t) && t < since_ns;
}

static const char logs_usage[] =
	"Usage: container logs [-f] [-n N] [--timestamps] [--since TIME] "
	"CONTAINER\n"
	"\n"
	"Prints what the container wrote to stdout (here on stdout) and\n"
	"stderr (here on stderr).\n"
	"\n"
	"Options:\n"
	"  -f, --follow       keep printing until the container stops\n"
	"  -n, --tail N       only the last N lines\n"
	"  -t, --timestamps   prefix each line with its time\n"
	"  --since TIME       lines since a time (RFC 3339, a date, Unix seconds) or a duration "
	"(10m)\n"
	"  -h, --help         show this help\n";

static int container_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"follow", no_argument, NULL, 'f'},	{"tail", required_argument, NULL, 'n'},
		{"timestamps", no_argument, NULL, 't'}, {"since", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},	{0},
	};
	bool follow = false, timestamps = false;
	long tail = -1;
	int64_t since_ns = -1;
	int opt;
	while ((opt = getopt_long(argc, argv, "fn:th", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'n': {
			char *end;
			tail = strtol(optarg, &end, 10);
			if (*end || tail < 0) {
				cli_fail("--tail wants a number of lines, not '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		}
		case 't':
			timestamps = true;
			break;
		case 's':
			if (!parse_since(optarg, &since_ns)) {
				cli_fail("--since wants a time (2026-01-02T15:04:05Z, 2026-01-02, "
					 "or Unix seconds) or a duration (10m), not '%s'",
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
	if (argc - optind != 1) {
		fputs(logs_usage, stderr);
		return CLI_USAGE;
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	struct ipc_client *c = NULL;
	if (cli_connect(cli, &c, &err) < 0)
		return cli_fail_error(&err);
	_cleanup_json_ json_t *request = json_pack("{s:s}", "id", argv[optind]);
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	int rc = ipc_call_fds(c, "containerLogs", request, NULL, 0, &frame, &err);
	ipc_client_close(c);
	if (rc < 0)
		return cli_fail_error(&err);
	_cleanup_fclose_ FILE *log = fdopen(ipc_frame_take_fd(&frame, 0), "r");
	ipc_frame_release(&frame);
	if (!log)
		return cli_fail("the log came without a descriptor");
	/* the whole log first (the tail needs to know where the end is) */
	char **lines = NULL;
	size_t n = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, log)) > 0) {
		if (line[len - 1] != '\n')
			break; /* a line still being written: the follow loop takes it */
		line[len - 1] = '\0';
		struct log_entry e;
		if (!parse_log_line(line, &e) || before(&e, since_ns))
			continue;
		lines = xrealloc(lines, sizeof(char *) * (n + 1));
		lines[n++] = xstrdup(line);
	}
	size_t first = tail >= 0 && (size_t)tail < n ? n - (size_t)tail : 0;
	for (size_t i = 0; i < n; i++) {
		struct log_entry e;
		if (i >= first && parse_log_line(lines[i], &e))
			print_entry(&e, timestamps);
		free(lines[i]);
	}
	free(lines);
	if (!follow) {
		free(line);
		return CLI_OK;
	}
	/* follow: read what is appended until the container is no longer running */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int64_t next_check = 0;
	bool done = false;
	while (!forwarded_signal) {
		clearerr(log);
		while ((len = getline(&line, &cap, log)) > 0) {
			if (line[len - 1] != '\n') {
				fseek(log, -len, SEEK_CUR); /* complete it next time */
				break;
			}
			line[len - 1] = '\0';
			struct log_entry e;
			if (parse_log_line(line, &e))
				print_entry(&e, timestamps);
		}
		if (done)
			break;
		if (time_monotonic_ms() >= next_check) {
			next_check = time_monotonic_ms() + 500;
			_cleanup_json_ json_t *reply = NULL;
			struct error e = ERROR_INIT;
			if (call(cli, "containerInspect", request, NULL, 0, &reply, 5000, &e) < 0) {
				error_release(&e);
				done = true; /* gone: print what is left, then stop */
				continue;
			}
			const char *state = json_string_value(
				json_object_get(json_object_get(reply, "container"), "state"));
			if (!state ||
			    (strcmp(state, "running") != 0 && strcmp(state, "stopping") != 0 &&
			     strcmp(state, "booted") != 0))
				done = true;
		}
		if (!done)
			usleep(100000);
	}
	free(line);
	return CLI_OK;
}

/* ---- stats and prune ---- */

static int sample(struct cli *cli, json_t *ids, json_t **out, struct error *err)
{
	*out = json_array();
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		_cleanup_json_ json_t *request = json_pack("{s:O}", "id", id);
		_cleanup_json_ json_t *reply = NULL;
		if (call(cli, "containerStats", request, NULL, 0, &reply, 10000, err) < 0)
			return -err->code;
		json_array_append(*out, json_object_get(reply, "stats"));
	}
	return 0;
}

static json_t *find_by_id(json_t *list, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) if (strcmp(json_string_value(json_object_get(s, "id")),
						  id) == 0) return s;
	return NULL;
}

static const char stats_usage[] =
	"Usage: container stats [-a] [--no-stream] [--format table|json] "
	"[CONTAINER...]\n"
	"\n"
	"Shows CPU, memory, network, block I/O and process counts of running\n"
	"containers (or of those named, running or not), refreshed every\n"
	"second until interrupted.\n"
	"\n"
	"Options:\n"
	"  -a, --all        all containers, not only running ones\n"
	"  --no-stream      print one sample and exit\n"
	"  --format FORMAT  table (default) or json (implies --no-stream)\n"
	"  -h, --help       show this help\n";

static int container_stats(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"no-stream", no_argument, NULL, 'n'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool stream = true, all = false;
	enum cli_format format = CLI_FORMAT_TABLE;
	int opt;
	while ((opt = getopt_long(argc, argv, "ah", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'n':
			stream = false;
			break;
		case 'f':
			if (cli_parse_format(optarg, &format) < 0)
				return CLI_USAGE;
			if (format == CLI_FORMAT_JSON)
				stream = false;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return CLI_OK;
		default:
			fputs(stats_usage, stderr);
			return CLI_USAGE;
		}
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *ids = NULL;
	if (optind < argc) {
		ids = json_array();
		for (int i = optind; i < argc; i++)
			json_array_append_new(ids, json_string(argv[i]));
	} else if (all_ids(cli, !all, &ids, &err) < 0) {
		return cli_fail_error(&err);
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	json_t *before = NULL;
	if (sample(cli, ids, &before, &err) < 0) {
		json_decref(before);
		return cli_fail_error(&err);
	}
	bool tty = isatty(STDOUT_FILENO);
	int rc = CLI_OK;
	while (!forwarded_signal) {
		usleep(stream ? 1000000 : 250000);
		json_t *now = NULL;
		if (sample(cli, ids, &now, &err) < 0) {
			json_decref(now);
			rc = cli_fail_error(&err);
			break;
		}
		size_t i;
		json_t *s;
		json_array_foreach(now, i, s)
		{
			json_t *b = find_by_id(before, json_string_value(json_object_get(s, "id")));
			double cpu = 0;
			if (b) {
				double dcpu =
					(double)(json_integer_value(json_object_get(s, "cpuUsec")) -
						 json_integer_value(json_object_get(b, "cpuUsec")));
				double dt = (double)(json_integer_value(
							     json_object_get(s, "timestampUsec")) -
						     json_integer_value(
							     json_object_get(b, "timestampUsec")));
				cpu = dt > 0 ? 100.0 * dcpu / dt : 0;
			}
			json_object_set_new(s, "cpuPercent", json_real(cpu));
		}
		if (format == CLI_FORMAT_JSON) {
			cli_print_json(now);
		} else {
			if (stream && tty)
				fputs("\033[2J\033[H", stdout);
			static const char *const headers[] = {
				"ID",	 "NAME",    "CPU %",	 "MEM USAGE / LIMIT",
				"MEM %", "NET I/O", "BLOCK I/O", "PIDS"};
			struct cli_table *t = cli_table_new(8, headers);
			json_array_foreach(now, i, s)
			{
				char id[13], cpu[16], mem[48], memp[16], net[48], blk[48], pids[16];
				char a[16], b2[16];
				snprintf(id, sizeof(id), "%s",
					 json_string_value(json_object_get(s, "id")));
				snprintf(cpu, sizeof(cpu), "%.2f%%",
					 json_real_value(json_object_get(s, "cpuPercent")));
				double usage = (double)json_integer_value(
					json_object_get(s, "memoryUsage"));
				double limit = (double)json_integer_value(
					json_object_get(s, "memoryLimit"));
				human(usage, a, sizeof(a));
				if (limit > 0)
					human(limit, b2, sizeof(b2));
				else
					snprintf(b2, sizeof(b2), "unlimited");
				snprintf(mem, sizeof(mem), "%s / %s", a, b2);
				if (limit > 0)
					snprintf(memp, sizeof(memp), "%.2f%%",
						 100.0 * usage / limit);
				else
					snprintf(memp, sizeof(memp), "-");
				human((double)json_integer_value(json_object_get(s, "netRx")), a,
				      sizeof(a));
				human((double)json_integer_value(json_object_get(s, "netTx")), b2,
				      sizeof(b2));
				snprintf(net, sizeof(net), "%s / %s", a, b2);
				human((double)json_integer_value(json_object_get(s, "blockRead")),
				      a, sizeof(a));
				human((double)json_integer_value(json_object_get(s, "blockWrite")),
				      b2, sizeof(b2));
				snprintf(blk, sizeof(blk), "%s / %s", a, b2);
				snprintf(pids, sizeof(pids), "%lld",
					 (long long)json_integer_value(json_object_get(s, "pids")));
				const char *cells[] = {
					id,   json_string_value(json_object_get(s, "name")),
					cpu,  mem,
					memp, net,
					blk,  pids};
				cli_table_add(t, cells);
			}
			cli_table_print(t, stdout);
			cli_table_free(t);
			fflush(stdout);
		}
		json_decref(before);
		before = now;
		if (!stream)
			break;
	}
	json_decref(before);
	return rc;
}

static const char prune_usage[] = "Usage: container prune\n"
				  "\n"
				  "Removes every stopped container.\n"
				  "\n"
				  "Options:\n"
				  "  -h, --help  show this help\n";

static int container_prune(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(prune_usage, stdout);
		return CLI_OK;
	}
	if (argc > 1) {
		fputs(prune_usage, stderr);
		return CLI_USAGE;
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *reply = NULL;
	if (call(cli, "containerPrune", NULL, NULL, 0, &reply, 120000, &err) < 0)
		return cli_fail_error(&err);
	size_t i;
	json_t *id;
	json_array_foreach(json_object_get(reply, "deleted"), i, id)
		printf("Deleted: %s\n", json_string_value(id));
	return CLI_OK;
}

const struct cli_command cli_container_commands[] = {
	{"run", NULL, container_run, "create and start a container"},
	{"create", NULL, container_create, "create a container"},
	{"start", NULL, container_start, "start created containers"},
	{"stop", NULL, container_stop, "stop containers"},
	{"kill", NULL, container_kill, "send a signal to containers"},
	{"delete", "rm", container_delete, "remove containers"},
	{"list", "ls", container_list, "list containers"},
	{"exec", NULL, container_exec, "run a command in a running container"},
	{"logs", NULL, container_logs, "print a container's output"},
	{"stats", NULL, container_stats, "show containers' resource use"},
	{"prune", NULL, container_prune, "remove stopped containers"},
	{"inspect", NULL, container_inspect, "show containers as JSON"},
};
const size_t cli_container_ncommands = ARRAY_SIZE(cli_container_commands);
