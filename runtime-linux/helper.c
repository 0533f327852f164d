/* container-runtime-linux: the helper that owns one container.
 *
 *   container-runtime-linux --bundle DIR --id ID [--ready-fd N]
 *
 * Started by the apiserver (double fork, setsid), it outlives the apiserver:
 * it is a child subreaper, serves <bundle>/runtime.sock, and keeps
 * <bundle>/state.json current (written atomically, with the init pid and its
 * start time). Everything happens on one epoll loop; the container's state
 * changes only in transition(). */
#include "cgroup.h"
#include "json/jsonutil.h"
#include "util/digest.h"
#include "ipc/server.h"
#include "security.h"
#include "container_spawn.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/paths.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

enum helper_state {
	STATE_CREATED,
	STATE_BOOTED,
	STATE_RUNNING,
	STATE_STOPPING,
	STATE_STOPPED,
	STATE_SHUTTING_DOWN,
};

static const char *const state_names[] = {
	[STATE_CREATED] = "created", [STATE_BOOTED] = "booted",
	[STATE_RUNNING] = "running", [STATE_STOPPING] = "stopping",
	[STATE_STOPPED] = "stopped", [STATE_SHUTTING_DOWN] = "shuttingDown",
};

struct waiter {
	struct ipc_conn *conn;
	uint64_t id;
	struct waiter *next;
};

/* An output stream of the container: a pipe we read, tee'd to the log and
 * to the attached client. */
struct stream {
	struct helper *h;
	const char *name; /* "stdout", "stderr" */
	int fd;		  /* our read end */
	int client_fd;	  /* where the attached client wants it, or -1 */
	struct loop_source *src;
	char partial[8192]; /* an unterminated line waiting for its end */
	size_t npartial;
};

/* A process started by createProcess (`container exec`). */
struct exec_process {
	pid_t pid;
	int exit_code; /* -1 while it runs */
	struct waiter *waiters;
	struct exec_process *next;
};

struct helper {
	const char *bundle, *id;
	struct exec_process *execs;
	json_t *config;
	struct paths paths;
	struct loop *loop;
	struct ipc_server *server;
	enum helper_state state;
	pid_t init_pid;
	unsigned long long init_start;
	int exit_code; /* -1 until known */
	int64_t started_ms, finished_ms;
	bool init_exited;
	int client_stdin;	   /* passed through to the container, or -1 */
	unsigned short rows, cols; /* the client terminal's size at bootstrap (-t) */
	int pty_master;		   /* with a terminal: our side of it, or -1 */
	int tty_stdin;		   /* with a terminal: the client's stdin, copied to the pty */
	struct loop_source *tty_stdin_src;
	struct stream out, err;
	int log_fd;
	struct waiter *waiters;
	struct loop_timer *kill_timer;
	struct loop_timer *eof_timer; /* -t: end-of-file characters after piped input */
	int eofs;
	struct seccomp_program seccomp;
	struct cgroup *cg;
	struct cgroup_join join;
};

static void cgroup_release(struct helper *h)
{
	if (!h->cg)
		return;
	struct error err = ERROR_INIT;
	if (cgroup_destroy(h->cg, &err) < 0) {
		log_warn("container %s: %s", h->id, err.message);
		error_release(&err);
	}
	cgroup_join_close(&h->join);
	cgroup_free(h->cg);
	h->cg = NULL;
}

/* Makes the container's cgroups and opens what its processes need to enter
 * them on their own (cgroup_join_self). */
static int make_cgroup(struct helper *h, struct error *err)
{
	json_t *limits = json_object_get(h->config, "limits");
	struct cgroup_limits l = {
		.cpu_millis = json_integer_value(json_object_get(limits, "cpuMillis")),
		.memory_bytes = json_integer_value(json_object_get(limits, "memoryBytes")),
		.pids_max = json_integer_value(json_object_get(limits, "pidsMax")),
	};
	struct cgroup_layout layout;
	if (cgroup_detect(NULL, &layout, err) < 0)
		return error_prefix(err, "cgroups");
	_cleanup_free_ char *parent = cgroup_instance_name(h->paths.app_root);
	int rc = cgroup_create(&layout, NULL, parent, h->id, &l, &h->cg, err);
	cgroup_layout_release(&layout);
	if (rc == 0)
		rc = cgroup_join_open(h->cg, &h->join, err);
	return rc;
}

static void write_state(struct helper *h)
{
	char started[40] = "", finished[40] = "";
	if (h->started_ms)
		time_format_rfc3339(h->started_ms, started, sizeof(started));
	if (h->finished_ms)
		time_format_rfc3339(h->finished_ms, finished, sizeof(finished));
	_cleanup_json_ json_t *j =
		json_pack("{s:s,s:s,s:i,s:I,s:i,s:s,s:s,s:i}", "id", h->id, "state",
			  state_names[h->state], "pid", (int)h->init_pid, "pidStartTime",
			  (json_int_t)h->init_start, "exitCode", h->exit_code, "startedAt", started,
			  "finishedAt", finished, "helperPid", (int)getpid());
	_cleanup_free_ char *text = json_dump_compact(j);
	_cleanup_free_ char *path = xasprintf("%s/state.json", h->bundle);
	struct error err = ERROR_INIT;
	if (fs_write_file_replace(path, text, strlen(text), 0644, &err) < 0) {
		log_error("%s", err.message);
		error_release(&err);
	}
}

