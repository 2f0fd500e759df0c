/*
 * test_arena.c
 *	  Unit tests of the arena allocator (src/arena.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"

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

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *
new_arena(size_t size)
{
	void	   *base = aligned_alloc(8, size);

	if (base == NULL)
		abort();
	arena_init(base, size);
	return base;
}

static void
test_class_sizes(void)
{
	size_t		s;

	CHECK(arena_class_size(0) == 8);
	CHECK(arena_class_size(1) == 8);
	CHECK(arena_class_size(8) == 8);
	CHECK(arena_class_size(9) == 16);
	CHECK(arena_class_size(504) == 504);
	CHECK(arena_class_size(505) == 512);
	CHECK(arena_class_size(512) == 512);
	CHECK(arena_class_size(513) == 1024);
	CHECK(arena_class_size(1024) == 1024);
	CHECK(arena_class_size(1025) == 2048);
	CHECK(arena_class_size(ARENA_MAX_ALLOC) == ARENA_MAX_ALLOC);
	CHECK(arena_class_size(ARENA_MAX_ALLOC + 1) == 0);
	for (s = 1; s <= 70000; s++)
	{
		size_t		c = arena_class_size(s);

		CHECK(c >= s && c % 8 == 0);
		CHECK(s <= 512 ? c - s < 8 : c < 2 * s);
		CHECK(arena_class_size(c) == c);
	}
}

static void
test_basic(void)
{
	size_t		size = 1 << 20;
	void	   *base = new_arena(size);
	ArenaPtr	a,
				b,
				c;

	CHECK(arena_bytes_used(base) == 0);
	CHECK(arena_bytes_total(base) > size - 4096 && arena_bytes_total(base) <= size);
	a = arena_alloc(base, 10);
	b = arena_alloc(base, 10);
	CHECK(a != ARENA_NULL && b != ARENA_NULL && a != b);
	CHECK(arena_bytes_used(base) == 32);
	CHECK(((uintptr_t) ARENA_ADDR(base, a)) % 8 == 0);
	arena_free(base, a, 10);
	CHECK(arena_bytes_used(base) == 16);
	c = arena_alloc(base, 16);	/* same class: reuses a */
	CHECK(c == a);
	{
		/* once nothing is live the arena starts over, whole */
		ArenaPtr	d;

		arena_free(base, b, 10);
		arena_free(base, c, 16);
		CHECK(arena_bytes_used(base) == 0);
		d = arena_alloc(base, 512 * 1024);
		CHECK(d == a);
		arena_free(base, d, 512 * 1024);
		b = arena_alloc(base, 10);
		c = arena_alloc(base, 16);
		CHECK(b == a && c != ARENA_NULL);
	}
	arena_free(base, b, 10);
	arena_free(base, c, 16);
	CHECK(arena_bytes_used(base) == 0);
	CHECK(arena_alloc(base, ARENA_MAX_ALLOC + 1) == ARENA_NULL);
	CHECK(arena_alloc(base, ARENA_MAX_ALLOC) == ARENA_NULL);	/* too small */
	CHECK(arena_bytes_used(base) == 0);
	free(base);
}

/* Random alloc/free with a fill pattern that detects overlapping blocks. */
static void
test_random_pattern(void)
{
	enum
	{
		NB = 4000
	};
	size_t		size = 8 << 20;
	void	   *base = new_arena(size);
	static ArenaPtr ptrs[NB];
	static size_t sizes[NB];
	size_t		used = 0;
	int			round,
				i;

	memset(ptrs, 0, sizeof(ptrs));
	for (round = 0; round < 60000; round++)
	{
		i = (int) (rnd() % NB);
		if (ptrs[i] != ARENA_NULL)
		{
			uint8_t    *p = ARENA_ADDR(base, ptrs[i]);
			size_t		k;

			for (k = 0; k < sizes[i]; k++)
				CHECK(p[k] == (uint8_t) (i * 7 + 1));
			arena_free(base, ptrs[i], sizes[i]);
			used -= arena_class_size(sizes[i]);
			ptrs[i] = ARENA_NULL;
		}
		else
		{
			size_t		s = (rnd() % 4 == 0) ? 1 + rnd() % 5000 : 1 + rnd() % 600;

			ptrs[i] = arena_alloc(base, s);
			if (ptrs[i] == ARENA_NULL)
				continue;
			CHECK((size_t) ptrs[i] * 8 + arena_class_size(s) <= size);
			sizes[i] = s;
			used += arena_class_size(s);
			memset(ARENA_ADDR(base, ptrs[i]), (uint8_t) (i * 7 + 1), s);
		}
		CHECK(arena_bytes_used(base) == used);
	}
	for (i = 0; i < NB; i++)
		if (ptrs[i] != ARENA_NULL)
			arena_free(base, ptrs[i], sizes[i]);
	CHECK(arena_bytes_used(base) == 0);
	free(base);
}

