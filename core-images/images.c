#include "images.h"
#include "content.h"
#include "unpack.h"
#include "json/jsonutil.h"
#include "oci/image.h"
#include "oci/reference.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#define MAX_JSON_BLOB (4u * 1024 * 1024) /* manifests, configs, indexes */

struct images {
	struct store *store;
	struct content_store *content;
	char *snapshots; /* <app-root>/snapshots */
	char arch[16];	 /* the host's, in OCI terms */
};

/* What an operation added, so that a failure can take all of it back. */
struct undo {
	char **blobs; /* digests of blobs this operation created */
	size_t nblobs;
	char **snapshots; /* chain ids of snapshots this operation created */
	size_t nsnapshots;
};

static void undo_add(char ***list, size_t *n, const char *value)
{
	*list = xrealloc(*list, sizeof(char *) * (*n + 1));
	(*list)[(*n)++] = xstrdup(value);
}

static int remove_tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		log_warn("remove %s: %s", path, strerror(errno));
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_tree_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static char *snapshot_dir(const struct images *im, int64_t id)
{
	return xasprintf("%s/%lld", im->snapshots, (long long)id);
}

static void snapshot_remove(struct images *im, const char *chain_id)
{
	struct store_snapshot s;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (store_snapshot_get(im->store, chain_id, &s, &err) < 0)
		return;
	_cleanup_free_ char *dir = snapshot_dir(im, s.id);
	remove_tree(dir);
	if (store_snapshot_delete(im->store, chain_id, &err) < 0)
		log_warn("%s", err.message);
	store_snapshot_release(&s);
}

static void undo_run(struct images *im, struct undo *u, bool rollback)
{
	for (size_t i = 0; i < u->nblobs; i++) {
		if (rollback) {
			_cleanup_error_ struct error err = ERROR_INIT;
			content_delete(im->content, u->blobs[i], &err);
		}
		free(u->blobs[i]);
	}
	for (size_t i = 0; i < u->nsnapshots; i++) {
		if (rollback)
			snapshot_remove(im, u->snapshots[i]);
		free(u->snapshots[i]);
	}
	free(u->blobs);
	free(u->snapshots);
	memset(u, 0, sizeof(*u));
}