static json_t *state_json(struct helper *h)
{
	char started[40] = "", finished[40] = "";
	if (h->started_ms)
		time_format_rfc3339(h->started_ms, started, sizeof(started));
	if (h->finished_ms)
		time_format_rfc3339(h->finished_ms, finished, sizeof(finished));
	json_t *j =
		json_pack("{s:s,s:s,s:i,s:s,s:s}", "id", h->id, "state", state_names[h->state],
			  "pid", (int)h->init_pid, "startedAt", started, "finishedAt", finished);
	if (h->exit_code >= 0)
		json_object_set_new(j, "exitCode", json_integer(h->exit_code));
	return j;
}

static void answer_waiters(struct helper *h)
{
	while (h->waiters) {
		struct waiter *w = h->waiters;
		h->waiters = w->next;
		if (ipc_conn_is_open(w->conn))
			ipc_conn_reply(w->conn, w->id, state_json(h), NULL, 0);
		ipc_conn_unref(w->conn);
		free(w);
	}
}

/* The one place the state changes. */
static void transition(struct helper *h, enum helper_state to)
{
	log_info("container %s: %s -> %s", h->id, state_names[h->state], state_names[to]);
	h->state = to;
	write_state(h);
	if (to == STATE_STOPPED)
		answer_waiters(h);
}

/* ---- output ---- */

/* CRI log lines: "<RFC3339Nano> <stream> <F|P> <text>". */
static void log_line(struct helper *h, const char *stream, const char *data, size_t len, bool full)
{
	if (h->log_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char head[96];
	int n = snprintf(head, sizeof(head), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec, stream, full ? 'F' : 'P');
	struct iovec iov[3] = {{head, (size_t)n}, {(void *)data, len}, {"\n", 1}};
	if (writev(h->log_fd, iov, 3) < 0)
		log_warn("write stdio.log: %s", strerror(errno));
}

static void stream_log(struct stream *s, const char *data, size_t len)
{
	/* split into lines; keep an unterminated tail for the next read */
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (s->npartial + take > sizeof(s->partial)) {
			/* a very long line: flush what we have as a partial entry */
			log_line(s->h, s->name, s->partial, s->npartial, false);
			s->npartial = 0;
		}
		if (take > sizeof(s->partial)) {
			log_line(s->h, s->name, data, take, nl != NULL);
		} else if (nl) {
			memcpy(s->partial + s->npartial, data, take);
			log_line(s->h, s->name, s->partial, s->npartial + take, true);
			s->npartial = 0;
		} else {
			memcpy(s->partial + s->npartial, data, take);
			s->npartial += take;
		}
		if (!nl)
			break;
		data = nl + 1;
		len -= take + 1;
	}
}

static void maybe_finish(struct helper *h);

static void stream_close(struct stream *s)
{
	if (s->fd < 0)
		return;
	if (s->npartial) {
		log_line(s->h, s->name, s->partial, s->npartial, false);
		s->npartial = 0;
	}
	loop_remove_fd(s->src);
	s->src = NULL;
	close(s->fd);
	s->fd = -1;
	if (s->client_fd >= 0) {
		close(s->client_fd);
		s->client_fd = -1;
	}
}

static void stream_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF, or EIO from a pty nobody holds any more */
		stream_close(s);
		maybe_finish(s->h);
		return;
	}
	stream_log(s, buf, (size_t)n);
	if (s->client_fd >= 0) {
		const char *p = buf;
		size_t left = (size_t)n;
		while (left > 0) {
			ssize_t w = write(s->client_fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				/* the client went away: keep logging, stop copying */
				close(s->client_fd);
				s->client_fd = -1;
				break;
			}
			p += w;
			left -= (size_t)w;
		}
	}
}

static int stream_open(struct helper *h, struct stream *s, const char *name, int *child_end,
		       struct error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe for %s", name);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->h = h;
	s->name = name;
	s->fd = p[0];
	s->src = loop_add_fd(h->loop, p[0], EPOLLIN, stream_event, s, err);
	if (!s->src) {
		close(p[0]);
		close(p[1]);
		s->fd = -1;
		return -err->code;
	}
	*child_end = p[1];
	return 0;
}

/* ---- the container's life ---- */

/* Exit is final once init is gone and its output is drained, so that a
 * waiter never sees the exit before the last line. */
static void maybe_finish(struct helper *h)
{
	if (!h->init_exited || h->out.fd >= 0 || h->err.fd >= 0)
		return;
	if (h->state == STATE_STOPPED || h->state == STATE_SHUTTING_DOWN)
		return;
	loop_cancel_timer(h->kill_timer);
	h->kill_timer = NULL;
	/* waiters first: the cgroup is empty (a pid namespace ends with its
	 * init), and its removal need not delay them; a `shutdown` waits for
	 * it, being served on this loop afterwards */
	transition(h, STATE_STOPPED);
	cgroup_release(h);
}

