/*
 * test_config.c: the configuration loader (config.c): every default, every
 * kind of bad input (truncated JSON, trailing garbage, huge numbers, deep
 * nesting, invalid UTF-8, an oversized file, wrong types, out-of-range
 * values), unknown-key warnings, writing the defaults, and the reload rule
 * that an invalid file leaves the old configuration in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

static int warnings;
static char last_warning[512];

static void count_warning(const char *message, void *data)
{
	(void)data;
	warnings++;
	snprintf(last_warning, sizeof(last_warning), "%s", message);
}

/* Parses text; returns the error message (malloc'd) or NULL on success. */
static char *parse_err(const char *text, size_t len)
{
	struct config *cfg = NULL;
	char *err = NULL;
	int r = config_parse(text, len, count_warning, NULL, &cfg, &err);

	config_free(cfg);
	if (r == 0) {
		free(err);
		return NULL;
	}
	return err ? err : xstrdup("(no message)");
}

static void expect_error(const char *text, const char *needle, const char *name)
{
	char *err = parse_err(text, strlen(text));

	ok(err != NULL, "%s: rejected", name);
	ok(err && strstr(err, needle), "%s: message mentions '%s' (got: %s)", name, needle,
	   err ? err : "none");
	free(err);
}

static void test_defaults(void)
{
	struct config *cfg = config_new_default();
	long long n;

	is_int(config_int(cfg, CONFIG_DB_RETENTION_DAYS), 365, "default DB retention (days) 365");
	ok(config_bool(cfg, CONFIG_DB_SQL_LOG), "default DB sql log true");
	ok(!config_bool(cfg, CONFIG_DB_TEXT_LOG), "default DB text log false");
	is_int(config_int(cfg, CONFIG_DB_WRITE_LIMIT), 1, "default DB write limit 1");
	ok(config_bool(cfg, CONFIG_DESKTOP_NOTIFICATIONS), "default Desktop notifications true");
	ok(!config_bool(cfg, CONFIG_EVERY_EXE), "default Every exe false");
	ok(config_bool(cfg, CONFIG_LOG_ADDRESSES), "default Log addresses true");
	ok(config_bool(cfg, CONFIG_LOG_COMMANDS), "default Log commands true");
	is_int(config_strlist_len(cfg, CONFIG_LOG_IGNORE), 0, "default Log ignore []");
	ok(!config_int_set(cfg, CONFIG_SET_RLIMIT_NOFILE, &n), "default Set RLIMIT_NOFILE null");
	is_str(config_string(cfg, CONFIG_VT_API_KEY), "", "default VT API key empty");
	ok(!config_bool(cfg, CONFIG_VT_FILE_UPLOAD), "default VT file upload false");
	is_int(config_int(cfg, CONFIG_VT_REQUEST_LIMIT), 15, "default VT request limit 15");
	is_str(config_string(cfg, CONFIG_AUDIT_MODE), "auto", "default Audit mode auto");
	is_int(config_int(cfg, CONFIG_AUDIT_BACKLOG_LIMIT), 8192, "default Audit backlog limit 8192");
	is_str(config_string(cfg, CONFIG_DESKTOP_USER), "", "default Desktop user empty");
	config_free(cfg);
}

/* The defaults written to a file read back as the same configuration. */
static void test_default_roundtrip(void)
{
	char *json = config_default_json(), *err = NULL;
	struct config *cfg = NULL;

	ok(strstr(json, "\"DB retention (days)\":\t365") != NULL, "default JSON has picosnitch key");
	ok(config_parse(json, strlen(json), count_warning, NULL, &cfg, &err) == 0,
	   "default JSON parses");
	ok(cfg && config_int(cfg, CONFIG_VT_REQUEST_LIMIT) == 15, "round trip keeps values");
	config_free(cfg);
	free(err);
	free(json);
}