static const char *host_arch(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	static const struct {
		const char *machine, *arch;
	} map[] = {
		{"x86_64", "amd64"},	{"aarch64", "arm64"},	{"armv7l", "arm"},
		{"i686", "386"},	{"ppc64le", "ppc64le"}, {"s390x", "s390x"},
		{"riscv64", "riscv64"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(u.machine, map[i].machine) == 0)
			return map[i].arch;
	return "amd64";
}

int images_open(const struct paths *paths, struct images **out, struct error *err)
{
	struct images *im = xzalloc(sizeof(*im));
	snprintf(im->arch, sizeof(im->arch), "%s", host_arch());
	im->snapshots = xasprintf("%s/snapshots", paths->app_root);
	_cleanup_free_ char *db = xasprintf("%s/container.db", paths->app_root);
	if (fs_mkdir_p(im->snapshots, 0700, err) < 0 ||
	    content_open(paths->app_root, &im->content, err) < 0 ||
	    store_open(db, &im->store, err) < 0) {
		images_close(im);
		return -err->code;
	}
	content_clean_ingest(im->content);
	*out = im;
	return 0;
}

void images_close(struct images *im)
{
	if (!im)
		return;
	store_close(im->store);
	content_close(im->content);
	free(im->snapshots);
	free(im);
}

/* ---- Reading images ---- */

struct image {
	char *reference; /* as stored */
	char *digest;	 /* of the manifest */
	struct oci_manifest manifest;
	struct oci_config config;
	json_t *manifest_json;
	json_t *config_json;
	char **chain_ids; /* one per layer */
};

static void image_release(struct image *img)
{
	free(img->reference);
	free(img->digest);
	oci_manifest_release(&img->manifest);
	oci_config_release(&img->config);
	json_decref(img->manifest_json);
	json_decref(img->config_json);
	if (img->chain_ids)
		for (size_t i = 0; i < img->manifest.nlayers; i++)
			free(img->chain_ids[i]);
	free(img->chain_ids);
	memset(img, 0, sizeof(*img));
}

static json_t *load_json(const char *text, size_t len)
{
	return json_loadb(text, len, 0, NULL);
}

/* Reads and checks the manifest with this digest, its config, and that
 * every layer blob is present. */
static int image_read(struct images *im, const char *digest, struct image *img, struct error *err)
{
	memset(img, 0, sizeof(*img));
	img->digest = xstrdup(digest);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (content_read_blob(im->content, digest, MAX_JSON_BLOB, &text, &len, err) < 0)
		return error_prefix(err, "manifest");
	if (oci_manifest_parse(text, len, &img->manifest, err) < 0)
		return error_prefix(err, "manifest %s", digest);
	img->manifest_json = load_json(text, len);
	_cleanup_free_ char *ctext = NULL;
	if (content_read_blob(im->content, img->manifest.config.digest, MAX_JSON_BLOB, &ctext, &len,
			      err) < 0)
		return error_prefix(err, "manifest %s: config", digest);
	if (oci_config_parse(ctext, len, &img->config, err) < 0)
		return error_prefix(err, "config %s", img->manifest.config.digest);
	img->config_json = load_json(ctext, len);
	if (img->config.ndiff_ids != img->manifest.nlayers)
		return error_set(err, EINVAL,
				 "manifest %s has %zu layers but its config lists %zu diff_ids",
				 digest, img->manifest.nlayers, img->config.ndiff_ids);
	img->chain_ids = xzalloc(sizeof(char *) * (img->manifest.nlayers + 1));
	for (size_t i = 0; i < img->manifest.nlayers; i++) {
		struct oci_descriptor *l = &img->manifest.layers[i];
		enum oci_compression c;
		if (oci_layer_compression(l->media_type, &c, err) < 0)
			return error_prefix(err, "manifest %s: layers[%zu]", digest, i);
		if (!content_exists(im->content, l->digest))
			return error_set(err, ENOENT,
					 "manifest %s: layer %s is missing from the archive and "
					 "the content store",
					 digest, l->digest);
		char chain[DIGEST_STRING_SIZE];
		oci_chain_id(img->config.diff_ids, i + 1, chain);
		img->chain_ids[i] = xstrdup(chain);
	}
	return 0;
}

/* Resolves what a user typed: a reference (normalized), or the digest of a
 * dangling image. */
static int resolve(struct images *im, const char *text, struct store_image_ref *ref,
		   struct error *err)
{
	memset(ref, 0, sizeof(*ref));
	if (digest_valid(text)) {
		if (store_image_ref_get(im->store, text, ref, err) == 0)
			return 0;
		error_release(err);
		/* any reference to that manifest */
		struct store_image_ref *list = NULL;
		size_t n = 0;
		if (store_image_ref_list(im->store, &list, &n, err) < 0)
			return -err->code;
		int rc = error_set(err, ENOENT, "no image with digest %s", text);
		for (size_t i = 0; i < n; i++) {
			if (rc < 0 && strcmp(list[i].digest, text) == 0) {
				*ref = list[i];
				memset(&list[i], 0, sizeof(list[i]));
				error_release(err);
				rc = 0;
			}
		}
		store_image_ref_list_free(list, n);
		return rc;
	}
	_cleanup_free_ char *normalized = oci_reference_normalize(text, err);
	if (!normalized)
		return -err->code;
	if (store_image_ref_get(im->store, normalized, ref, err) < 0) {
		error_release(err);
		return error_set(err, ENOENT, "image %s not found", normalized);
	}
	return 0;
}

/* ---- Snapshots ---- */

/* Unpacks layer i of img unless its snapshot exists; records new ones in u. */
static int ensure_snapshot(struct images *im, struct image *img, size_t i, struct undo *u,
			   struct error *err)
{
	const char *chain = img->chain_ids[i];
	struct store_snapshot existing;
	if (store_snapshot_get(im->store, chain, &existing, err) == 0) {
		_cleanup_free_ char *dir = snapshot_dir(im, existing.id);
		struct stat st;
		bool ok = stat(dir, &st) == 0;
		store_snapshot_release(&existing);
		if (ok)
			return 0;
		/* a row without its directory: unpack again */
	}
	error_release(err);
	int64_t id = 0;
	if (store_snapshot_next_id(im->store, &id, err) < 0)
		return -err->code;
	_cleanup_free_ char *dir = snapshot_dir(im, id);
	_cleanup_free_ char *fs = xasprintf("%s/fs", dir);
	remove_tree(dir); /* a leftover of a crash */
	if (fs_mkdir_p(fs, 0755, err) < 0)
		return -err->code;
	const struct oci_descriptor *layer = &img->manifest.layers[i];
	_cleanup_close_ int fd = -1;
	struct layer_unpack_result res;
	memset(&res, 0, sizeof(res));
	int rc = content_open_blob(im->content, layer->digest, &fd, err);
	if (rc == 0)
		rc = layer_unpack(fd, fs, &res, err);
	if (rc == 0 && strcmp(res.diff_id, img->config.diff_ids[i]) != 0)
		rc = error_set(err, EINVAL,
			       "layer %s: its uncompressed digest %s does not match the config's "
			       "diff_id %s",
			       layer->digest, res.diff_id, img->config.diff_ids[i]);
	if (rc < 0) {
		remove_tree(dir);
		return error_prefix(err, "unpack layer %s", layer->digest);
	}
	struct store_snapshot s = {
		.chain_id = (char *)chain,
		.id = id,
		.parent = i > 0 ? img->chain_ids[i - 1] : NULL,
		.diff_id = img->config.diff_ids[i],
		.size = (int64_t)res.unpacked_bytes,
		.created = time_realtime_ms(),
	};
	if (store_snapshot_put(im->store, &s, err) < 0) {
		remove_tree(dir);
		return -err->code;
	}
	undo_add(&u->snapshots, &u->nsnapshots, chain);
	log_info("unpacked layer %s as snapshot %lld (%llu bytes, %llu members)", layer->digest,
		 (long long)id, (unsigned long long)res.unpacked_bytes,
		 (unsigned long long)res.members);
	return 0;
}

static int unpack_all(struct images *im, struct image *img, struct undo *u, struct error *err)
{
	for (size_t i = 0; i < img->manifest.nlayers; i++)
		if (ensure_snapshot(im, img, i, u, err) < 0)
			return -err->code;
	return 0;
}

/* ---- Loading archives ---- */

struct archive_source {
	int fd;
	uint64_t done, total;
	int64_t last_report_ms;
	images_progress_fn progress;
	void *data;
	char buf[1 << 17];
};

static la_ssize_t source_read(struct archive *a, void *opaque, const void **buffer)
{
	struct archive_source *src = opaque;
	for (;;) {
		ssize_t n = read(src->fd, src->buf, sizeof(src->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "read: %s", strerror(errno));
			return -1;
		}
		src->done += n;
		int64_t now = time_monotonic_ms();
		if (src->progress && (n == 0 || now - src->last_report_ms >= 100)) {
			src->last_report_ms = now;
			src->progress(src->data, src->done, src->total);
		}
		*buffer = src->buf;
		return n;
	}
}

/* A member of the archive: where its bytes went. */
struct member {
	char *name;
	char *digest; /* in the content store; NULL for in-memory or links */
	char *data;   /* the top-level JSON files */
	size_t len;
	char *link; /* symlink target, resolved to a member name */
};

struct archive_members {
	struct member *items;
	size_t n;
};

static void members_free(struct archive_members *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->items[i].name);
		free(m->items[i].digest);
		free(m->items[i].data);
		free(m->items[i].link);
	}
	free(m->items);
	memset(m, 0, sizeof(*m));
}

static struct member *member_find(struct archive_members *m, const char *name)
{
	for (int hops = 0; hops < 8; hops++) {
		struct member *found = NULL;
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(m->items[i].name, name) == 0)
				found = &m->items[i];
		if (!found || !found->link)
			return found;
		name = found->link;
	}
	return NULL;
}

static bool kept_in_memory(const char *name)
{
	return strcmp(name, "index.json") == 0 || strcmp(name, "manifest.json") == 0 ||
	       strcmp(name, "oci-layout") == 0 || strcmp(name, "repositories") == 0;
}

/* "blobs/sha256/<hex>" names its digest; anything else has none. */
static int expected_digest(const char *name, char out[DIGEST_STRING_SIZE], struct error *err)
{
	if (!str_has_prefix(name, "blobs/"))
		return 0;
	if (!str_has_prefix(name, "blobs/sha256/"))
		return error_set(err, EINVAL, "member '%s': only sha256 blobs are supported", name);
	snprintf(out, DIGEST_STRING_SIZE, "sha256:%s", name + strlen("blobs/sha256/"));
	if (!digest_valid(out))
		return error_set(err, EINVAL, "member '%s': not a valid blob name", name);
	return 1;
}

