/*
 * test_util.c: the one escaping rule for text sinks (util_text_next and the
 * sinks built on it: util_escape, the JSON encoder, notification markup)
 * and util_open_state, the safe open of a state file (no FIFO hang, no
 * symlink, no hard link, no file of another owner or writable by others).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "conn.h"
#include "log.h"
#include "json.h"
#include "records.h"
#include "store.h"
#include "tap.h"
#include "util.h"

/* True when s holds none of the bytes the rule keeps from a terminal. */
static bool test_util_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		enum util_text_kind kind;
		uint32_t cp;
		size_t n = util_text_next(p + i, len - i, &cp, &kind);

		if (kind != UTIL_TEXT_PLAIN)
			return false;
		i += n;
	}
	return true;
}

static void test_rule(void)
{
	static const struct {
		const char *text;
		size_t len;
		enum util_text_kind kind;
		uint32_t cp;
		const char *what;
	} cases[] = {
		{ "a", 1, UTIL_TEXT_PLAIN, 'a', "ASCII letter" },
		{ " ", 1, UTIL_TEXT_PLAIN, ' ', "space" },
		{ "~", 1, UTIL_TEXT_PLAIN, '~', "tilde" },
		{ "\x1b", 1, UTIL_TEXT_UNSAFE, 0x1b, "ESC (C0)" },
		{ "\x07", 1, UTIL_TEXT_UNSAFE, 0x07, "BEL (C0)" },
		{ "\r", 1, UTIL_TEXT_UNSAFE, '\r', "CR (C0)" },
		{ "\0", 1, UTIL_TEXT_UNSAFE, 0, "NUL (C0)" },
		{ "\x7f", 1, UTIL_TEXT_UNSAFE, 0x7f, "DEL" },
		{ "\xc2\x80", 2, UTIL_TEXT_UNSAFE, 0x80, "U+0080 (C1, UTF-8)" },
		{ "\xc2\x9b", 2, UTIL_TEXT_UNSAFE, 0x9b, "U+009B CSI (C1, UTF-8)" },
		{ "\xc2\x9f", 2, UTIL_TEXT_UNSAFE, 0x9f, "U+009F (C1, UTF-8)" },
		{ "\xc2\xa0", 2, UTIL_TEXT_PLAIN, 0xa0, "U+00A0 is printable" },
		{ "\x9b", 1, UTIL_TEXT_INVALID, 0x9b, "raw byte 0x9b (C1 as a byte)" },
		{ "\x85", 1, UTIL_TEXT_INVALID, 0x85, "raw byte 0x85" },
		{ "\xe2\x80\xaa", 3, UTIL_TEXT_UNSAFE, 0x202a, "U+202A LRE" },
		{ "\xe2\x80\xae", 3, UTIL_TEXT_UNSAFE, 0x202e, "U+202E RLO" },
		{ "\xe2\x80\xa9", 3, UTIL_TEXT_PLAIN, 0x2029, "U+2029 is not a bidi control" },
		{ "\xe2\x80\xaf", 3, UTIL_TEXT_PLAIN, 0x202f, "U+202F is not a bidi control" },
		{ "\xe2\x81\xa6", 3, UTIL_TEXT_UNSAFE, 0x2066, "U+2066 LRI" },
		{ "\xe2\x81\xa9", 3, UTIL_TEXT_UNSAFE, 0x2069, "U+2069 PDI" },
		{ "\xe2\x81\xaa", 3, UTIL_TEXT_PLAIN, 0x206a, "U+206A is not an isolate" },
		{ "\xc3\xa9", 2, UTIL_TEXT_PLAIN, 0xe9, "e acute" },
		{ "\xf0\x9f\x98\x80", 4, UTIL_TEXT_PLAIN, 0x1f600, "emoji" },
		{ "\xc0\xaf", 2, UTIL_TEXT_INVALID, 0xc0, "overlong /" },
		{ "\xed\xa0\x80", 3, UTIL_TEXT_INVALID, 0xed, "surrogate" },
		{ "\xe2\x80", 2, UTIL_TEXT_INVALID, 0xe2, "truncated sequence" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum util_text_kind kind;
		uint32_t cp = 0;
		size_t n = util_text_next((const unsigned char *)cases[i].text, cases[i].len, &cp, &kind);

		ok(kind == cases[i].kind && cp == cases[i].cp &&
		   n == (cases[i].kind == UTIL_TEXT_INVALID ? 1 : cases[i].len),
		   "rule: %s (kind %d, U+%04x, %zu bytes)", cases[i].what, (int)kind, (unsigned)cp, n);
	}
}

/* The text every sink gets in these tests: ESC, BEL, CR, U+009B, raw 0x9b, U+202E. */
static const char attack[] = "x\x1b]0;pwn\x07y\rz\xc2\x9b" "31m\x9b" "a\xe2\x80\xae" "gpj.exe";

static void test_escape(void)
{
	char out[256], *dup;

	util_escape(out, sizeof(out), attack, sizeof(attack) - 1);
	is_str(out, "x\\x1b]0;pwn\\x07y\\x0dz\\u009b31m\\x9ba\\u202egpj.exe", "escape: the attack");
	ok(test_util_clean(out), "escape: nothing unsafe left");
	util_escape(out, sizeof(out), "a\"b\\c", 5);
	is_str(out, "a\\\"b\\\\c", "escape: quotes and backslash with UTIL_ESCAPE_QUOTES");
	util_escape_flags(out, sizeof(out), "a\"b\\c\xe2\x81\xa6", 8, 0);
	is_str(out, "a\"b\\c\\u2066", "escape_flags 0: quotes kept, isolate escaped");
	/* Truncation never cuts an escape or a character in half. */
	is_int(util_escape(out, 4, "\xc2\x9b" "abc", 5), 9, "escape: needed length of \\u009babc");
	is_str(out, "", "escape: a piece that does not fit is left out whole");
	util_escape_flags(out, sizeof(out), "a,\"b\\c\x1b\xff", 8, UTIL_ESCAPE_CSV);
	is_str(out, "a,\"\"b\\x5cc\\x1b\\xff", "escape_flags CSV: \"\" and \\x5c, controls as \\xNN");
	util_escape_flags(out, sizeof(out), "<a href='x'>&\"\\\xc2\x85", 17, UTIL_ESCAPE_MARKUP);
	is_str(out, "&lt;a href=&apos;x&apos;&gt;&amp;&quot;\\\\\\u0085",
	       "escape_flags MARKUP: entities, \\\\, NEL as \\u0085");
	is_int(util_utf8_valid("ab\xc3\xa9", 4), 4, "utf8_valid: all valid");
	is_int(util_utf8_valid("ab\xc3(", 4), 2, "utf8_valid: offset of the bad sequence");
	is_int(util_utf8_valid("\xed\xa0\x80", 3), 0, "utf8_valid: a surrogate is invalid");
	dup = util_escape_dup("\xe2\x80\xad", 3);
	is_str(dup, "\\u202d", "escape_dup: LRO");
	free(dup);
}

/* Numbers at their edges, keys that need escaping, a buffer that grows. */
static void test_json_numbers(void)
{
	static const long long ints[] = { 0, 1, -1, 9, 10, -10, 99, 100, 999999999, 1000000000,
					  INT64_MAX, INT64_MIN, -4294967296LL };
	static const unsigned long long uints[] = { 0, 7, 10, 65535, 4294967295ULL, 10000000000ULL,
						    UINT64_MAX, UINT64_MAX / 10 };
	struct jsonbuf b;
	char want[64];
	size_t i;
	int same = 1;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		jsonbuf_init(&b);
		jsonbuf_int(&b, ints[i]);
		snprintf(want, sizeof(want), "%lld", ints[i]);
		if (strcmp(b.data, want) != 0 || b.len != strlen(want)) {
			printf("# int %s: got %s\n", want, b.data);
			same = 0;
		}
		jsonbuf_free(&b);
	}
	for (i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		jsonbuf_init(&b);
		jsonbuf_uint(&b, uints[i]);
		snprintf(want, sizeof(want), "%llu", uints[i]);
		if (strcmp(b.data, want) != 0 || b.len != strlen(want)) {
			printf("# uint %s: got %s\n", want, b.data);
			same = 0;
		}
		jsonbuf_free(&b);
	}
	ok(same, "json: integers as printf writes them, edges included");
	jsonbuf_init(&b);
	jsonbuf_begin(&b);
	jsonbuf_kuint(&b, "a\"b\\", 1);
	jsonbuf_kint(&b, "\x01", -2);
	jsonbuf_kstr(&b, "s", NULL);
	jsonbuf_end(&b);
	is_str(b.data, "{\"a\\\"b\\\\\":1,\"\\u0001\":-2,\"s\":null}", "json: keys escaped like values");
	jsonbuf_free(&b);
	jsonbuf_init(&b);
	jsonbuf_arr_begin(&b);
	for (i = 0; i < 5000; i++) {
		jsonbuf_item(&b);
		jsonbuf_uint(&b, i);
	}
	jsonbuf_arr_end(&b);
	ok(b.len == strlen(b.data) && b.len > 20000 && strncmp(b.data + b.len - 6, ",4999]", 6) == 0,
	   "json: a growing buffer stays terminated");
	jsonbuf_free(&b);
}

