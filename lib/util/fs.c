#include "fs.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return error_errno(err, errno, "create directory %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return error_errno(err, errno, "create directory %s", copy);
	struct stat st;
	if (stat(copy, &st) < 0)
		return error_errno(err, errno, "stat %s", copy);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, ENOTDIR, "%s exists and is not a directory", copy);
	return 0;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len_out, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "open %s", path);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max)
				return error_set(err, EFBIG, "%s is larger than %zu bytes", path,
						 max);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_errno(err, errno, "read %s", path);
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > max)
		return error_set(err, EFBIG, "%s is larger than %zu bytes", path, max);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	*out = move_ptr(buf);
	return 0;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
			 struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return error_errno(err, errno, "create %s", tmp);
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			unlink(tmp);
			return error_errno(err, saved, "write %s", tmp);
		}
		p += n;
		len -= n;
	}
	if (durable && fsync(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return error_errno(err, saved, "fsync %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return error_errno(err, saved, "rename %s to %s", tmp, path);
	}
	if (!durable)
		return 0;
	_cleanup_free_ char *dir = fs_dirname(path);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct error *err)
{
	return write_replace(path, data, len, mode, true, err);
}

int fs_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
			  struct error *err)
{
	return write_replace(path, data, len, mode, false, err);
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, slash - path);
}

char *fs_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return xstrdup(slash ? slash + 1 : path);
}

char *fs_self_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n < 0)
		return xstrdup(".");
	buf[n] = '\0';
	return fs_dirname(buf);
}

int fs_proc_start_time(pid_t pid, unsigned long long *start, struct error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, 1 << 16, &text, NULL, err) < 0)
		return -err->code;
	/* The command name may hold spaces and parentheses: parse after the last ')'. */
	char *p = strrchr(text, ')');
	if (!p)
		return error_set(err, EINVAL, "cannot parse %s", path);
	p++;
	/* Fields after ')' start at field 3 (state); start time is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return error_set(err, EINVAL, "cannot parse %s", path);
	}
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

/* nftw() passes no user data: its callback reports through these. The
 * callers (the apiserver's one loop) walk one tree at a time. */
static int64_t walk_bytes;
static int walk_errno;
static char *walk_failed;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F)
		walk_bytes += st->st_size;
	int rc = flag == FTW_DP || flag == FTW_DNR || flag == FTW_D ? rmdir(path) : unlink(path);
	if (rc < 0 && !walk_failed) {
		walk_errno = errno;
		walk_failed = xstrdup(path);
	}
	return 0;
}

int fs_remove_tree(const char *path, int64_t *bytes, struct error *err)
{
	walk_bytes = 0;
	walk_errno = 0;
	walk_failed = NULL;
	int rc = nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (bytes)
		*bytes = walk_bytes;
	_cleanup_free_ char *failed = move_ptr(walk_failed);
	if (rc < 0 && errno != ENOENT)
		return error_errno(err, errno, "remove %s", path);
	if (failed)
		return error_errno(err, walk_errno, "remove %s", failed);
	return 0;
}
