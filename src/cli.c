/*
 * cli.c: usage errors (cli.h). Kept apart from main.c so that commands
 * parsing their own options (query, view) report errors the same way.
 */
#include <stdarg.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

int cli_usage_error(FILE *err, const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(err, "auditsnitch%s%s: ", command ? " " : "", command ? command : "");
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, "\nTry 'auditsnitch help%s%s' for more information.\n", command ? " " : "",
		command ? command : "");
	return EX_USAGE;
}

/* Whether arg is --name or --name=VALUE. */
static bool cli_long_is(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(arg, name, n) && (arg[n] == '\0' || arg[n] == '=');
}

bool cli_is_global_option(const char *arg)
{
	if (arg[0] == '-' && arg[1] != '-')
		return arg[1] == 'c' || arg[1] == 'd' || (arg[1] == 'V' && !arg[2]);
	return cli_long_is(arg, "--config") || cli_long_is(arg, "--state-dir") ||
	       !strcmp(arg, "--version");
}

int cli_bad_option(FILE *err, const char *command, const char *arg, bool missing)
{
	if (command && cli_is_global_option(arg))
		return cli_usage_error(err, command, "%s is a global option: global options go "
				       "before the command (auditsnitch %s ... %s)", arg, arg,
				       command);
	if (missing)
		return cli_usage_error(err, command, "option '%s' needs an argument", arg);
	return cli_usage_error(err, command, "unknown option '%s'", arg);
}

const char *cli_refused_option(char **argv, int optind_now, int optopt_now, char *buf)
{
	if (optopt_now > 0 && optopt_now < 256) {
		buf[0] = '-';
		buf[1] = (char)optopt_now;
		buf[2] = '\0';
		return buf;
	}
	return optind_now > 0 ? argv[optind_now - 1] : "?";
}