static void test_values(void)
{
	const char *text = "{\"DB write limit (seconds)\": 5, \"Log ignore\": [\"8.8.8.8\", 53],"
			   " \"Set RLIMIT_NOFILE\": 4096, \"Audit mode\": \"multicast\","
			   " \"Desktop user\": \"alice\", \"DB text log\": true}";
	struct config *cfg = NULL;
	char *err = NULL;
	long long n = 0;

	ok(config_parse(text, strlen(text), count_warning, NULL, &cfg, &err) == 0, "valid file parses");
	if (!cfg) {
		free(err);
		return;
	}
	is_int(config_int(cfg, CONFIG_DB_WRITE_LIMIT), 5, "write limit read");
	is_int(config_strlist_len(cfg, CONFIG_LOG_IGNORE), 2, "ignore list length");
	is_str(config_strlist_at(cfg, CONFIG_LOG_IGNORE, 1), "53", "ignore list item");
	ok(config_int_set(cfg, CONFIG_SET_RLIMIT_NOFILE, &n) && n == 4096, "rlimit set");
	is_str(config_string(cfg, CONFIG_AUDIT_MODE), "multicast", "enum read");
	is_str(config_string(cfg, CONFIG_DESKTOP_USER), "alice", "string read");
	ok(config_bool(cfg, CONFIG_DB_TEXT_LOG), "bool read");
	is_int(config_int(cfg, CONFIG_DB_RETENTION_DAYS), 365, "unset key keeps default");
	config_free(cfg);
}

static void test_errors(void)
{
	char *big, *deep, *err;
	size_t i, n;

	expect_error("{\"DB sql log\": tru", "not valid JSON", "truncated JSON");
	expect_error("{\"DB sql log\": true} x", "trailing text", "trailing garbage");
	expect_error("", "not valid JSON", "empty file");
	expect_error("[1,2]", "top level must be a JSON object", "array at top");
	expect_error("{\"DB write limit (seconds)\": 1e400}", "DB write limit (seconds)",
		     "huge number names key");
	expect_error("{\"DB write limit (seconds)\": 1e400}", "too large", "huge number described");
	expect_error("{\"DB write limit (seconds)\": 99999999999999999999}",
		     "an integer from 1 to 3600", "huge integer");
	expect_error("{\"DB write limit (seconds)\": 0}", "an integer from 1 to 3600",
		     "below range");
	expect_error("{\"DB write limit (seconds)\": 1.5}", "got 1.5", "fraction");
	expect_error("{\"DB sql log\": \"yes\"}", "expected true or false, got \"yes\" (a string)",
		     "string for bool");
	expect_error("{\"DB retention (days)\": \"30\"}", "DB retention (days)", "string for int");
	expect_error("{\"Log ignore\": \"8.8.8.8\"}", "an array of at most", "string for list");
	expect_error("{\"Log ignore\": [1.5]}", "Log ignore", "fraction in list");
	expect_error("{\"Log ignore\": [true]}", "Log ignore", "bool in list");
	expect_error("{\"Audit mode\": \"bogus\"}", "one of the strings auto,multicast,daemon",
		     "bad enum");
	expect_error("{\"Set RLIMIT_NOFILE\": true}", "null or an integer", "bool for nullable int");
	expect_error("{\"DB sql log\": true, \"DB sql log\": false}", "more than once",
		     "duplicate key");
	expect_error("{\"Desktop user\": \"\xff\xfe\"}", "invalid UTF-8", "invalid UTF-8");
	expect_error("{\"Desktop user\": \"\xc0\xaf\"}", "invalid UTF-8", "overlong UTF-8");
	expect_error("{\n\n  \"x\": tru }", "line 3", "position reported");

	/* 10,000-deep nesting: cJSON's nesting limit refuses it without recursion blowup. */
	n = 10000;
	deep = xmalloc(2 * n + 32);
	strcpy(deep, "{\"Log ignore\": ");
	i = strlen(deep);
	memset(deep + i, '[', n);
	memset(deep + i + n, ']', n);
	strcpy(deep + i + 2 * n, "}");
	err = parse_err(deep, strlen(deep));
	ok(err && strstr(err, "nested deeper"), "10000-deep nesting rejected (%s)", err ? err : "");
	free(err);
	free(deep);

	/* A NUL inside the text. */
	err = parse_err("{\"a\":\0}", 7);
	ok(err && strstr(err, "NUL"), "embedded NUL rejected");
	free(err);

	/* Larger than the limit: refused before parsing. */
	n = CONFIG_MAX_FILE + 10;
	big = xmalloc(n);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	err = parse_err(big, n);
	ok(err && strstr(err, "at most"), "oversized text rejected");
	free(err);
	free(big);
}

