/*
 * config.c: parsing and validating the JSON configuration (config.h) with
 * cJSON. The file is untrusted text: its size is bounded before it is read,
 * it must be valid UTF-8, nesting is bounded by cJSON, numbers must be
 * finite integers in range, and every error names the key, what it expected
 * and what it found, so an administrator can fix it from the message alone.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

struct config_def {
	const char *name;
	enum config_type type;
	long long def;
	long long min, max;
	const char *choices; /* ENUM: "a|b|c"; STRING: the default text */
	const char *doc;
};

static const struct config_def config_defs[CONFIG_NKEYS] = {
#define CONFIG_DEF_ROW(id, name, type, def, min, max, choices, doc) \
	[CONFIG_##id] = { name, type, def, min, max, choices, doc },
	CONFIG_KEYS(CONFIG_DEF_ROW)
#undef CONFIG_DEF_ROW
};

/* Limits on a string list: "Log ignore" is matched per connection. */
#define CONFIG_MAX_LIST 4096
#define CONFIG_MAX_STRING 4096

struct config_value {
	bool is_null;
	bool b;
	long long i;
	char *s;
	char **list;
	size_t nlist;
};

struct config {
	struct config_value v[CONFIG_NKEYS];
};

static config_validator config_validators[CONFIG_NKEYS];

void config_set_validator(enum config_key key, config_validator validate)
{
	config_validators[key] = validate;
}

const char *config_key_name(enum config_key key)
{
	return config_defs[key].name;
}

const char *config_key_doc(enum config_key key)
{
	return config_defs[key].doc;
}

/* The first word of an ENUM's choices, malloc'd. */
static char *config_enum_first(const char *choices)
{
	const char *bar = strchr(choices, '|');

	return bar ? xstrndup(choices, (size_t)(bar - choices)) : xstrdup(choices);
}

static bool config_enum_has(const char *choices, const char *word)
{
	size_t len = strlen(word);
	const char *p = choices;

	while (p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == len && memcmp(p, word, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

struct config *config_new_default(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		const struct config_def *d = &config_defs[k];
		struct config_value *v = &cfg->v[k];

		switch (d->type) {
		case CONFIG_BOOL:
			v->b = d->def != 0;
			break;
		case CONFIG_INT:
			v->i = d->def;
			break;
		case CONFIG_INT_OR_NULL:
			v->is_null = true;
			break;
		case CONFIG_STRING:
			v->s = xstrdup(d->choices);
			break;
		case CONFIG_ENUM:
			v->s = config_enum_first(d->choices);
			break;
		case CONFIG_STRLIST:
			break;
		case CONFIG_OBJLIST:
			v->s = xstrdup("[]");
			break;
		}
	}
	return cfg;
}

static void config_value_clear(struct config_value *v)
{
	size_t i;

	free(v->s);
	v->s = NULL;
	for (i = 0; i < v->nlist; i++)
		free(v->list[i]);
	free(v->list);
	v->list = NULL;
	v->nlist = 0;
}

void config_free(struct config *cfg)
{
	int k;

	if (!cfg)
		return;
	for (k = 0; k < CONFIG_NKEYS; k++)
		config_value_clear(&cfg->v[k]);
	free(cfg);
}

/* A short description of a JSON value for error messages, malloc'd. */
static char *config_describe(const cJSON *item)
{
	char esc[64];

	if (cJSON_IsNull(item))
		return xstrdup("null");
	if (cJSON_IsBool(item))
		return xstrdup(cJSON_IsTrue(item) ? "true (a boolean)" : "false (a boolean)");
	if (cJSON_IsNumber(item)) {
		if (!isfinite(item->valuedouble))
			return xstrdup("a number too large to represent");
		return xasprintf("%.17g (a number)", item->valuedouble);
	}
	if (cJSON_IsString(item)) {
		size_t need = util_escape(esc, sizeof(esc), item->valuestring,
					  strlen(item->valuestring));
		return xasprintf("\"%s%s\" (a string)", esc, need >= sizeof(esc) ? "..." : "");
	}
	if (cJSON_IsArray(item))
		return xstrdup("an array");
	if (cJSON_IsObject(item))
		return xstrdup("an object");
	return xstrdup("an invalid value");
}

/* What a key expects, for error messages, malloc'd. */
static char *config_expected(const struct config_def *d)
{
	switch (d->type) {
	case CONFIG_BOOL:
		return xstrdup("true or false");
	case CONFIG_INT:
		return xasprintf("an integer from %lld to %lld", d->min, d->max);
	case CONFIG_INT_OR_NULL:
		return xasprintf("null or an integer from %lld to %lld", d->min, d->max);
	case CONFIG_STRING:
		return xasprintf("a string of at most %d bytes", CONFIG_MAX_STRING);
	case CONFIG_ENUM: {
		char *s = xstrdup(d->choices), *p;
		char *r;
		for (p = s; *p; p++)
			if (*p == '|')
				*p = ',';
		r = xasprintf("one of the strings %s", s);
		free(s);
		return r;
	}
	case CONFIG_STRLIST:
		return xasprintf("an array of at most %d strings (or port numbers)", CONFIG_MAX_LIST);
	case CONFIG_OBJLIST:
		return xasprintf("an array of at most %lld objects", d->max);
	}
	return xstrdup("?");
}

/* Reads an integer from a cJSON number; false unless finite and integral. */
static bool config_json_int(const cJSON *item, long long *ret)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < -9.0e15 || d > 9.0e15)
		return false;
	*ret = (long long)d;
	return true;
}

/* Sets v from item per d; false when the value does not fit. */
static bool config_set_value(const struct config_def *d, const cJSON *item,
			     struct config_value *v)
{
	const cJSON *elem;
	long long n;
	int count;

	switch (d->type) {
	case CONFIG_BOOL:
		if (!cJSON_IsBool(item))
			return false;
		v->b = cJSON_IsTrue(item);
		return true;
	case CONFIG_INT_OR_NULL:
		if (cJSON_IsNull(item)) {
			v->is_null = true;
			return true;
		}
		/* fall through */
	case CONFIG_INT:
		if (!config_json_int(item, &n) || n < d->min || n > d->max)
			return false;
		v->is_null = false;
		v->i = n;
		return true;
	case CONFIG_STRING:
		if (!cJSON_IsString(item) || strlen(item->valuestring) > CONFIG_MAX_STRING)
			return false;
		free(v->s);
		v->s = xstrdup(item->valuestring);
		return true;
	case CONFIG_ENUM:
		if (!cJSON_IsString(item) || !config_enum_has(d->choices, item->valuestring))
			return false;
		free(v->s);
		v->s = xstrdup(item->valuestring);
		return true;
	case CONFIG_STRLIST:
		if (!cJSON_IsArray(item))
			return false;
		count = cJSON_GetArraySize(item);
		if (count > CONFIG_MAX_LIST)
			return false;
		/* picosnitch wrote ports as numbers: integers are taken as their text. */
		cJSON_ArrayForEach(elem, item) {
			if (cJSON_IsString(elem) && strlen(elem->valuestring) <= CONFIG_MAX_STRING)
				continue;
			if (!config_json_int(elem, &n) || n < 0)
				return false;
		}
		config_value_clear(v);
		v->list = xcalloc((size_t)count, sizeof(char *));
		cJSON_ArrayForEach(elem, item) {
			if (cJSON_IsString(elem))
				v->list[v->nlist++] = xstrdup(elem->valuestring);
			else
				v->list[v->nlist++] = xasprintf("%.0f", elem->valuedouble);
		}
		return true;
	case CONFIG_OBJLIST: {
		char *text;

		if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) > d->max)
			return false;
		cJSON_ArrayForEach(elem, item) {
			if (!cJSON_IsObject(elem))
				return false;
		}
		text = cJSON_PrintUnformatted(item);
		if (!text)
			abort();
		free(v->s);
		v->s = xstrdup(text);
		cJSON_free(text);
		return true;
	}
	}
	return false;
}

