/* The plugin supervisor (DESIGN §7): spawns service plugins, notices their
 * death at once through SIGCHLD (signalfd on the main loop), restarts the
 * wanted ones with exponential back-off, and serves the plugin routes. */
#include "apiserver.h"
#include "json/jsonutil.h"
#include "plugin/plugin.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define BACKOFF_MAX_MS	 30000
#define BACKOFF_RESET_MS 10000 /* a plugin that ran this long starts over at the base */
#define STOP_TIMEOUT_MS	 5000

enum plugin_state { PLUGIN_STOPPED, PLUGIN_RUNNING, PLUGIN_STOPPING, PLUGIN_BACKOFF };

static const char *const plugin_state_names[] = {
	[PLUGIN_STOPPED] = "stopped",
	[PLUGIN_RUNNING] = "running",
	[PLUGIN_STOPPING] = "stopping",
	[PLUGIN_BACKOFF] = "restarting",
};

struct waiter {
	struct ipc_conn *conn;
	uint64_t id;
	struct waiter *next;
};

struct plugin_instance {
	struct plugin_config cfg;
	enum plugin_state state;
	bool wanted;	      /* restart when it dies */
	bool restart_pending; /* pluginRestart: start again once it exits */
	pid_t pid;
	int64_t started_ms; /* monotonic */
	int64_t backoff_ms;
	unsigned restarts;
	char *last_exit; /* "exited with status 1", "killed by signal 9" */
	struct loop_timer *timer;
	struct waiter *waiters; /* unload/restart callers answered on a state change */
	struct supervisor *sup;
};

struct supervisor {
	struct apiserver *api;
	struct plugin_instance **plugins;
	size_t nplugins;
	int64_t backoff_base_ms;
};

static json_t *plugin_json(const struct plugin_instance *p)
{
	json_t *services = json_array();
	for (unsigned bit = 1; bit <= PLUGIN_SERVICE_CORE; bit <<= 1)
		if (p->cfg.service_types & bit)
			json_array_append_new(services, json_string(plugin_service_type_name(bit)));
	json_t *args = json_array();
	for (char **a = p->cfg.default_args; a && *a; a++)
		json_array_append_new(args, json_string(*a));
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b,s:o,s:b,s:o,s:s,s:I}", "name", p->cfg.name,
			      "abstract", p->cfg.abstract, "directory", p->cfg.dir, "binary",
			      p->cfg.binary, "user", p->cfg.user, "services", services,
			      "loadAtBoot", p->cfg.load_at_boot, "defaultArguments", args, "state",
			      plugin_state_names[p->state], "restarts", (json_int_t)p->restarts);
	if (p->cfg.author)
		json_object_set_new(j, "author", json_string(p->cfg.author));
	if (p->cfg.version)
		json_object_set_new(j, "version", json_string(p->cfg.version));
	if (p->pid > 0)
		json_object_set_new(j, "pid", json_integer(p->pid));
	if (p->last_exit)
		json_object_set_new(j, "lastExit", json_string(p->last_exit));
	json_object_set_new(j, "kind", json_string(p->cfg.has_services ? "service" : "cli"));
	return j;
}

static void answer_waiters(struct plugin_instance *p)
{
	while (p->waiters) {
		struct waiter *w = p->waiters;
		p->waiters = w->next;
		if (ipc_conn_is_open(w->conn))
			ipc_conn_reply(w->conn, w->id, json_pack("{s:o}", "plugin", plugin_json(p)),
				       NULL, 0);
		ipc_conn_unref(w->conn);
		free(w);
	}
}

static void add_waiter(struct plugin_instance *p, struct ipc_request *req)
{
	struct waiter *w = xzalloc(sizeof(*w));
	w->conn = ipc_conn_ref(req->conn);
	w->id = req->id;
	w->next = p->waiters;
	p->waiters = w;
}

static char *pidfile_path(struct plugin_instance *p)
{
	return xasprintf("%s/plugin-%s.pid", p->sup->api->paths.run_root, p->cfg.name);
}

/* A plugin left running by an apiserver that was killed (it normally dies
 * with us through PR_SET_PDEATHSIG): end it, but only if the recorded pid
 * still has the recorded start time, so a recycled pid is never hit. */
static void kill_stale(struct plugin_instance *p)
{
	_cleanup_free_ char *path = pidfile_path(p);
	_cleanup_free_ char *text = NULL;
	struct error err = ERROR_INIT;
	if (fs_read_file(path, 256, &text, NULL, &err) < 0) {
		error_release(&err);
		return;
	}
	int pid = 0;
	unsigned long long recorded = 0, now = 0;
	if (sscanf(text, "%d %llu", &pid, &recorded) == 2 && pid > 1 &&
	    fs_proc_start_time(pid, &now, &err) == 0 && now == recorded) {
		log_warn("plugin %s: ending pid %d left by an earlier apiserver", p->cfg.name, pid);
		kill(pid, SIGKILL);
	}
	error_release(&err);
	unlink(path);
}