static char *normalize_member_name(const char *name)
{
	while (str_has_prefix(name, "./"))
		name += 2;
	return xstrdup(name);
}

/* Symlink targets in `docker save` archives are relative to the member's directory. */
static char *resolve_link(const char *name, const char *target)
{
	_cleanup_free_ char *dir = fs_dirname(name);
	char *joined = strcmp(dir, ".") == 0 ? xstrdup(target) : xasprintf("%s/%s", dir, target);
	/* fold "x/../" pairs */
	char *parts[256];
	size_t n = 0;
	for (char *save = NULL, *p = strtok_r(joined, "/", &save); p && n < 256;
	     p = strtok_r(NULL, "/", &save)) {
		if (strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0) {
			if (n > 0)
				n--;
			continue;
		}
		parts[n++] = p;
	}
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(parts[i]) + 1;
	char *out = xzalloc(len);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, "/");
		strcat(out, parts[i]);
	}
	free(joined);
	return out;
}

static int read_members(struct images *im, struct archive *a, struct archive_members *m,
			struct undo *u, struct error *err)
{
	struct archive_entry *entry;
	for (;;) {
		int r = archive_read_next_header(a, &entry);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return error_set(err, EINVAL, "read archive: %s",
					 archive_error_string(a) ? archive_error_string(a)
								 : "not a tar archive");
		const char *raw = archive_entry_pathname(entry);
		if (!raw)
			return error_set(err, EINVAL, "read archive: a member has no name");
		mode_t type = archive_entry_filetype(entry);
		if (layer_member_check(raw, type, NULL, NULL, err) < 0)
			return error_prefix(err, "image archive");
		_cleanup_free_ char *name = normalize_member_name(raw);
		if (type == AE_IFDIR || !*name)
			continue;
		if (type == AE_IFLNK) {
			m->items = xrealloc(m->items, sizeof(*m->items) * (m->n + 1));
			m->items[m->n++] = (struct member){
				.name = move_ptr(name),
				.link = resolve_link(raw, archive_entry_symlink(entry)),
			};
			continue;
		}
		if (type != AE_IFREG)
			return error_set(err, EINVAL,
					 "image archive: member '%s' is neither a file nor a "
					 "directory",
					 raw);
		struct member mem = {.name = move_ptr(name)};
		if (kept_in_memory(mem.name)) {
			size_t cap = 4096;
			mem.data = xmalloc(cap + 1);
			for (;;) {
				if (mem.len == cap) {
					if (cap >= MAX_JSON_BLOB) {
						free(mem.data);
						free(mem.name);
						return error_set(err, EFBIG,
								 "image archive: %s is too large",
								 raw);
					}
					cap *= 2;
					mem.data = xrealloc(mem.data, cap + 1);
				}
				la_ssize_t n =
					archive_read_data(a, mem.data + mem.len, cap - mem.len);
				if (n < 0) {
					free(mem.data);
					free(mem.name);
					return error_set(err, EIO, "read archive member %s: %s",
							 raw, archive_error_string(a));
				}
				if (n == 0)
					break;
				mem.len += n;
			}
			mem.data[mem.len] = '\0';
		} else {
			char expected[DIGEST_STRING_SIZE];
			int named = expected_digest(mem.name, expected, err);
			if (named < 0) {
				free(mem.name);
				return -err->code;
			}
			struct content_writer *w = NULL;
			if (content_writer_new(im->content, &w, err) < 0) {
				free(mem.name);
				return -err->code;
			}
			const void *block;
			size_t size;
			la_int64_t offset;
			int rr;
			while ((rr = archive_read_data_block(a, &block, &size, &offset)) ==
			       ARCHIVE_OK) {
				if (content_writer_write(w, block, size, err) < 0) {
					content_writer_abort(w);
					free(mem.name);
					return error_prefix(err, "member %s", raw);
				}
			}
			if (rr != ARCHIVE_EOF) {
				content_writer_abort(w);
				free(mem.name);
				return error_set(err, EIO, "read archive member %s: %s", raw,
						 archive_error_string(a));
			}
			char digest[DIGEST_STRING_SIZE];
			bool created = false;
			if (content_writer_commit(w, named ? expected : NULL, digest, &created,
						  err) < 0) {
				free(mem.name);
				return error_prefix(err, "member %s", raw);
			}
			if (created)
				undo_add(&u->blobs, &u->nblobs, digest);
			mem.digest = xstrdup(digest);
		}
		m->items = xrealloc(m->items, sizeof(*m->items) * (m->n + 1));
		m->items[m->n++] = mem;
	}
}

/* A manifest to tag once everything checks out. */
struct loaded {
	char *digest; /* manifest */
	char **names; /* normalized references; empty: dangling */
	size_t nnames;
};

static void loaded_free(struct loaded *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].digest);
		for (size_t k = 0; k < l[i].nnames; k++)
			free(l[i].names[k]);
		free(l[i].names);
	}
	free(l);
}

static void loaded_add(struct loaded **list, size_t *n, const char *digest, const char *name)
{
	struct loaded *l = NULL;
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i].digest, digest) == 0)
			l = &(*list)[i];
	if (!l) {
		*list = xrealloc(*list, sizeof(**list) * (*n + 1));
		l = &(*list)[(*n)++];
		memset(l, 0, sizeof(*l));
		l->digest = xstrdup(digest);
	}
	if (!name)
		return;
	for (size_t k = 0; k < l->nnames; k++)
		if (strcmp(l->names[k], name) == 0)
			return;
	l->names = xrealloc(l->names, sizeof(char *) * (l->nnames + 1));
	l->names[l->nnames++] = xstrdup(name);
}

/* The name an index entry carries: containerd's full name first, then the
 * OCI ref name when it is a whole reference (a bare tag names nothing). */
static char *descriptor_name(const struct oci_descriptor *d)
{
	const char *candidates[] = {d->image_name, d->ref_name};
	for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
		if (!candidates[i])
			continue;
		if (!strchr(candidates[i], '/') && !strchr(candidates[i], ':'))
			continue;
		struct error err = ERROR_INIT;
		char *name = oci_reference_normalize(candidates[i], &err);
		error_release(&err);
		if (name)
			return name;
	}
	return NULL;
}

