/*
 * timearg.h: time arguments as administrators type them (query --since,
 * --until): the forms of journalctl(1) and ausearch(8).
 */
#ifndef AUDITSNITCH_TIMEARG_H
#define AUDITSNITCH_TIMEARG_H

#include <stdint.h>

/* Latest time accepted or shown as a date: 9999-12-31T23:59:59Z. */
#define TIMEARG_MAX_TIME 253402300799LL

/*
 * Parses s into unix seconds. Pure but for the local time zone (TZ): now
 * and boot (-1: unknown) are passed in.
 *   now, today, yesterday, tomorrow (local midnight), boot, recent (ten
 *   minutes ago, as in ausearch), week-ago (local midnight 7 days ago),
 *   this-month, this-year
 *   @EPOCH                         unix seconds
 *   YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][zone], HH:MM[:SS][zone] (today):
 *   local time, or with zone Z, UTC, +HH:MM, +HHMM, +HH (one space allowed
 *   before it)
 *   SPAN, SPAN ago, -SPAN (before now), +SPAN (after now), where SPAN is
 *   one or more NUMBER UNIT: s sec second(s), m min minute(s), h hr
 *   hour(s), d day(s), w week(s), M month(s), y year(s): "1h30m", "2 days"
 * Leading and trailing spaces are ignored; words are case-insensitive
 * ("m" minute and "M" month excepted). Returns 0, -ENODATA for "boot"
 * when boot is unknown, or -EINVAL.
 */
int timearg_parse(const char *s, int64_t now, int64_t boot, int64_t *ret);

/* The boot time from /proc/stat ("btime"), or -1. */
int64_t timearg_boot_time(void);

#endif
