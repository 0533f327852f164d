/* Container cgroups: detection, create, limits, stats and destroy on fake v2,
 * v1 and hybrid trees laid out under a temporary root, then once for real on
 * this host (root and a v1 memory hierarchy needed, skipped otherwise).
 *
 * A fake tree is plain directories and files: mkdir does not make control
 * files, so each test writes the files the code will open before calling
 * cgroup_create (which accepts an existing container directory whose
 * cgroup.procs is empty). The kernel empties cgroup.procs when processes
 * die and drops the control files on rmdir; here a test does both by hand
 * (fake_cgroup_clear) before or during cgroup_destroy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cgroup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

/* ---- fake trees ---- */

struct fake {
	char root[64];
	pid_t children[4]; /* killed and reaped by the teardown if still there */
	size_t nchildren;
	pthread_t reaper;
	bool reaper_started;
	struct cgroup *cg; /* freed by the teardown */
	struct cgroup_layout layout;
};

static int fake_setup(void **state)
{
	struct fake *f = xzalloc(sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/cgroup-test.XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void fake_forget_child(struct fake *f, pid_t pid)
{
	for (size_t i = 0; i < f->nchildren; i++)
		if (f->children[i] == pid)
			f->children[i] = 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	for (size_t i = 0; i < f->nchildren; i++)
		if (f->children[i] > 0)
			kill(f->children[i], SIGKILL);
	/* the reaper thread reaps its child itself: join it first */
	if (f->reaper_started)
		pthread_join(f->reaper, NULL);
	for (size_t i = 0; i < f->nchildren; i++)
		if (f->children[i] > 0)
			waitpid(f->children[i], NULL, 0);
	cgroup_free(f->cg);
	cgroup_layout_release(&f->layout);
	nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *fake_path(const struct fake *f, const char *rel)
{
	return xasprintf("%s%s", f->root, rel);
}

static void fake_write(const struct fake *f, const char *rel, const char *content)
{
	char *path = fake_path(f, rel);
	char *dir = fs_dirname(path);
	struct error err = ERROR_INIT;
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	free(dir);
	free(path);
}

/* The file's content, or NULL when it does not exist. */
static char *fake_read(const struct fake *f, const char *rel)
{
	char *path = fake_path(f, rel);
	char *text = NULL;
	struct error err = ERROR_INIT;
	if (fs_read_file(path, 1 << 20, &text, NULL, &err) < 0)
		text = NULL;
	error_release(&err);
	free(path);
	return text;
}

static void assert_fake_content(const struct fake *f, const char *rel, const char *expected)
{
	char *text = fake_read(f, rel);
	if (!text)
		fail_msg("%s: missing", rel);
	if (strcmp(text, expected) != 0)
		fail_msg("%s: \"%s\", expected \"%s\"", rel, text, expected);
	free(text);
}

static bool fake_exists(const struct fake *f, const char *rel)
{
	char *path = fake_path(f, rel);
	bool exists = access(path, F_OK) == 0;
	free(path);
	return exists;
}

/* What the kernel does for a cgroup whose processes are gone: an empty
 * cgroup.procs and, once removed, no control files. cgroup.procs goes last
 * so that cgroup_destroy never sees a directory without it while others
 * remain. */
static void cgroup_dir_clear(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_REG || strcmp(de->d_name, "cgroup.procs") == 0)
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		unlink(path);
		free(path);
	}
	closedir(d);
	char *procs = xasprintf("%s/cgroup.procs", dir);
	unlink(procs);
	free(procs);
}

static void fake_cgroup_clear(const struct fake *f, const char *rel)
{
	char *dir = fake_path(f, rel);
	cgroup_dir_clear(dir);
	free(dir);
}

static pid_t spawn_sleeper(struct fake *f)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	if (f)
		f->children[f->nchildren++] = pid;
	return pid;
}

