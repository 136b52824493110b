/*
 * paths.c: the file layout of DESIGN.md "Files". Nothing is opened here but
 * directories; modules open their files with openat relative to the fds
 * this returns, with O_NOFOLLOW, so a symlink planted in a state directory
 * never redirects a root-owned write.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

struct paths {
	bool private_dir;
	char *dirs[PATHS_NDIRS];
	char *config_file;
	char *config_dirname;
	char *config_basename;
	char *db_file;
	char *pidfile;
};

/* Absolute form of path (relative to the cwd); no symlink resolution. */
static int paths_absolute(const char *path, char **ret)
{
	char cwd[PATH_MAX];
	size_t len;

	if (!*path)
		return -EINVAL;
	if (path[0] == '/') {
		*ret = xstrdup(path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		*ret = xasprintf("%s/%s", cwd, path);
	}
	/* Trailing slashes would make dirname/basename wrong. */
	len = strlen(*ret);
	while (len > 1 && (*ret)[len - 1] == '/')
		(*ret)[--len] = '\0';
	return 0;
}

int paths_new(const char *state_dir, const char *config_file, struct paths **ret)
{
	struct paths *p = xcalloc(1, sizeof(*p));
	char *base = NULL, *slash;
	int r, i;

	if (state_dir) {
		r = paths_absolute(state_dir, &base);
		if (r < 0)
			goto out;
		p->private_dir = true;
		for (i = 0; i < PATHS_NDIRS; i++)
			p->dirs[i] = xstrdup(base);
	} else {
		p->dirs[PATHS_CONFIG_DIR] = xstrdup(SYSCONFDIR "/auditsnitch");
		p->dirs[PATHS_STATE_DIR] = xstrdup(LOCALSTATEDIR "/lib/auditsnitch");
		p->dirs[PATHS_LOG_DIR] = xstrdup(LOCALSTATEDIR "/log/auditsnitch");
		/* A directory of its own: /run itself is 0755, so a pidfile there could be locked by anyone. */
		p->dirs[PATHS_RUN_DIR] = xstrdup(RUNSTATEDIR "/auditsnitch");
	}
	if (config_file) {
		r = paths_absolute(config_file, &p->config_file);
		if (r < 0)
			goto out;
	} else {
		p->config_file = xasprintf("%s/config.json", p->dirs[PATHS_CONFIG_DIR]);
	}
	slash = strrchr(p->config_file, '/');
	p->config_dirname = slash == p->config_file ? xstrdup("/")
						   : xstrndup(p->config_file, (size_t)(slash - p->config_file));
	p->config_basename = xstrdup(slash + 1);
	p->db_file = xasprintf("%s/snitch.db", p->dirs[PATHS_STATE_DIR]);
	p->pidfile = xasprintf("%s/auditsnitch.pid", p->dirs[PATHS_RUN_DIR]);
	*ret = p;
	p = NULL;
	r = 0;
out:
	free(base);
	paths_free(p);
	return r;
}

void paths_free(struct paths *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < PATHS_NDIRS; i++)
		free(p->dirs[i]);
	free(p->config_file);
	free(p->config_dirname);
	free(p->config_basename);
	free(p->db_file);
	free(p->pidfile);
	free(p);
}

const char *paths_dir(const struct paths *p, enum paths_dir which)
{
	return p->dirs[which];
}

const char *paths_config_file(const struct paths *p)
{
	return p->config_file;
}

const char *paths_db_file(const struct paths *p)
{
	return p->db_file;
}

const char *paths_pidfile(const struct paths *p)
{
	return p->pidfile;
}

const char *paths_config_dirname(const struct paths *p)
{
	return p->config_dirname;
}

const char *paths_config_basename(const struct paths *p)
{
	return p->config_basename;
}

bool paths_is_private(const struct paths *p)
{
	return p->private_dir;
}

