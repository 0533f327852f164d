#include "jsonutil.h"
#include "../util/util.h"

#include <errno.h>

static json_t *lookup(json_t *obj, const char *key, bool required, struct error *err, int *rc)
{
	*rc = 0;
	json_t *value = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (!value || json_is_null(value)) {
		if (required)
			*rc = error_set(err, EINVAL, "missing required key '%s'", key);
		return NULL;
	}
	return value;
}

int json_get_string(json_t *obj, const char *key, bool required, const char **out,
		    struct error *err)
{
	int rc;
	json_t *v = lookup(obj, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_string(v))
		return error_set(err, EINVAL, "key '%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

int json_get_int(json_t *obj, const char *key, bool required, int64_t *out, struct error *err)
{
	int rc;
	json_t *v = lookup(obj, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_integer(v))
		return error_set(err, EINVAL, "key '%s' must be an integer", key);
	*out = json_integer_value(v);
	return 0;
}

int json_get_bool(json_t *obj, const char *key, bool required, bool *out, struct error *err)
{
	int rc;
	json_t *v = lookup(obj, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_boolean(v))
		return error_set(err, EINVAL, "key '%s' must be a boolean", key);
	*out = json_is_true(v);
	return 0;
}

int json_get_object(json_t *obj, const char *key, bool required, json_t **out, struct error *err)
{
	int rc;
	json_t *v = lookup(obj, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_object(v))
		return error_set(err, EINVAL, "key '%s' must be an object", key);
	*out = v;
	return 0;
}

int json_get_array(json_t *obj, const char *key, bool required, json_t **out, struct error *err)
{
	int rc;
	json_t *v = lookup(obj, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_array(v))
		return error_set(err, EINVAL, "key '%s' must be an array", key);
	*out = v;
	return 0;
}

int json_get_string_array(json_t *obj, const char *key, bool required, json_t **out,
			  struct error *err)
{
	json_t *arr = NULL;
	int rc = json_get_array(obj, key, required, &arr, err);
	if (rc < 0 || !arr)
		return rc;
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		if (!json_is_string(item))
			return error_set(err, EINVAL, "key '%s[%zu]' must be a string", key, i);
	}
	*out = arr;
	return 0;
}

char *json_dump_compact(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) {
		fputs("container: out of memory\n", stderr);
		abort();
	}
	return s;
}