static bool platform_matches(const struct images *im, const struct oci_descriptor *d)
{
	if (!d->os && !d->architecture)
		return true;
	return (!d->os || strcmp(d->os, "linux") == 0) &&
	       (!d->architecture || strcmp(d->architecture, im->arch) == 0);
}

/* An index entry is a manifest or, nested, another index: pick the
 * manifest for this host. */
static int pick_manifest(struct images *im, const struct oci_descriptor *d, int depth,
			 char **digest, struct error *err)
{
	enum oci_media_kind kind = oci_media_kind(d->media_type);
	if (kind == OCI_KIND_MANIFEST) {
		*digest = xstrdup(d->digest);
		return 0;
	}
	if (kind != OCI_KIND_INDEX)
		return error_set(err, EINVAL, "unknown media type '%s' in an image index",
				 d->media_type ? d->media_type : "");
	if (depth > 4)
		return error_set(err, EINVAL, "image indexes nested too deep");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (content_read_blob(im->content, d->digest, MAX_JSON_BLOB, &text, &len, err) < 0)
		return error_prefix(err, "index %s", d->digest);
	struct oci_index idx;
	if (oci_index_parse(text, len, &idx, err) < 0)
		return error_prefix(err, "index %s", d->digest);
	int rc = error_set(err, ENOENT, "index %s has no manifest for linux/%s", d->digest,
			   im->arch);
	for (size_t i = 0; i < idx.nmanifests && rc < 0; i++) {
		if (!platform_matches(im, &idx.manifests[i]))
			continue;
		error_release(err);
		rc = pick_manifest(im, &idx.manifests[i], depth + 1, digest, err);
	}
	oci_index_release(&idx);
	return rc;
}

static int plan_oci_layout(struct images *im, struct member *index, struct loaded **list, size_t *n,
			   struct error *err)
{
	struct oci_index idx;
	if (oci_index_parse(index->data, index->len, &idx, err) < 0)
		return error_prefix(err, "index.json");
	int rc = 0;
	for (size_t i = 0; i < idx.nmanifests && rc == 0; i++) {
		struct oci_descriptor *d = &idx.manifests[i];
		if (!content_exists(im->content, d->digest)) {
			rc = error_set(err, ENOENT,
				       "index.json: manifests[%zu] %s is missing from the archive",
				       i, d->digest);
			break;
		}
		char *digest = NULL;
		rc = pick_manifest(im, d, 0, &digest, err);
		if (rc < 0)
			break;
		_cleanup_free_ char *name = descriptor_name(d);
		loaded_add(list, n, digest, name);
		free(digest);
	}
	oci_index_release(&idx);
	return rc;
}

/* `docker save`: build an OCI manifest for each entry of manifest.json. */
static int plan_docker_save(struct images *im, struct archive_members *m, struct member *mf,
			    struct loaded **list, size_t *n, struct undo *u, struct error *err)
{
	struct docker_save_entry *entries = NULL;
	size_t count = 0;
	if (docker_save_manifest_parse(mf->data, mf->len, &entries, &count, err) < 0)
		return error_prefix(err, "manifest.json");
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct member *cfg = member_find(m, entries[i].config);
		if (!cfg || !cfg->digest) {
			rc = error_set(err, ENOENT, "manifest.json: config %s is missing",
				       entries[i].config);
			break;
		}
		json_t *layers = json_array();
		for (size_t k = 0; k < entries[i].nlayers && rc == 0; k++) {
			struct member *l = member_find(m, entries[i].layers[k]);
			if (!l || !l->digest) {
				rc = error_set(err, ENOENT, "manifest.json: layer %s is missing",
					       entries[i].layers[k]);
				break;
			}
			/* docker save layers are plain tar; a gzip one would fail its
			 * diff_id check at unpack and say so. */
			json_array_append_new(
				layers,
				json_pack("{s:s,s:s,s:I}", "mediaType", OCI_MEDIA_LAYER, "digest",
					  l->digest, "size",
					  (json_int_t)content_size(im->content, l->digest)));
		}
		if (rc < 0) {
			json_decref(layers);
			break;
		}
		_cleanup_json_ json_t *manifest = json_pack(
			"{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
			OCI_MEDIA_MANIFEST, "config", "mediaType", OCI_MEDIA_CONFIG, "digest",
			cfg->digest, "size", (json_int_t)content_size(im->content, cfg->digest),
			"layers", layers);
		_cleanup_free_ char *text = json_dump_compact(manifest);
		char digest[DIGEST_STRING_SIZE];
		bool created = false;
		rc = content_put(im->content, text, strlen(text), NULL, digest, &created, err);
		if (rc < 0)
			break;
		if (created)
			undo_add(&u->blobs, &u->nblobs, digest);
		loaded_add(list, n, digest, NULL);
		for (char **tag = entries[i].repo_tags; tag && *tag && rc == 0; tag++) {
			_cleanup_free_ char *name = oci_reference_normalize(*tag, err);
			if (!name) {
				rc = error_prefix(err, "manifest.json: RepoTags");
				break;
			}
			loaded_add(list, n, digest, name);
		}
	}
	docker_save_manifest_free(entries, count);
	return rc;
}

/* Whether some reference other than the digest itself names this manifest. */
static bool has_name(struct images *im, const char *digest)
{
	struct store_image_ref *refs = NULL;
	size_t n = 0;
	struct error err = ERROR_INIT;
	bool named = false;
	if (store_image_ref_list(im->store, &refs, &n, &err) == 0)
		for (size_t i = 0; i < n; i++)
			named |= strcmp(refs[i].digest, digest) == 0 &&
				 strcmp(refs[i].reference, digest) != 0;
	store_image_ref_list_free(refs, n);
	error_release(&err);
	return named;
}

