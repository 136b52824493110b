/*
 * test_paths.c: the file layout (paths.c): FHS defaults, everything under
 * --state-dir, relative paths made absolute, directories created 0750 and
 * symlinks never followed; and the atomic writer, escaping and address
 * formatting in util.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "tap.h"
#include "util.h"

static void test_fhs(void)
{
	struct paths *p = NULL;

	ok(paths_new(NULL, NULL, &p) == 0, "FHS paths");
	if (!p)
		return;
	is_str(paths_config_file(p), SYSCONFDIR "/auditsnitch/config.json", "FHS config");
	is_str(paths_db_file(p), LOCALSTATEDIR "/lib/auditsnitch/snitch.db", "FHS database");
	is_str(paths_dir(p, PATHS_LOG_DIR), LOCALSTATEDIR "/log/auditsnitch", "FHS log dir");
	is_str(paths_pidfile(p), RUNSTATEDIR "/auditsnitch/auditsnitch.pid",
	       "FHS pidfile in a directory of its own");
	is_str(paths_dir(p, PATHS_RUN_DIR), RUNSTATEDIR "/auditsnitch", "FHS run dir");
	ok(!paths_is_private(p), "FHS is not private");
	paths_free(p);
}

static void test_private(void)
{
	char dir[] = "/tmp/asn-test-paths.XXXXXX", cwd[PATH_MAX], *want;
	struct paths *p = NULL;
	struct stat st;
	int fd;

	ok(mkdtemp(dir) != NULL, "mkdtemp");
	ok(getcwd(cwd, sizeof(cwd)) != NULL, "getcwd");
	ok(chdir(dir) == 0, "chdir");
	ok(paths_new("sub/state/", "my.json", &p) == 0, "relative state dir");
	if (!p)
		return;
	want = xasprintf("%s/sub/state/snitch.db", dir);
	is_str(paths_db_file(p), want, "db under state dir, trailing slash dropped");
	free(want);
	want = xasprintf("%s/sub/state/auditsnitch.pid", dir);
	is_str(paths_pidfile(p), want, "pidfile under state dir");
	free(want);
	want = xasprintf("%s/my.json", dir);
	is_str(paths_config_file(p), want, "-c relative to cwd");
	free(want);
	is_str(paths_config_basename(p), "my.json", "config basename");
	is_str(paths_config_dirname(p), dir, "config dirname");

	fd = paths_open_dir(p, PATHS_STATE_DIR, true, NULL);
	ok(fd >= 0, "state dir created with parents");
	ok(stat("sub/state", &st) == 0 && (st.st_mode & 07777) == 0750, "dir mode 0750");
	if (fd >= 0)
		close(fd);
	paths_free(p);

	/* A symlinked state directory is refused. */
	ok(symlink("sub/state", "link") == 0, "make symlink");
	fd = paths_open_dir_path("link", false, false, false, NULL);
	ok(fd == -ELOOP || fd == -ENOTDIR, "symlinked directory not followed");
	if (fd >= 0)
		close(fd);
	unlink("link");
	rmdir("sub/state");
	rmdir("sub");
	ok(chdir(cwd) == 0, "chdir back");
	rmdir(dir);
}

