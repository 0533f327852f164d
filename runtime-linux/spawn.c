#include "container_spawn.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What a child that failed before exec sends back. */
struct child_error {
	int code;
	char message[1024];
};

/* In the child: report, then leave. Never returns. */
static void __attribute__((noreturn)) child_fail(int sync, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A negative code reports -code without appending its strerror text. */
static void child_fail(int sync, int code, const char *fmt, ...)
{
	struct child_error e = {.code = code > 0 ? code : code < 0 ? -code : EIO};
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	if (code > 0 && n >= 0 && (size_t)n < sizeof(e.message))
		snprintf(e.message + n, sizeof(e.message) - n, ": %s", strerror(code));
	if (write(sync, &e, sizeof(e)) < 0) {
	}
	_exit(e.code == ENOENT ? 127 : e.code == EACCES ? 126 : 125);
}

static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* mkdir -p of path inside the root, never leaving it through a symlink;
 * the last component is a directory, or an empty file when want_file. */
static int make_in_root(int rootfd, const char *path, bool want_file)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	char *p = buf;
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		bool last = !slash;
		if (slash)
			*slash = '\0';
		if (*p) {
			int dir = open_in_root(rootfd, buf, O_PATH);
			if (dir < 0) {
				_cleanup_free_ char *parent = NULL;
				char *cut = strrchr(buf, '/');
				const char *name = cut ? cut + 1 : buf;
				if (cut) {
					*cut = '\0';
					parent = xstrdup(buf);
					*cut = '/';
				}
				int pfd = open_in_root(rootfd, parent ? parent : ".",
						       O_PATH | O_DIRECTORY);
				if (pfd < 0)
					return -1;
				int r;
				if (last && want_file) {
					r = openat(pfd, name,
						   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
					if (r >= 0)
						close(r);
				} else {
					r = mkdirat(pfd, name, 0755);
				}
				int saved = errno;
				close(pfd);
				if (r < 0 && saved != EEXIST) {
					errno = saved;
					return -1;
				}
			} else {
				close(dir);
			}
		}
		if (last)
			return 0;
		*slash = '/';
		p = slash + 1;
	}
}

/* Mounts onto target inside the root through a descriptor, so that a
 * symlink in the image can never send a mount to the host. */
