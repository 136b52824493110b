/*
 * test_records.c: records.c (detection cases, record.json structure and
 * round trip, corrupt files moved aside, exe.log lines, markup escaping and
 * shortening) and the pure parts of notify.c (rate limiter, desktop user
 * lookup). No privileges needed; with root, the several-users case of the
 * user lookup runs too.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "notify.h"
#include "records.h"
#include "tap.h"
#include "util.h"

#define SHA_A "aaaaaaaaaaaaaaaa1111111111111111111111111111111111111111111111ff"
#define SHA_B "bbbbbbbbbbbbbbbb2222222222222222222222222222222222222222222222ff"
#define SHA_EARLY "eeeeeeeeeeeeeeee3333333333333333333333333333333333333333333333ee"
#define SHA_C "cccccccccccccccc3333333333333333333333333333333333333333333333ff"

static char tmpdir[] = "/tmp/test_records.XXXXXX";
static int dirfd_;

/* A connection record for exe/name/sha256 with a fixed time and uid. */
static struct conn_record *mkrec(const char *exe, const char *name, const char *sha,
				 const char *cmdline)
{
	struct conn_record *rec = conn_record_new();

	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, name);
	conn_set(&rec->proc.sha256, sha);
	conn_set(&rec->proc.cmdline, cmdline ? cmdline : name);
	rec->uid = 1000;
	rec->time = 1700000000;
	return rec;
}

/* Observes one record; returns the count and leaves detections in d. */
static int observe(struct records *r, const char *exe, const char *name, const char *sha,
		   bool ignored, struct records_detection *d)
{
	struct conn_record *rec = mkrec(exe, name, sha, NULL);
	int n = records_observe(r, rec, ignored, d, RECORDS_MAX_DETECTIONS);

	conn_record_free(rec);
	return n;
}

static void clear(struct records_detection *d, int n)
{
	for (int i = 0; i < n; i++)
		records_detection_clear(&d[i]);
}

/* The JSON array at obj[key] as a comma-joined string ("" if missing). */
static char *joined(const cJSON *obj, const char *key)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
	char *out = xstrdup("");

	cJSON_ArrayForEach(e, arr) {
		char *next = xasprintf("%s%s%s", out, out[0] ? "," : "",
				       cJSON_IsString(e) ? e->valuestring : "?");
		free(out);
		out = next;
	}
	return out;
}

static char *read_all(const char *name)
{
	char *buf = NULL;

	if (util_read_file(dirfd_, name, 1 << 24, &buf, NULL) < 0)
		return NULL;
	return buf;
}

