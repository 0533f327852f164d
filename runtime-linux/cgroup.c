/* Container cgroups on v2, v1 and hybrid hosts (DESIGN §4, cgroup.h).
 *
 * The paths kept in struct cgroup_layout already carry the root prefix:
 * they are the directories this process opens ("/sys/fs/cgroup/memory" on a
 * host, "<tmp>/sys/fs/cgroup/memory" in a test).
 *
 * Control files are opened without O_CREAT: on cgroupfs they always exist,
 * and a missing one means a missing controller, which must fail rather than
 * leave a stray regular file behind. Tests lay out a fake tree under a
 * temporary root and pre-create the directories and the files the code
 * writes before calling cgroup_create. That is why cgroup_create accepts a
 * container directory that already exists as long as its cgroup.procs is
 * empty: a cgroup without processes carries nothing of anyone else's, and a
 * create retried after a crash between mkdir and the limits then succeeds. */
#include "cgroup.h"
#include "util/fs.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_FILE_MAX	   (4u << 20) /* cgroup.procs of a big cgroup, mountinfo */
#define CPU_PERIOD_USEC	   100000
#define CPU_QUOTA_MIN_USEC 1000 /* the kernel refuses a smaller CFS quota */
#define DESTROY_TIMEOUT_MS 2000
#define DESTROY_POLL_MS	   10
#define V1_UNLIMITED_AT	   (UINT64_C(1) << 62) /* v1 "no limit" is PAGE_COUNTER_MAX pages */
#define CREATE_ATTEMPTS	   3

#define BIT(c) (1u << (c))

/* Names in the options of a v1 mount and in the v1 lines of /proc/PID/cgroup. */
static const char *const controller_v1_names[CGROUP_NCONTROLLERS] = {
	[CGROUP_CPU] = "cpu",	[CGROUP_CPUACCT] = "cpuacct", [CGROUP_MEMORY] = "memory",
	[CGROUP_PIDS] = "pids", [CGROUP_IO] = "blkio",	      [CGROUP_CPUSET] = "cpuset",
};

/* Names in cgroup.controllers and cgroup.subtree_control. v2 has no cpuacct:
 * cpu.stat accounts CPU time in every cgroup. */
static const char *const controller_v2_names[CGROUP_NCONTROLLERS] = {
	[CGROUP_CPU] = "cpu",	[CGROUP_CPUACCT] = NULL, [CGROUP_MEMORY] = "memory",
	[CGROUP_PIDS] = "pids", [CGROUP_IO] = "io",	 [CGROUP_CPUSET] = "cpuset",
};

/* What a v2 container cgroup needs enabled in its ancestors' subtree_control,
 * in the order written ("+cpu +io +memory +pids"). cpuset is left alone: no
 * limit uses it, and enabling it would tie the container to today's cpus. */
static const enum cgroup_controller v2_delegated[] = {CGROUP_CPU, CGROUP_IO, CGROUP_MEMORY,
						      CGROUP_PIDS};

struct cgroup_hierarchy {
	char *mount;	      /* root of the hierarchy, as in the layout */
	bool v2;	      /* the unified hierarchy */
	unsigned controllers; /* BIT(enum cgroup_controller) of those it holds */
	char *own_dir;	      /* <mount><own path>: the creator's cgroup */
	char *parent_dir;     /* <own_dir>/<parent_name>, shared by the containers */
	char *dir;	      /* <parent_dir>/<id> */
	bool created;	      /* dir is ours to remove if cgroup_create fails */
};

struct cgroup {
	char *name; /* "<parent_name>/<id>", for messages */
	struct cgroup_hierarchy hierarchies[CGROUP_NCONTROLLERS + 1];
	size_t count;
	int by_controller[CGROUP_NCONTROLLERS]; /* index in hierarchies, -1 when absent */
	int unified;				/* index in hierarchies, -1 when absent */
};

/* The creator's cgroup in each hierarchy, from /proc/self/cgroup. */
struct own_cgroups {
	char *v1[CGROUP_NCONTROLLERS];
	char *unified;
};

static void own_cgroups_release(struct own_cgroups *own)
{
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++)
		free(own->v1[c]);
	free(own->unified);
	memset(own, 0, sizeof(*own));
}

static void cgroup_freep(struct cgroup **cg)
{
	cgroup_free(*cg);
}

/* ---- small helpers ---- */

static char *root_path(const char *root, const char *path)
{
	if (!root || !root[0] || strcmp(root, "/") == 0)
		return xstrdup(path);
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	return xasprintf("%.*s%s", (int)len, root, path);
}

/* <mount><own path>, where the own path "/" is the mount itself. */
static char *path_under_mount(const char *mount, const char *own)
{
	size_t len = strlen(own);
	while (len > 0 && own[len - 1] == '/')
		len--;
	return xasprintf("%s%.*s", mount, (int)len, own);
}

static int controller_lookup(const char *const names[], const char *name, size_t len)
{
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++)
		if (names[c] && strlen(names[c]) == len && memcmp(names[c], name, len) == 0)
			return c;
	return -1;
}

/* BIT() of every v2 controller named in a whitespace-separated list. */
static unsigned controller_v2_mask(const char *text)
{
	unsigned mask = 0;
	for (const char *p = text; *p;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		const char *word = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		int c = controller_lookup(controller_v2_names, word, p - word);
		if (c >= 0)
			mask |= BIT(c);
	}
	return mask;
}

