/*-------------------------------------------------------------------------
 *
 * keysort.c
 *	  Plain C: the string sort of CREATE INDEX (see keysort.h).
 *
 * A multikey quicksort (Bentley and Sedgewick) whose "characters" are
 * 7-byte chunks of the keys.  Every item caches the chunk at the current
 * depth as a uint64: the 7 bytes big-endian in the high 56 bits (zero
 * padded past the end of the key) and, in the low byte, how many of them
 * are key bytes (0..7).  Comparing two caches as integers thus compares
 * the chunks in byte order, a key that ends inside the chunk before a key
 * that goes on with the same bytes.  Quicksort partitions on the cache
 * into <, = and >; the < and > parts are sorted at the same depth, the =
 * part moves on to the next chunk, reloading the caches once, unless its
 * keys end within this chunk: then they are all equal, and are sorted by
 * TID (the TID is put into the cache and the same partitioning runs on it).
 *
 * So a common prefix of length L costs each item about L / 7 cache loads,
 * whatever the number of comparisons, and all comparisons are integer
 * comparisons on the items themselves.  Small parts are insertion-sorted
 * on the cache, and runs of equal caches in them go on to the next chunk.
 * The largest of the three parts of a partition is handled by the loop,
 * the two others (each at most half) by recursion, and so is a run that
 * is a whole small part: O(log n) stack.
 *
 * Large inputs are first split in place by the first bytes where their
 * keys differ, an American flag sort (McIlroy, Bostic and McIlroy): one
 * counting pass and one pass of swaps per byte, instead of the many
 * partitioning passes of quicksort over all of the items; quicksort then
 * runs on parts that fit in cache.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <string.h>

#include "keysort.h"

/* Parts this small are insertion-sorted. */
#define KS_SMALL		16

/* Key bytes per cached chunk; the low byte of the cache is the count. */
#define KS_CHUNK		7

/* Parts this large are split by radix passes, at most KS_RADIX_PASSES. */
#define KS_RADIX_MIN	4096
#define KS_RADIX_PASSES	4
#define KS_RADIX_PARTS	16		/* fewer parts: quicksort instead */

typedef struct KeysortState
{
	KeysortTick tick;
	void	   *tick_arg;
	size_t		work;			/* items partitioned since the last tick */
} KeysortState;

/* The cache of a key at depth (depth <= len). */
static inline uint64_t
ks_load(const uint8_t *key, uint32_t len, size_t depth)
{
	const uint8_t *p = key + depth;
	size_t		rem = len - depth;
	uint64_t	v;

	if (rem > KS_CHUNK)
	{
		/* at least 8 bytes readable: one load, the 8th byte masked off */
		uint64_t	raw;

		memcpy(&raw, p, sizeof(raw));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = raw;
#else
		v = __builtin_bswap64(raw);
#endif
		return (v & ~(uint64_t) 0xFF) | KS_CHUNK;
	}
	else
	{
		size_t		i;

		v = 0;
		for (i = 0; i < KS_CHUNK; i++)
			v = (v << 8) | (i < rem ? p[i] : 0);
		return (v << 8) | rem;
	}
}

/* Does the cache describe a key that goes on after this chunk (or ends
 * exactly at its end: then the next chunk is empty)? */
static inline bool
ks_continues(uint64_t cache)
{
	return (cache & 0xFF) == KS_CHUNK;
}

static inline void
ks_swap(KeysortItem *a, KeysortItem *b)
{
	KeysortItem t = *a;

	*a = *b;
	*b = t;
}

/* Swap n items starting at a with n items starting at b. */
static inline void
ks_vecswap(KeysortItem *a, KeysortItem *b, size_t n)
{
	while (n-- > 0)
		ks_swap(a++, b++);
}

/* Insertion sort of a[0..n) by cache alone. */
static void
ks_insertion(KeysortItem *a, size_t n)
{
	size_t		i,
				j;

	for (i = 1; i < n; i++)
	{
		KeysortItem t = a[i];

		for (j = i; j > 0 && a[j - 1].cache > t.cache; j--)
			a[j] = a[j - 1];
		a[j] = t;
	}
}

static inline uint64_t
ks_med3(uint64_t x, uint64_t y, uint64_t z)
{
	if (x < y)
		return y < z ? y : (x < z ? z : x);
	return x < z ? x : (y < z ? z : y);
}