static void test_detection(void)
{
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct records *r = NULL;
	struct records_stats st;
	char *msg = NULL;
	int n;

	is_int(records_new(dirfd_, "record.json", NULL, &r, &msg), 0, "new record, no file");
	ok(msg == NULL, "no message for a missing file");
	ok(!records_dirty(r), "empty record is clean");

	n = observe(r, "/usr/bin/curl", "curl", SHA_A, false, d);
	is_int(n, 1, "first connection: one detection");
	is_int(d[0].kind, RECORDS_FIRST_CONNECTION, "first connection: kind");
	is_int(d[0].urgency, 1, "first connection: normal urgency");
	ok(strstr(d[0].text, "First network connection") && strstr(d[0].text, "/usr/bin/curl") &&
		   strstr(d[0].text, "(sha256 " SHA_A ","),
	   "first connection text names exe and the whole hash: %s", d[0].text);
	ok(strstr(d[0].body, "sha256 " SHA_A "\n") != NULL, "first connection body has the whole hash");
	is_str(d[0].summary, "New program: curl", "first connection summary");
	ok(records_dirty(r), "record dirty after a new program");
	clear(d, n);

	is_int(observe(r, "/usr/bin/curl", "curl", SHA_A, false, d), 0, "same again: nothing");

	/* A first connection with a domain (DNS capture) names it. */
	{
		struct conn_record *rec = mkrec("/usr/bin/wget", "wget", SHA_A, NULL);

		conn_set(&rec->domain, "www.example.test");
		n = records_observe(r, rec, false, d, RECORDS_MAX_DETECTIONS);
		is_int(n, 1, "first connection with a domain: one detection");
		ok(n == 1 && strstr(d[0].text, "\"/usr/bin/wget\" to www.example.test (sha256 ") != NULL,
		   "its text says where to: %s", n == 1 ? d[0].text : "");
		ok(n == 1 && strncmp(d[0].body, "to www.example.test\n", 20) == 0,
		   "its notification body starts with the domain");
		clear(d, n);
		conn_record_free(rec);
	}

	n = observe(r, "/usr/bin/curl", "curl", SHA_B, false, d);
	is_int(n, 1, "new hash: one detection");
	is_int(d[0].kind, RECORDS_EXE_CHANGED, "new hash: executable changed");
	is_int(d[0].urgency, 2, "executable changed is critical");
	ok(strstr(d[0].text, "sha256 " SHA_A " -> " SHA_B " (") != NULL,
	   "changed text has the whole old and new hashes: %s", d[0].text);
	ok(strstr(d[0].body, SHA_A " \xe2\x86\x92 " SHA_B "\n") != NULL,
	   "changed body has the whole hashes");
	clear(d, n);
	/*
	 * Issue 16: back to a hash seen before is still another file behind
	 * the path (two files alternating under one name): always reported.
	 */
	n = observe(r, "/usr/bin/curl", "curl", SHA_A, false, d);
	is_int(n, 1, "back to an older known hash: reported");
	is_int(d[0].kind, RECORDS_EXE_CHANGED, "... as executable changed");
	ok(strstr(d[0].text, SHA_B " -> " SHA_A) != NULL,
	   "... from the hash seen last: %s", d[0].text);
	clear(d, n);
	n = observe(r, "/usr/bin/curl", "curl", SHA_B, false, d);
	is_int(n, 1, "and back again: reported again, not accepted silently");
	clear(d, n);
	is_int(observe(r, "/usr/bin/curl", "curl", SHA_B, false, d), 0,
	       "the same hash as last time: nothing");
	clear(d, observe(r, "/usr/bin/curl", "curl", SHA_A, false, d));

	n = observe(r, "/usr/bin/curl", "curl2", SHA_A, false, d);
	is_int(n, 1, "new name for known exe");
	is_int(d[0].kind, RECORDS_NEW_NAME, "kind new name");
	ok(strstr(d[0].text, "New name detected for \"/usr/bin/curl\": \"curl2\"") != NULL,
	   "new name text: %s", d[0].text);
	clear(d, n);

	n = observe(r, "/opt/curl", "curl", SHA_C, false, d);
	is_int(n, 1, "new exe for known name");
	is_int(d[0].kind, RECORDS_NEW_EXE, "kind new exe");
	ok(strstr(d[0].text, "New executable detected for \"curl\": \"/opt/curl\"") != NULL,
	   "new exe text: %s", d[0].text);
	clear(d, n);

	n = observe(r, "/usr/bin/curl", "curl3", SHA_C, false, d);
	is_int(n, 2, "new name and new hash at once");
	is_int(d[0].kind, RECORDS_NEW_NAME, "first: new name");
	is_int(d[1].kind, RECORDS_EXE_CHANGED, "second: changed");
	/* B was added last, but A was seen last: the change is from A. */
	ok(strstr(d[1].text, SHA_A " -> " SHA_C) != NULL,
	   "old hash is the one seen most recently: %s", d[1].text);
	clear(d, n);

	is_int(observe(r, "/usr/bin/wget", "wget", SHA_A, true, d), 0, "ignored: no detection");
	is_int(observe(r, "/usr/bin/wget", "wget", SHA_B, true, d), 0, "ignored change: none");
	is_int(observe(r, "/usr/bin/wget", "wget", SHA_B, false, d), 0,
	       "ignored program was recorded");
	is_int(observe(r, "/usr/bin/curl", "curl", "!cannot read", false, d), 0,
	       "failed hash is not a change");
	is_int(observe(r, "/usr/bin/nohash", "nohash", "", false, d), 1,
	       "new program without hash still detected");
	clear(d, 1);
	is_int(observe(r, "/usr/bin/nohash", "nohash", SHA_A, false, d), 0,
	       "first hash of a known exe is no change");

	records_stats(r, &st);
	is_int(st.programs, 4, "programs known");
	is_int(st.ignored, 2, "ignored counted");
	is_int(records_set_hash_status(r, "/usr/bin/curl", SHA_B, "0/70 engines"), 0,
	       "set VT status");
	is_int(records_set_hash_status(r, "/usr/bin/curl", "ffff", "x"), -ENOENT,
	       "set status of unknown hash");

	is_int(records_save(r), 0, "save");
	ok(!records_dirty(r), "clean after save");
	records_free(r);
}

