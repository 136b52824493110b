/*
 * conn.c: allocation and copying of connection records (conn.h).
 */

#include <stdlib.h>

#include "conn.h"
#include "util.h"

static void conn_ident_init(struct conn_ident *id)
{
	id->exe = xstrdup("");
	id->name = xstrdup("");
	id->cmdline = xstrdup("");
	id->sha256 = xstrdup("");
}

static void conn_ident_copy(struct conn_ident *dst, const struct conn_ident *src)
{
	dst->exe = xstrdup(src->exe);
	dst->name = xstrdup(src->name);
	dst->cmdline = xstrdup(src->cmdline);
	dst->sha256 = xstrdup(src->sha256);
}

static void conn_ident_clear(struct conn_ident *id)
{
	free(id->exe);
	free(id->name);
	free(id->cmdline);
	free(id->sha256);
}

struct conn_record *conn_record_new(void)
{
	struct conn_record *rec = xcalloc(1, sizeof(*rec));

	conn_ident_init(&rec->proc);
	conn_ident_init(&rec->parent);
	rec->domain = xstrdup("");
	return rec;
}

struct conn_record *conn_record_dup(const struct conn_record *rec)
{
	struct conn_record *copy = xmalloc(sizeof(*copy));

	*copy = *rec;
	conn_ident_copy(&copy->proc, &rec->proc);
	conn_ident_copy(&copy->parent, &rec->parent);
	copy->domain = xstrdup(rec->domain);
	return copy;
}

void conn_record_free(struct conn_record *rec)
{
	if (!rec)
		return;
	conn_ident_clear(&rec->proc);
	conn_ident_clear(&rec->parent);
	free(rec->domain);
	free(rec);
}

void conn_set(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value ? value : "");
}
