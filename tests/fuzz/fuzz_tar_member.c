/* libFuzzer target: the members of an image layer.
 *
 * 1. layer_member_check() on fields cut from the input: the first byte picks
 *    the member type and whether a hard-link / symlink target is given, the
 *    rest is split at NUL bytes into path, hard-link target, symlink target.
 *    An accepted member is checked against the rules independently.
 * 2. An input that starts like a layer (a tar header, gzip or zstd magic) is
 *    unpacked with layer_unpack() into a fresh directory next to an empty
 *    "outside" directory, which must still be empty afterwards; both are
 *    removed after each run. */
#include "unpack.h"
#include "util/util.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define FUZZ_LAYER_MAX (64 * 1024)

static const mode_t member_types[] = {AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR,
				      AE_IFBLK, AE_IFIFO, 0};

static bool has_dotdot_component(const char *path)
{
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static void fuzz_member_check(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	uint8_t selector = data[0];
	_cleanup_free_ char *text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	/* Up to three NUL-separated fields; missing ones are empty. */
	const char *fields[3] = {"", "", ""};
	char *p = text, *end = text + size - 1;
	for (int i = 0; i < 3 && p <= end; i++) {
		fields[i] = p;
		p += strlen(p) + 1;
	}
	mode_t type = member_types[(selector & 0x0f) % ARRAY_SIZE(member_types)];
	const char *hardlink = selector & 0x10 ? fields[1] : NULL;
	const char *symlink = selector & 0x20 ? fields[2] : NULL;

	struct error err = ERROR_INIT;
	int rc = layer_member_check(fields[0], type, hardlink, symlink, &err);
	if (rc < 0) {
		/* A refusal is EINVAL and names the member. */
		if (rc != -EINVAL || !err.message || strncmp(err.message, "member '", 8) != 0)
			abort();
		error_release(&err);
		return;
	}
	if (error_is_set(&err))
		abort();
	if (!fields[0][0] || fields[0][0] == '/' || has_dotdot_component(fields[0]))
		abort();
	if (hardlink && (!hardlink[0] || hardlink[0] == '/' || has_dotdot_component(hardlink)))
		abort();
	if (symlink && !symlink[0])
		abort();
}

/* Removes name below parent, whatever it is. */
static void remove_tree_at(int parent, const char *name)
{
	if (unlinkat(parent, name, 0) == 0 || errno != EISDIR)
		return;
	/* Removing while reading may skip entries: a few passes. */
	for (int pass = 0; pass < 4; pass++) {
		int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return;
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			return;
		}
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				remove_tree_at(dirfd(d), de->d_name);
		closedir(d);
		if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
			return;
	}
}

static bool looks_like_layer(const uint8_t *data, size_t size)
{
	static const uint8_t gzip_magic[] = {0x1f, 0x8b};
	static const uint8_t zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};
	if (size >= 2 && memcmp(data, gzip_magic, sizeof(gzip_magic)) == 0)
		return true;
	if (size >= 4 && memcmp(data, zstd_magic, sizeof(zstd_magic)) == 0)
		return true;
	return size >= 262 && memcmp(data + 257, "ustar", 5) == 0;
}

static void fuzz_unpack(const uint8_t *data, size_t size)
{
	if (size > FUZZ_LAYER_MAX || !looks_like_layer(data, size))
		return;
	char base[] = "/tmp/fuzz-unpack-XXXXXX";
	if (!mkdtemp(base))
		abort();
	_cleanup_free_ char *root = xasprintf("%s/root", base);
	_cleanup_free_ char *outside = xasprintf("%s/outside", base);
	if (mkdir(root, 0755) < 0 || mkdir(outside, 0755) < 0)
		abort();
	int fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();

	struct layer_unpack_result res;
	struct error err = ERROR_INIT;
	int rc = layer_unpack(fd, root, &res, &err);
	close(fd);
	if (rc < 0 && (!err.message || rc != -err.code))
		abort();
	if (rc == 0 && (error_is_set(&err) || !digest_valid(res.diff_id)))
		abort();
	error_release(&err);
	/* Nothing may land next to the root. */
	if (rmdir(outside) < 0)
		abort();

	int basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		abort();
	remove_tree_at(basefd, "root");
	close(basefd);
	if (rmdir(base) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_member_check(data, size);
	fuzz_unpack(data, size);
	return 0;
}
