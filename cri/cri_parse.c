/* CRI v1 reply parsers: protobuf-c unpack, then a deep copy into our own structs so the
 * caller never holds protobuf-c memory, and the verbose info JSON decoded with jansson. */
#include "cri/cri_parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cri/v1/api.pb-c.h"

/* Every protobuf-c map entry is laid out as { base, key, value }. */
struct pb_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

const char *cri_kvs__get(const struct cri_kvs *kvs, const char *key)
{
	if (!kvs || !key)
		return NULL;
	/* the last duplicate wins, as in a Go map decoded from the same bytes */
	for (size_t i = kvs->n; i-- > 0;)
		if (strcmp(kvs->v[i].key, key) == 0)
			return kvs->v[i].value;
	return NULL;
}

void cri_kvs__free(struct cri_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++) {
		free(kvs->v[i].key);
		free(kvs->v[i].value);
	}
	free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

static int kvs_from_entries(struct cri_kvs *out, void *entries, size_t n)
{
	struct pb_entry **e = entries;

	out->v = NULL;
	out->n = 0;
	if (!n)
		return 0;
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		out->v[i].key = strdup(e[i]->key ? e[i]->key : "");
		out->v[i].value = strdup(e[i]->value ? e[i]->value : "");
		out->n = i + 1;
		if (!out->v[i].key || !out->v[i].value)
			return -ENOMEM;
	}
	return 0;
}