/* Line and column (1-based) of byte offset off in text. */
static void config_position(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Problems found in one pass, one per line of the final message. */
struct config_problems {
	char *text;
	size_t count;
};

static void config_problem(struct config_problems *p, char *msg)
{
	char *joined;

	if (p->count < CONFIG_MAX_PROBLEMS) {
		joined = p->text ? xasprintf("%s\n%s", p->text, msg) : xstrdup(msg);
		free(p->text);
		p->text = joined;
	} else if (p->count == CONFIG_MAX_PROBLEMS) {
		joined = xasprintf("%s\n(more problems not shown)", p->text);
		free(p->text);
		p->text = joined;
	}
	p->count++;
	free(msg);
}

/* Lowercase letters and digits of s only: "DB retention (days)" -> "dbretentiondays". */
static void config_fold(const char *s, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			out[o++] = (char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			out[o++] = c;
	}
	out[o] = '\0';
}

/* The JSON key a TOML key (any spelling: db_retention_days) most likely means, or NULL. */
static const char *config_toml_key(const char *key, size_t len)
{
	char folded[128], name[128];
	const char *best = NULL;

	config_fold(key, len, folded, sizeof(folded));
	if (strlen(folded) < 3)
		return NULL;
	for (int k = 0; k < CONFIG_NKEYS; k++) {
		config_fold(config_defs[k].name, strlen(config_defs[k].name), name, sizeof(name));
		if (!strcmp(name, folded))
			return config_defs[k].name;
		/* "every_exe" for "Every exe (not just conns)", "vt_api_key" ... */
		if (!best && strlen(folded) >= 5 && !strncmp(name, folded, strlen(folded)))
			best = config_defs[k].name;
	}
	return best;
}

/*
 * Whether text looks like TOML rather than JSON: its first line that is
 * not blank is a [table] header, a # comment or a key = value line. JSON
 * can start with none of these.
 */
static bool config_is_toml(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	if (i == len)
		return false;
	if (text[i] == '#')
		return true;
	if (text[i] == '[') {
		/* [table] or [[array]]: key characters only up to the ']' on this line. */
		size_t j = i + 1, names = 0;

		if (j < len && text[j] == '[')
			j++;
		for (; j < len && text[j] != ']' && text[j] != '\n'; j++) {
			char c = text[j];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '_' || c == '-' || c == '.' || c == ' ' || c == '"' || c == '\''))
				return false;
			names += c != ' ';
		}
		return j < len && text[j] == ']' && names;
	}
	/* key = value: a bare or quoted key, then '=' on the same line. */
	for (; i < len && text[i] != '\n'; i++) {
		if (text[i] == '=')
			return true;
		if (text[i] == ':' || text[i] == '{' || text[i] == ',')
			return false;
	}
	return false;
}