/* Issue 16: a file that cannot be hashed is a detection of its own. */
static void test_unavailable(void)
{
	static const char too_large[] = RECORDS_UNAVAILABLE "too large";
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct records *r = NULL;
	char *text;
	int n;

	is_int(records_new(dirfd_, "unavail.json", NULL, &r, NULL), 0, "unavailable: new record");
	n = observe(r, "/home/u/big", "big", too_large, false, d);
	is_int(n, 2, "unavailable, new program: two detections");
	is_int(d[0].kind, RECORDS_FIRST_CONNECTION, "... first connection");
	is_int(d[1].kind, RECORDS_HASH_UNAVAILABLE, "... and not hashed");
	is_int(d[1].urgency, 2, "not hashed is critical");
	ok(strstr(d[1].text, "Executable could not be hashed: \"/home/u/big\"") &&
		   strstr(d[1].text, "unavailable: too large"),
	   "not hashed text says why: %s", d[1].text);
	ok(strstr(d[1].body, "unavailable: too large") != NULL, "not hashed body says why");
	clear(d, n);
	is_int(observe(r, "/home/u/big", "big", too_large, false, d), 0,
	       "the same reason again: reported already");
	/* A known program that becomes unhashable: reported. */
	is_int(observe(r, "/usr/bin/tool", "tool", SHA_A, false, d), 1, "tool: first connection");
	clear(d, 1);
	n = observe(r, "/usr/bin/tool", "tool", RECORDS_UNAVAILABLE "deleted", false, d);
	is_int(n, 1, "a known program that cannot be hashed: reported");
	is_int(d[0].kind, RECORDS_HASH_UNAVAILABLE, "... as not hashed");
	clear(d, n);
	n = observe(r, "/usr/bin/tool", "tool", SHA_B, false, d);
	is_int(n, 1, "hashable again: reported as a change");
	is_int(d[0].kind, RECORDS_EXE_CHANGED, "... executable changed");
	clear(d, n);
	n = observe(r, "/usr/bin/tool", "tool", RECORDS_UNAVAILABLE "deleted", false, d);
	is_int(n, 1, "unhashable once more: reported again");
	clear(d, n);
	/* Other '!' texts are our own failures: never stored, never reported. */
	is_int(observe(r, "/usr/bin/tool", "tool", "!hash queue full", false, d), 0,
	       "queue full is not a detection");
	is_int(records_save(r), 0, "unavailable: saved");
	text = read_all("unavail.json");
	ok(text && strstr(text, "\"!unavailable: too large\": \"" RECORDS_UNAVAILABLE_STATUS "\""),
	   "the reason is stored with status \"%s\"", RECORDS_UNAVAILABLE_STATUS);
	ok(text && !strstr(text, "queue full"), "our own failures are not stored");
	free(text);
	records_free(r);
}

/*
 * Issue 16: record.json poisoning. Long paths full of bytes that JSON
 * escapes six-fold fill a small budget: the snapshot never passes it,
 * programs beyond it are still reported (once), the limit is counted and
 * noticed once, and a file over a smaller budget is loaded in part, never
 * moved aside whole.
 */
static int count_prefix(const char *prefix);