int cri_kvs__copy(struct cri_kvs *dst, const struct cri_kvs *src)
{
	dst->v = NULL;
	dst->n = 0;
	if (!src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i].key = strdup(src->v[i].key);
		dst->v[i].value = strdup(src->v[i].value);
		dst->n = i + 1;
		if (!dst->v[i].key || !dst->v[i].value) {
			cri_kvs__free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

/* strdup that maps NULL (absent) to "" and records allocation failure */
static char *dup(const char *s, int *err)
{
	char *r = strdup(s ? s : "");

	if (!r)
		*err = -ENOMEM;
	return r;
}

void cri_pod__free(struct cri_pod *p)
{
	if (!p)
		return;
	free(p->id);
	free(p->name);
	free(p->namespace);
	free(p->uid);
	cri_kvs__free(&p->labels);
	cri_kvs__free(&p->annotations);
	for (size_t i = 0; i < p->n_ips; i++)
		free(p->ips[i]);
	free(p->ips);
	free(p->cgroup_parent);
	memset(p, 0, sizeof(*p));
}

void cri_container__free(struct cri_container *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->pod_id);
	free(c->name);
	free(c->image);
	free(c->image_ref);
	cri_kvs__free(&c->labels);
	cri_kvs__free(&c->annotations);
	free(c->cgroups_path);
	memset(c, 0, sizeof(*c));
}

void cri_pods__free(struct cri_pod *pods, size_t n)
{
	for (size_t i = 0; pods && i < n; i++)
		cri_pod__free(&pods[i]);
	free(pods);
}

void cri_containers__free(struct cri_container *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		cri_container__free(&c[i]);
	free(c);
}

static void copy_fixed(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int cri_parse__version(const uint8_t *buf, size_t len, struct cri_version *out)
{
	Runtime__V1__VersionResponse *m;

	memset(out, 0, sizeof(*out));
	m = runtime__v1__version_response__unpack(NULL, len, buf);
	if (!m)
		return -EBADMSG;
	copy_fixed(out->runtime_name, sizeof(out->runtime_name), m->runtime_name);
	copy_fixed(out->runtime_version, sizeof(out->runtime_version), m->runtime_version);
	copy_fixed(out->runtime_api_version, sizeof(out->runtime_api_version), m->runtime_api_version);
	runtime__v1__version_response__free_unpacked(m, NULL);
	return out->runtime_name[0] ? 0 : -EPROTO;
}

static int pod_from_meta(struct cri_pod *p, const char *id, const Runtime__V1__PodSandboxMetadata *md,
			 int state, int64_t created)
{
	int err = 0;

	if (!id || !*id)
		return -EPROTO;
	p->id = dup(id, &err);
	p->name = dup(md ? md->name : NULL, &err);
	p->namespace = dup(md ? md->namespace_ : NULL, &err);
	p->uid = dup(md ? md->uid : NULL, &err);
	p->state = state;
	p->created_at = created;
	return err;
}

int cri_parse__pod_list(const uint8_t *buf, size_t len, struct cri_pod **pods, size_t *n)
{
	Runtime__V1__ListPodSandboxResponse *m;
	struct cri_pod *out = NULL;
	int err = 0;

	*pods = NULL;
	*n = 0;
	m = runtime__v1__list_pod_sandbox_response__unpack(NULL, len, buf);
	if (!m)
		return -EBADMSG;
	if (m->n_items) {
		out = calloc(m->n_items, sizeof(*out));
		if (!out) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (size_t i = 0; i < m->n_items && !err; i++) {
		Runtime__V1__PodSandbox *s = m->items[i];

		err = pod_from_meta(&out[i], s->id, s->metadata, s->state, s->created_at);
		if (!err)
			err = kvs_from_entries(&out[i].labels, s->labels, s->n_labels);
		if (!err)
			err = kvs_from_entries(&out[i].annotations, s->annotations, s->n_annotations);
	}
cleanup:
	if (err) {
		cri_pods__free(out, m->n_items);
	} else {
		*pods = out;
		*n = m->n_items;
	}
	runtime__v1__list_pod_sandbox_response__free_unpacked(m, NULL);
	return err;
}

static const char *info_json(void *entries, size_t n)
{
	struct pb_entry **e = entries;

	for (size_t i = 0; i < n; i++)
		if (e[i]->key && strcmp(e[i]->key, "info") == 0)
			return e[i]->value;
	return NULL;
}

/* Walk a path of object keys; NULL when any step is missing or not an object. */
static json_t *jpath(json_t *root, const char *const *keys)
{
	for (; *keys && root; keys++)
		root = json_is_object(root) ? json_object_get(root, *keys) : NULL;
	return root;
}

static int info_common(const char *json, size_t len, int *pid, char **str, const char *const *path,
		       char **sandbox_id)
{
	json_error_t jerr;
	json_t *root, *v;
	int err = 0;

	*pid = 0;
	*str = NULL;
	root = json_loadb(json, len, 0, &jerr);
	if (!root)
		return -EBADMSG;
	if (!json_is_object(root)) {
		err = -EBADMSG;
		goto cleanup;
	}
	v = json_object_get(root, "pid");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0x3fffffff) {
			err = -EBADMSG;
			goto cleanup;
		}
		*pid = (int)json_integer_value(v);
	}
	v = jpath(root, path);
	if (v) {
		if (!json_is_string(v)) {
			err = -EBADMSG;
			goto cleanup;
		}
		*str = strdup(json_string_value(v));
		if (!*str)
			err = -ENOMEM;
	}
	v = sandbox_id ? json_object_get(root, "sandboxID") : NULL;
	if (json_is_string(v) && json_string_length(v)) {
		*sandbox_id = strdup(json_string_value(v));
		if (!*sandbox_id)
			err = -ENOMEM;
	}
cleanup:
	if (err) {
		*pid = 0;
		free(*str);
		*str = NULL;
	}
	json_decref(root);
	return err;
}

int cri_parse__container_info(const char *json, size_t len, int *pid, char **cgroups_path)
{
	static const char *const path[] = { "runtimeSpec", "linux", "cgroupsPath", NULL };

	return info_common(json, len, pid, cgroups_path, path, NULL);
}

int cri_parse__sandbox_info(const char *json, size_t len, int *pid, char **cgroup_parent)
{
	static const char *const path[] = { "config", "linux", "cgroup_parent", NULL };

	return info_common(json, len, pid, cgroup_parent, path, NULL);
}

int cri_parse__pod_status(const uint8_t *buf, size_t len, struct cri_pod *out)
{
	Runtime__V1__PodSandboxStatusResponse *m;
	Runtime__V1__PodSandboxStatus *s;
	const char *info;
	int err;

	memset(out, 0, sizeof(*out));
	m = runtime__v1__pod_sandbox_status_response__unpack(NULL, len, buf);
	if (!m)
		return -EBADMSG;
	s = m->status;
	if (!s) {
		err = -EPROTO;
		goto cleanup;
	}
	err = pod_from_meta(out, s->id, s->metadata, s->state, s->created_at);
	if (!err)
		err = kvs_from_entries(&out->labels, s->labels, s->n_labels);
	if (!err)
		err = kvs_from_entries(&out->annotations, s->annotations, s->n_annotations);
	if (!err && s->network && s->network->ip && *s->network->ip) {
		size_t n = 1 + s->network->n_additional_ips;

		out->ips = calloc(n, sizeof(*out->ips));
		if (!out->ips) {
			err = -ENOMEM;
			goto cleanup;
		}
		out->ips[out->n_ips++] = dup(s->network->ip, &err);
		for (size_t i = 0; i < s->network->n_additional_ips && !err; i++) {
			const char *ip = s->network->additional_ips[i]->ip;

			if (ip && *ip)
				out->ips[out->n_ips++] = dup(ip, &err);
		}
	}
	info = err ? NULL : info_json(m->info, m->n_info);
	if (info)
		err = cri_parse__sandbox_info(info, strlen(info), &out->pid, &out->cgroup_parent);
cleanup:
	if (err)
		cri_pod__free(out);
	runtime__v1__pod_sandbox_status_response__free_unpacked(m, NULL);
	return err;
}

static int ctr_common(struct cri_container *c, const char *id, const char *pod_id,
		      const Runtime__V1__ContainerMetadata *md, const Runtime__V1__ImageSpec *img,
		      const char *image_ref, int state)
{
	int err = 0;

	if (!id || !*id)
		return -EPROTO;
	c->id = dup(id, &err);
	c->pod_id = dup(pod_id, &err);
	c->name = dup(md ? md->name : NULL, &err);
	c->image = dup(img ? img->image : NULL, &err);
	c->image_ref = dup(image_ref, &err);
	c->state = state;
	return err;
}

int cri_parse__container_list(const uint8_t *buf, size_t len, struct cri_container **ctrs, size_t *n)
{
	Runtime__V1__ListContainersResponse *m;
	struct cri_container *out = NULL;
	int err = 0;

	*ctrs = NULL;
	*n = 0;
	m = runtime__v1__list_containers_response__unpack(NULL, len, buf);
	if (!m)
		return -EBADMSG;
	if (m->n_containers) {
		out = calloc(m->n_containers, sizeof(*out));
		if (!out) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (size_t i = 0; i < m->n_containers && !err; i++) {
		Runtime__V1__Container *s = m->containers[i];

		err = ctr_common(&out[i], s->id, s->pod_sandbox_id, s->metadata, s->image, s->image_ref,
				 s->state);
		out[i].created_at = s->created_at;
		if (!err && !*out[i].pod_id)
			err = -EPROTO;
		if (!err)
			err = kvs_from_entries(&out[i].labels, s->labels, s->n_labels);
		if (!err)
			err = kvs_from_entries(&out[i].annotations, s->annotations, s->n_annotations);
	}
cleanup:
	if (err) {
		cri_containers__free(out, m->n_containers);
	} else {
		*ctrs = out;
		*n = m->n_containers;
	}
	runtime__v1__list_containers_response__free_unpacked(m, NULL);
	return err;
}

int cri_parse__container_status(const uint8_t *buf, size_t len, struct cri_container *out)
{
	Runtime__V1__ContainerStatusResponse *m;
	Runtime__V1__ContainerStatus *s;
	const char *info;
	int err;

	memset(out, 0, sizeof(*out));
	m = runtime__v1__container_status_response__unpack(NULL, len, buf);
	if (!m)
		return -EBADMSG;
	s = m->status;
	if (!s) {
		err = -EPROTO;
		goto cleanup;
	}
	/* ContainerStatus carries no sandbox id: it comes from the verbose info (sandboxID) or
	 * from ListContainers; the pod labels name the pod either way */
	err = ctr_common(out, s->id, NULL, s->metadata, s->image, s->image_ref, s->state);
	out->created_at = s->created_at;
	out->started_at = s->started_at;
	out->finished_at = s->finished_at;
	if (!err)
		err = kvs_from_entries(&out->labels, s->labels, s->n_labels);
	if (!err)
		err = kvs_from_entries(&out->annotations, s->annotations, s->n_annotations);
	info = err ? NULL : info_json(m->info, m->n_info);
	if (info) {
		static const char *const path[] = { "runtimeSpec", "linux", "cgroupsPath", NULL };
		char *sb = NULL;

		err = info_common(info, strlen(info), &out->pid, &out->cgroups_path, path, &sb);
		if (sb) {
			free(out->pod_id);
			out->pod_id = sb;
		}
	}
cleanup:
	if (err)
		cri_container__free(out);
	runtime__v1__container_status_response__free_unpacked(m, NULL);
	return err;
}