/*
 * A key or value of the TOML file for the message: as written when it is
 * printable ASCII (so it can be copied), escaped otherwise; cut to fit.
 */
static void config_toml_text(char *out, size_t outsz, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] >= 0x20 && s[i] < 0x7f; i++)
		;
	if (i < len) {
		util_escape(out, outsz, s, len);
		return;
	}
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/*
 * The message for a TOML file (a picosnitch 2.x config.toml): this is not
 * the format, and for each "key = value" line, the JSON key to write.
 */
static char *config_toml_message(const char *text, size_t len)
{
	struct config_problems p = { 0 };
	size_t line = 1, shown = 0;

	config_problem(&p, xstrdup("this is TOML (a picosnitch 2.x config.toml?), but "
				   "auditsnitch reads JSON with picosnitch's key names: write "
				   "a JSON object such as {\"DB retention (days)\": 365, \"Log "
				   "ignore\": []} (keys in auditsnitch.conf(5))"));
	for (size_t i = 0; i < len && shown < 40; line++) {
		size_t end = i, k0, k1;
		const char *json;

		while (end < len && text[end] != '\n')
			end++;
		k0 = i;
		while (k0 < end && (text[k0] == ' ' || text[k0] == '\t'))
			k0++;
		k1 = k0;
		while (k1 < end && text[k1] != '=')
			k1++;
		if (k0 < end && text[k0] != '#' && text[k0] != '[' && k1 < end) {
			size_t v0 = k1 + 1, ke = k1;
			char keytext[96], valtext[96];

			while (ke > k0 && (text[ke - 1] == ' ' || text[ke - 1] == '\t'))
				ke--;
			if (ke > k0 + 1 && (text[k0] == '"' || text[k0] == '\'') &&
			    text[ke - 1] == text[k0]) {
				k0++;
				ke--;
			}
			while (v0 < end && (text[v0] == ' ' || text[v0] == '\t'))
				v0++;
			config_toml_text(keytext, sizeof(keytext), text + k0, ke - k0);
			config_toml_text(valtext, sizeof(valtext), text + v0, end - v0);
			json = config_toml_key(text + k0, ke - k0);
			if (json)
				config_problem(&p, xasprintf("line %zu: %s = %s -> \"%s\": %s", line,
							     keytext, valtext, json, valtext));
			else
				config_problem(&p, xasprintf("line %zu: %s: no such key in auditsnitch",
							     line, keytext));
			shown++;
		}
		i = end + 1;
	}
	return p.text;
}

