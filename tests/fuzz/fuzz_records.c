/* fuzz-sources: src/records.c src/json.c src/util.c */
/*
 * fuzz_records.c: libFuzzer target for loading record.json. The input is
 * the file, written into a temp dir (made once per process, emptied before
 * each run) and loaded with records_new. Checks:
 *   - a corrupt file is moved aside unchanged (never overwritten or lost);
 *   - a program the file lists (the first member of "Executables" with a
 *     name) observed again is no detection; a new one is, and only once;
 *   - a snapshot always loads back as a valid record, and snapshot/load
 *     reaches a fixed point after one round.
 * Build: scripts/fuzz fuzz_records [SECONDS]
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "records.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[] = "/tmp/fuzz_records.XXXXXX";
static int fuzz_dirfd = -1;

/* A new DIR on the temp dir (a dup'ed fd would share the read offset). */
static DIR *fuzz_opendir(void)
{
	int fd = openat(fuzz_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d)
		abort();
	return d;
}

/* Removes every file of the temp dir (records_new leaves only files). */
static void fuzz_clean(void)
{
	DIR *d = fuzz_opendir();
	struct dirent *de;

	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, "..") != 0))
			unlinkat(fuzz_dirfd, de->d_name, 0);
	closedir(d);
}

static void fuzz_cleanup(void)
{
	fuzz_clean();
	close(fuzz_dirfd);
	rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(fuzz_dir))
		abort();
	fuzz_dirfd = open(fuzz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fuzz_dirfd < 0)
		abort();
	atexit(fuzz_cleanup);
	return 0;
}

/* Writes name (no fsync: util_write_atomic's would dominate the run time). */
static void fuzz_write(const char *name, const void *buf, size_t len)
{
	int fd = openat(fuzz_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || util_write_all(fd, buf, len) < 0 || close(fd) < 0)
		abort();
}

/* The one file whose name starts with prefix, read whole; aborts unless exactly one. */
static char *fuzz_read_only(const char *prefix, size_t *len)
{
	DIR *d = fuzz_opendir();
	struct dirent *de;
	char *text = NULL;
	int found = 0;

	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (found++ || util_read_file(fuzz_dirfd, de->d_name, 1u << 24, &text, len) < 0)
			abort();
	}
	closedir(d);
	if (found != 1)
		abort();
	return text;
}

/* Observes exe/name/sha256 once; returns the number of detections. */
static int fuzz_observe(struct records *r, const char *exe, const char *name, const char *sha)
{
	struct records_detection det[RECORDS_MAX_DETECTIONS];
	struct conn_record rec;
	int n;

	memset(&rec, 0, sizeof(rec));
	rec.time = 1700000000;
	rec.uid = 1000;
	rec.proc.exe = (char *)exe;
	rec.proc.name = (char *)name;
	rec.proc.cmdline = (char *)"fuzz --arg <&>";
	rec.proc.sha256 = (char *)sha;
	rec.parent = rec.proc;
	rec.lport = rec.rport = -1;
	rec.domain = (char *)"";
	n = records_observe(r, &rec, false, det, RECORDS_MAX_DETECTIONS);
	if (n < 0 || n > RECORDS_MAX_DETECTIONS)
		abort();
	for (int i = 0; i < n; i++) {
		if (!det[i].text || !det[i].summary || !det[i].body || strchr(det[i].body, '<') ||
		    strchr(det[i].text, '\n'))
			abort();
		records_detection_clear(&det[i]);
	}
	return n;
}

/* Snapshot of r, written as name and loaded back: must load as a valid record. */
static struct records *fuzz_reload(struct records *r, const char *name, char **snap)
{
	struct records *again = NULL;
	char *msg = NULL;
	size_t len;

	if (records_snapshot(r, snap, &len) < 0 || records_dirty(r) || strlen(*snap) != len)
		abort();
	fuzz_write(name, *snap, len);
	if (records_new(fuzz_dirfd, name, NULL, &again, &msg) < 0 || msg)
		abort();
	return again;
}

/* The first member of "Executables" with a name, as the loader should see it. */
static bool fuzz_first_program(const uint8_t *data, size_t size, char **exe, char **name)
{
	char *text = xstrndup((const char *)data, size);
	cJSON *root = cJSON_Parse(text), *exes, *m;
	bool found = false;

	exes = cJSON_GetObjectItemCaseSensitive(root, "Executables");
	cJSON_ArrayForEach(m, exes) {
		const cJSON *first = cJSON_GetArrayItem(m, 0);

		if (m->string && cJSON_IsString(first) && (m->string[0] || first->valuestring[0])) {
			*exe = xstrdup(m->string);
			*name = xstrdup(first->valuestring);
			found = true;
			break;
		}
	}
	cJSON_Delete(root);
	free(text);
	return found;
}

static const char sha_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/*
 * Once per process (it costs more than a whole small input): an exe longer
 * than RECORDS_MAX_STRING (a 4095-byte path plus " (deleted)") is stored
 * cut, and must still be the same program the next time.
 */
static void fuzz_long_exe(void)
{
	char long_exe[RECORDS_MAX_STRING + 64];
	struct records *r = NULL;

	memset(long_exe, 'x', sizeof(long_exe) - 1);
	long_exe[0] = '/';
	long_exe[sizeof(long_exe) - 1] = '\0';
	if (records_new(fuzz_dirfd, "missing.json", NULL, &r, NULL) < 0 ||
	    fuzz_observe(r, long_exe, "long", sha_a) != 1 ||
	    fuzz_observe(r, long_exe, "long", sha_a) != 0)
		abort();
	records_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool long_done;
	struct records *r = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
	struct records_stats st;
	char *msg = NULL, *s1 = NULL, *s2 = NULL, *s3 = NULL, *exe = NULL, *name = NULL;

	fuzz_clean();
	if (!long_done) {
		fuzz_long_exe();
		long_done = true;
	}
	fuzz_write("record.json", data, size);
	if (records_new(fuzz_dirfd, "record.json", NULL, &r, &msg) < 0)
		abort();
	if (msg) {
		/* Corrupt: moved aside byte for byte, and nothing left in its place. */
		size_t len = 0;
		char *aside = fuzz_read_only("record.json.corrupt-", &len);

		if (len != size || memcmp(aside, data, size) != 0 ||
		    faccessat(fuzz_dirfd, "record.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			abort();
		free(aside);
		free(msg);
		records_stats(r, &st);
		if (st.programs || st.names)
			abort();
	} else if (fuzz_first_program(data, size, &exe, &name)) {
		/* A program the file lists is known (the hash "" never counts). */
		if (fuzz_observe(r, exe, name, "") != 0)
			abort();
	}

	/* A new program is reported once, then known. */
	records_stats(r, &st);
	if (fuzz_observe(r, "/usr/bin/fuzz-new\x01", "fuzz\xff", sha_a) != 1 ||
	    fuzz_observe(r, "/usr/bin/fuzz-new\x01", "fuzz\xff", sha_a) != 0)
		abort();

	r2 = fuzz_reload(r, "snap1.json", &s1);
	r3 = fuzz_reload(r2, "snap2.json", &s2);
	r4 = fuzz_reload(r3, "snap3.json", &s3);
	/* Load order may regroup keys once; after that a round trip is exact. */
	if (strcmp(s2, s3) != 0)
		abort();

	free(s1);
	free(s2);
	free(s3);
	free(exe);
	free(name);
	records_free(r);
	records_free(r2);
	records_free(r3);
	records_free(r4);
	return 0;
}