static void init_exited(struct helper *h, int status)
{
	h->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	h->finished_ms = time_realtime_ms();
	h->init_exited = true;
	log_info("container %s: init %d exited with code %d", h->id, (int)h->init_pid,
		 h->exit_code);
	maybe_finish(h);
}

static struct exec_process *exec_find(struct helper *h, pid_t pid)
{
	for (struct exec_process *p = h->execs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static json_t *exec_json(const struct exec_process *p)
{
	json_t *j = json_pack("{s:i}", "pid", (int)p->pid);
	if (p->exit_code >= 0)
		json_object_set_new(j, "exitCode", json_integer(p->exit_code));
	return j;
}

static void exec_exited(struct exec_process *p, int status)
{
	p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	while (p->waiters) {
		struct waiter *w = p->waiters;
		p->waiters = w->next;
		if (ipc_conn_is_open(w->conn))
			ipc_conn_reply(w->conn, w->id, exec_json(p), NULL, 0);
		ipc_conn_unref(w->conn);
		free(w);
	}
}

static void reap(struct helper *h)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (pid == h->init_pid && !h->init_exited) {
			init_exited(h, status);
			continue;
		}
		for (struct exec_process *p = h->execs; p; p = p->next)
			if (p->pid == pid && p->exit_code < 0)
				exec_exited(p, status);
	}
}

static void signal_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct helper *h = data;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(h);
		else
			log_info("ignoring %s: the container's life is decided through the API",
				 strsignal(si.ssi_signo));
	}
}

/* -t: the end of piped input, sent again until taken (TTY_EOF_MAX). */
static void eof_timer(struct loop *loop, void *data)
{
	struct helper *h = data;
	h->eof_timer = NULL;
	if (h->pty_master < 0 || h->state != STATE_RUNNING || h->eofs >= TTY_EOF_MAX)
		return;
	if (write(h->pty_master, "\x04", 1) < 0)
		return;
	h->eofs++;
	h->eof_timer = loop_add_timer(loop, TTY_EOF_INTERVAL_MS, eof_timer, h);
}

/* With -t: the client's keystrokes go into the pty. */
static void tty_stdin_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct helper *h = data;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || h->pty_master < 0) {
		/* the end of piped input: the terminal's end-of-file character */
		if (n == 0 && h->pty_master >= 0)
			eof_timer(loop, h);
		loop_remove_fd(h->tty_stdin_src);
		h->tty_stdin_src = NULL;
		return;
	}
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(h->pty_master, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		p += w;
		n -= w;
	}
}

/* With -t the container opens its terminal in its own /dev/pts and hands
 * the master over: what it writes comes out of the master, which the stdout
 * stream reads (EIO once its last process has closed the terminal), and the
 * client's stdin is copied in. */
static int tty_attach(struct helper *h, int master, struct error *err)
{
	if (h->eof_timer) {
		loop_cancel_timer(h->eof_timer);
		h->eof_timer = NULL;
	}
	h->eofs = 0;
	if (h->pty_master >= 0)
		close(h->pty_master); /* the terminal of an earlier start */
	h->pty_master = master;
	/* No O_NONBLOCK here: the flag belongs to the open file description,
	 * which the master shares; epoll says when one read will not block. */
	int reader = fcntl(master, F_DUPFD_CLOEXEC, 3);
	if (reader < 0)
		return error_errno(err, errno, "dup the terminal");
	h->out.h = h;
	h->out.name = "stdout";
	h->out.fd = reader;
	h->out.src = loop_add_fd(h->loop, reader, EPOLLIN, stream_event, &h->out, err);
	if (!h->out.src) {
		close(reader);
		h->out.fd = -1;
		return -err->code;
	}
	if (h->client_stdin >= 0) {
		/* the client's stdin is its terminal too: never change its flags */
		h->tty_stdin = h->client_stdin;
		h->client_stdin = -1;
		h->tty_stdin_src =
			loop_add_fd(h->loop, h->tty_stdin, EPOLLIN, tty_stdin_event, h, err);
		if (!h->tty_stdin_src)
			error_release(err); /* a stdin that cannot be polled: output still works */
	}
	return 0;
}

static char **strings_from(json_t *arr)
{
	size_t n = json_array_size(arr);
	char **out = xzalloc(sizeof(char *) * (n + 1));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(json_string_value(json_array_get(arr, i)) ?: "");
	return out;
}

static void strings_free(char **list)
{
	for (char **p = list; p && *p; p++)
		free(*p);
	free(list);
}