int config_parse(const char *text, size_t len, config_warn_cb warn, void *data,
		 struct config **ret, char **errmsg)
{
	struct config_problems problems = { 0 };
	bool failed[CONFIG_NKEYS] = { false };
	struct config *cfg = NULL;
	const char *end = NULL;
	cJSON *root = NULL, *item;
	size_t bad, line, col;
	int r = -EINVAL, k;

	*errmsg = NULL;
	if (len > CONFIG_MAX_FILE) {
		*errmsg = xasprintf("the file is %zu bytes; at most %d are accepted", len,
				    CONFIG_MAX_FILE);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		config_position(text, (size_t)((const char *)memchr(text, '\0', len) - text),
				&line, &col);
		*errmsg = xasprintf("line %zu, column %zu: a NUL byte; the file must be JSON text",
				    line, col);
		goto out;
	}
	bad = util_utf8_valid(text, len);
	if (bad < len) {
		config_position(text, bad, &line, &col);
		*errmsg = xasprintf("line %zu, column %zu: invalid UTF-8 (byte 0x%02x)", line, col,
				    (unsigned char)text[bad]);
		goto out;
	}
	/* cJSON's own trailing-text check reads past a length-bounded buffer. */
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (root && end) {
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
			end++;
		if (end != text + len) {
			config_position(text, (size_t)(end - text), &line, &col);
			*errmsg = xasprintf("line %zu, column %zu: trailing text after the JSON object",
					    line, col);
			goto out;
		}
	}
	if (!root && config_is_toml(text, len)) {
		*errmsg = config_toml_message(text, len);
		goto out;
	}
	if (!root) {
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		const char *ep = cJSON_GetErrorPtr();
		if (ep && ep >= text && ep <= text + len)
			off = (size_t)(ep - text);
		config_position(text, off, &line, &col);
		*errmsg = xasprintf("line %zu, column %zu: not valid JSON (or nested deeper than %d "
				    "levels)",
				    line, col, CJSON_NESTING_LIMIT);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		*errmsg = xstrdup("the top level must be a JSON object ({ ... })");
		goto out;
	}

