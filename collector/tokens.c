#include "collector/tokens.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int add_scopes(struct token *tk, char *list)
{
	if (!strcmp(list, "*")) {
		tk->all = true;
		return 0;
	}
	for (char *save = NULL, *ns = strtok_r(list, ",", &save); ns; ns = strtok_r(NULL, ",", &save)) {
		char **nv;

		ns = strip(ns);
		if (!*ns)
			continue;
		if (!strcmp(ns, "*")) {
			tk->all = true;
			continue;
		}
		nv = realloc(tk->ns, (tk->n_ns + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		tk->ns = nv;
		tk->ns[tk->n_ns] = strdup(ns);
		if (!tk->ns[tk->n_ns])
			return -ENOMEM;
		tk->n_ns++;
	}
	return tk->all || tk->n_ns ? 0 : -EINVAL;
}

int tokens__load(struct tokens *t, const char *path, bool with_scopes)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int lineno = 0, err = 0;

	memset(t, 0, sizeof(*t));
	if (!f) {
		err = -errno;
		log_error("tokens: open %s: %s", path, strerror(errno));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		char *l = strip(line), *sp;
		struct token tk = { 0 }, *nv;

		lineno++;
		if (!*l || *l == '#')
			continue;
		if (with_scopes) {
			sp = l + strcspn(l, " \t");
			if (!*sp) {
				log_error("tokens: %s:%d: want \"TOKEN ns1,ns2\" or \"TOKEN *\"", path, lineno);
				err = -EINVAL;
				break;
			}
			*sp++ = '\0';
			if (add_scopes(&tk, strip(sp)) < 0) {
				log_error("tokens: %s:%d: no namespace after the token", path, lineno);
				err = -EINVAL;
				free(tk.ns);
				break;
			}
		}
		tk.token = strdup(l);
		nv = realloc(t->v, (t->n + 1) * sizeof(*nv));
		if (!tk.token || !nv) {
			free(tk.token);
			err = -ENOMEM;
			break;
		}
		t->v = nv;
		t->v[t->n++] = tk;
	}
	fclose(f);
	if (!err && t->n == 0) {
		log_error("tokens: %s holds no token", path);
		err = -EINVAL;
	}
	if (err)
		tokens__free(t);
	return err;
}

void tokens__free(struct tokens *t)
{
	for (size_t i = 0; i < t->n; i++) {
		for (size_t j = 0; j < t->v[i].n_ns; j++)
			free(t->v[i].ns[j]);
		free(t->v[i].ns);
		free(t->v[i].token);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static bool ct_equal(const char *a, size_t al, const char *b)
{
	size_t bl = strlen(b);
	unsigned char d = al != bl;

	for (size_t i = 0; i < al; i++)
		d |= (unsigned char)(a[i] ^ b[i < bl ? i : 0]);
	return d == 0 && bl > 0;
}

const struct token *tokens__match(const struct tokens *t, const char *authorization)
{
	const char *v;
	const struct token *hit = NULL;

	if (!t || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	v = authorization + 7;
	while (*v == ' ')
		v++;
	for (size_t i = 0; i < t->n; i++)   /* no early exit: time does not depend on the position */
		if (ct_equal(v, strlen(v), t->v[i].token) && !hit)
			hit = &t->v[i];
	return hit;
}

bool token__allows(const struct token *tok, const char *ns)
{
	if (!tok)
		return false;
	if (tok->all)
		return true;
	for (size_t i = 0; i < tok->n_ns; i++)
		if (!strcmp(tok->ns[i], ns))
			return true;
	return false;
}

bool token__is_admin(const struct token *tok)
{
	return tok && tok->all;
}

enum metrics_view token__metrics_view(bool tokens_configured, const struct token *tok, bool has_auth,
				      bool peer_loopback)
{
	if (!tokens_configured || token__is_admin(tok))
		return METRICS_ALL;
	if (tok)
		return METRICS_SCOPED;
	if (!has_auth && peer_loopback)
		return METRICS_SELF;
	return METRICS_DENY;
}

bool tokens__admit(const void *tokens, const char *authorization)
{
	const struct tokens *t = tokens;

	return !t || !t->n || tokens__match(t, authorization) != NULL;
}
