/* The volume service (DESIGN §3, §8): create, list, inspect, delete, prune.
 *
 * A volume is the directory <app-root>/volumes/<name>/_data plus a store row.
 * Create makes the directory first and the row last, and takes back what it
 * made when the row cannot be written. Delete renames the directory to a
 * hidden trash name first (names never start with '.'), then deletes the
 * row, putting the directory back if that fails, and only then removes the
 * files: a volume is never listed without its directory, nor its directory
 * half removed under its name. Trash an interrupted delete left is swept by
 * prune. */
#include "volumes.h"
#include "json/jsonutil.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define VOLUME_DIR_MODE	  0755
#define VOLUMES_ROOT_MODE 0701 /* traversable, not listable, by others */
#define TRASH_PREFIX	  ".trash-"

static char *volumes_root(struct apiserver *api)
{
	return xasprintf("%s/volumes", api->paths.app_root);
}

static char *volume_dir(struct apiserver *api, const char *name)
{
	return xasprintf("%s/volumes/%s", api->paths.app_root, name);
}

static char *volume_data(struct apiserver *api, const char *name)
{
	return xasprintf("%s/volumes/%s/_data", api->paths.app_root, name);
}

static int invalid_name(const char *name, struct error *err)
{
	return error_set(err, EINVAL,
			 "invalid volume name '%.64s%s': use 1 to 128 of [a-zA-Z0-9_.-], "
			 "starting with a letter or digit",
			 name, strlen(name) > 64 ? "..." : "");
}

/* mkdir with exactly `mode` (whatever the umask). *made tells whether this
 * call created it; an existing real directory is fine, anything else not. */
static int make_dir(const char *path, mode_t mode, bool *made, struct error *err)
{
	*made = false;
	if (mkdir(path, mode) == 0) {
		*made = true;
		if (chmod(path, mode) < 0) {
			int saved = errno;
			rmdir(path);
			*made = false;
			return error_errno(err, saved, "chmod %s", path);
		}
		return 0;
	}
	if (errno != EEXIST)
		return error_errno(err, errno, "create directory %s", path);
	struct stat st;
	if (lstat(path, &st) < 0)
		return error_errno(err, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, EEXIST, "%s exists and is not a directory: remove it", path);
	return 0;
}

/* Removes what interrupted deletes left in the volumes directory; returns
 * the bytes freed. */
static int64_t sweep_trash(struct apiserver *api)
{
	_cleanup_free_ char *root = volumes_root(api);
	DIR *dir = opendir(root);
	if (!dir)
		return 0;
	int64_t total = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (!str_has_prefix(de->d_name, TRASH_PREFIX))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", root, de->d_name);
		_cleanup_error_ struct error err = ERROR_INIT;
		int64_t bytes = 0;
		if (fs_remove_tree(path, &bytes, &err) < 0)
			log_warn("volumes: %s", err.message);
		else
			log_info("volumes: removed %s, left by an interrupted delete", path);
		total += bytes;
	}
	closedir(dir);
	return total;
}

/* ---- records ---- */

/* The optional object of strings body[key] as a new object ({} if absent). */
static int get_string_map(json_t *body, const char *key, json_t **out, struct error *err)
{
	json_t *given = NULL;
	if (json_get_object(body, key, false, &given, err) < 0)
		return -err->code;
	const char *k;
	json_t *v;
	json_object_foreach(given, k, v)
	{
		if (!*k)
			return error_set(err, EINVAL, "%s: a key must not be empty", key);
		if (!json_is_string(v))
			return error_set(err, EINVAL, "%s: the value of '%s' must be a string", key,
					 k);
	}
	*out = given ? json_deep_copy(given) : json_object();
	return 0;
}