static bool component_valid(const char *name)
{
	return name && name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       !strchr(name, '/') && !strchr(name, '\n');
}

static bool text_blank(const char *text)
{
	for (; *text; text++)
		if (!isspace((unsigned char)*text))
			return false;
	return true;
}

static char *text_trim(char *text)
{
	while (isspace((unsigned char)*text))
		text++;
	size_t len = strlen(text);
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		text[--len] = '\0';
	return text;
}

/* A decimal number spanning exactly text[0..len). */
static bool parse_u64(const char *text, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t value = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		unsigned digit = text[i] - '0';
		if (value > (UINT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*out = value;
	return true;
}

static bool file_exists(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Reads dir/name. */
static int cgroup_read(const char *dir, const char *name, char **out, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return fs_read_file(path, CGROUP_FILE_MAX, out, NULL, err);
}

/* Reads dir/name; a missing file leaves *out NULL and is not an error. */
static int cgroup_read_optional(const char *dir, const char *name, char **out, struct error *err)
{
	*out = NULL;
	struct error local = ERROR_INIT;
	int r = cgroup_read(dir, name, out, &local);
	if (r == -ENOENT) {
		/* released on purpose: absent means "nothing to report" */
		error_release(&local);
		return 0;
	}
	if (r < 0) {
		r = error_set(err, local.code, "%s", local.message);
		error_release(&local);
	}
	return r;
}

/* Writes value to dir/name in one write(2): cgroupfs parses each write on its
 * own. No O_CREAT: see the top of this file. */
static int cgroup_write(const char *dir, const char *name, const char *value, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "open %s", path);
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return error_errno(err, errno, "write \"%s\" to %s", value, path);
	if ((size_t)n != len)
		return error_set(err, EIO, "short write of \"%s\" to %s", value, path);
	return 0;
}

/* The pids in dir/cgroup.procs; a missing file (the cgroup is gone) lists none. */
static int procs_read(const char *dir, pid_t **pids_out, size_t *count_out, struct error *err)
{
	*pids_out = NULL;
	*count_out = 0;
	_cleanup_free_ char *text = NULL;
	if (cgroup_read_optional(dir, "cgroup.procs", &text, err) < 0)
		return -1;
	if (!text)
		return 0;
	size_t count = 0, cap = 0;
	_cleanup_free_ pid_t *pids = NULL;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line = text_trim(line);
		if (!line[0])
			continue;
		uint64_t value;
		if (!parse_u64(line, strlen(line), &value) || value == 0 || value > INT_MAX)
			return error_set(err, EINVAL, "%s/cgroup.procs: bad pid \"%.20s\"", dir,
					 line);
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			pids = xrealloc(pids, cap * sizeof(*pids));
		}
		pids[count++] = (pid_t)value;
	}
	*pids_out = move_ptr(pids);
	*count_out = count;
	return 0;
}

/* ---- detection ---- */

/* Undoes the octal escapes mountinfo uses in paths (\040 for a space, \011,
 * \012, \134). */
static void mountinfo_unescape(char *s)
{
	char *out = s;
	for (char *in = s; *in;) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out++ =
				(char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
			in += 4;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
}

struct mountinfo_entry {
	char *mount_point;
	char *fstype;
	char *super_options;
};

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue":
 * any number of optional fields after the sixth, ended by a lone "-". */
static bool mountinfo_parse_line(char *line, struct mountinfo_entry *e)
{
	memset(e, 0, sizeof(*e));
	size_t index = 0, after_separator = 0;
	bool separator = false;
	char *save = NULL;
	for (char *f = strtok_r(line, " ", &save); f; f = strtok_r(NULL, " ", &save), index++) {
		if (separator) {
			if (after_separator == 0)
				e->fstype = f;
			else if (after_separator == 2)
				e->super_options = f;
			after_separator++;
		} else if (index == 4) {
			e->mount_point = f;
		} else if (index >= 6 && strcmp(f, "-") == 0) {
			separator = true;
		}
	}
	if (!e->mount_point || !e->fstype || !e->super_options)
		return false;
	mountinfo_unescape(e->mount_point);
	return e->mount_point[0] == '/';
}

/* The first mount of a hierarchy wins; later ones are bind mounts of it. */
static void layout_add_v1(struct cgroup_layout *l, const char *root, struct mountinfo_entry *e)
{
	char *save = NULL;
	for (char *opt = strtok_r(e->super_options, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		int c = controller_lookup(controller_v1_names, opt, strlen(opt));
		if (c < 0 || l->mount[c])
			continue;
		l->mount[c] = root_path(root, e->mount_point);
		l->v2[c] = false;
	}
}

/* v2 holds what its cgroup.controllers lists, unless a v1 hierarchy holds it
 * already (the kernel would not list it then anyway). */
static int layout_add_v2(struct cgroup_layout *l, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	if (cgroup_read_optional(l->unified, "cgroup.controllers", &text, err) < 0)
		return -1;
	if (!text)
		return 0;
	unsigned mask = controller_v2_mask(text);
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++) {
		if (!(mask & BIT(c)) || l->mount[c])
			continue;
		l->mount[c] = xstrdup(l->unified);
		l->v2[c] = true;
	}
	/* cpu time is cpu.stat in the unified hierarchy */
	if ((mask & BIT(CGROUP_CPU)) && l->v2[CGROUP_CPU] && !l->mount[CGROUP_CPUACCT]) {
		l->mount[CGROUP_CPUACCT] = xstrdup(l->unified);
		l->v2[CGROUP_CPUACCT] = true;
	}
	return 0;
}

int cgroup_detect(const char *root, struct cgroup_layout *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *path = root_path(root, "/proc/self/mountinfo");
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, CGROUP_FILE_MAX, &text, NULL, err) < 0)
		return error_prefix(err, "detect cgroups");
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mountinfo_entry e;
		if (!mountinfo_parse_line(line, &e))
			continue;
		if (strcmp(e.fstype, "cgroup2") == 0) {
			if (!out->unified)
				out->unified = root_path(root, e.mount_point);
		} else if (strcmp(e.fstype, "cgroup") == 0) {
			layout_add_v1(out, root, &e);
		}
	}
	if (out->unified && layout_add_v2(out, err) < 0) {
		cgroup_layout_release(out);
		return error_prefix(err, "detect cgroups");
	}
	return 0;
}

