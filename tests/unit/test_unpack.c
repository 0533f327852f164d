/* Layer unpacking: layers are built here with libarchive's writer (pax), fed
 * plain, gzip and zstd, and the resulting trees checked; hostile members are
 * refused and nothing lands outside the root. Runs as root (device nodes,
 * ownership, trusted.* xattrs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "unpack.h"
#include "util/error.h"
#include "util/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

/* ---- building layers ---------------------------------------------------- */

struct buf {
	unsigned char *data;
	size_t len, cap;
};

static void buf_append(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 4096;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void buf_release(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static la_ssize_t buf_write_cb(struct archive *a, void *opaque, const void *data, size_t len)
{
	buf_append(opaque, data, len);
	return (la_ssize_t)len;
}

enum member_kind { REG, DIRECTORY, SYMLINK, HARDLINK, CHR, BLK, FIFO };

struct spec {
	const char *path;
	enum member_kind kind;
	unsigned perm;
	const char *data; /* REG: contents (NUL-terminated) */
	size_t size;	  /* REG: when data is NULL, that many 'x' bytes */
	const char *link; /* SYMLINK / HARDLINK target */
	int64_t uid, gid;
	time_t mtime;
	long mtime_nsec;
	const char *xattr; /* "name=value" */
	unsigned major, minor;
};

static void add_member(struct archive *a, const struct spec *s)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, s->path);
	static const mode_t types[] = {AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFREG,
				       AE_IFCHR, AE_IFBLK, AE_IFIFO};
	archive_entry_set_filetype(e, types[s->kind]);
	archive_entry_set_perm(e, s->perm ? s->perm : (s->kind == DIRECTORY ? 0755 : 0644));
	archive_entry_set_uid(e, s->uid);
	archive_entry_set_gid(e, s->gid);
	archive_entry_set_mtime(e, s->mtime ? s->mtime : 1600000000, s->mtime_nsec);
	if (s->kind == SYMLINK)
		archive_entry_set_symlink(e, s->link);
	if (s->kind == HARDLINK)
		archive_entry_set_hardlink(e, s->link);
	if (s->kind == CHR || s->kind == BLK) {
		archive_entry_set_rdevmajor(e, s->major);
		archive_entry_set_rdevminor(e, s->minor);
	}
	if (s->xattr) {
		const char *eq = strchr(s->xattr, '=');
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - s->xattr), s->xattr);
		archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
	}
	char *filler = NULL;
	const char *data = s->data;
	size_t size = s->data ? strlen(s->data) : s->size;
	if (s->kind == REG) {
		if (!data) {
			filler = xmalloc(size + 1);
			memset(filler, 'x', size);
			data = filler;
		}
		archive_entry_set_size(e, (la_int64_t)size);
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (s->kind == REG && size > 0)
		assert_int_equal(archive_write_data(a, data, size), (la_ssize_t)size);
	free(filler);
	archive_entry_free(e);
}

/* A pax tar of the members; the format is varied by the caller if needed. */
static void build_tar_format(const struct spec *specs, size_t n, int format, struct buf *out)
{
	struct archive *a = archive_write_new();
	archive_write_set_format(a, format);
	assert_int_equal(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++)
		add_member(a, &specs[i]);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void build_tar(const struct spec *specs, size_t n, struct buf *out)
{
	build_tar_format(specs, n, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, out);
}

enum compression { PLAIN, GZIP, ZSTD };

/* The bytes of in, compressed; false when this libarchive cannot. */
static bool compress_buf(const struct buf *in, enum compression c, struct buf *out)
{
	if (c == PLAIN) {
		buf_append(out, in->data, in->len);
		return true;
	}
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	int r = c == GZIP ? archive_write_add_filter_gzip(a) : archive_write_add_filter_zstd(a);
	if (r != ARCHIVE_OK) {
		archive_write_free(a);
		return false;
	}
	archive_write_set_bytes_per_block(a, 0);
	assert_int_equal(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "layer.tar");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)in->len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, in->data, in->len), (la_ssize_t)in->len);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	return true;
}

