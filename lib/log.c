#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"

int log__level = LOG_INFO;
static const char *log_prog = "podlens";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log__init(const char *prog, int level)
{
	if (prog)
		log_prog = prog;
	log__level = level;
}

int log__parse_level(const char *s)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (s && strcmp(s, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *log__level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

void log__write(int level, const char *fmt, ...)
{
	char line[2048];
	uint64_t ms = clock__wall_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	va_list ap;
	int n;

	gmtime_r(&secs, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(ms % 1000), log_prog, log__level_name(level));
	va_start(ap, fmt);
	if (n > 0 && n < (int)sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* one write per line so concurrent writers do not interleave mid-line */
	fprintf(stderr, "%s\n", line);
}