static void write_pidfile(struct plugin_instance *p)
{
	unsigned long long start = 0;
	struct error err = ERROR_INIT;
	if (fs_proc_start_time(p->pid, &start, &err) < 0) {
		error_release(&err);
		return;
	}
	_cleanup_free_ char *path = pidfile_path(p);
	_cleanup_free_ char *text = xasprintf("%d %llu\n", (int)p->pid, start);
	if (fs_write_file_atomic(path, text, strlen(text), 0644, &err) < 0) {
		log_warn("plugin %s: %s", p->cfg.name, err.message);
		error_release(&err);
	}
}

static int plugin_spawn(struct plugin_instance *p, struct error *err)
{
	struct apiserver *api = p->sup->api;
	_cleanup_free_ char *log_path = xasprintf("%s/%s.log", api->paths.log_root, p->cfg.name);
	_cleanup_close_ int log_fd =
		open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (log_fd < 0)
		return error_errno(err, errno, "open %s", log_path);
	size_t nargs = 0;
	while (p->cfg.default_args[nargs])
		nargs++;
	_cleanup_free_ char **argv = xzalloc(sizeof(char *) * (nargs + 2));
	argv[0] = p->cfg.binary;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = p->cfg.default_args[i];
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return error_errno(err, errno, "fork");
	if (pid == 0) {
		/* Die with the apiserver; the next one starts us afresh. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(log_fd, 1) < 0 ||
		    dup2(log_fd, 2) < 0)
			_exit(126);
		/* Nothing of the apiserver's but stdio reaches the plugin. */
		close_range(3, ~0U, 0);
		setenv("CONTAINER_APP_ROOT", api->paths.app_root, 1);
		setenv("CONTAINER_RUN_ROOT", api->paths.run_root, 1);
		setenv("CONTAINER_LOG_ROOT", api->paths.log_root, 1);
		setenv("CONTAINER_INSTALL_ROOT", api->paths.install_root, 1);
		setenv("CONTAINER_PLUGIN_NAME", p->cfg.name, 1);
		if (chdir(p->cfg.dir) < 0)
			_exit(126);
		execv(argv[0], argv);
		dprintf(2, "container-apiserver: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	p->started_ms = time_monotonic_ms();
	p->state = PLUGIN_RUNNING;
	write_pidfile(p);
	log_info("plugin %s started (pid %d)", p->cfg.name, (int)pid);
	return 0;
}

static void restart_timer(struct loop *loop, void *data)
{
	(void)loop;
	struct plugin_instance *p = data;
	p->timer = NULL;
	if (p->state != PLUGIN_BACKOFF || !p->wanted)
		return;
	_cleanup_error_ struct error err = ERROR_INIT;
	p->restarts++;
	if (plugin_spawn(p, &err) < 0) {
		log_error("plugin %s: restart failed: %s", p->cfg.name, err.message);
		p->backoff_ms =
			p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
		p->timer = loop_add_timer(p->sup->api->loop, p->backoff_ms, restart_timer, p);
	}
}

static void kill_timer(struct loop *loop, void *data)
{
	(void)loop;
	struct plugin_instance *p = data;
	p->timer = NULL;
	if (p->state == PLUGIN_STOPPING && p->pid > 0) {
		log_warn("plugin %s (pid %d) ignored SIGTERM for %d ms: sending SIGKILL",
			 p->cfg.name, (int)p->pid, STOP_TIMEOUT_MS);
		kill(p->pid, SIGKILL);
	}
}

static void plugin_exited(struct plugin_instance *p, int status)
{
	free(p->last_exit);
	if (WIFEXITED(status))
		p->last_exit = xasprintf("exited with status %d", WEXITSTATUS(status));
	else
		p->last_exit = xasprintf("killed by signal %d", WTERMSIG(status));
	int64_t ran = time_monotonic_ms() - p->started_ms;
	p->pid = 0;
	_cleanup_free_ char *pidfile = pidfile_path(p);
	unlink(pidfile);
	loop_cancel_timer(p->timer);
	p->timer = NULL;
	if (p->restart_pending) {
		_cleanup_error_ struct error err = ERROR_INIT;
		p->restart_pending = false;
		p->wanted = true;
		p->backoff_ms = p->sup->backoff_base_ms;
		log_info("plugin %s %s; restarting as asked", p->cfg.name, p->last_exit);
		p->restarts++;
		if (plugin_spawn(p, &err) < 0) {
			log_error("plugin %s: %s", p->cfg.name, err.message);
			p->state = PLUGIN_STOPPED;
		}
		answer_waiters(p);
		return;
	}
	if (!p->wanted || p->sup->api->shutting_down) {
		log_info("plugin %s %s", p->cfg.name, p->last_exit);
		p->state = PLUGIN_STOPPED;
		answer_waiters(p);
		return;
	}
	if (ran >= BACKOFF_RESET_MS)
		p->backoff_ms = p->sup->backoff_base_ms;
	log_warn("plugin %s (ran %lld ms) %s: restarting in %lld ms", p->cfg.name, (long long)ran,
		 p->last_exit, (long long)p->backoff_ms);
	p->state = PLUGIN_BACKOFF;
	p->timer = loop_add_timer(p->sup->api->loop, p->backoff_ms, restart_timer, p);
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
	answer_waiters(p);
}

void supervisor_reap(struct supervisor *sup)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		bool known = false;
		for (size_t i = 0; i < sup->nplugins; i++) {
			if (sup->plugins[i]->pid == pid) {
				plugin_exited(sup->plugins[i], status);
				known = true;
				break;
			}
		}
		if (!known)
			log_debug("reaped pid %d", (int)pid);
	}
}

