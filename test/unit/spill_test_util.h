/*-------------------------------------------------------------------------
 *
 * spill_test_util.h
 *	  What test_spill.c and fuzz_spill.c share: a spill in memory (a
 *	  growable byte array with the writer's and the reader's callbacks;
 *	  the reader's may hand out short reads) and (key, TID) pairs, sorted
 *	  as memkv sorts them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_SPILL_TEST_UTIL_H
#define MEMKV_SPILL_TEST_UTIL_H

#include "spill.h"

#include <stdlib.h>
#include <string.h>

typedef struct MemSpill
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	size_t		rpos;			/* read position */
	size_t		rlimit;			/* reads see data[0..rlimit) */
	uint32_t	short_reads;	/* nonzero: reads return at most this */
	int			fail_write_at;	/* write callback fails at this call (>0) */
	int			fail_read_at;	/* read callback fails at this call (>0) */
	int			nwrites;
	int			nreads;
} MemSpill;

static inline void
memspill_init(MemSpill *f)
{
	memset(f, 0, sizeof(*f));
}

static inline void
memspill_rewind(MemSpill *f, size_t limit)
{
	f->rpos = 0;
	f->rlimit = limit < f->len ? limit : f->len;
	f->nreads = 0;
}

static inline int
memspill_write(void *arg, const uint8_t *data, size_t len)
{
	MemSpill   *f = (MemSpill *) arg;

	if (++f->nwrites == f->fail_write_at)
		return 1;
	if (len == 0)
		return 0;
	if (f->len + len > f->cap)
	{
		size_t		cap = f->cap ? f->cap : 65536;

		while (cap < f->len + len)
			cap *= 2;
		f->data = realloc(f->data, cap);
		if (!f->data)
			abort();
		f->cap = cap;
	}
	memcpy(f->data + f->len, data, len);
	f->len += len;
	f->rlimit = f->len;
	return 0;
}

static inline int64_t
memspill_read(void *arg, uint8_t *buf, size_t len)
{
	MemSpill   *f = (MemSpill *) arg;
	size_t		n = f->rlimit - f->rpos;

	if (++f->nreads == f->fail_read_at)
		return -1;
	if (n > len)
		n = len;
	if (f->short_reads && n > f->short_reads)
		n = f->short_reads;
	if (n > 0)
		memcpy(buf, f->data + f->rpos, n);
	f->rpos += n;
	return (int64_t) n;
}

typedef struct Pair
{
	const uint8_t *key;
	uint32_t	len;
	uint64_t	tid;
} Pair;

static inline int
pair_cmp(const void *a, const void *b)
{
	const Pair *x = (const Pair *) a;
	const Pair *y = (const Pair *) b;
	int			c = spill_key_cmp(x->key, x->len, y->key, y->len);

	if (c != 0)
		return c;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* Sort pairs and drop repeated (key, TID)s; returns the new count. */
static inline size_t
pairs_sort_unique(Pair *p, size_t n)
{
	size_t		i;
	size_t		m = 0;

	qsort(p, n, sizeof(Pair), pair_cmp);
	for (i = 0; i < n; i++)
		if (m == 0 || pair_cmp(&p[m - 1], &p[i]) != 0)
			p[m++] = p[i];
	return m;
}

/*
 * Write sorted unique pairs as a spill: each key's TIDs in one writer
 * call, or (split) in two calls of the same key.  Returns the writer's
 * last status.
 */
static inline SpillStatus
pairs_write(SpillWriter *w, const Pair *p, size_t n, uint64_t *tidbuf,
			uint64_t split_seed)
{
	size_t		i = 0;

	while (i < n)
	{
		size_t		j = i;
		size_t		k;
		size_t		cut;
		SpillStatus st;

		while (j < n && spill_key_cmp(p[i].key, p[i].len, p[j].key, p[j].len) == 0)
		{
			tidbuf[j - i] = p[j].tid;
			j++;
		}
		k = j - i;
		split_seed = split_seed * 6364136223846793005ULL + 1442695040888963407ULL;
		cut = ((split_seed >> 33) % 4 == 0 && k > 1) ? 1 + (split_seed >> 40) % (k - 1) : k;
		st = spill_writer_add(w, p[i].key, p[i].len, tidbuf, cut);
		if (st == SPILL_OK && cut < k)
			st = spill_writer_add(w, p[i].key, p[i].len, tidbuf + cut, k - cut);
		if (st != SPILL_OK)
			return st;
		i = j;
	}
	return spill_writer_finish(w);
}

#endif							/* MEMKV_SPILL_TEST_UTIL_H */