static int start_container(struct helper *h, struct error *err)
{
	json_t *c = h->config, *process = json_object_get(c, "process");
	_cleanup_free_ char *upper = xasprintf("%s/upper", h->bundle);
	_cleanup_free_ char *work = xasprintf("%s/work", h->bundle);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", h->bundle);
	if (fs_mkdir_p(upper, 0755, err) < 0 || fs_mkdir_p(work, 0700, err) < 0 ||
	    fs_mkdir_p(rootfs, 0755, err) < 0)
		return -err->code;
	char **lowers = strings_from(json_object_get(c, "lowerdirs"));
	char **argv = strings_from(json_object_get(process, "args"));
	char **env = strings_from(json_object_get(process, "env"));
	size_t nlowers = json_array_size(json_object_get(c, "lowerdirs"));
	int rc = 0;
	if (!argv[0])
		rc = error_set(err, EINVAL,
			       "no command to run: the image has none and none was "
			       "given");
	/* capabilities: default, then the changes asked for */
	cap_mask_t caps = caps_default();
	json_t *add = json_object_get(c, "capAdd"), *drop = json_object_get(c, "capDrop");
	char **adds = strings_from(add), **drops = strings_from(drop);
	if (rc == 0)
		rc = caps_apply_changes(caps_default(), (const char *const *)adds,
					json_array_size(add), (const char *const *)drops,
					json_array_size(drop), &caps, err);
	_cleanup_free_ char *cache = xasprintf("%s/cache", h->paths.app_root);
	if (rc == 0)
		rc = fs_mkdir_p(cache, 0700, err);
	if (rc == 0)
		rc = seccomp_profile_load(caps, cache, &h->seccomp, err);
	int child_out = -1, child_err = -1, child_in = -1;
	bool tty = json_is_true(json_object_get(process, "tty"));
	int master = -1;
	if (rc == 0 && tty) {
		/* placeholders: the child replaces them with its own terminal */
		child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		child_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
		child_err = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (rc == 0 && !tty)
		rc = stream_open(h, &h->out, "stdout", &child_out, err);
	if (rc == 0 && !tty)
		rc = stream_open(h, &h->err, "stderr", &child_err, err);
	if (rc == 0 && !tty) {
		child_in = h->client_stdin >= 0 ? h->client_stdin
						: open("/dev/null", O_RDONLY | O_CLOEXEC);
		h->client_stdin = -1;
	}
	_cleanup_free_ char *hosts = xasprintf("%s/hosts", h->bundle);
	_cleanup_free_ char *hostname_file = xasprintf("%s/hostname", h->bundle);
	_cleanup_free_ char *resolv = xasprintf("%s/resolv.conf", h->bundle);
	/* mounts and rlimits, as the apiserver resolved them */
	json_t *mounts = json_object_get(c, "mounts");
	size_t nmounts = json_array_size(mounts);
	_cleanup_free_ struct spawn_mount *mnt = xzalloc(sizeof(*mnt) * (nmounts + 1));
	for (size_t i = 0; i < nmounts; i++) {
		json_t *m = json_array_get(mounts, i);
		const char *type = json_string_value(json_object_get(m, "type"));
		mnt[i].type =
			type && strcmp(type, "tmpfs") == 0 ? SPAWN_MOUNT_TMPFS : SPAWN_MOUNT_BIND;
		mnt[i].source = json_string_value(json_object_get(m, "source"));
		mnt[i].target = json_string_value(json_object_get(m, "target"));
		mnt[i].readonly = json_is_true(json_object_get(m, "readonly"));
		mnt[i].options = json_string_value(json_object_get(m, "options"));
	}
	json_t *ulimits = json_object_get(c, "ulimits");
	size_t nrl = json_array_size(ulimits);
	_cleanup_free_ struct rlimit_setting *rl = xzalloc(sizeof(*rl) * (nrl + 1));
	for (size_t i = 0; i < nrl && rc == 0; i++)
		rc = rlimit_parse(json_string_value(json_array_get(ulimits, i)), &rl[i], err);
	if (rc == 0)
		rc = make_cgroup(h, err);
	if (rc == 0) {
		const char *hostname = json_string_value(json_object_get(c, "hostname"));
		struct spawn_config cfg = {
			.lowerdirs = (const char *const *)lowers,
			.nlowerdirs = nlowers,
			.upperdir = upper,
			.workdir = work,
			.rootfs = rootfs,
			.readonly_rootfs = json_is_true(json_object_get(c, "readOnly")),
			.argv = (const char *const *)argv,
			.init = json_string_value(json_object_get(c, "init")),
			.env = (const char *const *)env,
			.cwd = json_string_value(json_object_get(process, "cwd")),
			.uid = (uid_t)json_integer_value(json_object_get(process, "uid")),
			.gid = (gid_t)json_integer_value(json_object_get(process, "gid")),
			.hostname = hostname,
			.etc_hosts = access(hosts, F_OK) == 0 ? hosts : NULL,
			.etc_hostname = access(hostname_file, F_OK) == 0 ? hostname_file : NULL,
			.etc_resolv_conf = access(resolv, F_OK) == 0 ? resolv : NULL,
			.shm_size = json_integer_value(json_object_get(c, "shmSize")),
			.caps = caps,
			.seccomp = &h->seccomp,
			.stdio = {child_in, child_out, child_err},
			.tty = tty,
			.pty_master = tty ? &master : NULL,
			.rows = h->rows,
			.cols = h->cols,
			.cgroup = &h->join,
			.mounts = mnt,
			.nmounts = nmounts,
			.rlimits = rl,
			.nrlimits = nrl,
		};
		rc = spawn_container(&cfg, &h->init_pid, err);
		if (rc == 0 && tty && master < 0)
			rc = error_set(err, EIO, "the container opened no terminal");
		if (rc == 0 && tty)
			rc = tty_attach(h, master, err);
		if (rc < 0 && h->init_pid > 0 && tty) {
			kill(h->init_pid, SIGKILL);
			h->init_pid = 0;
		}
	}
	if (child_in >= 0)
		close(child_in);
	if (child_out >= 0)
		close(child_out);
	if (child_err >= 0)
		close(child_err);
	strings_free(lowers);
	strings_free(argv);
	strings_free(env);
	strings_free(adds);
	strings_free(drops);
	if (rc < 0) {
		stream_close(&h->out);
		stream_close(&h->err);
		cgroup_release(h);
		return rc;
	}
	struct error e = ERROR_INIT;
	if (fs_proc_start_time(h->init_pid, &h->init_start, &e) < 0)
		error_release(&e);
	h->started_ms = time_realtime_ms();
	return 0;
}

/* ---- routes ---- */

/* The optional "terminalSize": {rows, cols} of a request; 0 x 0 without. */
static int terminal_size_get(json_t *body, unsigned short *rows, unsigned short *cols,
			     struct error *err)
{
	json_t *size = NULL;
	int64_t r = 0, c = 0;
	if (json_get_object(body, "terminalSize", false, &size, err) < 0 ||
	    (size && (json_get_int(size, "rows", true, &r, err) < 0 ||
		      json_get_int(size, "cols", true, &c, err) < 0)))
		return -err->code;
	if (r < 0 || c < 0 || r > 65535 || c > 65535)
		return error_set(err, EINVAL, "a terminal of %lld x %lld is not possible",
				 (long long)r, (long long)c);
	*rows = (unsigned short)r;
	*cols = (unsigned short)c;
	return 0;
}

static int route_bootstrap(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	if (h->state != STATE_CREATED)
		return error_set(err, EBUSY, "container %s is already %s", h->id,
				 state_names[h->state]);
	/* stdio: which of stdin, stdout, stderr the client attached, in order */
	json_t *stdio = NULL;
	if (json_get_array(req->body, "stdio", false, &stdio, err) < 0)
		return -err->code;
	if (terminal_size_get(req->body, &h->rows, &h->cols, err) < 0)
		return -err->code;
	unsigned next = 0;
	for (int i = 0; i < 3; i++) {
		bool attached = json_is_true(json_array_get(stdio, i));
		int fd = attached ? ipc_frame_take_fd(req->frame, next++) : -1;
		if (attached && fd < 0)
			return error_set(err, EINVAL,
					 "stdio[%d] is attached but no descriptor came "
					 "with it",
					 i);
		if (i == 0)
			h->client_stdin = fd;
		else if (i == 1)
			h->out.client_fd = fd;
		else
			h->err.client_fd = fd;
	}
	transition(h, STATE_BOOTED);
	return 0;
}

static int route_start(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	if (h->state != STATE_BOOTED)
		return error_set(err, EBUSY, "container %s is %s, not booted", h->id,
				 state_names[h->state]);
	if (start_container(h, err) < 0) {
		/* it never ran: record that, so that waiters and the apiserver see an end */
		h->exit_code = err->code == ENOENT ? 127 : err->code == EACCES ? 126 : 125;
		h->finished_ms = time_realtime_ms();
		transition(h, STATE_STOPPED);
		return -err->code;
	}
	transition(h, STATE_RUNNING);
	*reply = state_json(h);
	return 0;
}

/* Bytes in and out of the container's network namespace, loopback aside. */
static void net_stats(pid_t pid, uint64_t *rx, uint64_t *tx)
{
	*rx = *tx = 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *name = line;
		while (*name == ' ')
			name++;
		if (strcmp(name, "lo") == 0)
			continue;
		unsigned long long v[9];
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
			*rx += v[0];
			*tx += v[8];
		}
	}
	fclose(f);
}