static json_t *volume_json(struct apiserver *api, const struct store_volume *v)
{
	_cleanup_json_ json_t *config = json_loads(v->config ? v->config : "{}", 0, NULL);
	_cleanup_free_ char *mountpoint = volume_data(api, v->name);
	char created[40];
	time_format_rfc3339(v->created, created, sizeof(created));
	json_t *j = json_pack("{s:s,s:s}", "name", v->name, "mountpoint", mountpoint);
	static const char *const maps[] = {"labels", "options"};
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		json_t *m = json_object_get(config, maps[i]);
		json_object_set_new(j, maps[i], json_is_object(m) ? json_incref(m) : json_object());
	}
	json_object_set_new(j, "anonymous",
			    json_boolean(json_is_true(json_object_get(config, "anonymous"))));
	json_object_set_new(j, "createdAt", json_string(created));
	return j;
}

/* Whether the stored config of a container mounts the volume `name`. */
static bool container_uses(const struct store_container *c, const char *name)
{
	_cleanup_json_ json_t *config = json_loads(c->config ? c->config : "{}", 0, NULL);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(config, "mounts"), i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *source = json_string_value(json_object_get(m, "source"));
		if (type && source && strcmp(type, "volume") == 0 && strcmp(source, name) == 0)
			return true;
	}
	return false;
}

/* EBUSY naming the containers that use the volume, if any do. */
static int check_unused(const char *name, const struct store_container *list, size_t n,
			struct error *err)
{
	_cleanup_free_ char *users = NULL;
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!container_uses(&list[i], name))
			continue;
		char *more = xasprintf("%s%s%s", users ? users : "", users ? ", " : "",
				       list[i].name ? list[i].name : list[i].id);
		free(users);
		users = more;
		count++;
	}
	if (count)
		return error_set(err, EBUSY,
				 "volume %s is in use by container%s %s: remove %s first", name,
				 count > 1 ? "s" : "", users, count > 1 ? "them" : "it");
	return 0;
}

static int get_volume(struct apiserver *api, const char *name, struct store_volume *out,
		      struct error *err)
{
	if (!name_valid(name) || store_volume_get(api->store, name, out, err) < 0) {
		if (error_is_set(err) && err->code != ENOENT)
			return -err->code;
		error_release(err);
		return error_set(err, ENOENT, "no such volume: %s", name);
	}
	return 0;
}

/* ---- create and remove ---- */

/* Writes the row of a new volume; *out (may be NULL) gets a copy. */
static int volume_record(struct apiserver *api, const char *name, json_t *labels, json_t *options,
			 bool anonymous, struct store_volume *out, struct error *err)
{
	_cleanup_json_ json_t *config = json_pack("{s:O,s:O,s:b}", "labels", labels, "options",
						  options, "anonymous", anonymous);
	_cleanup_free_ char *text = json_dump_compact(config);
	struct store_volume row = {
		.name = (char *)name,
		.config = text,
		.created = time_realtime_ms(),
	};
	if (store_volume_put(api->store, &row, err) < 0)
		return -err->code;
	if (out) {
		out->name = xstrdup(name);
		out->config = move_ptr(text);
		out->created = row.created;
	}
	return 0;
}

/* Makes the volume `name` (checked valid by the caller). A directory left
 * without a row (the apiserver died in the middle of a create, or the app
 * root was restored without its database) is taken over, not wiped. On
 * failure nothing this call made remains. */
