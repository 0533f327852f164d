/* container-apiserver: owns the state, routes requests, supervises plugins.
 *
 *   container-apiserver start [--app-root DIR] [--run-root DIR] [--log-root DIR]
 *                             [--debug] [--foreground]
 */
#include "apiserver.h"
#include "build-info.h"
#include "cgroup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define ADMIN_GROUP "container-admin"

static void usage(FILE *out)
{
	fputs("Usage: container-apiserver start [OPTIONS]\n"
	      "\n"
	      "Runs the container API server. Usually started by `container system start`.\n"
	      "\n"
	      "Options:\n"
	      "  --app-root DIR   state directory (env CONTAINER_APP_ROOT, default "
	      "/var/lib/container)\n"
	      "  --run-root DIR   sockets and pid files (env CONTAINER_RUN_ROOT, default "
	      "/run/container)\n"
	      "  --log-root DIR   log files (env CONTAINER_LOG_ROOT, default <app-root>/logs)\n"
	      "  --debug          log debug messages\n"
	      "  --foreground     do not detach; also log to stderr\n"
	      "  -h, --help       show this help\n"
	      "  --version        print the version\n",
	      out);
}

/* The admin group owns the socket; it is created if missing. Returns
 * (gid_t)-1 when it cannot be had: then only root may connect. */
static gid_t admin_group(void)
{
	struct group *gr = getgrnam(ADMIN_GROUP);
	if (gr)
		return gr->gr_gid;
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execlp("groupadd", "groupadd", "--system", ADMIN_GROUP, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid > 0)
		waitpid(pid, &status, 0);
	gr = getgrnam(ADMIN_GROUP);
	if (gr) {
		log_info("created group %s (gid %u)", ADMIN_GROUP, (unsigned)gr->gr_gid);
		return gr->gr_gid;
	}
	log_warn("group %s does not exist and could not be created: only root may use the API",
		 ADMIN_GROUP);
	return (gid_t)-1;
}

/* On a pure v2 host our own cgroup must hold no process to give containers
 * controllers: we (and the plugins and helpers we start) move into its
 * "supervisor" leaf first. Containers then fail with a clear error if
 * that was not possible. */
static void enter_cgroup_leaf(void)
{
	struct cgroup_layout layout;
	struct error err = ERROR_INIT;
	if (cgroup_detect(NULL, &layout, &err) == 0) {
		char *moved = NULL;
		int r = cgroup_enter_leaf(&layout, NULL, &moved, &err);
		if (r > 0)
			log_info("moved into cgroup %s, out of the way of the containers'", moved);
		free(moved);
		cgroup_layout_release(&layout);
	}
	if (err.message)
		log_warn("cgroups: %s", err.message);
	error_release(&err);
}

/* Takes the run root's pid-file lock. The lock, not the file, says that an
 * apiserver runs: a kill -9 releases it with the process. */
static int lock_pidfile(const char *path, int *fd_out, struct error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_errno(err, errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		char buf[32] = {0};
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
		if (saved == EWOULDBLOCK) {
			int pid = n > 0 ? atoi(buf) : 0;
			return error_set(err, EEXIST,
					 "already running on this run root "
					 "(pid %d, lock %s)",
					 pid, path);
		}
		return error_errno(err, saved, "lock %s", path);
	}
	*fd_out = fd;
	return 0;
}

static int write_pid(int fd, struct error *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, n, 0) != n)
		return error_errno(err, errno, "write pid file");
	return 0;
}

/* Daemon mode: the caller waits on a pipe until the daemon says it is ready
 * (or why it is not), so `container-apiserver start` fails visibly. */
static int daemonize(int *ready_fd)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pipefd[1]);
		char buf[4096];
		size_t len = 0;
		ssize_t n;
		while (len < sizeof(buf) - 1 &&
		       (n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			len += n;
		}
		buf[len] = '\0';
		waitpid(pid, NULL, 0);
		if (strncmp(buf, "OK", 2) == 0)
			_exit(0);
		fprintf(stderr, "container-apiserver: %s\n",
			len ? buf : "the daemon exited during start-up; see its log");
		_exit(1);
	}
	close(pipefd[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0); /* not a session leader: can never regain a terminal */
	*ready_fd = pipefd[1];
	return 0;
}

static void report_ready(int *ready_fd, const struct error *err)
{
	if (*ready_fd < 0)
		return;
	const char *msg = err ? err->message : "OK";
	if (write(*ready_fd, msg, strlen(msg)) < 0) {
	}
	close(*ready_fd);
	*ready_fd = -1;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static void signal_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct apiserver *api = data;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			supervisor_reap(api->supervisor);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("received %s: shutting down", strsignal(si.ssi_signo));
			api->shutting_down = true;
			loop_quit(loop);
			break;
		case SIGHUP:
			log_info("received SIGHUP: reopening the log");
			break;
		}
	}
}

/* Busy polling after activity (CONTAINER_BUSY_POLL_US, default 50 µs). */
static int busy_poll_us(void)
{
	const char *v = getenv("CONTAINER_BUSY_POLL_US");
	return v ? atoi(v) : 50;
}