void cgroup_layout_release(struct cgroup_layout *l)
{
	if (!l)
		return;
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++)
		free(l->mount[c]);
	free(l->unified);
	memset(l, 0, sizeof(*l));
}

/* Same rule as `container doctor`: a v2 mount next to v1 controllers makes a
 * hybrid host even when it holds no controller. */
const char *cgroup_layout_mode(const struct cgroup_layout *l)
{
	bool any_v1 = false, any_v2 = false;
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++) {
		if (!l->mount[c])
			continue;
		if (l->v2[c])
			any_v2 = true;
		else
			any_v1 = true;
	}
	if (any_v1)
		return any_v2 || l->unified ? "hybrid" : "v1";
	return any_v2 ? "v2" : "none";
}

/* ---- own cgroup ---- */

/* Lines "hierarchy-ID:controller-list:path": "0::/path" for v2,
 * "4:memory:/path" or "2:cpu,cpuacct:/path" for v1. Named hierarchies
 * ("1:name=systemd:/...") hold no controller and are skipped. */
static int own_cgroups_read(const char *root, struct own_cgroups *own, struct error *err)
{
	memset(own, 0, sizeof(*own));
	_cleanup_free_ char *path = root_path(root, "/proc/self/cgroup");
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, CGROUP_FILE_MAX, &text, NULL, err) < 0)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *first = strchr(line, ':');
		char *second = first ? strchr(first + 1, ':') : NULL;
		if (!second)
			continue;
		*second = '\0';
		char *controllers = first + 1;
		const char *cgroup_path = second + 1;
		if (cgroup_path[0] != '/')
			continue;
		if (!controllers[0]) {
			if (strncmp(line, "0:", 2) == 0 && !own->unified) {
				/* the supervisor's leaf stands for its parent */
				own->unified = xstrdup(cgroup_path);
				size_t len = strlen(own->unified), leaf = strlen("/" CGROUP_LEAF);
				if (len > leaf &&
				    strcmp(own->unified + len - leaf, "/" CGROUP_LEAF) == 0)
					own->unified[len - leaf] = '\0';
				else if (len == leaf && strcmp(own->unified, "/" CGROUP_LEAF) == 0)
					own->unified[1] = '\0';
			}
			continue;
		}
		char *name_save = NULL;
		for (char *name = strtok_r(controllers, ",", &name_save); name;
		     name = strtok_r(NULL, ",", &name_save)) {
			int c = controller_lookup(controller_v1_names, name, strlen(name));
			if (c >= 0 && !own->v1[c])
				own->v1[c] = xstrdup(cgroup_path);
		}
	}
	return 0;
}

/* Outside its cgroup namespace's root a process sees "/../..": no place to
 * build under. */
static bool own_path_usable(const char *path)
{
	return path[0] == '/' && !strstr(path, "/../") && !str_has_suffix(path, "/..");
}

int cgroup_enter_leaf(const struct cgroup_layout *l, const char *root, char **moved_to,
		      struct error *err)
{
	*moved_to = NULL;
	bool controllers = false;
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++)
		controllers |= l->v2[c];
	if (!l->unified || !controllers)
		return 0;
	/* the path as the kernel has it, before own_cgroups_read's stripping */
	_cleanup_free_ char *path = root_path(root, "/proc/self/cgroup");
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, CGROUP_FILE_MAX, &text, NULL, err) < 0)
		return -1;
	const char *own = NULL;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "0::", 3) == 0)
			own = line + 3;
	if (!own || !own_path_usable(own) || strcmp(own, "/") == 0)
		return 0; /* the root may hold processes and delegate at once */
	size_t len = strlen(own), leaf = strlen("/" CGROUP_LEAF);
	if (len >= leaf && strcmp(own + len - leaf, "/" CGROUP_LEAF) == 0)
		return 0;
	_cleanup_free_ char *dir = xasprintf("%s%s/" CGROUP_LEAF, l->unified, own);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return error_errno(err, errno, "create %s", dir);
	/* "0": the writing process, all of its threads */
	if (cgroup_write(dir, "cgroup.procs", "0", err) < 0)
		return error_prefix(err, "move into %s", dir);
	*moved_to = move_ptr(dir);
	return 1;
}

/* ---- create ---- */

static struct cgroup_hierarchy *cgroup_hierarchy_of(struct cgroup *cg, enum cgroup_controller c)
{
	return cg->by_controller[c] < 0 ? NULL : &cg->hierarchies[cg->by_controller[c]];
}