static void test_unknown_key(void)
{
	char *err;
	const char *text = "{\"No such key\": 1, \"DB sql log\": false}";

	warnings = 0;
	err = parse_err(text, strlen(text));
	ok(err == NULL, "unknown key is not an error");
	is_int(warnings, 1, "unknown key warns once");
	ok(strstr(last_warning, "No such key") != NULL, "warning names the key");
	free(err);
}

static void test_load_file(void)
{
	char dir[] = "/tmp/asn-test-config.XXXXXX";
	struct config *cfg = NULL;
	char *err = NULL, *text = NULL;
	struct stat st;
	bool created = false;
	int dfd, r, fd;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	r = config_load(dfd, "config.json", count_warning, NULL, &cfg, &created, &err);
	ok(r == 0 && created, "missing file: defaults written");
	ok(fstatat(dfd, "config.json", &st, 0) == 0 && (st.st_mode & 0777) == 0640,
	   "defaults file is 0640");
	config_free(cfg);
	cfg = NULL;

	/* A file that exists but is broken is an error and is left alone. */
	fd = openat(dfd, "config.json", O_WRONLY | O_TRUNC);
	ok(fd >= 0 && write(fd, "{broken", 7) == 7, "write a broken file");
	close(fd);
	free(err);
	err = NULL;
	r = config_load(dfd, "config.json", count_warning, NULL, &cfg, &created, &err);
	ok(r == -EINVAL && !created && err, "broken file: error, not replaced");
	ok(util_read_file(dfd, "config.json", 100, &text, NULL) == 0 && strcmp(text, "{broken") == 0,
	   "broken file untouched");
	free(text);
	free(err);
	err = NULL;

	/* A symlink is not followed. */
	ok(symlinkat("/etc/passwd", dfd, "link.json") == 0, "make a symlink");
	r = config_load(dfd, "link.json", count_warning, NULL, &cfg, &created, &err);
	ok(r < 0 && !created, "symlinked config refused");
	free(err);
	err = NULL;

	/* A missing .toml is not written with JSON defaults. */
	r = config_load(dfd, "config.toml", count_warning, NULL, &cfg, &created, &err);
	ok(r == -EINVAL && !created && err && strstr(err, "reads JSON"), "missing .toml refused");
	ok(faccessat(dfd, "config.toml", F_OK, 0) < 0, "missing .toml not created");
	free(err);
	err = NULL;

	unlinkat(dfd, "config.json", 0);
	unlinkat(dfd, "link.json", 0);
	close(dfd);
	rmdir(dir);
}

static int changes;

static void count_change(const char *key, const char *a, const char *b, void *data)
{
	(void)key;
	(void)a;
	(void)b;
	(void)data;
	changes++;
}

static void test_diff(void)
{
	struct config *a = config_new_default(), *b = NULL;
	char *err = NULL;
	const char *text = "{\"DB text log\": true, \"VT API key\": \"secret\"}";

	ok(config_parse(text, strlen(text), NULL, NULL, &b, &err) == 0, "parse for diff");
	changes = 0;
	if (b)
		config_diff(a, b, count_change, NULL);
	is_int(changes, 2, "diff reports the two changed keys");
	config_free(a);
	config_free(b);
	free(err);
}

/* data/config.json, installed as the documented default, matches the code. */
static void test_shipped_default(void)
{
	const char *top = getenv("top_srcdir");
	char *path, *text = NULL, *json = config_default_json();
	int dfd;

	path = xasprintf("%s/data", top ? top : ".");
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	ok(dfd >= 0 && util_read_file(dfd, "config.json", 65536, &text, NULL) == 0,
	   "read data/config.json");
	is_str(text, json, "data/config.json equals the built-in defaults");
	if (dfd >= 0)
		close(dfd);
	free(path);
	free(text);
	free(json);
}

/* A validator for the test: "VT API key" may not be "bad". */
static char *reject_bad_key(const struct config *cfg, enum config_key key)
{
	return strcmp(config_string(cfg, key), "bad") ? NULL : xstrdup("not this one");
}