static void sha256_string(const void *data, size_t len, char out[DIGEST_STRING_SIZE])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	strcpy(out, "sha256:");
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static int memfd_of(const void *data, size_t len)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int unpack_bytes(const void *data, size_t len, const char *root,
			struct layer_unpack_result *res, struct error *err)
{
	int fd = memfd_of(data, len);
	int rc = layer_unpack(fd, root, res, err);
	close(fd);
	return rc;
}

/* ---- trees ---------------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static char *make_root(void)
{
	char *dir = xstrdup("/tmp/test-unpack-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void at(char *out, size_t size, const char *root, const char *rel)
{
	snprintf(out, size, "%s/%s", root, rel);
}

static struct stat lstat_in(const char *root, const char *rel)
{
	char path[4096];
	struct stat st;
	at(path, sizeof(path), root, rel);
	if (lstat(path, &st) < 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	return st;
}

static bool exists_in(const char *root, const char *rel)
{
	char path[4096];
	struct stat st;
	at(path, sizeof(path), root, rel);
	return lstat(path, &st) == 0;
}

static char *read_in(const char *root, const char *rel)
{
	char path[4096];
	at(path, sizeof(path), root, rel);
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	assert_true(fd >= 0);
	struct buf b = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	buf_append(&b, "", 1);
	return (char *)b.data;
}

static bool dir_is_empty(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", path);
	return system(cmd) == 0;
}

static void assert_error_has(const struct error *err, const char *text)
{
	assert_non_null(err->message);
	if (!strstr(err->message, text))
		fail_msg("error '%s' does not contain '%s'", err->message, text);
}

/* ---- layer_member_check --------------------------------------------------- */