/* Writes the references of everything loaded, in one transaction. */
static int tag_loaded(struct images *im, struct loaded *list, size_t n, json_t *names,
		      struct error *err)
{
	if (store_begin(im->store, err) < 0)
		return -err->code;
	int64_t now = time_realtime_ms();
	for (size_t i = 0; i < n; i++) {
		struct store_image_ref ref = {
			.digest = list[i].digest,
			.media_type = OCI_MEDIA_MANIFEST,
			.created = now,
		};
		if (list[i].nnames == 0) {
			if (has_name(im, list[i].digest)) {
				/* already known by a name: nothing dangles */
				json_array_append_new(names, json_string(list[i].digest));
				continue;
			}
			ref.reference = list[i].digest; /* dangling: known by its digest */
			if (store_image_ref_put(im->store, &ref, err) < 0)
				goto fail;
			json_array_append_new(names, json_string(list[i].digest));
			continue;
		}
		for (size_t k = 0; k < list[i].nnames; k++) {
			ref.reference = list[i].names[k];
			if (store_image_ref_put(im->store, &ref, err) < 0)
				goto fail;
			json_array_append_new(names, json_string(list[i].names[k]));
		}
		/* a tagged image is no longer dangling */
		struct error ignored = ERROR_INIT;
		store_image_ref_delete(im->store, list[i].digest, &ignored);
		error_release(&ignored);
	}
	if (store_commit(im->store, err) < 0)
		goto fail;
	return 0;
fail:
	store_rollback(im->store);
	return -err->code;
}

int images_load(struct images *im, int fd, images_progress_fn progress, void *data, json_t **out,
		struct error *err)
{
	struct archive_source *src = xzalloc(sizeof(*src));
	src->fd = fd;
	src->progress = progress;
	src->data = data;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		src->total = st.st_size - lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && src->total == 0) {
		free(src);
		return error_set(err, EINVAL, "the archive is empty");
	}
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	struct undo u = {0};
	struct archive_members m = {0};
	struct loaded *list = NULL;
	size_t n = 0;
	struct image *images = NULL;
	size_t nimages = 0;
	int rc;
	if (archive_read_open(a, src, NULL, source_read, NULL) != ARCHIVE_OK) {
		rc = error_set(err, EINVAL, "read archive: %s", archive_error_string(a));
		goto done;
	}
	rc = read_members(im, a, &m, &u, err);
	if (rc < 0)
		goto done;
	struct member *index = member_find(&m, "index.json");
	struct member *mf = member_find(&m, "manifest.json");
	if (index && index->data)
		rc = plan_oci_layout(im, index, &list, &n, err);
	else if (mf && mf->data)
		rc = plan_docker_save(im, &m, mf, &list, &n, &u, err);
	else
		rc = error_set(err, EINVAL,
			       "not an image archive: it has neither index.json (OCI "
			       "layout) nor manifest.json (docker save)");
	if (rc < 0)
		goto done;
	if (n == 0) {
		rc = error_set(err, EINVAL, "the archive holds no image");
		goto done;
	}
	images = xzalloc(sizeof(*images) * n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		nimages++;
		rc = image_read(im, list[i].digest, &images[i], err);
		if (rc == 0)
			rc = unpack_all(im, &images[i], &u, err);
	}
	if (rc < 0)
		goto done;
	json_t *names = json_array();
	rc = tag_loaded(im, list, n, names, err);
	if (rc < 0) {
		json_decref(names);
		goto done;
	}
	*out = json_pack("{s:o}", "loaded", names);
	if (progress)
		progress(data, src->done, src->total);
done:
	if (rc < 0)
		log_warn("load failed: %s", err->message);
	undo_run(im, &u, rc < 0);
	for (size_t i = 0; i < nimages; i++)
		image_release(&images[i]);
	free(images);
	loaded_free(list, n);
	members_free(&m);
	archive_read_free(a);
	free(src);
	return rc;
}

/* ---- Saving ---- */

static int write_entry(struct archive *a, const char *name, const void *data, size_t len,
		       struct error *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK || archive_write_data(a, data, len) != (la_ssize_t)len)
		return error_set(err, EIO, "write %s: %s", name, archive_error_string(a));
	return 0;
}

static int write_blob(struct images *im, struct archive *a, const char *digest, struct error *err)
{
	_cleanup_close_ int fd = -1;
	if (content_open_blob(im->content, digest, &fd, err) < 0)
		return -err->code;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return error_errno(err, errno, "stat blob %s", digest);
	_cleanup_free_ char *name = xasprintf("blobs/sha256/%s", digest_hex(digest));
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return error_set(err, EIO, "write %s: %s", name, archive_error_string(a));
	_cleanup_free_ char *buf = xmalloc(1 << 17);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(err, errno, "read blob %s", digest);
		if (n == 0)
			break;
		if (archive_write_data(a, buf, n) != n)
			return error_set(err, EIO, "write %s: %s", name, archive_error_string(a));
	}
	return 0;
}

static void add_unique(char ***list, size_t *n, const char *value)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i], value) == 0)
			return;
	undo_add(list, n, value);
}

static void free_strings(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int images_save(struct images *im, json_t *references, int fd, struct error *err)
{
	json_t *manifests = json_array();
	char **blobs = NULL;
	size_t nblobs = 0;
	int rc = 0;
	size_t i;
	json_t *item;
	json_array_foreach(references, i, item)
	{
		struct store_image_ref ref;
		rc = resolve(im, json_string_value(item), &ref, err);
		if (rc < 0)
			break;
		struct image img;
		rc = image_read(im, ref.digest, &img, err);
		if (rc == 0) {
			json_t *annotations = json_object();
			if (!digest_valid(ref.reference)) {
				struct oci_reference parsed;
				if (oci_reference_parse(ref.reference, &parsed, err) == 0) {
					json_object_set_new(annotations,
							    CONTAINERD_ANNOTATION_IMAGE_NAME,
							    json_string(ref.reference));
					if (parsed.tag)
						json_object_set_new(annotations,
								    OCI_ANNOTATION_REF_NAME,
								    json_string(parsed.tag));
					oci_reference_release(&parsed);
				}
				error_release(err);
			}
			json_array_append_new(
				manifests,
				json_pack("{s:s,s:s,s:I,s:o,s:{s:s,s:s}}", "mediaType",
					  OCI_MEDIA_MANIFEST, "digest", ref.digest, "size",
					  (json_int_t)content_size(im->content, ref.digest),
					  "annotations", annotations, "platform", "os",
					  img.config.os ? img.config.os : "linux", "architecture",
					  img.config.architecture ? img.config.architecture
								  : im->arch));
			add_unique(&blobs, &nblobs, ref.digest);
			add_unique(&blobs, &nblobs, img.manifest.config.digest);
			for (size_t k = 0; k < img.manifest.nlayers; k++)
				add_unique(&blobs, &nblobs, img.manifest.layers[k].digest);
		}
		image_release(&img);
		store_image_ref_release(&ref);
		if (rc < 0)
			break;
	}
	if (rc == 0 && json_array_size(manifests) == 0)
		rc = error_set(err, EINVAL, "no image to save");
	if (rc < 0) {
		json_decref(manifests);
		free_strings(blobs, nblobs);
		return rc;
	}
	_cleanup_json_ json_t *index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
						 OCI_MEDIA_INDEX, "manifests", manifests);
	_cleanup_free_ char *index_text = json_dumps(index, JSON_COMPACT);
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		rc = error_set(err, EIO, "write archive: %s", archive_error_string(a));
	if (rc == 0)
		rc = write_entry(a, "oci-layout", layout, strlen(layout), err);
	for (size_t k = 0; k < nblobs && rc == 0; k++)
		rc = write_blob(im, a, blobs[k], err);
	if (rc == 0)
		rc = write_entry(a, "index.json", index_text, strlen(index_text), err);
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = error_set(err, EIO, "write archive: %s", archive_error_string(a));
	archive_write_free(a);
	free_strings(blobs, nblobs);
	return rc;
}