static int route_statistics(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	if (h->state != STATE_RUNNING || h->init_exited || !h->cg)
		return error_set(err, EINVAL, "container %s is not running", h->id);
	struct cgroup_stats st;
	if (cgroup_stats(h->cg, &st, err) < 0)
		return -err->code;
	uint64_t rx, tx;
	net_stats(h->init_pid, &rx, &tx);
	*reply = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "cpuUsec",
			   (json_int_t)st.cpu_usec, "memoryUsage", (json_int_t)st.memory_usage,
			   "memoryLimit", (json_int_t)st.memory_limit, "pids", (json_int_t)st.pids,
			   "blockRead", (json_int_t)st.io_read_bytes, "blockWrite",
			   (json_int_t)st.io_write_bytes, "netRx", (json_int_t)rx, "netTx",
			   (json_int_t)tx, "timestampUsec", (json_int_t)time_monotonic_us());
	return 0;
}

static int route_resize(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	int64_t rows = 0, cols = 0;
	if (json_get_int(req->body, "rows", true, &rows, err) < 0 ||
	    json_get_int(req->body, "cols", true, &cols, err) < 0)
		return -err->code;
	if (h->pty_master < 0)
		return error_set(err, EINVAL, "container %s has no terminal", h->id);
	if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535)
		return error_set(err, EINVAL, "a terminal of %lld x %lld is not possible",
				 (long long)rows, (long long)cols);
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	if (ioctl(h->pty_master, TIOCSWINSZ, &ws) < 0)
		return error_errno(err, errno, "resize the terminal");
	return 0;
}