static void test_json(void)
{
	struct jsonbuf b;

	jsonbuf_init(&b);
	jsonbuf_str(&b, "a\x1b\xc2\x85\xe2\x80\xae\xe2\x81\xa8" "b\n", 12);
	is_str(b.data, "\"a\\u001b\\u0085\\u202e\\u2068b\\n\"", "json: C0, C1 and bidi as \\u escapes");
	jsonbuf_free(&b);
	jsonbuf_init(&b);
	jsonbuf_str(&b, "a\x9b", 2);
	is_str(b.data, "\"a\\u009b\"", "json: a raw C1 byte (invalid UTF-8) as \\u009b in a string");
	jsonbuf_free(&b);
	jsonbuf_init(&b);
	jsonbuf_begin(&b);
	jsonbuf_key(&b, "v");
	jsonbuf_arr_begin(&b);
	jsonbuf_item(&b);
	jsonbuf_int(&b, 1);
	jsonbuf_item(&b);
	jsonbuf_begin(&b);
	jsonbuf_kbool(&b, "t", 1);
	jsonbuf_end(&b);
	jsonbuf_arr_end(&b);
	jsonbuf_kstr(&b, "w", "\xff");
	jsonbuf_end(&b);
	is_str(b.data, "{\"v\":[1,{\"t\":true}],\"w\":\"\\u00ff\"}", "json: arrays, nesting, commas");
	jsonbuf_free(&b);
	test_json_numbers();
}