static bool child_running(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* ---- pure v2 ---- */

#define V2_CG  "/sys/fs/cgroup"
#define V2_APP V2_CG "/user.slice/app"
#define V2_CT  V2_APP "/ctr/c1"

static void fake_v2_host(struct fake *f)
{
	fake_write(f, "/proc/self/mountinfo",
		   "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		   "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
		   "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
		   "31 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n");
	fake_write(f, "/proc/self/cgroup", "0::/user.slice/app\n");
	fake_write(f, V2_CG "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	/* the root delegates everything, user.slice a part, app nothing yet */
	fake_write(f, V2_CG "/cgroup.subtree_control", "cpuset cpu io memory pids\n");
	fake_write(f, V2_CG "/user.slice/cgroup.subtree_control", "memory pids\n");
	fake_write(f, V2_APP "/cgroup.subtree_control", "");
	fake_write(f, V2_APP "/cgroup.procs", "4242\n");
	fake_write(f, V2_APP "/ctr/cgroup.subtree_control", "");
	fake_write(f, V2_CT "/cgroup.procs", "");
	fake_write(f, V2_CT "/cpu.max", "max 100000\n");
	fake_write(f, V2_CT "/memory.max", "max\n");
	fake_write(f, V2_CT "/pids.max", "max\n");
}

static void test_v2_detect(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	char *mount = fake_path(f, V2_CG);
	assert_string_equal(f->layout.unified, mount);
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++) {
		assert_non_null(f->layout.mount[c]);
		assert_string_equal(f->layout.mount[c], mount);
		assert_true(f->layout.v2[c]);
	}
	assert_string_equal(cgroup_layout_mode(&f->layout), "v2");
	free(mount);
}

static void test_v2_create_limits_stats_destroy(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	struct cgroup_limits limits = {
		.cpu_millis = 1500, .memory_bytes = 256 * MIB, .pids_max = 100};
	if (cgroup_create(&f->layout, f->root, "ctr", "c1", &limits, &f->cg, &err) < 0)
		fail_msg("%s", err.message);

	/* the root had everything already; the others get what they lacked */
	assert_fake_content(f, V2_CG "/cgroup.subtree_control", "cpuset cpu io memory pids\n");
	assert_fake_content(f, V2_CG "/user.slice/cgroup.subtree_control", "+cpu +io");
	assert_fake_content(f, V2_APP "/cgroup.subtree_control", "+cpu +io +memory +pids");
	assert_fake_content(f, V2_APP "/ctr/cgroup.subtree_control", "+cpu +io +memory +pids");
	assert_fake_content(f, V2_CT "/cpu.max", "150000 100000");
	assert_fake_content(f, V2_CT "/memory.max", "268435456");
	assert_fake_content(f, V2_CT "/pids.max", "100");
	char *unified = fake_path(f, V2_CT);
	assert_string_equal(cgroup_unified_path(f->cg), unified);
	free(unified);

	fake_write(f, V2_CT "/cpu.stat",
		   "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
	fake_write(f, V2_CT "/memory.current", "1048576\n");
	fake_write(f, V2_CT "/memory.max", "max\n");
	fake_write(f, V2_CT "/pids.current", "3\n");
	fake_write(f, V2_CT "/io.stat",
		   "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
		   "253:0 rbytes=30 wbytes=40 rios=3 wios=4 dbytes=5 dios=6\n");
	struct cgroup_stats stats;
	assert_int_equal(cgroup_stats(f->cg, &stats, &err), 0);
	assert_int_equal(stats.cpu_usec, 123456);
	assert_int_equal(stats.memory_usage, 1048576);
	assert_int_equal(stats.memory_limit, 0); /* "max" */
	assert_int_equal(stats.pids, 3);
	assert_int_equal(stats.io_read_bytes, 1030);
	assert_int_equal(stats.io_write_bytes, 2040);

	/* missing files read as 0; a limit reads back */
	fake_write(f, V2_CT "/memory.max", "268435456\n");
	char *path = fake_path(f, V2_CT "/pids.current");
	unlink(path);
	free(path);
	path = fake_path(f, V2_CT "/io.stat");
	unlink(path);
	free(path);
	assert_int_equal(cgroup_stats(f->cg, &stats, &err), 0);
	assert_int_equal(stats.memory_limit, 268435456);
	assert_int_equal(stats.pids, 0);
	assert_int_equal(stats.io_read_bytes, 0);

	/* garbage is an error naming the file */
	fake_write(f, V2_CT "/memory.current", "lots\n");
	assert_int_equal(cgroup_stats(f->cg, &stats, &err), -EINVAL);
	assert_non_null(strstr(err.message, "memory.current"));
	error_release(&err);

	fake_cgroup_clear(f, V2_CT);
	if (cgroup_destroy(f->cg, &err) < 0)
		fail_msg("%s", err.message);
	assert_false(fake_exists(f, V2_CT));
	/* kept: its subtree_control stands for the kernel's files */
	assert_true(fake_exists(f, V2_APP "/ctr"));
	/* idempotent */
	assert_int_equal(cgroup_destroy(f->cg, &err), 0);
}

/* Pure v2: the API server moves into <own>/supervisor so that its own
 * cgroup can delegate; containers still go under <own>. */
static void test_v2_supervisor_leaf(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	fake_write(f, V2_APP "/" CGROUP_LEAF "/cgroup.procs", "");
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	char *moved = NULL;
	if (cgroup_enter_leaf(&f->layout, f->root, &moved, &err) != 1)
		fail_msg("did not move: %s", err.message ? err.message : "no error");
	char *expected = fake_path(f, V2_APP "/" CGROUP_LEAF);
	assert_string_equal(moved, expected);
	free(expected);
	free(moved);
	assert_fake_content(f, V2_APP "/" CGROUP_LEAF "/cgroup.procs", "0");

	/* now in the leaf: no second move, and the leaf counts as its parent */
	fake_write(f, "/proc/self/cgroup", "0::/user.slice/app/" CGROUP_LEAF "\n");
	fake_write(f, V2_APP "/" CGROUP_LEAF "/cgroup.procs", "4242\n");
	assert_int_equal(cgroup_enter_leaf(&f->layout, f->root, &moved, &err), 0);
	assert_null(moved);
	if (cgroup_create(&f->layout, f->root, "ctr", "c1", NULL, &f->cg, &err) < 0)
		fail_msg("%s", err.message);
	char *unified = fake_path(f, V2_CT);
	assert_string_equal(cgroup_unified_path(f->cg), unified);
	free(unified);
	assert_fake_content(f, V2_APP "/cgroup.subtree_control", "+cpu +io +memory +pids");
	assert_false(fake_exists(f, V2_APP "/" CGROUP_LEAF "/ctr"));

	/* the root cgroup may hold processes and delegate: no move */
	fake_write(f, "/proc/self/cgroup", "0::/\n");
	assert_int_equal(cgroup_enter_leaf(&f->layout, f->root, &moved, &err), 0);
	/* a hybrid host's unified hierarchy without controllers: no move */
	struct cgroup_layout hybrid = {.unified = f->layout.unified};
	fake_write(f, "/proc/self/cgroup", "0::/user.slice/app\n");
	assert_int_equal(cgroup_enter_leaf(&hybrid, f->root, &moved, &err), 0);
}

static void test_v2_existing_dir_with_processes(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	fake_write(f, V2_CT "/cgroup.procs", "4243\n");
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	struct cgroup_limits limits = {0};
	assert_int_equal(cgroup_create(&f->layout, f->root, "ctr", "c1", &limits, &f->cg, &err),
			 -EEXIST);
	assert_null(f->cg);
	assert_non_null(strstr(err.message, "holds processes"));
	error_release(&err);
	/* left alone */
	assert_fake_content(f, V2_CT "/cgroup.procs", "4243\n");

	assert_int_equal(cgroup_create(&f->layout, f->root, "ctr", "../x", &limits, &f->cg, &err),
			 -EINVAL);
	error_release(&err);
	assert_int_equal(cgroup_create(&f->layout, f->root, "..", "c1", &limits, &f->cg, &err),
			 -EINVAL);
	error_release(&err);
}

static void test_v2_missing_control_file(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	char *path = fake_path(f, V2_CT "/pids.max");
	unlink(path);
	free(path);
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	struct cgroup_limits limits = {.pids_max = 10};
	assert_int_equal(cgroup_create(&f->layout, f->root, "ctr", "c1", &limits, &f->cg, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "pids.max"));
	error_release(&err);
	/* not created as a regular file */
	assert_false(fake_exists(f, V2_CT "/pids.max"));
}

struct reaper {
	struct fake *fake;
	pid_t pid;
	char *dir;
	char *kill_file; /* cgroup.kill as the child died */
	int status;
};

/* Plays the kernel: once the child is dead, its cgroup lists nobody. The
 * child is reaped only after that, so that its pid cannot be reused while
 * the fake cgroup.procs still names it. */
static void *reaper_main(void *arg)
{
	struct reaper *r = arg;
	siginfo_t info;
	while (waitid(P_PID, r->pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	char *kill_path = xasprintf("%s/cgroup.kill", r->dir);
	struct error err = ERROR_INIT;
	if (fs_read_file(kill_path, 64, &r->kill_file, NULL, &err) < 0)
		error_release(&err);
	free(kill_path);
	cgroup_dir_clear(r->dir);
	waitpid(r->pid, &r->status, 0);
	return NULL;
}

static void test_v2_destroy_kills_listed_pids(void **state)
{
	struct fake *f = *state;
	fake_v2_host(f);
	fake_write(f, V2_CT "/cgroup.kill", "");
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	if (cgroup_create(&f->layout, f->root, "ctr", "c1", NULL, &f->cg, &err) < 0)
		fail_msg("%s", err.message);

	pid_t victim = spawn_sleeper(f);
	pid_t bystander = spawn_sleeper(f);
	assert_int_equal(cgroup_add_pid(f->cg, victim, &err), 0);
	char expected[32];
	snprintf(expected, sizeof(expected), "%d", (int)victim);
	assert_fake_content(f, V2_CT "/cgroup.procs", expected);

	static struct reaper r; /* outlives a failed assertion; joined in the teardown */
	memset(&r, 0, sizeof(r));
	r.fake = f;
	r.pid = victim;
	r.dir = fake_path(f, V2_CT);
	assert_int_equal(pthread_create(&f->reaper, NULL, reaper_main, &r), 0);
	f->reaper_started = true;

	int64_t start = time_monotonic_ms();
	if (cgroup_destroy(f->cg, &err) < 0)
		fail_msg("%s", err.message);
	assert_true(time_monotonic_ms() - start < 1500);
	pthread_join(f->reaper, NULL);
	f->reaper_started = false;
	fake_forget_child(f, victim);

	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGKILL);
	assert_non_null(r.kill_file);
	assert_string_equal(r.kill_file, "1");
	assert_true(child_running(bystander));
	assert_false(fake_exists(f, V2_CT));
	free(r.kill_file);
	free(r.dir);
}

/* ---- v1 with a unified mount holding no controller, like this host ---- */

#define V1_CPU	 "/sys/fs/cgroup/cpu,cpuacct/ctr"
#define V1_MEM	 "/sys/fs/cgroup/memory/process_api/abc/ctr"
#define V1_PIDS	 "/sys/fs/cgroup/pids/system.slice/api.service/ctr"
#define V1_BLKIO "/sys/fs/cgroup/blkio/system.slice/ctr"
#define V1_UNI	 "/sys/fs/cgroup/unified/system.slice/api.service/ctr"

static const char *const v1_container_dirs[] = {V1_CPU, V1_MEM, V1_PIDS, V1_BLKIO, V1_UNI};

static void fake_v1_host(struct fake *f)
{
	fake_write(f, "/proc/self/mountinfo",
		   "23 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
		   "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		   "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup "
		   "rw,cpu,cpuacct\n"
		   "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		   "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
		   "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
		   "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup "
		   "rw,xattr,name=systemd\n"
		   "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 "
		   "rw,nsdelegate\n");
	fake_write(f, "/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
	fake_write(f, "/proc/self/cgroup",
		   "9:name=systemd:/system.slice/api.service\n"
		   "8:pids:/system.slice/api.service\n"
		   "7:blkio:/system.slice\n"
		   "4:memory:/process_api/abc\n"
		   "2:cpu,cpuacct:/\n"
		   "0::/system.slice/api.service\n");
	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++) {
		for (int n = 1; n <= 2; n++) {
			char *rel = xasprintf("%s/c%d/cgroup.procs", v1_container_dirs[i], n);
			fake_write(f, rel, "");
			free(rel);
		}
	}
	for (int n = 1; n <= 2; n++) {
		char *rel = xasprintf(V1_CPU "/c%d/cpu.cfs_period_us", n);
		fake_write(f, rel, "100000\n");
		free(rel);
		rel = xasprintf(V1_CPU "/c%d/cpu.cfs_quota_us", n);
		fake_write(f, rel, "-1\n");
		free(rel);
		rel = xasprintf(V1_MEM "/c%d/memory.limit_in_bytes", n);
		fake_write(f, rel, "9223372036854771712\n");
		free(rel);
		rel = xasprintf(V1_PIDS "/c%d/pids.max", n);
		fake_write(f, rel, "max\n");
		free(rel);
	}
	/* swap accounting shows for c1 only */
	fake_write(f, V1_MEM "/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
}

static void test_v1_detect(void **state)
{
	struct fake *f = *state;
	fake_v1_host(f);
	struct error err = ERROR_INIT;
	struct cgroup_layout *l = &f->layout;
	assert_int_equal(cgroup_detect(f->root, l, &err), 0);
	assert_string_equal(cgroup_layout_mode(l), "hybrid");
	char *cpu = fake_path(f, "/sys/fs/cgroup/cpu,cpuacct");
	char *blkio = fake_path(f, "/sys/fs/cgroup/blkio");
	char *unified = fake_path(f, "/sys/fs/cgroup/unified");
	assert_string_equal(l->mount[CGROUP_CPU], cpu);
	assert_string_equal(l->mount[CGROUP_CPUACCT], cpu);
	assert_string_equal(l->mount[CGROUP_IO], blkio);
	assert_string_equal(l->unified, unified);
	assert_null(l->mount[CGROUP_CPUSET]);
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++)
		assert_false(l->v2[c]);
	free(cpu);
	free(blkio);
	free(unified);
}

static void test_v1_create_limits_stats_destroy(void **state)
{
	struct fake *f = *state;
	fake_v1_host(f);
	struct error err = ERROR_INIT;
	assert_int_equal(cgroup_detect(f->root, &f->layout, &err), 0);
	struct cgroup_limits limits = {.cpu_millis = 500, .memory_bytes = 64 * MIB, .pids_max = 32};
	if (cgroup_create(&f->layout, f->root, "ctr", "c1", &limits, &f->cg, &err) < 0)
		fail_msg("%s", err.message);
	struct cgroup *c2 = NULL;
	if (cgroup_create(&f->layout, f->root, "ctr", "c2", &limits, &c2, &err) < 0)
		fail_msg("%s", err.message);

	assert_fake_content(f, V1_CPU "/c1/cpu.cfs_period_us", "100000");
	assert_fake_content(f, V1_CPU "/c1/cpu.cfs_quota_us", "50000");
	assert_fake_content(f, V1_MEM "/c1/memory.limit_in_bytes", "67108864");
	assert_fake_content(f, V1_MEM "/c1/memory.memsw.limit_in_bytes", "67108864");
	assert_fake_content(f, V1_PIDS "/c1/pids.max", "32");
	assert_fake_content(f, V1_MEM "/c2/memory.limit_in_bytes", "67108864");
	assert_false(fake_exists(f, V1_MEM "/c2/memory.memsw.limit_in_bytes"));
	/* the named systemd hierarchy is not ours; the unified one delegates nothing */
	assert_false(fake_exists(f, "/sys/fs/cgroup/systemd/system.slice"));
	assert_false(fake_exists(f, V1_UNI "/cgroup.subtree_control"));
	char *unified = fake_path(f, V1_UNI "/c1");
	assert_string_equal(cgroup_unified_path(f->cg), unified);
	free(unified);

	/* our own pid: cgroup_destroy never signals it, and the files are
	 * cleared before it runs */
	assert_int_equal(cgroup_add_pid(f->cg, getpid(), &err), 0);
	char self[32];
	snprintf(self, sizeof(self), "%d", (int)getpid());
	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++) {
		char *rel = xasprintf("%s/c1/cgroup.procs", v1_container_dirs[i]);
		assert_fake_content(f, rel, self);
		free(rel);
	}

	fake_write(f, V1_CPU "/c1/cpuacct.usage", "5000000999\n");
	fake_write(f, V1_MEM "/c1/memory.usage_in_bytes", "10485760\n");
	fake_write(f, V1_MEM "/c1/memory.stat",
		   "cache 4096\ninactive_file 1\ntotal_cache 4096\ntotal_inactive_file 2097152\n");
	fake_write(f, V1_MEM "/c1/memory.limit_in_bytes", "9223372036854771712\n");
	fake_write(f, V1_PIDS "/c1/pids.current", "2\n");
	fake_write(f, V1_BLKIO "/c1/blkio.throttle.io_service_bytes",
		   "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n"
		   "8:0 Discard 0\n8:0 Total 12288\n"
		   "8:16 Read 100\n8:16 Write 200\n8:16 Total 300\nTotal 12588\n");
	struct cgroup_stats stats;
	assert_int_equal(cgroup_stats(f->cg, &stats, &err), 0);
	assert_int_equal(stats.cpu_usec, 5000000);
	assert_int_equal(stats.memory_usage, 10485760 - 2097152);
	assert_int_equal(stats.memory_limit, 0);
	assert_int_equal(stats.pids, 2);
	assert_int_equal(stats.io_read_bytes, 4196);
	assert_int_equal(stats.io_write_bytes, 8392);

	/* the recursive file wins when the kernel has it */
	fake_write(f, V1_BLKIO "/c1/blkio.throttle.io_service_bytes_recursive",
		   "8:0 Read 7\n8:0 Write 9\nTotal 16\n");
	fake_write(f, V1_MEM "/c1/memory.limit_in_bytes", "67108864\n");
	assert_int_equal(cgroup_stats(f->cg, &stats, &err), 0);
	assert_int_equal(stats.io_read_bytes, 7);
	assert_int_equal(stats.io_write_bytes, 9);
	assert_int_equal(stats.memory_limit, 67108864);

	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++) {
		char *rel = xasprintf("%s/c1", v1_container_dirs[i]);
		fake_cgroup_clear(f, rel);
		free(rel);
	}
	if (cgroup_destroy(f->cg, &err) < 0)
		fail_msg("%s", err.message);
	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++) {
		char *rel = xasprintf("%s/c1", v1_container_dirs[i]);
		assert_false(fake_exists(f, rel));
		free(rel);
		/* c2 still uses the parent */
		assert_true(fake_exists(f, v1_container_dirs[i]));
	}

	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++) {
		char *rel = xasprintf("%s/c2", v1_container_dirs[i]);
		fake_cgroup_clear(f, rel);
		free(rel);
	}
	int r = cgroup_destroy(c2, &err);
	cgroup_free(c2);
	if (r < 0)
		fail_msg("%s", err.message);
	/* the last container takes the parent with it */
	for (size_t i = 0; i < ARRAY_SIZE(v1_container_dirs); i++)
		assert_false(fake_exists(f, v1_container_dirs[i]));
	assert_true(fake_exists(f, "/sys/fs/cgroup/memory/process_api/abc"));
}

