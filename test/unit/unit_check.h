/*-------------------------------------------------------------------------
 *
 * unit_check.h
 *	  What the FST and key-block unit tests share: the CHECK counters and
 *	  macro, a seeded pseudo-random generator (splitmix64), and an
 *	  FstAllocator over malloc that aborts when memory runs out.
 *
 * Each test is one translation unit that includes this once; it prints
 * "SUMMARY <passed> <failed>" from these counters at the end.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_UNIT_CHECK_H
#define MEMKV_UNIT_CHECK_H

#include "fst.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long passed;
static long failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			if (failed < 50) \
			{ \
				printf("FAIL %s:%d: ", __FILE__, __LINE__); \
				printf(__VA_ARGS__); \
				printf("\n"); \
			} \
		} \
	} while (0)

/* The generator's state; a test may seed it by assigning to it. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* The next pseudo-random 64-bit value. */
static inline uint64_t
rnd(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A pseudo-random value below n (0 if n is 0). */
static inline uint64_t
rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static inline void *
t_alloc(void *arg, size_t size)
{
	void	   *p = malloc(size ? size : 1);

	(void) arg;
	if (!p)
		abort();
	return p;
}

static inline void *
t_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	void	   *p = realloc(ptr, newsize ? newsize : 1);

	(void) arg;
	(void) oldsize;
	if (!p)
		abort();
	return p;
}

static inline void
t_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const FstAllocator talloc = {t_alloc, t_realloc, t_free, NULL};

#endif							/* MEMKV_UNIT_CHECK_H */
