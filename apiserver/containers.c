/* The container service: create, bootstrap (start the runtime helper),
 * start, wait, stop, kill, delete, list, inspect. State lives in the store;
 * each running container has a monitor connection to its helper whose
 * pending `wait` call is answered when the container exits, so the
 * apiserver learns of every exit at once without polling. On start the
 * apiserver reconnects to every helper that is still alive. */
#include "apiserver.h"
#include "security.h"
#include "volumes.h"
#include "cgroup.h"
#include "ipc/client.h"
#include "ipc/stream.h"
#include "json/jsonutil.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/rlimit.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct pending {
	struct ipc_conn *conn;
	uint64_t id;
	struct pending *next;
};

/* What the apiserver keeps in memory about a container with a helper. */
struct container_rt {
	struct apiserver *api;
	char *id;
	int monitor_fd;
	struct loop_source *src;
	struct ipc_reader reader;
	struct pending *waiters;  /* containerWait and containerStop callers */
	bool delete_when_stopped; /* --rm, or delete -f of a running one */
	struct pending *deleters; /* containerDelete callers waiting for that */
	struct container_rt *next;
};

static struct container_rt *runtimes;

/* Exit codes of containers --rm removed, so that a `run` whose wait comes
 * after the removal still learns how it ended. */
static struct {
	char id[65];
	json_int_t code;
} removed_exits[64];
static size_t removed_next;

static void remember_exit(const char *id, json_int_t code)
{
	snprintf(removed_exits[removed_next].id, sizeof(removed_exits[0].id), "%s", id);
	removed_exits[removed_next].code = code;
	removed_next = (removed_next + 1) % ARRAY_SIZE(removed_exits);
}

static bool recall_exit(const char *id, json_int_t *code)
{
	for (size_t i = 0; i < ARRAY_SIZE(removed_exits); i++)
		if (removed_exits[i].id[0] && strcmp(removed_exits[i].id, id) == 0) {
			*code = removed_exits[i].code;
			return true;
		}
	return false;
}

static char *bundle_path(struct apiserver *api, const char *id)
{
	return xasprintf("%s/containers/%s", api->paths.app_root, id);
}

static struct container_rt *rt_find(const char *id)
{
	for (struct container_rt *r = runtimes; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

/* ---- helpers ---- */

static int helper_connect(struct apiserver *api, const char *id, struct ipc_client **out,
			  struct error *err)
{
	_cleanup_free_ char *bundle = bundle_path(api, id);
	_cleanup_free_ char *sock = xasprintf("%s/runtime.sock", bundle);
	if (ipc_client_connect(sock, out, err) < 0)
		return error_prefix(err, "the runtime helper of container %.12s", id);
	ipc_client_set_timeout(*out, 10000);
	return 0;
}

/* A call to the container's helper; descriptors of its reply go to
 * reply_req (to be passed on with our reply) or are closed. */
static int helper_call_passing(struct apiserver *api, const char *id, const char *route,
			       json_t *request, const int *fds, unsigned nfds, json_t **reply,
			       struct ipc_request *reply_req, struct error *err)
{
	struct ipc_client *c = NULL;
	if (helper_connect(api, id, &c, err) < 0)
		return -err->code;
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	int rc = ipc_call_fds(c, route, request, fds, nfds, &frame, err);
	if (rc == 0 && reply)
		*reply = move_ptr(frame.body);
	if (rc == 0 && reply_req) {
		for (unsigned i = 0; i < frame.nfds && reply_req->reply_nfds < IPC_MAX_FDS; i++) {
			int fd = ipc_frame_take_fd(&frame, i);
			if (fd >= 0)
				reply_req->reply_fds[reply_req->reply_nfds++] = fd;
		}
	}
	ipc_frame_release(&frame);
	ipc_client_close(c);
	return rc;
}

static int helper_call(struct apiserver *api, const char *id, const char *route, json_t *request,
		       const int *fds, unsigned nfds, json_t **reply, struct error *err)
{
	return helper_call_passing(api, id, route, request, fds, nfds, reply, NULL, err);
}

static void update_state(struct apiserver *api, const char *id, const char *state,
			 json_t *runtime_state)
{
	struct store_container c;
	struct error err = ERROR_INIT;
	if (store_container_get(api->store, id, &c, &err) < 0) {
		error_release(&err);
		return;
	}
	json_t *config = json_loads(c.config ? c.config : "{}", 0, NULL);
	if (!config)
		config = json_object();
	if (runtime_state) {
		static const char *const keys[] = {"exitCode", "startedAt", "finishedAt", "pid"};
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			json_t *v = json_object_get(runtime_state, keys[i]);
			if (v)
				json_object_set(config, keys[i], v);
		}
	}
	char *text = json_dump_compact(config);
	free(c.config);
	c.config = text;
	free(c.state);
	c.state = xstrdup(state);
	if (store_container_put(api->store, &c, &err) < 0) {
		log_error("%s", err.message);
		error_release(&err);
	}
	json_decref(config);
	store_container_release(&c);
}

/* Best effort: what cannot go is logged (a later start sweeps the trash). */
static void remove_tree_logged(const char *path)
{
	struct error err = ERROR_INIT;
	if (fs_remove_tree(path, NULL, &err) < 0)
		log_warn("%s", err.message);
	error_release(&err);
}

/* Removed bundles wait in <app-root>/trash until the loop is idle: a
 * rename takes them out of sight at once, their files go off the path of
 * the request. Leftovers of a crash go at the next start. */
static struct loop_timer *trash_timer;

static void trash_sweep(struct apiserver *api)
{
	_cleanup_free_ char *trash = xasprintf("%s/trash", api->paths.app_root);
	remove_tree_logged(trash);
}

static void trash_timer_fired(struct loop *loop, void *data)
{
	trash_timer = NULL;
	trash_sweep(data);
}

void containers_trash_sweep(struct apiserver *api)
{
	if (trash_timer)
		loop_cancel_timer(trash_timer);
	trash_timer = NULL;
	trash_sweep(api);
}

static void bundle_discard(struct apiserver *api, const char *id, const char *bundle)
{
	_cleanup_free_ char *trash = xasprintf("%s/trash", api->paths.app_root);
	_cleanup_free_ char *target = xasprintf("%s/%s", trash, id);
	if ((mkdir(trash, 0700) < 0 && errno != EEXIST) || rename(bundle, target) < 0) {
		remove_tree_logged(bundle);
		return;
	}
	if (!trash_timer)
		trash_timer = loop_add_timer(api->loop, 0, trash_timer_fired, api);
}

/* Removes everything of a stopped container: helper, bundle, row. */
static int container_remove(struct apiserver *api, const char *id, struct error *err)
{
	struct error ignored = ERROR_INIT;
	helper_call(api, id, "shutdown", NULL, NULL, 0, NULL, &ignored);
	error_release(&ignored);
	_cleanup_free_ char *bundle = bundle_path(api, id);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
	umount2(rootfs, MNT_DETACH); /* only mounted in the container's namespace; harmless */
	bundle_discard(api, id, bundle);
	/* its anonymous volumes go with it, as with Docker's --rm */
	struct store_container c;
	json_t *record = NULL;
	if (store_container_get(api->store, id, &c, &ignored) == 0) {
		record = json_loads(c.config ? c.config : "{}", 0, NULL);
		store_container_release(&c);
	}
	error_release(&ignored);
	if (store_container_delete(api->store, id, err) < 0) {
		json_decref(record);
		return -err->code;
	}
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(record, "mounts"), i, m)
	{
		if (!json_is_true(json_object_get(m, "anonymous")))
			continue;
		int64_t reclaimed = 0;
		if (volume_remove(api, json_string_value(json_object_get(m, "source")), &reclaimed,
				  &ignored) < 0) {
			log_warn("anonymous volume of %.12s: %s", id, ignored.message);
			error_release(&ignored);
		}
	}
	json_decref(record);
	log_info("container %.12s removed", id);
	return 0;
}

