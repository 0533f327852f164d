/* Capabilities, the seccomp profile and its cache, rlimits, masked paths.
 * What changes the process (caps_apply, seccomp install, setrlimit) runs in a
 * forked child that reports by exit code: 0 is success, any other value names
 * the check that failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "security.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIT(cap) ((cap_mask_t)1 << (cap))

/* Runs fn in a child; returns its exit code, or 128 + signal. */
static int run_child(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* A capability line of /proc/self/status ("CapEff:\t000001ff..."). */
static int read_status_caps(const char *field, cap_mask_t *out)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	size_t flen = strlen(field);
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			*out = strtoull(line + flen + 1, NULL, 16);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static bool have_effective(cap_mask_t caps)
{
	cap_mask_t eff;
	return read_status_caps("CapEff", &eff) == 0 && (eff & caps) == caps;
}

/* Takes one capability out of the effective set (it stays permitted). */
static int drop_effective(int cap)
{
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &header, data) < 0)
		return -1;
	data[cap / 32].effective &= ~(1u << (cap % 32));
	return (int)syscall(SYS_capset, &header, data);
}

/* ---- capabilities ---- */

static void test_caps_names(void **state)
{
	struct error err = ERROR_INIT;
	assert_string_equal(caps_name(0), "CAP_CHOWN");
	assert_string_equal(caps_name(CAP_NET_ADMIN), "CAP_NET_ADMIN");
	assert_string_equal(caps_name(40), "CAP_CHECKPOINT_RESTORE");
	assert_null(caps_name(41));
	assert_null(caps_name(-1));

	for (int cap = 0; cap <= 40; cap++) {
		const char *name = caps_name(cap);
		assert_non_null(name);
		int back = -1;
		assert_int_equal(caps_from_name(name, &back, &err), 0);
		assert_int_equal(back, cap);
		assert_int_equal(caps_from_name(name + 4, &back, &err), 0);
		assert_int_equal(back, cap);
	}

	const char *spellings[] = {"net_admin", "CAP_NET_ADMIN", "NET_ADMIN", "cap_net_admin",
				   "Cap_Net_Admin"};
	for (size_t i = 0; i < ARRAY_SIZE(spellings); i++) {
		int cap = -1;
		assert_int_equal(caps_from_name(spellings[i], &cap, &err), 0);
		assert_int_equal(cap, CAP_NET_ADMIN);
	}
	assert_false(error_is_set(&err));

	const char *bad[] = {"",       "CAP_",	 "NET_ADMINS",	  "NETADMIN",
			     "ALL",    "all",	 "CAP_CAP_CHOWN", "NET ADMIN",
			     " CHOWN", "CHOWN ", "CAP-CHOWN"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int cap = -1;
		assert_int_equal(caps_from_name(bad[i], &cap, &err), -EINVAL);
		assert_int_equal(cap, -1);
		assert_non_null(strstr(err.message, bad[i]));
		error_release(&err);
	}
	int cap;
	assert_int_equal(caps_from_name(NULL, &cap, &err), -EINVAL);
	error_release(&err);
}

static void test_caps_sets(void **state)
{
	cap_mask_t def = caps_default();
	assert_int_equal(__builtin_popcountll(def), 14);
	const int expected[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,	     CAP_FOWNER,
				CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,	     CAP_SETUID,
				CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
				CAP_KILL,    CAP_AUDIT_WRITE};
	for (size_t i = 0; i < ARRAY_SIZE(expected); i++)
		assert_true(def & BIT(expected[i]));
	assert_false(def & BIT(CAP_SYS_ADMIN));

	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	assert_non_null(f);
	int last = -1;
	assert_int_equal(fscanf(f, "%d", &last), 1);
	fclose(f);
	assert_int_equal(caps_all(), BIT(last + 1) - 1);
	assert_int_equal(def & ~caps_all(), 0);
}

static int changes(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop,
		   cap_mask_t *out)
{
	struct error err = ERROR_INIT;
	int rc = caps_apply_changes(caps_default(), add, nadd, drop, ndrop, out, &err);
	error_release(&err);
	return rc;
}