/* ---- Importing a root file system ---- */

int images_import(struct images *im, int fd, const char *reference, json_t **out, struct error *err)
{
	_cleanup_free_ char *name = oci_reference_normalize(reference, err);
	if (!name)
		return -err->code;
	struct undo u = {0};
	struct image img;
	memset(&img, 0, sizeof(img));
	_cleanup_json_ json_t *config = NULL, *manifest = NULL;
	_cleanup_free_ char *config_text = NULL, *manifest_text = NULL;
	/* Decompress whatever it is into a plain tar layer. */
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct content_writer *w = NULL;
	int rc = 0;
	struct archive_entry *entry;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == lseek(fd, 0, SEEK_CUR)) {
		rc = error_set(err, EINVAL, "the root file system archive is empty");
		goto done;
	}
	if (archive_read_open_fd(a, fd, 1 << 17) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK) {
		rc = error_set(err, EINVAL, "read %s: %s", "root file system archive",
			       archive_error_string(a) ? archive_error_string(a) : "empty");
		goto done;
	}
	if ((rc = content_writer_new(im->content, &w, err)) < 0)
		goto done;
	const void *block;
	size_t size;
	la_int64_t offset;
	int r;
	while ((r = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK)
		if ((rc = content_writer_write(w, block, size, err)) < 0)
			goto done;
	if (r != ARCHIVE_EOF) {
		rc = error_set(err, EIO, "read root file system archive: %s",
			       archive_error_string(a));
		goto done;
	}
	if (content_writer_size(w) == 0) {
		rc = error_set(err, EINVAL, "the root file system archive is empty");
		goto done;
	}
	uint64_t layer_size = content_writer_size(w);
	char layer[DIGEST_STRING_SIZE];
	bool created = false;
	rc = content_writer_commit(w, NULL, layer, &created, err);
	w = NULL;
	if (rc < 0)
		goto done;
	if (created)
		undo_add(&u.blobs, &u.nblobs, layer);
	char stamp[40];
	time_format_rfc3339(time_realtime_ms(), stamp, sizeof(stamp));
	config = json_pack("{s:s,s:s,s:s,s:{s:[s]},s:{s:s,s:[s]},s:[{s:s,s:s}]}", "created", stamp,
			   "architecture", im->arch, "os", "linux", "config", "Env",
			   "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			   "rootfs", "type", "layers", "diff_ids", layer, "history", "created",
			   stamp, "created_by", "container image import");
	config_text = json_dump_compact(config);
	char config_digest[DIGEST_STRING_SIZE];
	if ((rc = content_put(im->content, config_text, strlen(config_text), NULL, config_digest,
			      &created, err)) < 0)
		goto done;
	if (created)
		undo_add(&u.blobs, &u.nblobs, config_digest);
	manifest = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
			     "mediaType", OCI_MEDIA_MANIFEST, "config", "mediaType",
			     OCI_MEDIA_CONFIG, "digest", config_digest, "size",
			     (json_int_t)strlen(config_text), "layers", "mediaType",
			     OCI_MEDIA_LAYER, "digest", layer, "size", (json_int_t)layer_size);
	manifest_text = json_dump_compact(manifest);
	char manifest_digest[DIGEST_STRING_SIZE];
	if ((rc = content_put(im->content, manifest_text, strlen(manifest_text), NULL,
			      manifest_digest, &created, err)) < 0)
		goto done;
	if (created)
		undo_add(&u.blobs, &u.nblobs, manifest_digest);
	if ((rc = image_read(im, manifest_digest, &img, err)) < 0 ||
	    (rc = unpack_all(im, &img, &u, err)) < 0)
		goto done;
	struct loaded l = {.digest = manifest_digest, .names = &name, .nnames = 1};
	json_t *names = json_array();
	rc = tag_loaded(im, &l, 1, names, err);
	json_decref(names);
	if (rc == 0)
		*out = json_pack("{s:s,s:s}", "reference", name, "digest", manifest_digest);
done:
	content_writer_abort(w);
	undo_run(im, &u, rc < 0);
	image_release(&img);
	archive_read_free(a);
	return rc;
}

/* ---- References ---- */

int images_tag(struct images *im, const char *source, const char *target, json_t **out,
	       struct error *err)
{
	struct store_image_ref ref;
	if (resolve(im, source, &ref, err) < 0)
		return -err->code;
	_cleanup_free_ char *name = oci_reference_normalize(target, err);
	int rc = name ? 0 : -err->code;
	if (rc == 0) {
		struct store_image_ref tagged = {
			.reference = name,
			.digest = ref.digest,
			.media_type = ref.media_type,
			.created = time_realtime_ms(),
		};
		rc = store_begin(im->store, err);
		if (rc == 0)
			rc = store_image_ref_put(im->store, &tagged, err);
		if (rc == 0) {
			/* the image has a name now: drop its dangling entry */
			struct error ignored = ERROR_INIT;
			store_image_ref_delete(im->store, ref.digest, &ignored);
			error_release(&ignored);
			rc = store_commit(im->store, err);
		}
		if (rc < 0)
			store_rollback(im->store);
	}
	if (rc == 0)
		*out = json_pack("{s:s,s:s}", "reference", name, "digest", ref.digest);
	store_image_ref_release(&ref);
	return rc;
}

static int64_t image_size(const struct image *img)
{
	int64_t size = img->manifest.config.size;
	for (size_t i = 0; i < img->manifest.nlayers; i++)
		size += img->manifest.layers[i].size;
	return size;
}

