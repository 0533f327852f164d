/* libFuzzer target: the image documents and references we read from
 * registries and from archives users hand us. Every parser sees every
 * input; whatever one of them accepts is released again. */
#include "oci/image.h"
#include "oci/reference.h"
#include "util/digest.h"
#include "util/util.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct error err = ERROR_INIT;

	struct oci_index idx;
	if (oci_index_parse(text, size, &idx, &err) == 0)
		oci_index_release(&idx);
	error_release(&err);

	struct oci_manifest manifest;
	if (oci_manifest_parse(text, size, &manifest, &err) == 0) {
		enum oci_compression compression;
		for (size_t i = 0; i < manifest.nlayers; i++) {
			oci_layer_compression(manifest.layers[i].media_type, &compression, &err);
			error_release(&err);
		}
		oci_manifest_release(&manifest);
	}
	error_release(&err);

	struct oci_config config;
	if (oci_config_parse(text, size, &config, &err) == 0) {
		char chain[DIGEST_STRING_SIZE];
		oci_chain_id(config.diff_ids, config.ndiff_ids, chain);
		oci_config_release(&config);
	}
	error_release(&err);

	struct docker_save_entry *entries;
	size_t n;
	if (docker_save_manifest_parse(text, size, &entries, &n, &err) == 0)
		docker_save_manifest_free(entries, n);
	error_release(&err);

	/* References are C strings: parse up to the first NUL of a copy. */
	char *copy = xmalloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	struct oci_reference ref;
	if (oci_reference_parse(copy, &ref, &err) == 0) {
		free(oci_reference_string(&ref));
		free(oci_reference_familiar_name(&ref));
		oci_reference_release(&ref);
	}
	error_release(&err);
	free(copy);
	return 0;
}