static void test_caps_changes(void **state)
{
	cap_mask_t out;
	assert_int_equal(changes(NULL, 0, NULL, 0, &out), 0);
	assert_int_equal(out, caps_default());

	const char *all[] = {"ALL"};
	const char *nbs[] = {"NET_BIND_SERVICE"};
	assert_int_equal(changes(nbs, 1, all, 1, &out), 0);
	assert_int_equal(out, BIT(CAP_NET_BIND_SERVICE));

	const char *sys_admin[] = {"SYS_ADMIN"};
	assert_int_equal(changes(all, 1, sys_admin, 1, &out), 0);
	assert_int_equal(out, caps_all() & ~BIT(CAP_SYS_ADMIN));

	const char *ptrace[] = {"SYS_PTRACE"};
	const char *chown[] = {"CAP_CHOWN"};
	assert_int_equal(changes(ptrace, 1, chown, 1, &out), 0);
	assert_int_equal(out, (caps_default() | BIT(CAP_SYS_PTRACE)) & ~BIT(CAP_CHOWN));

	/* "all" in any case; --cap-add ALL wins over --cap-drop ALL, as Docker. */
	const char *all_lower[] = {"all"};
	assert_int_equal(changes(all_lower, 1, all_lower, 1, &out), 0);
	assert_int_equal(out, caps_all());

	/* Individual drops come after individual adds. */
	const char *net_admin[] = {"net_admin", "CAP_SYS_TIME"};
	const char *net_admin_drop[] = {"NET_ADMIN"};
	assert_int_equal(changes(net_admin, 2, net_admin_drop, 1, &out), 0);
	assert_int_equal(out, caps_default() | BIT(CAP_SYS_TIME));

	struct error err = ERROR_INIT;
	const char *bogus[] = {"CHOWN", "BOGUS"};
	out = 7;
	assert_int_equal(caps_apply_changes(caps_default(), NULL, 0, bogus, 2, &out, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "cap-drop"));
	assert_non_null(strstr(err.message, "BOGUS"));
	assert_int_equal(out, 7);
	error_release(&err);
	assert_int_equal(caps_apply_changes(caps_default(), bogus + 1, 1, NULL, 0, &out, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "cap-add"));
	error_release(&err);
}

/* As Docker: effective, permitted and bounding are the set; nothing is
 * inheritable or ambient. */
static bool status_caps_equal(cap_mask_t want)
{
	const char *fields[] = {"CapEff", "CapPrm", "CapBnd"};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		cap_mask_t got;
		if (read_status_caps(fields[i], &got) < 0 || got != want)
			return false;
	}
	const char *empty[] = {"CapInh", "CapAmb"};
	for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
		cap_mask_t got;
		if (read_status_caps(empty[i], &got) < 0 || got != 0)
			return false;
	}
	return true;
}

static int child_caps_apply_default(void *arg)
{
	/* A private UTS namespace first, so that a failed check below can never
	 * rename the host. */
	if (unshare(CLONE_NEWUTS) < 0)
		return 1;
	struct error err = ERROR_INIT;
	if (caps_apply(caps_default(), &err) < 0)
		return 2;
	if (!status_caps_equal(caps_default()))
		return 3;
	if (sethostname("caps-test", 9) == 0 || errno != EPERM)
		return 4;
	if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
		return 5;
	/* Applying again (a subset of what is held) is fine. */
	if (caps_apply(BIT(CAP_KILL), &err) < 0)
		return 6;
	if (!status_caps_equal(BIT(CAP_KILL)))
		return 7;
	return 0;
}

static void test_caps_apply(void **state)
{
	if (geteuid() != 0 || !have_effective(BIT(CAP_SYS_ADMIN) | BIT(CAP_SETPCAP)))
		skip();
	assert_int_equal(run_child(child_caps_apply_default, NULL), 0);
}

/* --cap-add ALL on a host that lacks some capabilities: whatever the host
 * holds, not a failure. */
static int child_caps_apply_all(void *arg)
{
	cap_mask_t held;
	if (read_status_caps("CapPrm", &held) < 0)
		return 1;
	struct error err = ERROR_INIT;
	if (caps_apply(caps_all(), &err) < 0)
		return 2;
	cap_mask_t bounding;
	if (read_status_caps("CapBnd", &bounding) < 0)
		return 3;
	if (!status_caps_equal(held & caps_all() & bounding))
		return 4;
	return 0;
}

