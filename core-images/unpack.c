/* Layer unpacking (see unpack.h).
 *
 * Two libarchive readers are chained: the first one ("raw" format, the
 * compression filters) turns the layer into the uncompressed tar stream; the
 * second one (tar formats only) reads that stream through a callback which
 * hashes every block it passes on, so that the diff_id covers exactly the
 * bytes the tar reader sees, then whatever follows the end-of-archive marker.
 * A helper thread does the hashing, in place, while the tar side works.
 *
 * Every file system call is relative to a directory fd obtained with
 * openat2(RESOLVE_IN_ROOT) from the snapshot root, and names only the last
 * component of the member: a symlink in the tree (planted by this layer) is
 * followed as if the snapshot were the root, never out of it. */
#include "unpack.h"
#include "util/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define LAYER_READ_BLOCK     (1024 * 1024)
#define WHITEOUT_PREFIX	     ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE	     ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

/* ---- member names ---------------------------------------------------- */

/* A member name fit for a message: control characters become \xNN, so that a
 * hostile name cannot drive the terminal that shows the error. */
static char *member_display(const char *path)
{
	size_t len = strlen(path);
	char *out = xmalloc(4 * len + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

/* Calls fn on every component of path, skipping empty and "." ones; stops
 * at the first call returning false. */
static bool path_each_component(const char *path, bool (*fn)(const char *name, size_t len, void *),
				void *data)
{
	const char *p = path;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len > 0 && !(len == 1 && p[0] == '.') && !fn(p, len, data))
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

static bool component_is_dotdot(const char *name, size_t len)
{
	return len == 2 && name[0] == '.' && name[1] == '.';
}

static bool count_component(const char *name, size_t len, void *data)
{
	int *depth = data;
	if (component_is_dotdot(name, len))
		return false;
	(*depth)++;
	return true;
}

/* Number of components of path, or -1 when one of them is "..". */
static int path_depth(const char *path)
{
	int depth = 0;
	return path_each_component(path, count_component, &depth) ? depth : -1;
}

static bool climb_component(const char *name, size_t len, void *data)
{
	int *depth = data;
	*depth += component_is_dotdot(name, len) ? -1 : 1;
	return *depth >= 0;
}

static bool keep_last_component(const char *name, size_t len, void *data)
{
	const char **last = data;
	*last = name;
	return true;
}

/* The last real component of path ("a/b/" -> "b/"), NULL for the root. */
static const char *path_last_component(const char *path)
{
	const char *last = NULL;
	path_each_component(path, keep_last_component, &last);
	return last;
}

static bool str_is_component(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

int layer_member_check(const char *path, mode_t type, const char *hardlink, const char *symlink,
		       struct error *err)
{
	if (!path || !*path)
		return error_set(err, EINVAL, "member '': empty path");
	_cleanup_free_ char *shown = member_display(path);
	if (path[0] == '/')
		return error_set(err, EINVAL, "member '%s': absolute path", shown);
	int depth = path_depth(path);
	if (depth < 0)
		return error_set(err, EINVAL, "member '%s': path climbs out of the layer", shown);
	if (depth == 0 && type != AE_IFDIR)
		return error_set(err, EINVAL,
				 "member '%s': only a directory can name the layer root", shown);

	const char *last = path_last_component(path);
	size_t last_len = last ? strcspn(last, "/") : 0;
	if (last && last_len > strlen(WHITEOUT_PREFIX) &&
	    strncmp(last, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
		const char *victim = last + strlen(WHITEOUT_PREFIX);
		size_t victim_len = last_len - strlen(WHITEOUT_PREFIX);
		if (str_is_component(victim, victim_len, ".") ||
		    str_is_component(victim, victim_len, ".."))
			return error_set(err, EINVAL, "member '%s': whiteout of '%.*s'", shown,
					 (int)victim_len, victim);
	} else if (last && str_is_component(last, last_len, WHITEOUT_PREFIX)) {
		return error_set(err, EINVAL, "member '%s': whiteout without a name", shown);
	}

	if (hardlink) {
		_cleanup_free_ char *target = member_display(hardlink);
		if (!*hardlink)
			return error_set(err, EINVAL, "member '%s': empty hard link target", shown);
		if (hardlink[0] == '/')
			return error_set(err, EINVAL,
					 "member '%s': hard link target '%s' is absolute", shown,
					 target);
		int target_depth = path_depth(hardlink);
		if (target_depth < 0)
			return error_set(
				err, EINVAL,
				"member '%s': hard link target '%s' climbs out of the layer", shown,
				target);
		if (target_depth == 0)
			return error_set(err, EINVAL, "member '%s': hard link to the layer root",
					 shown);
	}
	if (symlink) {
		if (!*symlink)
			return error_set(err, EINVAL, "member '%s': empty symlink target", shown);
		/* Climbing is counted from the directory holding the link. */
		int from = depth - 1;
		if (symlink[0] != '/' && !path_each_component(symlink, climb_component, &from)) {
			_cleanup_free_ char *target = member_display(symlink);
			return error_set(err, EINVAL,
					 "member '%s': symlink target '%s' climbs out of the layer",
					 shown, target);
		}
	}
	return 0;
}

/* "./usr//bin/." -> "usr/bin"; the root is "". path has no ".." left. */
static char *path_normalize(const char *path)
{
	char *out = xmalloc(strlen(path) + 1), *o = out;
	const char *p = path;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (o != out)
				*o++ = '/';
			memcpy(o, p, len);
			o += len;
		}
		p = *end ? end + 1 : end;
	}
	*o = '\0';
	return out;
}

/* True when path is within (or is) ancestor; "" is the root. */
static bool path_within(const char *path, const char *ancestor)
{
	size_t len = strlen(ancestor);
	if (len == 0)
		return true;
	return strncmp(path, ancestor, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* ---- the stream ------------------------------------------------------ */

/* Hashing costs as much CPU as writing the tree of an uncompressed layer: a
 * thread hashes each block of the tar stream in place while the tar reader
 * works on the same block. The block stays valid until the raw reader is
 * asked for the next one, so the hasher is waited for just before that. */
struct layer_hasher {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pthread_t thread;
	bool running; /* false: hash inline */
	bool stop;
	const void *data; /* the block to hash; NULL when idle */
	size_t len;
	struct digest_ctx *digest;
};

static void *layer_hasher_main(void *opaque)
{
	struct layer_hasher *h = opaque;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->data && !h->stop)
			pthread_cond_wait(&h->changed, &h->lock);
		if (!h->data)
			break;
		pthread_mutex_unlock(&h->lock);
		digest_update(h->digest, h->data, h->len);
		pthread_mutex_lock(&h->lock);
		h->data = NULL;
		pthread_cond_broadcast(&h->changed);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void layer_hasher_start(struct layer_hasher *h)
{
	h->digest = digest_new();
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->changed, NULL);
	/* The thread takes no signal: the daemon's signalfd sees them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Without a thread the stream is hashed inline: slower, not wrong. */
	h->running = pthread_create(&h->thread, NULL, layer_hasher_main, h) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Returns once the last block given is hashed (its memory is free again). */
static void layer_hasher_wait(struct layer_hasher *h)
{
	if (!h->running)
		return;
	pthread_mutex_lock(&h->lock);
	while (h->data)
		pthread_cond_wait(&h->changed, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void layer_hasher_update(struct layer_hasher *h, const void *data, size_t len)
{
	if (!h->running) {
		digest_update(h->digest, data, len);
		return;
	}
	pthread_mutex_lock(&h->lock);
	h->data = data;
	h->len = len;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

static void layer_hasher_stop(struct layer_hasher *h)
{
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		while (h->data)
			pthread_cond_wait(&h->changed, &h->lock);
		h->stop = true;
		pthread_cond_broadcast(&h->changed);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
		h->running = false;
	}
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->changed);
}

struct layer_source {
	int fd;
	char *block;		   /* LAYER_READ_BLOCK bytes for the compressed side */
	int read_errno;		   /* a read(2) error on fd, 0 if none */
	uint64_t compressed_bytes; /* read from fd */
	struct archive *raw;	   /* decompressing reader, format "raw" */
	bool raw_eof;
	bool raw_failed;
	struct layer_hasher *hasher; /* over the uncompressed tar stream */
};

static la_ssize_t layer_source_read_fd(struct archive *a, void *opaque, const void **buf)
{
	struct layer_source *src = opaque;
	for (;;) {
		ssize_t n = read(src->fd, src->block, LAYER_READ_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			src->read_errno = errno;
			archive_set_error(a, errno, "read layer: %s", strerror(errno));
			return -1;
		}
		src->compressed_bytes += (uint64_t)n;
		*buf = src->block;
		return n;
	}
}

/* The tar reader's input: the decompressed stream, hashed on the way (a is
 * NULL when draining the stream after the tar reader is done). */
static la_ssize_t layer_source_read_tar(struct archive *a, void *opaque, const void **buf)
{
	struct layer_source *src = opaque;
	/* The tar reader is done with the previous block; the raw reader may
	 * overwrite it once the hasher is done too. */
	layer_hasher_wait(src->hasher);
	while (!src->raw_eof) {
		size_t size = 0;
		la_int64_t offset = 0;
		int r = archive_read_data_block(src->raw, buf, &size, &offset);
		if (r == ARCHIVE_EOF) {
			src->raw_eof = true;
			break;
		}
		if (r < ARCHIVE_WARN) {
			src->raw_failed = true;
			if (a)
				archive_set_error(a, archive_errno(src->raw), "%s",
						  archive_error_string(src->raw));
			return -1;
		}
		if (size == 0)
			continue;
		layer_hasher_update(src->hasher, *buf, size);
		return (la_ssize_t)size;
	}
	*buf = NULL;
	return 0;
}

/* A failure of reader a (the tar reader or the raw one) as an error. */
static int layer_source_fail(struct layer_source *src, struct archive *a, const char *member,
			     struct error *err)
{
	if (src->read_errno)
		return error_set(err, src->read_errno, "read layer: %s", strerror(src->read_errno));
	if (src->raw_failed)
		a = src->raw;
	const char *msg = archive_error_string(a);
	/* Some truncations fail without a message from libarchive. */
	if (!msg)
		msg = src->raw_eof ? "unexpected end of the tar stream" : "unknown error";
	if (member) {
		_cleanup_free_ char *shown = member_display(member);
		return error_set(err, EINVAL, "layer is truncated or corrupt: %s (in member '%s')",
				 msg, shown);
	}
	return error_set(err, EINVAL, "layer is truncated or corrupt: %s", msg);
}

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

/* ---- the tree -------------------------------------------------------- */

struct dir_times {
	char *path; /* normalized; NULL once the directory was removed */
	struct timespec times[2];
};

struct unpacker {
	int rootfd;	  /* O_PATH */
	char *cached_dir; /* normalized path of cached_fd; NULL: no cache */
	int cached_fd;
	struct dir_times *dirs; /* directories whose times are set at the end */
	size_t n_dirs, cap_dirs;
	struct layer_unpack_result *out;
};

static void unpacker_release(struct unpacker *u)
{
	if (u->rootfd >= 0)
		close(u->rootfd);
	if (u->cached_fd >= 0)
		close(u->cached_fd);
	free(u->cached_dir);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
}

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	/* EAGAIN: a concurrent rename somewhere in the file system; retry. */
	for (int attempt = 0; attempt < 128; attempt++) {
		long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			return (int)fd;
	}
	return -1;
}

static void unpacker_cache_set(struct unpacker *u, const char *dir, int fd)
{
	if (u->cached_fd >= 0)
		close(u->cached_fd);
	free(u->cached_dir);
	u->cached_dir = xstrdup(dir);
	u->cached_fd = fd;
}

/* path (and whatever was below it) was removed or replaced: forget what was
 * learnt through it. */
static void unpacker_forget(struct unpacker *u, const char *path)
{
	if (u->cached_dir && path_within(u->cached_dir, path)) {
		close(u->cached_fd);
		u->cached_fd = -1;
		free(u->cached_dir);
		u->cached_dir = NULL;
	}
	for (size_t i = 0; i < u->n_dirs; i++) {
		if (u->dirs[i].path && path_within(u->dirs[i].path, path)) {
			free(u->dirs[i].path);
			u->dirs[i].path = NULL;
		}
	}
}

/* Creates the missing directories of dir, one component at a time, each
 * new one relative to the fd of its (already resolved) parent. */
static int unpacker_mkdirs(struct unpacker *u, const char *dir, const char *member,
			   struct error *err)
{
	_cleanup_free_ char *prefix = xstrdup(dir);
	_cleanup_close_ int cur = -1;
	bool creating = false;
	char *name = prefix;
	for (;;) {
		char *slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		int at = cur >= 0 ? cur : u->rootfd;
		int fd = -1;
		if (!creating) {
			fd = openat2_in_root(u->rootfd, prefix, O_PATH | O_DIRECTORY);
			if (fd < 0 && errno != ENOENT)
				goto fail;
		}
		if (fd < 0) {
			creating = true;
			if (mkdirat(at, name, 0755) < 0 && errno != EEXIST)
				goto fail;
			/* EEXIST here is a dangling symlink (or a race): not followed. */
			fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				goto fail;
			/* 0755 whatever the umask, as Docker does. */
			if (fchmod(fd, 0755) < 0) {
				int saved = errno;
				close(fd);
				errno = saved;
				goto fail;
			}
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (!slash)
			return move_fd(cur);
		*slash = '/';
		name = slash + 1;
	}
fail:;
	int saved = errno;
	_cleanup_free_ char *shown = member_display(member);
	_cleanup_free_ char *shown_dir = member_display(prefix);
	return error_errno(err, saved, "member '%s': parent directory %s: %s", shown, shown_dir,
			   strerror(saved));
}

/* A directory fd for dir (normalized, "" for the root), created if missing.
 * Borrowed: valid until the next call or unpacker_forget(). */
static int unpacker_dir(struct unpacker *u, const char *dir, const char *member, struct error *err)
{
	if (!*dir)
		return u->rootfd;
	if (u->cached_dir && strcmp(u->cached_dir, dir) == 0)
		return u->cached_fd;
	int fd = openat2_in_root(u->rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT) {
		fd = unpacker_mkdirs(u, dir, member, err);
		if (fd < 0)
			return fd;
	} else if (fd < 0) {
		int saved = errno;
		_cleanup_free_ char *shown = member_display(member);
		return error_errno(err, saved, "member '%s': parent directory: %s", shown,
				   strerror(saved));
	}
	unpacker_cache_set(u, dir, fd);
	return fd;
}

static int remove_tree_contents(int fd);

/* Removes name (and the tree below it when it is a directory); errno set on
 * failure. ENOENT is success. */
static int remove_entry(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -1;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (remove_tree_contents(fd) < 0)
		return -1;
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/* Empties the directory fd (taken over). */
static int remove_tree_contents(int fd)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* Passes until one finds nothing: removing while reading may skip. */
	for (bool removed = true; removed;) {
		removed = false;
		rewinddir(d);
		errno = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (remove_entry(dirfd(d), de->d_name) < 0) {
				int saved = errno;
				closedir(d);
				errno = saved;
				return -1;
			}
			removed = true;
		}
		if (errno) {
			int saved = errno;
			closedir(d);
			errno = saved;
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* Makes room for a new entry called name (member path norm). */
static int unpacker_replace(struct unpacker *u, int dirfd, const char *name, const char *norm,
			    const char *member, struct error *err)
{
	unpacker_forget(u, norm);
	if (remove_entry(dirfd, name) < 0) {
		int saved = errno;
		_cleanup_free_ char *shown = member_display(member);
		return error_set(err, saved, "replace %s: %s", shown, strerror(saved));
	}
	return 0;
}

/* ---- metadata -------------------------------------------------------- */

static void entry_times(struct archive_entry *e, struct timespec times[2])
{
	times[1].tv_sec = 0;
	times[1].tv_nsec = UTIME_OMIT;
	if (archive_entry_mtime_is_set(e)) {
		times[1].tv_sec = archive_entry_mtime(e);
		times[1].tv_nsec = archive_entry_mtime_nsec(e);
	}
	times[0] = times[1];
	if (archive_entry_atime_is_set(e)) {
		times[0].tv_sec = archive_entry_atime(e);
		times[0].tv_nsec = archive_entry_atime_nsec(e);
	}
}

static bool times_omitted(const struct timespec times[2])
{
	return times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT;
}

static int entry_owner(struct archive_entry *e, const char *member, uid_t *uid, gid_t *gid,
		       struct error *err)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
	/* (uid_t)-1 would mean "leave unchanged" to chown. */
	if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX) {
		_cleanup_free_ char *shown = member_display(member);
		return error_set(err, EINVAL, "member '%s': owner %lld:%lld out of range", shown,
				 (long long)u, (long long)g);
	}
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static int member_fail(struct error *err, int code, const char *what, const char *member)
{
	_cleanup_free_ char *shown = member_display(member);
	return error_set(err, code, "%s %s: %s", what, shown, strerror(code));
}

/* Owner, then mode (chown clears setuid/setgid), then xattrs (chown and
 * writes clear security.capability), then times. */
static int apply_fd_metadata(int fd, struct archive_entry *e, const char *member, bool set_times,
			     struct error *err)
{
	uid_t uid;
	gid_t gid;
	int rc = entry_owner(e, member, &uid, &gid, err);
	if (rc < 0)
		return rc;
	if (fchown(fd, uid, gid) < 0)
		return member_fail(err, errno, "chown", member);
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return member_fail(err, errno, "chmod", member);
	if (archive_entry_xattr_reset(e) > 0) {
		const char *name;
		const void *value;
		size_t size;
		while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
			if (fsetxattr(fd, name, value, size, 0) == 0)
				continue;
			/* As Docker: a file system (or an unprivileged user) that cannot
			 * hold this xattr namespace does not fail the layer. */
			if (errno == ENOTSUP || errno == EPERM)
				continue;
			int saved = errno;
			_cleanup_free_ char *shown = member_display(member);
			return error_errno(err, saved, "set xattr %s on %s: %s", name, shown,
					   strerror(saved));
		}
	}
	if (set_times) {
		struct timespec times[2];
		entry_times(e, times);
		if (!times_omitted(times) && futimens(fd, times) < 0)
			return member_fail(err, errno, "set times of", member);
	}
	return 0;
}

/* Owner and times of a node that cannot be opened for writing. */
static int apply_name_metadata(int dirfd, const char *name, struct archive_entry *e,
			       const char *member, bool set_mode, struct error *err)
{
	uid_t uid;
	gid_t gid;
	int rc = entry_owner(e, member, &uid, &gid, err);
	if (rc < 0)
		return rc;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return member_fail(err, errno, "chown", member);
	/* Only for device nodes and fifos this function just created (so not a
	 * symlink that fchmodat could follow). */
	if (set_mode && fchmodat(dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return member_fail(err, errno, "chmod", member);
	struct timespec times[2];
	entry_times(e, times);
	if (!times_omitted(times) && utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return member_fail(err, errno, "set times of", member);
	return 0;
}

static void unpacker_record_dir(struct unpacker *u, const char *norm, struct archive_entry *e)
{
	struct timespec times[2];
	entry_times(e, times);
	if (times_omitted(times))
		return;
	if (u->n_dirs == u->cap_dirs) {
		u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 64;
		u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
	}
	struct dir_times *d = &u->dirs[u->n_dirs++];
	d->path = xstrdup(norm);
	d->times[0] = times[0];
	d->times[1] = times[1];
}

/* Directory times last: creating their contents changed them. */
static int unpacker_fix_dir_times(struct unpacker *u, struct error *err)
{
	for (size_t i = 0; i < u->n_dirs; i++) {
		const char *path = u->dirs[i].path;
		if (!path)
			continue;
		if (!*path) {
			_cleanup_close_ int fd =
				openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || futimens(fd, u->dirs[i].times) < 0)
				return member_fail(err, errno, "set times of", ".");
			continue;
		}
		_cleanup_free_ char *parent = xstrdup(path);
		char *slash = strrchr(parent, '/');
		const char *name = path;
		if (slash) {
			*slash = '\0';
			name = path + (slash - parent) + 1;
		} else {
			parent[0] = '\0';
		}
		int dirfd = unpacker_dir(u, parent, path, err);
		if (dirfd < 0)
			return dirfd;
		if (utimensat(dirfd, name, u->dirs[i].times, AT_SYMLINK_NOFOLLOW) < 0)
			return member_fail(err, errno, "set times of", path);
	}
	return 0;
}

/* ---- members --------------------------------------------------------- */

struct member {
	struct archive *tar;
	struct archive_entry *entry;
	const char *path; /* as in the archive */
	const char *norm; /* normalized */
	const char *name; /* last component of norm */
	int dirfd;	  /* the directory holding name */
};

static int write_data(struct unpacker *u, struct layer_source *src, const struct member *m, int fd,
		      struct error *err)
{
	la_int64_t end = 0;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(m->tar, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return layer_source_fail(src, m->tar, m->path, err);
		const char *p = buf;
		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return member_fail(err, n < 0 ? errno : EIO, "write", m->path);
			p += n;
			size -= (size_t)n;
			offset += n;
		}
		if (offset > end)
			end = offset;
	}
	/* A sparse file ending in a hole. */
	la_int64_t size = archive_entry_size(m->entry);
	if (end < size && ftruncate(fd, size) < 0)
		return member_fail(err, errno, "write", m->path);
	u->out->unpacked_bytes += (uint64_t)size;
	return 0;
}

static int unpack_file(struct unpacker *u, struct layer_source *src, const struct member *m,
		       struct error *err)
{
	int rc;
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	_cleanup_close_ int fd = openat(m->dirfd, m->name, flags, 0600);
	if (fd < 0 && errno == EEXIST) {
		rc = unpacker_replace(u, m->dirfd, m->name, m->norm, m->path, err);
		if (rc < 0)
			return rc;
		fd = openat(m->dirfd, m->name, flags, 0600);
	}
	if (fd < 0)
		return member_fail(err, errno, "create", m->path);
	rc = write_data(u, src, m, fd, err);
	if (rc < 0)
		return rc;
	rc = apply_fd_metadata(fd, m->entry, m->path, true, err);
	if (rc < 0)
		return rc;
	/* Some file systems report write errors only here. */
	if (close(move_fd(fd)) < 0 && errno != EINTR)
		return member_fail(err, errno, "write", m->path);
	return 0;
}

static int unpack_dir(struct unpacker *u, const struct member *m, struct error *err)
{
	int rc;
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	if (mkdirat(m->dirfd, m->name, 0700) < 0 && errno != EEXIST)
		return member_fail(err, errno, "mkdir", m->path);
	/* An existing directory is kept (its metadata updated); anything else
	 * with that name is replaced. */
	_cleanup_close_ int fd = openat(m->dirfd, m->name, flags);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
		rc = unpacker_replace(u, m->dirfd, m->name, m->norm, m->path, err);
		if (rc < 0)
			return rc;
		if (mkdirat(m->dirfd, m->name, 0700) < 0)
			return member_fail(err, errno, "mkdir", m->path);
		fd = openat(m->dirfd, m->name, flags);
	}
	if (fd < 0)
		return member_fail(err, errno, "open", m->path);
	rc = apply_fd_metadata(fd, m->entry, m->path, false, err);
	if (rc < 0)
		return rc;
	unpacker_record_dir(u, m->norm, m->entry);
	/* Members usually follow their directory: it is the next parent. */
	unpacker_cache_set(u, m->norm, move_fd(fd));
	return 0;
}

static int unpack_root(struct unpacker *u, const struct member *m, struct error *err)
{
	_cleanup_close_ int fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return member_fail(err, errno, "open", m->path);
	int rc = apply_fd_metadata(fd, m->entry, m->path, false, err);
	if (rc < 0)
		return rc;
	unpacker_record_dir(u, "", m->entry);
	return 0;
}

static int unpack_symlink(struct unpacker *u, const struct member *m, struct error *err)
{
	const char *target = archive_entry_symlink(m->entry);
	if (symlinkat(target, m->dirfd, m->name) < 0) {
		if (errno != EEXIST)
			return member_fail(err, errno, "symlink", m->path);
		int rc = unpacker_replace(u, m->dirfd, m->name, m->norm, m->path, err);
		if (rc < 0)
			return rc;
		if (symlinkat(target, m->dirfd, m->name) < 0)
			return member_fail(err, errno, "symlink", m->path);
	}
	/* Paths resolved through this name now lead elsewhere. */
	unpacker_forget(u, m->norm);
	/* No xattrs: there is no fd-relative lsetxattr before Linux 6.13. */
	return apply_name_metadata(m->dirfd, m->name, m->entry, m->path, false, err);
}

static bool same_inode(int fd, int dirfd, const char *name)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int link_fd(int fd, int dirfd, const char *name)
{
	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (in the initial namespace
	 * before Linux 6.10); the fd's magic link does not. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

static int unpack_hardlink(struct unpacker *u, const struct member *m, struct error *err)
{
	_cleanup_free_ char *target = path_normalize(archive_entry_hardlink(m->entry));
	_cleanup_close_ int fd = openat2_in_root(u->rootfd, target, O_PATH | O_NOFOLLOW);
	if (fd < 0) {
		int saved = errno;
		_cleanup_free_ char *shown = member_display(m->path);
		_cleanup_free_ char *shown_target = member_display(target);
		return error_errno(err, saved, "link %s to %s: %s", shown, shown_target,
				   strerror(saved));
	}
	if (link_fd(fd, m->dirfd, m->name) < 0) {
		if (errno == EEXIST && same_inode(fd, m->dirfd, m->name))
			return 0;
		if (errno == EEXIST) {
			int rc = unpacker_replace(u, m->dirfd, m->name, m->norm, m->path, err);
			if (rc < 0)
				return rc;
			if (link_fd(fd, m->dirfd, m->name) == 0)
				return 0;
		}
		int saved = errno;
		_cleanup_free_ char *shown = member_display(m->path);
		_cleanup_free_ char *shown_target = member_display(target);
		return error_errno(err, saved, "link %s to %s: %s", shown, shown_target,
				   strerror(saved));
	}
	/* The inode's metadata is the target's, as tar does. */
	return 0;
}

static int unpack_node(struct unpacker *u, const struct member *m, mode_t type, struct error *err)
{
	dev_t dev = 0;
	if (type != AE_IFIFO)
		dev = makedev(archive_entry_rdevmajor(m->entry), archive_entry_rdevminor(m->entry));
	if (mknodat(m->dirfd, m->name, type | 0600, dev) < 0) {
		if (errno != EEXIST)
			return member_fail(err, errno, "mknod", m->path);
		int rc = unpacker_replace(u, m->dirfd, m->name, m->norm, m->path, err);
		if (rc < 0)
			return rc;
		if (mknodat(m->dirfd, m->name, type | 0600, dev) < 0)
			return member_fail(err, errno, "mknod", m->path);
	}
	return apply_name_metadata(m->dirfd, m->name, m->entry, m->path, true, err);
}

/* ".wh.NAME": NAME is deleted in this layer; overlayfs reads that from a 0/0
 * character device. ".wh..wh..opq": the directory hides the lower layers. */
static int unpack_whiteout(struct unpacker *u, const struct member *m, struct error *err)
{
	if (strcmp(m->name, WHITEOUT_OPAQUE) == 0) {
		_cleanup_close_ int fd = openat(m->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsetxattr(fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
			return member_fail(err, errno, "mark opaque:", m->path);
		return 0;
	}
	/* Other ".wh..wh." names are aufs bookkeeping (.wh..wh.plnk ...): Docker
	 * skips them too. */
	if (strncmp(m->name, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0)
		return 0;
	const char *victim = m->name + strlen(WHITEOUT_PREFIX);
	size_t dir_len = (size_t)(m->name - m->norm);
	_cleanup_free_ char *victim_path = xasprintf("%.*s%s", (int)dir_len, m->norm, victim);
	int rc = unpacker_replace(u, m->dirfd, victim, victim_path, m->path, err);
	if (rc < 0)
		return rc;
	if (mknodat(m->dirfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return member_fail(err, errno, "whiteout", m->path);
	return 0;
}

static int unpack_member(struct unpacker *u, struct layer_source *src, struct archive *tar,
			 struct archive_entry *entry, struct error *err)
{
	const char *path = archive_entry_pathname(entry);
	if (!path)
		return error_set(err, EINVAL,
				 "layer is truncated or corrupt: member %llu has no name",
				 (unsigned long long)u->out->members + 1);
	mode_t type = archive_entry_filetype(entry);
	const char *hardlink = archive_entry_hardlink(entry);
	const char *symlink = type == AE_IFLNK ? archive_entry_symlink(entry) : NULL;
	if (type == AE_IFLNK && !symlink && !hardlink)
		symlink = "";
	int rc = layer_member_check(path, type, hardlink, symlink, err);
	if (rc < 0)
		return rc;

	_cleanup_free_ char *norm = path_normalize(path);
	struct member m = {.tar = tar, .entry = entry, .path = path, .norm = norm};
	char *slash = strrchr(norm, '/');
	m.name = slash ? slash + 1 : norm;
	if (!*norm)
		return unpack_root(u, &m, err);

	_cleanup_free_ char *dir = xstrndup(norm, slash ? (size_t)(slash - norm) : 0);
	m.dirfd = unpacker_dir(u, dir, path, err);
	if (m.dirfd < 0)
		return m.dirfd;

	if (strncmp(m.name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return unpack_whiteout(u, &m, err);
	if (hardlink)
		return unpack_hardlink(u, &m, err);
	switch (type) {
	case AE_IFREG:
		return unpack_file(u, src, &m, err);
	case AE_IFDIR:
		return unpack_dir(u, &m, err);
	case AE_IFLNK:
		return unpack_symlink(u, &m, err);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return unpack_node(u, &m, type, err);
	default: {
		_cleanup_free_ char *shown = member_display(path);
		return error_set(err, EINVAL, "member '%s': unsupported type %#o", shown,
				 (unsigned)type);
	}
	}
}

/* libarchive converts pax names (UTF-8) to the charset of the thread's
 * locale: under a non-UTF-8 locale set by the program, the names on disk
 * would change. In C.UTF-8 the conversion keeps the bytes (as in "C"). */
struct locale_switch {
	locale_t utf8;
	locale_t previous;
};

static void locale_switch_enter(struct locale_switch *ls)
{
	ls->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	ls->previous = ls->utf8 ? uselocale(ls->utf8) : (locale_t)0;
}

static void locale_switch_leave(struct locale_switch *ls)
{
	if (!ls->utf8)
		return;
	uselocale(ls->previous);
	freelocale(ls->utf8);
}

static int layer_read_members(struct unpacker *u, struct layer_source *src, struct error *err)
{
	_cleanup_archive_ struct archive *tar = archive_read_new();
	if (!tar)
		return error_set(err, ENOMEM, "libarchive: cannot allocate a reader");
	archive_read_support_format_tar(tar);
	int r = archive_read_open2(tar, src, NULL, layer_source_read_tar, NULL, NULL);
	for (;;) {
		struct archive_entry *entry;
		if (r == ARCHIVE_OK)
			r = archive_read_next_header(tar, &entry);
		if (r == ARCHIVE_EOF)
			return 0;
		/* ARCHIVE_WARN: e.g. an unknown pax keyword; the member is usable. */
		if (r < ARCHIVE_WARN)
			return layer_source_fail(src, tar, NULL, err);
		int rc = unpack_member(u, src, tar, entry, err);
		if (rc < 0)
			return rc;
		u->out->members++;
		r = ARCHIVE_OK;
	}
}

static int layer_unpack_stream(int fd, int rootfd, struct layer_unpack_result *out,
			       struct error *err)
{
	_cleanup_free_ char *block = xmalloc(LAYER_READ_BLOCK);
	_cleanup_archive_ struct archive *raw = archive_read_new();
	if (!raw)
		return error_set(err, ENOMEM, "libarchive: cannot allocate a reader");
	/* Named filters rather than _all(): none of these runs an external
	 * program on the layer's bytes. */
	archive_read_support_filter_gzip(raw);
	archive_read_support_filter_zstd(raw);
	archive_read_support_filter_xz(raw);
	archive_read_support_filter_bzip2(raw);
	archive_read_support_format_raw(raw);
	struct layer_hasher hasher = {0};
	layer_hasher_start(&hasher);
	struct layer_source src = {.fd = fd, .block = block, .raw = raw, .hasher = &hasher};

	int rc = 0;
	struct archive_entry *entry;
	int r = archive_read_open2(raw, &src, NULL, layer_source_read_fd, NULL, NULL);
	if (r == ARCHIVE_OK)
		r = archive_read_next_header(raw, &entry);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
		/* Not one byte: an empty layer, as for Docker. */
		if (src.read_errno || src.compressed_bytes > 0)
			rc = layer_source_fail(&src, raw, NULL, err);
	} else {
		struct unpacker u = {.rootfd = rootfd, .cached_fd = -1, .out = out};
		rc = layer_read_members(&u, &src, err);
		/* The digest covers the stream to its end: the zero blocks after
		 * the end-of-archive marker and the rest of the last record. */
		while (rc == 0 && !src.raw_eof) {
			const void *buf;
			if (layer_source_read_tar(NULL, &src, &buf) < 0)
				rc = layer_source_fail(&src, raw, NULL, err);
		}
		if (rc == 0)
			rc = unpacker_fix_dir_times(&u, err);
		u.rootfd = -1; /* closed by layer_unpack() */
		unpacker_release(&u);
	}
	layer_hasher_stop(&hasher);
	if (rc == 0)
		digest_final(move_ptr(hasher.digest), out->diff_id);
	digest_free(hasher.digest);
	return rc;
}

int layer_unpack(int fd, const char *root, struct layer_unpack_result *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return error_errno(err, errno, "open %s", root);
	struct locale_switch ls;
	locale_switch_enter(&ls);
	int rc = layer_unpack_stream(fd, rootfd, out, err);
	locale_switch_leave(&ls);
	return rc;
}