	/* Every problem is reported in one pass; the first ones do not stop the rest. */
	cfg = config_new_default();
	cJSON_ArrayForEach(item, root) {
		const cJSON *other;
		bool known = false;

		if (!item->string)
			continue;
		for (other = root->child; other != item; other = other->next) {
			if (other->string && strcmp(other->string, item->string) == 0)
				break;
		}
		if (other != item) {
			char esc[256];
			util_escape(esc, sizeof(esc), item->string, strlen(item->string));
			/* Said once, at the second occurrence. */
			for (other = other->next; other != item; other = other->next) {
				if (other->string && strcmp(other->string, item->string) == 0)
					break;
			}
			if (other == item)
				config_problem(&problems, xasprintf("\"%s\": the key appears more "
								    "than once", esc));
			continue;
		}
		for (k = 0; k < CONFIG_NKEYS; k++) {
			const struct config_def *d = &config_defs[k];
			if (strcmp(item->string, d->name) != 0)
				continue;
			known = true;
			if (!config_set_value(d, item, &cfg->v[k])) {
				char *want = config_expected(d), *got = config_describe(item);
				config_problem(&problems, xasprintf("\"%s\": expected %s, got %s",
								   d->name, want, got));
				free(want);
				free(got);
				failed[k] = true;
			}
			break;
		}
		if (!known && warn) {
			char esc[256], *msg;
			util_escape(esc, sizeof(esc), item->string, strlen(item->string));
			msg = xasprintf("\"%s\": unknown key, ignored", esc);
			warn(msg, data);
			free(msg);
		}
	}
	for (k = 0; k < CONFIG_NKEYS; k++) {
		char *problem;
		if (!config_validators[k] || failed[k])
			continue;
		problem = config_validators[k](cfg, (enum config_key)k);
		if (problem) {
			config_problem(&problems, xasprintf("\"%s\": %s", config_defs[k].name,
							    problem));
			free(problem);
		}
	}
	if (problems.count) {
		*errmsg = problems.text;
		problems.text = NULL;
		goto out;
	}
	*ret = cfg;
	cfg = NULL;
	r = 0;
out:
	free(problems.text);
	cJSON_Delete(root);
	config_free(cfg);
	return r;
}

bool config_name_is_toml(const char *name)
{
	size_t len = strlen(name);

	return len >= 5 && !strcasecmp(name + len - 5, ".toml");
}

char *config_toml_missing(void)
{
	return xstrdup("does not exist, and a .toml name is not written: auditsnitch reads "
		       "JSON with picosnitch's key names (a picosnitch 2.x config.toml does "
		       "not carry over as is); use a .json file, see auditsnitch.conf(5)");
}

int config_load(int dirfd, const char *name, config_warn_cb warn, void *data,
		struct config **ret, bool *created, char **errmsg)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*errmsg = NULL;
	*created = false;
	r = util_read_file(dirfd, name, CONFIG_MAX_FILE, &text, &len);
	if (r == -ENOENT && config_name_is_toml(name)) {
		*errmsg = config_toml_missing();
		return -EINVAL;
	}
	if (r == -ENOENT) {
		char *json = config_default_json();
		r = util_write_atomic(dirfd, name, json, strlen(json), 0640);
		free(json);
		if (r < 0) {
			*errmsg = xasprintf("cannot write the default configuration: %s",
					    strerror(-r));
			return r;
		}
		*created = true;
		*ret = config_new_default();
		return 0;
	}
	if (r == -EFBIG) {
		*errmsg = xasprintf("the file is larger than %d bytes; refusing to read it",
				    CONFIG_MAX_FILE);
		return -EINVAL;
	}
	if (r == -EINVAL) {
		*errmsg = xstrdup("not a regular file");
		return -EINVAL;
	}
	if (r == -ELOOP) {
		*errmsg = xstrdup("is a symbolic link; refusing to follow it");
		return -EINVAL;
	}
	if (r < 0) {
		*errmsg = xasprintf("cannot read it: %s", strerror(-r));
		return r;
	}
	r = config_parse(text, len, warn, data, ret, errmsg);
	free(text);
	return r;
}