static void rt_free(struct container_rt *r)
{
	for (struct container_rt **p = &runtimes; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	loop_remove_fd(r->src);
	if (r->monitor_fd >= 0)
		close(r->monitor_fd);
	ipc_reader_release(&r->reader);
	free(r->id);
	free(r);
}

static void answer(struct pending **list, json_t *body, const struct error *e)
{
	while (*list) {
		struct pending *p = *list;
		*list = p->next;
		if (ipc_conn_is_open(p->conn)) {
			if (e)
				ipc_conn_reply_error(p->conn, p->id, e);
			else
				ipc_conn_reply(p->conn, p->id, json_deep_copy(body), NULL, 0);
		}
		ipc_conn_unref(p->conn);
		free(p);
	}
}

static void add_pending(struct pending **list, struct ipc_request *req)
{
	/* callers that went away (a waiting `run` reconnects every second)
	 * leave here, so that the list holds live ones only */
	for (struct pending **pp = list; *pp;) {
		struct pending *gone = *pp;
		if (ipc_conn_is_open(gone->conn)) {
			pp = &gone->next;
			continue;
		}
		*pp = gone->next;
		ipc_conn_unref(gone->conn);
		free(gone);
	}
	struct pending *p = xzalloc(sizeof(*p));
	p->conn = ipc_conn_ref(req->conn);
	p->id = req->id;
	p->next = *list;
	*list = p;
}

/* The container is over: record it, tell whoever waits, honour --rm. */
static void container_stopped(struct apiserver *api, struct container_rt *r, json_t *state)
{
	_cleanup_json_ json_t *st = state ? json_incref(state) : json_pack("{s:i}", "exitCode", -1);
	if (!state) {
		/* the helper is gone: its container died with it (PDEATHSIG);
		 * clear what it could not */
		struct error e = ERROR_INIT;
		if (cgroup_remove_orphan(api->paths.app_root, r->id, &e) < 0) {
			log_warn("container %.12s: %s", r->id, e.message);
			error_release(&e);
		}
	}
	/* --rm: the row goes anyway, no need to record the stop first */
	if (!r->delete_when_stopped)
		update_state(api, r->id, "stopped", st);
	/* A stopped container needs no helper: `start` makes a new one. */
	struct error ignored = ERROR_INIT;
	helper_call(api, r->id, "shutdown", NULL, NULL, 0, NULL, &ignored);
	error_release(&ignored);
	json_t *reply = json_pack("{s:s,s:O}", "id", r->id, "exitCode",
				  json_object_get(st, "exitCode") ?: json_integer(-1));
	/* --rm: gone before anybody hears of the exit */
	if (r->delete_when_stopped) {
		remember_exit(r->id, json_integer_value(json_object_get(reply, "exitCode")));
		struct error err = ERROR_INIT;
		if (container_remove(api, r->id, &err) < 0) {
			update_state(api, r->id, "stopped", st);
			answer(&r->deleters, NULL, &err);
			error_release(&err);
		} else {
			answer(&r->deleters, reply, NULL);
		}
	}
	answer(&r->waiters, reply, NULL);
	json_decref(reply);
	rt_free(r);
}

static void monitor_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct container_rt *r = data;
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	struct error err = ERROR_INIT;
	int rc = ipc_reader_next(&r->reader, fd, MSG_DONTWAIT, false, &frame, &err);
	if (rc == IPC_READ_AGAIN) {
		error_release(&err);
		return;
	}
	if (rc == IPC_READ_FRAME) {
		struct error e = ERROR_INIT;
		if (ipc_body_error(frame.body, &e) < 0) {
			log_warn("container %.12s: wait failed: %s", r->id, e.message);
			container_stopped(r->api, r, NULL);
		} else {
			log_info("container %.12s exited with code %lld", r->id,
				 (long long)json_integer_value(
					 json_object_get(frame.body, "exitCode")));
			container_stopped(r->api, r, frame.body);
		}
		error_release(&e);
	} else {
		/* the helper is gone without telling: the exit code is unknown */
		log_warn("container %.12s: lost its runtime helper (%s)", r->id, err.message);
		container_stopped(r->api, r, NULL);
	}
	ipc_frame_release(&frame);
	error_release(&err);
}

/* Opens a connection to the helper whose pending `wait` is answered at exit. */
static int monitor_start(struct apiserver *api, const char *id, struct error *err)
{
	if (rt_find(id))
		return 0;
	struct ipc_client *c = NULL;
	if (helper_connect(api, id, &c, err) < 0)
		return -err->code;
	_cleanup_json_ json_t *body = json_pack("{s:s}", "route", "wait");
	size_t len;
	_cleanup_free_ char *frame = ipc_frame_encode(0, 1, body, 0, &len);
	int fd = dup(ipc_client_fd(c));
	ipc_client_close(c);
	if (fd < 0)
		return error_errno(err, errno, "dup");
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (ipc_write_all(fd, frame, len, NULL, 0, 5000, err) < 0) {
		close(fd);
		return -err->code;
	}
	struct container_rt *r = xzalloc(sizeof(*r));
	r->api = api;
	r->id = xstrdup(id);
	r->monitor_fd = fd;
	ipc_reader_init(&r->reader);
	r->src = loop_add_fd(api->loop, fd, EPOLLIN, monitor_event, r, err);
	if (!r->src) {
		close(fd);
		free(r->id);
		free(r);
		return -err->code;
	}
	r->next = runtimes;
	runtimes = r;
	return 0;
}

/* One runtime helper started ahead of need: exec'd, linked and waiting on a
 * socket for the container it will serve, so that its start-up is not on
 * the path of `run`. It leaves when the socket closes (we stop or die). */
static struct {
	int fd; /* our end of its socket; -1: none */
	struct loop_timer *refill;
} standby = {.fd = -1};

/* Spawned vfork-fast in a new session with --detach, the helper forks once
 * more itself, so that it outlives us: while we live, as a subreaper, we
 * stay its parent (and reap it); if we die, init takes it over. */
static int standby_spawn(struct apiserver *api, struct error *err)
{
	_cleanup_free_ char *binary =
		xasprintf("%s/container-runtime-linux/bin/container-runtime-linux",
			  api->paths.builtin_plugins);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return error_errno(err, errno, "socketpair");
	char gid[24];
	snprintf(gid, sizeof(gid), "%d", api->admin_gid == (gid_t)-1 ? -1 : (int)api->admin_gid);
	char *const argv[] = {binary, "--standby", "3", "--admin-gid", gid, "--detach", NULL};
	/* our environment with the roots we use */
	extern char **environ;
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	_cleanup_free_ char **envp = xzalloc(sizeof(*envp) * (nenv + 4));
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (!str_has_prefix(environ[i], "CONTAINER_APP_ROOT=") &&
		    !str_has_prefix(environ[i], "CONTAINER_RUN_ROOT=") &&
		    !str_has_prefix(environ[i], "CONTAINER_LOG_ROOT="))
			envp[k++] = environ[i];
	_cleanup_free_ char *app = xasprintf("CONTAINER_APP_ROOT=%s", api->paths.app_root);
	_cleanup_free_ char *run = xasprintf("CONTAINER_RUN_ROOT=%s", api->paths.run_root);
	_cleanup_free_ char *log = xasprintf("CONTAINER_LOG_ROOT=%s", api->paths.log_root);
	envp[k++] = app;
	envp[k++] = run;
	envp[k++] = log;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	/* its output goes to the container's log once it has one */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, 0, 1);
	posix_spawn_file_actions_adddup2(&fa, 0, 2);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	posix_spawn_file_actions_addchdir_np(&fa, "/");
	pid_t pid;
	int rc = posix_spawn(&pid, binary, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		return error_errno(err, rc, "start %s", binary);
	}
	/* it forks and leaves at once: reaped with the other children on
	 * SIGCHLD (supervisor_reap), never waited for here */
	standby.fd = sv[0];
	return 0;
}