static json_t *image_summary(const struct store_image_ref *ref, const struct image *img)
{
	json_t *j = json_pack("{s:s,s:s,s:I}", "reference", ref->reference, "digest", ref->digest,
			      "created", (json_int_t)ref->created);
	bool dangling = digest_valid(ref->reference);
	json_object_set_new(j, "dangling", json_boolean(dangling));
	struct oci_reference parsed;
	struct error err = ERROR_INIT;
	if (!dangling && oci_reference_parse(ref->reference, &parsed, &err) == 0) {
		_cleanup_free_ char *name = oci_reference_name(&parsed);
		json_object_set_new(j, "name", json_string(name));
		if (parsed.tag)
			json_object_set_new(j, "tag", json_string(parsed.tag));
		oci_reference_release(&parsed);
	}
	error_release(&err);
	if (img) {
		json_object_set_new(j, "os", json_string(img->config.os ? img->config.os : ""));
		json_object_set_new(
			j, "architecture",
			json_string(img->config.architecture ? img->config.architecture : ""));
		if (img->config.variant)
			json_object_set_new(j, "variant", json_string(img->config.variant));
		json_object_set_new(j, "size", json_integer(image_size(img)));
		json_object_set_new(j, "layers", json_integer((json_int_t)img->manifest.nlayers));
		if (img->config.created)
			json_object_set_new(j, "imageCreated", json_string(img->config.created));
	}
	return j;
}

int images_list(struct images *im, json_t **out, struct error *err)
{
	struct store_image_ref *refs = NULL;
	size_t n = 0;
	if (store_image_ref_list(im->store, &refs, &n, err) < 0)
		return -err->code;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		struct image img;
		struct error e = ERROR_INIT;
		bool ok = image_read(im, refs[i].digest, &img, &e) == 0;
		if (!ok)
			log_warn("image %s: %s", refs[i].reference, e.message);
		json_array_append_new(arr, image_summary(&refs[i], ok ? &img : NULL));
		image_release(&img);
		error_release(&e);
	}
	store_image_ref_list_free(refs, n);
	*out = json_pack("{s:o}", "images", arr);
	return 0;
}

int images_inspect(struct images *im, const char *reference, json_t **out, struct error *err)
{
	struct store_image_ref ref;
	if (resolve(im, reference, &ref, err) < 0)
		return -err->code;
	struct image img;
	int rc = image_read(im, ref.digest, &img, err);
	if (rc == 0) {
		json_t *j = image_summary(&ref, &img);
		json_t *layers = json_array();
		for (size_t i = 0; i < img.manifest.nlayers; i++)
			json_array_append_new(layers,
					      json_pack("{s:s,s:s,s:I,s:s,s:s}", "mediaType",
							img.manifest.layers[i].media_type, "digest",
							img.manifest.layers[i].digest, "size",
							(json_int_t)img.manifest.layers[i].size,
							"diffId", img.config.diff_ids[i], "chainId",
							img.chain_ids[i]));
		json_object_set_new(j, "layers", layers);
		json_object_set_new(
			j, "platform",
			json_pack("{s:s,s:s}", "os", img.config.os ? img.config.os : "",
				  "architecture",
				  img.config.architecture ? img.config.architecture : ""));
		json_object_set(j, "manifest", img.manifest_json ? img.manifest_json : json_null());
		json_object_set(j, "config", img.config_json ? img.config_json : json_null());
		/* every name of this image */
		struct store_image_ref *refs = NULL;
		size_t n = 0;
		json_t *names = json_array();
		if (store_image_ref_list(im->store, &refs, &n, err) == 0) {
			for (size_t i = 0; i < n; i++)
				if (strcmp(refs[i].digest, ref.digest) == 0 &&
				    !digest_valid(refs[i].reference))
					json_array_append_new(names,
							      json_string(refs[i].reference));
			store_image_ref_list_free(refs, n);
		}
		error_release(err);
		json_object_set_new(j, "references", names);
		*out = json_pack("{s:o}", "image", j);
	}
	image_release(&img);
	store_image_ref_release(&ref);
	return rc;
}

/* ---- Removing ---- */

int images_collect_garbage(struct images *im, uint64_t *reclaimed, struct error *err)
{
	*reclaimed = 0;
	struct store_image_ref *refs = NULL;
	size_t n = 0;
	if (store_image_ref_list(im->store, &refs, &n, err) < 0)
		return -err->code;
	char **keep_blobs = NULL, **keep_chains = NULL;
	size_t nkeep_blobs = 0, nkeep_chains = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		add_unique(&keep_blobs, &nkeep_blobs, refs[i].digest);
		struct image img;
		struct error e = ERROR_INIT;
		if (image_read(im, refs[i].digest, &img, &e) < 0) {
			/* keep what can be named even when the image is broken */
			log_warn("garbage collection: image %s: %s", refs[i].reference, e.message);
			if (img.manifest.config.digest)
				add_unique(&keep_blobs, &nkeep_blobs, img.manifest.config.digest);
			for (size_t k = 0; k < img.manifest.nlayers; k++)
				add_unique(&keep_blobs, &nkeep_blobs,
					   img.manifest.layers[k].digest);
		} else {
			add_unique(&keep_blobs, &nkeep_blobs, img.manifest.config.digest);
			for (size_t k = 0; k < img.manifest.nlayers; k++) {
				add_unique(&keep_blobs, &nkeep_blobs,
					   img.manifest.layers[k].digest);
				add_unique(&keep_chains, &nkeep_chains, img.chain_ids[k]);
			}
		}
		error_release(&e);
		image_release(&img);
	}
	store_image_ref_list_free(refs, n);

	char **blobs = NULL;
	size_t nblobs = 0;
	if (content_list(im->content, &blobs, &nblobs, err) < 0)
		rc = -err->code;
	for (size_t i = 0; i < nblobs && rc == 0; i++) {
		bool keep = false;
		for (size_t k = 0; k < nkeep_blobs && !keep; k++)
			keep = strcmp(blobs[i], keep_blobs[k]) == 0;
		if (keep)
			continue;
		int64_t size = content_size(im->content, blobs[i]);
		if (content_delete(im->content, blobs[i], err) < 0) {
			rc = -err->code;
			break;
		}
		*reclaimed += size > 0 ? (uint64_t)size : 0;
	}
	free_strings(blobs, nblobs);

	struct store_snapshot *snaps = NULL;
	size_t nsnaps = 0;
	if (rc == 0 && store_snapshot_list(im->store, &snaps, &nsnaps, err) < 0)
		rc = -err->code;
	for (size_t i = 0; i < nsnaps && rc == 0; i++) {
		bool keep = false;
		for (size_t k = 0; k < nkeep_chains && !keep; k++)
			keep = strcmp(snaps[i].chain_id, keep_chains[k]) == 0;
		if (keep)
			continue;
		*reclaimed += snaps[i].size > 0 ? (uint64_t)snaps[i].size : 0;
		snapshot_remove(im, snaps[i].chain_id);
	}
	store_snapshot_list_free(snaps, nsnaps);

	/* snapshot directories without a row: left by a crash mid-unpack */
	DIR *d = opendir(im->snapshots);
	struct dirent *de;
	while (rc == 0 && d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *end = NULL;
		long long id = strtoll(de->d_name, &end, 10);
		bool known = false;
		if (end && !*end && store_snapshot_list(im->store, &snaps, &nsnaps, err) == 0) {
			for (size_t i = 0; i < nsnaps; i++)
				known |= snaps[i].id == id;
			store_snapshot_list_free(snaps, nsnaps);
		}
		error_release(err);
		if (!known) {
			_cleanup_free_ char *path = xasprintf("%s/%s", im->snapshots, de->d_name);
			log_info("removing orphaned snapshot directory %s", path);
			remove_tree(path);
		}
	}
	if (d)
		closedir(d);
	free_strings(keep_blobs, nkeep_blobs);
	free_strings(keep_chains, nkeep_chains);
	return rc;
}