static void test_caps_apply_clamps(void **state)
{
	if (geteuid() != 0 || !have_effective(BIT(CAP_SETPCAP)))
		skip();
	assert_int_equal(run_child(child_caps_apply_all, NULL), 0);
}

/* ---- rlimits ---- */

static void test_rlimit_parse(void **state)
{
	static const struct {
		const char *text;
		int resource;
		uint64_t soft, hard;
	} good[] = {
		{"nofile=1024:2048", RLIMIT_NOFILE, 1024, 2048},
		{"nproc=512", RLIMIT_NPROC, 512, 512},
		{"core=-1", RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY},
		{"core=0:-1", RLIMIT_CORE, 0, RLIM_INFINITY},
		{"memlock=-1:-1", RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY},
		{"stack=8388608:-1", RLIMIT_STACK, 8388608, RLIM_INFINITY},
		{"cpu=0", RLIMIT_CPU, 0, 0},
		{"data=1", RLIMIT_DATA, 1, 1},
		{"fsize=10:10", RLIMIT_FSIZE, 10, 10},
		{"locks=5", RLIMIT_LOCKS, 5, 5},
		{"msgqueue=819200", RLIMIT_MSGQUEUE, 819200, 819200},
		{"nice=0:20", RLIMIT_NICE, 0, 20},
		{"rss=100", RLIMIT_RSS, 100, 100},
		{"rtprio=0:99", RLIMIT_RTPRIO, 0, 99},
		{"rttime=18446744073709551615", RLIMIT_RTTIME, UINT64_MAX, UINT64_MAX},
		{"sigpending=63000", RLIMIT_SIGPENDING, 63000, 63000},
		{"nofile=007", RLIMIT_NOFILE, 7, 7},
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct error err = ERROR_INIT;
		struct rlimit_setting r;
		if (rlimit_parse(good[i].text, &r, &err) < 0)
			fail_msg("%s: %s", good[i].text, err.message);
		assert_int_equal(r.resource, good[i].resource);
		assert_int_equal(r.soft, good[i].soft);
		assert_int_equal(r.hard, good[i].hard);
	}

	static const struct {
		const char *text;
		const char *named; /* the message names the bad part */
	} bad[] = {
		{"", "expected"},
		{"nofile", "expected"},
		{"nofile=", "soft"},
		{"nofile=:", "soft"},
		{"nofile=:1024", "soft"},
		{"nofile=1024:", "hard"},
		{"nofile=abc", "abc"},
		{"nofile=1k", "1k"},
		{"nofile=-2", "-2"},
		{"nofile=-1x", "-1x"},
		{"nofile= 10", "soft"},
		{"nofile=+10", "+10"},
		{"nofile=1:2:3", "2:3"},
		{"nofile=1024:2048x", "2048x"},
		{"nofile=18446744073709551616", "18446744073709551616"},
		{"NOFILE=10", "NOFILE"},
		{"bogus=1", "bogus"},
		{"=1", "unknown name"},
		{"nofile=2048:1024", "soft limit above"},
		{"core=-1:100", "soft limit above"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct error err = ERROR_INIT;
		struct rlimit_setting r = {.resource = -7};
		if (rlimit_parse(bad[i].text, &r, &err) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i].text);
		if (!strstr(err.message, bad[i].named))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].text, err.message,
				 bad[i].named);
		assert_int_equal(r.resource, -7);
		error_release(&err);
	}
	struct error err = ERROR_INIT;
	struct rlimit_setting r;
	assert_int_equal(rlimit_parse(NULL, &r, &err), -EINVAL);
	error_release(&err);
}