static int cgroup_find_mount(const struct cgroup *cg, const char *mount)
{
	for (size_t i = 0; i < cg->count; i++)
		if (strcmp(cg->hierarchies[i].mount, mount) == 0)
			return (int)i;
	return -1;
}

/* One entry per hierarchy directory (cpu and cpuacct often share one v1
 * mount; every v2 controller shares the unified one), with its paths. */
static int cgroup_plan(struct cgroup *cg, const struct cgroup_layout *l,
		       const struct own_cgroups *own, const char *parent_name, const char *id,
		       struct error *err)
{
	cg->unified = -1;
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++) {
		cg->by_controller[c] = -1;
		if (!l->mount[c])
			continue;
		int i = cgroup_find_mount(cg, l->mount[c]);
		if (i < 0) {
			i = (int)cg->count++;
			cg->hierarchies[i].mount = xstrdup(l->mount[c]);
			cg->hierarchies[i].v2 = l->v2[c];
		}
		cg->hierarchies[i].controllers |= BIT(c);
		cg->by_controller[c] = i;
	}
	/* The unified hierarchy gets the container even without a controller:
	 * the cgroup namespace is rooted there and cgroup.kill lives there. */
	if (l->unified && cgroup_find_mount(cg, l->unified) < 0) {
		int i = (int)cg->count++;
		cg->hierarchies[i].mount = xstrdup(l->unified);
		cg->hierarchies[i].v2 = true;
	}
	for (size_t i = 0; i < cg->count; i++) {
		struct cgroup_hierarchy *h = &cg->hierarchies[i];
		const char *own_path =
			h->v2 ? own->unified : own->v1[__builtin_ctz(h->controllers)];
		if (!own_path)
			return error_set(err, ENOENT, "/proc/self/cgroup has no line for %s",
					 h->mount);
		if (!own_path_usable(own_path))
			return error_set(err, EINVAL,
					 "own cgroup %s in %s is outside this cgroup namespace",
					 own_path, h->mount);
		h->own_dir = path_under_mount(h->mount, own_path);
		h->parent_dir = xasprintf("%s/%s", h->own_dir, parent_name);
		h->dir = xasprintf("%s/%s", h->parent_dir, id);
		if (h->v2 && cg->unified < 0)
			cg->unified = (int)i;
	}
	return 0;
}

/* Enables the missing ones of `wanted` in dir/cgroup.subtree_control. */
static int subtree_enable(const char *dir, unsigned wanted, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	if (cgroup_read(dir, "cgroup.subtree_control", &text, err) < 0)
		return -1;
	unsigned missing = wanted & ~controller_v2_mask(text);
	if (!missing)
		return 0;
	char value[64] = "";
	for (size_t i = 0; i < ARRAY_SIZE(v2_delegated); i++) {
		enum cgroup_controller c = v2_delegated[i];
		if (!(missing & BIT(c)))
			continue;
		size_t used = strlen(value);
		snprintf(value + used, sizeof(value) - used, "%s+%s", used ? " " : "",
			 controller_v2_names[c]);
	}
	int r = cgroup_write(dir, "cgroup.subtree_control", value, err);
	if (r == -EBUSY)
		return error_set(err, EBUSY,
				 "cannot write \"%s\" to %s/cgroup.subtree_control: this cgroup "
				 "holds processes, and cgroup v2 lets only a cgroup without "
				 "processes of its own hand controllers to its children; start "
				 "the apiserver in a cgroup whose controllers are delegated "
				 "already, or in the root cgroup",
				 value, dir);
	return r;
}

/* Enables the controllers the container needs in every level from the root of
 * the unified mount down to parent_dir: a child only has the controllers its
 * parent lists in subtree_control. parent_dir itself never holds processes,
 * which is why containers do not go straight under the own cgroup. */
static int hierarchy_enable_controllers(const struct cgroup_hierarchy *h, struct error *err)
{
	unsigned wanted = 0;
	for (size_t i = 0; i < ARRAY_SIZE(v2_delegated); i++)
		if (h->controllers & BIT(v2_delegated[i]))
			wanted |= BIT(v2_delegated[i]);
	if (!wanted)
		return 0;
	_cleanup_free_ char *level = xstrdup(h->parent_dir);
	for (size_t i = strlen(h->mount);; i++) {
		char saved = level[i];
		if (saved != '/' && saved != '\0')
			continue;
		level[i] = '\0';
		int r = subtree_enable(level, wanted, err);
		level[i] = saved;
		if (r < 0)
			return r;
		if (!saved)
			return 0;
	}
}

/* A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and
 * no process can join it until they are set: copy them from the parent, as
 * runc does. */
static int cpuset_inherit(const char *dir, const char *from, struct error *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *current = NULL;
		if (cgroup_read_optional(dir, files[i], &current, err) < 0)
			return -1;
		if (!current || !text_blank(current))
			continue;
		_cleanup_free_ char *inherited = NULL;
		if (cgroup_read(from, files[i], &inherited, err) < 0)
			return -1;
		char *value = text_trim(inherited);
		if (value[0] && cgroup_write(dir, files[i], value, err) < 0)
			return -1;
	}
	return 0;
}