static int mount_in_root(int rootfd, const char *source, const char *target, const char *type,
			 unsigned long flags, const char *data, bool file_target)
{
	if (make_in_root(rootfd, target, file_target) < 0)
		return -1;
	int fd = open_in_root(rootfd, target, O_PATH);
	if (fd < 0)
		return -1;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = mount(source, proc, type, flags, data);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

static int remount_readonly_in_root(int rootfd, const char *target)
{
	int fd = open_in_root(rootfd, target, O_PATH);
	if (fd < 0)
		return -1;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = mount(NULL, proc, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
		      NULL);
	if (r < 0 && errno == EPERM)
		/* locked flags (e.g. noexec inherited): keep them */
		r = mount(NULL, proc, NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

static void setup_dev(int sync, int rootfd)
{
	if (mount_in_root(rootfd, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
			  "mode=755,size=65536k", false) < 0)
		child_fail(sync, errno, "mount /dev");
	int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
	if (dev < 0)
		child_fail(sync, errno, "open /dev");
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = {
		{"null", 1, 3},	  {"zero", 1, 5},    {"full", 1, 7},
		{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666,
			    makedev(nodes[i].major, nodes[i].minor)) < 0)
			child_fail(sync, errno, "mknod /dev/%s", nodes[i].name);
		/* mknod obeys the umask: set the mode for real */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dev, nodes[i].name);
		chmod(path, 0666);
	}
	static const struct {
		const char *name, *target;
	} links[] = {
		{"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
		{"ptmx", "pts/ptmx"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlinkat(links[i].target, dev, links[i].name) < 0)
			child_fail(sync, errno, "symlink /dev/%s", links[i].name);
	close(dev);
	if (mount_in_root(rootfd, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620,gid=5", false) < 0)
		child_fail(sync, errno, "mount /dev/pts");
	if (mount_in_root(rootfd, "mqueue", "/dev/mqueue", "mqueue",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, false) < 0)
		child_fail(sync, errno, "mount /dev/mqueue");
}

static void mask_paths(int sync, int rootfd)
{
	for (const char *const *p = security_masked_paths; *p; p++) {
		int fd = open_in_root(rootfd, *p, O_PATH);
		if (fd < 0)
			continue; /* absent on this kernel */
		struct stat st;
		int r = fstat(fd, &st);
		close(fd);
		if (r < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			r = mount_in_root(rootfd, "tmpfs", *p, "tmpfs", MS_RDONLY, "size=0", false);
		else
			r = mount_in_root(rootfd, "/dev/null", *p, NULL, MS_BIND, NULL, true);
		if (r < 0)
			child_fail(sync, errno, "mask %s", *p);
	}
	for (const char *const *p = security_readonly_paths; *p; p++) {
		int fd = open_in_root(rootfd, *p, O_PATH);
		if (fd < 0)
			continue;
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		int r = mount(proc, proc, NULL, MS_BIND | MS_REC, NULL);
		close(fd);
		if (r < 0 || remount_readonly_in_root(rootfd, *p) < 0)
			child_fail(sync, errno, "make %s read-only", *p);
	}
}

/* Looks argv[0] up in the container's PATH (from its environment). */
static char *find_executable(const char *name, const char *const *env)
{
	if (strchr(name, '/'))
		return xstrdup(name);
	const char *path = DEFAULT_PATH;
	for (const char *const *e = env; e && *e; e++)
		if (str_has_prefix(*e, "PATH="))
			path = *e + 5;
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *candidate = xasprintf("%s/%s", *dir ? dir : ".", name);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode))
			return candidate;
		free(candidate);
	}
	return NULL;
}

static void set_stdio(int sync, const struct spawn_config *cfg)
{
	/* Move the fds out of the way first: one may already sit on 0..2. */
	int moved[3];
	for (int i = 0; i < 3; i++) {
		moved[i] = fcntl(cfg->stdio[i], F_DUPFD_CLOEXEC, 10);
		if (moved[i] < 0)
			child_fail(sync, errno, "stdio %d", i);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(moved[i], i) < 0)
			child_fail(sync, errno, "stdio %d", i);
	if (cfg->tty) {
		setsid();
		if (ioctl(0, TIOCSCTTY, 0) < 0)
			child_fail(sync, errno, "make the pty the controlling terminal");
	}
}

/* Where --init's binary appears in the container: on our own /dev tmpfs, so
 * that the image's files stay as they are. */
#define INIT_PATH "/dev/.container-init"

/* Everything after the root is in place: identity and confinement, exec. */
static void __attribute__((noreturn)) confine_and_exec(int sync, const struct spawn_config *cfg)
{
	for (size_t i = 0; i < cfg->nrlimits; i++) {
		struct error e = ERROR_INIT;
		if (rlimit_apply(&cfg->rlimits[i], &e) < 0)
			child_fail(sync, 0, "%s", e.message);
	}
	if (chdir(cfg->cwd ? cfg->cwd : "/") < 0)
		child_fail(sync, errno, "working directory %s", cfg->cwd ? cfg->cwd : "/");
	char *path = find_executable(cfg->argv[0], cfg->env);
	if (!path)
		child_fail(sync, -ENOENT, "executable file '%s' not found in $PATH", cfg->argv[0]);
	struct error e = ERROR_INIT;
	/* The user first, while every capability is still effective (the
	 * caller may have dropped SETUID or SETGID from the set). Leaving uid 0
	 * clears the permitted and effective sets: a non-root user ends up with
	 * none, as with Docker; only the bounding set is reduced for it. */
	if (cfg->uid != 0) {
		for (int cap = 0; cap < 64; cap++)
			if (!(cfg->caps & ((cap_mask_t)1 << cap)) &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				child_fail(sync, errno, "drop capability %d from the bounding set",
					   cap);
	}
	if (setgroups(cfg->ngroups, cfg->ngroups ? cfg->groups : NULL) < 0 ||
	    setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 ||
	    setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
		child_fail(sync, errno, "switch to user %u:%u", (unsigned)cfg->uid,
			   (unsigned)cfg->gid);
	if (cfg->uid == 0 && caps_apply(cfg->caps, &e) < 0)
		child_fail(sync, 0, "%s", e.message);
	if (cfg->uid != 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		child_fail(sync, errno, "clear ambient capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(sync, errno, "no_new_privs");
	if (cfg->seccomp && seccomp_program_install(cfg->seccomp, &e) < 0)
		child_fail(sync, 0, "%s", e.message);
	if (cfg->init) {
		/* what exec would say about the command, said here, where it
		 * still reaches the caller as an error rather than an exit code */
		if (access(path, X_OK) < 0)
			child_fail(sync, errno, "exec %s", cfg->argv[0]);
		size_t n = 0;
		while (cfg->argv[n])
			n++;
		const char **argv = calloc(n + 3, sizeof(*argv));
		if (!argv)
			child_fail(sync, ENOMEM, "exec the init");
		argv[0] = INIT_PATH;
		argv[1] = "--";
		argv[2] = path;
		for (size_t i = 1; i < n; i++)
			argv[i + 2] = cfg->argv[i];
		execve(INIT_PATH, (char *const *)argv, (char *const *)cfg->env);
		child_fail(sync, errno, "exec the init %s", INIT_PATH);
	}
	execve(path, (char *const *)cfg->argv, (char *const *)cfg->env);
	child_fail(sync, errno, "exec %s", cfg->argv[0]);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

/* A terminal from the container's own devpts: the slave becomes stdio and
 * the controlling terminal; the master goes to the parent with SCM_RIGHTS,
 * tagged 'P' so it is not mistaken for an error report. */
static void open_own_pty(int sync, const struct spawn_config *cfg)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		child_fail(sync, errno, "open /dev/ptmx");
	if (unlockpt(master) < 0)
		child_fail(sync, errno, "unlock the pseudo terminal");
	char name[64];
	if (ptsname_r(master, name, sizeof(name)) != 0)
		child_fail(sync, errno, "name the pseudo terminal");
	int slave = open(name, O_RDWR | O_CLOEXEC);
	if (slave < 0)
		child_fail(sync, errno, "open %s", name);
	if (cfg->rows && cfg->cols) {
		struct winsize ws = {.ws_row = cfg->rows, .ws_col = cfg->cols};
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			child_fail(sync, errno, "size the terminal");
	}
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		child_fail(sync, errno, "make %s the controlling terminal", name);
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			child_fail(sync, errno, "stdio %d", i);
	close(slave);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof(control));
	char tag = 'P';
	struct iovec iov = {&tag, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(sync, &msg, MSG_NOSIGNAL) != 1)
		child_fail(sync, errno, "hand the terminal over");
	close(master);
}

/* The container's own network namespace starts with loopback down. */
static void loopback_up(int sync)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		child_fail(sync, errno, "socket for the loopback interface");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		child_fail(sync, errno, "read the loopback interface's flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		child_fail(sync, errno, "bring the loopback interface up");
	close(fd);
}

/* Like fork(), or clone(flags) when flags has namespaces; with a v2 cgroup
 * in cfg, the child starts there (clone3 CLONE_INTO_CGROUP), and *into
 * says so (in both processes). */
static pid_t clone_into(const struct spawn_config *cfg, uint64_t flags, bool *into)
{
	*into = false;
	if (cfg->cgroup && cfg->cgroup->dir_fd >= 0) {
		struct clone_args args = {
			.flags = flags | CLONE_INTO_CGROUP,
			.exit_signal = SIGCHLD,
			.cgroup = (uint64_t)cfg->cgroup->dir_fd,
		};
		pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		if (pid >= 0 || (errno != ENOSYS && errno != E2BIG)) {
			*into = pid >= 0;
			return pid;
		}
	}
	return (pid_t)syscall(SYS_clone, (long)flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* The child's first step: into its cgroup, before it makes a cgroup
 * namespace or anything it allocates is accounted elsewhere. */
static void join_cgroup(int sync, const struct spawn_config *cfg, bool into)
{
	if (!cfg->cgroup)
		return;
	int rc = cgroup_join_self(cfg->cgroup, into);
	if (rc < 0)
		child_fail(sync, -rc, "join the container's cgroup");
}

static void __attribute__((noreturn))
container_child(int sync, const struct spawn_config *cfg, bool into)
{
	reset_signals();
	/* If the helper dies, so does the container: nothing runs unowned. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	join_cgroup(sync, cfg, into);
	if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL)
		child_fail(sync, errno, "cgroup namespace");
	loopback_up(sync);
	bool own_pty = cfg->tty && cfg->pty_master;
	if (!cfg->tty)
		setsid();
	if (!own_pty)
		set_stdio(sync, cfg);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(sync, errno, "make / private");

	/* overlayfs wants the top layer first */
	size_t len = 64 + strlen(cfg->upperdir) + strlen(cfg->workdir);
	for (size_t i = 0; i < cfg->nlowerdirs; i++)
		len += strlen(cfg->lowerdirs[i]) + 1;
	_cleanup_free_ char *opts = xzalloc(len);
	strcat(opts, "lowerdir=");
	for (size_t i = cfg->nlowerdirs; i-- > 0;) {
		strcat(opts, cfg->lowerdirs[i]);
		if (i > 0)
			strcat(opts, ":");
	}
	strcat(opts, ",upperdir=");
	strcat(opts, cfg->upperdir);
	strcat(opts, ",workdir=");
	strcat(opts, cfg->workdir);
	if (len > 4000)
		child_fail(sync, E2BIG, "overlay options for %zu layers", cfg->nlowerdirs);
	if (mount("overlay", cfg->rootfs, "overlay", 0, opts) < 0)
		child_fail(sync, errno, "mount the overlay root file system");
	int rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(sync, errno, "open %s", cfg->rootfs);

	if (mount_in_root(rootfd, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
			  false) < 0)
		child_fail(sync, errno, "mount /proc");
	if (mount_in_root(rootfd, "sysfs", "/sys", "sysfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, false) < 0)
		child_fail(sync, errno, "mount /sys");
	setup_dev(sync, rootfd);
	char shm[64];
	snprintf(shm, sizeof(shm), "mode=1777,size=%lld",
		 (long long)(cfg->shm_size > 0 ? cfg->shm_size : 64LL << 20));
	if (mount_in_root(rootfd, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm,
			  false) < 0)
		child_fail(sync, errno, "mount /dev/shm");
	const struct {
		const char *source, *target;
	} etc[] = {
		{cfg->etc_hosts, "/etc/hosts"},
		{cfg->etc_hostname, "/etc/hostname"},
		{cfg->etc_resolv_conf, "/etc/resolv.conf"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(etc); i++)
		if (etc[i].source && mount_in_root(rootfd, etc[i].source, etc[i].target, NULL,
						   MS_BIND, NULL, true) < 0)
			child_fail(sync, errno, "bind %s", etc[i].target);
	/* read-only, so that no one in the container can write to it through
	 * /proc/1/exe (the file is the host's) */
	if (cfg->init &&
	    (mount_in_root(rootfd, cfg->init, INIT_PATH, NULL, MS_BIND, NULL, true) < 0 ||
	     remount_readonly_in_root(rootfd, INIT_PATH) < 0))
		child_fail(sync, errno, "bind the init %s", cfg->init);
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct spawn_mount *m = &cfg->mounts[i];
		int r;
		if (m->type == SPAWN_MOUNT_TMPFS) {
			r = mount_in_root(rootfd, "tmpfs", m->target, "tmpfs",
					  MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0),
					  m->options, false);
		} else {
			struct stat st;
			bool file = stat(m->source, &st) == 0 && !S_ISDIR(st.st_mode);
			r = mount_in_root(rootfd, m->source, m->target, NULL, MS_BIND | MS_REC,
					  NULL, file);
			if (r == 0 && m->readonly)
				r = remount_readonly_in_root(rootfd, m->target);
		}
		if (r < 0)
			child_fail(sync, errno, "mount %s", m->target);
	}
	mask_paths(sync, rootfd);

	/* Docker makes a missing working directory */
	if (cfg->cwd && make_in_root(rootfd, cfg->cwd, false) < 0)
		child_fail(sync, errno, "create the working directory %s", cfg->cwd);
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(sync, errno, "pivot_root into %s", cfg->rootfs);
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		child_fail(sync, errno, "detach the old root");
	close(rootfd);
	if (cfg->readonly_rootfs &&
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		child_fail(sync, errno, "make the root file system read-only");
	if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		child_fail(sync, errno, "set the hostname");
	if (own_pty)
		open_own_pty(sync, cfg);
	confine_and_exec(sync, cfg);
}

/* The parent's side of the sync socket: wait for the child's exec (EOF) or
 * its error. */
static int wait_for_exec(int sync, pid_t pid, const struct spawn_config *cfg, struct error *err)
{
	int rc = 0;
	while (rc == 0) {
		struct child_error e;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = {&e, sizeof(e)};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf)};
		ssize_t n;
		do
			n = recvmsg(sync, &msg, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
		if (n == 1 && c && c->cmsg_type == SCM_RIGHTS) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			if (cfg->pty_master)
				*cfg->pty_master = fd;
			else
				close(fd);
			continue; /* the terminal; exec is still to come */
		}
		if (n == (ssize_t)sizeof(e)) {
			e.message[sizeof(e.message) - 1] = '\0';
			rc = error_set(err, e.code, "%s", e.message);
		} else if (n != 0) {
			rc = error_set(err, EIO, "the container process died while starting");
		}
		break;
	}
	if (rc < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return rc;
}

int spawn_container(const struct spawn_config *cfg, pid_t *pid_out, struct error *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return error_errno(err, errno, "socketpair");
	/* Like fork(), with new namespaces: the child runs on a copy of our stack. */
	bool into;
	pid_t pid = clone_into(
		cfg, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET,
		&into);
	if (pid < 0) {
		int saved = errno;
		close(sv[0]);
		close(sv[1]);
		return error_errno(err, saved, "clone the container's namespaces");
	}
	if (pid == 0) {
		close(sv[0]);
		container_child(sv[1], cfg, into);
	}
	close(sv[1]);
	int rc = wait_for_exec(sv[0], pid, cfg, err);
	close(sv[0]);
	if (rc == 0)
		*pid_out = pid;
	return rc;
}

int spawn_exec(pid_t target, const struct spawn_config *cfg, pid_t *pid_out, struct error *err)
{
	static const char *const ns[] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
	int fds[ARRAY_SIZE(ns)];
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target, ns[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int saved = errno;
			for (size_t k = 0; k < i; k++)
				close(fds[k]);
			return error_errno(err, saved, "open %s", path);
		}
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		for (size_t k = 0; k < ARRAY_SIZE(ns); k++)
			close(fds[k]);
		return error_errno(err, errno, "socketpair");
	}
	/* Entering a pid namespace only takes effect for children: join the
	 * namespaces in an intermediate process, then clone the real one as a
	 * sibling (CLONE_PARENT), so that it is our child. */
	bool into;
	pid_t mid = clone_into(cfg, 0, &into);
	if (mid < 0) {
		int saved = errno;
		close(sv[0]);
		close(sv[1]);
		for (size_t k = 0; k < ARRAY_SIZE(ns); k++)
			close(fds[k]);
		return error_errno(err, saved, "fork");
	}
	if (mid == 0) {
		close(sv[0]);
		/* the cgroup first: a process inside a cgroup namespace could
		 * not name the container's cgroup on a host that delegates by
		 * namespace; its child inherits it */
		join_cgroup(sv[1], cfg, into);
		for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
			if (setns(fds[i], 0) < 0)
				child_fail(sv[1], errno, "enter the %s namespace", ns[i]);
		pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
		if (pid < 0)
			child_fail(sv[1], errno, "clone into the container");
		if (pid > 0) {
			/* tell the parent who the process is, then leave */
			if (write(sv[1], &pid, sizeof(pid)) != sizeof(pid))
				_exit(125);
			_exit(0);
		}
		reset_signals();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* wait until the parent has our pid: errors must come after it */
		char go;
		if (read(sv[1], &go, 1) != 1)
			_exit(125);
		if (cfg->tty && cfg->pty_master) {
			open_own_pty(sv[1], cfg);
		} else {
			set_stdio(sv[1], cfg);
			if (!cfg->tty)
				setsid();
		}
		confine_and_exec(sv[1], cfg);
	}
	close(sv[1]);
	for (size_t k = 0; k < ARRAY_SIZE(ns); k++)
		close(fds[k]);
	int rc = 0;
	union {
		pid_t pid;
		struct child_error e;
	} msg;
	ssize_t n = read(sv[0], &msg, sizeof(msg));
	int status;
	waitpid(mid, &status, 0);
	if (n == (ssize_t)sizeof(pid_t)) {
		if (write(sv[0], "g", 1) != 1)
			rc = error_errno(err, errno, "start the process");
		else
			rc = wait_for_exec(sv[0], msg.pid, cfg, err);
		if (rc == 0)
			*pid_out = msg.pid;
	} else if (n == (ssize_t)sizeof(struct child_error)) {
		msg.e.message[sizeof(msg.e.message) - 1] = '\0';
		rc = error_set(err, msg.e.code, "%s", msg.e.message);
	} else {
		rc = error_set(err, EIO, "entering the container failed");
	}
	close(sv[0]);
	return rc;
}