static void test_member_check_table(void **state)
{
	static const struct {
		const char *path;
		mode_t type;
		const char *hardlink, *symlink;
		const char *error; /* NULL: accepted */
	} cases[] = {
		{"etc/passwd", AE_IFREG, NULL, NULL, NULL},
		{"./etc/passwd", AE_IFREG, NULL, NULL, NULL},
		{"etc//x/./y/", AE_IFDIR, NULL, NULL, NULL},
		{"./", AE_IFDIR, NULL, NULL, NULL},
		{".", AE_IFDIR, NULL, NULL, NULL},
		{"...", AE_IFREG, NULL, NULL, NULL},
		{"..a/b..", AE_IFREG, NULL, NULL, NULL},
		{"", AE_IFREG, NULL, NULL, "member '': empty path"},
		{"./", AE_IFREG, NULL, NULL,
		 "member './': only a directory can name the layer root"},
		{"/etc/passwd", AE_IFREG, NULL, NULL, "member '/etc/passwd': absolute path"},
		{"../x", AE_IFREG, NULL, NULL, "member '../x': path climbs out of the layer"},
		{"./../x", AE_IFREG, NULL, NULL, "member './../x': path climbs out of the layer"},
		{"a/../../x", AE_IFREG, NULL, NULL,
		 "member 'a/../../x': path climbs out of the layer"},
		{"a/..", AE_IFDIR, NULL, NULL, "member 'a/..': path climbs out of the layer"},
		{"a\n/../x", AE_IFREG, NULL, NULL, "member 'a\\x0a/../x': path climbs out"},
		{"h", AE_IFREG, "a/b", NULL, NULL},
		{"h", AE_IFREG, "./a", NULL, NULL},
		{"h", AE_IFREG, "../../etc/passwd", NULL,
		 "member 'h': hard link target '../../etc/passwd' climbs out of the layer"},
		{"h", AE_IFREG, "/etc/passwd", NULL,
		 "member 'h': hard link target '/etc/passwd' is absolute"},
		{"h", AE_IFREG, "", NULL, "member 'h': empty hard link target"},
		{"h", AE_IFREG, "./", NULL, "member 'h': hard link to the layer root"},
		{"a", AE_IFLNK, NULL, "/etc", NULL},
		{"a", AE_IFLNK, NULL, "/../../..", NULL},
		{"a", AE_IFLNK, NULL, ".", NULL},
		{"a", AE_IFLNK, NULL, "b/..", NULL},
		{"a/b", AE_IFLNK, NULL, "../c", NULL},
		{"a/b/c", AE_IFLNK, NULL, "./../../d", NULL},
		{"a", AE_IFLNK, NULL, "../../..",
		 "member 'a': symlink target '../../..' climbs out of the layer"},
		{"a", AE_IFLNK, NULL, "..", "symlink target '..' climbs out of the layer"},
		{"a/b", AE_IFLNK, NULL, "../../c", "climbs out of the layer"},
		{"a", AE_IFLNK, NULL, "b/../../c", "climbs out of the layer"},
		{"a", AE_IFLNK, NULL, "", "member 'a': empty symlink target"},
		{"a/.wh.b", AE_IFREG, NULL, NULL, NULL},
		{".wh..wh..opq", AE_IFREG, NULL, NULL, NULL},
		{"a/.wh...", AE_IFREG, NULL, NULL, "member 'a/.wh...': whiteout of '..'"},
		{".wh..", AE_IFREG, NULL, NULL, "whiteout of '.'"},
		{"a/.wh.", AE_IFREG, NULL, NULL, "whiteout without a name"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct error err = ERROR_INIT;
		int rc = layer_member_check(cases[i].path, cases[i].type, cases[i].hardlink,
					    cases[i].symlink, &err);
		if (!cases[i].error) {
			if (rc != 0)
				fail_msg("case %zu (%s) refused: %s", i, cases[i].path,
					 err.message);
			continue;
		}
		if (rc >= 0)
			fail_msg("case %zu (%s) accepted", i, cases[i].path);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(err.code, EINVAL);
		assert_error_has(&err, cases[i].error);
		error_release(&err);
	}
}

/* ---- unpacking ------------------------------------------------------------ */

static const struct spec basic_layer[] = {
	{.path = "./", .kind = DIRECTORY, .perm = 0755, .mtime = 1000},
	{.path = "etc/",
	 .kind = DIRECTORY,
	 .perm = 0750,
	 .uid = 0,
	 .gid = 42,
	 .mtime = 1111,
	 .xattr = "user.dir=d"},
	{.path = "etc/hosts",
	 .data = "127.0.0.1 localhost\n",
	 .perm = 0644,
	 .uid = 1000,
	 .gid = 1001,
	 .mtime = 1234567890,
	 .mtime_nsec = 500000000,
	 .xattr = "user.note=hello"},
	{.path = "etc/big", .size = 3 * 1024 * 1024 + 17, .perm = 0600},
	{.path = "etc/empty", .data = "", .perm = 0400},
	{.path = "bin/su", .data = "#!/bin/sh\n", .perm = 04755, .uid = 1000, .gid = 1000},
	{.path = "bin/sgid", .data = "x", .perm = 02711, .uid = 5, .gid = 6},
	{.path = "bin/hosts-link", .kind = HARDLINK, .link = "etc/hosts"},
	{.path = "bin/hosts-sym",
	 .kind = SYMLINK,
	 .link = "../etc/hosts",
	 .uid = 7,
	 .gid = 8,
	 .mtime = 2222},
	{.path = "bin/abs-sym", .kind = SYMLINK, .link = "/usr/bin/env"},
	{.path = "dev/null", .kind = CHR, .perm = 0666, .major = 1, .minor = 3},
	{.path = "dev/loop0", .kind = BLK, .perm = 0660, .major = 7, .minor = 0, .gid = 6},
	{.path = "run/fifo", .kind = FIFO, .perm = 0620},
	{.path = "deep/a/b/c/file", .data = "deep"},
};

static void check_basic_tree(const char *root)
{
	char *s = read_in(root, "etc/hosts");
	assert_string_equal(s, "127.0.0.1 localhost\n");
	free(s);
	struct stat st = lstat_in(root, "etc/hosts");
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(st.st_mtim.tv_nsec, 500000000);
	char value[64] = {0};
	char path[4096];
	at(path, sizeof(path), root, "etc/hosts");
	assert_int_equal(getxattr(path, "user.note", value, sizeof(value)), 5);
	assert_string_equal(value, "hello");

	st = lstat_in(root, "etc/big");
	assert_int_equal(st.st_size, 3 * 1024 * 1024 + 17);
	assert_int_equal(st.st_mode & 07777, 0600);
	st = lstat_in(root, "etc/empty");
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0400);

	/* Directory: metadata, xattr, and times set after its contents. */
	st = lstat_in(root, "etc");
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_gid, 42);
	assert_int_equal(st.st_mtim.tv_sec, 1111);
	at(path, sizeof(path), root, "etc");
	memset(value, 0, sizeof(value));
	assert_int_equal(getxattr(path, "user.dir", value, sizeof(value)), 1);
	st = lstat_in(root, ".");
	assert_int_equal(st.st_mtim.tv_sec, 1000);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* setuid / setgid survive the chown. */
	st = lstat_in(root, "bin/su");
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_uid, 1000);
	st = lstat_in(root, "bin/sgid");
	assert_int_equal(st.st_mode & 07777, 02711);
	assert_int_equal(st.st_gid, 6);
	/* Parents not in the layer: 0755, root. */
	st = lstat_in(root, "bin");
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 0);
	s = read_in(root, "deep/a/b/c/file");
	assert_string_equal(s, "deep");
	free(s);

	/* Links. */
	struct stat target = lstat_in(root, "etc/hosts");
	st = lstat_in(root, "bin/hosts-link");
	assert_int_equal(st.st_ino, target.st_ino);
	assert_int_equal(target.st_nlink, 2);
	st = lstat_in(root, "bin/hosts-sym");
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	assert_int_equal(st.st_mtim.tv_sec, 2222);
	char link[256] = {0};
	at(path, sizeof(path), root, "bin/hosts-sym");
	assert_int_equal(readlink(path, link, sizeof(link)), strlen("../etc/hosts"));
	assert_string_equal(link, "../etc/hosts");
	memset(link, 0, sizeof(link));
	at(path, sizeof(path), root, "bin/abs-sym");
	assert_true(readlink(path, link, sizeof(link)) > 0);
	assert_string_equal(link, "/usr/bin/env");

	/* Nodes. */
	st = lstat_in(root, "dev/null");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
	assert_int_equal(st.st_mode & 07777, 0666);
	st = lstat_in(root, "dev/loop0");
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(major(st.st_rdev), 7);
	assert_int_equal(st.st_gid, 6);
	st = lstat_in(root, "run/fifo");
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
}