static void standby_refill(struct loop *loop, void *data)
{
	struct apiserver *api = data;
	standby.refill = NULL;
	if (standby.fd >= 0 || api->shutting_down)
		return;
	struct error err = ERROR_INIT;
	if (standby_spawn(api, &err) < 0)
		log_warn("runtime helper in reserve: %s", err.message);
	error_release(&err);
}

void containers_standby_start(struct apiserver *api)
{
	if (!standby.refill && standby.fd < 0)
		standby.refill = loop_add_timer(api->loop, 0, standby_refill, api);
}

void containers_standby_stop(void)
{
	if (standby.refill)
		loop_cancel_timer(standby.refill);
	standby.refill = NULL;
	if (standby.fd >= 0)
		close(standby.fd); /* it sees the end and leaves */
	standby.fd = -1;
}

/* Gives the helper in reserve (or a new one, if it is gone) the container,
 * and waits until it says OK, listening on the bundle's socket. */
static int helper_spawn(struct apiserver *api, const char *id, struct error *err)
{
	_cleanup_free_ char *bundle = bundle_path(api, id);
	_cleanup_free_ char *log_path =
		xasprintf("%s/container-runtime-linux-%.12s.log", api->paths.log_root, id);
	_cleanup_json_ json_t *assignment =
		json_pack("{s:s,s:s,s:s}", "bundle", bundle, "id", id, "log", log_path);
	_cleanup_free_ char *text = json_dump_compact(assignment);
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 2; attempt++) {
		if (standby.fd < 0 && standby_spawn(api, err) < 0)
			return -err->code;
		fd = standby.fd;
		standby.fd = -1;
		if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
			/* it died waiting (EPIPE): take a new one */
			close(fd);
			fd = -1;
		}
	}
	/* the next container's, made once this request is answered */
	containers_standby_start(api);
	if (fd < 0)
		return error_set(err, EIO, "the runtime helper of container %.12s did not start",
				 id);
	char buf[512] = {0};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, 10000);
	ssize_t got = n > 0 ? recv(fd, buf, sizeof(buf) - 1, 0) : 0;
	close(fd);
	if (got >= 2 && strncmp(buf, "OK", 2) == 0)
		return 0;
	if (got > 0)
		return error_set(err, EIO, "runtime helper: %s", buf);
	return error_set(err, EIO, "the runtime helper of container %.12s did not start; see %s",
			 id, log_path);
}

/* ---- create ---- */

static int image_unpack(struct apiserver *api, const char *image, json_t **out, struct error *err)
{
	_cleanup_free_ char *sock = xasprintf("%s/core-images.sock", api->paths.run_root);
	struct ipc_client *c = NULL;
	/* Right after a start the image plugin may not listen yet. */
	int64_t deadline = time_monotonic_ms() + 5000;
	while (ipc_client_connect(sock, &c, err) < 0) {
		if ((err->code != ENOENT && err->code != ECONNREFUSED) ||
		    time_monotonic_ms() >= deadline)
			return error_prefix(err, "the image service");
		error_release(err);
		usleep(20000);
	}
	ipc_client_set_timeout(c, 600000);
	_cleanup_json_ json_t *req = json_pack("{s:s}", "reference", image);
	int rc = ipc_call(c, "imageUnpack", req, out, err);
	ipc_client_close(c);
	return rc;
}

/* "uid[:gid]" with numbers, or a name looked up in the image's /etc/passwd
 * (and /etc/group) from the top layer down. */
static int resolve_user(json_t *snapshots, const char *spec, int64_t *uid, int64_t *gid,
			struct error *err)
{
	*uid = 0;
	*gid = 0;
	if (!spec || !*spec)
		return 0;
	_cleanup_free_ char *copy = xstrdup(spec);
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	char *end;
	long v = strtol(copy, &end, 10);
	bool numeric = *copy && !*end;
	bool found = false;
	if (numeric)
		*uid = v;
	/* a number is a uid even when the image does not know it; its group is
	 * the one /etc/passwd gives it, else 0 (as Docker) */
	for (size_t i = json_array_size(snapshots); i-- > 0 && !found;) {
		const char *dir =
			json_string_value(json_object_get(json_array_get(snapshots, i), "path"));
		_cleanup_free_ char *passwd = xasprintf("%s/etc/passwd", dir);
		FILE *f = fopen(passwd, "re");
		if (!f)
			continue;
		char line[1024];
		while (fgets(line, sizeof(line), f)) {
			char *fields[7] = {0};
			char *save = NULL, *p = line;
			for (int k = 0; k < 7; k++) {
				fields[k] = strsep(&p, ":");
				if (!fields[k])
					break;
			}
			(void)save;
			if (!fields[0] || !fields[2] || !fields[3])
				continue;
			if (numeric ? atol(fields[2]) == v : strcmp(fields[0], copy) == 0) {
				*uid = atol(fields[2]);
				*gid = atol(fields[3]);
				found = true;
				break;
			}
		}
		fclose(f);
	}
	if (!found && !numeric)
		return error_set(err, EINVAL,
				 "unknown user '%s': not a number and not in the "
				 "image's /etc/passwd",
				 copy);
	if (group) {
		v = strtol(group, &end, 10);
		if (!*group || *end)
			return error_set(err, EINVAL, "group '%s' must be a number", group);
		*gid = v;
	}
	return 0;
}

static json_t *merge_env(json_t *image_env, json_t *given)
{
	json_t *env = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(image_env, i, v) json_array_append(env, v);
	json_array_foreach(given, i, v)
	{
		const char *kv = json_string_value(v);
		const char *eq = strchr(kv, '=');
		size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
		for (size_t k = 0; k < json_array_size(env); k++) {
			const char *old = json_string_value(json_array_get(env, k));
			if (strncmp(old, kv, klen) == 0 && old[klen] == '=') {
				json_array_remove(env, k);
				break;
			}
		}
		json_array_append(env, v);
	}
	return env;
}

/* Checks the mounts a container asks for and turns them into what the
 * helper mounts: volumes become binds of their directory (made when
 * missing, and said so in *made), bind sources are checked, tmpfs options
 * joined. *record keeps what the user asked for (volume names), which is
 * how a volume knows its containers. */
