/*
 * paths.h: where every file lives. Either the FHS defaults (from configure's
 * sysconfdir, localstatedir and runstatedir) or everything under one
 * directory given with --state-dir. Directories are opened as fds without
 * following symlinks; files are then opened relative to them with openat.
 */
#ifndef AUDITSNITCH_PATHS_H
#define AUDITSNITCH_PATHS_H

#include <stdbool.h>
#include <sys/types.h>

enum paths_dir {
	PATHS_CONFIG_DIR, /* /etc/auditsnitch */
	PATHS_STATE_DIR,  /* /var/lib/auditsnitch: snitch.db, record.json */
	PATHS_LOG_DIR,    /* /var/log/auditsnitch: error.log, exe.log, conn.log */
	PATHS_RUN_DIR,    /* /run/auditsnitch (0700): the pidfile and control socket */
	PATHS_NDIRS
};

struct paths;

/*
 * state_dir: --state-dir or NULL for FHS; config_file: -c or NULL for the
 * default. Relative paths are made absolute against the current directory.
 * Returns 0 or -errno.
 */
int paths_new(const char *state_dir, const char *config_file, struct paths **ret);
void paths_free(struct paths *paths);

/* The directory's absolute path. */
const char *paths_dir(const struct paths *paths, enum paths_dir which);
/* Absolute paths of the individual files. */
const char *paths_config_file(const struct paths *paths);
const char *paths_db_file(const struct paths *paths);
const char *paths_pidfile(const struct paths *paths);
/* The config file's directory and base name (for openat). */
const char *paths_config_dirname(const struct paths *paths);
const char *paths_config_basename(const struct paths *paths);
/* True when --state-dir was given. */
bool paths_is_private(const struct paths *paths);

/*
 * Opens a directory as an O_DIRECTORY fd without following a symlink in
 * its last component; with create, makes it (and, for --state-dir, its
 * missing parents) first: 0700 for the FHS run directory (only root may
 * open the pidfile and socket there, so nobody else can lock or block
 * them), 0750 for the others. Then checks it the way OpenSSH's StrictModes
 * checks a home directory: the directory must be ours (owned by the
 * effective uid) and not writable by group or others, and each ancestor
 * owned by root or us and, when writable by others, sticky (/tmp).
 * Otherwise returns -EPERM and, when why is given, a message naming the
 * path and the fix (the caller frees it). Returns the fd or -errno.
 */
int paths_open_dir(const struct paths *paths, enum paths_dir which, bool create, char **why);
/* Same for any absolute directory path; private_run: tighten to 0700. */
int paths_open_dir_path(const char *path, bool create, bool parents, bool private_run,
			char **why);

/*
 * "Log group": a group name or number to a gid. 0, -EINVAL when text is
 * empty or not a valid name or number, -ENOENT when no such group exists.
 */
int paths_group_parse(const char *text, gid_t *ret);
/*
 * Gives dirfd/name (dirfd itself when name is NULL) the group gid and the
 * mode (0640 for files, 0750 for directories, so the group reads and
 * nothing more), owner unchanged. Never follows a symlink (-ELOOP); only
 * regular files and directories (-EINVAL); -ENOENT when it does not exist.
 */
int paths_share(int dirfd, const char *name, gid_t gid);

#endif
