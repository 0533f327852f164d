/* container doctor: a CLI plugin that checks whether this host has what
 * containers need (kernel features, cgroup layout, privileges) and whether
 * the API server answers. Run as `container doctor [--format json]`.
 * Exit status 0 when every required check passes, 1 otherwise. */
#include "ipc/client.h"
#include "json/jsonutil.h"
#include "util/fs.h"
#include "util/paths.h"
#include "util/util.h"

#include <errno.h>
#include <mntent.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

struct report {
	json_t *checks;
	bool failed;
};

static void add(struct report *r, const char *name, bool ok, bool required, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add(struct report *r, const char *name, bool ok, bool required, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *detail = xvasprintf(fmt, ap);
	va_end(ap);
	const char *status = ok ? "ok" : required ? "fail" : "warn";
	if (!ok && required)
		r->failed = true;
	json_array_append_new(r->checks, json_pack("{s:s,s:s,s:s,s:b}", "check", name, "status",
						   status, "detail", detail, "required", required));
}

static bool file_has_line(const char *path, const char *needle)
{
	_cleanup_free_ char *text = NULL;
	struct error err = ERROR_INIT;
	if (fs_read_file(path, 1 << 20, &text, NULL, &err) < 0) {
		error_release(&err);
		return false;
	}
	return strstr(text, needle) != NULL;
}

/* Which hierarchy holds each controller: v1 mounts name theirs in the
 * options; the v2 mount lists its own in cgroup.controllers. */
static void check_cgroups(struct report *r)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	if (!f) {
		add(r, "cgroups", false, true, "cannot read /proc/self/mounts");
		return;
	}
	static const char *const controllers[] = {"cpu", "memory", "pids", "cpuset", "io", "blkio"};
	const char *where[ARRAY_SIZE(controllers)] = {0};
	char *v2_mount = NULL;
	struct mntent *m;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0 && !v2_mount)
			v2_mount = xstrdup(m->mnt_dir);
		if (strcmp(m->mnt_type, "cgroup") != 0)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
			char opt[32];
			snprintf(opt, sizeof(opt), "%s", controllers[i]);
			if (hasmntopt(m, opt))
				where[i] = "v1";
		}
	}
	endmntent(f);
	if (v2_mount) {
		_cleanup_free_ char *path = xasprintf("%s/cgroup.controllers", v2_mount);
		_cleanup_free_ char *text = NULL;
		struct error err = ERROR_INIT;
		if (fs_read_file(path, 4096, &text, NULL, &err) == 0) {
			for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
				/* match whole words */
				char *p = text;
				size_t len = strlen(controllers[i]);
				while ((p = strstr(p, controllers[i]))) {
					bool start = p == text || p[-1] == ' ';
					bool end = p[len] == ' ' || p[len] == '\n' || !p[len];
					if (start && end && !where[i])
						where[i] = "v2";
					p += len;
				}
			}
		}
		error_release(&err);
	}
	bool any_v1 = false, any_v2 = false;
	char detail[256] = "";
	for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
		if (!where[i])
			continue;
		any_v1 |= strcmp(where[i], "v1") == 0;
		any_v2 |= strcmp(where[i], "v2") == 0;
		char part[32];
		snprintf(part, sizeof(part), "%s%s:%s", detail[0] ? " " : "", controllers[i],
			 where[i]);
		strncat(detail, part, sizeof(detail) - strlen(detail) - 1);
	}
	const char *mode = any_v1 && (any_v2 || v2_mount) ? "hybrid"
			   : any_v1			  ? "v1"
			   : any_v2			  ? "v2"
							  : "none";
	bool ok = where[1] != NULL && where[2] != NULL; /* memory and pids */
	add(r, "cgroups", ok, true, "%s (%s)", mode, detail[0] ? detail : "no controllers");
	free(v2_mount);
}

static void check_namespaces(struct report *r)
{
	static const char *const ns[] = {"mnt", "pid", "uts", "ipc", "net", "cgroup"};
	char missing[128] = "";
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		if (access(path, F_OK) != 0) {
			strncat(missing, " ", sizeof(missing) - strlen(missing) - 1);
			strncat(missing, ns[i], sizeof(missing) - strlen(missing) - 1);
		}
	}
	add(r, "namespaces", !missing[0], true, "%s",
	    missing[0] ? missing : "mnt pid uts ipc net cgroup");
}

static void check_apiserver(struct report *r)
{
	struct paths paths;
	paths_resolve(&paths, NULL, NULL, NULL);
	_cleanup_free_ char *sock = paths_apiserver_socket(&paths);
	struct ipc_client *c = NULL;
	struct error err = ERROR_INIT;
	json_t *reply = NULL;
	if (ipc_client_connect(sock, &c, &err) == 0 && ipc_call(c, "ping", NULL, &reply, &err) == 0)
		add(r, "apiserver", true, false, "running, pid %lld, version %s",
		    (long long)json_integer_value(json_object_get(reply, "pid")),
		    json_string_value(json_object_get(reply, "version")));
	else
		add(r, "apiserver", false, false, "not answering on %s: %s", sock, err.message);
	json_decref(reply);
	ipc_client_close(c);
	error_release(&err);
	paths_release(&paths);
}

int main(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc &&
		    strcmp(argv[i + 1], "json") == 0) {
			json = true;
			i++;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			puts("Usage: container doctor [--format json]\n\n"
			     "Checks that this host can run containers: kernel, namespaces,\n"
			     "cgroups (v1, v2 or hybrid, per controller), overlayfs, seccomp,\n"
			     "privileges, and whether the API server answers.");
			return 0;
		} else {
			fprintf(stderr, "container doctor: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	struct report r = {.checks = json_array()};
	struct utsname u;
	uname(&u);
	add(&r, "kernel", true, true, "%s %s", u.sysname, u.release);
	add(&r, "root", geteuid() == 0, true, "%s",
	    geteuid() == 0 ? "running as root" : "containers need root");
	check_namespaces(&r);
	check_cgroups(&r);
	add(&r, "overlayfs", file_has_line("/proc/filesystems", "\toverlay\n"), true, "%s",
	    "overlay in /proc/filesystems");
	add(&r, "seccomp", file_has_line("/proc/self/status", "Seccomp:"), true, "%s",
	    "seccomp filters available");
	check_apiserver(&r);
	if (json) {
		_cleanup_json_ json_t *out =
			json_pack("{s:o,s:b}", "checks", r.checks, "ok", !r.failed);
		char *s = json_dumps(out, JSON_INDENT(2));
		puts(s);
		free(s);
	} else {
		size_t i;
		json_t *c;
		printf("%-12s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
		json_array_foreach(r.checks, i, c)
		{
			printf("%-12s %-6s %s\n", json_string_value(json_object_get(c, "check")),
			       json_string_value(json_object_get(c, "status")),
			       json_string_value(json_object_get(c, "detail")));
		}
		json_decref(r.checks);
	}
	return r.failed ? 1 : 0;
}