static void plugin_stop(struct plugin_instance *p)
{
	p->wanted = false;
	/* While stopping, the timer is the one that sends SIGKILL: keep it. */
	if (p->state == PLUGIN_STOPPING)
		return;
	loop_cancel_timer(p->timer);
	p->timer = NULL;
	if (p->state == PLUGIN_BACKOFF)
		p->state = PLUGIN_STOPPED;
	if (p->state != PLUGIN_RUNNING)
		return;
	log_info("stopping plugin %s (pid %d)", p->cfg.name, (int)p->pid);
	p->state = PLUGIN_STOPPING;
	kill(p->pid, SIGTERM);
	p->timer = loop_add_timer(p->sup->api->loop, STOP_TIMEOUT_MS, kill_timer, p);
}

static void report(void *data, bool is_error, const char *message)
{
	(void)data;
	if (is_error)
		log_error("%s", message);
	else
		log_info("%s", message);
}

static struct plugin_instance *find_plugin(struct supervisor *sup, const char *name)
{
	for (size_t i = 0; i < sup->nplugins; i++)
		if (strcmp(sup->plugins[i]->cfg.name, name) == 0)
			return sup->plugins[i];
	return NULL;
}

/* (Re)reads the plugin directories. Known plugins keep their process and
 * counters; a changed config takes effect at their next start. */
static void discover(struct supervisor *sup)
{
	struct plugin_config *list = NULL;
	size_t n = 0;
	plugin_discover(sup->api->paths.builtin_plugins, sup->api->paths.user_plugins, &list, &n,
			report, NULL);
	for (size_t i = 0; i < n; i++) {
		struct plugin_instance *p = find_plugin(sup, list[i].name);
		if (p) {
			plugin_config_release(&p->cfg);
			p->cfg = list[i];
			continue;
		}
		p = xzalloc(sizeof(*p));
		p->cfg = list[i];
		p->sup = sup;
		p->backoff_ms = sup->backoff_base_ms;
		sup->plugins = xrealloc(sup->plugins, sizeof(*sup->plugins) * (sup->nplugins + 1));
		sup->plugins[sup->nplugins++] = p;
	}
	free(list); /* the configs moved into the instances */
}

struct supervisor *supervisor_new(struct apiserver *api)
{
	struct supervisor *sup = xzalloc(sizeof(*sup));
	sup->api = api;
	sup->backoff_base_ms = 250;
	const char *base = getenv("CONTAINER_PLUGIN_BACKOFF_MS");
	if (base && atoi(base) > 0)
		sup->backoff_base_ms = atoi(base);
	return sup;
}

void supervisor_boot(struct supervisor *sup)
{
	discover(sup);
	for (size_t i = 0; i < sup->nplugins; i++) {
		struct plugin_instance *p = sup->plugins[i];
		log_info("found plugin %s (%s%s) in %s", p->cfg.name,
			 p->cfg.has_services ? "service" : "cli",
			 p->cfg.load_at_boot ? ", loadAtBoot" : "", p->cfg.dir);
		if (!p->cfg.has_services || !p->cfg.load_at_boot)
			continue;
		kill_stale(p);
		_cleanup_error_ struct error err = ERROR_INIT;
		p->wanted = true;
		if (plugin_spawn(p, &err) < 0) {
			log_error("plugin %s: %s", p->cfg.name, err.message);
			p->state = PLUGIN_BACKOFF;
			p->timer = loop_add_timer(sup->api->loop, p->backoff_ms, restart_timer, p);
		}
	}
}