static int hierarchy_create_once(struct cgroup_hierarchy *h, struct error *err)
{
	bool cpuset_v1 = !h->v2 && (h->controllers & BIT(CGROUP_CPUSET));
	if (mkdir(h->parent_dir, 0755) < 0 && errno != EEXIST)
		return error_errno(err, errno, "create directory %s", h->parent_dir);
	if (h->v2 && hierarchy_enable_controllers(h, err) < 0)
		return -1;
	if (cpuset_v1 && cpuset_inherit(h->parent_dir, h->own_dir, err) < 0)
		return -1;
	if (mkdir(h->dir, 0755) < 0) {
		if (errno != EEXIST)
			return error_errno(err, errno, "create directory %s", h->dir);
		_cleanup_free_ pid_t *pids = NULL;
		size_t count;
		if (procs_read(h->dir, &pids, &count, err) < 0)
			return -1;
		if (count > 0)
			return error_set(err, EEXIST, "%s exists already and holds processes",
					 h->dir);
	}
	h->created = true;
	if (cpuset_v1 && cpuset_inherit(h->dir, h->parent_dir, err) < 0)
		return -1;
	return 0;
}

static int hierarchy_create(struct cgroup_hierarchy *h, struct error *err)
{
	for (int attempt = 1;; attempt++) {
		int r = hierarchy_create_once(h, err);
		/* Another container's helper may remove the shared parent_dir
		 * (cgroup_destroy, when it looked empty) between our mkdirs. */
		if (r == -ENOENT && attempt < CREATE_ATTEMPTS && !h->created) {
			struct stat st;
			if (stat(h->own_dir, &st) == 0) {
				error_release(err); /* retried */
				continue;
			}
		}
		return r;
	}
}

/* Best effort: nothing runs in a cgroup cgroup_create just made. */
static void cgroup_rollback(struct cgroup *cg)
{
	for (size_t i = 0; i < cg->count; i++) {
		struct cgroup_hierarchy *h = &cg->hierarchies[i];
		if (!h->created)
			continue;
		rmdir(h->dir);
		rmdir(h->parent_dir); /* fails while other containers use it */
		h->created = false;
	}
}

static int cgroup_apply_limits(struct cgroup *cg, const struct cgroup_limits *limits,
			       struct error *err)
{
	char value[64];
	/* ENOSYS for a missing controller: the wire name is "unsupported". */
	if (limits->cpu_millis > 0) {
		struct cgroup_hierarchy *h = cgroup_hierarchy_of(cg, CGROUP_CPU);
		if (!h)
			return error_set(err, ENOSYS,
					 "a cpu limit needs the cpu controller, "
					 "which this host does not have");
		int64_t quota = limits->cpu_millis * (CPU_PERIOD_USEC / 1000);
		if (quota < CPU_QUOTA_MIN_USEC)
			quota = CPU_QUOTA_MIN_USEC;
		if (h->v2) {
			snprintf(value, sizeof(value), "%" PRId64 " %d", quota, CPU_PERIOD_USEC);
			if (cgroup_write(h->dir, "cpu.max", value, err) < 0)
				return -1;
		} else {
			snprintf(value, sizeof(value), "%d", CPU_PERIOD_USEC);
			if (cgroup_write(h->dir, "cpu.cfs_period_us", value, err) < 0)
				return -1;
			snprintf(value, sizeof(value), "%" PRId64, quota);
			if (cgroup_write(h->dir, "cpu.cfs_quota_us", value, err) < 0)
				return -1;
		}
	}
	if (limits->memory_bytes > 0) {
		struct cgroup_hierarchy *h = cgroup_hierarchy_of(cg, CGROUP_MEMORY);
		if (!h)
			return error_set(err, ENOSYS,
					 "a memory limit needs the memory "
					 "controller, which this host does not have");
		snprintf(value, sizeof(value), "%" PRId64, limits->memory_bytes);
		if (h->v2) {
			if (cgroup_write(h->dir, "memory.max", value, err) < 0)
				return -1;
		} else {
			if (cgroup_write(h->dir, "memory.limit_in_bytes", value, err) < 0)
				return -1;
			/* memory+swap equal to memory: no swap, as Docker does
			 * for --memory alone. Only with swap accounting on. */
			if (file_exists(h->dir, "memory.memsw.limit_in_bytes") &&
			    cgroup_write(h->dir, "memory.memsw.limit_in_bytes", value, err) < 0)
				return -1;
		}
	}
	/* The runtime passes a default pids limit for every container: a host
	 * without the pids controller runs them without it instead of failing. */
	struct cgroup_hierarchy *pids = cgroup_hierarchy_of(cg, CGROUP_PIDS);
	if (limits->pids_max > 0 && pids) {
		snprintf(value, sizeof(value), "%" PRId64, limits->pids_max);
		if (cgroup_write(pids->dir, "pids.max", value, err) < 0)
			return -1;
	}
	return 0;
}

int cgroup_create(const struct cgroup_layout *l, const char *root, const char *parent_name,
		  const char *id, const struct cgroup_limits *limits, struct cgroup **out,
		  struct error *err)
{
	static const struct cgroup_limits unlimited = {0};
	*out = NULL;
	if (!component_valid(parent_name) || !component_valid(id))
		return error_set(err, EINVAL, "create cgroup: bad name \"%s/%s\"",
				 parent_name ? parent_name : "", id ? id : "");
	if (!limits)
		limits = &unlimited;
	if (limits->cpu_millis < 0 || limits->cpu_millis > INT64_MAX / 100 ||
	    limits->memory_bytes < 0 || limits->pids_max < 0)
		return error_set(err, EINVAL, "create cgroup %s/%s: negative or huge limit",
				 parent_name, id);

