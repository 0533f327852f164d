/* Layer unpacking into a snapshot directory (DESIGN §3, §6).
 *
 * A layer is a tar stream, plain or gzip or zstd (detected from the bytes).
 * Every member is checked before anything is written (layer_member_check),
 * and every write goes through openat2(RESOLVE_IN_ROOT) relative to the
 * snapshot root, so that a symlink planted by this or an earlier member can
 * never redirect a write outside the snapshot. Whiteouts become overlayfs
 * whiteouts: ".wh.NAME" -> a 0/0 character device NAME, ".wh..wh..opq" ->
 * the xattr trusted.overlay.opaque="y" on its directory. Ownership, modes,
 * mtimes, xattrs, hard links, symlinks and device nodes are kept. */
#ifndef CONTAINER_UNPACK_H
#define CONTAINER_UNPACK_H

#include "util/digest.h"
#include "util/error.h"
#include <stdint.h>
#include <sys/types.h>

struct layer_unpack_result {
	char diff_id[DIGEST_STRING_SIZE]; /* sha256 of the uncompressed tar stream */
	uint64_t unpacked_bytes;	  /* sum of regular file sizes written */
	uint64_t members;
};

/* Unpacks the layer read from fd into the existing empty directory root.
 * On error the directory may hold a partial tree: the caller removes it. */
int layer_unpack(int fd, const char *root, struct layer_unpack_result *out, struct error *err);

/* Member types, as in libarchive's archive_entry_filetype(). */
/* Refuses: an empty path, an absolute path, a ".." component, a hard-link
 * target that is absolute or has a ".." component, a relative symlink
 * target that climbs above the layer root from the member's directory.
 * Errors name the member: "member '../x': path climbs out of the layer". */
int layer_member_check(const char *path, mode_t type, const char *hardlink, const char *symlink,
		       struct error *err);

#endif