static int child_rlimit_apply(void *arg)
{
	/* Deterministic whatever the host: without CAP_SYS_RESOURCE a hard
	 * limit only goes down. */
	if (have_effective(BIT(CAP_SYS_RESOURCE)) && drop_effective(CAP_SYS_RESOURCE) < 0)
		return 1;
	struct error err = ERROR_INIT;
	struct rlimit now;

	struct rlimit_setting lower = {RLIMIT_NOFILE, 100, 200};
	if (rlimit_apply(&lower, &err) < 0)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &now) < 0 || now.rlim_cur != 100 || now.rlim_max != 200)
		return 3;

	/* Above the hard limit: both clamped to it. */
	struct rlimit_setting raise = {RLIMIT_NOFILE, 300, 400};
	if (rlimit_apply(&raise, &err) < 0)
		return 4;
	if (getrlimit(RLIMIT_NOFILE, &now) < 0 || now.rlim_cur != 200 || now.rlim_max != 200)
		return 5;

	/* Only the hard limit above: the soft one is kept. */
	struct rlimit_setting hard_only = {RLIMIT_NOFILE, 150, RLIM_INFINITY};
	if (rlimit_apply(&hard_only, &err) < 0)
		return 6;
	if (getrlimit(RLIMIT_NOFILE, &now) < 0 || now.rlim_cur != 150 || now.rlim_max != 200)
		return 7;

	struct rlimit_setting core = {RLIMIT_CORE, 0, 0};
	if (rlimit_apply(&core, &err) < 0)
		return 8;
	if (getrlimit(RLIMIT_CORE, &now) < 0 || now.rlim_cur != 0 || now.rlim_max != 0)
		return 9;

	/* Not an EPERM: reported. */
	struct rlimit_setting nonsense = {RLIMIT_NLIMITS + 5, 1, 1};
	if (rlimit_apply(&nonsense, &err) != -EINVAL)
		return 10;
	error_release(&err);
	return 0;
}

static void test_rlimit_apply(void **state)
{
	assert_int_equal(run_child(child_rlimit_apply, NULL), 0);
}

/* ---- paths ---- */

static bool in_list(const char *const *list, const char *path)
{
	for (; *list; list++)
		if (strcmp(*list, path) == 0)
			return true;
	return false;
}

static void test_paths(void **state)
{
	const char *masked[] = {"/proc/asound",
				"/proc/acpi",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/proc/scsi",
				"/sys/firmware",
				"/sys/devices/virtual/powercap"};
	for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
		assert_true(in_list(security_masked_paths, masked[i]));
	const char *readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
				  "/proc/sysrq-trigger"};
	size_t n = 0;
	for (const char *const *p = security_readonly_paths; *p; p++)
		n++;
	assert_int_equal(n, ARRAY_SIZE(readonly));
	for (size_t i = 0; i < ARRAY_SIZE(readonly); i++)
		assert_true(in_list(security_readonly_paths, readonly[i]));
	for (const char *const *p = security_masked_paths; *p; p++)
		assert_false(in_list(security_readonly_paths, *p));
}

/* ---- seccomp ---- */

struct seccomp_fixture {
	char dir[64];
};