/* The JSON form of one value (a new cJSON node). */
static cJSON *config_value_json(const struct config_def *d, const struct config_value *v)
{
	cJSON *arr;
	size_t i;

	switch (d->type) {
	case CONFIG_BOOL:
		return cJSON_CreateBool(v->b);
	case CONFIG_INT:
		return cJSON_CreateNumber((double)v->i);
	case CONFIG_INT_OR_NULL:
		return v->is_null ? cJSON_CreateNull() : cJSON_CreateNumber((double)v->i);
	case CONFIG_STRING:
	case CONFIG_ENUM:
		return cJSON_CreateString(v->s);
	case CONFIG_STRLIST:
		arr = cJSON_CreateArray();
		for (i = 0; i < v->nlist; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(v->list[i]));
		return arr;
	case CONFIG_OBJLIST:
		arr = cJSON_Parse(v->s);
		return arr ? arr : cJSON_CreateArray();
	}
	return cJSON_CreateNull();
}

char *config_to_json(const struct config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	char *text, *out;
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		cJSON_AddItemToObject(root, config_defs[k].name,
				      config_value_json(&config_defs[k], &cfg->v[k]));
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		abort();
	out = xasprintf("%s\n", text);
	cJSON_free(text);
	return out;
}

char *config_default_json(void)
{
	struct config *cfg = config_new_default();
	char *json = config_to_json(cfg);

	config_free(cfg);
	return json;
}

static const struct config_value *config_get(const struct config *cfg, enum config_key key,
					     enum config_type type)
{
	enum config_type t = config_defs[key].type;

	/* INT_OR_NULL may be read with config_int_set; ENUM with config_string. */
	if (t != type && !(type == CONFIG_STRING && t == CONFIG_ENUM) &&
	    !(type == CONFIG_INT && t == CONFIG_INT_OR_NULL))
		abort();
	return &cfg->v[key];
}

bool config_bool(const struct config *cfg, enum config_key key)
{
	return config_get(cfg, key, CONFIG_BOOL)->b;
}

long long config_int(const struct config *cfg, enum config_key key)
{
	return config_get(cfg, key, CONFIG_INT)->i;
}

bool config_int_set(const struct config *cfg, enum config_key key, long long *ret)
{
	const struct config_value *v = config_get(cfg, key, CONFIG_INT);

	if (v->is_null)
		return false;
	*ret = v->i;
	return true;
}

const char *config_string(const struct config *cfg, enum config_key key)
{
	return config_get(cfg, key, CONFIG_STRING)->s;
}

const char *config_json(const struct config *cfg, enum config_key key)
{
	return config_get(cfg, key, CONFIG_OBJLIST)->s;
}

size_t config_strlist_len(const struct config *cfg, enum config_key key)
{
	return config_get(cfg, key, CONFIG_STRLIST)->nlist;
}

const char *config_strlist_at(const struct config *cfg, enum config_key key, size_t i)
{
	const struct config_value *v = config_get(cfg, key, CONFIG_STRLIST);

	return i < v->nlist ? v->list[i] : NULL;
}

void config_diff(const struct config *a, const struct config *b, config_change_cb changed,
		 void *data)
{
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		cJSON *ja = config_value_json(&config_defs[k], &a->v[k]);
		cJSON *jb = config_value_json(&config_defs[k], &b->v[k]);

		if (!cJSON_Compare(ja, jb, true)) {
			char *ta = cJSON_PrintUnformatted(ja), *tb = cJSON_PrintUnformatted(jb);
			/* Secrets are never logged. */
			if (k == CONFIG_VT_API_KEY)
				changed(config_defs[k].name, "(hidden)", "(hidden)", data);
			else
				changed(config_defs[k].name, ta ? ta : "?", tb ? tb : "?", data);
			cJSON_free(ta);
			cJSON_free(tb);
		}
		cJSON_Delete(ja);
		cJSON_Delete(jb);
	}
}