static void test_markup(void)
{
	char *s = records_markup_escape(attack, sizeof(attack) - 1, 1000);

	is_str(s, "x\\x1b]0;pwn\\x07y\\x0dz\\u009b31m\\x9ba\\u202egpj.exe",
	       "markup: notifications follow the rule");
	ok(test_util_clean(s), "markup: nothing unsafe left");
	free(s);
}

static void test_open_state(void)
{
	char dir[] = "/tmp/asn-test-util.XXXXXX";
	struct stat st;
	int dfd, fd;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = util_open_state(dfd, "new.log", O_WRONLY | O_APPEND, true, 0640);
	ok(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0640 && S_ISREG(st.st_mode),
	   "open_state: creates 0640 whatever the umask");
	ok(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "open_state: blocking again once known regular");
	close(fd);
	fd = util_open_state(dfd, "new.log", O_WRONLY | O_APPEND, true, 0640);
	ok(fd >= 0, "open_state: opens an existing file of ours");
	close(fd);

	/* A FIFO planted as error.log: refused at once, not a hang in open(2). */
	ok(mkfifoat(dfd, "fifo.log", 0600) == 0, "mkfifo");
	is_int(util_open_state(dfd, "fifo.log", O_WRONLY | O_APPEND, true, 0640), -EINVAL,
	       "open_state: a FIFO is refused without blocking");
	ok(symlinkat("new.log", dfd, "link.log") == 0, "symlink");
	is_int(util_open_state(dfd, "link.log", O_WRONLY | O_APPEND, true, 0640), -ELOOP,
	       "open_state: a symlink is not followed");
	ok(linkat(dfd, "new.log", dfd, "hard.log", 0) == 0, "hard link");
	is_int(util_open_state(dfd, "hard.log", O_WRONLY | O_APPEND, true, 0640), -EMLINK,
	       "open_state: a hard link to another file is refused");
	unlinkat(dfd, "hard.log", 0);
	ok(fchmodat(dfd, "new.log", 0666, 0) == 0, "chmod 0666");
	is_int(util_open_state(dfd, "new.log", O_WRONLY | O_APPEND, false, 0640), -EPERM,
	       "open_state: a file writable by others is refused");
	ok(mkdirat(dfd, "sub", 0700) == 0, "mkdir");
	is_int(util_open_state(dfd, "sub", O_RDONLY, false, 0640), -EINVAL,
	       "open_state: a directory is refused");
	unlinkat(dfd, "sub", AT_REMOVEDIR);
	if (geteuid() == 0) {
		fd = openat(dfd, "other.log", O_WRONLY | O_CREAT | O_EXCL, 0600);
		ok(fd >= 0 && fchown(fd, 65534, 65534) == 0, "a file owned by nobody");
		close(fd);
		is_int(util_open_state(dfd, "other.log", O_WRONLY | O_APPEND, true, 0640), -EPERM,
		       "open_state: a file of another user is refused");
		unlinkat(dfd, "other.log", 0);
	}
	unlinkat(dfd, "new.log", 0);
	unlinkat(dfd, "fifo.log", 0);
	unlinkat(dfd, "link.log", 0);
	close(dfd);
	rmdir(dir);
}