static int delete_refs(struct images *im, char **names, size_t n, json_t *deleted,
		       struct error *err)
{
	if (store_begin(im->store, err) < 0)
		return -err->code;
	for (size_t i = 0; i < n; i++) {
		if (store_image_ref_delete(im->store, names[i], err) < 0) {
			store_rollback(im->store);
			return -err->code;
		}
	}
	if (store_commit(im->store, err) < 0) {
		store_rollback(im->store);
		return -err->code;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(deleted, json_string(names[i]));
	return 0;
}

static int finish_removal(struct images *im, json_t *deleted, json_t **out, struct error *err)
{
	uint64_t reclaimed = 0;
	if (images_collect_garbage(im, &reclaimed, err) < 0) {
		json_decref(deleted);
		return -err->code;
	}
	*out = json_pack("{s:o,s:I}", "deleted", deleted, "reclaimed", (json_int_t)reclaimed);
	return 0;
}

int images_delete(struct images *im, json_t *references, bool all, json_t **out, struct error *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	if (all) {
		struct store_image_ref *refs = NULL;
		size_t count = 0;
		if (store_image_ref_list(im->store, &refs, &count, err) < 0)
			return -err->code;
		for (size_t i = 0; i < count; i++)
			add_unique(&names, &n, refs[i].reference);
		store_image_ref_list_free(refs, count);
	} else {
		/* Resolve every name first: one unknown name deletes nothing. */
		size_t i;
		json_t *item;
		json_array_foreach(references, i, item)
		{
			struct store_image_ref ref;
			if (resolve(im, json_string_value(item), &ref, err) < 0) {
				rc = -err->code;
				break;
			}
			add_unique(&names, &n, ref.reference);
			store_image_ref_release(&ref);
		}
	}
	json_t *deleted = json_array();
	if (rc == 0)
		rc = delete_refs(im, names, n, deleted, err);
	free_strings(names, n);
	if (rc < 0) {
		json_decref(deleted);
		return rc;
	}
	return finish_removal(im, deleted, out, err);
}

int images_prune(struct images *im, bool all, json_t **out, struct error *err)
{
	struct store_image_ref *refs = NULL;
	size_t count = 0;
	if (store_image_ref_list(im->store, &refs, &count, err) < 0)
		return -err->code;
	char **names = NULL;
	size_t n = 0;
	for (size_t i = 0; i < count; i++)
		if (all || digest_valid(refs[i].reference))
			add_unique(&names, &n, refs[i].reference);
	store_image_ref_list_free(refs, count);
	json_t *deleted = json_array();
	int rc = delete_refs(im, names, n, deleted, err);
	free_strings(names, n);
	if (rc < 0) {
		json_decref(deleted);
		return rc;
	}
	return finish_removal(im, deleted, out, err);
}

/* ---- Snapshots for containers ---- */

static json_t *snapshot_json(struct images *im, const struct store_snapshot *s)
{
	_cleanup_free_ char *dir = snapshot_dir(im, s->id);
	_cleanup_free_ char *fs = xasprintf("%s/fs", dir);
	return json_pack("{s:s,s:I,s:s,s:s,s:I}", "chainId", s->chain_id, "id", (json_int_t)s->id,
			 "path", fs, "diffId", s->diff_id, "size", (json_int_t)s->size);
}

int images_unpack(struct images *im, const char *reference, json_t **out, struct error *err)
{
	struct store_image_ref ref;
	if (resolve(im, reference, &ref, err) < 0)
		return -err->code;
	struct image img;
	struct undo u = {0};
	int rc = image_read(im, ref.digest, &img, err);
	if (rc == 0)
		rc = unpack_all(im, &img, &u, err);
	undo_run(im, &u, rc < 0);
	json_t *snaps = json_array();
	for (size_t i = 0; rc == 0 && i < img.manifest.nlayers; i++) {
		struct store_snapshot s;
		rc = store_snapshot_get(im->store, img.chain_ids[i], &s, err);
		if (rc == 0)
			json_array_append_new(snaps, snapshot_json(im, &s));
		store_snapshot_release(&s);
	}
	if (rc == 0)
		*out = json_pack("{s:s,s:s,s:O,s:o}", "reference", ref.reference, "digest",
				 ref.digest, "config",
				 img.config_json ? img.config_json : json_null(), "snapshots",
				 snaps);
	else
		json_decref(snaps);
	image_release(&img);
	store_image_ref_release(&ref);
	return rc;
}

int images_snapshot_get(struct images *im, const char *chain_id, json_t **out, struct error *err)
{
	struct store_snapshot s;
	if (store_snapshot_get(im->store, chain_id, &s, err) < 0)
		return -err->code;
	*out = json_pack("{s:o}", "snapshot", snapshot_json(im, &s));
	store_snapshot_release(&s);
	return 0;
}

int images_open_blob(struct images *im, const char *digest, int *fd, struct error *err)
{
	return content_open_blob(im->content, digest, fd, err);
}
