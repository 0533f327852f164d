/* Container cgroups on v2, v1 and hybrid hosts (DESIGN §4).
 *
 * Detection is per controller: each of cpu, cpuacct, memory, pids, blkio/io,
 * cpuset lives either in a v1 hierarchy (a "cgroup" mount whose options name
 * it) or in the unified v2 hierarchy (a "cgroup2" mount whose
 * cgroup.controllers lists it). Hybrid hosts have both: v1 controllers plus a
 * v2 mount (often /sys/fs/cgroup/unified) holding the rest.
 *
 * A container's cgroup goes under the cgroup of the process that creates it
 * (read from /proc/self/cgroup for each hierarchy), never at the root:
 *   <mount>/<own path>/<parent_name>/<id>
 * All paths are relative to a root that defaults to "/" so that tests can
 * lay out a fake /sys/fs/cgroup and /proc files under a temporary directory. */
#ifndef CONTAINER_CGROUP_H
#define CONTAINER_CGROUP_H

#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cgroup_controller {
	CGROUP_CPU,
	CGROUP_CPUACCT,
	CGROUP_MEMORY,
	CGROUP_PIDS,
	CGROUP_IO, /* "io" on v2, "blkio" on v1 */
	CGROUP_CPUSET,
	CGROUP_NCONTROLLERS,
};

struct cgroup_layout {
	/* For each controller: the directory of the hierarchy that holds it
	 * (e.g. "/sys/fs/cgroup/memory" or "/sys/fs/cgroup"), NULL when the
	 * host does not have it; and whether that hierarchy is v2. */
	char *mount[CGROUP_NCONTROLLERS];
	bool v2[CGROUP_NCONTROLLERS];
	char *unified; /* the v2 mount, if any (holds the process even with no controller) */
};

struct cgroup_limits {
	int64_t cpu_millis;   /* --cpus 1.5 -> 1500; 0 = unlimited */
	int64_t memory_bytes; /* 0 = unlimited */
	int64_t pids_max;     /* 0 = unlimited; the runtime passes a default */
};

struct cgroup_stats {
	uint64_t cpu_usec;
	uint64_t memory_usage, memory_limit; /* limit 0 = unlimited */
	uint64_t pids;
	uint64_t io_read_bytes, io_write_bytes;
};

/* Reads <root>/proc/self/mountinfo. root NULL = "/". */
int cgroup_detect(const char *root, struct cgroup_layout *out, struct error *err);
void cgroup_layout_release(struct cgroup_layout *l);
/* "hybrid", "v1", "v2" or "none", for logs and `container doctor`. */
const char *cgroup_layout_mode(const struct cgroup_layout *l);

struct cgroup;
/* Creates <parent_name>/<id> under the caller's own cgroup in every
 * hierarchy (own cgroup read from <root>/proc/self/cgroup; pass pid 0 for
 * self), enables the needed controllers in v2 subtree_control on the way,
 * and writes the limits. Nothing is left behind on failure. */
int cgroup_create(const struct cgroup_layout *l, const char *root, const char *parent_name,
		  const char *id, const struct cgroup_limits *limits, struct cgroup **out,
		  struct error *err);
/* Moves a process into the container's cgroup in every hierarchy. Slow: a
 * write of a pid takes the kernel's host-wide threadgroup lock, which waits
 * for an RCU grace period (~20 ms here). Starting processes use
 * cgroup_join_* instead. */
int cgroup_add_pid(struct cgroup *cg, pid_t pid, struct error *err);

/* What a new process needs to enter the container's cgroup on its own,
 * without that lock: clone3(CLONE_INTO_CGROUP) with dir_fd places it in the
 * v2 hierarchy; in each v1 hierarchy a single-threaded process writes "0"
 * to "tasks", which moves the writing thread, i.e. the whole process. */
struct cgroup_join {
	int dir_fd;	 /* the v2 directory (O_PATH), or -1 */
	int v2_procs_fd; /* its cgroup.procs, for "0" when clone3 is unavailable; or -1 */
	int tasks_fds[CGROUP_NCONTROLLERS];
	size_t ntasks;
};
#define CGROUP_JOIN_INIT                                                                           \
	{                                                                                          \
		.dir_fd = -1, .v2_procs_fd = -1                                                    \
	}
/* Opens the descriptors (close-on-exec). */
int cgroup_join_open(const struct cgroup *cg, struct cgroup_join *j, struct error *err);
void cgroup_join_close(struct cgroup_join *j);
/* Run by the new, single-threaded process itself (async-signal-safe);
 * cloned_into says clone3 already placed it in the v2 cgroup. Returns 0 or
 * -errno. */
int cgroup_join_self(const struct cgroup_join *j, bool cloned_into);
int cgroup_stats(struct cgroup *cg, struct cgroup_stats *out, struct error *err);
/* Kills what is left (cgroup.kill on v2, else SIGKILL to every pid listed),
 * waits briefly for it to empty, then removes the directories. */
int cgroup_destroy(struct cgroup *cg, struct error *err);
void cgroup_free(struct cgroup *cg);
/* The directory in the v2 hierarchy (or NULL), for the cgroup namespace. */
const char *cgroup_unified_path(const struct cgroup *cg);

/* On v2 a cgroup with processes cannot hand controllers to its children
 * (only the root may): the API server, whose cgroup would be the
 * containers' ancestor, moves itself (and so the helpers it starts) into
 * this leaf of its own cgroup, and "<own>/supervisor" counts as "<own>"
 * when containers are made. */
#define CGROUP_LEAF "supervisor"
/* Moves the calling process into <own v2 cgroup>/supervisor when the
 * unified hierarchy holds controllers the containers need and the own
 * cgroup is not the root (root NULL = "/"). Returns 1 with *moved_to (the
 * new directory; free it) when it moved, 0 when there was no need. */
int cgroup_enter_leaf(const struct cgroup_layout *l, const char *root, char **moved_to,
		      struct error *err);

/* The parent cgroup of one instance's containers (one app root), so that
 * instances never share one: "container-<FNV-1a hash of app_root, 8 hex>". */
char *cgroup_instance_name(const char *app_root);
/* Removes what is left of a container's cgroups when its helper is gone:
 * kills any process still in them, then removes the directories. */
int cgroup_remove_orphan(const char *app_root, const char *id, struct error *err);

#endif
