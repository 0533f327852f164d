/* Typed access to JSON request fields with errors that name the key. */
#ifndef CONTAINER_JSONUTIL_H
#define CONTAINER_JSONUTIL_H

#include "../util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

static inline void cleanup_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_json_decrefp)))

/* Each getter: a missing key is an error when required, else leaves *out
 * untouched and returns 0; a key of the wrong type is always an error. */
int json_get_string(json_t *obj, const char *key, bool required, const char **out,
		    struct error *err);
int json_get_int(json_t *obj, const char *key, bool required, int64_t *out, struct error *err);
int json_get_bool(json_t *obj, const char *key, bool required, bool *out, struct error *err);
int json_get_object(json_t *obj, const char *key, bool required, json_t **out, struct error *err);
int json_get_array(json_t *obj, const char *key, bool required, json_t **out, struct error *err);
/* Array of strings; *out borrowed (the array), every element checked. */
int json_get_string_array(json_t *obj, const char *key, bool required, json_t **out,
			  struct error *err);
/* Serializes compactly; aborts on OOM. */
char *json_dump_compact(const json_t *j);

#endif