	__attribute__((cleanup(own_cgroups_release))) struct own_cgroups own = {0};
	if (own_cgroups_read(root, &own, err) < 0)
		return error_prefix(err, "create cgroup %s/%s", parent_name, id);
	__attribute__((cleanup(cgroup_freep))) struct cgroup *cg = xzalloc(sizeof(*cg));
	cg->name = xasprintf("%s/%s", parent_name, id);
	if (cgroup_plan(cg, l, &own, parent_name, id, err) < 0)
		return error_prefix(err, "create cgroup %s", cg->name);
	if (cg->count == 0)
		return error_set(err, ENOSYS, "create cgroup %s: this host has no cgroup hierarchy",
				 cg->name);
	for (size_t i = 0; i < cg->count; i++) {
		if (hierarchy_create(&cg->hierarchies[i], err) < 0) {
			cgroup_rollback(cg);
			return error_prefix(err, "create cgroup %s", cg->name);
		}
	}
	if (cgroup_apply_limits(cg, limits, err) < 0) {
		cgroup_rollback(cg);
		return error_prefix(err, "create cgroup %s: limits", cg->name);
	}
	*out = move_ptr(cg);
	return 0;
}

int cgroup_add_pid(struct cgroup *cg, pid_t pid, struct error *err)
{
	/* "0" would mean the writer itself */
	if (pid <= 0)
		return error_set(err, EINVAL, "add process %d to cgroup %s: bad pid", (int)pid,
				 cg->name);
	char value[32];
	snprintf(value, sizeof(value), "%d", (int)pid);
	for (size_t i = 0; i < cg->count; i++)
		if (cgroup_write(cg->hierarchies[i].dir, "cgroup.procs", value, err) < 0)
			return error_prefix(err, "add process %d to cgroup %s", (int)pid, cg->name);
	return 0;
}

int cgroup_join_open(const struct cgroup *cg, struct cgroup_join *j, struct error *err)
{
	*j = (struct cgroup_join)CGROUP_JOIN_INIT;
	for (size_t i = 0; i < cg->count; i++) {
		const struct cgroup_hierarchy *h = &cg->hierarchies[i];
		_cleanup_free_ char *file =
			xasprintf("%s/%s", h->dir, h->v2 ? "cgroup.procs" : "tasks");
		int fd = open(file, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			int saved = errno;
			cgroup_join_close(j);
			return error_errno(err, saved, "open %s", file);
		}
		if (!h->v2) {
			j->tasks_fds[j->ntasks++] = fd;
			continue;
		}
		j->v2_procs_fd = fd;
		j->dir_fd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (j->dir_fd < 0) {
			int saved = errno;
			cgroup_join_close(j);
			return error_errno(err, saved, "open %s", h->dir);
		}
	}
	return 0;
}

void cgroup_join_close(struct cgroup_join *j)
{
	for (size_t i = 0; i < j->ntasks; i++)
		close(j->tasks_fds[i]);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	if (j->v2_procs_fd >= 0)
		close(j->v2_procs_fd);
	*j = (struct cgroup_join)CGROUP_JOIN_INIT;
}

int cgroup_join_self(const struct cgroup_join *j, bool cloned_into)
{
	for (size_t i = 0; i < j->ntasks; i++)
		if (write(j->tasks_fds[i], "0", 1) != 1)
			return -errno;
	if (!cloned_into && j->v2_procs_fd >= 0 && write(j->v2_procs_fd, "0", 1) != 1)
		return -errno;
	return 0;
}

/* ---- statistics ---- */

/* A file holding one number; "max" reads as UINT64_MAX, a missing file as 0. */
static int stat_read_number(const char *dir, const char *name, uint64_t *out, struct error *err)
{
	*out = 0;
	_cleanup_free_ char *text = NULL;
	if (cgroup_read_optional(dir, name, &text, err) < 0)
		return -1;
	if (!text)
		return 0;
	char *value = text_trim(text);
	if (strcmp(value, "max") == 0)
		*out = UINT64_MAX;
	else if (!parse_u64(value, strlen(value), out))
		return error_set(err, EINVAL, "%s/%s: not a number: \"%.32s\"", dir, name, value);
	return 0;
}

/* The value of key in a file of "key value" lines (cpu.stat, memory.stat);
 * 0 when the file or the key is missing. */
static int stat_read_keyed(const char *dir, const char *name, const char *key, uint64_t *out,
			   struct error *err)
{
	*out = 0;
	_cleanup_free_ char *text = NULL;
	if (cgroup_read_optional(dir, name, &text, err) < 0)
		return -1;
	if (!text)
		return 0;
	size_t key_len = strlen(key);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, key_len) != 0 || line[key_len] != ' ')
			continue;
		char *value = text_trim(line + key_len);
		if (!parse_u64(value, strlen(value), out))
			return error_set(err, EINVAL, "%s/%s: bad value for %s: \"%.32s\"", dir,
					 name, key, value);
		return 0;
	}
	return 0;
}

/* io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
static int stat_read_io_v2(const char *dir, struct cgroup_stats *out, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	if (cgroup_read_optional(dir, "io.stat", &text, err) < 0)
		return -1;
	if (!text)
		return 0;
	char *line_save = NULL;
	for (char *line = strtok_r(text, "\n", &line_save); line;
	     line = strtok_r(NULL, "\n", &line_save)) {
		char *save = NULL;
		strtok_r(line, " ", &save); /* the device */
		for (char *field = strtok_r(NULL, " ", &save); field;
		     field = strtok_r(NULL, " ", &save)) {
			uint64_t *sum = str_has_prefix(field, "rbytes=")   ? &out->io_read_bytes
					: str_has_prefix(field, "wbytes=") ? &out->io_write_bytes
									   : NULL;
			if (!sum)
				continue;
			uint64_t value;
			const char *number = strchr(field, '=') + 1;
			if (!parse_u64(number, strlen(number), &value))
				return error_set(err, EINVAL, "%s/io.stat: bad field \"%.32s\"",
						 dir, field);
			*sum += value;
		}
	}
	return 0;
}