static int route_state(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	*reply = state_json(ctx);
	return 0;
}

static void kill_timer(struct loop *loop, void *data)
{
	struct helper *h = data;
	h->kill_timer = NULL;
	if (h->state == STATE_STOPPING && !h->init_exited) {
		log_info("container %s did not stop in time: SIGKILL", h->id);
		kill(h->init_pid, SIGKILL);
	}
}

static int route_stop(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	int64_t sig = SIGTERM, timeout = 5;
	if (json_get_int(req->body, "signal", false, &sig, err) < 0 ||
	    json_get_int(req->body, "timeout", false, &timeout, err) < 0)
		return -err->code;
	if (sig <= 0 || sig >= NSIG)
		return error_set(err, EINVAL, "signal %lld is not valid", (long long)sig);
	if (h->state == STATE_RUNNING && !h->init_exited) {
		transition(h, STATE_STOPPING);
		kill(h->init_pid, (int)sig);
		h->kill_timer = loop_add_timer(h->loop, timeout * 1000, kill_timer, h);
	} else if (h->state == STATE_CREATED || h->state == STATE_BOOTED) {
		transition(h, STATE_STOPPED);
	}
	*reply = state_json(h);
	return 0;
}

static int route_kill(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	int64_t sig = SIGKILL, pid = 0;
	if (json_get_int(req->body, "signal", false, &sig, err) < 0 ||
	    json_get_int(req->body, "pid", false, &pid, err) < 0)
		return -err->code;
	if (sig <= 0 || sig >= NSIG)
		return error_set(err, EINVAL, "signal %lld is not valid", (long long)sig);
	if (pid > 0 && pid != h->init_pid) {
		struct exec_process *p = exec_find(h, (pid_t)pid);
		if (!p || p->exit_code >= 0)
			return error_set(err, ENOENT, "no running process %lld in container %s",
					 (long long)pid, h->id);
		if (kill(p->pid, (int)sig) < 0)
			return error_errno(err, errno, "kill %d", (int)p->pid);
		*reply = exec_json(p);
		return 0;
	}
	if ((h->state != STATE_RUNNING && h->state != STATE_STOPPING) || h->init_exited)
		return error_set(err, EINVAL, "container %s is not running", h->id);
	if (kill(h->init_pid, (int)sig) < 0)
		return error_errno(err, errno, "kill %d", (int)h->init_pid);
	*reply = state_json(h);
	return 0;
}

/* Runs another process in the container: same namespaces, cgroup,
 * capabilities, seccomp profile and no_new_privs as its init. Its stdio
 * are the client's own descriptors. */
