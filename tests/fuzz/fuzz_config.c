/* fuzz-sources: src/config.c src/util.c */
/*
 * fuzz_config.c: libFuzzer target for the configuration loader. Any bytes
 * as a config file: no crash, no out-of-bounds read, no leak; a parsed
 * config must serialise back to JSON that parses to the same config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL, *again = NULL;
	char *err = NULL, *json, *json2;

	/* The parser takes a length and must not read past it. */
	if (config_parse((const char *)data, size, NULL, NULL, &cfg, &err) == 0) {
		json = config_to_json(cfg);
		free(err);
		err = NULL;
		if (config_parse(json, strlen(json), NULL, NULL, &again, &err) != 0)
			abort();
		json2 = config_to_json(again);
		if (strcmp(json, json2) != 0)
			abort();
		free(json);
		free(json2);
	}
	config_free(cfg);
	config_free(again);
	free(err);
	return 0;
}
