/*
 * test_keysort.c
 *	  Unit tests of the CREATE INDEX key sort (src/keysort.c): every case
 *	  is checked against qsort with memcmp, then length, then TID.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keysort.h"

static int	n_pass;
static int	n_fail;
static const char *cur_test;
static int	cur_failed;

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", \
					__FILE__, __LINE__, cur_test, #cond); \
			cur_failed = 1; \
			return; \
		} \
	} while (0)

static void
run(const char *name, void (*fn) (void))
{
	cur_test = name;
	cur_failed = 0;
	fn();
	if (cur_failed)
		n_fail++;
	else
		n_pass++;
	printf("%s %s\n", cur_failed ? "FAIL" : "ok", name);
	fflush(stdout);
}

/* xorshift64*: reproducible pseudo-random numbers */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* The reference order. */
static int
ref_cmp(const void *pa, const void *pb)
{
	const KeysortItem *a = pa;
	const KeysortItem *b = pb;
	uint32_t	m = a->len < b->len ? a->len : b->len;
	int			c = m ? memcmp(a->key, b->key, m) : 0;

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	return 0;
}

/*
 * Sort a copy with keysort_sort and one with qsort; they must agree on
 * (key, tid) at every position, and keysort's must be a permutation of
 * the input that kept each item's spare with its key.  items[i].spare
 * must be i on entry.
 */
static int
check_sort(KeysortItem *items, size_t n)
{
	KeysortItem *ks = malloc((n ? n : 1) * sizeof(KeysortItem));
	KeysortItem *ref = malloc((n ? n : 1) * sizeof(KeysortItem));
	unsigned char *seen = calloc(n ? n : 1, 1);
	size_t		i;
	int			ok = 1;

	memcpy(ks, items, n * sizeof(KeysortItem));
	memcpy(ref, items, n * sizeof(KeysortItem));
	keysort_sort(ks, n, NULL, NULL);
	qsort(ref, n, sizeof(KeysortItem), ref_cmp);
	for (i = 0; i < n && ok; i++)
	{
		uint32_t	s = ks[i].spare;

		if (ref_cmp(&ks[i], &ref[i]) != 0)
		{
			fprintf(stderr, "%s: position %zu differs\n", cur_test, i);
			ok = 0;
		}
		else if (s >= n || seen[s] || items[s].key != ks[i].key ||
				 items[s].len != ks[i].len || items[s].tid != ks[i].tid)
		{
			fprintf(stderr, "%s: item %zu is not an input item\n",
					cur_test, i);
			ok = 0;
		}
		else
			seen[s] = 1;
	}
	free(ks);
	free(ref);
	free(seen);
	return ok;
}

/* A pool of key bytes that test items point into. */
static uint8_t *pool;
static size_t pool_len;
static size_t pool_size;

static const uint8_t *
pool_add(const uint8_t *bytes, size_t len)
{
	uint8_t    *p;

	if (pool_len + len > pool_size)
	{
		/* tests reserve enough up front: pointers must stay valid */
		fprintf(stderr, "%s: key pool too small\n", cur_test);
		abort();
	}
	p = pool + pool_len;
	if (len)
		memcpy(p, bytes, len);
	pool_len += len;
	return p;
}

static void
pool_reset(size_t size)
{
	free(pool);
	/* keys end exactly at the end of the allocation: ASan sees overreads */
	pool = malloc(size ? size : 1);
	pool_size = size;
	pool_len = 0;
}

static KeysortItem *
new_items(size_t n)
{
	return calloc(n ? n : 1, sizeof(KeysortItem));
}

static void
set_item(KeysortItem *items, size_t i, const uint8_t *bytes, size_t len,
		 uint64_t tid)
{
	/* a private copy, so that a key's end is the end of its allocation */
	uint8_t    *copy = malloc(len ? len : 1);

	if (len)
		memcpy(copy, bytes, len);
	items[i].key = copy;
	items[i].len = (uint32_t) len;
	items[i].tid = tid;
	items[i].spare = (uint32_t) i;
}

static void
free_items(KeysortItem *items, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		free((void *) items[i].key);
	free(items);
}