static void test_util_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_int(ctx, 42);
}

/* error.log and syslog get the message through the same rule. */
static void test_log(void)
{
	char dir[] = "/tmp/asn-test-log.XXXXXX", *text = NULL;
	int dfd;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	log_setup(false, false, LOG_INFO);
	is_int(log_open_file(dfd, "error.log"), 0, "log: open error.log");
	log_notice("path %s end", attack);
	log_close();
	ok(util_read_file(dfd, "error.log", 4096, &text, NULL) == 0, "log: read error.log back");
	ok(text && strstr(text, "path x\\x1b]0;pwn\\x07y\\x0dz\\u009b31m\\x9ba\\u202egpj.exe end\n"),
	   "log: one line, every control escaped: %s", text ? text : "");
	ok(text && strchr(text, '\n') == text + strlen(text) - 1, "log: a single line");
	if (text)
		text[strlen(text) - 1] = '\0';
	ok(text && test_util_clean(text), "log: nothing unsafe left in the line");
	free(text);
	unlinkat(dfd, "error.log", 0);
	ok(mkfifoat(dfd, "error.log", 0600) == 0, "a FIFO as error.log");
	is_int(log_open_file(dfd, "error.log"), -EINVAL, "log: a FIFO as error.log is refused at once");
	unlinkat(dfd, "error.log", 0);
	close(dfd);
	rmdir(dir);
}