static int resolve_mounts(struct apiserver *api, json_t *mounts, json_t **bundle_out,
			  json_t **record_out, json_t *made, struct error *err)
{
	_cleanup_json_ json_t *bundle = json_array(), *record = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *source = json_string_value(json_object_get(m, "source"));
		const char *target = json_string_value(json_object_get(m, "target"));
		bool readonly = json_is_true(json_object_get(m, "readonly"));
		if (!type || !target || target[0] != '/' || strcmp(target, "/") == 0)
			return error_set(
				err, EINVAL,
				"mount %zu: the target must be an absolute path other than /",
				i + 1);
		for (const char *p = target; *p; p++)
			if (str_has_prefix(p, "/..") && (p[3] == '/' || !p[3]))
				return error_set(err, EINVAL,
						 "mount target %s has a '..' component", target);
		if (strcmp(type, "bind") == 0) {
			if (!source || source[0] != '/')
				return error_set(err, EINVAL,
						 "bind mount source '%s' must be an absolute path",
						 source ? source : "");
			struct stat st;
			if (stat(source, &st) < 0) {
				if (json_is_true(json_object_get(m, "strict")))
					return error_set(err, ENOENT,
							 "bind mount source %s does not exist",
							 source);
				/* -v /host:/path makes a missing host directory, as Docker */
				if (fs_mkdir_p(source, 0755, err) < 0)
					return -err->code;
			}
			json_array_append_new(bundle, json_pack("{s:s,s:s,s:s,s:b}", "type", "bind",
								"source", source, "target", target,
								"readonly", readonly));
			json_array_append_new(record, json_deep_copy(m));
		} else if (strcmp(type, "volume") == 0) {
			char anonymous[RANDOM_ID_LEN + 1];
			bool anon = !source || !*source;
			if (anon) {
				random_id(anonymous);
				source = anonymous;
			}
			if (!name_valid(source))
				return error_set(err, EINVAL, "invalid volume name '%s'", source);
			_cleanup_free_ char *path = NULL;
			bool created = false;
			if (volumes_ensure(api, source, anon, &path, &created, err) < 0)
				return -err->code;
			if (created)
				json_array_append_new(made, json_string(source));
			json_array_append_new(bundle, json_pack("{s:s,s:s,s:s,s:b}", "type", "bind",
								"source", path, "target", target,
								"readonly", readonly));
			json_array_append_new(record,
					      json_pack("{s:s,s:s,s:s,s:b,s:b}", "type", "volume",
							"source", source, "target", target,
							"readonly", readonly, "anonymous", anon));
		} else if (strcmp(type, "tmpfs") == 0) {
			char options[512] = "";
			size_t k;
			json_t *o;
			json_array_foreach(json_object_get(m, "options"), k, o)
			{
				if (options[0])
					strncat(options, ",",
						sizeof(options) - strlen(options) - 1);
				strncat(options, json_string_value(o) ? json_string_value(o) : "",
					sizeof(options) - strlen(options) - 1);
			}
			json_t *b = json_pack("{s:s,s:s,s:b}", "type", "tmpfs", "target", target,
					      "readonly", readonly);
			if (options[0])
				json_object_set_new(b, "options", json_string(options));
			json_array_append_new(bundle, b);
			json_array_append_new(record, json_deep_copy(m));
		} else {
			return error_set(err, EINVAL,
					 "mount type '%s' is not bind, volume or tmpfs", type);
		}
	}
	*bundle_out = move_ptr(bundle);
	*record_out = move_ptr(record);
	return 0;
}

/* A create that fails leaves no volume it made on the way. */
static void drop_made_volumes(struct apiserver *api, json_t *made)
{
	size_t i;
	json_t *v;
	json_array_foreach(made, i, v)
	{
		struct error e = ERROR_INIT;
		int64_t reclaimed = 0;
		if (volume_remove(api, json_string_value(v), &reclaimed, &e) < 0)
			log_warn("volume %s: %s", json_string_value(v), e.message);
		error_release(&e);
	}
}

static int write_text(const char *dir, const char *name, const char *text, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return fs_write_file_replace(path, text, strlen(text), 0644, err);
}

