/*
 * main.c: the `auditsnitch` command line. Global options (-c, -d) come
 * before the command; each command parses its own options. Exit statuses
 * follow sysexits(3) (64 usage, 78 configuration) and, for `status`, the
 * LSB init-script codes (0 running, 3 stopped).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "audit.h"
#include "cli.h"
#include "control.h"
#include "daemon.h"
#include "notify.h"
#include "vt.h"
#include "paths.h"
#include "query.h"
#include "store.h"
#include "view/view.h"

struct command {
	const char *name;
	const char *args;     /* synopsis after the command name */
	const char *summary;  /* one line for `help` */
	const char *help;     /* the full text for `help COMMAND` */
	int (*fn)(struct daemon_opts *opts, int argc, char **argv);
	bool own_help;        /* the command prints its own --help */
};

static int main_cmd_help(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_version(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_run(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_start(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_stop(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_restart(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_status(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_check_config(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_systemd(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_rules(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_query(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_view(struct daemon_opts *opts, int argc, char **argv);
static int main_cmd_follow(struct daemon_opts *opts, int argc, char **argv);

static const struct command main_commands[] = {
	{ "run", "[--json]", "run the monitor in the foreground (what systemd runs)",
	  "Runs the monitor in the foreground until SIGTERM or SIGINT. Messages go to\n"
	  "stderr, error.log and syslog. SIGHUP reloads the configuration (an invalid\n"
	  "new one is reported and the old one kept) and reopens the log files.\n"
	  "  --json    print every exec and connect event as one JSON object per line\n"
	  "            on stdout (fields in auditsnitch(8))\n"
	  "Exit status 78 when the configuration is invalid, 75 when another daemon\n"
	  "is running, 77 when not root.\n",
	  main_cmd_run, false },
	{ "start", "", "start the monitor in the background",
	  "Starts the monitor as a background daemon and waits until it is ready;\n"
	  "the exit status says whether it came up (as for run). A stale pidfile\n"
	  "left by a killed daemon is detected and replaced.\n",
	  main_cmd_start, false },
	{ "stop", "", "stop the background monitor",
	  "Sends SIGTERM to the running daemon and waits up to 10 seconds for it to\n"
	  "exit. Exit status 0 when it stopped or was not running.\n",
	  main_cmd_stop, false },
	{ "restart", "", "stop, then start",
	  "Stops the running daemon (if any), then starts it again.\n",
	  main_cmd_restart, false },
	{ "status", "[--json]", "show whether the monitor runs, and its statistics",
	  "Shows whether the daemon runs, its pid, uptime, state directory and,\n"
	  "when run as root, its statistics: audit loss counters, correlation,\n"
	  "conntrack, identity, database, programs known and notifications.\n"
	  "  --json    print the statistics as one JSON object instead\n"
	  "Exit status (LSB): 0 running,\n"
	  "1 not running but a stale pidfile exists, 3 not running, 4 unknown.\n",
	  main_cmd_status, false },
	{ "check-config", "[--print]", "validate the configuration file",
	  "Reads and validates the configuration file without starting anything.\n"
	  "Prints each problem naming the key, what it expected and what it found.\n"
	  "  --print   also print the effective configuration as JSON\n"
	  "Exit status 0 when valid, 78 when not.\n",
	  main_cmd_check_config, false },
	{ "systemd", "", "install the systemd unit and reload systemd",
	  "Runs `systemctl daemon-reload` so systemd sees the unit. Where a package\n"
	  "or `make install` put auditsnitch.service in a systemd unit directory, it\n"
	  "says so and copies nothing (a copy in /etc would shadow that unit);\n"
	  "otherwise it first installs the unit into /etc/systemd/system. Refuses\n"
	  "(exit 69) where systemd is not running.\n",
	  main_cmd_systemd, false },
	{ "view", "[--refresh SECONDS]", "browse the connection log (ncurses)",
	  "", main_cmd_view, true },
	{ "query", "[OPTIONS]", "print the connection log as a table, CSV or JSON",
	  "", main_cmd_query, true },
	{ "follow", "[OPTIONS]", "print the daemon's connection rows as they are written",
	  "", main_cmd_follow, true },
	{ "rules", "[--no-saddr-fam] [--no-sends] | --check [--existing | --add]",
	  "print our audit rules, or check what the loaded rules hide",
	  "Prints the audit rules the daemon loads, for this machine's ABIs, in\n"
	  "auditctl syntax (for /etc/audit/rules.d/). The daemon adds -F pid!=PID\n"
	  "to its own copies.\n"
	  "  --no-saddr-fam   rules for kernels without the saddr_fam field\n"
	  "  --no-sends       without the send rules (\"Audit unconnected sends\": false)\n"
	  "  --check          read the kernel's rules (as root) and print, in plain words,\n"
	  "                   what they hide from auditsnitch: never rules before ours,\n"
	  "                   task rules, excluded record types, and with \"Audit rules\":\n"
	  "                   \"existing\" what no loaded rule covers\n"
	  "  --existing, --add  judge as in that \"Audit rules\" mode, not the configured one\n"
	  "Exit status with --check: 0 when nothing is hidden, 1 when something is,\n"
	  "77 when not allowed to read the rules.\n",
	  main_cmd_rules, false },
	{ "version", "", "print the version",
	  "Prints the program name and version.\n",
	  main_cmd_version, false },
	{ "help", "[COMMAND]", "show this help, or a command's help",
	  "Without an argument lists the commands; with one, shows its help.\n",
	  main_cmd_help, false },
};

static void main_usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: auditsnitch [-c FILE] [-d DIR] COMMAND [ARGS]\n\n"
		     "Shows which programs talk to the network, from the kernel audit and\n"
		     "conntrack subsystems, and warns about new or changed programs.\n\n"
		     "Options:\n"
		     "  -c, --config FILE     configuration file (default %s/auditsnitch/config.json)\n"
		     "  -d, --state-dir DIR   keep every file (config, database, logs, pidfile) in DIR\n"
		     "  -h, --help            show this help\n"
		     "  -V, --version         print the version\n\n"
		     "Commands:\n", SYSCONFDIR);
	for (i = 0; i < sizeof(main_commands) / sizeof(main_commands[0]); i++)
		fprintf(out, "  %-13s %s\n", main_commands[i].name, main_commands[i].summary);
	fprintf(out, "\n`auditsnitch help COMMAND` shows a command's options. See auditsnitch(8).\n");
}

static const struct command *main_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(main_commands) / sizeof(main_commands[0]); i++)
		if (strcmp(main_commands[i].name, name) == 0)
			return &main_commands[i];
	return NULL;
}

static void main_command_help(const struct command *c, FILE *out)
{
	if (c->own_help) {
		char *argv[] = { (char *)c->name, (char *)"--help", NULL };
		struct daemon_opts opts = { 0 };
		fflush(out);
		(void)c->fn(&opts, 2, argv);
		return;
	}
	fprintf(out, "Usage: auditsnitch [-c FILE] [-d DIR] %s%s%s\n\n%s", c->name,
		*c->args ? " " : "", c->args, c->help);
}

/* A usage error: one line and "Try 'auditsnitch help COMMAND'" on stderr, status 64. */
__attribute__((format(printf, 2, 3)))
static int main_usage_error(const struct command *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cli_usage_error(stderr, c ? c->name : NULL, "%s", msg);
}

/*
 * Parses a command's options: only --help, plus the long options given
 * (values from 256, see cli_refused_option). Returns -1 when all is
 * parsed, EX_USAGE after printing the error, or 0 after printing help
 * (the caller returns it).
 */
static int main_parse(const struct command *c, int argc, char **argv,
		      const struct option *extra, size_t nextra, int *flags)
{
	struct option longopts[8];
	char optbuf[3];
	size_t i, n = 0;
	int opt;

	for (i = 0; i < nextra && n < 6; i++)
		longopts[n++] = extra[i];
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ 0 };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			main_command_help(c, stdout);
			return 0;
		}
		if (opt == '?' || opt == ':')
			return cli_bad_option(stderr, c->name,
					      cli_refused_option(argv, optind, optopt, optbuf),
					      opt == ':');
		for (i = 0; i < nextra; i++)
			if (opt == extra[i].val)
				*flags |= 1 << i; /* bit i: extra[i] was given */
	}
	if (optind < argc)
		return main_usage_error(c, "unexpected argument '%s'", argv[optind]);
	return -1;
}

static int main_cmd_help(struct daemon_opts *opts, int argc, char **argv)
{
	const struct command *c;

	if (argc > 2)
		return main_usage_error(main_find("help"), "help takes at most one command");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	c = main_find(argv[1]);
	if (!c)
		return main_usage_error(NULL, "unknown command '%s'", argv[1]);
	main_command_help(c, stdout);
	return 0;
}

static int main_cmd_version(struct daemon_opts *opts, int argc, char **argv)
{
	int flags = 0, r = main_parse(main_find("version"), argc, argv, NULL, 0, &flags);

	if (r >= 0)
		return r;
	printf("auditsnitch %s\n", PACKAGE_VERSION);
	return 0;
}

static int main_cmd_run(struct daemon_opts *opts, int argc, char **argv)
{
	static const struct option extra[] = { { "json", no_argument, NULL, 256 } };
	int flags = 0, r = main_parse(main_find("run"), argc, argv, extra, 1, &flags);

	if (r >= 0)
		return r;
	opts->foreground = true;
	opts->json = (flags & 1) != 0;
	return daemon_run(opts);
}

static int main_cmd_start(struct daemon_opts *opts, int argc, char **argv)
{
	int flags = 0, r = main_parse(main_find("start"), argc, argv, NULL, 0, &flags);

	if (r >= 0)
		return r;
	return daemon_start(opts);
}

static int main_cmd_stop(struct daemon_opts *opts, int argc, char **argv)
{
	int flags = 0, r = main_parse(main_find("stop"), argc, argv, NULL, 0, &flags);

	if (r >= 0)
		return r;
	return control_stop(opts, false);
}

static int main_cmd_restart(struct daemon_opts *opts, int argc, char **argv)
{
	int flags = 0, r = main_parse(main_find("restart"), argc, argv, NULL, 0, &flags);

	if (r >= 0)
		return r;
	r = control_stop(opts, true);
	if (r != 0)
		return r;
	return daemon_start(opts);
}

static int main_cmd_status(struct daemon_opts *opts, int argc, char **argv)
{
	static const struct option extra[] = { { "json", no_argument, NULL, 256 } };
	int flags = 0, r = main_parse(main_find("status"), argc, argv, extra, 1, &flags);

	if (r >= 0)
		return r == 0 ? 0 : 4; /* LSB: status usage errors are "unknown" */
	return control_status(opts, (flags & 1) != 0);
}

static int main_cmd_check_config(struct daemon_opts *opts, int argc, char **argv)
{
	static const struct option extra[] = { { "print", no_argument, NULL, 256 } };
	int flags = 0, r = main_parse(main_find("check-config"), argc, argv, extra, 1, &flags);

	if (r >= 0)
		return r;
	return control_check_config(opts, (flags & 1) != 0);
}

static int main_cmd_systemd(struct daemon_opts *opts, int argc, char **argv)
{
	int flags = 0, r = main_parse(main_find("systemd"), argc, argv, NULL, 0, &flags);

	if (r >= 0)
		return r;
	return control_install_systemd(opts);
}

static int main_cmd_rules(struct daemon_opts *opts, int argc, char **argv)
{
	static const struct option extra[] = { { "no-saddr-fam", no_argument, NULL, 256 },
					       { "no-sends", no_argument, NULL, 257 },
					       { "check", no_argument, NULL, 258 },
					       { "existing", no_argument, NULL, 259 },
					       { "add", no_argument, NULL, 260 } };
	int flags = 0, r = main_parse(main_find("rules"), argc, argv, extra, 5, &flags);
	char *text;

	if (r >= 0)
		return r;
	if ((flags & 24) == 24 || ((flags & 24) && !(flags & 4)) || ((flags & 4) && (flags & 3)))
		return main_usage_error(main_find("rules"),
					"--check goes alone or with one of --existing and --add");
	if (flags & 4)
		return control_rules_check(opts, flags & 8 ? AUDITSRC_RULES_EXISTING
					  : flags & 16 ? AUDITSRC_RULES_ADD : -1);
	text = auditsrc_rules_text((flags & 1) == 0, (flags & 2) == 0, 0);
	fputs(text, stdout);
	free(text);
	return 0;
}

/* The database path for -d / the FHS layout. */
static char *main_db_path(const struct daemon_opts *opts)
{
	struct paths *paths = NULL;
	char *db;

	if (paths_new(opts->state_dir, opts->config_file, &paths) < 0)
		return NULL;
	db = strdup(paths_db_file(paths));
	paths_free(paths);
	return db;
}

static int main_cmd_query(struct daemon_opts *opts, int argc, char **argv)
{
	char *db = main_db_path(opts);
	int r;

	if (!db)
		return main_usage_error(main_find("query"), "cannot resolve the database path");
	r = query_main(argc, argv, db);
	free(db);
	return r;
}

static int main_cmd_follow(struct daemon_opts *opts, int argc, char **argv)
{
	return control_follow(opts, argc, argv);
}

static int main_cmd_view(struct daemon_opts *opts, int argc, char **argv)
{
	char *db = main_db_path(opts);
	int r;

	if (!db)
		return main_usage_error(main_find("view"), "cannot resolve the database path");
	r = view_main(argc, argv, db);
	free(db);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct daemon_opts opts = { 0 };
	const struct command *c;
	char optbuf[3];
	int opt;

	/* The notifier's helper image (notify.h): started by the daemon only, not a command. */
	if (argc > 1 && strcmp(argv[1], NOTIFY_HELPER_COMMAND) == 0)
		return notify_helper_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], VT_HELPER_COMMAND) == 0)
		return vt_helper_main(argc, argv);
	store_library_init(); /* before any command opens a database */
	daemon_register_validators();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:d:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!*optarg)
				return main_usage_error(NULL, "-c needs a file name");
			opts.config_file = optarg;
			break;
		case 'd':
			if (!*optarg)
				return main_usage_error(NULL, "-d needs a directory");
			opts.state_dir = optarg;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("auditsnitch %s\n", PACKAGE_VERSION);
			return 0;
		default:
			return cli_bad_option(stderr, NULL,
					      cli_refused_option(argv, optind, optopt, optbuf),
					      opt == ':');
		}
	}
	if (optind >= argc)
		return main_usage_error(NULL, "no command given");
	c = main_find(argv[optind]);
	if (!c)
		return main_usage_error(NULL, "unknown command '%s'", argv[optind]);
	return c->fn(&opts, argc - optind, argv + optind);
}