static size_t count_lines(const char *s)
{
	size_t n = s && *s ? 1 : 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* check-config promises every problem of the file in one pass. */
static void test_all_problems(void)
{
	static const char text[] =
		"{\"DB sql log\": 3, \"DB retention (days)\": 0, \"Audit mode\": \"x\",\n"
		" \"Syslog\": true, \"Syslog\": false, \"Syslog\": true, \"VT API key\": \"bad\",\n"
		" \"Set RLIMIT_NOFILE\": \"many\", \"Colour\": 1}";
	const char *dup;
	char *err;

	config_set_validator(CONFIG_VT_API_KEY, reject_bad_key);
	warnings = 0;
	err = parse_err(text, strlen(text));
	ok(err != NULL, "all problems: rejected");
	is_int(count_lines(err), 6, "all problems: six problems, one per line");
	ok(err && strstr(err, "\"DB sql log\": expected true or false, got 3 (a number)"),
	   "all problems: the first");
	ok(err && strstr(err, "\"DB retention (days)\": expected an integer from 1 to 36500"),
	   "all problems: the second");
	ok(err && strstr(err, "\"Audit mode\": expected one of the strings"), "all problems: enum");
	dup = err ? strstr(err, "\"Syslog\": the key appears more than once") : NULL;
	ok(dup && !strstr(dup + strlen("\"Syslog\": the key appears more than once"),
		      "more than once"),
	   "all problems: a repeated key (three times), named once");
	ok(err && strstr(err, "\"Set RLIMIT_NOFILE\": expected null or an integer"),
	   "all problems: the last");
	ok(err && strstr(err, "\"VT API key\": not this one"), "all problems: validators run too");
	is_int(warnings, 1, "all problems: the unknown key still warned");
	free(err);
	/* A key whose value is wrong is not also given to its validator. */
	err = parse_err("{\"VT API key\": 5}", 17);
	is_int(count_lines(err), 1, "all problems: a wrong type is one problem");
	free(err);
	config_set_validator(CONFIG_VT_API_KEY, NULL);
}

/* A picosnitch 2.x config.toml gets the JSON keys to write. */
static void test_toml(void)
{
	static const char toml[] =
		"# picosnitch\n"
		"[picosnitch]\n"
		"db_retention_days = 30\n"
		"\"DB sql log\" = true\n"
		"every_exe = false\n"
		"log_ignore = [\"example.com\", 443]\n"
		"colour_theme = 'dark'\n";
	char *err = parse_err(toml, strlen(toml));

	ok(err && strstr(err, "this is TOML") && strstr(err, "reads JSON"), "toml: said so");
	ok(err && strstr(err, "line 3: db_retention_days = 30 -> \"DB retention (days)\": 30"),
	   "toml: snake_case key mapped to the JSON key");
	ok(err && strstr(err, "line 4: DB sql log = true -> \"DB sql log\": true"),
	   "toml: quoted key mapped");
	ok(err && strstr(err, "-> \"Every exe (not just conns)\": false"), "toml: prefix mapped");
	ok(err && strstr(err, "-> \"Log ignore\": [\"example.com\", 443]"), "toml: value kept");
	ok(err && strstr(err, "line 7: colour_theme: no such key"), "toml: unknown key named");
	free(err);
	err = parse_err("db_retention_days = 30\n", 23);
	ok(err && strstr(err, "this is TOML"), "toml: key = value on the first line");
	free(err);
	err = parse_err("[1, 2", 5);
	ok(err && !strstr(err, "TOML"), "toml: a broken JSON array is not called TOML");
	free(err);
	err = parse_err("[[servers]]\nname = \"a\"\n", 22);
	ok(err && strstr(err, "this is TOML"), "toml: an array of tables");
	free(err);
	err = parse_err("{\"a\" = 1}", 9);
	ok(err && strstr(err, "not valid JSON") && !strstr(err, "TOML"),
	   "toml: broken JSON is not called TOML");
	free(err);
}

int main(void)
{
	test_shipped_default();
	test_defaults();
	test_default_roundtrip();
	test_values();
	test_errors();
	test_unknown_key();
	test_load_file();
	test_diff();
	test_all_problems();
	test_toml();
	return tap_done();
}