int containers_create(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	json_t *cfg = NULL, *args = NULL, *entrypoint = NULL, *env = NULL, *labels = NULL,
	       *cap_add = NULL, *cap_drop = NULL, *mounts = NULL, *ulimits = NULL;
	const char *image = NULL, *name = NULL, *workdir = NULL, *user = NULL, *hostname = NULL;
	bool tty = false, interactive = false, auto_remove = false, read_only = false, init = false;
	int64_t shm = 0, stop_timeout = 5, cpu_millis = 0, memory = 0, pids = 4096;
	const char *stop_signal = NULL;
	if (json_get_object(req->body, "config", true, &cfg, err) < 0 ||
	    json_get_string(cfg, "image", true, &image, err) < 0 ||
	    json_get_string(cfg, "name", false, &name, err) < 0 ||
	    json_get_string_array(cfg, "args", false, &args, err) < 0 ||
	    json_get_string_array(cfg, "entrypoint", false, &entrypoint, err) < 0 ||
	    json_get_string_array(cfg, "env", false, &env, err) < 0 ||
	    json_get_string(cfg, "workdir", false, &workdir, err) < 0 ||
	    json_get_string(cfg, "user", false, &user, err) < 0 ||
	    json_get_string(cfg, "hostname", false, &hostname, err) < 0 ||
	    json_get_object(cfg, "labels", false, &labels, err) < 0 ||
	    json_get_string_array(cfg, "capAdd", false, &cap_add, err) < 0 ||
	    json_get_string_array(cfg, "capDrop", false, &cap_drop, err) < 0 ||
	    json_get_bool(cfg, "tty", false, &tty, err) < 0 ||
	    json_get_bool(cfg, "interactive", false, &interactive, err) < 0 ||
	    json_get_bool(cfg, "autoRemove", false, &auto_remove, err) < 0 ||
	    json_get_bool(cfg, "readOnly", false, &read_only, err) < 0 ||
	    json_get_bool(cfg, "init", false, &init, err) < 0 ||
	    json_get_int(cfg, "shmSize", false, &shm, err) < 0 ||
	    json_get_int(cfg, "stopTimeout", false, &stop_timeout, err) < 0 ||
	    json_get_int(cfg, "cpuMillis", false, &cpu_millis, err) < 0 ||
	    json_get_int(cfg, "memoryBytes", false, &memory, err) < 0 ||
	    json_get_int(cfg, "pidsMax", false, &pids, err) < 0 ||
	    json_get_array(cfg, "mounts", false, &mounts, err) < 0 ||
	    json_get_string_array(cfg, "ulimits", false, &ulimits, err) < 0 ||
	    json_get_string(cfg, "stopSignal", false, &stop_signal, err) < 0)
		return -err->code;
	if (cpu_millis < 0 || memory < 0 || pids < 0)
		return error_set(err, EINVAL, "limits must not be negative");
	if (memory > 0 && memory < 6 * 1024 * 1024)
		return error_set(err, EINVAL, "a memory limit below 6 MiB cannot run anything");
	if (name && !name_valid(name))
		return error_set(
			err, EINVAL,
			"invalid container name '%.64s%s': use 1 to 128 of [a-zA-Z0-9_.-], "
			"starting with a letter or digit",
			name, strlen(name) > 64 ? "..." : "");
	if (hostname && (strlen(hostname) > 63 || !name_valid(hostname)))
		return error_set(err, EINVAL, "invalid hostname '%s'", hostname);
	size_t ui;
	json_t *uv;
	json_array_foreach(ulimits, ui, uv)
	{
		struct rlimit_setting rl;
		if (rlimit_parse(json_string_value(uv), &rl, err) < 0)
			return -err->code;
	}
	_cleanup_free_ char *init_path =
		xasprintf("%s/libexec/container/container-init", api->paths.install_root);
	if (init && access(init_path, X_OK) < 0)
		return error_errno(err, errno, "--init: cannot run %s (reinstall container)",
				   init_path);
	char id[RANDOM_ID_LEN + 1];
	random_id(id);
	_cleanup_free_ char *default_name = xstrndup(id, 12);
	if (!name)
		name = default_name;
	struct store_container existing;
	if (store_container_get(api->store, name, &existing, err) == 0) {
		int rc = error_set(err, EEXIST, "the name '%s' is already used by container %.12s",
				   name, existing.id ? existing.id : "");
		store_container_release(&existing);
		return rc;
	}
	error_release(err);

	_cleanup_json_ json_t *image_info = NULL;
	if (image_unpack(api, image, &image_info, err) < 0)
		return -err->code;
	json_t *snapshots = json_object_get(image_info, "snapshots");
	json_t *icfg = json_object_get(json_object_get(image_info, "config"), "config");
	json_t *lowers = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(snapshots, i, s) json_array_append(lowers, json_object_get(s, "path"));

	/* the command: entrypoint + args, each defaulting to the image's */
	json_t *command = json_array();
	json_t *ep = entrypoint ? entrypoint : json_object_get(icfg, "Entrypoint");
	json_t *cmd = args && json_array_size(args)
			      ? args
			      : (entrypoint ? NULL : json_object_get(icfg, "Cmd"));
	json_array_foreach(ep, i, s) json_array_append(command, s);
	json_array_foreach(cmd, i, s) json_array_append(command, s);
	if (json_array_size(command) == 0) {
		json_decref(lowers);
		json_decref(command);
		return error_set(err, EINVAL, "no command: the image %s has none; give one", image);
	}
	int64_t uid = 0, gid = 0;
	if (!user)
		user = json_string_value(json_object_get(icfg, "User"));
	if (resolve_user(snapshots, user, &uid, &gid, err) < 0) {
		json_decref(lowers);
		json_decref(command);
		return -err->code;
	}
	json_t *full_env = merge_env(json_object_get(icfg, "Env"), env);
	if (!workdir || !*workdir)
		workdir = json_string_value(json_object_get(icfg, "WorkingDir"));
	if (!workdir || !*workdir)
		workdir = "/";
	if (!hostname)
		hostname = default_name;
	if (!stop_signal)
		stop_signal = json_string_value(json_object_get(icfg, "StopSignal"));
	/* a terminal program wants TERM */
	if (tty) {
		json_t *t = json_array();
		json_array_append_new(t, json_string("TERM=xterm"));
		json_t *merged = merge_env(t, full_env);
		json_decref(full_env);
		json_decref(t);
		full_env = merged;
	}

	_cleanup_json_ json_t *bundle_mounts = NULL, *record_mounts = NULL;
	_cleanup_json_ json_t *made_volumes = json_array();
	_cleanup_free_ char *bundle = bundle_path(api, id);
	if (resolve_mounts(api, mounts, &bundle_mounts, &record_mounts, made_volumes, err) < 0 ||
	    fs_mkdir_p(bundle, 0700, err) < 0) {
		drop_made_volumes(api, made_volumes);
		json_decref(lowers);
		json_decref(command);
		json_decref(full_env);
		return -err->code;
	}
	_cleanup_json_ json_t *bundle_cfg = json_pack(
		"{s:s,s:s,s:s,s:s,s:o,s:{s:o,s:o,s:s,s:I,s:I,s:b},s:s,s:b,s:I,s:O,s:O}", "id", id,
		"name", name, "image", json_string_value(json_object_get(image_info, "reference")),
		"imageDigest", json_string_value(json_object_get(image_info, "digest")),
		"lowerdirs", lowers, "process", "args", command, "env", full_env, "cwd", workdir,
		"uid", (json_int_t)uid, "gid", (json_int_t)gid, "tty", tty, "hostname", hostname,
		"readOnly", read_only, "shmSize", (json_int_t)shm, "capAdd",
		cap_add ? cap_add : json_null(), "capDrop", cap_drop ? cap_drop : json_null());
	json_object_set(bundle_cfg, "mounts", bundle_mounts);
	if (init)
		json_object_set_new(bundle_cfg, "init", json_string(init_path));
	json_object_set(bundle_cfg, "ulimits", ulimits ? ulimits : json_array());
	json_object_set_new(bundle_cfg, "limits",
			    json_pack("{s:I,s:I,s:I}", "cpuMillis", (json_int_t)cpu_millis,
				      "memoryBytes", (json_int_t)memory, "pidsMax",
				      (json_int_t)pids));
	_cleanup_free_ char *hosts = xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost "
					       "ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
					       hostname);
	_cleanup_free_ char *hostname_text = xasprintf("%s\n", hostname);
	_cleanup_free_ char *cfg_text = json_dumps(bundle_cfg, JSON_INDENT(2));
	int rc = write_text(bundle, "config.json", cfg_text, err);
	if (rc == 0)
		rc = write_text(bundle, "hosts", hosts, err);
	if (rc == 0)
		rc = write_text(bundle, "hostname", hostname_text, err);
	if (rc == 0)
		rc = write_text(bundle, "resolv.conf", "# no network yet\n", err);
	/* what the store keeps: the request as given, plus what was resolved */
	_cleanup_json_ json_t *record = json_deep_copy(cfg);
	json_object_set(record, "command",
			json_object_get(json_object_get(bundle_cfg, "process"), "args"));
	json_object_set_new(record, "autoRemove", json_boolean(auto_remove));
	json_object_set_new(record, "stopTimeout", json_integer(stop_timeout));
	if (stop_signal)
		json_object_set_new(record, "stopSignal", json_string(stop_signal));
	json_object_set(record, "imageDigest", json_object_get(image_info, "digest"));
	json_object_set(record, "mounts", record_mounts);
	_cleanup_free_ char *record_text = json_dump_compact(record);
	struct store_container row = {
		.id = id,
		.name = (char *)name,
		.image = (char *)json_string_value(json_object_get(image_info, "reference")),
		.state = "created",
		.created = time_realtime_ms(),
		.config = record_text,
	};
	if (rc == 0)
		rc = store_container_put(api->store, &row, err);
	if (rc < 0) {
		remove_tree_logged(bundle);
		drop_made_volumes(api, made_volumes);
		return rc;
	}
	log_info("container %.12s (%s) created from %s", id, name, image);
	*reply = json_pack("{s:s,s:s,s:O}", "id", id, "name", name, "createdVolumes", made_volumes);
	return 0;
}

/* ---- the life cycle ---- */

int containers_wait_process(void *ctx, struct ipc_request *req, struct error *err, int64_t pid,
			    const char *id);

static int lookup(struct apiserver *api, json_t *body, struct store_container *c, struct error *err)
{
	const char *ref = NULL;
	if (json_get_string(body, "id", true, &ref, err) < 0)
		return -err->code;
	if (store_container_get(api->store, ref, c, err) == 0)
		return 0;
	error_release(err);
	/* a unique prefix of an id */
	struct store_container *list = NULL;
	size_t n = 0;
	if (store_container_list(api->store, &list, &n, err) < 0)
		return -err->code;
	int found = -1, matches = 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(ref) >= 3 && str_has_prefix(list[i].id, ref)) {
			found = (int)i;
			matches++;
		}
	int rc = 0;
	if (matches == 1) {
		*c = list[found];
		memset(&list[found], 0, sizeof(list[found]));
	} else if (matches > 1) {
		rc = error_set(err, EINVAL, "'%s' matches %d containers: give more of the id", ref,
			       matches);
	} else {
		rc = error_set(err, ENOENT, "no such container: %s", ref);
	}
	store_container_list_free(list, n);
	return rc;
}