static void test_budget(void)
{
	struct records_config cfg = { .max_bytes = 16384 };
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct records *r = NULL;
	struct records_stats st, st2;
	char path[160], name[32], *buf = NULL, *notice, *msg = NULL;
	size_t len = 0;
	int n, reported = 0, i;

	is_int(records_new(dirfd_, "budget.json", &cfg, &r, NULL), 0, "budget: new record of 16 KiB");
	for (i = 0; i < 200; i++) {
		memset(path, '\x01', sizeof(path) - 1);
		path[sizeof(path) - 1] = '\0';
		snprintf(path, 16, "/tmp/%04d/", i);
		path[10] = '\x01';
		snprintf(name, sizeof(name), "p\x02%d", i);
		n = observe(r, path, name, SHA_A, false, d);
		reported += n > 0;
		clear(d, n);
	}
	is_int(reported, 200, "budget: every new program reported, also beyond the limit");
	records_stats(r, &st);
	ok(st.limit_hits > 0, "budget: the limit was hit (%llu)", (unsigned long long)st.limit_hits);
	ok(st.programs > 0 && st.programs < 200, "budget: some programs stored (%llu)",
	   (unsigned long long)st.programs);
	ok(st.unstored_reported > 0, "budget: reports beyond it counted (%llu)",
	   (unsigned long long)st.unstored_reported);
	notice = records_limit_notice(r);
	ok(notice && strstr(notice, "full"), "budget: one notice for the caller to log: %s",
	   notice ? notice : "(none)");
	free(notice);
	ok(records_limit_notice(r) == NULL, "budget: ... only once");
	/* The same unstored program again: already reported. */
	snprintf(path + 5, 6, "%04d/", 199);
	path[10] = '\x01';
	snprintf(name, sizeof(name), "p\x02%d", 199);
	is_int(observe(r, path, name, SHA_A, false, d), 0, "budget: an unstored program is reported once");
	is_int(records_snapshot(r, &buf, &len), 0, "budget: snapshot");
	ok(len <= 16384, "budget: record.json text within the budget (%zu bytes)", len);
	ok(len <= st.bytes, "budget: the running count is an upper bound (%zu <= %llu)", len,
	   (unsigned long long)st.bytes);
	free(buf);
	is_int(records_save(r), 0, "budget: saved");
	records_free(r);

	is_int(records_new(dirfd_, "budget.json", &cfg, &r, &msg), 0, "budget: read back");
	ok(msg == NULL, "budget: no message: it fits");
	records_stats(r, &st2);
	is_int(st2.programs, st.programs, "budget: every stored program read back");
	is_int(st2.limit_hits, 0, "budget: nothing left out");
	records_free(r);

	cfg.max_bytes = 8192;
	is_int(records_new(dirfd_, "budget.json", &cfg, &r, &msg), 0,
	       "budget: read with half the budget");
	ok(msg && strstr(msg, "loaded what fits"), "budget: the message says it was loaded in part: %s",
	   msg ? msg : "(none)");
	free(msg);
	is_int(count_prefix("budget.json.corrupt"), 0, "budget: never moved aside for its size");
	records_stats(r, &st2);
	ok(st2.programs > 0 && st2.programs < st.programs, "budget: part of it kept (%llu of %llu)",
	   (unsigned long long)st2.programs, (unsigned long long)st.programs);
	is_int(records_snapshot(r, &buf, &len), 0, "budget: snapshot of the part");
	ok(len <= 8192, "budget: within the smaller budget (%zu bytes)", len);
	free(buf);
	records_free(r);
}