static void
test_trivial(void)
{
	KeysortItem *items = new_items(2);

	keysort_sort(items, 0, NULL, NULL);
	set_item(items, 0, (const uint8_t *) "abc", 3, 5);
	CHECK(check_sort(items, 1));
	set_item(items, 1, (const uint8_t *) "", 0, 9);
	CHECK(check_sort(items, 2));
	free_items(items, 2);
}

/*
 * Keys that are prefixes of each other, lengths across several chunk
 * boundaries, padded with zero bytes too (a key ending inside a chunk
 * against one that goes on with zeros).
 */
static void
test_prefixes(void)
{
	size_t		n = 0,
				len,
				i;
	KeysortItem *items = new_items(4 * 40 * 3);
	uint8_t		buf[64];

	for (len = 0; len < 40; len++)
	{
		for (i = 0; i < 3; i++)
		{
			memset(buf, 'a', len);
			set_item(items, n++, buf, len, 100 - i);
			memset(buf, 0, len);
			set_item(items, n++, buf, len, i);
			memset(buf, 0xFF, len);
			set_item(items, n++, buf, len, rnd() % 4);
			memset(buf, 'a', len);
			if (len)
				buf[len - 1] = 0;
			set_item(items, n++, buf, len, i);
		}
	}
	CHECK(check_sort(items, n));
	free_items(items, n);
}

/* Random keys over a small alphabet with 0, 0x7F, 0x80, 0xFF in it. */
static void
test_random_small_alphabet(void)
{
	static const uint8_t alpha[] = {0, 1, 'a', 'b', 0x7F, 0x80, 0xFE, 0xFF};
	int			round;

	/* the last rounds are large enough for the radix passes */
	for (round = 0; round < 220; round++)
	{
		size_t		n = 1 + rnd() % (round < 100 ? 40 : round < 200 ? 3000 :
									 30000);
		size_t		maxlen = 1 + rnd() % 30;
		KeysortItem *items = new_items(n);
		size_t		i,
					j;
		uint8_t		buf[64];

		for (i = 0; i < n; i++)
		{
			size_t		len = rnd() % (maxlen + 1);

			for (j = 0; j < len; j++)
				buf[j] = alpha[rnd() % (round % 2 ? 2 : sizeof(alpha))];
			set_item(items, i, buf, len, rnd() % 8);
		}
		CHECK(check_sort(items, n));
		free_items(items, n);
	}
}

/* Random bytes, all values, random lengths up to 100, distinct TIDs. */
static void
test_random_bytes(void)
{
	size_t		n = 20000,
				i,
				j;
	KeysortItem *items = new_items(n);
	uint8_t		buf[128];

	for (i = 0; i < n; i++)
	{
		size_t		len = rnd() % 101;

		for (j = 0; j < len; j++)
			buf[j] = (uint8_t) rnd();
		set_item(items, i, buf, len, rnd());
	}
	CHECK(check_sort(items, n));
	free_items(items, n);
}

/* Many equal keys with different (and some equal) TIDs. */
static void
test_duplicates(void)
{
	size_t		n = 100000,
				i;
	KeysortItem *items = new_items(n);
	static const char *const keys[] = {
		"", "x", "usr/share/doc/", "usr/share/doc/a", "usr/share/doc/b"
	};

	for (i = 0; i < n; i++)
	{
		const char *k = keys[i < n - 10 ? (i % 7 == 0 ? 2 : 3) : i % 5];

		set_item(items, i, (const uint8_t *) k, strlen(k),
				 i % 11 == 0 ? 42 : rnd() % 1000000);
	}
	CHECK(check_sort(items, n));
	free_items(items, n);
}

/* Long keys: a 2,000-byte shared prefix, differences near the end. */
static void
test_long_keys(void)
{
	size_t		n = 2000,
				i;
	KeysortItem *items = new_items(n);
	uint8_t    *buf = malloc(4000);

	memset(buf, 'p', 4000);
	for (i = 0; i < n; i++)
	{
		size_t		len = 2000 + rnd() % 30;

		memset(buf + 2000, 'p', 40);
		if (len > 2000)
			buf[2000 + rnd() % (len - 2000)] = (uint8_t) (rnd() % 3 + 'o');
		set_item(items, i, buf, len, rnd() % 50);
	}
	CHECK(check_sort(items, n));
	free_items(items, n);
	free(buf);
}

