/* lib/cgroupfs on a directory tree made here (a temp dir walks like a cgroup2 mount; it has no
 * cgroup file handles, so ID -> path goes through the walk): IDs are directory inodes, walks are
 * bounded in depth and in directories opened, and the id -> path map follows add/remove. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/cgroupfs.h"

/* /a, /a/b, /a/b/c, /d, and a file /a/f that is no cgroup */
static const char *const dirs[] = { "/a", "/a/b", "/a/b/c", "/d" };

struct tree {
	char root[64];
	uint64_t id_root, id[4];
};

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char p[256];
	int fd;

	snprintf(t->root, sizeof(t->root), "/tmp/podlens-cgfs-ut.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	for (size_t i = 0; i < 4; i++) {
		struct stat st;

		snprintf(p, sizeof(p), "%s%s", t->root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(stat(p, &st), 0);
		t->id[i] = (uint64_t)st.st_ino;
	}
	snprintf(p, sizeof(p), "%s/a/f", t->root);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	t->id_root = cgroupfs__id(t->root);
	assert_true(t->id_root != 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char p[256];

	snprintf(p, sizeof(p), "%s/a/f", t->root);
	unlink(p);
	for (int i = 3; i >= 0; i--) {
		snprintf(p, sizeof(p), "%s%s", t->root, dirs[i]);
		rmdir(p);
	}
	rmdir(t->root);
	free(t);
	return 0;
}

struct seen {
	uint64_t id[16];
	char rel[16][64];
	int n, stop_after;
};

static int record(void *ctx, uint64_t id, const char *rel)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->id[s->n] = id;
		snprintf(s->rel[s->n], sizeof(s->rel[0]), "%s", rel);
	}
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static int index_of(const struct seen *s, const char *rel)
{
	for (int i = 0; i < s->n && i < 16; i++)
		if (!strcmp(s->rel[i], rel))
			return i;
	return -1;
}

static void id_at__root_and_children__directory_inodes(void **state)
{
	struct tree *t = *state;

	assert_int_equal(cgroupfs__id_at(t->root, "/"), t->id_root);
	assert_int_equal(cgroupfs__id_at(t->root, ""), t->id_root);
	assert_int_equal(cgroupfs__id_at(t->root, "/a/b"), t->id[1]);
	assert_int_equal(cgroupfs__id_at(t->root, "/a/f"), 0);        /* a file is no cgroup */
	assert_int_equal(cgroupfs__id_at(t->root, "/nope"), 0);
}

static void walk__whole_tree__root_first_every_directory_once(void **state)
{
	struct tree *t = *state;
	struct seen s = { 0 };

	assert_int_equal(cgroupfs__walk(t->root, 0, 0, record, &s), 5);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.rel[0], "/");
	assert_int_equal(s.id[0], t->id_root);
	for (size_t i = 0; i < 4; i++) {
		int k = index_of(&s, dirs[i]);

		assert_true(k > 0);
		assert_int_equal(s.id[k], t->id[i]);
	}
	/* breadth-first: both children of the root before the grandchild */
	assert_true(index_of(&s, "/d") < index_of(&s, "/a/b"));
}

static void walk__depth_and_dir_bounds__stop_early(void **state)
{
	struct tree *t = *state;
	struct seen s = { 0 };

	assert_int_equal(cgroupfs__walk(t->root, 1, 0, record, &s), 3);     /* /, /a, /d */
	assert_int_equal(index_of(&s, "/a/b"), -1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroupfs__walk(t->root, 0, 2, record, &s), 2);     /* two directories opened */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(cgroupfs__walk(t->root, 0, 0, record, &s), 2);     /* the callback stops it */
}

static void walk__missing_mount__enoent(void **state)
{
	struct seen s = { 0 };

	assert_int_equal(cgroupfs__walk("/nonexistent-podlens", 0, 0, record, &s), -ENOENT);
	assert_int_equal(s.n, 0);
}

static void path_of__without_file_handles__found_by_walking(void **state)
{
	struct tree *t = *state;
	char out[256];
	int fd = open(t->root, O_RDONLY | O_DIRECTORY);

	assert_int_equal(cgroupfs__path_of(fd, t->root, t->id[2], 100, out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/c");
	assert_int_equal(cgroupfs__path_of(-1, t->root, t->id_root, 100, out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(cgroupfs__path_of(fd, t->root, 1, 100, out, sizeof(out)), -ENOENT);
	/* a bound of one directory reads only the root */
	assert_int_equal(cgroupfs__path_of(-1, t->root, t->id[2], 1, out, sizeof(out)), -ENOENT);
	close(fd);
}

static void cgpaths__scan_lookup_add_remove(void **state)
{
	struct tree *t = *state;
	struct cgpaths c;

	cgpaths__init(&c, t->root);
	assert_int_equal(cgpaths__scan(&c), 5);
	assert_string_equal(cgpaths__lookup(&c, t->id[2]), "/a/b/c");
	assert_string_equal(cgpaths__lookup(&c, t->id_root), "/");
	assert_int_equal(cgpaths__add(&c, 4242, "/made/up"), 0);
	assert_string_equal(cgpaths__lookup(&c, 4242), "/made/up");
	cgpaths__remove(&c, 4242);
	/* a miss within a second of the last scan does not rescan */
	assert_null(cgpaths__lookup(&c, 4242));
	cgpaths__free(&c);
}

static void find_v2__plain_directory__enoent(void **state)
{
	struct tree *t = *state;
	char out[256] = "";

	assert_int_equal(cgroupfs__find_v2(t->root, out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroupfs__find_v2("/nonexistent-podlens", out, sizeof(out)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(id_at__root_and_children__directory_inodes, setup, teardown),
		cmocka_unit_test_setup_teardown(walk__whole_tree__root_first_every_directory_once, setup, teardown),
		cmocka_unit_test_setup_teardown(walk__depth_and_dir_bounds__stop_early, setup, teardown),
		cmocka_unit_test(walk__missing_mount__enoent),
		cmocka_unit_test_setup_teardown(path_of__without_file_handles__found_by_walking, setup, teardown),
		cmocka_unit_test_setup_teardown(cgpaths__scan_lookup_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(find_v2__plain_directory__enoent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