/* mkdir -p for the missing parents of path (each 0750); the last is not made. */
static int paths_mkparents(const char *path)
{
	char buf[PATH_MAX];
	char *s;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (s = buf + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

/*
 * StrictModes for the ancestors of path: each owned by root or us, and
 * writable by group or others only with the sticky bit (/tmp). Someone who
 * can rename an ancestor can swap the whole state directory.
 */
static int paths_check_parents(const char *path, char **why)
{
	char buf[PATH_MAX], *s;
	struct stat st;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	while ((s = strrchr(buf, '/'))) {
		if (s == buf)
			s[1] = '\0';
		else
			s[0] = '\0';
		if (stat(buf, &st) < 0)
			return -errno;
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
			if (why)
				*why = xasprintf("%s: its parent %s is %s (uid %u, mode %04o); refusing "
						 "to keep state below it (choose a directory whose "
						 "parents only root can change)", path, buf,
						 st.st_uid != 0 && st.st_uid != geteuid()
							 ? "owned by another user" : "writable by others",
						 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
			return -EPERM;
		}
		if (s == buf)
			break;
	}
	return 0;
}

/* StrictModes for the directory itself (fd); tightens a private run dir to 0700. */
static int paths_check_dir(int fd, const char *path, bool private_run, char **why)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid()) {
		if (why)
			*why = xasprintf("%s: owned by uid %u, not by uid %u that runs auditsnitch; "
					 "refusing to use it (chown it, or choose another directory)",
					 path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & 022) {
		if (why)
			*why = xasprintf("%s: writable by group or others (mode %04o); refusing to "
					 "use it (chmod go-w it)", path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	/* Ours and nobody else's writes: narrowing to 0700 is safe and what we promise. */
	if (private_run && (st.st_mode & 077) && fchmod(fd, 0700) < 0)
		return -errno;
	return 0;
}

int paths_open_dir_path(const char *path, bool create, bool parents, bool private_run,
			char **why)
{
	int fd, r;

	if (create) {
		if (parents) {
			r = paths_mkparents(path);
			if (r < 0)
				return r;
		}
		if (mkdir(path, private_run ? 0700 : 0750) < 0 && errno != EEXIST)
			return -errno;
	}
	r = paths_check_parents(path, why);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = paths_check_dir(fd, path, private_run, why);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int paths_open_dir(const struct paths *p, enum paths_dir which, bool create, char **why)
{
	/* FHS parents (/etc, /var/lib, /var/log, /run) exist; a private dir may not. */
	return paths_open_dir_path(p->dirs[which], create, p->private_dir,
				   which == PATHS_RUN_DIR && !p->private_dir, why);
}

int paths_group_parse(const char *text, gid_t *ret)
{
	struct group grp, *found = NULL;
	char buf[4096], *end;
	unsigned long long n;
	size_t i;
	int r;

	if (!text || !*text || strlen(text) > 256)
		return -EINVAL;
	if (text[0] >= '0' && text[0] <= '9') {
		errno = 0;
		n = strtoull(text, &end, 10);
		/* (gid_t)-1 means "unchanged" to chown(2); it is never a group. */
		if (errno || *end || n >= (gid_t)-1)
			return -EINVAL;
		*ret = (gid_t)n;
		return 0;
	}
	/* Characters a group name can have (shadow-utils' rule, plus '.'). */
	if (text[0] == '-')
		return -EINVAL;
	for (i = 0; text[i]; i++)
		if (!((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
		      (text[i] >= '0' && text[i] <= '9') || text[i] == '_' || text[i] == '-' ||
		      text[i] == '.' || (text[i] == '$' && !text[i + 1])))
			return -EINVAL;
	r = getgrnam_r(text, &grp, buf, sizeof(buf), &found);
	if (r != 0)
		return -r;
	if (!found)
		return -ENOENT;
	*ret = found->gr_gid;
	return 0;
}

int paths_share(int dirfd, const char *name, gid_t gid)
{
	struct stat st;
	mode_t mode;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO planted under the name must not block the open. */
	fd = name ? openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
		  : dup(dirfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode))
		mode = 0640;
	else if (S_ISDIR(st.st_mode))
		mode = 0750;
	else {
		r = -EINVAL;
		goto out;
	}
	if ((st.st_gid != gid && fchown(fd, (uid_t)-1, gid) < 0) ||
	    ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0))
		r = -errno;
out:
	close(fd);
	return r;
}