static int apiserver_start(struct apiserver *api, int *ready_fd, struct error *err)
{
	if (fs_mkdir_p(api->paths.run_root, 0755, err) < 0 ||
	    fs_mkdir_p(api->paths.app_root, 0755, err) < 0 ||
	    fs_mkdir_p(api->paths.log_root, 0755, err) < 0)
		return -err->code;
	_cleanup_free_ char *log_path =
		xasprintf("%s/container-apiserver.log", api->paths.log_root);
	if (log_open("container-apiserver", log_path, api->debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		     err) < 0)
		return -err->code;
	log_set_stderr_copy(api->foreground);
	/* Runtime helpers detach from us by a fork of their own; as a
	 * subreaper we stay their parent and reap them when they end, instead
	 * of leaving that to an init that may never do it (a container's, or
	 * a sandbox's). If we die, they go to init and keep running. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));

	_cleanup_free_ char *db_path = xasprintf("%s/container.db", api->paths.app_root);
	if (store_open(db_path, &api->store, err) < 0)
		return error_prefix(err, "open metadata store");

	api->loop = loop_new(err);
	if (!api->loop)
		return -err->code;
	loop_set_busy_poll(api->loop, busy_poll_us());

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		return error_errno(err, errno, "signalfd");
	if (!loop_add_fd(api->loop, sfd, EPOLLIN, signal_event, api, err))
		return -err->code;

	gid_t gid = admin_group();
	api->admin_gid = gid;
	_cleanup_free_ char *sock_path = paths_apiserver_socket(&api->paths);
	struct ipc_server_options opts = {
		.path = sock_path,
		.mode = gid == (gid_t)-1 ? 0600 : 0660,
		.socket_gid = gid,
		.admin_gid = gid,
		.routes = apiserver_routes,
		.nroutes = apiserver_nroutes,
		.ctx = api,
	};
	if (ipc_server_listen(api->loop, &opts, &api->server, err) < 0)
		return -err->code;

	enter_cgroup_leaf();
	api->supervisor = supervisor_new(api);
	supervisor_boot(api->supervisor);
	containers_reconcile(api);
	containers_standby_start(api);
	log_info("container-apiserver %s (%s) listening on %s; app root %s", CONTAINER_VERSION,
		 CONTAINER_GIT_COMMIT, sock_path, api->paths.app_root);
	report_ready(ready_fd, NULL);
	if (!api->foreground)
		detach_stdio();
	return loop_run(api->loop, err);
}

static int cmd_start(int argc, char **argv)
{
	static const struct option options[] = {
		{"app-root", required_argument, NULL, 'a'},
		{"run-root", required_argument, NULL, 'r'},
		{"log-root", required_argument, NULL, 'l'},
		{"debug", no_argument, NULL, 'd'},
		{"foreground", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *app_root = NULL, *run_root = NULL, *log_root = NULL;
	struct apiserver api = {0};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			app_root = optarg;
			break;
		case 'r':
			run_root = optarg;
			break;
		case 'l':
			log_root = optarg;
			break;
		case 'd':
			api.debug = true;
			break;
		case 'f':
			api.foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "container-apiserver: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "container-apiserver: must run as root\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	paths_resolve(&api.paths, app_root, run_root, log_root);
	api.started_mono_ms = time_monotonic_ms();
	api.started_real_ms = time_realtime_ms();

	_cleanup_error_ struct error err = ERROR_INIT;
	if (fs_mkdir_p(api.paths.run_root, 0755, &err) < 0) {
		fprintf(stderr, "container-apiserver: %s\n", err.message);
		return 1;
	}
	_cleanup_free_ char *pid_path = paths_apiserver_pidfile(&api.paths);
	_cleanup_close_ int pid_fd = -1;
	if (lock_pidfile(pid_path, &pid_fd, &err) < 0) {
		fprintf(stderr, "container-apiserver: %s\n", err.message);
		return 1;
	}
	int ready_fd = -1;
	if (!api.foreground && daemonize(&ready_fd) < 0) {
		fprintf(stderr, "container-apiserver: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	if (write_pid(pid_fd, &err) < 0 || apiserver_start(&api, &ready_fd, &err) < 0) {
		log_error("%s", err.message);
		if (ready_fd >= 0)
			report_ready(&ready_fd, &err);
		else
			fprintf(stderr, "container-apiserver: %s\n", err.message);
	}

	log_info("shutting down");
	containers_standby_stop();
	if (api.stop_containers && api.store)
		containers_stop_all(&api);
	if (api.loop)
		containers_trash_sweep(&api);
	if (api.supervisor)
		supervisor_shutdown(api.supervisor, 5000);
	ipc_server_free(api.server);
	supervisor_free(api.supervisor);
	store_close(api.store);
	loop_free(api.loop);
	unlink(pid_path);
	int rc = error_is_set(&err) ? 1 : 0;
	log_info("stopped");
	log_close();
	paths_release(&api.paths);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("container-apiserver %s (%s, %s, built %s)\n", CONTAINER_VERSION,
		       CONTAINER_GIT_COMMIT, CONTAINER_BUILD_TYPE, CONTAINER_BUILD_DATE);
		return 0;
	}
	if (strcmp(argv[1], "start") == 0) {
		/* Whatever the starter had open (a test runner's pipes, a
		 * terminal's fds) must not live on in the daemon and its plugins. */
		close_range(3, ~0U, 0);
		return cmd_start(argc - 1, argv + 1);
	}
	fprintf(stderr, "container-apiserver: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