/* A reader's connection: schema objects cannot call application functions. */
static void test_reader(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	ok(sqlite3_open(":memory:", &db) == SQLITE_OK, "sqlite open");
	ok(sqlite3_create_function(db, "appfn", 0, SQLITE_UTF8, NULL, test_util_fn, NULL, NULL) ==
	   SQLITE_OK, "an application function (not innocuous)");
	ok(sqlite3_exec(db, "CREATE VIEW v AS SELECT appfn() AS x", NULL, NULL, NULL) == SQLITE_OK,
	   "a view in the schema calls it");
	is_int(store_harden_reader(db), 0, "store_harden_reader");
	rc = sqlite3_prepare_v2(db, "SELECT x FROM v", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	ok(rc == SQLITE_ERROR, "trusted_schema=OFF: the view may not call it (%s)", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	ok(sqlite3_exec(db, "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'x'",
			NULL, NULL, NULL) != SQLITE_OK, "DEFENSIVE: sqlite_master cannot be written");
	sqlite3_close(db);
}

/* A conn_str's hash is the text's (with its NUL), kept from its making. */
static void test_conn_str(void)
{
	char *a = conn_str_new("/usr/bin/curl"), *b = conn_str_new("/usr/bin/curl");
	char *c = conn_str_new("/usr/bin/curl2"), *e = conn_str_new("");

	ok(a != b, "conn_str: two copies of one text");
	ok(conn_str_hash(a) == util_hash_bytes(UTIL_HASH_SEED, "/usr/bin/curl", 14),
	   "conn_str: hash is the text's");
	ok(conn_str_hash(a) == conn_str_hash(b), "conn_str: equal text, equal hash");
	ok(conn_str_hash(a) != conn_str_hash(c), "conn_str: other text, other hash");
	ok(conn_str_hash(e) == util_hash_bytes(UTIL_HASH_SEED, "", 1),
	   "conn_str: the static empty string's hash");
	is_int(conn_str_hash(conn_str_ref(a)) == conn_str_hash(a), 1, "conn_str: a reference's hash");
	is_int(conn_str_refs(a), 2, "conn_str: two references");
	conn_str_unref(a);
	conn_str_unref(a);
	conn_str_unref(b);
	conn_str_unref(c);
	conn_str_unref(e);
}

/* conn_record_free_many drops each record's references, shared ones in runs. */
static void test_conn_free_many(void)
{
	char *exe = conn_str_new("/usr/bin/wget"), *other = conn_str_new("/usr/bin/curl");
	char *dom = conn_str_new("example.org");
	struct conn_record *recs[5];

	for (int i = 0; i < 5; i++) {
		recs[i] = conn_record_new();
		conn_share(&recs[i]->proc.exe, i == 2 ? other : exe);
		conn_share(&recs[i]->parent.exe, exe);
		if (i < 2)
			conn_share(&recs[i]->domain, dom);
		conn_set(&recs[i]->proc.cmdline, i == 4 ? "wget -q" : "");
	}
	is_int(conn_str_refs(exe), 10, "free_many: exe held by ten fields");
	recs[3] = (conn_record_free(recs[3]), NULL); /* a NULL in the middle is skipped */
	is_int(conn_str_refs(exe), 8, "free_many: one record freed alone");
	conn_record_free_many(recs, 3); /* exe, exe; other; dom twice */
	is_int(conn_str_refs(exe), 3, "free_many: runs split by another string");
	is_int(conn_str_refs(other), 1, "free_many: the other string dropped");
	is_int(conn_str_refs(dom), 1, "free_many: the domain run dropped");
	conn_record_free_many(recs + 3, 2); /* the NULL, then the last */
	is_int(conn_str_refs(exe), 1, "free_many: only ours left");
	conn_record_free_many(NULL, 0);
	conn_str_unref(exe);
	conn_str_unref(other);
	conn_str_unref(dom);
}

/* The writer thread's side of test_conn_spares: frees each batch it is given. */
struct spare_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct conn_record *batch[64][100];
	size_t head, tail;
	bool done;
};

static void *spare_freer(void *arg)
{
	struct spare_queue *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == q->tail && !q->done)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->head == q->tail)
			break;
		pthread_mutex_unlock(&q->mu);
		conn_record_free_many(q->batch[q->head % 64], 100);
		pthread_mutex_lock(&q->mu);
		q->head++;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/*
 * Freed records come back through conn_record_new_spare whole and clean,
 * at most 512 are kept, and records made on one thread and freed on
 * another while the first takes spares (the event loop and the writer)
 * all come back or are freed: ASan's leak check covers the rest.
 */
