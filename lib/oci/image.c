/* OCI image documents and Docker's equivalents. These come from registries
 * and from archives users hand us, so every field is type-checked before
 * use, and an error names the field by its JSON path ("layers[1].digest"). */
#include "image.h"
#include "../json/jsonutil.h"
#include "../util/digest.h"
#include "../util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static const struct {
	const char *media_type;
	enum oci_media_kind kind;
} document_types[] = {
	{OCI_MEDIA_INDEX, OCI_KIND_INDEX},	 {DOCKER_MEDIA_LIST, OCI_KIND_INDEX},
	{OCI_MEDIA_MANIFEST, OCI_KIND_MANIFEST}, {DOCKER_MEDIA_MANIFEST, OCI_KIND_MANIFEST},
	{OCI_MEDIA_CONFIG, OCI_KIND_CONFIG},	 {DOCKER_MEDIA_CONFIG, OCI_KIND_CONFIG},
};

/* Non-distributable ("foreign") layers are layers, but their blobs live at
 * URLs outside the registry (Windows base images): we never fetch those. */
static const struct {
	const char *media_type;
	enum oci_compression compression;
	bool foreign;
} layer_types[] = {
	{OCI_MEDIA_LAYER, OCI_COMPRESSION_NONE, false},
	{OCI_MEDIA_LAYER_GZIP, OCI_COMPRESSION_GZIP, false},
	{OCI_MEDIA_LAYER_ZSTD, OCI_COMPRESSION_ZSTD, false},
	{DOCKER_MEDIA_LAYER, OCI_COMPRESSION_NONE, false},
	{DOCKER_MEDIA_LAYER_GZIP, OCI_COMPRESSION_GZIP, false},
	/* containerd's name for zstd layers in Docker manifests */
	{"application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_COMPRESSION_ZSTD, false},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_COMPRESSION_NONE, true},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_COMPRESSION_GZIP,
	 true},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_COMPRESSION_ZSTD,
	 true},
	{"application/vnd.docker.image.rootfs.foreign.diff.tar", OCI_COMPRESSION_NONE, true},
	{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_COMPRESSION_GZIP, true},
};

enum oci_media_kind oci_media_kind(const char *media_type)
{
	if (!media_type)
		return OCI_KIND_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(document_types); i++)
		if (strcmp(media_type, document_types[i].media_type) == 0)
			return document_types[i].kind;
	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++)
		if (strcmp(media_type, layer_types[i].media_type) == 0)
			return OCI_KIND_LAYER;
	return OCI_KIND_UNKNOWN;
}

int oci_layer_compression(const char *media_type, enum oci_compression *out, struct error *err)
{
	if (!media_type)
		return error_set(err, EINVAL, "layer media type missing");
	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++) {
		if (strcmp(media_type, layer_types[i].media_type) != 0)
			continue;
		if (layer_types[i].foreign)
			return error_set(err, EINVAL,
					 "layer media type '%s' is a non-distributable (foreign) "
					 "layer, which is not supported",
					 media_type);
		*out = layer_types[i].compression;
		return 0;
	}
	return error_set(err, EINVAL, "unknown layer media type '%s'", media_type);
}

/* Field access with errors that name the field: `where` is the JSON path
 * of the object ("" at the top level, "layers[1]"), `key` the member. */