/* A pivot value: median of three, or of three medians for larger n. */
static inline uint64_t
ks_pivot(const KeysortItem *a, size_t n)
{
	size_t		m = n / 2;

	if (n > 64)
	{
		size_t		s = n / 8;

		return ks_med3(ks_med3(a[0].cache, a[s].cache, a[2 * s].cache),
					   ks_med3(a[m - s].cache, a[m].cache, a[m + s].cache),
					   ks_med3(a[n - 1 - 2 * s].cache, a[n - 1 - s].cache,
							   a[n - 1].cache));
	}
	return ks_med3(a[0].cache, a[m].cache, a[n - 1].cache);
}

/* Count n items of work, and tick now and then. */
static inline void
ks_work(KeysortState *st, size_t n)
{
	st->work += n;
	if (st->work >= KEYSORT_TICK && st->tick)
	{
		st->work = 0;
		st->tick(st->tick_arg);
	}
}

/*
 * Prepare the = part of a partition for its next round: load the caches
 * of the next chunk, or (keys ended) put the TIDs in.  Returns the new
 * depth; *final is set when the keys ended.
 */
static size_t
ks_descend(KeysortItem *a, size_t n, size_t depth, uint64_t pivot,
		   bool *final)
{
	size_t		i;

	if (ks_continues(pivot))
	{
		depth += KS_CHUNK;
		for (i = 0; i < n; i++)
			a[i].cache = ks_load(a[i].key, a[i].len, depth);
		return depth;
	}
	for (i = 0; i < n; i++)
		a[i].cache = a[i].tid;
	*final = true;
	return depth;
}

/*
 * Sort a[0..n), whose caches are loaded at depth (or hold TIDs if final),
 * and which agree on all key bytes before depth.
 */
static void
ks_sort(KeysortState *st, KeysortItem *a, size_t n, size_t depth, bool final)
{
	while (n > 1)
	{
		uint64_t	pivot;
		ptrdiff_t	pa = 0,
					pb = 0,
					pc = (ptrdiff_t) n - 1,
					pd = (ptrdiff_t) n - 1;
		size_t		nlt,
					ngt,
					neq,
					s;
		KeysortItem *lt,
				   *eq,
				   *gt;

		if (n <= KS_SMALL)
		{
			/*
			 * Sort by cache, then each run of equal caches by the next
			 * chunk; a run that is all of a[] is handled by the loop.
			 */
			size_t		i,
						j;

			ks_insertion(a, n);
			if (final)
				return;
			if (a[0].cache == a[n - 1].cache)
			{
				depth = ks_descend(a, n, depth, a[0].cache, &final);
				continue;
			}
			for (i = 0; i < n; i = j)
			{
				for (j = i + 1; j < n && a[j].cache == a[i].cache; j++)
					;
				if (j - i > 1)
				{
					bool		runfinal = false;
					size_t		rundepth = ks_descend(a + i, j - i, depth,
													  a[i].cache, &runfinal);

					ks_sort(st, a + i, j - i, rundepth, runfinal);
				}
			}
			return;
		}

		pivot = ks_pivot(a, n);
		ks_work(st, n);

		/*
		 * Bentley-McIlroy partition: = items gather at both ends, < and >
		 * in the middle; then the = blocks are swapped to the center.
		 */
		for (;;)
		{
			while (pb <= pc && a[pb].cache <= pivot)
			{
				if (a[pb].cache == pivot)
					ks_swap(&a[pa++], &a[pb]);
				pb++;
			}
			while (pb <= pc && a[pc].cache >= pivot)
			{
				if (a[pc].cache == pivot)
					ks_swap(&a[pc], &a[pd--]);
				pc--;
			}
			if (pb > pc)
				break;
			ks_swap(&a[pb++], &a[pc--]);
		}
		s = (size_t) (pa < pb - pa ? pa : pb - pa);
		ks_vecswap(a, a + pb - s, s);
		s = (size_t) (pd - pc < (ptrdiff_t) n - 1 - pd ?
					  pd - pc : (ptrdiff_t) n - 1 - pd);
		ks_vecswap(a + pb, a + n - s, s);

		nlt = (size_t) (pb - pa);
		ngt = (size_t) (pd - pc);
		neq = n - nlt - ngt;
		lt = a;
		eq = a + nlt;
		gt = a + nlt + neq;

		/* the = part of TIDs is done: equal TIDs are the same item twice */
		if (final)
			neq = 0;

		/* recurse into the two smaller parts, loop on the largest */
		if (neq >= nlt && neq >= ngt)
		{
			ks_sort(st, lt, nlt, depth, final);
			ks_sort(st, gt, ngt, depth, final);
			depth = ks_descend(eq, neq, depth, pivot, &final);
			a = eq;
			n = neq;
		}
		else
		{
			if (neq > 0)
			{
				bool		eqfinal = final;
				size_t		eqdepth = ks_descend(eq, neq, depth, pivot,
												 &eqfinal);

				ks_sort(st, eq, neq, eqdepth, eqfinal);
			}
			if (nlt >= ngt)
			{
				ks_sort(st, gt, ngt, depth, final);
				n = nlt;
			}
			else
			{
				ks_sort(st, lt, nlt, depth, final);
				a = gt;
				n = ngt;
			}
		}
	}
}