static int seccomp_setup(void **state)
{
	struct seccomp_fixture *f = xzalloc(sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_security.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int seccomp_teardown(void **state)
{
	struct seccomp_fixture *f = *state;
	DIR *d = opendir(f->dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			_cleanup_free_ char *p = xasprintf("%s/%s", f->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *cache_path(const char *dir, cap_mask_t caps)
{
	return xasprintf("%s/seccomp-%016" PRIx64 "-v1.bpf", dir, (uint64_t)caps);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void load(cap_mask_t caps, const char *dir, struct seccomp_program *p)
{
	struct error err = ERROR_INIT;
	if (seccomp_profile_load(caps, dir, p, &err) < 0)
		fail_msg("seccomp_profile_load: %s", err.message);
	assert_non_null(p->filter);
	assert_true(p->len > 0 && p->len <= BPF_MAXINSNS);
}

static bool same_program(const struct seccomp_program *a, const struct seccomp_program *b)
{
	return a->len == b->len &&
	       memcmp(a->filter, b->filter, a->len * sizeof(struct sock_filter)) == 0;
}

static void test_seccomp_cache(void **state)
{
	struct seccomp_fixture *f = *state;
	_cleanup_free_ char *path = cache_path(f->dir, caps_default());

	struct seccomp_program first = {0};
	load(caps_default(), f->dir, &first);
	struct stat st1;
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_size, first.len * sizeof(struct sock_filter));
	assert_int_equal(count_files(f->dir), 1); /* no .tmp left behind */

	/* With the cache present nothing is written: same inode, same mtime. */
	struct seccomp_program second = {0};
	load(caps_default(), f->dir, &second);
	assert_true(same_program(&first, &second));
	struct stat st2;
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);

	/* Another mask is another file and another program. */
	cap_mask_t admin = caps_default() | BIT(CAP_SYS_ADMIN);
	struct seccomp_program other = {0};
	load(admin, f->dir, &other);
	assert_false(same_program(&first, &other));
	_cleanup_free_ char *other_path = cache_path(f->dir, admin);
	assert_int_equal(access(other_path, R_OK), 0);
	assert_int_equal(count_files(f->dir), 2);

	/* The program really comes from the file: plant the other one under the
	 * default's name and it is what loads. */
	struct error err = ERROR_INIT;
	assert_int_equal(fs_write_file_atomic(path, other.filter,
					      other.len * sizeof(struct sock_filter), 0600, &err),
			 0);
	struct seccomp_program planted = {0};
	load(caps_default(), f->dir, &planted);
	assert_true(same_program(&planted, &other));

	/* No cache directory: compiled each time, same result. */
	struct seccomp_program uncached = {0};
	load(caps_default(), NULL, &uncached);
	assert_true(same_program(&uncached, &first));

	seccomp_program_release(&first);
	seccomp_program_release(&second);
	seccomp_program_release(&other);
	seccomp_program_release(&planted);
	seccomp_program_release(&uncached);
	assert_null(first.filter);
	assert_int_equal(first.len, 0);
	seccomp_program_release(NULL);
}

static void test_seccomp_bad_cache(void **state)
{
	struct seccomp_fixture *f = *state;
	_cleanup_free_ char *path = cache_path(f->dir, caps_default());
	struct seccomp_program good = {0};
	load(caps_default(), NULL, &good);

	struct sock_filter not_ret = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
	struct {
		const void *data;
		size_t len;
	} corrupt[] = {
		{"", 0},		     /* empty */
		{"0123456789abc", 13},	     /* not whole instructions */
		{&not_ret, sizeof(not_ret)}, /* does not end in a return */
	};
	for (size_t i = 0; i < ARRAY_SIZE(corrupt); i++) {
		struct error err = ERROR_INIT;
		assert_int_equal(
			fs_write_file_atomic(path, corrupt[i].data, corrupt[i].len, 0600, &err), 0);
		struct seccomp_program p = {0};
		load(caps_default(), f->dir, &p);
		assert_true(same_program(&p, &good));
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, good.len * sizeof(struct sock_filter));
		seccomp_program_release(&p);
	}

	/* Too large for the kernel. */
	size_t big = (BPF_MAXINSNS + 1) * sizeof(struct sock_filter);
	_cleanup_free_ char *junk = xzalloc(big);
	struct error err = ERROR_INIT;
	assert_int_equal(fs_write_file_atomic(path, junk, big, 0600, &err), 0);
	struct seccomp_program p = {0};
	load(caps_default(), f->dir, &p);
	assert_true(same_program(&p, &good));
	seccomp_program_release(&p);

	/* A cache directory that cannot be created still gives a program. */
	struct seccomp_program nodir = {0};
	load(caps_default(), "/proc/self/no/such/dir", &nodir);
	assert_true(same_program(&nodir, &good));
	seccomp_program_release(&nodir);
	seccomp_program_release(&good);

	struct seccomp_program empty = {0};
	assert_int_equal(seccomp_program_install(&empty, &err), -EINVAL);
	error_release(&err);
}

static void *thread_main(void *arg)
{
	return arg;
}

static int child_seccomp(void *arg)
{
	const struct seccomp_program *p = arg;
	struct error err = ERROR_INIT;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 1;
	if (seccomp_program_install(p, &err) < 0)
		return 2;
	errno = 0;
	if (syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0) != -1 || errno != EPERM)
		return 3;
	if (unshare(CLONE_NEWNS) == 0 || errno != EPERM)
		return 4;
	if (unshare(CLONE_NEWUTS | CLONE_NEWNET) == 0 || errno != EPERM)
		return 5;
	if (getpid() <= 0 || syscall(SYS_getpid) != getpid())
		return 6;
	if (mount("none", "/proc/self/no-such-dir", "tmpfs", 0, NULL) == 0 || errno != EPERM)
		return 7;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 8;
	if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
		return 9;
	if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		return 10;
	/* The personas Docker allows pass, others do not. */
	int persona = personality(0xffffffff);
	if (persona < 0 || personality(PER_LINUX) < 0 || personality(PER_LINUX32) < 0 ||
	    personality(UNAME26) < 0 || personality(PER_LINUX32 | UNAME26) < 0)
		return 11;
	personality(persona);
	const unsigned long unusual[] = {READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE,	MMAP_PAGE_ZERO,
					 PER_BSD,	    0xfffffffe,		0x7fffffff,
					 0x80000000,	    PER_LINUX32 | 0x100};
	for (size_t i = 0; i < ARRAY_SIZE(unusual); i++)
		if (personality(unusual[i]) != -1 || errno != EPERM)
			return 12;
	/* Every single bit and every value with one bit clear: the edges of the
	 * cover in seccomp_add_persona_rules. */
	for (int bit = 0; bit < 32; bit++) {
		bool allowed = bit == 3 || bit == 17;
		int rc = personality(1u << bit);
		if (allowed ? rc < 0 : rc != -1 || errno != EPERM)
			return 16;
		personality(persona);
		if (personality(0xffffffffu & ~(1u << bit)) != -1 || errno != EPERM)
			return 17;
	}
	/* Plain processes and threads still start: fork uses clone without
	 * namespace flags, pthread_create falls back from clone3 to clone. */
	pid_t pid = fork();
	if (pid < 0)
		return 13;
	if (pid == 0)
		_exit(42);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
		return 14;
	pthread_t thread;
	void *ret = NULL;
	if (pthread_create(&thread, NULL, thread_main, (void *)p) != 0 ||
	    pthread_join(thread, &ret) != 0 || ret != p)
		return 15;
	return 0;
}

static void test_seccomp_enforced(void **state)
{
	struct seccomp_fixture *f = *state;
	struct seccomp_program p = {0};
	load(caps_default(), f->dir, &p);
	assert_int_equal(run_child(child_seccomp, &p), 0);
	/* And once more from the cache. */
	struct seccomp_program cached = {0};
	load(caps_default(), f->dir, &cached);
	assert_int_equal(run_child(child_seccomp, &cached), 0);
	seccomp_program_release(&p);
	seccomp_program_release(&cached);
}

static int child_seccomp_admin(void *arg)
{
	const struct seccomp_program *p = arg;
	struct error err = ERROR_INIT;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 1;
	if (seccomp_program_install(p, &err) < 0)
		return 2;
	/* CAP_SYS_ADMIN in the mask lifts the namespace and mount rules. */
	if (unshare(CLONE_NEWUTS | CLONE_NEWNS) < 0)
		return 3;
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 4;
	/* Not the keyring. */
	if (syscall(SYS_keyctl, 0, -3, 0) != -1 || errno != EPERM)
		return 5;
	return 0;
}

static void test_seccomp_caps_lift_rules(void **state)
{
	if (geteuid() != 0 || !have_effective(BIT(CAP_SYS_ADMIN)))
		skip();
	struct seccomp_fixture *f = *state;
	struct seccomp_program p = {0};
	load(caps_default() | BIT(CAP_SYS_ADMIN), f->dir, &p);
	assert_int_equal(run_child(child_seccomp_admin, &p), 0);
	seccomp_program_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_names),
		cmocka_unit_test(test_caps_sets),
		cmocka_unit_test(test_caps_changes),
		cmocka_unit_test(test_caps_apply),
		cmocka_unit_test(test_caps_apply_clamps),
		cmocka_unit_test(test_rlimit_parse),
		cmocka_unit_test(test_rlimit_apply),
		cmocka_unit_test(test_paths),
		cmocka_unit_test_setup_teardown(test_seccomp_cache, seccomp_setup,
						seccomp_teardown),
		cmocka_unit_test_setup_teardown(test_seccomp_bad_cache, seccomp_setup,
						seccomp_teardown),
		cmocka_unit_test_setup_teardown(test_seccomp_enforced, seccomp_setup,
						seccomp_teardown),
		cmocka_unit_test_setup_teardown(test_seccomp_caps_lift_rules, seccomp_setup,
						seccomp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