int containers_bootstrap(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	int rc = 0;
	if (strcmp(c.state, "created") != 0 && strcmp(c.state, "stopped") != 0)
		rc = error_set(err, EBUSY, "container %s is %s", c.name, c.state);
	if (rc == 0)
		rc = helper_spawn(api, c.id, err);
	if (rc == 0) {
		_cleanup_json_ json_t *request = json_pack(
			"{s:O}", "stdio", json_object_get(req->body, "stdio") ?: json_array());
		json_t *size = json_object_get(req->body, "terminalSize");
		if (size)
			json_object_set(request, "terminalSize", size);
		int fds[IPC_MAX_FDS];
		unsigned n = 0;
		for (unsigned i = 0; i < req->frame->nfds && i < 3; i++)
			fds[n++] = req->frame->fds[i];
		rc = helper_call(api, c.id, "bootstrap", request, fds, n, NULL, err);
	}
	if (rc == 0)
		rc = monitor_start(api, c.id, err);
	if (rc == 0) {
		struct container_rt *r = rt_find(c.id);
		json_t *record = json_loads(c.config, 0, NULL);
		if (r && json_is_true(json_object_get(record, "autoRemove")))
			r->delete_when_stopped = true;
		json_decref(record);
		update_state(api, c.id, "booted", NULL);
		*reply = json_pack("{s:s}", "id", c.id);
	}
	store_container_release(&c);
	return rc;
}

int containers_start(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	json_t *state = NULL;
	int rc = helper_call(api, c.id, "start", NULL, NULL, 0, &state, err);
	if (rc == 0) {
		update_state(api, c.id, "running", state);
		*reply = json_pack("{s:s,s:O}", "id", c.id, "pid",
				   json_object_get(state, "pid") ?: json_integer(0));
	}
	json_decref(state);
	store_container_release(&c);
	return rc;
}

int containers_wait(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0) {
		const char *id = json_string_value(json_object_get(req->body, "id"));
		json_int_t code;
		if (err->code == ENOENT && id && recall_exit(id, &code)) {
			error_release(err);
			*reply = json_pack("{s:s,s:I,s:b}", "id", id, "exitCode", code, "removed",
					   1);
			return 0;
		}
		return -err->code;
	}
	struct container_rt *r = rt_find(c.id);
	int rc = 0;
	int64_t pid = 0;
	if (json_get_int(req->body, "pid", false, &pid, err) < 0) {
		rc = -err->code;
	} else if (pid > 0) {
		rc = r ? containers_wait_process(api, req, err, pid, c.id)
		       : error_set(err, EINVAL, "container %s is not running", c.name);
	} else if (r) {
		add_pending(&r->waiters, req);
		rc = IPC_REPLY_DEFERRED;
	} else {
		json_t *record = json_loads(c.config, 0, NULL);
		*reply = json_pack("{s:s,s:O}", "id", c.id, "exitCode",
				   json_object_get(record, "exitCode") ?: json_integer(-1));
		json_decref(record);
	}
	store_container_release(&c);
	return rc;
}

int containers_wait_process(void *ctx, struct ipc_request *req, struct error *err, int64_t pid,
			    const char *id);

/* The container's stop signal: --stop-signal, else the image's STOPSIGNAL,
 * else SIGTERM. */
static int stop_signal_of(json_t *record)
{
	const char *name = json_string_value(json_object_get(record, "stopSignal"));
	if (!name)
		return SIGTERM;
	char *end;
	long n = strtol(name, &end, 10);
	if (*name && !*end && n > 0 && n < NSIG)
		return (int)n;
	const char *bare = str_has_prefix(name, "SIG") ? name + 3 : name;
	for (int s = 1; s < NSIG; s++) {
		const char *abbrev = sigabbrev_np(s);
		if (abbrev && strcmp(bare, abbrev) == 0)
			return s;
	}
	return SIGTERM;
}

static int signal_number(json_t *body, const char *key, int fallback, int *out, struct error *err)
{
	int64_t sig = fallback;
	if (json_get_int(body, key, false, &sig, err) < 0)
		return -err->code;
	if (sig <= 0 || sig >= NSIG)
		return error_set(err, EINVAL, "signal %lld is not valid", (long long)sig);
	*out = (int)sig;
	return 0;
}

int containers_stop(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	json_t *record = json_loads(c.config, 0, NULL);
	int64_t timeout = json_integer_value(json_object_get(record, "stopTimeout"));
	int sig = stop_signal_of(record);
	json_decref(record);
	int rc = signal_number(req->body, "signal", sig, &sig, err);
	if (rc == 0 && json_get_int(req->body, "timeout", false, &timeout, err) < 0)
		rc = -err->code;
	struct container_rt *r = rt_find(c.id);
	if (rc == 0 && !r) {
		/* already stopped (or never started): stopping is idempotent */
		*reply = json_pack("{s:s,s:s}", "id", c.id, "state", c.state);
	} else if (rc == 0) {
		_cleanup_json_ json_t *request =
			json_pack("{s:i,s:I}", "signal", sig, "timeout", (json_int_t)timeout);
		rc = helper_call(api, c.id, "stop", request, NULL, 0, NULL, err);
		if (rc == 0) {
			update_state(api, c.id, "stopping", NULL);
			add_pending(&r->waiters, req);
			rc = IPC_REPLY_DEFERRED;
		}
	}
	store_container_release(&c);
	return rc;
}

int containers_kill(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	int sig = SIGKILL;
	int rc = signal_number(req->body, "signal", SIGKILL, &sig, err);
	if (rc == 0 && !rt_find(c.id))
		rc = error_set(err, EINVAL, "container %s is not running", c.name);
	int64_t pid = 0;
	if (rc == 0 && json_get_int(req->body, "pid", false, &pid, err) < 0)
		rc = -err->code;
	if (rc == 0) {
		_cleanup_json_ json_t *request =
			json_pack("{s:i,s:I}", "signal", sig, "pid", (json_int_t)pid);
		rc = helper_call(api, c.id, "kill", request, NULL, 0, NULL, err);
	}
	struct container_rt *r = rt_find(c.id);
	if (rc == 0 && sig == SIGKILL && pid == 0 && r) {
		/* SIGKILL to init answers once the exit is recorded */
		add_pending(&r->waiters, req);
		rc = IPC_REPLY_DEFERRED;
	} else if (rc == 0) {
		*reply = json_pack("{s:s}", "id", c.id);
	}
	store_container_release(&c);
	return rc;
}

int containers_delete(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	bool force = false;
	int rc = json_get_bool(req->body, "force", false, &force, err) < 0 ? -err->code : 0;
	struct container_rt *r = rt_find(c.id);
	if (rc == 0 && r) {
		_cleanup_json_ json_t *st = NULL;
		struct error e = ERROR_INIT;
		bool live = helper_call(api, c.id, "state", NULL, NULL, 0, &st, &e) == 0 &&
			    strcmp(json_string_value(json_object_get(st, "state")) ?: "",
				   "stopped") != 0;
		error_release(&e);
		if (live && !force) {
			rc = error_set(err, EBUSY,
				       "container %s is running: stop it first, or use --force",
				       c.name);
		} else {
			/* take it down, then remove it once the exit is recorded */
			r->delete_when_stopped = true;
			add_pending(&r->deleters, req);
			_cleanup_json_ json_t *request = json_pack("{s:i}", "signal", SIGKILL);
			helper_call(api, c.id, "kill", request, NULL, 0, NULL, &e);
			error_release(&e);
			rc = IPC_REPLY_DEFERRED;
		}
	} else if (rc == 0) {
		rc = container_remove(api, c.id, err);
		if (rc == 0)
			*reply = json_pack("{s:s}", "id", c.id);
	}
	store_container_release(&c);
	return rc;
}