/* blkio.throttle.io_service_bytes: "8:0 Read 4096" ... per device and
 * operation, then "Total N". The _recursive variant also counts the
 * container's own sub-cgroups; kernels without it have only the plain one. */
static int stat_read_io_v1(const char *dir, struct cgroup_stats *out, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	const char *name = "blkio.throttle.io_service_bytes_recursive";
	if (cgroup_read_optional(dir, name, &text, err) < 0)
		return -1;
	if (!text) {
		name = "blkio.throttle.io_service_bytes";
		if (cgroup_read_optional(dir, name, &text, err) < 0)
			return -1;
		if (!text)
			return 0;
	}
	char *line_save = NULL;
	for (char *line = strtok_r(text, "\n", &line_save); line;
	     line = strtok_r(NULL, "\n", &line_save)) {
		char *save = NULL;
		char *device = strtok_r(line, " ", &save);
		char *operation = strtok_r(NULL, " ", &save);
		char *number = strtok_r(NULL, " ", &save);
		if (!device || !operation || !number)
			continue; /* the "Total N" line */
		uint64_t *sum = strcmp(operation, "Read") == 0	  ? &out->io_read_bytes
				: strcmp(operation, "Write") == 0 ? &out->io_write_bytes
								  : NULL;
		if (!sum)
			continue;
		uint64_t value;
		if (!parse_u64(number, strlen(number), &value))
			return error_set(err, EINVAL, "%s/%s: bad value \"%.32s\"", dir, name,
					 number);
		*sum += value;
	}
	return 0;
}

static int stat_read_memory(const struct cgroup_hierarchy *h, struct cgroup_stats *out,
			    struct error *err)
{
	uint64_t limit;
	if (h->v2) {
		if (stat_read_number(h->dir, "memory.current", &out->memory_usage, err) < 0 ||
		    stat_read_number(h->dir, "memory.max", &limit, err) < 0)
			return -1;
		out->memory_limit = limit == UINT64_MAX ? 0 : limit;
		return 0;
	}
	uint64_t inactive_file;
	if (stat_read_number(h->dir, "memory.usage_in_bytes", &out->memory_usage, err) < 0 ||
	    stat_read_keyed(h->dir, "memory.stat", "total_inactive_file", &inactive_file, err) <
		    0 ||
	    stat_read_number(h->dir, "memory.limit_in_bytes", &limit, err) < 0)
		return -1;
	/* Page cache the kernel drops first is not "used", as `docker stats` shows it. */
	if (inactive_file <= out->memory_usage)
		out->memory_usage -= inactive_file;
	out->memory_limit = limit >= V1_UNLIMITED_AT ? 0 : limit;
	return 0;
}

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	struct cgroup_hierarchy *cpuacct = cgroup_hierarchy_of(cg, CGROUP_CPUACCT);
	struct cgroup_hierarchy *memory = cgroup_hierarchy_of(cg, CGROUP_MEMORY);
	struct cgroup_hierarchy *pids = cgroup_hierarchy_of(cg, CGROUP_PIDS);
	struct cgroup_hierarchy *io = cgroup_hierarchy_of(cg, CGROUP_IO);
	int r = 0;
	if (cpuacct && !cpuacct->v2) {
		uint64_t nsec;
		r = stat_read_number(cpuacct->dir, "cpuacct.usage", &nsec, err);
		out->cpu_usec = nsec / 1000;
	} else if (cg->unified >= 0) {
		/* cpu.stat exists in every v2 cgroup, with or without cpu enabled */
		r = stat_read_keyed(cg->hierarchies[cg->unified].dir, "cpu.stat", "usage_usec",
				    &out->cpu_usec, err);
	}
	if (r == 0 && memory)
		r = stat_read_memory(memory, out, err);
	if (r == 0 && pids)
		r = stat_read_number(pids->dir, "pids.current", &out->pids, err);
	if (r == 0 && io)
		r = io->v2 ? stat_read_io_v2(io->dir, out, err)
			   : stat_read_io_v1(io->dir, out, err);
	if (r < 0)
		return error_prefix(err, "statistics of cgroup %s", cg->name);
	return 0;
}

/* ---- destroy ---- */