static int volume_make(struct apiserver *api, const char *name, json_t *labels, json_t *options,
		       bool anonymous, struct store_volume *out, struct error *err)
{
	struct store_volume existing;
	if (store_volume_get(api->store, name, &existing, err) == 0) {
		store_volume_release(&existing);
		return error_set(err, EEXIST, "volume '%s' already exists", name);
	}
	if (err->code != ENOENT)
		return -err->code;
	error_release(err);

	_cleanup_free_ char *root = volumes_root(api);
	_cleanup_free_ char *dir = volume_dir(api, name);
	_cleanup_free_ char *data = volume_data(api, name);
	bool made_root, made_dir = false, made_data = false;
	int rc = make_dir(root, VOLUMES_ROOT_MODE, &made_root, err);
	if (rc == 0)
		rc = make_dir(dir, VOLUME_DIR_MODE, &made_dir, err);
	if (rc == 0)
		rc = make_dir(data, VOLUME_DIR_MODE, &made_data, err);
	if (rc == 0)
		rc = volume_record(api, name, labels, options, anonymous, out, err);
	if (rc < 0) {
		if (made_data)
			rmdir(data);
		if (made_dir)
			rmdir(dir);
		return error_prefix(err, "create volume %s", name);
	}
	if (!made_dir)
		log_warn("volume %s: took over the directory %s, which had no record", name, dir);
	log_info("volume %s created%s", name, anonymous ? " (anonymous)" : "");
	return 0;
}

/* Removes a volume known to be unused: see the file comment for the order. */
static int volume_destroy(struct apiserver *api, const char *name, int64_t *reclaimed,
			  struct error *err)
{
	*reclaimed = 0;
	_cleanup_free_ char *dir = volume_dir(api, name);
	char suffix[RANDOM_ID_LEN + 1];
	random_id(suffix);
	_cleanup_free_ char *trash =
		xasprintf("%s/volumes/" TRASH_PREFIX "%.32s", api->paths.app_root, suffix);
	bool moved = rename(dir, trash) == 0;
	if (!moved && errno != ENOENT)
		return error_errno(err, errno, "delete volume %s: move %s aside", name, dir);
	if (!moved)
		log_warn("volume %s: its directory %s was already gone", name, dir);
	if (store_volume_delete(api->store, name, err) < 0) {
		if (moved && rename(trash, dir) < 0)
			log_error("volume %s: cannot move %s back to %s: %s", name, trash, dir,
				  strerror(errno));
		return error_prefix(err, "delete volume %s", name);
	}
	if (moved) {
		_cleanup_error_ struct error rm = ERROR_INIT;
		/* The volume is gone; what could not be removed goes at the next prune. */
		if (fs_remove_tree(trash, reclaimed, &rm) < 0)
			log_warn("volume %s deleted, but not all its files: %s", name, rm.message);
	}
	log_info("volume %s deleted", name);
	return 0;
}

int volume_remove(struct apiserver *api, const char *name, int64_t *reclaimed, struct error *err)
{
	struct store_volume v;
	if (get_volume(api, name, &v, err) < 0)
		return -err->code;
	store_volume_release(&v);
	struct store_container *list = NULL;
	size_t n = 0;
	if (store_container_list(api->store, &list, &n, err) < 0)
		return -err->code;
	int rc = check_unused(name, list, n, err);
	store_container_list_free(list, n);
	int64_t bytes = 0;
	if (rc == 0)
		rc = volume_destroy(api, name, &bytes, err);
	if (reclaimed)
		*reclaimed = bytes;
	return rc;
}

int volumes_ensure(struct apiserver *api, const char *name, bool anonymous, char **path,
		   bool *created, struct error *err)
{
	*created = false;
	if (!name_valid(name))
		return invalid_name(name, err);
	struct store_volume v;
	if (store_volume_get(api->store, name, &v, err) == 0) {
		store_volume_release(&v);
		/* A volume whose _data someone removed by hand: give it a new one
		 * rather than let the mount fail. */
		_cleanup_free_ char *root = volumes_root(api);
		_cleanup_free_ char *dir = volume_dir(api, name);
		_cleanup_free_ char *data = volume_data(api, name);
		bool made;
		if (make_dir(root, VOLUMES_ROOT_MODE, &made, err) < 0 ||
		    make_dir(dir, VOLUME_DIR_MODE, &made, err) < 0 ||
		    make_dir(data, VOLUME_DIR_MODE, &made, err) < 0)
			return error_prefix(err, "volume %s", name);
		if (made)
			log_warn("volume %s: its directory %s was missing: made it empty", name,
				 data);
		*path = move_ptr(data);
		return 0;
	}
	if (err->code != ENOENT)
		return -err->code;
	error_release(err);
	_cleanup_json_ json_t *labels = json_object(), *options = json_object();
	if (volume_make(api, name, labels, options, anonymous, NULL, err) < 0)
		return -err->code;
	*created = true;
	*path = volume_data(api, name);
	return 0;
}