static void test_structure(void)
{
	char *text = read_all("record.json"), *s, *buf = NULL;
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	cJSON *root = text ? cJSON_Parse(text) : NULL, *exes, *names, *sha, *h;
	struct records *r = NULL;
	struct records_stats st;
	struct stat sb;
	size_t len;

	ok(root != NULL, "record.json is JSON");
	exes = cJSON_GetObjectItemCaseSensitive(root, "Executables");
	names = cJSON_GetObjectItemCaseSensitive(root, "Names");
	sha = cJSON_GetObjectItemCaseSensitive(root, "SHA256");
	ok(cJSON_IsObject(exes) && cJSON_IsObject(names) && cJSON_IsObject(sha),
	   "three top-level objects");
	is_int(cJSON_GetArraySize(exes), 4, "four executables");
	s = joined(exes, "/usr/bin/curl");
	is_str(s, "curl,curl2,curl3", "Executables[/usr/bin/curl]");
	free(s);
	s = joined(names, "curl");
	is_str(s, "/usr/bin/curl,/opt/curl", "Names[curl]");
	free(s);
	s = joined(names, "wget");
	is_str(s, "/usr/bin/wget", "Names[wget] (ignored, still recorded)");
	free(s);
	h = cJSON_GetObjectItemCaseSensitive(sha, "/usr/bin/curl");
	is_int(cJSON_GetArraySize(h), 3, "three hashes for curl");
	ok(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, SHA_A)) &&
		   strcmp(cJSON_GetObjectItemCaseSensitive(h, SHA_A)->valuestring, "VT Pending") == 0,
	   "new hash status VT Pending");
	ok(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, SHA_B)) &&
		   strcmp(cJSON_GetObjectItemCaseSensitive(h, SHA_B)->valuestring, "0/70 engines") == 0,
	   "VT status stored");
	ok(!cJSON_GetObjectItemCaseSensitive(h, "!cannot read"), "failed hash not stored");
	ok(fstatat(dirfd_, "record.json", &sb, 0) == 0 && (sb.st_mode & 07777) == 0640,
	   "record.json mode 0640");
	cJSON_Delete(root);

	is_int(records_new(dirfd_, "record.json", NULL, &r, NULL), 0, "reload");
	records_stats(r, &st);
	is_int(st.programs, 4, "reloaded programs");
	is_int(observe(r, "/usr/bin/curl", "curl3", SHA_C, false, d), 0, "reloaded: known");
	is_int(observe(r, "/opt/curl", "curl", SHA_C, false, d), 0, "reloaded: known 2");
	is_int(records_snapshot(r, &buf, &len), 0, "snapshot");
	ok(text && len == strlen(text) && memcmp(buf, text, len) == 0,
	   "round trip is byte-identical");
	free(buf);
	records_free(r);
	free(text);
}