/* ---- modes ---- */

static const char *mode_of(struct fake *f, const char *mountinfo, const char *controllers)
{
	fake_write(f, "/proc/self/mountinfo", mountinfo);
	char *path = fake_path(f, "/sys/fs/cgroup/unified/cgroup.controllers");
	unlink(path);
	free(path);
	if (controllers)
		fake_write(f, "/sys/fs/cgroup/unified/cgroup.controllers", controllers);
	cgroup_layout_release(&f->layout);
	struct error err = ERROR_INIT;
	if (cgroup_detect(f->root, &f->layout, &err) < 0)
		fail_msg("%s", err.message);
	return cgroup_layout_mode(&f->layout);
}

#define MI_ROOT	   "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
#define MI_V2	   "2 1 0:26 / /sys/fs/cgroup/unified rw shared:4 - cgroup2 cgroup2 rw\n"
#define MI_MEM	   "3 1 0:27 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"
#define MI_SYSTEMD "4 1 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"

static void test_modes(void **state)
{
	struct fake *f = *state;
	assert_string_equal(mode_of(f, MI_ROOT, NULL), "none");
	assert_string_equal(mode_of(f, MI_ROOT MI_SYSTEMD, NULL), "none");
	assert_string_equal(mode_of(f, MI_ROOT MI_MEM MI_SYSTEMD, NULL), "v1");
	char *mem = fake_path(f, "/sys/fs/cgroup/my memory");
	assert_string_equal(f->layout.mount[CGROUP_MEMORY], mem);
	free(mem);
	assert_null(f->layout.unified);

	assert_string_equal(mode_of(f, MI_ROOT MI_V2, "cpu memory pids io\n"), "v2");
	assert_true(f->layout.v2[CGROUP_IO]);
	assert_true(f->layout.v2[CGROUP_CPUACCT]);
	assert_null(f->layout.mount[CGROUP_CPUSET]);

	/* the unified mount is remembered with no controller at all */
	assert_string_equal(mode_of(f, MI_ROOT MI_V2, "\n"), "none");
	assert_non_null(f->layout.unified);
	assert_string_equal(mode_of(f, MI_ROOT MI_V2, NULL), "none");

	/* hybrid: v1 wins where both claim a controller */
	assert_string_equal(mode_of(f, MI_ROOT MI_MEM MI_V2, "hugetlb\n"), "hybrid");
	assert_string_equal(mode_of(f, MI_ROOT MI_V2 MI_MEM, "memory pids\n"), "hybrid");
	assert_false(f->layout.v2[CGROUP_MEMORY]);
	assert_true(f->layout.v2[CGROUP_PIDS]);
	assert_null(f->layout.mount[CGROUP_CPU]);
}

