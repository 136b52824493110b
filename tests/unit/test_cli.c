/*
 * test_cli.c: the command line as a user meets it, by running the built
 * binary ($AUDITSNITCH): usage errors exit 64 with one line and a "Try"
 * line on stderr (a global option after the command is named as one),
 * help exists for every command, version prints, check-config exits 78 on
 * a bad file naming the key. Needs no privileges.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static const char *binary;

/*
 * A usage error on stderr: exactly the line want, then "Try 'auditsnitch
 * help[ command]' for more information." and nothing else.
 */
static void check_err(const char *err, const char *want, const char *command, const char *what)
{
	char full[1024];

	snprintf(full, sizeof(full), "%sTry 'auditsnitch help%s%s' for more information.\n", want,
		 command ? " " : "", command ? command : "");
	ok(!strcmp(err, full), "%s: one line and the Try line", what);
	if (strcmp(err, full))
		printf("# got: %s# want: %s", err, full);
}

/* Runs the binary with args; captures stdout and stderr; returns the exit status. */
static int run(char *out, size_t outsz, char *err, size_t errsz, const char *const *args)
{
	int po[2], pe[2], status = -1;
	const char *argv[16];
	size_t n = 0, i;
	ssize_t k;
	pid_t pid;

	argv[n++] = binary;
	for (i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(po) < 0 || pipe(pe) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(binary, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Outputs are small; read stdout then stderr. */
	k = read(po[0], out, outsz - 1);
	out[k > 0 ? k : 0] = '\0';
	while (k > 0)
		k = read(po[0], (char[256]){ 0 }, 256);
	k = read(pe[0], err, errsz - 1);
	err[k > 0 ? k : 0] = '\0';
	while (k > 0)
		k = read(pe[0], (char[256]){ 0 }, 256);
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
	static const char *const commands[] = { "run", "start", "stop", "restart", "status",
						"check-config", "systemd", "version", "help" };
	char out[8192], err[8192], dir[] = "/tmp/asn-test-cli.XXXXXX", *cfg;
	size_t i;
	int r, fd;

	binary = getenv("AUDITSNITCH");
	if (!binary)
		binary = "./auditsnitch";
	if (access(binary, X_OK) < 0) {
		printf("1..0 # SKIP binary %s not built\n", binary);
		return 0;
	}

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ NULL });
	is_int(r, 64, "no command: exit 64");
	check_err(err, "auditsnitch: no command given\n", NULL, "no command");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "frobnicate", NULL });
	is_int(r, 64, "unknown command: exit 64");
	check_err(err, "auditsnitch: unknown command 'frobnicate'\n", NULL, "unknown command");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "--bogus", "status", NULL });
	is_int(r, 64, "unknown global option: exit 64");
	check_err(err, "auditsnitch: unknown option '--bogus'\n", NULL, "unknown global option");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "-d", NULL });
	is_int(r, 64, "missing option argument: exit 64");
	check_err(err, "auditsnitch: option '-d' needs an argument\n", NULL, "missing argument");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "version", "--bogus", NULL });
	is_int(r, 64, "unknown command option: exit 64");
	check_err(err, "auditsnitch version: unknown option '--bogus'\n", "version",
		  "unknown command option");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "stop", "extra", NULL });
	is_int(r, 64, "extra argument: exit 64");
	check_err(err, "auditsnitch stop: unexpected argument 'extra'\n", "stop", "extra argument");

	/* A global option after the command is named as one, for every command. */
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		static const char *const globals[] = { "-d", "-c", "--state-dir", "--config=x" };
		const char *g = globals[i % ARRAY_SIZE(globals)];
		char want[256];

		if (!strcmp(commands[i], "help"))
			continue;
		r = run(out, sizeof(out), err, sizeof(err),
			(const char *const[]){ commands[i], g, "/tmp", NULL });
		is_int(r, !strcmp(commands[i], "status") ? 4 : 64, "%s %s: usage error",
		       commands[i], g);
		snprintf(want, sizeof(want), "auditsnitch %s: %s is a global option: global options "
			 "go before the command (auditsnitch %s ... %s)\n", commands[i], g, g,
			 commands[i]);
		check_err(err, want, commands[i], commands[i]);
	}
	r = run(out, sizeof(out), err, sizeof(err),
		(const char *const[]){ "query", "--where", "ip=10.0.0.0/8", "-d", "/tmp", NULL });
	is_int(r, 64, "query -d: usage error");
	ok(strstr(err, "auditsnitch query: -d is a global option") != NULL, "query -d named");
	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "view", "--bogus", NULL });
	is_int(r, 64, "view --bogus: exit 64");
	check_err(err, "auditsnitch view: unknown option '--bogus'\n", "view", "view --bogus");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "version", NULL });
	ok(r == 0 && strncmp(out, "auditsnitch ", 12) == 0, "version prints");

	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "--help", NULL });
	ok(r == 0 && strstr(out, "Commands:"), "--help lists commands");

	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		r = run(out, sizeof(out), err, sizeof(err),
			(const char *const[]){ "help", commands[i], NULL });
		ok(r == 0 && strstr(out, commands[i]) && strlen(out) > 60, "help %s", commands[i]);
		r = run(out, sizeof(out), err, sizeof(err),
			(const char *const[]){ commands[i], "--help", NULL });
		ok(r == 0 && strstr(out, "Usage:"), "%s --help", commands[i]);
	}
	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "help", "nope", NULL });
	is_int(r, 64, "help for an unknown command: exit 64");

	/* check-config on a private state directory. */
	ok(mkdtemp(dir) != NULL, "mkdtemp");
	cfg = xasprintf("%s/config.json", dir);
	r = run(out, sizeof(out), err, sizeof(err),
		(const char *const[]){ "-d", dir, "check-config", NULL });
	ok(r == 0 && strstr(out, "does not exist"), "check-config: missing file is fine");
	fd = open(cfg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "{\"DB sql log\": 3}", 17) == 17, "write bad config");
	close(fd);
	r = run(out, sizeof(out), err, sizeof(err),
		(const char *const[]){ "-d", dir, "check-config", NULL });
	is_int(r, 78, "check-config: bad value exits 78");
	ok(strstr(err, "\"DB sql log\": expected true or false, got 3 (a number)") != NULL,
	   "check-config names key, expectation and value");
	fd = open(cfg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "{\"DB sql log\": false, \"Colour\": 1}", 34) == 34, "write config");
	close(fd);
	r = run(out, sizeof(out), err, sizeof(err),
		(const char *const[]){ "-c", cfg, "check-config", "--print", NULL });
	ok(r == 0 && strstr(out, "configuration OK") && strstr(out, "\"DB sql log\":\tfalse"),
	   "check-config --print shows effective config");
	ok(strstr(err, "\"Colour\": unknown key") != NULL, "check-config warns on unknown key");
	/* Every problem in one pass, each on its own line naming the file. */
	fd = open(cfg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	{
		static const char three[] = "{\"DB sql log\": 3,\n \"Log ignore\": [\"x y\", "
					    "\"1.2.3.4/40\"],\n \"Audit mode\": \"loud\"}";

		ok(fd >= 0 && write(fd, three, strlen(three)) == (ssize_t)strlen(three),
		   "write a config with three problems");
	}
	close(fd);
	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "-c", cfg, "check-config", NULL });
	is_int(r, 78, "check-config: three problems exit 78");
	ok(strstr(err, "\"DB sql log\": expected true or false") &&
	   strstr(err, "\"Audit mode\": expected one of") &&
	   strstr(err, "\"Log ignore\": entries 1 (\"x y\"), 2 (\"1.2.3.4/40\") are not"),
	   "check-config: every problem reported in one pass");
	{
		size_t lines = 0;

		for (const char *p = err; *p; p++)
			lines += *p == '\n';
		is_int(lines, 3, "check-config: one line per problem");
	}
	unlink(cfg);
	free(cfg);

	/* A picosnitch 2.x config.toml. */
	cfg = xasprintf("%s/config.toml", dir);
	fd = open(cfg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "[picosnitch]\ndb_retention_days = 30\n", 36) == 36, "write TOML");
	close(fd);
	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "-c", cfg, "check-config", NULL });
	is_int(r, 78, "check-config: TOML exits 78");
	ok(strstr(err, "config.toml: this is TOML") &&
	   strstr(err, "config.toml: line 2: db_retention_days = 30 -> \"DB retention (days)\": 30"),
	   "check-config: TOML gets the JSON key to use");
	unlink(cfg);
	r = run(out, sizeof(out), err, sizeof(err), (const char *const[]){ "-c", cfg, "check-config", NULL });
	is_int(r, 78, "check-config: a missing .toml exits 78");
	ok(strstr(err, "config.toml: does not exist, and a .toml name is not written") &&
	   access(cfg, F_OK) < 0, "check-config: a missing .toml is named, nothing written");
	free(cfg);
	rmdir(dir);

	r = run(out, sizeof(out), err, sizeof(err),
		(const char *const[]){ "-d", "/nonexistent/asn", "status", NULL });
	is_int(r, 3, "status of a daemon that never ran: exit 3");
	return tap_done();
}