static json_t *container_json(struct store_container *c)
{
	json_t *record = json_loads(c->config ? c->config : "{}", 0, NULL);
	if (!record)
		record = json_object();
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "id", c->id, "name", c->name, "image",
			      c->image ? c->image : "", "state", c->state ? c->state : "unknown",
			      "created", (json_int_t)c->created, "config", record);
	static const char *const keys[] = {"exitCode", "startedAt", "finishedAt", "pid", "command"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(record, keys[i]);
		if (v)
			json_object_set(j, keys[i], v);
	}
	return j;
}

int containers_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	bool all = false;
	if (json_get_bool(req->body, "all", false, &all, err) < 0)
		return -err->code;
	struct store_container *list = NULL;
	size_t n = 0;
	if (store_container_list(api->store, &list, &n, err) < 0)
		return -err->code;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (all || (list[i].state && strcmp(list[i].state, "running") == 0))
			json_array_append_new(arr, container_json(&list[i]));
	store_container_list_free(list, n);
	*reply = json_pack("{s:o}", "containers", arr);
	return 0;
}

int containers_inspect(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	*reply = json_pack("{s:o}", "container", container_json(&c));
	store_container_release(&c);
	return 0;
}

/* ---- after a restart ---- */

void containers_reconcile(struct apiserver *api)
{
	trash_sweep(api); /* bundles a crash left half removed */
	struct store_container *list = NULL;
	size_t n = 0;
	struct error err = ERROR_INIT;
	if (store_container_list(api->store, &list, &n, &err) < 0) {
		log_error("%s", err.message);
		error_release(&err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *state = list[i].state ? list[i].state : "";
		if (strcmp(state, "created") == 0 || strcmp(state, "stopped") == 0)
			continue;
		if (monitor_start(api, list[i].id, &err) == 0) {
			log_info("container %.12s: reconnected to its runtime helper", list[i].id);
			continue;
		}
		log_warn("container %.12s was %s but its helper is gone (%s): marking it stopped",
			 list[i].id, state, err.message);
		error_release(&err);
		update_state(api, list[i].id, "stopped", NULL);
		json_t *record = json_loads(list[i].config ? list[i].config : "{}", 0, NULL);
		if (json_is_true(json_object_get(record, "autoRemove")) &&
		    container_remove(api, list[i].id, &err) < 0) {
			log_error("%s", err.message);
			error_release(&err);
		}
		json_decref(record);
	}
	store_container_list_free(list, n);
	/* the helpers that are still monitored also need their --rm flags */
	for (struct container_rt *r = runtimes; r; r = r->next) {
		struct store_container c;
		if (store_container_get(api->store, r->id, &c, &err) == 0) {
			json_t *record = json_loads(c.config ? c.config : "{}", 0, NULL);
			r->delete_when_stopped =
				json_is_true(json_object_get(record, "autoRemove"));
			json_decref(record);
			store_container_release(&c);
		}
		error_release(&err);
	}
}

size_t containers_running(void)
{
	size_t n = 0;
	for (struct container_rt *r = runtimes; r; r = r->next)
		n++;
	return n;
}

/* `system stop`: every running container gets its stop signal, then SIGKILL
 * after its timeout; their exits are recorded (and --rm honoured) before the
 * apiserver goes. Runs after the loop has ended, so it polls. */
void containers_stop_all(struct apiserver *api)
{
	int64_t longest = 0;
	for (struct container_rt *r = runtimes; r; r = r->next) {
		struct store_container c;
		struct error err = ERROR_INIT;
		if (store_container_get(api->store, r->id, &c, &err) < 0) {
			error_release(&err);
			continue;
		}
		json_t *record = json_loads(c.config ? c.config : "{}", 0, NULL);
		json_int_t timeout = json_integer_value(json_object_get(record, "stopTimeout"));
		int sig = stop_signal_of(record);
		json_decref(record);
		store_container_release(&c);
		if (timeout > longest)
			longest = timeout;
		_cleanup_json_ json_t *request =
			json_pack("{s:i,s:I}", "signal", sig, "timeout", timeout);
		if (helper_call(api, r->id, "stop", request, NULL, 0, NULL, &err) < 0) {
			log_warn("stop container %.12s: %s", r->id, err.message);
			error_release(&err);
		}
	}
	int64_t deadline = time_monotonic_ms() + (longest + 2) * 1000;
	while (runtimes) {
		bool progress = false;
		for (struct container_rt *r = runtimes, *next; r; r = next) {
			next = r->next;
			struct error err = ERROR_INIT;
			json_t *state = NULL;
			int rc = helper_call(api, r->id, "state", NULL, NULL, 0, &state, &err);
			const char *s =
				rc == 0 ? json_string_value(json_object_get(state, "state")) : NULL;
			if (rc < 0 || (s && strcmp(s, "stopped") == 0)) {
				container_stopped(api, r, rc == 0 ? state : NULL);
				progress = true;
			}
			json_decref(state);
			error_release(&err);
		}
		if (time_monotonic_ms() > deadline) {
			for (struct container_rt *r = runtimes; r; r = r->next)
				log_warn("container %.12s did not stop in time", r->id);
			break;
		}
		if (!progress)
			usleep(20000);
	}
}

/* ---- exec ---- */

/* A call forwarded to a helper whose answer may take long (waiting for a
 * process): its reply is read on the loop and passed back as it is. */
struct forward {
	struct ipc_conn *conn;
	uint64_t id;
	int fd;
	struct loop_source *src;
	struct ipc_reader reader;
};

static void forward_free(struct forward *f)
{
	if (ipc_conn_is_open(f->conn))
		ipc_conn_set_close_hook(f->conn, NULL, NULL);
	loop_remove_fd(f->src);
	close(f->fd);
	ipc_reader_release(&f->reader);
	ipc_conn_unref(f->conn);
	free(f);
}

static void forward_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct forward *f = data;
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	struct error err = ERROR_INIT;
	int rc = ipc_reader_next(&f->reader, fd, MSG_DONTWAIT, false, &frame, &err);
	if (rc == IPC_READ_AGAIN) {
		error_release(&err);
		return;
	}
	if (ipc_conn_is_open(f->conn)) {
		if (rc == IPC_READ_FRAME)
			ipc_conn_reply(f->conn, f->id, json_incref(frame.body), NULL, 0);
		else {
			error_prefix(&err, "the runtime helper went away");
			ipc_conn_reply_error(f->conn, f->id, &err);
		}
	}
	ipc_frame_release(&frame);
	error_release(&err);
	forward_free(f);
}

/* The caller gave up waiting (its connection closed): drop the forwarded
 * call, and with it the connection to the helper. */
static void forward_caller_gone(struct ipc_conn *conn, void *data)
{
	struct forward *f = data;
	(void)conn;
	loop_remove_fd(f->src);
	close(f->fd);
	ipc_reader_release(&f->reader);
	ipc_conn_unref(f->conn);
	free(f);
}