void supervisor_shutdown(struct supervisor *sup, int timeout_ms)
{
	size_t running = 0;
	for (size_t i = 0; i < sup->nplugins; i++) {
		struct plugin_instance *p = sup->plugins[i];
		p->wanted = false;
		loop_cancel_timer(p->timer);
		p->timer = NULL;
		if (p->pid > 0) {
			kill(p->pid, SIGTERM);
			running++;
		}
	}
	int64_t deadline = time_monotonic_ms() + timeout_ms;
	bool killed = false;
	while (running > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0)
			break;
		if (pid == 0) {
			if (!killed && time_monotonic_ms() >= deadline) {
				for (size_t i = 0; i < sup->nplugins; i++)
					if (sup->plugins[i]->pid > 0)
						kill(sup->plugins[i]->pid, SIGKILL);
				killed = true;
			}
			usleep(10000); /* shutdown only: the loop is no longer running */
			continue;
		}
		for (size_t i = 0; i < sup->nplugins; i++) {
			struct plugin_instance *p = sup->plugins[i];
			if (p->pid == pid) {
				plugin_exited(p, status);
				running--;
			}
		}
	}
}

void supervisor_free(struct supervisor *sup)
{
	if (!sup)
		return;
	for (size_t i = 0; i < sup->nplugins; i++) {
		struct plugin_instance *p = sup->plugins[i];
		answer_waiters(p);
		loop_cancel_timer(p->timer);
		plugin_config_release(&p->cfg);
		free(p->last_exit);
		free(p);
	}
	free(sup->plugins);
	free(sup);
}

/* Routes. */

static struct plugin_instance *lookup(struct apiserver *api, json_t *body, bool rescan,
				      struct error *err)
{
	const char *name = NULL;
	if (json_get_string(body, "name", true, &name, err) < 0)
		return NULL;
	struct plugin_instance *p = find_plugin(api->supervisor, name);
	if (!p && rescan) {
		discover(api->supervisor);
		p = find_plugin(api->supervisor, name);
	}
	if (!p)
		error_set(err, ENOENT, "no plugin named '%s'", name);
	return p;
}

int plugins_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	discover(api->supervisor);
	json_t *arr = json_array();
	for (size_t i = 0; i < api->supervisor->nplugins; i++)
		json_array_append_new(arr, plugin_json(api->supervisor->plugins[i]));
	*reply = json_pack("{s:o}", "plugins", arr);
	return 0;
}

int plugins_get(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct plugin_instance *p = lookup(ctx, req->body, true, err);
	if (!p)
		return -err->code;
	*reply = json_pack("{s:o}", "plugin", plugin_json(p));
	return 0;
}

static int need_services(struct plugin_instance *p, struct error *err)
{
	if (!p->cfg.has_services)
		return error_set(err, EINVAL, "plugin %s has no services: run it as `container %s`",
				 p->cfg.name, p->cfg.name);
	return 0;
}

int plugins_load(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct plugin_instance *p = lookup(ctx, req->body, true, err);
	if (!p || need_services(p, err) < 0)
		return -err->code;
	if (p->state == PLUGIN_STOPPING)
		return error_set(err, EBUSY, "plugin %s is stopping; try again", p->cfg.name);
	p->wanted = true;
	if (p->state == PLUGIN_STOPPED) {
		p->backoff_ms = p->sup->backoff_base_ms;
		if (plugin_spawn(p, err) < 0)
			return error_prefix(err, "load plugin %s", p->cfg.name);
	}
	*reply = json_pack("{s:o}", "plugin", plugin_json(p));
	return 0;
}

int plugins_unload(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct plugin_instance *p = lookup(ctx, req->body, false, err);
	if (!p || need_services(p, err) < 0)
		return -err->code;
	plugin_stop(p);
	if (p->state == PLUGIN_STOPPING) {
		add_waiter(p, req);
		return IPC_REPLY_DEFERRED;
	}
	*reply = json_pack("{s:o}", "plugin", plugin_json(p));
	return 0;
}

int plugins_restart(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct plugin_instance *p = lookup(ctx, req->body, true, err);
	if (!p || need_services(p, err) < 0)
		return -err->code;
	if (p->state == PLUGIN_RUNNING || p->state == PLUGIN_STOPPING) {
		plugin_stop(p);
		p->restart_pending = true;
		add_waiter(p, req);
		return IPC_REPLY_DEFERRED;
	}
	loop_cancel_timer(p->timer);
	p->timer = NULL;
	p->wanted = true;
	p->backoff_ms = p->sup->backoff_base_ms;
	if (plugin_spawn(p, err) < 0)
		return error_prefix(err, "restart plugin %s", p->cfg.name);
	*reply = json_pack("{s:o}", "plugin", plugin_json(p));
	return 0;
}
