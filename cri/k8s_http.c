/* libcurl GET helpers for the kubelet and Kubernetes API clients. */
#include "cri/k8s_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define DEFAULT_MAX (64u << 20)

struct sink {
	char *buf;
	size_t len, cap, max;
	int overflow;
	/* streaming */
	int (*on_line)(const char *line, size_t len, void *ud);
	void *ud;
	int stopped;
	const volatile int *stop;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int grow(struct sink *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 16384;
	char *nb;

	while (cap < need)
		cap *= 2;
	if (cap == s->cap)
		return 0;
	nb = realloc(s->buf, cap);
	if (!nb)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	struct sink *s = ud;
	size_t n = sz * nm;

	if (s->len + n + 1 > s->max) {
		s->overflow = 1;
		return 0;
	}
	if (grow(s, s->len + n + 1))
		return 0;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	if (s->on_line) {
		size_t start = 0;

		for (size_t i = 0; i < s->len; i++) {
			if (s->buf[i] != '\n')
				continue;
			if (i > start && s->on_line(s->buf + start, i - start, s->ud)) {
				s->stopped = 1;
				return 0;
			}
			start = i + 1;
		}
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
		s->buf[s->len] = '\0';
	}
	return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct sink *s = ud;

	if (s->stop && *s->stop) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

static int read_token(const char *file, char **hdr)
{
	FILE *f;
	char tok[8192];
	size_t n;

	*hdr = NULL;
	if (!file)
		return 0;
	f = fopen(file, "r");
	if (!f) {
		log_warn("k8s: token file %s: %s", file, strerror(errno));
		return -EACCES;
	}
	n = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	tok[n] = '\0';
	tok[strcspn(tok, "\r\n")] = '\0';
	if (asprintf(hdr, "Authorization: Bearer %s", tok) < 0) {
		*hdr = NULL;
		return -ENOMEM;
	}
	memset(tok, 0, sizeof(tok));
	return 0;
}

static int map_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK: return 0;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EIO;
	}
}

static int do_get(const struct k8s_http_opts *o, const char *url, unsigned timeout_ms,
		  unsigned connect_ms, struct sink *s, long *code)
{
	struct curl_slist *hdrs = NULL, *t;
	char *auth = NULL, errbuf[CURL_ERROR_SIZE] = "";
	CURL *h;
	CURLcode rc;
	int err;

	*code = 0;
	if (!s->stop && o)
		s->stop = o->stop;
	pthread_once(&once, global_init);
	err = read_token(o ? o->token_file : NULL, &auth);
	if (err)
		return err;
	h = curl_easy_init();
	if (!h) {
		err = -ENOMEM;
		goto cleanup;
	}
	t = curl_slist_append(hdrs, "Accept: application/json");
	if (t)
		hdrs = t;
	if (auth && (t = curl_slist_append(hdrs, auth)))
		hdrs = t;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "podlens-agent");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_ms ? connect_ms : 5000));
	if (o && o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (o && o->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (s->stop) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
		/* a silent watch still wakes the progress callback about once a second */
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	if (s->overflow) {
		err = -EMSGSIZE;
	} else if (s->stopped) {
		err = 1;
	} else if (rc != CURLE_OK) {
		err = map_curl(rc);
		log_debug("k8s: GET %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
cleanup:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (auth) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	return err;
}

int k8s_http__get(const struct k8s_http_opts *o, const char *url, unsigned timeout_ms, char **body,
		  size_t *len, long *code)
{
	struct sink s = { .max = o && o->max_bytes ? o->max_bytes : DEFAULT_MAX };
	int err;

	*body = NULL;
	*len = 0;
	err = do_get(o, url, timeout_ms ? timeout_ms : 5000, timeout_ms, &s, code);
	if (err == 1)
		err = -ECANCELED;
	if (err) {
		free(s.buf);
		return err;
	}
	if (!s.buf && !(s.buf = calloc(1, 1)))
		return -ENOMEM;
	*body = s.buf;
	*len = s.len;
	return 0;
}

int k8s_http__stream(const struct k8s_http_opts *o, const char *url, unsigned connect_timeout_ms,
		     int (*on_line)(const char *line, size_t len, void *ud), void *ud,
		     const volatile int *stop, long *code)
{
	/* one event is bounded by max_bytes; the stream as a whole is not */
	struct sink s = { .max = o && o->max_bytes ? o->max_bytes : DEFAULT_MAX, .on_line = on_line,
			  .ud = ud, .stop = stop };
	int err = do_get(o, url, 0, connect_timeout_ms, &s, code);

	/* a last line without newline */
	if (err == 0 && s.len && on_line(s.buf, s.len, ud))
		err = 1;
	free(s.buf);
	return err;
}
