/*
 * cli.h: how every command reports a usage error, so they all read alike:
 * one line saying what is wrong, then "Try 'auditsnitch help COMMAND' for
 * more information." (as GNU tools do), never the whole usage text. A
 * global option (-c, -d, -V) given after the command is named as such.
 */
#ifndef AUDITSNITCH_CLI_H
#define AUDITSNITCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Prints "auditsnitch COMMAND: MESSAGE" and the "Try" line to err
 * (command may be NULL for the top level). Returns EX_USAGE.
 */
int cli_usage_error(FILE *err, const char *command, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether arg is one of the global options (-c, -d, -V and their long forms). */
bool cli_is_global_option(const char *arg);

/*
 * The usage error for an option getopt_long refused: arg is the option as
 * given (argv[optind - 1], or "-X" from optopt for a short one), missing
 * whether its argument was missing. Returns EX_USAGE.
 */
int cli_bad_option(FILE *err, const char *command, const char *arg, bool missing);

/*
 * The option getopt_long just refused, as text: "-X" for a short option
 * (optopt 1..255), else the word itself (an unknown long option leaves
 * optopt 0; give long-only options values from 256 so that one missing
 * its argument is told apart from a short one). buf holds 3 bytes.
 */
const char *cli_refused_option(char **argv, int optind_now, int optopt_now, char *buf);

#endif