static void test_conn_spares(void)
{
	struct conn_record *local = NULL, *recs[1100], *taken[512], *r;
	struct spare_queue *q = calloc(1, sizeof(*q));
	char *exe = conn_str_new("/usr/bin/wget");
	size_t from_spares = 0;
	pthread_t th;
	bool clean = true;

	conn_record_spares_free(&local); /* what the tests before freed */
	is_int((int)conn_record_spares(), 0, "spares: none at first");
	r = conn_record_new_spare(&local);
	ok(r && *r->proc.exe == '\0' && r->conns == 0, "spares: a fresh record when none");
	conn_record_free(r);
	is_int((int)conn_record_spares(), 1, "spares: a freed record is kept");
	ok(conn_record_new_spare(&local) == r, "spares: and comes back");
	is_int((int)conn_record_spares(), 0, "spares: taken");
	recs[0] = r;
	for (int i = 1; i < 1100; i++)
		recs[i] = conn_record_new();
	for (int i = 0; i < 1100; i++) {
		conn_share(&recs[i]->proc.exe, exe);
		conn_set(&recs[i]->domain, "example.org");
		recs[i]->send = 7;
		recs[i]->lport = 40000 + i;
	}
	conn_record_free_many(recs, 1100);
	is_int((int)conn_record_spares(), 512, "spares: at most 512 kept");
	is_int((int)conn_str_refs(exe), 1, "spares: their strings dropped");
	for (int i = 0; i < 512; i++) {
		r = conn_record_new_spare(&local);
		clean = clean && r->send == 0 && r->lport == 0 && *r->domain == '\0' &&
			*r->proc.exe == '\0' && r->spare == NULL;
		for (int j = 0; j < 1100; j++)
			if (recs[j] == r) {
				from_spares++;
				break;
			}
		for (int j = 0; j < i; j++)
			if (taken[j] == r)
				from_spares = 0; /* twice: never counts to 512 */
		taken[i] = r;
	}
	is_int((int)from_spares, 512, "spares: each kept record comes back once");
	ok(clean, "spares: zeroed, strings empty");
	is_int((int)conn_record_spares(), 0, "spares: all taken");
	conn_record_free_many(taken, 512);

	/* Made here, freed by another thread in batches, taken again here. */
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	ok(pthread_create(&th, NULL, spare_freer, q) == 0, "spares: freeing thread");
	for (int b = 0; b < 400; b++) {
		pthread_mutex_lock(&q->mu);
		while (q->tail - q->head == 64)
			pthread_cond_wait(&q->cv, &q->mu);
		pthread_mutex_unlock(&q->mu);
		for (int i = 0; i < 100; i++) {
			r = conn_record_new_spare(&local);
			conn_share(&r->proc.exe, exe);
			q->batch[q->tail % 64][i] = r;
		}
		pthread_mutex_lock(&q->mu);
		q->tail++;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
	}
	pthread_mutex_lock(&q->mu);
	q->done = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(th, NULL);
	is_int((int)conn_str_refs(exe), 1, "spares: 40,000 records across threads, strings dropped");
	ok(conn_record_spares() <= 512 + 100, "spares: the bound held across threads");
	conn_record_spares_free(&local);
	is_int((int)conn_record_spares(), 0, "spares: all freed at the end");
	ok(local == NULL, "spares: the local list emptied");
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
	conn_str_unref(exe);
}