/*
 * Sort a[0..n) (n > 1), whose caches are loaded at depth and which agree
 * on all key bytes before depth, splitting it by radix passes while it is
 * large: find the first byte of the cache where the items differ (if they
 * agree on all of the chunk, move on to the next chunk), split them in
 * place by that byte into up to 256 parts, in key order (unless that
 * makes few parts), and sort each part the same way.  At most `passes` more splitting passes (each takes
 * 6 KB of stack); after them, and for small parts, quicksort.
 */
static void
ks_radix(KeysortState *st, KeysortItem *a, size_t n, size_t depth,
		 int passes)
{
	size_t		count[256];
	size_t		next[256];
	size_t		end[256];
	uint64_t	diff;
	int			shift;
	size_t		i;
	size_t		pos;
	int			nparts;
	int			c;

	for (;;)
	{
		bool		final = false;

		diff = 0;
		for (i = 1; i < n; i++)
			diff |= a[i].cache ^ a[0].cache;
		ks_work(st, n);
		if (diff != 0 || !ks_continues(a[0].cache))
			break;
		/* the same whole chunk: on to the next one */
		depth = ks_descend(a, n, depth, a[0].cache, &final);
	}
	/* keys that end within this chunk are left to quicksort */
	if (passes == 0 || (diff >> 8) == 0)
	{
		ks_sort(st, a, n, depth, false);
		return;
	}
	shift = 56 - 8 * (__builtin_clzll(diff) / 8);

	memset(count, 0, sizeof(count));
	for (i = 0; i < n; i++)
		count[(a[i].cache >> shift) & 0xFF]++;
	pos = 0;
	nparts = 0;
	for (c = 0; c < 256; c++)
	{
		next[c] = pos;
		pos += count[c];
		end[c] = pos;
		nparts += count[c] != 0;
	}
	ks_work(st, n);
	/* a pass that splits into few parts is not worth its random writes */
	if (nparts < KS_RADIX_PARTS)
	{
		ks_sort(st, a, n, depth, false);
		return;
	}

	/* move every item to its part: each swap puts one item in place */
	for (c = 0; c < 256; c++)
	{
		while (next[c] < end[c])
		{
			KeysortItem t = a[next[c]];
			int			d = (int) ((t.cache >> shift) & 0xFF);

			while (d != c)
			{
				KeysortItem u = a[next[d]];

				a[next[d]++] = t;
				t = u;
				d = (int) ((t.cache >> shift) & 0xFF);
			}
			a[next[c]++] = t;
		}
	}

	for (c = 0, pos = 0; c < 256; pos = end[c], c++)
	{
		size_t		m = end[c] - pos;

		if (m >= KS_RADIX_MIN)
			ks_radix(st, a + pos, m, depth, passes - 1);
		else if (m > 1)
			ks_sort(st, a + pos, m, depth, false);
	}
}

void
keysort_sort(KeysortItem *items, size_t n, KeysortTick tick, void *tick_arg)
{
	KeysortState st;
	size_t		i;

	st.tick = tick;
	st.tick_arg = tick_arg;
	st.work = 0;
	for (i = 0; i < n; i++)
		items[i].cache = ks_load(items[i].key, items[i].len, 0);
	if (n >= KS_RADIX_MIN)
		ks_radix(&st, items, n, 0, KS_RADIX_PASSES);
	else
		ks_sort(&st, items, n, 0, false);
}