/* Path-like keys: a few long directory prefixes, already sorted input,
 * reverse sorted input, and shuffled. */
static void
test_paths(void)
{
	static const char *const dirs[] = {
		"usr/share/doc/", "usr/share/locale/de/LC_MESSAGES/",
		"usr/lib/x86_64-linux-gnu/", "usr/share/javascript/mathjax/jax/output/"
	};
	size_t		n = 30000,
				i;
	int			order;

	for (order = 0; order < 3; order++)
	{
		KeysortItem *items = new_items(n);
		char		buf[200];

		for (i = 0; i < n; i++)
		{
			size_t		k = order == 2 ? rnd() % n : (order == 0 ? i : n - 1 - i);
			int			len = snprintf(buf, sizeof(buf), "%spkg%05zu/file%zu",
									   dirs[k % 4], k / 40, k % 40);

			set_item(items, i, (const uint8_t *) buf, (size_t) len, k);
		}
		CHECK(check_sort(items, n));
		free_items(items, n);
	}
}

/* Keys in one shared buffer, back to back, the last one ending at the
 * buffer's end (the way CREATE INDEX lays them out). */
static void
test_packed_buffer(void)
{
	size_t		n = 5000,
				i,
				j,
				total = 0;
	size_t	   *lens = malloc(n * sizeof(size_t));
	KeysortItem *items = new_items(n);
	uint8_t		buf[32];

	for (i = 0; i < n; i++)
	{
		lens[i] = rnd() % 20;
		total += lens[i];
	}
	pool_reset(total);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < lens[i]; j++)
			buf[j] = (uint8_t) ('a' + rnd() % 3);
		items[i].key = pool_add(buf, lens[i]);
		items[i].len = (uint32_t) lens[i];
		items[i].tid = rnd() % 3;
		items[i].spare = (uint32_t) i;
	}
	CHECK(check_sort(items, n));
	free(items);
	free(lens);
	pool_reset(0);
}

static int	ticks;
static jmp_buf tick_jmp;

static void
count_tick(void *arg)
{
	(void) arg;
	ticks++;
}

static void
jump_tick(void *arg)
{
	(void) arg;
	longjmp(tick_jmp, 1);
}

/* The tick is called on big sorts, and may longjmp out of the sort:
 * the items are then still a permutation of the input. */
static void
test_tick(void)
{
	size_t		n = 200000,
				i;
	KeysortItem *items = new_items(n);
	KeysortItem *copy = new_items(n);
	unsigned char *seen = calloc(n, 1);
	char		buf[64];
	volatile int jumped = 0;

	for (i = 0; i < n; i++)
	{
		int			len = snprintf(buf, sizeof(buf), "k%llu",
								   (unsigned long long) (rnd() % 1000000));

		set_item(items, i, (const uint8_t *) buf, (size_t) len, i);
	}
	memcpy(copy, items, n * sizeof(KeysortItem));
	ticks = 0;
	keysort_sort(copy, n, count_tick, NULL);
	CHECK(ticks > 0);
	for (i = 1; i < n; i++)
		CHECK(ref_cmp(&copy[i - 1], &copy[i]) < 0);

	memcpy(copy, items, n * sizeof(KeysortItem));
	if (setjmp(tick_jmp) == 0)
		keysort_sort(copy, n, jump_tick, NULL);
	else
		jumped = 1;
	CHECK(jumped);
	for (i = 0; i < n; i++)
	{
		CHECK(copy[i].spare < n && !seen[copy[i].spare]);
		seen[copy[i].spare] = 1;
		CHECK(copy[i].key == items[copy[i].spare].key);
	}
	free(copy);
	free(seen);
	free_items(items, n);
}

int
main(void)
{
	run("trivial", test_trivial);
	run("prefixes", test_prefixes);
	run("random_small_alphabet", test_random_small_alphabet);
	run("random_bytes", test_random_bytes);
	run("duplicates", test_duplicates);
	run("long_keys", test_long_keys);
	run("paths", test_paths);
	run("packed_buffer", test_packed_buffer);
	run("tick", test_tick);
	printf("SUMMARY %d %d\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
