/* agent/export/spool: FIFO order, oldest-first eviction reported exactly, the pinned entry is never
 * evicted, disk entries survive a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/export/spool.h"

struct evicted {
	uint64_t seqs[64];
	size_t lens[64];
	int n;
};

static void on_evict(void *ctx, uint64_t seq, const uint8_t *data, size_t len)
{
	struct evicted *ev = ctx;

	assert_non_null(data);
	assert_int_equal(data[0], (uint8_t)seq);     /* the bytes of that very entry */
	ev->seqs[ev->n] = seq;
	ev->lens[ev->n++] = len;
}

static void push(struct spool *s, uint64_t seq, size_t len)
{
	uint8_t buf[256];

	memset(buf, (uint8_t)seq, sizeof(buf));
	assert_int_equal(spool__push(s, seq, buf, len), 0);
}

static void spool_memory__fifo_order(void **state)
{
	struct spool_opts o = { .max_bytes = 1000 };
	struct spool *s = spool__open(&o);
	const uint8_t *data;
	uint64_t seq;
	size_t len;

	assert_non_null(s);
	for (uint64_t i = 1; i <= 5; i++)
		push(s, i, 10 * i);
	assert_int_equal(spool__count(s), 5);
	assert_int_equal(spool__bytes(s), 150);
	for (uint64_t i = 1; i <= 5; i++) {
		assert_int_equal(spool__peek(s, &seq, &data, &len), 0);
		assert_int_equal(seq, i);
		assert_int_equal(len, 10 * i);
		assert_int_equal(data[0], (uint8_t)i);
		spool__pop(s);
	}
	assert_int_equal(spool__peek(s, &seq, &data, &len), -ENOENT);
	assert_int_equal(spool__bytes(s), 0);
	spool__free(s);
}

static void spool_memory__overflow_evicts_oldest_exactly(void **state)
{
	struct evicted ev = { 0 };
	struct spool_opts o = { .max_bytes = 500, .on_evict = on_evict, .ctx = &ev };
	struct spool *s = spool__open(&o);

	for (uint64_t i = 1; i <= 12; i++)
		push(s, i, 100);       /* room for 5: 7 evictions, 1..7 */
	assert_int_equal(ev.n, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(ev.seqs[i], i + 1);
		assert_int_equal(ev.lens[i], 100);
	}
	assert_int_equal(spool__count(s), 5);
	assert_int_equal(spool__bytes(s), 500);
	spool__free(s);
}

static void spool_memory__pinned_head_is_not_evicted(void **state)
{
	struct evicted ev = { 0 };
	struct spool_opts o = { .max_bytes = 300, .on_evict = on_evict, .ctx = &ev };
	struct spool *s = spool__open(&o);
	const uint8_t *data;
	uint64_t seq;
	size_t len;

	push(s, 1, 100);
	push(s, 2, 100);
	push(s, 3, 100);
	assert_int_equal(spool__peek(s, &seq, &data, &len), 0);   /* 1 is being sent */
	push(s, 4, 100);                                          /* evicts 2, not 1 */
	assert_int_equal(ev.n, 1);
	assert_int_equal(ev.seqs[0], 2);
	spool__pop(s);                                            /* 1 acknowledged */
	assert_int_equal(spool__peek(s, &seq, &data, &len), 0);
	assert_int_equal(seq, 3);
	spool__unpin(s);
	push(s, 5, 100);
	push(s, 6, 100);                                          /* unpinned: 3 evicted */
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.seqs[1], 3);
	spool__free(s);
}

static void spool_memory__too_large_and_order_refused(void **state)
{
	struct spool_opts o = { .max_bytes = 100 };
	struct spool *s = spool__open(&o);
	uint8_t buf[200] = { 0 };

	assert_int_equal(spool__push(s, 1, buf, 101), -EMSGSIZE);
	assert_int_equal(spool__push(s, 2, buf, 100), 0);
	assert_int_equal(spool__push(s, 2, buf, 1), -EINVAL);
	assert_int_equal(spool__count(s), 1);
	spool__free(s);
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void spool_disk__survives_reopen_in_order(void **state)
{
	char dir[] = "/tmp/test_export_spool.XXXXXX";
	struct spool_opts o = { .max_bytes = 10000 };
	struct spool *s;
	const uint8_t *data;
	uint64_t seq;
	size_t len;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	s = spool__open(&o);
	assert_non_null(s);
	for (uint64_t i = 1; i <= 4; i++)
		push(s, i, 50 + i);
	assert_int_equal(spool__peek(s, &seq, &data, &len), 0);
	spool__pop(s);                         /* 1 sent before the "restart" */
	spool__free(s);

	/* a torn temporary file from a crash mid-write is ignored and removed */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/%020d.pb.tmp", dir, 9);
		f = fopen(p, "w");
		assert_non_null(f);
		fputs("torn", f);
		fclose(f);
	}
	s = spool__open(&o);
	assert_non_null(s);
	assert_int_equal(spool__count(s), 3);
	assert_int_equal(spool__last_seq(s), 4);
	assert_int_equal(spool__bytes(s), 52 + 53 + 54);
	for (uint64_t i = 2; i <= 4; i++) {
		assert_int_equal(spool__peek(s, &seq, &data, &len), 0);
		assert_int_equal(seq, i);
		assert_int_equal(len, 50 + i);
		assert_int_equal(data[len - 1], (uint8_t)i);
		spool__pop(s);
	}
	spool__free(s);
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		int files = 0;

		while ((de = readdir(d)))
			files += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(files, 0);    /* sent entries and the torn file are gone */
	}
	rm_rf(dir);
}

static void spool_disk__reopen_with_smaller_bound_evicts_oldest(void **state)
{
	char dir[] = "/tmp/test_export_spool.XXXXXX";
	struct evicted ev = { 0 };
	struct spool_opts o = { .max_bytes = 10000 };
	struct spool *s;

	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	s = spool__open(&o);
	for (uint64_t i = 1; i <= 6; i++)
		push(s, i, 100);
	spool__free(s);
	o.max_bytes = 250;
	o.on_evict = on_evict;
	o.ctx = &ev;
	s = spool__open(&o);
	assert_non_null(s);
	assert_int_equal(ev.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ev.seqs[i], i + 1);
	assert_int_equal(spool__count(s), 2);
	spool__free(s);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spool_memory__fifo_order),
		cmocka_unit_test(spool_memory__overflow_evicts_oldest_exactly),
		cmocka_unit_test(spool_memory__pinned_head_is_not_evicted),
		cmocka_unit_test(spool_memory__too_large_and_order_refused),
		cmocka_unit_test(spool_disk__survives_reopen_in_order),
		cmocka_unit_test(spool_disk__reopen_with_smaller_bound_evicts_oldest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