static int pidfd_open_pid(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int pidfd_kill(int pidfd)
{
#ifdef SYS_pidfd_send_signal
	return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static bool pid_listed(const pid_t *pids, size_t count, pid_t pid)
{
	for (size_t i = 0; i < count; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* SIGKILL to every process dir/cgroup.procs lists, and to nothing else. A pid
 * read from the file may exit and its number go to a process outside the
 * cgroup before the signal: so each pid is pinned with a pidfd first, and
 * signalled only if the file still lists it once pinned. *listed tells
 * whether the cgroup had processes. */
static int procs_kill(const char *dir, bool *listed, struct error *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t count;
	*listed = false;
	if (procs_read(dir, &pids, &count, err) < 0)
		return -1;
	if (count == 0)
		return 0;
	*listed = true;
	enum { PIDFD_NONE = -1, PIDFD_GONE = -2 };
	pid_t self = getpid();
	_cleanup_free_ int *pidfds = xmalloc(count * sizeof(*pidfds));
	for (size_t i = 0; i < count; i++) {
		/* never ourselves, whatever the file says: the wait times out instead */
		if (pids[i] == self) {
			pidfds[i] = PIDFD_GONE;
			continue;
		}
		pidfds[i] = pidfd_open_pid(pids[i]);
		if (pidfds[i] < 0)
			pidfds[i] = errno == ESRCH ? PIDFD_GONE : PIDFD_NONE;
	}
	_cleanup_free_ pid_t *again = NULL;
	size_t again_count = 0;
	int r = procs_read(dir, &again, &again_count, err);
	for (size_t i = 0; i < count; i++) {
		if (pidfds[i] == PIDFD_GONE)
			continue;
		if (r == 0 && pid_listed(again, again_count, pids[i])) {
			/* Without pidfds (before Linux 5.3, or out of fds) a
			 * plain kill, as runc does: the window is tiny. */
			if (pidfds[i] >= 0)
				pidfd_kill(pidfds[i]);
			else
				kill(pids[i], SIGKILL);
		}
		if (pidfds[i] >= 0)
			close(pidfds[i]);
	}
	return r;
}

/* Best effort: the SIGKILL loop of cgroup_destroy covers what this misses. */
static void cgroup_kill_v2(const char *dir)
{
	if (!file_exists(dir, "cgroup.kill")) /* before Linux 5.14, or gone */
		return;
	struct error ignored = ERROR_INIT;
	cgroup_write(dir, "cgroup.kill", "1", &ignored);
	error_release(&ignored);
}

int cgroup_destroy(struct cgroup *cg, struct error *err)
{
	if (!cg)
		return 0;
	if (cg->unified >= 0)
		cgroup_kill_v2(cg->hierarchies[cg->unified].dir);
	/* A process forking while we kill shows up in the next round: repeat
	 * until every hierarchy lists nobody. Exited processes (zombies
	 * included) are not listed. */
	int64_t deadline = time_monotonic_ms() + DESTROY_TIMEOUT_MS;
	for (;;) {
		const char *busy = NULL;
		for (size_t i = 0; i < cg->count; i++) {
			bool listed;
			if (procs_kill(cg->hierarchies[i].dir, &listed, err) < 0)
				return error_prefix(err, "destroy cgroup %s", cg->name);
			if (listed && !busy)
				busy = cg->hierarchies[i].dir;
		}
		if (!busy)
			break;
		if (time_monotonic_ms() >= deadline)
			return error_set(err, EBUSY,
					 "destroy cgroup %s: %s still has processes %d ms after "
					 "SIGKILL",
					 cg->name, busy, DESTROY_TIMEOUT_MS);
		struct timespec step = {0, DESTROY_POLL_MS * 1000000L};
		nanosleep(&step, NULL);
	}
	int r = 0;
	for (size_t i = 0; i < cg->count; i++) {
		const char *dir = cg->hierarchies[i].dir;
		if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
			r = error_errno(err, errno, "destroy cgroup %s: remove %s", cg->name, dir);
	}
	/* The shared parent goes with its last container; another one still
	 * using it (EBUSY, ENOTEMPTY) keeps it. */
	for (size_t i = 0; i < cg->count && r == 0; i++) {
		const char *dir = cg->hierarchies[i].parent_dir;
		if (rmdir(dir) < 0 && errno != ENOENT && errno != EBUSY && errno != ENOTEMPTY)
			r = error_errno(err, errno, "destroy cgroup %s: remove %s", cg->name, dir);
	}
	return r;
}

void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->count; i++) {
		struct cgroup_hierarchy *h = &cg->hierarchies[i];
		free(h->mount);
		free(h->own_dir);
		free(h->parent_dir);
		free(h->dir);
	}
	free(cg->name);
	free(cg);
}

const char *cgroup_unified_path(const struct cgroup *cg)
{
	return cg && cg->unified >= 0 ? cg->hierarchies[cg->unified].dir : NULL;
}

char *cgroup_instance_name(const char *app_root)
{
	/* FNV-1a: a name, not a secret; it keeps libcrypto out of the helper */
	uint32_t hash = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)app_root; *p; p++) {
		hash ^= *p;
		hash *= 16777619u;
	}
	return xasprintf("container-%08x", hash);
}

int cgroup_remove_orphan(const char *app_root, const char *id, struct error *err)
{
	struct cgroup_layout layout;
	if (cgroup_detect(NULL, &layout, err) < 0)
		return -err->code;
	_cleanup_free_ char *parent = cgroup_instance_name(app_root);
	struct cgroup_limits none = {0};
	struct cgroup *cg = NULL;
	/* an existing container cgroup is adopted once empty (its processes get
	 * SIGKILL from PR_SET_PDEATHSIG when the helper dies, which takes a
	 * moment); a missing one is made empty and removed */
	int rc;
	int64_t deadline = time_monotonic_ms() + 3000;
	for (;;) {
		rc = cgroup_create(&layout, NULL, parent, id, &none, &cg, err);
		if (rc != -EEXIST || time_monotonic_ms() >= deadline)
			break;
		error_release(err);
		usleep(20000);
	}
	cgroup_layout_release(&layout);
	if (rc < 0)
		return rc;
	rc = cgroup_destroy(cg, err);
	cgroup_free(cg);
	return rc;
}