/* The table hashes and the saturating adds. */
static void test_hash_sat(void)
{
	static const char a[] = "/usr/bin/firefox-esr", b[] = "/usr/bin/firefox-esq";
	uint64_t h1 = util_hash_bytes(UTIL_HASH_SEED, a, sizeof(a)),
		 h2 = util_hash_bytes(UTIL_HASH_SEED, b, sizeof(b));

	ok(h1 == util_hash_bytes(UTIL_HASH_SEED, a, sizeof(a)), "hash_bytes: same bytes, same hash");
	ok(h1 != h2, "hash_bytes: one bit apart in the tail, different hashes");
	ok(util_hash_bytes(UTIL_HASH_SEED, "ab", 2) != util_hash_bytes(UTIL_HASH_SEED, "ab\0", 3),
	   "hash_bytes: the length counts");
	ok(util_hash_bytes(util_hash_bytes(UTIL_HASH_SEED, "ab", 3), "c", 2) !=
		   util_hash_bytes(util_hash_bytes(UTIL_HASH_SEED, "a", 2), "bc", 3),
	   "hash_bytes: continued with terminators, \"ab\",\"c\" and \"a\",\"bc\" differ");
	ok(util_hash_mix(1) != util_hash_mix(2) && util_hash_mix(0) == 0 &&
		   (util_hash_mix(1) & 0xffff) != (util_hash_mix(1 << 20) & 0xffff),
	   "hash_mix: high bits reach the low ones");
	ok(util_sat_add_u64(UINT64_MAX - 2, 2) == UINT64_MAX, "sat u64: to the limit exactly");
	ok(util_sat_add_u64(UINT64_MAX - 2, 3) == UINT64_MAX, "sat u64: stays at the limit");
	ok(util_sat_add_u64(40, 2) == 42, "sat u64: plain sum");
	ok(util_sat_add_i64(INT64_MAX - 1, 5) == INT64_MAX, "sat i64: stays at INT64_MAX");
	ok(util_sat_add_i64(INT64_MAX, -5) == INT64_MAX - 5, "sat i64: a negative term subtracts");
	ok(util_sat_add_i64(INT64_MIN + 1, -5) == INT64_MIN, "sat i64: stays at INT64_MIN");
	ok(util_sat_add_i64(-40, 82) == 42, "sat i64: plain sum");
}

/*
 * util_connected_to_self: a socket bound to a loopback port and connected
 * to that same address connects to itself (what connect(2) does by chance
 * with an ephemeral port and nobody listening); a socket connected to a
 * listener does not.
 */
