#include "content.h"
#include "util/fs.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

struct content_store {
	char *blobs;  /* content/blobs/sha256 */
	char *ingest; /* content/ingest */
};

struct content_writer {
	struct content_store *cs;
	char *path;
	int fd;
	struct digest_ctx *digest;
	uint64_t size;
	char buf[1 << 16]; /* writes go out in large chunks */
	size_t buffered;
};

int content_open(const char *app_root, struct content_store **out, struct error *err)
{
	struct content_store *cs = xzalloc(sizeof(*cs));
	cs->blobs = xasprintf("%s/content/blobs/sha256", app_root);
	cs->ingest = xasprintf("%s/content/ingest", app_root);
	if (fs_mkdir_p(cs->blobs, 0755, err) < 0 || fs_mkdir_p(cs->ingest, 0700, err) < 0) {
		content_close(cs);
		return -err->code;
	}
	*out = cs;
	return 0;
}

void content_close(struct content_store *cs)
{
	if (!cs)
		return;
	free(cs->blobs);
	free(cs->ingest);
	free(cs);
}

char *content_blob_path(const struct content_store *cs, const char *digest)
{
	return xasprintf("%s/%s", cs->blobs, digest_hex(digest));
}

bool content_exists(const struct content_store *cs, const char *digest)
{
	return content_size(cs, digest) >= 0;
}

int64_t content_size(const struct content_store *cs, const char *digest)
{
	if (!digest_valid(digest))
		return -1;
	_cleanup_free_ char *path = content_blob_path(cs, digest);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return st.st_size;
}

int content_open_blob(const struct content_store *cs, const char *digest, int *fd,
		      struct error *err)
{
	if (!digest_valid(digest))
		return error_set(err, EINVAL, "'%s' is not a valid digest", digest);
	_cleanup_free_ char *path = content_blob_path(cs, digest);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		if (errno == ENOENT)
			return error_set(err, ENOENT, "blob %s is not in the content store",
					 digest);
		return error_errno(err, errno, "open blob %s", digest);
	}
	return 0;
}

int content_read_blob(const struct content_store *cs, const char *digest, size_t max, char **data,
		      size_t *len, struct error *err)
{
	if (!digest_valid(digest))
		return error_set(err, EINVAL, "'%s' is not a valid digest", digest);
	if (!content_exists(cs, digest))
		return error_set(err, ENOENT, "blob %s is not in the content store", digest);
	_cleanup_free_ char *path = content_blob_path(cs, digest);
	return fs_read_file(path, max, data, len, err);
}

int content_writer_new(struct content_store *cs, struct content_writer **out, struct error *err)
{
	uint64_t nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce = (uint64_t)time_monotonic_us() ^ (uint64_t)getpid() << 32;
	struct content_writer *w = xzalloc(sizeof(*w));
	w->cs = cs;
	w->path = xasprintf("%s/%016llx", cs->ingest, (unsigned long long)nonce);
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int rc = error_errno(err, errno, "create %s", w->path);
		free(w->path);
		free(w);
		return rc;
	}
	w->digest = digest_new();
	*out = w;
	return 0;
}

static int writer_flush(struct content_writer *w, struct error *err)
{
	const char *p = w->buf;
	size_t left = w->buffered;
	while (left > 0) {
		ssize_t n = write(w->fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_errno(err, errno, "write to the content store");
		}
		p += n;
		left -= n;
	}
	w->buffered = 0;
	return 0;
}

int content_writer_write(struct content_writer *w, const void *data, size_t len, struct error *err)
{
	digest_update(w->digest, data, len);
	w->size += len;
	const char *p = data;
	while (len > 0) {
		if (w->buffered == 0 && len >= sizeof(w->buf)) {
			/* large chunks go straight through */
			ssize_t n = write(w->fd, p, len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return error_errno(err, errno, "write to the content store");
			}
			p += n;
			len -= n;
			continue;
		}
		size_t room = sizeof(w->buf) - w->buffered;
		size_t take = len < room ? len : room;
		memcpy(w->buf + w->buffered, p, take);
		w->buffered += take;
		p += take;
		len -= take;
		if (w->buffered == sizeof(w->buf) && writer_flush(w, err) < 0)
			return -err->code;
	}
	return 0;
}

uint64_t content_writer_size(const struct content_writer *w)
{
	return w->size;
}

void content_writer_abort(struct content_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->path);
	digest_free(w->digest);
	free(w->path);
	free(w);
}

int content_writer_commit(struct content_writer *w, const char *expected,
			  char digest[DIGEST_STRING_SIZE], bool *created, struct error *err)
{
	_cleanup_free_ char *path = NULL;
	int rc = writer_flush(w, err);
	digest_final(w->digest, digest);
	w->digest = NULL;
	if (rc < 0)
		goto fail;
	if (expected && strcmp(expected, digest) != 0) {
		rc = error_set(err, EINVAL, "digest mismatch: expected %s, content is %s", expected,
			       digest);
		goto fail;
	}
	*created = false;
	if (content_exists(w->cs, digest)) {
		content_writer_abort(w);
		return 0;
	}
	/* Durable before visible: a crash never leaves a torn blob under its name. */
	if (fdatasync(w->fd) < 0) {
		rc = error_errno(err, errno, "sync blob %s", digest);
		goto fail;
	}
	close(w->fd);
	w->fd = -1;
	path = content_blob_path(w->cs, digest);
	if (rename(w->path, path) < 0) {
		rc = error_errno(err, errno, "commit blob %s", digest);
		goto fail;
	}
	*created = true;
	free(w->path);
	free(w);
	return 0;
fail:
	content_writer_abort(w);
	return rc;
}

int content_put(struct content_store *cs, const void *data, size_t len, const char *expected,
		char digest[DIGEST_STRING_SIZE], bool *created, struct error *err)
{
	struct content_writer *w = NULL;
	if (content_writer_new(cs, &w, err) < 0)
		return -err->code;
	if (content_writer_write(w, data, len, err) < 0) {
		content_writer_abort(w);
		return -err->code;
	}
	return content_writer_commit(w, expected, digest, created, err);
}

int content_delete(struct content_store *cs, const char *digest, struct error *err)
{
	if (!digest_valid(digest))
		return error_set(err, EINVAL, "'%s' is not a valid digest", digest);
	_cleanup_free_ char *path = content_blob_path(cs, digest);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_errno(err, errno, "delete blob %s", digest);
	return 0;
}

int content_list(const struct content_store *cs, char ***digests, size_t *n, struct error *err)
{
	*digests = NULL;
	*n = 0;
	DIR *d = opendir(cs->blobs);
	if (!d)
		return error_errno(err, errno, "open %s", cs->blobs);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
		if (!digest_valid(digest))
			continue;
		*digests = xrealloc(*digests, sizeof(char *) * (*n + 1));
		(*digests)[(*n)++] = move_ptr(digest);
	}
	closedir(d);
	return 0;
}

void content_clean_ingest(struct content_store *cs)
{
	DIR *d = opendir(cs->ingest);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}