/* Counts files in the test dir whose names start with prefix. */
static int count_prefix(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

/* Removes files starting with prefix. */
static void remove_prefix(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			unlinkat(dirfd_, de->d_name, 0);
	if (d)
		closedir(d);
}

static void corrupt_case(const char *label, const char *content)
{
	struct records *r = NULL;
	struct records_stats st;
	char *msg = NULL;
	int fd;

	remove_prefix("bad.json");
	fd = openat(dirfd_, "bad.json", O_WRONLY | O_CREAT | O_TRUNC, 0640);
	ok(fd >= 0 && write(fd, content, strlen(content)) == (ssize_t)strlen(content),
	   "%s: written", label);
	close(fd);
	is_int(records_new(dirfd_, "bad.json", NULL, &r, &msg), 0, "%s: loads", label);
	ok(msg && strstr(msg, "bad.json.corrupt-"), "%s: message: %s", label, msg ? msg : "");
	is_int(count_prefix("bad.json.corrupt-"), 1, "%s: moved aside", label);
	ok(faccessat(dirfd_, "bad.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0, "%s: original gone",
	   label);
	if (r) {
		records_stats(r, &st);
		is_int(st.programs, 0, "%s: empty record", label);
		ok(records_dirty(r), "%s: dirty, so a fresh file gets written", label);
	}
	records_free(r);
	free(msg);
}

static void test_corrupt(void)
{
	struct records *r = NULL;
	char *msg = NULL, *text;

	corrupt_case("not json", "{\"Executables\": {\"/bin/x\": [\"x\"");
	corrupt_case("wrong type", "{\"Executables\": {\"/bin/x\": 5}}");
	corrupt_case("hash not string", "{\"SHA256\": {\"/bin/x\": {\"ab\": 1}}}");
	corrupt_case("array at top", "[1,2]");
	corrupt_case("trailing garbage", "{} x");

	/* A symlink is moved aside, never followed. */
	remove_prefix("bad.json");
	ok(symlinkat("/etc/passwd", dirfd_, "bad.json") == 0, "symlink made");
	is_int(records_new(dirfd_, "bad.json", NULL, &r, &msg), 0, "symlink: loads");
	ok(msg != NULL, "symlink: message");
	is_int(count_prefix("bad.json.corrupt-"), 1, "symlink: moved aside");
	records_free(r);
	free(msg);
	msg = NULL;
	r = NULL;

	/* Members we do not own survive a save. */
	remove_prefix("bad.json");
	{
		const char *extra = "{\"Executables\": {}, \"Names\": {}, \"SHA256\": {}, "
				    "\"Parent Executables\": {\"/bin/sh\": [\"sh\"]}}";
		int fd = openat(dirfd_, "extra.json", O_WRONLY | O_CREAT | O_TRUNC, 0640);

		ok(write(fd, extra, strlen(extra)) == (ssize_t)strlen(extra), "extra written");
		close(fd);
	}
	is_int(records_new(dirfd_, "extra.json", NULL, &r, &msg), 0, "extra members: loads");
	ok(msg == NULL, "extra members: not corrupt");
	is_int(records_save(r), 0, "extra members: saved");
	text = read_all("extra.json");
	ok(text && strstr(text, "\"Parent Executables\"") && strstr(text, "/bin/sh"),
	   "extra members kept");
	free(text);
	records_free(r);
}

static void test_markup(void)
{
	char *s;
	const char in[] = "<b>&\"'x\x01\\ \xc3\xa9\xff";

	s = records_markup_escape(in, sizeof(in) - 1, 1000);
	is_str(s, "&lt;b&gt;&amp;&quot;&apos;x\\x01\\\\ \xc3\xa9\\xff", "markup escaping");
	free(s);
	s = records_markup_escape("a&b", 3, 5);
	is_str(s, "a\xe2\x80\xa6", "shortened at a whole entity");
	free(s);
	s = records_markup_escape("abc", 3, 3);
	is_str(s, "abc", "exact fit not shortened");
	free(s);
}

static void test_format(void)
{
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct records *r = NULL;
	struct conn_record *rec;
	char *longcmd = xmalloc(5001), *want;
	int n;

	memset(longcmd, 'a', 5000);
	longcmd[5000] = '\0';
	is_int(records_new(dirfd_, "fmt.json", NULL, &r, NULL), 0, "fmt record");
	rec = mkrec("/tmp/<b>x&y\"", "a\nb<i>", SHA_A, longcmd);
	n = records_observe(r, rec, false, d, RECORDS_MAX_DETECTIONS);
	is_int(n, 1, "markup program detected");
	ok(strstr(d[0].body, "/tmp/&lt;b&gt;x&amp;y&quot;") != NULL, "exe escaped in body");
	ok(!strchr(d[0].body, '<') && !strstr(d[0].summary, "<i>"), "no raw markup anywhere");
	ok(strstr(d[0].summary, "a\\x0ab&lt;i&gt;") != NULL, "name escaped in summary: %s",
	   d[0].summary);
	ok(!strchr(d[0].text, '\n'), "log text is one line");
	ok(strstr(d[0].text, "a\\x0ab<i>") != NULL, "log text escapes control chars");
	want = xmalloc(RECORDS_NOTIFY_CMDLINE_BYTES + 1);
	memset(want, 'a', RECORDS_NOTIFY_CMDLINE_BYTES);
	want[RECORDS_NOTIFY_CMDLINE_BYTES] = '\0';
	ok(strstr(d[0].body, want) && !strstr(d[0].body, longcmd + 4000 - RECORDS_NOTIFY_CMDLINE_BYTES) &&
		   strstr(d[0].body, "\xe2\x80\xa6"),
	   "long cmdline shortened in body (%zu bytes)", strlen(d[0].body));
	ok(strstr(d[0].text, longcmd) != NULL, "full cmdline in log text");
	ok(d[0].body_others && !strstr(d[0].body_others, want) &&
	   strstr(d[0].body_others, "/tmp/&lt;b&gt;x&amp;y&quot;") &&
	   strstr(d[0].body_others, "command line not shown"),
	   "body for another desktop user: the program, not its command line");
	ok(strlen(d[0].body) + strlen(d[0].summary) + 16 <= NOTIFY_MSG_MAX, "fits one message");

	is_int(records_log_detection(r, &d[0]), -EBADF, "log without exe.log: -EBADF");
	is_int(records_open_log(r, dirfd_, "exe.log"), 0, "open exe.log");
	is_int(records_log_detection(r, &d[0]), 0, "log detection");
	{
		char *text = read_all("exe.log");
		struct stat sb;
		int y, mo, da, h, mi, se, tz;
		char sign, rest[64];

		ok(text && sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d %c%4d %63s", &y, &mo, &da, &h, &mi,
				  &se, &sign, &tz, rest) == 9 && (sign == '+' || sign == '-') &&
			   strcmp(rest, "First") == 0,
		   "exe.log line is timestamped");
		ok(text && text[strlen(text) - 1] == '\n' && strchr(text, '\n') == text + strlen(text) - 1,
		   "exactly one line");
		ok(fstatat(dirfd_, "exe.log", &sb, 0) == 0 && (sb.st_mode & 07777) == 0640,
		   "exe.log mode 0640");
		free(text);
	}
	/* logrotate: rename, reopen, the next line goes to the new file. */
	ok(renameat(dirfd_, "exe.log", dirfd_, "exe.log.1") == 0, "rotate");
	is_int(records_open_log(r, dirfd_, "exe.log"), 0, "reopen exe.log");
	is_int(records_log_detection(r, &d[0]), 0, "log after reopen");
	{
		char *a = read_all("exe.log"), *b = read_all("exe.log.1");

		ok(a && b && strlen(a) == strlen(b), "one line in each file");
		free(a);
		free(b);
	}
	ok(symlinkat("/tmp", dirfd_, "link.log") == 0, "symlinked log made");
	ok(records_open_log(r, dirfd_, "link.log") < 0, "symlinked exe.log refused");
	clear(d, n);
	conn_record_free(rec);
	records_free(r);
	free(longcmd);
	free(want);
}

static void test_ratelimit(void)
{
	struct notify_ratelimit rl = { 0 };
	int allowed = 0;

	for (int i = 0; i < 10; i++)
		allowed += notify_ratelimit_allow(&rl, 100 + (uint64_t)i, 1000, 3);
	is_int(allowed, 3, "burst of 3 per window");
	is_int(rl.suppressed, 7, "7 suppressed");
	ok(!notify_ratelimit_allow(&rl, 1099, 1000, 3), "still in window");
	ok(notify_ratelimit_allow(&rl, 1100, 1000, 3), "next window allows");
}

/* Makes RUN/UID/bus, a listening socket owned by uid. */
static int make_bus(int run, uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[32];
	int fd, r = -1;

	snprintf(name, sizeof(name), "%u", (unsigned)uid);
	if (mkdirat(run, name, 0700) < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/run/%u/bus", tmpdir, (unsigned)uid);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		char bus[48];

		snprintf(bus, sizeof(bus), "%s/bus", name);
		r = 0;
		if (getuid() == 0 && (fchownat(run, name, uid, uid + 1, 0) < 0 ||
				      fchownat(run, bus, uid, uid, AT_SYMLINK_NOFOLLOW) < 0))
			r = -1;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static void test_find_user(void)
{
	char run[256], sess[256];
	struct notify_config cfg = { .run_user_dir = run, .sessions_dir = sess };
	uid_t uid = 0;
	gid_t gid = 0;
	int rfd, sfd;

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(sess, sizeof(sess), "%s/sessions", tmpdir);
	mkdir(run, 0755);
	mkdir(sess, 0755);
	rfd = open(run, O_RDONLY | O_DIRECTORY);
	sfd = open(sess, O_RDONLY | O_DIRECTORY);
	is_int(notify_find_user(&cfg, &uid, &gid), -ENOENT, "no bus: -ENOENT");
	cfg.desktop_user = "root";
	is_int(notify_find_user(&cfg, &uid, &gid), -EPERM, "root refused");
	cfg.desktop_user = "no-such-user-auditsnitch";
	is_int(notify_find_user(&cfg, &uid, &gid), -ENOENT, "unknown user");
	cfg.desktop_user = "";
	/* A directory not named by a uid, or whose bus is not its own, is skipped. */
	mkdirat(rfd, "notauid", 0700);
	if (getuid() != 0) {
		ok(make_bus(rfd, getuid()) == 0, "bus for our uid");
		is_int(notify_find_user(&cfg, &uid, &gid), -ENOENT, "no seat session: nobody");
		{
			char line[64];
			int fd = openat(sfd, "c0", O_WRONLY | O_CREAT, 0644);

			snprintf(line, sizeof(line), "UID=%u\nACTIVE=1\nSEAT=seat0\n", (unsigned)getuid());
			ok(write(fd, line, strlen(line)) == (ssize_t)strlen(line), "our seat session");
			close(fd);
		}
		is_int(notify_find_user(&cfg, &uid, &gid), 0, "found our uid");
		is_int(uid, getuid(), "uid is ours");
		tap_skip("several users need root to chown");
	} else {
		ok(make_bus(rfd, 65533) == 0 && make_bus(rfd, 65534) == 0, "two buses");
		/* A bus in 65000/ owned by root: not 65000's, so skipped. */
		mkdirat(rfd, "65000", 0700);
		/* Buses but no seat session (lingering users): nobody is picked. */
		is_int(notify_find_user(&cfg, &uid, &gid), -ENOENT,
		       "lingering users with a bus but no seat session: nobody");
		{
			struct notify_config nologind = cfg;

			nologind.sessions_dir = "/nonexistent-auditsnitch-sessions";
			is_int(notify_find_user(&nologind, &uid, &gid), -ENXIO,
			       "without logind auto mode finds nobody (-ENXIO)");
		}
		{
			const char *s = "# comment\nUID=65534\nUSER=x\nACTIVE=1\nSEAT=seat0\nSTATE=active\n";
			const char *t = "UID=65533\nACTIVE=0\nSEAT=seat0\n";
			const char *u = "UID=65533\nACTIVE=1\n"; /* ssh: active, no seat */
			int fd = openat(sfd, "c1", O_WRONLY | O_CREAT, 0644), fd2, fd3;

			ok(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "session file");
			close(fd);
			fd2 = openat(sfd, "c2", O_WRONLY | O_CREAT, 0644);
			ok(write(fd2, t, strlen(t)) == (ssize_t)strlen(t), "inactive session file");
			close(fd2);
			fd3 = openat(sfd, "c3", O_WRONLY | O_CREAT, 0644);
			ok(write(fd3, u, strlen(u)) == (ssize_t)strlen(u), "seatless session file");
			close(fd3);
		}
		is_int(notify_find_user(&cfg, &uid, &gid), 0, "found with sessions");
		is_int(uid, 65534, "the active seat session's user, not the lower uid without one");
		is_int(gid, 65535, "gid from the runtime dir");
	}
	close(rfd);
	close(sfd);
}

/* Issue 19: VirusTotal verdicts set by hash, also before the program is recorded. */
static void test_vt_status(void)
{
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct records *r = NULL;
	const char *exe = NULL;
	char *snap = NULL, *msg = NULL;
	size_t snap_len = 0;

	is_int(records_new(dirfd_, "record-vt.json", NULL, &r, &msg), 0, "vt: new record");
	free(msg);
	if (!r)
		return;
	clear(d, observe(r, "/usr/bin/curl", "curl", SHA_B, false, d));
	clear(d, observe(r, "/opt/curl", "curl", SHA_B, false, d));
	is_int(records_set_sha_status(r, SHA_B, "VT malicious 1", &exe), 0, "vt: set by hash");
	is_str(exe, "/usr/bin/curl", "vt: the first executable named");
	is_int(records_set_sha_status(r, SHA_EARLY, "VT malicious 2", &exe), -ENOENT,
	       "vt: a hash not recorded yet is remembered");
	clear(d, observe(r, "/usr/bin/early", "early", SHA_EARLY, false, d));
	is_int(records_snapshot(r, &snap, &snap_len), 0, "vt: snapshot");
	ok(snap && strstr(snap, "\"" SHA_EARLY "\": \"VT malicious 2\""),
	   "vt: a program recorded later starts with the early status");
	ok(snap && !strstr(snap, "VT Pending"), "vt: both executables with SHA_B have the verdict");
	free(snap);
	records_free(r);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	test_detection();
	test_vt_status();
	test_unavailable();
	test_structure();
	test_corrupt();
	test_budget();
	test_markup();
	test_format();
	test_ratelimit();
	test_find_user();
	close(dirfd_);
	{
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);

		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
		free(cmd);
	}
	return tap_done();
}