static void test_self_connect(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1, lfd, cfd, self, type;

	for (type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
		const char *what = type == SOCK_STREAM ? "TCP" : "UDP";

		self = socket(AF_INET, type, 0);
		a.sin_port = 0;
		setsockopt(self, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		ok(self >= 0 && bind(self, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			   getsockname(self, (struct sockaddr *)&a, &al) == 0 &&
			   connect(self, (struct sockaddr *)&a, sizeof(a)) == 0,
		   "self connect (%s): a socket connects to its own address", what);
		ok(util_connected_to_self(self), "self connect (%s): seen", what);
		close(self);
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = 0;
	al = sizeof(a);
	ok(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 1) == 0 &&
		   getsockname(lfd, (struct sockaddr *)&a, &al) == 0,
	   "self connect: a listener");
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ok(cfd >= 0 && connect(cfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		   !util_connected_to_self(cfd),
	   "self connect: a connection to a listener is not one");
	ok(!util_connected_to_self(lfd), "self connect: an unconnected socket is not one");
	close(cfd);
	close(lfd);
}

/* Pattern byte j of message i, so a message read from the wrong place shows. */
static uint8_t mmsg_byte(unsigned i, size_t j)
{
	return (uint8_t)(i * 31 + j * 7 + 1);
}

static bool mmsg_send(int fd, unsigned i, size_t len)
{
	uint8_t *b = xmalloc(len);
	bool sent;

	for (size_t j = 0; j < len; j++)
		b[j] = mmsg_byte(i, j);
	sent = send(fd, b, len, 0) == (ssize_t)len;
	free(b);
	return sent;
}

static bool mmsg_same(const uint8_t *p, unsigned i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		if (p[j] != mmsg_byte(i, j))
			return false;
	return true;
}

/*
 * util_mmsg: messages up to the slot stay in it, longer ones come back
 * whole from the spill, one longer than max is cut at max and says so, and
 * the spill's pages are given back past UTIL_MMSG_SPILL_KEEP and work after.
 */
static void test_mmsg(void)
{
	/* MAX not a multiple of 16: the spills' stride is rounded up, and must agree everywhere. */
	enum { N = 16, SLOT = 256, MAX = 8190 };
	static const size_t sizes[N] = { 100, SLOT, SLOT + 1, MAX, MAX + 50, 5000, 5000, 5000,
					 5000, 5000, 5000, 5000, 5000, 5000, 5000, 1 };
	struct util_mmsg m;
	int sv[2], n, sndbuf = 1 << 20;
	bool all_same = true;

	ok(util_mmsg_init(&m, N, SLOT, SLOT - 1, NULL, NULL) == -EINVAL,
	   "mmsg: a max below the slot is refused");
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) {
		ok(0, "mmsg: socketpair: %s", strerror(errno));
		return;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	ok(util_mmsg_init(&m, N, SLOT, MAX, NULL, NULL) == 0, "mmsg: init");
	is_int(m.max, 8192, "mmsg: a message's room rounded up to 16 bytes");
	is_int(util_mmsg_recv(&m, sv[1], N), -1, "mmsg: nothing queued: -1");
	is_int(errno, EAGAIN, "mmsg: nothing queued: EAGAIN");
	for (unsigned i = 0; i < N; i++)
		if (!mmsg_send(sv[0], i, sizes[i]))
			ok(0, "mmsg: send %u: %s", i, strerror(errno));
	n = util_mmsg_recv(&m, sv[1], N + 5);
	is_int(n, N, "mmsg: one call takes all %d (more asked, n given)", N);
	for (int i = 0; i < n; i++) {
		size_t len, want = sizes[i] > m.max ? m.max : sizes[i];
		bool cut;
		const uint8_t *p = util_mmsg_data(&m, (unsigned)i, &len, &cut);

		if (len != want || cut != (sizes[i] > m.max) || !mmsg_same(p, (unsigned)i, len)) {
			ok(0, "mmsg: message %d of %zu bytes: got %zu, cut %d", i, sizes[i], len, cut);
			all_same = false;
		}
	}
	ok(all_same, "mmsg: every message whole, in its slot or from its spill; the long one cut");
	is_int(m.spill_hi, N - 1, "mmsg: spills up to message %d may be resident", N - 2);
	util_mmsg_trim(&m);
	is_int(m.spill_hi, 0, "mmsg: trimmed past %d KiB", UTIL_MMSG_SPILL_KEEP / 1024);
	ok(mmsg_send(sv[0], 7, 50) && mmsg_send(sv[0], 8, 3000), "mmsg: two more sent");
	n = util_mmsg_recv(&m, sv[1], 1);
	{
		size_t len;
		bool cut;
		const uint8_t *p = util_mmsg_data(&m, 0, &len, &cut);

		ok(n == 1 && len == 50 && !cut && mmsg_same(p, 7, 50), "mmsg: want 1 takes 1");
		n = util_mmsg_recv(&m, sv[1], N);
		p = util_mmsg_data(&m, 0, &len, &cut);
		ok(n == 1 && len == 3000 && !cut && mmsg_same(p, 8, 3000),
		   "mmsg: a spill after the trim reads whole");
	}
	util_mmsg_trim(&m);
	is_int(m.spill_hi, 1, "mmsg: one spill is kept (under the limit)");
	util_mmsg_free(&m);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	umask(022);
	test_rule();
	test_hash_sat();
	test_conn_str();
	test_conn_free_many();
	test_conn_spares();
	test_escape();
	test_json();
	test_markup();
	test_open_state();
	test_reader();
	test_log();
	test_self_connect();
	test_mmsg();
	return tap_done();
}