static void unpack_basic(enum compression c)
{
	struct buf tar = {0}, layer = {0};
	build_tar(basic_layer, ARRAY_SIZE(basic_layer), &tar);
	if (!compress_buf(&tar, c, &layer)) {
		buf_release(&tar);
		skip();
	}
	char expected[DIGEST_STRING_SIZE];
	sha256_string(tar.data, tar.len, expected);

	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (unpack_bytes(layer.data, layer.len, root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	assert_string_equal(res.diff_id, expected);
	assert_int_equal(res.members, ARRAY_SIZE(basic_layer));
	assert_int_equal(res.unpacked_bytes,
			 strlen("127.0.0.1 localhost\n") + 3 * 1024 * 1024 + 17 + 10 + 1 + 4);
	check_basic_tree(root);
	rm_rf(root);
	buf_release(&tar);
	buf_release(&layer);
}

static void test_unpack_plain(void **state)
{
	unpack_basic(PLAIN);
}

static void test_unpack_gzip(void **state)
{
	unpack_basic(GZIP);
}

static void test_unpack_zstd(void **state)
{
	unpack_basic(ZSTD);
}

/* A pipe: not seekable, arrives in pieces. */
static void test_unpack_from_pipe(void **state)
{
	struct buf tar = {0}, layer = {0};
	build_tar(basic_layer, ARRAY_SIZE(basic_layer), &tar);
	assert_true(compress_buf(&tar, GZIP, &layer));
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		for (size_t off = 0; off < layer.len;) {
			size_t n = layer.len - off < 1000 ? layer.len - off : 1000;
			ssize_t w = write(p[1], layer.data + off, n);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (layer_unpack(p[0], root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	char expected[DIGEST_STRING_SIZE];
	sha256_string(tar.data, tar.len, expected);
	assert_string_equal(res.diff_id, expected);
	check_basic_tree(root);
	rm_rf(root);
	buf_release(&tar);
	buf_release(&layer);
}

/* The diff_id covers every byte of the uncompressed stream, also what follows
 * the end-of-archive blocks. */
static void test_diff_id_trailing_bytes(void **state)
{
	static const struct spec layer[] = {{.path = "f", .data = "data"}};
	struct buf tar = {0}, gz = {0};
	build_tar(layer, 1, &tar);
	static const char junk[5000] = {1, 2, 3};
	buf_append(&tar, junk, sizeof(junk));
	char expected[DIGEST_STRING_SIZE];
	sha256_string(tar.data, tar.len, expected);
	assert_true(compress_buf(&tar, GZIP, &gz));
	struct buf *inputs[] = {&tar, &gz};
	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		_cleanup_free_ char *root = make_root();
		struct layer_unpack_result res;
		struct error err = ERROR_INIT;
		if (unpack_bytes(inputs[i]->data, inputs[i]->len, root, &res, &err) < 0)
			fail_msg("unpack: %s", err.message);
		assert_string_equal(res.diff_id, expected);
		assert_int_equal(res.members, 1);
		rm_rf(root);
	}
	buf_release(&tar);
	buf_release(&gz);
}

static void test_empty_layer(void **state)
{
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	assert_int_equal(unpack_bytes("", 0, root, &res, &err), 0);
	char expected[DIGEST_STRING_SIZE];
	sha256_string("", 0, expected);
	assert_string_equal(res.diff_id, expected);
	assert_int_equal(res.members, 0);
	/* An empty tar: two zero blocks. */
	static const char zeros[1024];
	assert_int_equal(unpack_bytes(zeros, sizeof(zeros), root, &res, &err), 0);
	sha256_string(zeros, sizeof(zeros), expected);
	assert_string_equal(res.diff_id, expected);
	assert_true(dir_is_empty(root));
	rm_rf(root);
}

static void test_whiteouts(void **state)
{
	static const struct spec layer[] = {
		{.path = "d/", .kind = DIRECTORY},
		{.path = "d/keep", .data = "k"},
		{.path = "d/.wh.gone", .data = ""},
		{.path = ".wh.top", .data = ""},
		{.path = "opq/.wh..wh..opq", .data = ""},
		{.path = "opq/inside", .data = "i"},
		{.path = "x", .data = "replaced by a whiteout"},
		{.path = ".wh.x", .data = ""},
		{.path = "tree/a/b", .data = "b"},
		{.path = ".wh.tree", .data = ""},
		{.path = ".wh..wh.plnk", .kind = DIRECTORY},
	};
	struct buf tar = {0};
	build_tar(layer, ARRAY_SIZE(layer), &tar);
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (unpack_bytes(tar.data, tar.len, root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	const char *whiteouts[] = {"d/gone", "top", "x", "tree"};
	for (size_t i = 0; i < ARRAY_SIZE(whiteouts); i++) {
		struct stat st = lstat_in(root, whiteouts[i]);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(0, 0));
		assert_int_equal(st.st_mode & 07777, 0);
	}
	assert_false(exists_in(root, "d/.wh.gone"));
	assert_false(exists_in(root, ".wh.top"));
	assert_false(exists_in(root, ".wh..wh.plnk"));
	assert_true(exists_in(root, "d/keep"));
	assert_true(exists_in(root, "opq/inside"));
	assert_false(exists_in(root, "opq/.wh..wh..opq"));
	char path[4096], value[8] = {0};
	at(path, sizeof(path), root, "opq");
	assert_int_equal(getxattr(path, "trusted.overlay.opaque", value, sizeof(value)), 1);
	assert_string_equal(value, "y");
	at(path, sizeof(path), root, "d");
	assert_true(getxattr(path, "trusted.overlay.opaque", value, sizeof(value)) < 0);
	rm_rf(root);
	buf_release(&tar);
}

static void test_replacements(void **state)
{
	static const struct spec layer[] = {
		/* file -> directory */
		{.path = "a", .data = "file"},
		{.path = "a/", .kind = DIRECTORY, .perm = 0711},
		{.path = "a/f", .data = "in a"},
		/* directory (with a tree) -> file */
		{.path = "b/c/d", .data = "deep"},
		{.path = "b", .data = "now a file", .perm = 0640},
		/* directory -> directory: kept, metadata updated */
		{.path = "e/", .kind = DIRECTORY, .perm = 0700},
		{.path = "e/x", .data = "x"},
		{.path = "e/", .kind = DIRECTORY, .perm = 0750, .gid = 9, .mtime = 3333},
		/* file -> file, symlink -> file, file -> symlink */
		{.path = "g", .data = "old"},
		{.path = "g", .data = "new"},
		{.path = "s", .kind = SYMLINK, .link = "/etc/passwd"},
		{.path = "s", .data = "plain"},
		{.path = "t", .data = "plain"},
		{.path = "t", .kind = SYMLINK, .link = "g"},
		/* symlink to a directory -> directory */
		{.path = "l", .kind = SYMLINK, .link = "/tmp"},
		{.path = "l/", .kind = DIRECTORY},
		{.path = "l/y", .data = "y"},
		/* hard link over an existing file */
		{.path = "h", .data = "h"},
		{.path = "h", .kind = HARDLINK, .link = "g"},
	};
	struct buf tar = {0};
	build_tar(layer, ARRAY_SIZE(layer), &tar);
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (unpack_bytes(tar.data, tar.len, root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	struct stat st = lstat_in(root, "a");
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_true(exists_in(root, "a/f"));
	st = lstat_in(root, "b");
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	st = lstat_in(root, "e");
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_gid, 9);
	assert_int_equal(st.st_mtim.tv_sec, 3333);
	assert_true(exists_in(root, "e/x"));
	char *s = read_in(root, "g");
	assert_string_equal(s, "new");
	free(s);
	st = lstat_in(root, "s");
	assert_true(S_ISREG(st.st_mode));
	st = lstat_in(root, "t");
	assert_true(S_ISLNK(st.st_mode));
	st = lstat_in(root, "l");
	assert_true(S_ISDIR(st.st_mode));
	assert_true(exists_in(root, "l/y"));
	assert_int_equal(lstat_in(root, "h").st_ino, lstat_in(root, "g").st_ino);
	rm_rf(root);
	buf_release(&tar);
}

/* pax names are UTF-8, gnu names raw bytes: both kept byte for byte, whatever
 * the process locale ("C" here). */
static void test_non_ascii_names(void **state)
{
	static const struct spec pax[] = {{.path = "caf\xc3\xa9/na\xc3\xafve", .data = "u"}};
	static const struct spec gnu[] = {{.path = "latin\xe9", .data = "l"}};
	struct buf a = {0}, b = {0};
	/* The writer converts names from the locale's charset. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8)
		skip();
	locale_t previous = uselocale(utf8);
	build_tar(pax, 1, &a);
	build_tar_format(gnu, 1, ARCHIVE_FORMAT_TAR_GNUTAR, &b);
	uselocale(previous);
	freelocale(utf8);
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (unpack_bytes(a.data, a.len, root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	if (unpack_bytes(b.data, b.len, root, &res, &err) < 0)
		fail_msg("unpack: %s", err.message);
	assert_true(exists_in(root, "caf\xc3\xa9/na\xc3\xafve"));
	assert_true(exists_in(root, "latin\xe9"));
	rm_rf(root);
	buf_release(&a);
	buf_release(&b);
}

/* ---- hostile layers ---------------------------------------------------------- */

static void expect_refused(const struct spec *specs, size_t n, const char *root,
			   const char *message)
{
	struct buf tar = {0};
	build_tar(specs, n, &tar);
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	int rc = unpack_bytes(tar.data, tar.len, root, &res, &err);
	if (rc == 0)
		fail_msg("layer with '%s' accepted", specs[n - 1].path);
	assert_error_has(&err, message);
	error_release(&err);
	buf_release(&tar);
}

static void test_evil_members(void **state)
{
	char name[64], abs_path[128], rel[128], climb[128];
	snprintf(name, sizeof(name), "test-unpack-evil-%d", (int)getpid());
	snprintf(abs_path, sizeof(abs_path), "/tmp/%s", name);
	snprintf(rel, sizeof(rel), "../%s", name);
	snprintf(climb, sizeof(climb), "a/../../%s", name);
	const struct spec absolute[] = {{.path = abs_path, .data = "pwned"}};
	const struct spec dotdot[] = {{.path = rel, .data = "pwned"}};
	const struct spec dotdot2[] = {{.path = "a/", .kind = DIRECTORY},
				       {.path = climb, .data = "pwned"}};
	const struct spec hardlink[] = {
		{.path = "h", .kind = HARDLINK, .link = "../../etc/passwd"}};
	const struct spec symlink[] = {{.path = "a", .kind = SYMLINK, .link = "../../.."}};

	_cleanup_free_ char *root = make_root();
	char msg[256];
	snprintf(msg, sizeof(msg), "member '%s': absolute path", abs_path);
	expect_refused(absolute, ARRAY_SIZE(absolute), root, msg);
	snprintf(msg, sizeof(msg), "member '%s': path climbs out of the layer", rel);
	expect_refused(dotdot, ARRAY_SIZE(dotdot), root, msg);
	snprintf(msg, sizeof(msg), "member '%s': path climbs out of the layer", climb);
	expect_refused(dotdot2, ARRAY_SIZE(dotdot2), root, msg);
	expect_refused(hardlink, ARRAY_SIZE(hardlink), root,
		       "member 'h': hard link target '../../etc/passwd' climbs out of the layer");
	expect_refused(symlink, ARRAY_SIZE(symlink), root,
		       "member 'a': symlink target '../../..' climbs out of the layer");
	struct stat st;
	assert_int_equal(lstat(abs_path, &st), -1);
	assert_false(exists_in(root, "h"));
	/* Only a/ from the dotdot2 layer was written. */
	assert_true(exists_in(root, "a"));
	assert_int_equal(lstat_in(root, "a").st_nlink, 2);
	rm_rf(root);
}

/* Member 1 plants a symlink to a real directory outside (an absolute target:
 * allowed, it is meant for inside the container); member 2 writes through
 * it. The write must stay inside the root, or be refused. */
static void test_planted_symlink(void **state)
{
	_cleanup_free_ char *outside = xstrdup("/tmp/test-unpack-outside-XXXXXX");
	assert_non_null(mkdtemp(outside));
	_cleanup_free_ char *inside = xasprintf("%s/", outside + 1);
	_cleanup_free_ char *through = xasprintf("%s/pwned", outside + 1);

	/* The target does not exist inside the root: refused. */
	const struct spec dangling[] = {
		{.path = "evil", .kind = SYMLINK, .link = outside},
		{.path = "evil/pwned", .data = "pwned"},
	};
	_cleanup_free_ char *root = make_root();
	struct buf tar = {0};
	build_tar(dangling, ARRAY_SIZE(dangling), &tar);
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	if (unpack_bytes(tar.data, tar.len, root, &res, &err) == 0)
		assert_true(exists_in(root, through));
	else
		assert_error_has(&err, "member 'evil/pwned'");
	error_release(&err);
	buf_release(&tar);
	assert_true(dir_is_empty(outside));
	rm_rf(root);
	free(root);

	/* The target exists inside the root: the file is created there. */
	const struct spec resolved[] = {
		{.path = "tmp/", .kind = DIRECTORY},
		{.path = inside, .kind = DIRECTORY},
		{.path = "evil", .kind = SYMLINK, .link = outside},
		{.path = "evil/pwned", .data = "pwned"},
		{.path = "evil/sub/deeper", .data = "pwned"},
		{.path = "rel", .kind = SYMLINK, .link = "evil"},
		{.path = "rel/again", .data = "pwned"},
		{.path = "e", .kind = SYMLINK, .link = "/etc"},
		{.path = "passwd-link", .kind = HARDLINK, .link = "e/passwd"},
	};
	root = make_root();
	build_tar(resolved, ARRAY_SIZE(resolved), &tar);
	int rc = unpack_bytes(tar.data, tar.len, root, &res, &err);
	/* The hard link through "e -> /etc" finds no etc/passwd in the root. */
	assert_int_equal(rc, -ENOENT);
	assert_error_has(&err, "link passwd-link to e/passwd");
	error_release(&err);
	assert_true(exists_in(root, through));
	_cleanup_free_ char *deeper = xasprintf("%s/sub/deeper", outside + 1);
	assert_true(exists_in(root, deeper));
	_cleanup_free_ char *again = xasprintf("%s/again", outside + 1);
	assert_true(exists_in(root, again));
	assert_true(dir_is_empty(outside));
	buf_release(&tar);
	rm_rf(root);
	rmdir(outside);
}

static void test_truncated(void **state)
{
	static const struct spec layer[] = {
		{.path = "a", .data = "a"},
		{.path = "etc/big", .size = 100000},
		{.path = "z", .data = "z"},
	};
	struct buf tar = {0}, gz = {0};
	build_tar(layer, ARRAY_SIZE(layer), &tar);
	assert_true(compress_buf(&tar, GZIP, &gz));
	_cleanup_free_ char *root = make_root();
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	/* In the middle of etc/big's data. */
	assert_int_equal(unpack_bytes(tar.data, 50000, root, &res, &err), -EINVAL);
	assert_error_has(&err, "layer is truncated or corrupt: ");
	assert_error_has(&err, "etc/big");
	error_release(&err);
	/* In the middle of a header. */
	assert_int_equal(unpack_bytes(tar.data, 1024 + 200, root, &res, &err), -EINVAL);
	assert_error_has(&err, "layer is truncated or corrupt: ");
	error_release(&err);
	assert_int_equal(unpack_bytes(gz.data, gz.len / 2, root, &res, &err), -EINVAL);
	assert_error_has(&err, "layer is truncated or corrupt: ");
	error_release(&err);
	/* Not a tar at all. */
	assert_int_equal(unpack_bytes("hello, world", 12, root, &res, &err), -EINVAL);
	assert_error_has(&err, "layer is truncated or corrupt: ");
	error_release(&err);
	/* A corrupt gzip stream. */
	gz.data[gz.len / 2] ^= 0xff;
	gz.data[gz.len / 2 + 1] ^= 0xff;
	assert_true(unpack_bytes(gz.data, gz.len, root, &res, &err) < 0);
	assert_error_has(&err, "layer is truncated or corrupt: ");
	error_release(&err);
	rm_rf(root);
	buf_release(&tar);
	buf_release(&gz);
}

static void test_no_space(void **state)
{
	_cleanup_free_ char *root = make_root();
	if (mount("tmpfs", root, "tmpfs", 0, "size=256k") < 0) {
		rm_rf(root);
		skip();
	}
	static const struct spec layer[] = {
		{.path = "etc/small", .data = "s"},
		{.path = "etc/big", .size = 2 * 1024 * 1024},
	};
	struct buf tar = {0};
	build_tar(layer, ARRAY_SIZE(layer), &tar);
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	assert_int_equal(unpack_bytes(tar.data, tar.len, root, &res, &err), -ENOSPC);
	assert_string_equal(err.message, "write etc/big: No space left on device");
	error_release(&err);
	umount(root);
	rm_rf(root);
	buf_release(&tar);
}

static void test_root_must_exist(void **state)
{
	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	assert_int_equal(unpack_bytes("", 0, "/nonexistent/root", &res, &err), -ENOENT);
	assert_error_has(&err, "/nonexistent/root");
	error_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_check_table),
		cmocka_unit_test(test_unpack_plain),
		cmocka_unit_test(test_unpack_gzip),
		cmocka_unit_test(test_unpack_zstd),
		cmocka_unit_test(test_unpack_from_pipe),
		cmocka_unit_test(test_diff_id_trailing_bytes),
		cmocka_unit_test(test_empty_layer),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_replacements),
		cmocka_unit_test(test_non_ascii_names),
		cmocka_unit_test(test_evil_members),
		cmocka_unit_test(test_planted_symlink),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_no_space),
		cmocka_unit_test(test_root_must_exist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