static int route_create_process(void *ctx, struct ipc_request *req, json_t **reply,
				struct error *err)
{
	struct helper *h = ctx;
	json_t *args = NULL, *env = NULL, *stdio = NULL;
	const char *cwd = NULL;
	int64_t uid = 0, gid = 0;
	if (json_get_string_array(req->body, "args", true, &args, err) < 0 ||
	    json_get_string_array(req->body, "env", false, &env, err) < 0 ||
	    json_get_string(req->body, "cwd", false, &cwd, err) < 0 ||
	    json_get_int(req->body, "uid", false, &uid, err) < 0 ||
	    json_get_int(req->body, "gid", false, &gid, err) < 0 ||
	    json_get_array(req->body, "stdio", false, &stdio, err) < 0)
		return -err->code;
	/* tty: the process gets a terminal of the container's own devpts; its
	 * master goes back with the reply and the caller relays it */
	bool tty = false;
	unsigned short rows = 0, cols = 0;
	if (json_get_bool(req->body, "tty", false, &tty, err) < 0 ||
	    terminal_size_get(req->body, &rows, &cols, err) < 0)
		return -err->code;
	if (h->state != STATE_RUNNING || h->init_exited)
		return error_set(err, EINVAL, "container %s is not running", h->id);
	if (json_array_size(args) == 0)
		return error_set(err, EINVAL, "no command to run");
	int fds[3] = {-1, -1, -1};
	unsigned next = 0;
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (json_is_true(json_array_get(stdio, i)))
			fds[i] = ipc_frame_take_fd(req->frame, next++);
		if (fds[i] < 0)
			fds[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
		if (fds[i] < 0)
			rc = error_errno(err, errno, "open /dev/null");
	}
	/* the environment: the container's, then what the caller adds */
	json_t *process = json_object_get(h->config, "process");
	json_t *merged = json_deep_copy(json_object_get(process, "env"));
	size_t i;
	json_t *v;
	json_array_foreach(env, i, v) json_array_append(merged, v);
	char **argv = strings_from(args), **envp = strings_from(merged);
	json_decref(merged);
	cap_mask_t caps = caps_default();
	json_t *add = json_object_get(h->config, "capAdd"),
	       *drop = json_object_get(h->config, "capDrop");
	char **adds = strings_from(add), **drops = strings_from(drop);
	if (rc == 0)
		rc = caps_apply_changes(caps_default(), (const char *const *)adds,
					json_array_size(add), (const char *const *)drops,
					json_array_size(drop), &caps, err);
	pid_t pid = 0;
	int master = -1;
	if (rc == 0) {
		struct spawn_config cfg = {
			.argv = (const char *const *)argv,
			.env = (const char *const *)envp,
			.cwd = cwd ? cwd : json_string_value(json_object_get(process, "cwd")),
			.uid = (uid_t)(json_object_get(req->body, "uid")
					       ? uid
					       : json_integer_value(
							 json_object_get(process, "uid"))),
			.gid = (gid_t)(json_object_get(req->body, "gid")
					       ? gid
					       : json_integer_value(
							 json_object_get(process, "gid"))),
			.caps = caps,
			.seccomp = h->seccomp.filter ? &h->seccomp : NULL,
			.stdio = {fds[0], fds[1], fds[2]},
			.tty = tty,
			.pty_master = tty ? &master : NULL,
			.rows = rows,
			.cols = cols,
			.cgroup = h->cg ? &h->join : NULL,
		};
		rc = spawn_exec(h->init_pid, &cfg, &pid, err);
		if (rc == 0 && tty && master < 0) {
			kill(pid, SIGKILL);
			rc = error_set(err, EIO, "the process opened no terminal");
		}
	}
	for (int k = 0; k < 3; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	strings_free(argv);
	strings_free(envp);
	strings_free(adds);
	strings_free(drops);
	if (rc < 0) {
		if (master >= 0)
			close(master);
		return rc;
	}
	struct exec_process *p = xzalloc(sizeof(*p));
	p->pid = pid;
	p->exit_code = -1;
	p->next = h->execs;
	h->execs = p;
	log_info("container %s: exec %d%s", h->id, (int)pid, tty ? " with a terminal" : "");
	*reply = exec_json(p);
	if (master >= 0) {
		req->reply_fds[0] = master; /* ours no longer: closed once sent */
		req->reply_nfds = 1;
	}
	return 0;
}

/* Answered later, from the waiter list. */
static int defer(struct waiter **list, struct ipc_request *req)
{
	struct waiter *w = xzalloc(sizeof(*w));
	w->conn = ipc_conn_ref(req->conn);
	w->id = req->id;
	w->next = *list;
	*list = w;
	return IPC_REPLY_DEFERRED;
}

static int route_wait(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	int64_t pid = 0;
	if (json_get_int(req->body, "pid", false, &pid, err) < 0)
		return -err->code;
	if (pid > 0 && pid != h->init_pid) {
		struct exec_process *p = exec_find(h, (pid_t)pid);
		if (!p)
			return error_set(err, ENOENT, "no process %lld in container %s",
					 (long long)pid, h->id);
		if (p->exit_code >= 0) {
			*reply = exec_json(p);
			return 0;
		}
		return defer(&p->waiters, req);
	}
	if (h->state == STATE_STOPPED || h->state == STATE_SHUTTING_DOWN) {
		*reply = state_json(h);
		return 0;
	}
	return defer(&h->waiters, req);
}

static void quit_now(struct loop *loop, void *data)
{
	loop_quit(loop);
}

static int route_shutdown(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct helper *h = ctx;
	if (h->state == STATE_RUNNING || h->state == STATE_STOPPING)
		return error_set(err, EBUSY, "container %s is still %s: stop it first", h->id,
				 state_names[h->state]);
	transition(h, STATE_SHUTTING_DOWN);
	loop_add_timer(h->loop, 0, quit_now, NULL);
	*reply = state_json(h);
	return 0;
}

static const struct ipc_route routes[] = {
	{"bootstrap", route_bootstrap},
	{"start", route_start},
	{"state", route_state},
	{"stop", route_stop},
	{"kill", route_kill},
	{"wait", route_wait},
	{"shutdown", route_shutdown},
	{"createProcess", route_create_process},
	{"statistics", route_statistics},
	{"resize", route_resize},
};

/* --standby: one message {"bundle", "id", "log"} on fd says which
 * container this helper is for; its output then goes to "log". EOF (the
 * API server stopped or died) ends it. */
static int standby_wait(int fd, json_t **out)
{
	char buf[8192];
	ssize_t n;
	do
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	json_t *a = json_loads(buf, 0, NULL);
	const char *bundle = json_string_value(json_object_get(a, "bundle"));
	const char *id = json_string_value(json_object_get(a, "id"));
	const char *log = json_string_value(json_object_get(a, "log"));
	if (!bundle || !id || !log) {
		json_decref(a);
		return -1;
	}
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd >= 0) {
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		close(logfd);
	}
	*out = a;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"bundle", required_argument, NULL, 'b'},
		{"id", required_argument, NULL, 'i'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"admin-gid", required_argument, NULL, 'g'},
		{"detach", no_argument, NULL, 'd'},
		{"standby", required_argument, NULL, 's'},
		{0},
	};
	struct helper h = {.exit_code = -1,
			   .client_stdin = -1,
			   .log_fd = -1,
			   .pty_master = -1,
			   .tty_stdin = -1,
			   .join = CGROUP_JOIN_INIT};
	h.out.fd = h.err.fd = h.out.client_fd = h.err.client_fd = -1;
	/* the admin group's gid: the API server knows it (looking it up here
	 * would load NSS modules into every helper); -2 = not given */
	int ready_fd = -1, admin_gid = -2, standby_fd = -1, opt;
	bool detach = false;
	_cleanup_json_ json_t *assignment = NULL;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			h.bundle = optarg;
			break;
		case 'i':
			h.id = optarg;
			break;
		case 'r':
			ready_fd = atoi(optarg);
			break;
		case 'g':
			admin_gid = atoi(optarg);
			break;
		case 'd':
			detach = true;
			break;
		case 's':
			standby_fd = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: container-runtime-linux --bundle DIR --id ID "
					"[--ready-fd N] [--admin-gid GID] [--detach]\n"
					"       container-runtime-linux --standby FD "
					"[--admin-gid GID] [--detach]\n");
			return 2;
		}
	}
	if ((!h.bundle || !h.id) && standby_fd < 0) {
		fprintf(stderr, "container-runtime-linux: --bundle and --id are required\n");
		return 2;
	}
	/* --detach: the starter waits for this process only; the helper goes
	 * on in a child of it, which init inherits, so that it outlives the
	 * API server */
	if (detach) {
		pid_t child = fork();
		if (child < 0) {
			perror("container-runtime-linux: fork");
			return 1;
		}
		if (child > 0)
			_exit(0);
	}
	if (standby_fd >= 0) {
		/* started ahead of need: wait for a container, then go on as if
		 * started for it (the API server keeps one such helper ready) */
		if (standby_wait(standby_fd, &assignment) < 0)
			return 0; /* the API server went away or stopped */
		h.bundle = json_string_value(json_object_get(assignment, "bundle"));
		h.id = json_string_value(json_object_get(assignment, "id"));
		ready_fd = standby_fd;
	}
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	paths_resolve(&h.paths, NULL, NULL, NULL);
	_cleanup_error_ struct error err = ERROR_INIT;
	log_open("container-runtime-linux", NULL,
		 getenv("CONTAINER_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, &err);
	_cleanup_free_ char *config_path = xasprintf("%s/config.json", h.bundle);
	_cleanup_free_ char *sock = xasprintf("%s/runtime.sock", h.bundle);
	_cleanup_free_ char *log_path = xasprintf("%s/stdio.log", h.bundle);
	_cleanup_free_ char *text = NULL;
	int rc = 1;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	gid_t gid = (gid_t)admin_gid;
	if (admin_gid == -2) {
		struct group *gr = getgrnam("container-admin");
		gid = gr ? gr->gr_gid : (gid_t)-1;
	}
	struct ipc_server_options opts = {
		.path = sock,
		.mode = 0600,
		.socket_gid = (gid_t)-1,
		.admin_gid = gid,
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
		.ctx = &h,
	};
	if (fs_read_file(config_path, 4 << 20, &text, NULL, &err) < 0)
		goto out;
	h.config = json_loads(text, 0, NULL);
	if (!json_is_object(h.config)) {
		error_set(&err, EINVAL, "%s is not a JSON object", config_path);
		goto out;
	}
	h.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (h.log_fd < 0) {
		error_errno(&err, errno, "open %s", log_path);
		goto out;
	}
	h.loop = loop_new(&err);
	if (!h.loop || sfd < 0 || !loop_add_fd(h.loop, sfd, EPOLLIN, signal_event, &h, &err) ||
	    ipc_server_listen(h.loop, &opts, &h.server, &err) < 0)
		goto out;
	write_state(&h);
	if (ready_fd >= 0) {
		if (write(ready_fd, "OK", 2) < 0) {
		}
		close(ready_fd);
		ready_fd = -1;
	}
	log_info("container %s: helper ready on %s", h.id, sock);
	rc = loop_run(h.loop, &err) < 0 ? 1 : 0;
out:
	if (error_is_set(&err)) {
		log_error("%s", err.message);
		if (ready_fd >= 0 && write(ready_fd, err.message, strlen(err.message)) < 0) {
		}
	}
	answer_waiters(&h);
	cgroup_release(&h);
	ipc_server_free(h.server);
	stream_close(&h.out);
	stream_close(&h.err);
	seccomp_program_release(&h.seccomp);
	json_decref(h.config);
	loop_free(h.loop);
	paths_release(&h.paths);
	log_info("container %s: helper exits", h.id);
	return rc;
}