/* ---- routes ---- */

int volumes_create(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	const char *name = NULL;
	_cleanup_json_ json_t *labels = NULL, *options = NULL;
	if (json_get_string(req->body, "name", false, &name, err) < 0 ||
	    get_string_map(req->body, "labels", &labels, err) < 0 ||
	    get_string_map(req->body, "options", &options, err) < 0)
		return -err->code;
	char random_name[RANDOM_ID_LEN + 1];
	if (!name) {
		random_id(random_name);
		name = random_name;
	}
	if (!name_valid(name))
		return invalid_name(name, err);
	struct store_volume v;
	if (volume_make(api, name, labels, options, false, &v, err) < 0)
		return -err->code;
	*reply = json_pack("{s:o}", "volume", volume_json(api, &v));
	store_volume_release(&v);
	return 0;
}

int volumes_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	(void)req;
	struct apiserver *api = ctx;
	struct store_volume *list = NULL;
	size_t n = 0;
	if (store_volume_list(api->store, &list, &n, err) < 0)
		return -err->code;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, volume_json(api, &list[i]));
	store_volume_list_free(list, n);
	*reply = json_pack("{s:o}", "volumes", arr);
	return 0;
}

int volumes_inspect(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	const char *name = NULL;
	if (json_get_string(req->body, "name", true, &name, err) < 0)
		return -err->code;
	struct store_volume v;
	if (get_volume(api, name, &v, err) < 0)
		return -err->code;
	*reply = json_pack("{s:o}", "volume", volume_json(api, &v));
	store_volume_release(&v);
	return 0;
}

int volumes_delete(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	const char *name = NULL;
	if (json_get_string(req->body, "name", true, &name, err) < 0)
		return -err->code;
	int64_t reclaimed = 0;
	if (volume_remove(api, name, &reclaimed, err) < 0)
		return -err->code;
	*reply = json_pack("{s:s,s:I}", "name", name, "reclaimed", (json_int_t)reclaimed);
	return 0;
}

int volumes_prune(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	(void)req;
	struct apiserver *api = ctx;
	struct store_volume *volumes = NULL;
	struct store_container *containers = NULL;
	size_t nvolumes = 0, ncontainers = 0;
	if (store_volume_list(api->store, &volumes, &nvolumes, err) < 0)
		return -err->code;
	if (store_container_list(api->store, &containers, &ncontainers, err) < 0) {
		store_volume_list_free(volumes, nvolumes);
		return -err->code;
	}
	int64_t reclaimed = sweep_trash(api);
	json_t *deleted = json_array();
	int rc = 0;
	for (size_t i = 0; i < nvolumes && rc == 0; i++) {
		struct error busy = ERROR_INIT;
		bool unused = check_unused(volumes[i].name, containers, ncontainers, &busy) == 0;
		error_release(&busy);
		if (!unused)
			continue;
		int64_t bytes = 0;
		rc = volume_destroy(api, volumes[i].name, &bytes, err);
		if (rc == 0) {
			json_array_append_new(deleted, json_string(volumes[i].name));
			reclaimed += bytes;
		}
	}
	store_container_list_free(containers, ncontainers);
	store_volume_list_free(volumes, nvolumes);
	if (rc < 0) {
		json_decref(deleted);
		return rc;
	}
	*reply = json_pack("{s:o,s:I}", "deleted", deleted, "reclaimed", (json_int_t)reclaimed);
	return 0;
}