/* ---- this host ---- */

struct host {
	struct cgroup_layout layout;
	struct cgroup *cg;
	pid_t child;
};

static int host_setup(void **state)
{
	*state = xzalloc(sizeof(struct host));
	return 0;
}

static int host_teardown(void **state)
{
	struct host *h = *state;
	if (h->cg) {
		struct error err = ERROR_INIT;
		if (cgroup_destroy(h->cg, &err) < 0)
			fprintf(stderr, "teardown: %s\n", err.message);
		error_release(&err);
		cgroup_free(h->cg);
	}
	if (h->child > 0) {
		kill(h->child, SIGKILL);
		waitpid(h->child, NULL, 0);
	}
	cgroup_layout_release(&h->layout);
	free(h);
	return 0;
}

/* Our own cgroup in the v1 hierarchy of `controller`, from /proc/self/cgroup. */
static char *own_v1_path(const char *controller)
{
	char *text = NULL;
	struct error err = ERROR_INIT;
	assert_int_equal(fs_read_file("/proc/self/cgroup", 1 << 16, &text, NULL, &err), 0);
	char *found = NULL, *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char *first = strchr(line, ':');
		char *second = first ? strchr(first + 1, ':') : NULL;
		if (!second)
			continue;
		*second = '\0';
		char *name_save = NULL;
		for (char *name = strtok_r(first + 1, ",", &name_save); name;
		     name = strtok_r(NULL, ",", &name_save))
			if (strcmp(name, controller) == 0)
				found = xstrdup(strcmp(second + 1, "/") == 0 ? "" : second + 1);
	}
	free(text);
	assert_non_null(found);
	return found;
}