static int forward_async(struct apiserver *api, const char *id, const char *route, json_t *request,
			 struct ipc_request *req, struct error *err)
{
	struct ipc_client *c = NULL;
	if (helper_connect(api, id, &c, err) < 0)
		return -err->code;
	_cleanup_json_ json_t *body = request ? json_deep_copy(request) : json_object();
	json_object_set_new(body, "route", json_string(route));
	size_t len;
	_cleanup_free_ char *frame = ipc_frame_encode(0, 1, body, 0, &len);
	int fd = fcntl(ipc_client_fd(c), F_DUPFD_CLOEXEC, 3);
	ipc_client_close(c);
	if (fd < 0)
		return error_errno(err, errno, "dup");
	if (ipc_write_all(fd, frame, len, NULL, 0, 5000, err) < 0) {
		close(fd);
		return -err->code;
	}
	struct forward *f = xzalloc(sizeof(*f));
	f->conn = ipc_conn_ref(req->conn);
	f->id = req->id;
	f->fd = fd;
	ipc_reader_init(&f->reader);
	f->src = loop_add_fd(api->loop, fd, EPOLLIN, forward_event, f, err);
	if (!f->src) {
		ipc_conn_unref(f->conn);
		close(fd);
		free(f);
		return -err->code;
	}
	ipc_conn_set_close_hook(req->conn, forward_caller_gone, f);
	return IPC_REPLY_DEFERRED;
}

int containers_create_process(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	json_t *args = NULL, *env = NULL, *stdio = NULL;
	const char *user = NULL, *cwd = NULL;
	int rc = 0;
	if (json_get_string_array(req->body, "args", true, &args, err) < 0 ||
	    json_get_string_array(req->body, "env", false, &env, err) < 0 ||
	    json_get_string(req->body, "user", false, &user, err) < 0 ||
	    json_get_string(req->body, "workdir", false, &cwd, err) < 0 ||
	    json_get_array(req->body, "stdio", false, &stdio, err) < 0)
		rc = -err->code;
	if (rc == 0 && !rt_find(c.id))
		rc = error_set(err, EINVAL, "container %s is not running", c.name);
	_cleanup_json_ json_t *request = NULL;
	if (rc == 0) {
		request = json_pack("{s:O,s:O,s:O}", "args", args, "env", env ? env : json_array(),
				    "stdio", stdio ? stdio : json_array());
		static const char *const passed[] = {"tty", "terminalSize"};
		for (size_t k = 0; k < ARRAY_SIZE(passed); k++) {
			json_t *v = json_object_get(req->body, passed[k]);
			if (v)
				json_object_set(request, passed[k], v);
		}
		if (cwd)
			json_object_set_new(request, "cwd", json_string(cwd));
		if (user) {
			/* names come from the image's /etc/passwd */
			_cleanup_free_ char *bundle = bundle_path(api, c.id);
			_cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
			_cleanup_json_ json_t *cfg = json_load_file(path, 0, NULL);
			_cleanup_json_ json_t *snaps = json_array();
			size_t i;
			json_t *l;
			json_array_foreach(json_object_get(cfg, "lowerdirs"), i, l)
				json_array_append_new(snaps, json_pack("{s:O}", "path", l));
			int64_t uid = 0, gid = 0;
			rc = resolve_user(snaps, user, &uid, &gid, err);
			json_object_set_new(request, "uid", json_integer(uid));
			json_object_set_new(request, "gid", json_integer(gid));
		}
	}
	if (rc == 0) {
		int fds[IPC_MAX_FDS];
		unsigned n = 0;
		for (unsigned i = 0; i < req->frame->nfds && i < 3; i++)
			fds[n++] = req->frame->fds[i];
		rc = helper_call_passing(api, c.id, "createProcess", request, fds, n, reply, req,
					 err);
	}
	store_container_release(&c);
	return rc;
}

int containers_wait_process(void *ctx, struct ipc_request *req, struct error *err, int64_t pid,
			    const char *id)
{
	struct apiserver *api = ctx;
	_cleanup_json_ json_t *request = json_pack("{s:I}", "pid", (json_int_t)pid);
	return forward_async(api, id, "wait", request, req, err);
}

/* The container's stdio.log, as a descriptor: the client reads and follows
 * it itself, so a large log never travels inside a frame. */
int containers_logs(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	_cleanup_free_ char *bundle = bundle_path(api, c.id);
	_cleanup_free_ char *path = xasprintf("%s/stdio.log", bundle);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0 && errno == ENOENT)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* never started: no output */
	if (fd < 0)
		rc = error_errno(err, errno, "open the log of container %s", c.name);
	if (rc == 0) {
		req->reply_fds[0] = fd;
		req->reply_nfds = 1;
		*reply = json_pack("{s:s,s:s}", "id", c.id, "state", c.state);
	}
	store_container_release(&c);
	return rc;
}

int containers_stats(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	int rc = 0;
	json_t *stats = NULL;
	bool running = c.state && strcmp(c.state, "running") == 0 && rt_find(c.id);
	if (running)
		rc = helper_call(api, c.id, "statistics", NULL, NULL, 0, &stats, err);
	if (!running || (rc < 0 && err->code == EINVAL)) {
		/* not running (or it just stopped): nothing in use, as Docker shows it */
		error_release(err);
		rc = 0;
		json_t *record = json_loads(c.config ? c.config : "{}", 0, NULL);
		json_int_t limit = json_integer_value(json_object_get(record, "memoryBytes"));
		json_decref(record);
		stats = json_pack("{s:i,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:I}", "cpuUsec", 0,
				  "memoryUsage", 0, "memoryLimit", limit, "pids", 0, "blockRead", 0,
				  "blockWrite", 0, "netRx", 0, "netTx", 0, "timestampUsec",
				  (json_int_t)time_monotonic_us());
	}
	if (rc == 0) {
		json_object_set_new(stats, "id", json_string(c.id));
		json_object_set_new(stats, "name", json_string(c.name));
		json_object_set_new(stats, "state", json_string(c.state ? c.state : "unknown"));
		*reply = json_pack("{s:o}", "stats", stats);
	}
	store_container_release(&c);
	return rc;
}

/* Removes every stopped (or never started) container. */
int containers_prune(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container *list = NULL;
	size_t n = 0;
	if (store_container_list(api->store, &list, &n, err) < 0)
		return -err->code;
	json_t *deleted = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *state = list[i].state ? list[i].state : "";
		if (rt_find(list[i].id) ||
		    (strcmp(state, "stopped") != 0 && strcmp(state, "created") != 0))
			continue;
		rc = container_remove(api, list[i].id, err);
		if (rc == 0)
			json_array_append_new(deleted, json_string(list[i].id));
	}
	store_container_list_free(list, n);
	if (rc < 0) {
		json_decref(deleted);
		return rc;
	}
	*reply = json_pack("{s:o}", "deleted", deleted);
	return 0;
}

int containers_resize(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	struct store_container c;
	if (lookup(api, req->body, &c, err) < 0)
		return -err->code;
	int64_t rows = 0, cols = 0;
	int rc = 0;
	if (json_get_int(req->body, "rows", true, &rows, err) < 0 ||
	    json_get_int(req->body, "cols", true, &cols, err) < 0)
		rc = -err->code;
	if (rc == 0 && !rt_find(c.id))
		rc = error_set(err, EINVAL, "container %s is not running", c.name);
	if (rc == 0) {
		_cleanup_json_ json_t *request =
			json_pack("{s:I,s:I}", "rows", (json_int_t)rows, "cols", (json_int_t)cols);
		rc = helper_call(api, c.id, "resize", request, NULL, 0, NULL, err);
	}
	store_container_release(&c);
	return rc;
}