/* StrictModes: directories another user could change are refused with a message. */
static void test_strict(void)
{
	char dir[] = "/tmp/asn-test-strict.XXXXXX", *path, *why = NULL;
	struct stat st;
	int fd;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	path = xasprintf("%s/run", dir);
	fd = paths_open_dir_path(path, true, false, true, NULL);
	ok(fd >= 0 && stat(path, &st) == 0 && (st.st_mode & 07777) == 0700, "run dir made 0700");
	if (fd >= 0)
		close(fd);
	chmod(path, 0750);
	fd = paths_open_dir_path(path, false, false, true, NULL);
	ok(fd >= 0 && stat(path, &st) == 0 && (st.st_mode & 07777) == 0700,
	   "an existing run dir of ours is narrowed to 0700");
	if (fd >= 0)
		close(fd);
	chmod(path, 0777);
	is_int(paths_open_dir_path(path, false, false, false, &why), -EPERM,
	       "a directory writable by others is refused");
	ok(why && strstr(why, path) && strstr(why, "writable by group or others"),
	   "the refusal names the path and the reason: %s", why ? why : "");
	free(why);
	why = NULL;
	chmod(path, 0750);
	free(path);
	/* A parent writable by others without the sticky bit could rename it away. */
	{
		char *parent = xasprintf("%s/open", dir);

		path = xasprintf("%s/open/state", dir);
		ok(mkdir(parent, 0700) == 0 && chmod(parent, 0777) == 0 && mkdir(path, 0750) == 0,
		   "a state dir below a directory everyone can write");
		is_int(paths_open_dir_path(path, false, false, false, &why), -EPERM,
		       "a parent writable by others (not sticky) is refused");
		ok(why && strstr(why, "its parent") && strstr(why, parent), "the refusal names the parent");
		free(why);
		why = NULL;
		chmod(parent, 01777);
		fd = paths_open_dir_path(path, false, false, false, &why);
		ok(fd >= 0, "a sticky parent (like /tmp) is accepted");
		if (fd >= 0)
			close(fd);
		free(why);
		why = NULL;
		free(parent);
		free(path);
	}
	if (geteuid() == 0) {
		path = xasprintf("%s/theirs", dir);
		ok(mkdir(path, 0750) == 0 && chown(path, 65534, 65534) == 0, "a directory of nobody");
		is_int(paths_open_dir_path(path, false, false, false, &why), -EPERM,
		       "a directory owned by another user is refused");
		ok(why && strstr(why, "owned by uid 65534"), "the refusal names the owner: %s",
		   why ? why : "");
		free(why);
		why = NULL;
		rmdir(path);
		free(path);
	}
	path = xasprintf("rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
	free(path);
}

static void test_atomic(void)
{
	char dir[] = "/tmp/asn-test-atomic.XXXXXX", *text = NULL;
	struct stat st;
	int dfd;

	ok(mkdtemp(dir) != NULL, "mkdtemp");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ok(util_write_atomic(dfd, "f", "one", 3, 0640) == 0, "first write");
	ok(util_write_atomic(dfd, "f", "second", 6, 0640) == 0, "replace");
	ok(util_read_file(dfd, "f", 100, &text, NULL) == 0 && strcmp(text, "second") == 0,
	   "content replaced whole");
	free(text);
	ok(fstatat(dfd, "f", &st, 0) == 0 && (st.st_mode & 0777) == 0640, "mode 0640");
	ok(util_read_file(dfd, "f", 3, &text, NULL) == -EFBIG, "read bounded by max_len");
	ok(symlinkat("f", dfd, "l") == 0, "symlink");
	ok(util_read_file(dfd, "l", 100, &text, NULL) == -ELOOP, "read does not follow symlink");
	unlinkat(dfd, "l", 0);
	unlinkat(dfd, "f", 0);
	close(dfd);
	rmdir(dir);
}

static void test_escape(void)
{
	char out[64];

	util_escape(out, sizeof(out), "a\nb", 3);
	is_str(out, "a\\x0ab", "newline escaped");
	util_escape(out, sizeof(out), "caf\xc3\xa9", 5);
	is_str(out, "caf\xc3\xa9", "valid UTF-8 kept");
	util_escape(out, sizeof(out), "\xff", 1);
	is_str(out, "\\xff", "invalid UTF-8 escaped");
	util_escape(out, sizeof(out), "a\0b", 3);
	is_str(out, "a\\x00b", "NUL escaped");
	is_int(util_escape(out, 4, "abcdef", 6), 6, "needed length reported when truncated");
	is_str(out, "abc", "truncated output NUL-terminated");
}

/* util_inet_ntop against the C library's inet_ntop, and its bounds. */
static void test_ntop(void)
{
	static const char *const fixed[] = { "0.0.0.0", "255.255.255.255", "127.0.0.1",
					     "10.0.0.9", "100.10.1.0", "198.18.0.42", "1.23.45.199" };
	char got[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
	unsigned char a[16];
	uint32_t x = 2463534242u;
	int same = 1;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		inet_pton(AF_INET, fixed[i], a);
		is_str(util_inet_ntop(AF_INET, a, got, sizeof(got)), fixed[i], "ntop %s", fixed[i]);
	}
	/* Every byte value in every position, and pseudo-random addresses. */
	for (unsigned i = 0; i < 256 * 4 + 100000; i++) {
		if (i < 256 * 4) {
			memset(a, (int)(i * 37 % 256), 4);
			a[i / 256] = (unsigned char)(i % 256);
		} else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			memcpy(a, &x, 4);
		}
		inet_ntop(AF_INET, a, want, sizeof(want));
		if (!util_inet_ntop(AF_INET, a, got, sizeof(got)) || strcmp(got, want) != 0) {
			same = 0;
			printf("# %s != %s\n", got, want);
			break;
		}
	}
	ok(same, "ntop: IPv4 as inet_ntop writes it");
	inet_pton(AF_INET6, "2001:db8::ffff:1", a);
	is_str(util_inet_ntop(AF_INET6, a, got, sizeof(got)), "2001:db8::ffff:1", "ntop: IPv6");
	inet_pton(AF_INET, "255.255.255.255", a);
	errno = 0;
	ok(util_inet_ntop(AF_INET, a, got, 15) == NULL && errno == ENOSPC, "ntop: no room, ENOSPC");
	ok(util_inet_ntop(AF_INET, a, got, 16) != NULL, "ntop: exactly room");
	inet_pton(AF_INET, "1.2.3.4", a);
	ok(util_inet_ntop(AF_INET, a, got, 8) != NULL && strcmp(got, "1.2.3.4") == 0,
	   "ntop: a short address fits a short buffer");
}