static int field_error(struct error *err, const char *where, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int field_error(struct error *err, const char *where, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *problem = xvasprintf(fmt, ap);
	va_end(ap);
	return error_set(err, EINVAL, "%s%s%s: %s", where, *where && *key ? "." : "", key, problem);
}

static char *field_path(const char *where, const char *key)
{
	return *where ? xasprintf("%s.%s", where, key) : xstrdup(key);
}

/* JSON null counts as absent, as Docker writes "Cmd": null and the like. */
static json_t *field_get(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

/* A required string must also be non-empty. */
static int field_string(json_t *obj, const char *where, const char *key, bool required,
			const char **out, struct error *err)
{
	json_t *v = field_get(obj, key);
	if (!v)
		return required ? field_error(err, where, key, "missing") : 0;
	if (!json_is_string(v))
		return field_error(err, where, key, "must be a string");
	if (required && json_string_length(v) == 0)
		return field_error(err, where, key, "must not be empty");
	*out = json_string_value(v);
	return 0;
}

static int field_object(json_t *obj, const char *where, const char *key, bool required,
			json_t **out, struct error *err)
{
	json_t *v = field_get(obj, key);
	if (!v)
		return required ? field_error(err, where, key, "missing") : 0;
	if (!json_is_object(v))
		return field_error(err, where, key, "must be an object");
	*out = v;
	return 0;
}

static int field_array(json_t *obj, const char *where, const char *key, bool required, json_t **out,
		       struct error *err)
{
	json_t *v = field_get(obj, key);
	if (!v)
		return required ? field_error(err, where, key, "missing") : 0;
	if (!json_is_array(v))
		return field_error(err, where, key, "must be an array");
	*out = v;
	return 0;
}

/* An optional array whose elements must all be strings. */
static int field_string_array(json_t *obj, const char *where, const char *key, json_t **out,
			      struct error *err)
{
	json_t *arr = NULL;
	int rc = field_array(obj, where, key, false, &arr, err);
	if (rc < 0 || !arr)
		return rc;
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		if (!json_is_string(item)) {
			_cleanup_free_ char *path = field_path(where, key);
			return error_set(err, EINVAL, "%s[%zu]: must be a string", path, i);
		}
	}
	*out = arr;
	return 0;
}

/* An optional object whose values must all be strings (annotations, labels). */
static int field_string_map(json_t *obj, const char *where, const char *key, json_t **out,
			    struct error *err)
{
	json_t *map = NULL;
	int rc = field_object(obj, where, key, false, &map, err);
	if (rc < 0 || !map)
		return rc;
	const char *name;
	json_t *value;
	json_object_foreach(map, name, value)
	{
		if (!json_is_string(value)) {
			_cleanup_free_ char *path = field_path(where, key);
			return field_error(err, path, name, "must be a string");
		}
	}
	*out = map;
	return 0;
}

static int field_digest(json_t *obj, const char *where, const char *key, const char **out,
			struct error *err)
{
	int rc = field_string(obj, where, key, true, out, err);
	if (rc < 0)
		return rc;
	if (!digest_valid(*out))
		return field_error(err, where, key, "'%s' is not a valid digest", *out);
	return 0;
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static json_t *document_load(const char *text, size_t len, struct error *err)
{
	json_error_t jerr;
	/* Duplicate keys would let two readers of one document disagree on it. */
	json_t *root = json_loadb(text ? text : "", text ? len : 0,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		error_set(err, EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
			  jerr.column, jerr.text);
	return root;
}

static json_t *document_load_object(const char *text, size_t len, struct error *err)
{
	json_t *root = document_load(text, len, err);
	if (root && !json_is_object(root)) {
		json_decref(root);
		error_set(err, EINVAL, "the top level must be a JSON object");
		return NULL;
	}
	return root;
}

/* schemaVersion may be left out; when present it must be 2 (schema 1
 * manifests are signed JWS documents of another shape). */
static int check_schema_version(json_t *root, struct error *err)
{
	json_t *v = field_get(root, "schemaVersion");
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return field_error(err, "", "schemaVersion", "must be the integer 2");
	if (json_integer_value(v) != 2)
		return field_error(err, "", "schemaVersion", "must be 2, not %" JSON_INTEGER_FORMAT,
				   json_integer_value(v));
	return 0;
}

static int parse_platform(json_t *obj, const char *where, const char **os, const char **arch,
			  const char **variant, struct error *err)
{
	json_t *platform = NULL;
	int rc = field_object(obj, where, "platform", false, &platform, err);
	if (rc < 0 || !platform)
		return rc;
	_cleanup_free_ char *path = field_path(where, "platform");
	const char *os_version = NULL;
	json_t *os_features = NULL;
	if ((rc = field_string(platform, path, "architecture", true, arch, err)) < 0 ||
	    (rc = field_string(platform, path, "os", true, os, err)) < 0 ||
	    (rc = field_string(platform, path, "variant", false, variant, err)) < 0 ||
	    (rc = field_string(platform, path, "os.version", false, &os_version, err)) < 0 ||
	    (rc = field_string_array(platform, path, "os.features", &os_features, err)) < 0)
		return rc;
	return 0;
}

static int parse_descriptor(json_t *obj, const char *where, struct oci_descriptor *out,
			    struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return field_error(err, where, "", "must be an object");
	const char *media_type = NULL, *digest = NULL;
	const char *os = NULL, *arch = NULL, *variant = NULL;
	const char *ref_name = NULL, *image_name = NULL;
	json_t *annotations = NULL, *urls = NULL;
	int rc;
	if ((rc = field_string(obj, where, "mediaType", true, &media_type, err)) < 0 ||
	    (rc = field_digest(obj, where, "digest", &digest, err)) < 0)
		return rc;
	json_t *size = field_get(obj, "size");
	if (!size)
		return field_error(err, where, "size", "missing");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return field_error(err, where, "size", "must be a non-negative integer");
	if ((rc = field_string_array(obj, where, "urls", &urls, err)) < 0 ||
	    (rc = field_string_map(obj, where, "annotations", &annotations, err)) < 0 ||
	    (rc = parse_platform(obj, where, &os, &arch, &variant, err)) < 0)
		return rc;
	if (annotations) {
		ref_name = json_string_value(json_object_get(annotations, OCI_ANNOTATION_REF_NAME));
		image_name = json_string_value(
			json_object_get(annotations, CONTAINERD_ANNOTATION_IMAGE_NAME));
	}
	out->media_type = xstrdup(media_type);
	out->digest = xstrdup(digest);
	out->size = json_integer_value(size);
	out->ref_name = strdup_or_null(ref_name);
	out->image_name = strdup_or_null(image_name);
	out->os = strdup_or_null(os);
	out->architecture = strdup_or_null(arch);
	out->variant = strdup_or_null(variant);
	return 0;
}

void oci_descriptor_release(struct oci_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	free(d->image_name);
	free(d->os);
	free(d->architecture);
	free(d->variant);
	memset(d, 0, sizeof(*d));
}

/* Parses every element of `array` (named `key`) into a new descriptor
 * array; *n counts the ones filled, so that a release frees them. */
static int parse_descriptor_array(json_t *array, const char *key, struct oci_descriptor **out,
				  size_t *n, struct error *err)
{
	size_t count = json_array_size(array);
	*out = xzalloc(sizeof(**out) * (count ? count : 1));
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *where = xasprintf("%s[%zu]", key, i);
		int rc = parse_descriptor(json_array_get(array, i), where, &(*out)[i], err);
		if (rc < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

int oci_index_parse(const char *text, size_t len, struct oci_index *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = document_load_object(text, len, err);
	if (!root)
		return -EINVAL;
	const char *media_type = NULL;
	json_t *manifests = NULL;
	int rc;
	if ((rc = check_schema_version(root, err)) < 0 ||
	    (rc = field_string(root, "", "mediaType", false, &media_type, err)) < 0)
		return rc;
	if (media_type && oci_media_kind(media_type) != OCI_KIND_INDEX)
		return field_error(err, "", "mediaType", "'%s' is not an image index media type",
				   media_type);
	if ((rc = field_array(root, "", "manifests", true, &manifests, err)) < 0)
		return rc;
	rc = parse_descriptor_array(manifests, "manifests", &out->manifests, &out->nmanifests, err);
	if (rc < 0)
		oci_index_release(out);
	return rc;
}

void oci_index_release(struct oci_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->nmanifests; i++)
		oci_descriptor_release(&idx->manifests[i]);
	free(idx->manifests);
	memset(idx, 0, sizeof(*idx));
}

/* The config and layer media types are not restricted here: an index may
 * hold attestation manifests whose layers are in-toto statements, and
 * loading such an archive must not fail. Callers check oci_media_kind()
 * of the config, and oci_layer_compression() refuses what cannot be
 * unpacked. */
int oci_manifest_parse(const char *text, size_t len, struct oci_manifest *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = document_load_object(text, len, err);
	if (!root)
		return -EINVAL;
	const char *media_type = NULL;
	json_t *config = NULL, *layers = NULL, *annotations = NULL;
	int rc;
	if ((rc = check_schema_version(root, err)) < 0 ||
	    (rc = field_string(root, "", "mediaType", false, &media_type, err)) < 0)
		return rc;
	if (media_type && oci_media_kind(media_type) != OCI_KIND_MANIFEST)
		return field_error(err, "", "mediaType", "'%s' is not an image manifest media type",
				   media_type);
	if ((rc = field_object(root, "", "config", true, &config, err)) < 0 ||
	    (rc = field_array(root, "", "layers", true, &layers, err)) < 0 ||
	    (rc = field_string_map(root, "", "annotations", &annotations, err)) < 0)
		return rc;
	if ((rc = parse_descriptor(config, "config", &out->config, err)) < 0)
		return rc;
	out->media_type = strdup_or_null(media_type);
	rc = parse_descriptor_array(layers, "layers", &out->layers, &out->nlayers, err);
	if (rc < 0)
		oci_manifest_release(out);
	return rc;
}

void oci_manifest_release(struct oci_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	oci_descriptor_release(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		oci_descriptor_release(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

/* The members of the runtime "config" that we consume, type-checked once
 * here so that every reader can trust them. Unknown members are kept. */
static int check_runtime_config(json_t *config, struct error *err)
{
	static const char *const strings[] = {"User", "WorkingDir", "StopSignal"};
	static const char *const string_arrays[] = {"Env", "Entrypoint", "Cmd"};
	static const char *const objects[] = {"ExposedPorts", "Volumes"};
	int rc;
	const char *unused_string = NULL;
	json_t *unused = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
		if ((rc = field_string(config, "config", strings[i], false, &unused_string, err)) <
		    0)
			return rc;
	for (size_t i = 0; i < ARRAY_SIZE(string_arrays); i++)
		if ((rc = field_string_array(config, "config", string_arrays[i], &unused, err)) < 0)
			return rc;
	for (size_t i = 0; i < ARRAY_SIZE(objects); i++)
		if ((rc = field_object(config, "config", objects[i], false, &unused, err)) < 0)
			return rc;
	return field_string_map(config, "config", "Labels", &unused, err);
}

int oci_config_parse(const char *text, size_t len, struct oci_config *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = document_load_object(text, len, err);
	if (!root)
		return -EINVAL;
	const char *os = NULL, *arch = NULL, *variant = NULL, *created = NULL, *type = NULL;
	json_t *rootfs = NULL, *diff_ids = NULL, *config = NULL, *history = NULL;
	int rc;
	if ((rc = field_string(root, "", "architecture", true, &arch, err)) < 0 ||
	    (rc = field_string(root, "", "os", true, &os, err)) < 0 ||
	    (rc = field_string(root, "", "variant", false, &variant, err)) < 0 ||
	    (rc = field_string(root, "", "created", false, &created, err)) < 0 ||
	    (rc = field_array(root, "", "history", false, &history, err)) < 0 ||
	    (rc = field_object(root, "", "config", false, &config, err)) < 0 ||
	    (rc = field_object(root, "", "rootfs", true, &rootfs, err)) < 0 ||
	    (rc = field_string(rootfs, "rootfs", "type", true, &type, err)) < 0 ||
	    (rc = field_array(rootfs, "rootfs", "diff_ids", true, &diff_ids, err)) < 0)
		return rc;
	if (strcmp(type, "layers") != 0)
		return field_error(err, "rootfs", "type", "must be 'layers', not '%s'", type);
	size_t i;
	json_t *item;
	json_array_foreach(diff_ids, i, item)
	{
		if (!json_is_string(item))
			return error_set(err, EINVAL, "rootfs.diff_ids[%zu]: must be a string", i);
		if (!digest_valid(json_string_value(item)))
			return error_set(err, EINVAL,
					 "rootfs.diff_ids[%zu]: '%s' is not a valid digest", i,
					 json_string_value(item));
	}
	if (config && (rc = check_runtime_config(config, err)) < 0)
		return rc;

	out->os = xstrdup(os);
	out->architecture = xstrdup(arch);
	out->variant = strdup_or_null(variant);
	out->created = strdup_or_null(created);
	out->ndiff_ids = json_array_size(diff_ids);
	/* NULL-terminated as well, for callers that walk it. */
	out->diff_ids = xzalloc(sizeof(char *) * (out->ndiff_ids + 1));
	json_array_foreach(diff_ids, i, item)
	{
		out->diff_ids[i] = xstrdup(json_string_value(item));
	}
	out->config = config ? json_incref(config) : NULL;
	return 0;
}

void oci_config_release(struct oci_config *c)
{
	if (!c)
		return;
	free(c->os);
	free(c->architecture);
	free(c->variant);
	free(c->created);
	for (size_t i = 0; i < c->ndiff_ids; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	if (c->config)
		json_decref(c->config);
	memset(c, 0, sizeof(*c));
}

/* Member names of the archive we are loading: anything that could resolve
 * outside it is refused before the loader looks the name up. */
static int check_member_name(const char *where, const char *name, struct error *err)
{
	if (!*name)
		return error_set(err, EINVAL, "%s: must not be empty", where);
	if (name[0] == '/')
		return error_set(err, EINVAL, "%s: '%s' is an absolute path", where, name);
	for (const char *comp = name; comp;) {
		const char *slash = strchr(comp, '/');
		size_t clen = slash ? (size_t)(slash - comp) : strlen(comp);
		if (clen == 2 && comp[0] == '.' && comp[1] == '.')
			return error_set(err, EINVAL, "%s: '%s' has a '..' component", where, name);
		comp = slash ? slash + 1 : NULL;
	}
	return 0;
}

static char **copy_string_array(json_t *arr, size_t *n)
{
	size_t count = json_array_size(arr);
	char **list = xzalloc(sizeof(char *) * (count + 1));
	for (size_t i = 0; i < count; i++)
		list[i] = xstrdup(json_string_value(json_array_get(arr, i)));
	if (n)
		*n = count;
	return list;
}

static int parse_save_entry(json_t *obj, const char *where, struct docker_save_entry *out,
			    struct error *err)
{
	if (!json_is_object(obj))
		return field_error(err, where, "", "must be an object");
	const char *config = NULL;
	json_t *repo_tags = NULL, *layers = NULL;
	int rc;
	if ((rc = field_string(obj, where, "Config", true, &config, err)) < 0 ||
	    (rc = field_string_array(obj, where, "RepoTags", &repo_tags, err)) < 0 ||
	    (rc = field_string_array(obj, where, "Layers", &layers, err)) < 0)
		return rc;
	if (!layers)
		return field_error(err, where, "Layers", "missing");
	_cleanup_free_ char *config_where = field_path(where, "Config");
	if ((rc = check_member_name(config_where, config, err)) < 0)
		return rc;
	for (size_t i = 0; i < json_array_size(layers); i++) {
		_cleanup_free_ char *layer_where = xasprintf("%s.Layers[%zu]", where, i);
		rc = check_member_name(layer_where, json_string_value(json_array_get(layers, i)),
				       err);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < json_array_size(repo_tags); i++)
		if (json_string_length(json_array_get(repo_tags, i)) == 0)
			return error_set(err, EINVAL, "%s.RepoTags[%zu]: must not be empty", where,
					 i);
	out->config = xstrdup(config);
	out->repo_tags = copy_string_array(repo_tags, NULL);
	out->layers = copy_string_array(layers, &out->nlayers);
	return 0;
}

int docker_save_manifest_parse(const char *text, size_t len, struct docker_save_entry **out,
			       size_t *n, struct error *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_json_ json_t *root = document_load(text, len, err);
	if (!root)
		return -EINVAL;
	if (!json_is_array(root))
		return error_set(err, EINVAL, "the top level must be a JSON array");
	size_t count = json_array_size(root);
	if (count == 0)
		return error_set(err, EINVAL, "the manifest lists no images");
	struct docker_save_entry *entries = xzalloc(sizeof(*entries) * count);
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *where = xasprintf("[%zu]", i);
		int rc = parse_save_entry(json_array_get(root, i), where, &entries[i], err);
		if (rc < 0) {
			docker_save_manifest_free(entries, i);
			return rc;
		}
	}
	*out = entries;
	*n = count;
	return 0;
}

void docker_save_manifest_free(struct docker_save_entry *entries, size_t n)
{
	if (!entries)
		return;
	for (size_t i = 0; i < n; i++) {
		free(entries[i].config);
		if (entries[i].repo_tags)
			for (char **t = entries[i].repo_tags; *t; t++)
				free(*t);
		free(entries[i].repo_tags);
		if (entries[i].layers)
			for (char **l = entries[i].layers; *l; l++)
				free(*l);
		free(entries[i].layers);
	}
	free(entries);
}

void oci_chain_id(char *const *diff_ids, size_t n, char *out)
{
	if (n == 0) {
		out[0] = '\0';
		return;
	}
	snprintf(out, DIGEST_STRING_SIZE, "%s", diff_ids[0]);
	for (size_t i = 1; i < n; i++) {
		_cleanup_free_ char *pair = xasprintf("%s %s", out, diff_ids[i]);
		digest_buffer(pair, strlen(pair), out);
	}
}
