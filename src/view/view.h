/*
 * view.h: `auditsnitch view`, the ncurses browser of the connection log
 * (picosnitch's `view`). It reads the database read-only, so it runs while
 * the daemon writes, and needs no privileges beyond reading the file.
 */
#ifndef AUDITSNITCH_VIEW_H
#define AUDITSNITCH_VIEW_H

/*
 * Runs the browser on the database at db_path. argv[0] is "view"; options:
 * --help, --refresh SECONDS. Returns 0 on quit (and after --help), 1 on a
 * terminal error (none, or a dumb one), 2 on a usage error, 66 (EX_NOINPUT)
 * when the database does not exist yet or has no tables yet, 77
 * (EX_NOPERM) when it cannot be read. Messages go to stderr.
 */
int view_main(int argc, char **argv, const char *db_path);

#endif
