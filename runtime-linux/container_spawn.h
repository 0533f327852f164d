/* Starting a process inside a new container (DESIGN §4): namespaces, the
 * overlayfs root, the standard file systems, pivot_root, and the
 * confinement (rlimits, user, capabilities, no_new_privs, seccomp), then
 * exec. Errors in the child before exec travel back to the parent as data
 * over a sync socketpair and become a normal struct error. */
#ifndef CONTAINER_CONTAINER_SPAWN_H
#define CONTAINER_CONTAINER_SPAWN_H

#include "cgroup.h"
#include "security.h"
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum spawn_mount_type { SPAWN_MOUNT_BIND, SPAWN_MOUNT_TMPFS };

struct spawn_mount {
	enum spawn_mount_type type;
	const char *source; /* host path for binds */
	const char *target; /* absolute path in the container */
	bool readonly;
	const char *options; /* tmpfs: "size=64m,mode=1777"; may be NULL */
};

struct spawn_config {
	/* Root file system: overlayfs of lowerdirs (bottom layer first) with
	 * upperdir/workdir, mounted at rootfs (an existing empty directory). */
	const char *const *lowerdirs;
	size_t nlowerdirs;
	const char *upperdir, *workdir, *rootfs;
	bool readonly_rootfs;

	const char *const *argv; /* argv[0] is looked up in PATH of env when it has no '/' */
	/* --init: the host path of container-init, bound read-only into the
	 * container's /dev and run as its pid 1, which runs argv; NULL: argv is
	 * pid 1. */
	const char *init;
	const char *const *env; /* NULL-terminated "K=V" */
	const char *cwd;	/* default "/" */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	const char *hostname;

	/* Files generated on the host and bind-mounted read-only over the
	 * container's /etc/hosts, /etc/hostname, /etc/resolv.conf (NULL: skip). */
	const char *etc_hosts, *etc_hostname, *etc_resolv_conf;
	int64_t shm_size; /* bytes; 0 = 64 MiB */
	const struct spawn_mount *mounts;
	size_t nmounts;

	cap_mask_t caps;
	const struct seccomp_program *seccomp; /* NULL: none */
	const struct rlimit_setting *rlimits;
	size_t nrlimits;

	/* The process's stdin, stdout, stderr (dup2'ed to 0, 1, 2). With tty,
	 * stdio[0] is the pty slave and becomes the controlling terminal. */
	int stdio[3];
	bool tty;
	/* With tty and this set, the child opens a pseudo terminal in its own
	 * /dev/pts (so that tty(1) and ttyname work inside), makes it its
	 * controlling terminal and stdio, and the master arrives here. */
	int *pty_master;
	/* The terminal's first size (0: leave the kernel's 0x0), set before
	 * exec so that the program never sees a terminal without a size. */
	unsigned short rows, cols;

	/* The cgroup the process enters before anything else (NULL: stay in
	 * ours): cloned into it on v2, joining by itself on v1. */
	const struct cgroup_join *cgroup;
};

/* Clones the container's init with new mount, pid, uts, ipc, net and cgroup
 * namespaces, sets it all up and execs argv. Returns once the exec happened
 * (or failed: then err says why, with code ENOENT for "not found" and EACCES
 * for "not executable", and the child is reaped). */
int spawn_container(const struct spawn_config *cfg, pid_t *pid, struct error *err);

/* Runs argv inside the namespaces of the running container whose init is
 * `target` (setns into mnt, pid, uts, ipc, net, cgroup), with the same
 * confinement fields of cfg (rootfs fields ignored). The new process is a
 * child of the caller (double clone through the pid namespace). */
int spawn_exec(pid_t target, const struct spawn_config *cfg, pid_t *pid, struct error *err);

#endif
