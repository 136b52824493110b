/*
 * timearg.c: time arguments as administrators type them (timearg.h), the
 * forms of journalctl(1) and ausearch(8). Pure but for the local time
 * zone: "now" and the boot time are passed in, so tests are exact.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timearg.h"
#include "util.h"

/* Longest relative time: 200 years. */
#define TIMEARG_MAX_SPAN (200LL * 31557600)

/* Units of a relative time ("m" is minutes, "M" months, as in systemd.time(7)). */
static const struct {
	const char *name;
	int64_t seconds;
} timearg_units[] = {
	{ "s", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 }, { "seconds", 1 },
	{ "m", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 }, { "minutes", 60 },
	{ "h", 3600 }, { "hr", 3600 }, { "hrs", 3600 }, { "hour", 3600 }, { "hours", 3600 },
	{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
	{ "w", 604800 }, { "week", 604800 }, { "weeks", 604800 },
	{ "M", 2629800 }, { "month", 2629800 }, { "months", 2629800 },
	{ "y", 31557600 }, { "year", 31557600 }, { "years", 31557600 },
};

static int64_t timearg_unit(const char *word, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(timearg_units); i++) {
		const char *name = timearg_units[i].name;

		if (strlen(name) != len)
			continue;
		/* One letter: exact ("m" minute, "M" month); words: any case. */
		if (len == 1 ? *word == *name : !strncasecmp(word, name, len))
			return timearg_units[i].seconds;
	}
	return 0;
}

/*
 * Reads a span such as "90s", "1h 30min", "2 days" at p; the end in *end.
 * 0 or -EINVAL (no number, an unknown unit, longer than TIMEARG_MAX_SPAN).
 */
static int timearg_span(const char *p, const char **end, int64_t *ret)
{
	int64_t total = 0;
	int parts = 0;

	for (;;) {
		const char *word;
		int64_t n = 0, unit;
		int digits = 0;

		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits >= 12)
				return -EINVAL;
			n = n * 10 + (*p - '0');
		}
		while (*p == ' ')
			p++;
		word = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		unit = timearg_unit(word, (size_t)(p - word));
		if (!unit || n > TIMEARG_MAX_SPAN / unit || total + n * unit > TIMEARG_MAX_SPAN)
			return -EINVAL;
		total += n * unit;
		parts++;
	}
	if (!parts)
		return -EINVAL;
	*end = p;
	*ret = total;
	return 0;
}

/* Reads exactly two digits. */
static bool timearg_2d(const char *p, int *ret)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return false;
	*ret = (p[0] - '0') * 10 + (p[1] - '0');
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t timearg_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int timearg_month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/*
 * Reads a zone at p: "Z", "UTC" or +HH[:MM] / -HHMM, after at most one
 * space; the offset east of UTC in seconds. False when p holds none.
 */
static bool timearg_zone(const char *p, const char **end, int *offset_s)
{
	int h, m = 0, sign;

	if (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z') {
		*offset_s = 0;
		*end = p + 1;
		return true;
	}
	if (!strncasecmp(p, "UTC", 3)) {
		*offset_s = 0;
		*end = p + 3;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!timearg_2d(p, &h) || h > 14)
		return false;
	p += 2;
	if (*p == ':')
		p++;
	if (*p >= '0' && *p <= '9') {
		if (!timearg_2d(p, &m) || m > 59)
			return false;
		p += 2;
	}
	*offset_s = sign * (h * 3600 + m * 60);
	*end = p;
	return true;
}

/*
 * Absolute times: [YYYY-MM-DD][( |T)HH:MM[:SS[.frac]]][zone]; without a
 * date, today; without a zone, local time.
 */