/* "Log group" names and numbers, and sharing a file or directory with a group. */
static void test_group(void)
{
	char dir[] = "/tmp/asn-test-group.XXXXXX";
	struct group *root = getgrgid(0);
	gid_t gid = 12345, mine = getegid();
	struct stat st;
	int dfd, fd;

	is_int(paths_group_parse("0", &gid), 0, "group number 0");
	is_int(gid, 0, "number is the gid");
	is_int(paths_group_parse("4242", &gid), 0, "a number need not name a group");
	is_int(gid, 4242, "4242");
	if (root) {
		gid = 12345;
		is_int(paths_group_parse(root->gr_name, &gid), 0, "group %s by name", root->gr_name);
		is_int(gid, 0, "%s is gid 0", root->gr_name);
	} else {
		tap_skip("no group 0 in the group database");
		tap_skip("no group 0 in the group database");
	}
	is_int(paths_group_parse("asn-no-such-group", &gid), -ENOENT, "unknown name: -ENOENT");
	is_int(paths_group_parse("", &gid), -EINVAL, "empty: -EINVAL");
	is_int(paths_group_parse("a b", &gid), -EINVAL, "space: -EINVAL");
	is_int(paths_group_parse("adm\n", &gid), -EINVAL, "newline: -EINVAL");
	is_int(paths_group_parse("12x", &gid), -EINVAL, "number with junk: -EINVAL");
	is_int(paths_group_parse("-1", &gid), -EINVAL, "-1: -EINVAL");
	is_int(paths_group_parse("4294967295", &gid), -EINVAL, "(gid_t)-1: -EINVAL");
	is_int(paths_group_parse("99999999999999999999", &gid), -EINVAL, "overflow: -EINVAL");

	ok(mkdtemp(dir) != NULL, "temporary directory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	fd = openat(dfd, "snitch.db", O_WRONLY | O_CREAT, 0600);
	ok(fd >= 0, "a 0600 file");
	if (fd >= 0)
		close(fd);
	/* Our own group: allowed without privileges. */
	is_int(paths_share(dfd, "snitch.db", mine), 0, "share a file");
	ok(fstatat(dfd, "snitch.db", &st, 0) == 0 && st.st_gid == mine &&
		   (st.st_mode & 07777) == 0640, "file: group set, mode 0640 (%o)",
	   (unsigned)(st.st_mode & 07777));
	chmod(dir, 0700);
	is_int(paths_share(dfd, NULL, mine), 0, "share the directory");
	ok(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0750, "directory mode 0750 (%o)",
	   (unsigned)(st.st_mode & 07777));
	ok(symlinkat("snitch.db", dfd, "link") == 0, "a symlink");
	is_int(paths_share(dfd, "link", mine), -ELOOP, "a symlink is never followed");
	ok(mkfifoat(dfd, "fifo", 0600) == 0, "a FIFO");
	is_int(paths_share(dfd, "fifo", mine), -EINVAL, "a FIFO is refused, without blocking");
	is_int(paths_share(dfd, "missing", mine), -ENOENT, "missing: -ENOENT");
	unlinkat(dfd, "snitch.db", 0);
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "fifo", 0);
	close(dfd);
	rmdir(dir);
}

int main(void)
{
	umask(022);
	test_ntop();
	test_fhs();
	test_private();
	test_strict();
	test_atomic();
	test_escape();
	test_group();
	return tap_done();
}
