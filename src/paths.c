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
		p->dirs[PATHS_RUN_DIR] = xstrdup(RUNSTATEDIR);
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

int paths_open_dir_path(const char *path, bool create, bool parents)
{
	int fd, r;

	if (create) {
		if (parents) {
			r = paths_mkparents(path);
			if (r < 0)
				return r;
		}
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			return -errno;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

int paths_open_dir(const struct paths *p, enum paths_dir which, bool create)
{
	/* FHS parents (/etc, /var/lib, /var/log, /run) exist; a private dir may not. */
	return paths_open_dir_path(p->dirs[which], create, p->private_dir);
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