static int timearg_absolute(const char *s, int64_t now, int64_t *ret)
{
	int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, offset = 0;
	bool has_date = false, has_time = false, has_zone = false;
	const char *p = s;

	if (strlen(s) >= 10 && s[4] == '-' && s[7] == '-' && timearg_2d(s, &y) && timearg_2d(s + 2, &mo)) {
		y = y * 100 + mo;
		if (!timearg_2d(s + 5, &mo) || !timearg_2d(s + 8, &d))
			return -EINVAL;
		has_date = true;
		p = s + 10;
		if ((*p == ' ' || *p == 'T') && p[1] >= '0' && p[1] <= '9')
			p++;
		else if (*p)
			return -EINVAL;
	}
	if (*p) {
		if (!timearg_2d(p, &h) || p[2] != ':' || !timearg_2d(p + 3, &mi))
			return -EINVAL;
		p += 5;
		if (*p == ':') {
			if (!timearg_2d(p + 1, &sec))
				return -EINVAL;
			p += 3;
			if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
				for (p++; *p >= '0' && *p <= '9'; p++)
					;
			}
		}
		has_time = true;
		if (*p)
			has_zone = timearg_zone(p, &p, &offset);
		if (*p)
			return -EINVAL;
	}
	if (!has_date && !has_time)
		return -EINVAL;
	if (h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (!has_date) {
		/* Today where the time is meant: in its zone, else here. */
		time_t nowt = (time_t)(has_zone ? now + offset : now);
		struct tm tm;

		if (!(has_zone ? gmtime_r(&nowt, &tm) : localtime_r(&nowt, &tm)))
			return -EINVAL;
		y = tm.tm_year + 1900;
		mo = tm.tm_mon + 1;
		d = tm.tm_mday;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > timearg_month_days(y, mo))
		return -EINVAL;
	if (has_zone) {
		int64_t t = timearg_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;

		if (t < 0 || t > TIMEARG_MAX_TIME)
			return -EINVAL;
		*ret = t;
	} else {
		struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
				 .tm_min = mi, .tm_sec = sec, .tm_isdst = -1 };
		time_t t = mktime(&tm);

		if (t == (time_t)-1 || t > TIMEARG_MAX_TIME)
			return -EINVAL;
		*ret = (int64_t)t;
	}
	return 0;
}

/* Local midnight days_back days before now's day (0: today), or the start of the month or year. */
static int timearg_midnight(int64_t now, int days_back, char unit, int64_t *ret)
{
	time_t nowt = (time_t)now, t;
	struct tm tm;

	if (!localtime_r(&nowt, &tm))
		return -EINVAL;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday -= days_back;
	if (unit == 'M' || unit == 'y')
		tm.tm_mday = 1;
	if (unit == 'y')
		tm.tm_mon = 0;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}

int timearg_parse(const char *s, int64_t now, int64_t boot, int64_t *ret)
{
	static const struct {
		const char *word;
		int days_back;
		char unit;
	} days[] = {
		{ "today", 0, 'd' }, { "yesterday", 1, 'd' }, { "tomorrow", -1, 'd' },
		{ "week-ago", 7, 'd' }, { "this-month", 0, 'M' }, { "this-year", 0, 'y' },
	};
	char buf[64];
	const char *end;
	size_t len;
	int64_t span;
	long long v;
	int sign = -1;

	if (!s)
		return -EINVAL;
	while (*s == ' ')
		s++;
	len = strlen(s);
	while (len && s[len - 1] == ' ')
		len--;
	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';

	if (!strcasecmp(buf, "now")) {
		*ret = now;
		return 0;
	}
	if (!strcasecmp(buf, "recent")) { /* ausearch: ten minutes ago */
		*ret = now - 600;
		return 0;
	}
	if (!strcasecmp(buf, "boot")) {
		if (boot < 0)
			return -ENODATA;
		*ret = boot;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(days); i++) {
		if (!strcasecmp(buf, days[i].word))
			return timearg_midnight(now, days[i].days_back, days[i].unit, ret);
	}
	if (buf[0] == '@') {
		if (buf[1] < '0' || buf[1] > '9' || util_parse_ll(buf + 1, 0, TIMEARG_MAX_TIME, &v) < 0)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	/* A date, or a time of day: digits then '-' or ':'. */
	if (len >= 5 && (buf[2] == ':' || (len >= 10 && buf[4] == '-')))
		return timearg_absolute(buf, now, ret);
	/* Relative: [+|-]SPAN, or SPAN [ago]; unsigned means ago. */
	end = buf;
	if (*end == '+' || *end == '-')
		sign = *end++ == '+' ? 1 : -1;
	if (timearg_span(end, &end, &span) < 0)
		return -EINVAL;
	while (*end == ' ')
		end++;
	if (buf[0] != '+' && buf[0] != '-' && !strcasecmp(end, "ago"))
		end += 3;
	if (*end)
		return -EINVAL;
	*ret = now + sign * span;
	return 0;
}

int64_t timearg_boot_time(void)
{
	char *text = NULL, *p;
	long long v = -1;

	if (util_read_file(AT_FDCWD, "/proc/stat", 1 << 20, &text, NULL) < 0)
		return -1;
	p = strstr(text, "\nbtime ");
	if (!p || sscanf(p + 7, "%lld", &v) != 1 || v < 0)
		v = -1;
	free(text);
	return v;
}