static void test_host(void **state)
{
	struct host *h = *state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) != 0)
		skip();
	struct error err = ERROR_INIT;
	if (cgroup_detect(NULL, &h->layout, &err) < 0)
		fail_msg("%s", err.message);
	assert_non_null(h->layout.mount[CGROUP_MEMORY]);
	assert_false(h->layout.v2[CGROUP_MEMORY]);

	char id[64];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(id, sizeof(id), "t%d-%lx", (int)getpid(), (unsigned long)now.tv_nsec);
	struct cgroup_limits limits = {.cpu_millis = 500, .memory_bytes = 64 * MIB, .pids_max = 32};
	if (cgroup_create(&h->layout, NULL, "ct-unit-test", id, &limits, &h->cg, &err) < 0)
		fail_msg("%s", err.message);

	char *own_memory = own_v1_path("memory");
	char *memory_dir =
		xasprintf("%s%s/ct-unit-test/%s", h->layout.mount[CGROUP_MEMORY], own_memory, id);
	free(own_memory);
	char *unified_dir = h->layout.unified ? xstrdup(cgroup_unified_path(h->cg)) : NULL;
	struct stat st;
	assert_int_equal(stat(memory_dir, &st), 0);

	h->child = spawn_sleeper(NULL);
	if (cgroup_add_pid(h->cg, h->child, &err) < 0)
		fail_msg("%s", err.message);
	char *proc_path = xasprintf("/proc/%d/cgroup", (int)h->child);
	char *membership = NULL;
	assert_int_equal(fs_read_file(proc_path, 1 << 16, &membership, NULL, &err), 0);
	char *needle = xasprintf("/ct-unit-test/%s\n", id);
	assert_non_null(strstr(membership, needle));
	free(needle);
	free(membership);
	free(proc_path);

	struct cgroup_stats stats;
	if (cgroup_stats(h->cg, &stats, &err) < 0)
		fail_msg("%s", err.message);
	assert_true(stats.pids >= 1);
	assert_int_equal(stats.memory_limit, 64 * MIB);

	if (cgroup_destroy(h->cg, &err) < 0)
		fail_msg("%s", err.message);
	int status = 0;
	assert_int_equal(waitpid(h->child, &status, 0), h->child);
	h->child = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(stat(memory_dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	if (unified_dir) {
		assert_int_equal(stat(unified_dir, &st), -1);
		assert_int_equal(errno, ENOENT);
	}
	free(memory_dir);
	free(unified_dir);
	cgroup_free(h->cg);
	h->cg = NULL;
}

/* A new process puts itself into the container's cgroup in every hierarchy
 * through the join descriptors, without anyone writing its pid. */
static void test_host_join(void **state)
{
	struct host *h = *state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) != 0)
		skip();
	struct error err = ERROR_INIT;
	if (cgroup_detect(NULL, &h->layout, &err) < 0)
		fail_msg("%s", err.message);
	char id[64];
	snprintf(id, sizeof(id), "j%d-%lx", (int)getpid(), (unsigned long)time_monotonic_us());
	if (cgroup_create(&h->layout, NULL, "ct-unit-test", id, NULL, &h->cg, &err) < 0)
		fail_msg("%s", err.message);
	struct cgroup_join join;
	if (cgroup_join_open(h->cg, &join, &err) < 0)
		fail_msg("%s", err.message);
	assert_true(join.ntasks >= 1);
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	h->child = fork();
	assert_true(h->child >= 0);
	if (h->child == 0) {
		int rc = cgroup_join_self(&join, false);
		if (write(pipefd[1], &rc, sizeof(rc)) != sizeof(rc))
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	cgroup_join_close(&join);
	assert_int_equal(join.ntasks, 0);
	assert_int_equal(join.dir_fd, -1);
	int rc = -1;
	assert_int_equal(read(pipefd[0], &rc, sizeof(rc)), sizeof(rc));
	close(pipefd[0]);
	assert_int_equal(rc, 0);

	/* every line of /proc/PID/cgroup but name=systemd and the v1
	 * controllers we do not use ends in the container's cgroup */
	char *proc_path = xasprintf("/proc/%d/cgroup", (int)h->child);
	char *membership = NULL;
	assert_int_equal(fs_read_file(proc_path, 1 << 16, &membership, NULL, &err), 0);
	char *suffix = xasprintf("/ct-unit-test/%s", id);
	int found = 0;
	for (char *line = membership; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strstr(line, ":memory:") || strstr(line, ":pids:") ||
		    strncmp(line, "0::", 3) == 0) {
			size_t len = strlen(line), slen = strlen(suffix);
			if (len < slen || strcmp(line + len - slen, suffix) != 0)
				fail_msg("not in the container's cgroup: %s", line);
			found++;
		}
		line = next;
	}
	assert_true(found >= 2);
	free(suffix);
	free(membership);
	free(proc_path);

	if (cgroup_destroy(h->cg, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(waitpid(h->child, NULL, 0), h->child);
	h->child = 0;
	cgroup_free(h->cg);
	h->cg = NULL;
}

/* Without the unified hierarchy (a pure v1 host, or before cgroup.kill), the
 * container's processes die from SIGKILL to every listed pid, grandchildren
 * that joined by fork included. */
static void test_host_v1_signals(void **state)
{
	struct host *h = *state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) != 0 ||
	    access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) != 0)
		skip();
	struct error err = ERROR_INIT;
	if (cgroup_detect(NULL, &h->layout, &err) < 0)
		fail_msg("%s", err.message);
	free(h->layout.unified);
	h->layout.unified = NULL;
	for (int c = 0; c < CGROUP_NCONTROLLERS; c++) {
		if (h->layout.v2[c]) {
			free(h->layout.mount[c]);
			h->layout.mount[c] = NULL;
		}
	}
	if (!h->layout.mount[CGROUP_PIDS])
		skip();

	char id[64];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(id, sizeof(id), "s%d-%lx", (int)getpid(), (unsigned long)now.tv_nsec);
	struct cgroup_limits limits = {.pids_max = 32};
	if (cgroup_create(&h->layout, NULL, "ct-unit-test", id, &limits, &h->cg, &err) < 0)
		fail_msg("%s", err.message);
	assert_null(cgroup_unified_path(h->cg));

	int go[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	h->child = fork();
	assert_true(h->child >= 0);
	if (h->child == 0) {
		char byte;
		close(go[1]);
		if (read(go[0], &byte, 1) != 1)
			_exit(1);
		for (int i = 0; i < 5; i++)
			if (fork() == 0)
				break;
		for (;;)
			pause();
	}
	close(go[0]);
	if (cgroup_add_pid(h->cg, h->child, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);

	struct cgroup_stats stats = {0};
	for (int i = 0; i < 200 && stats.pids < 6; i++) {
		struct timespec step = {0, 10 * 1000000L};
		nanosleep(&step, NULL);
		if (cgroup_stats(h->cg, &stats, &err) < 0)
			fail_msg("%s", err.message);
	}
	assert_int_equal(stats.pids, 6);

	char *own_pids = own_v1_path("pids");
	char *pids_dir =
		xasprintf("%s%s/ct-unit-test/%s", h->layout.mount[CGROUP_PIDS], own_pids, id);
	free(own_pids);
	if (cgroup_destroy(h->cg, &err) < 0)
		fail_msg("%s", err.message);
	int status = 0;
	assert_int_equal(waitpid(h->child, &status, 0), h->child);
	h->child = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	struct stat st;
	assert_int_equal(stat(pids_dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	free(pids_dir);
	cgroup_free(h->cg);
	h->cg = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_detect, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_create_limits_stats_destroy, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_supervisor_leaf, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_existing_dir_with_processes, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_missing_control_file, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_destroy_kills_listed_pids, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_v1_detect, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v1_create_limits_stats_destroy, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_modes, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_host, host_setup, host_teardown),
		cmocka_unit_test_setup_teardown(test_host_join, host_setup, host_teardown),
		cmocka_unit_test_setup_teardown(test_host_v1_signals, host_setup, host_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
