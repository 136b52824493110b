/* fuzz-sources: src/procfs.c src/json.c src/util.c */
/*
 * fuzz_procfs.c: libFuzzer target for the /proc/PID text parsers. The
 * input is split at "\xff\xfe" markers into the texts of /proc/1/stat,
 * /proc/1/status and /proc/1/cmdline, written into a fake /proc tree (a
 * temp dir made once per process) and read with procfs_read_stat,
 * procfs_read_status and procfs_read_cmdline. The stat text also goes to
 * procfs_parse_stat as an exact-length heap copy (no terminating NUL) so
 * ASan catches a read past it; both ways must agree. The command line must
 * come back as the bytes written, NULs turned into spaces, trailing ones
 * dropped.
 * Build: scripts/fuzz fuzz_procfs [SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfs.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_root[] = "/tmp/fuzz_procfs.XXXXXX";
static struct procfs *fuzz_pf;
static int fuzz_piddirfd = -1;

static const char *const fuzz_files[] = { "stat", "status", "cmdline" };

static void fuzz_cleanup(void)
{
	for (size_t i = 0; i < sizeof(fuzz_files) / sizeof(fuzz_files[0]); i++)
		unlinkat(fuzz_piddirfd, fuzz_files[i], 0);
	close(fuzz_piddirfd);
	procfs_free(fuzz_pf);
	{
		char pid_dir[sizeof(fuzz_root) + 4];

		snprintf(pid_dir, sizeof(pid_dir), "%s/1", fuzz_root);
		rmdir(pid_dir);
	}
	rmdir(fuzz_root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int rootfd;

	(void)argc;
	(void)argv;
	if (!mkdtemp(fuzz_root) || procfs_new(fuzz_root, &fuzz_pf) < 0)
		abort();
	rootfd = open(fuzz_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || mkdirat(rootfd, "1", 0700) < 0)
		abort();
	fuzz_piddirfd = openat(rootfd, "1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(rootfd);
	if (fuzz_piddirfd < 0)
		abort();
	atexit(fuzz_cleanup);
	return 0;
}

static void fuzz_write(const char *name, const uint8_t *buf, size_t len)
{
	int fd = openat(fuzz_piddirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || util_write_all(fd, buf, len) < 0 || close(fd) < 0)
		abort();
}

/* Start of the next "\xff\xfe"-separated part; *len its length. */
static const uint8_t *fuzz_part(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *start = *p, *q;

	for (q = start; q + 1 < end; q++)
		if (q[0] == 0xff && q[1] == 0xfe)
			break;
	if (q + 1 >= end)
		q = end;
	*len = (size_t)(q - start);
	*p = q < end ? q + 2 : end;
	return start;
}

/* A string's bytes are all before its NUL, within size. */
static void fuzz_check_str(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

static void fuzz_stat(const uint8_t *text, size_t len)
{
	struct procfs_stat a, b;
	char *copy = malloc(len ? len : 1);
	int ra, rb;

	if (!copy)
		return;
	memcpy(copy, text, len);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ra = procfs_parse_stat(copy, len, &a);
	free(copy);
	fuzz_write("stat", text, len);
	rb = procfs_read_stat(fuzz_pf, 1, &b);
	if (ra != 0 && ra != -EINVAL)
		abort();
	if (ra != rb)
		abort();
	if (ra == 0) {
		fuzz_check_str(a.comm, sizeof(a.comm));
		if (strcmp(a.comm, b.comm) != 0 || a.state != b.state || a.ppid != b.ppid ||
		    a.ppid < 0 || a.start_time != b.start_time)
			abort();
		/* comm is what lies between the first '(' and the last ')', cut at 63. */
		if (!memchr(text, '(', len) || !memchr(text, ')', len))
			abort();
	}
}

/*
 * The "Uid:" value as a plain reading of the text would give it (first
 * line starting "Uid:", digits after blanks), or -1 when it is not only
 * digits. Written apart from procfs.c on purpose.
 */
static long long fuzz_status_uid(const uint8_t *text, size_t len)
{
	char *s = xstrndup((const char *)text, len), *line = s, *p;
	long long v = -1;

	while (line) {
		if (strncmp(line, "Uid:", 4) == 0) {
			p = line + 4;
			p += strspn(p, " \t");
			if (*p >= '0' && *p <= '9') {
				v = 0;
				for (; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
					v = v * 10 + (*p - '0');
				if (*p && *p != ' ' && *p != '\t' && *p != '\n')
					v = -1;
			}
			break;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	free(s);
	return v;
}

static void fuzz_status(const uint8_t *text, size_t len)
{
	struct procfs_status st;
	int r;

	memset(&st, 0x55, sizeof(st));
	fuzz_write("status", text, len);
	r = procfs_read_status(fuzz_pf, 1, &st);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0) {
		fuzz_check_str(st.name, sizeof(st.name));
		if (st.tgid < 0 || st.ppid < 0 || strchr(st.name, '\n'))
			abort();
		if (fuzz_status_uid(text, len) >= 0 && fuzz_status_uid(text, len) != st.uid)
			abort();
	}
}

static void fuzz_cmdline(const uint8_t *text, size_t len)
{
	char *got = NULL;
	bool cut = true;
	size_t want = len;

	fuzz_write("cmdline", text, len);
	if (procfs_read_cmdline(fuzz_pf, 1, &got, &cut) != 0 || cut)
		abort();
	while (want > 0 && text[want - 1] == '\0')
		want--;
	if (strlen(got) != want)
		abort();
	for (size_t i = 0; i < want; i++)
		if (got[i] != (text[i] ? (char)text[i] : ' '))
			abort();
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *part;
	size_t len;

	part = fuzz_part(&p, end, &len);
	fuzz_stat(part, len);
	part = fuzz_part(&p, end, &len);
	fuzz_status(part, len);
	part = fuzz_part(&p, end, &len);
	fuzz_cmdline(part, len);
	return 0;
}