/* Exhaustion returns ARENA_NULL; freed memory is reusable, also by splitting. */
static void
test_exhaustion(void)
{
	size_t		size = 64 * 1024;
	void	   *base = new_arena(size);
	static ArenaPtr ptrs[1024];
	int			n = 0,
				i,
				small = 0;

	while ((ptrs[n] = arena_alloc(base, 1024)) != ARENA_NULL)
		n++;
	CHECK(n >= 60 && n <= 64);
	CHECK(arena_bytes_used(base) == (size_t) n * 1024);
	CHECK(arena_alloc(base, 1024) == ARENA_NULL);
	CHECK(arena_alloc(base, 2048) == ARENA_NULL);
	/* whatever is left of the tail serves small requests */
	while (arena_alloc(base, 8) != ARENA_NULL)
		small++;
	CHECK(arena_alloc(base, 8) == ARENA_NULL);
	/* a freed 1024 block is split for small requests: 128 of 8 bytes */
	arena_free(base, ptrs[0], 1024);
	for (i = 0; i < 128; i++)
		CHECK(arena_alloc(base, 8) != ARENA_NULL);
	CHECK(arena_alloc(base, 8) == ARENA_NULL);
	/* and into mixed sizes */
	arena_free(base, ptrs[1], 1024);
	CHECK(arena_alloc(base, 500) != ARENA_NULL);	/* 504 + 512 + 8 rest */
	CHECK(arena_alloc(base, 512) != ARENA_NULL);
	CHECK(arena_alloc(base, 8) != ARENA_NULL);
	CHECK(arena_alloc(base, 8) == ARENA_NULL);
	CHECK(arena_bytes_used(base) <= arena_bytes_total(base));
	CHECK(arena_bytes_used(base) == (size_t) n * 1024 + 8 * (size_t) small);
	/* 8-byte blocks everywhere, then all freed: a 32 KB block fits again */
	free(base);
	base = new_arena(size);
	n = 0;
	{
		ArenaPtr	first = arena_alloc(base, 8),
					q;

		CHECK(first != ARENA_NULL);
		n = 1;
		while ((q = arena_alloc(base, 8)) != ARENA_NULL)
		{
			CHECK(q == first + (ArenaPtr) n);
			n++;
		}
		CHECK(arena_alloc(base, 32768) == ARENA_NULL);
		/* free all but one: fragmented, no 32 KB block */
		for (q = first + 1; q < first + (ArenaPtr) n; q++)
			arena_free(base, q, 8);
		CHECK(arena_alloc(base, 32768) == ARENA_NULL);
		arena_free(base, first, 8);
		CHECK(arena_bytes_used(base) == 0);
		CHECK(arena_alloc(base, 32768) != ARENA_NULL);
	}
	free(base);
}

/* A 32 GB arena: handles reach the top, size_t arithmetic holds. */
static void
test_huge(void)
{
	size_t		size = (size_t) 32 << 30;
	void	   *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
							MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ArenaPtr	p,
				last = ARENA_NULL;
	int			n = 0;

	if (base == MAP_FAILED)
	{
		printf("skip huge arena: mmap failed\n");
		return;
	}
	arena_init(base, size);
	CHECK(arena_bytes_total(base) > size - 4096);
	while ((p = arena_alloc(base, ARENA_MAX_ALLOC)) != ARENA_NULL)
	{
		CHECK(p > last);
		last = p;
		n++;
	}
	CHECK(n == 31);				/* the header takes a bit of the 32nd GB */
	CHECK((size_t) last * 8 == ((size_t) 30 << 30) + (size_t) ((last * (size_t) 8) & (((size_t) 1 << 30) - 1)));
	/* the rest of the last GB is still there for smaller requests */
	p = arena_alloc(base, ARENA_MAX_ALLOC / 2);
	CHECK(p != ARENA_NULL && p > last);
	*(uint64_t *) ARENA_ADDR(base, p) = 42;
	CHECK((size_t) p * 8 + ARENA_MAX_ALLOC / 2 <= size);
	/* the very top unit is reachable and 2^32 - 1 fits a handle */
	while ((p = arena_alloc(base, 8)) != ARENA_NULL)
	{
		if (p == UINT32_MAX)
			break;
		if (arena_alloc(base, 1 << 20) == ARENA_NULL)
			continue;
	}
	CHECK(p == UINT32_MAX || p == ARENA_NULL);
	arena_free(base, last, ARENA_MAX_ALLOC);
	CHECK(arena_alloc(base, ARENA_MAX_ALLOC) == last);
	munmap(base, size);
}

int
main(void)
{
	run("class_sizes", test_class_sizes);
	run("basic", test_basic);
	run("random_pattern", test_random_pattern);
	run("exhaustion", test_exhaustion);
	run("huge_32gb", test_huge);
	printf("SUMMARY %d %d\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
