/*-------------------------------------------------------------------------
 *
 * test_spill_range.c
 *	  Unit tests of a spill read by key range (src/spill.c,
 *	  spill_reader_set_range and spill_block_first_key), as a parallel
 *	  build's range merges read them: a sparse index of each block's
 *	  offset and first key is taken from the write callback; a reader
 *	  started at the block the index gives for a random lower bound, and
 *	  ended at a random upper bound, returns exactly the pairs of the
 *	  range (keys with many TIDs straddling blocks and bounds included);
 *	  the merge of range readers over several spills equals the sorted
 *	  union restricted to the range; and the ranges of a cut into pieces,
 *	  laid end to end, give the whole.
 *
 *-------------------------------------------------------------------------
 */
#include "spill.h"

#include "unit_check.h"
#include "spill_test_util.h"

/* Print "ok NAME" or "FAIL NAME": did any CHECK fail since failed_before? */
static void
report_result(const char *name, long failed_before)
{
	printf("%s %s\n", failed == failed_before ? "ok" : "FAIL", name);
}

static uint8_t writebuf[SPILL_BLOCK_BYTES];
static uint64_t tidbuf[1 << 16];

/* A spill in memory with its sparse index. */
typedef struct IndexedSpill
{
	MemSpill	f;
	size_t		nblocks;
	size_t		offsets[4096];
	uint8_t    *first[4096];	/* malloc'd copies */
	size_t		firstlen[4096];
} IndexedSpill;

/* The write callback: note the block's offset and first key, then write. */
static int
indexed_write(void *arg, const uint8_t *data, size_t len)
{
	IndexedSpill *s = (IndexedSpill *) arg;
	const uint8_t *key;
	size_t		keylen;

	if (s->nblocks < 4096)
	{
		s->offsets[s->nblocks] = s->f.len;
		if (spill_block_first_key(data, len, &key, &keylen))
		{
			s->first[s->nblocks] = malloc(keylen ? keylen : 1);
			memcpy(s->first[s->nblocks], key, keylen);
			s->firstlen[s->nblocks] = keylen;
		}
		else
			s->first[s->nblocks] = NULL;
		s->nblocks++;
	}
	return memspill_write(&s->f, data, len);
}

/* Keys over a small alphabet, some long, some repeated many times. */
static Pair *
make_pairs(size_t n, uint8_t **pool, size_t npool, size_t *np)
{
	Pair	   *p = malloc(n * sizeof(Pair));
	size_t		i;

	for (i = 0; i < n; i++)
	{
		size_t		k = rndn(5) == 0 ? 0 : rndn(npool);	/* key 0: many TIDs */

		p[i].key = pool[k];
		p[i].len = (uint32_t) strlen((const char *) pool[k]);
		p[i].tid = rndn(1u << 30);
	}
	*np = pairs_sort_unique(p, n);
	return p;
}

/* A reader's start block for lower bound lo: the last whose first key is below it. */
static uint32_t
start_block(const IndexedSpill *s, const uint8_t *lo, size_t lolen)
{
	uint32_t	b = 0;
	size_t		i;

	if (lo == NULL)
		return 0;
	for (i = 1; i < s->nblocks; i++)
		if (s->first[i] != NULL &&
			spill_key_cmp(s->first[i], s->firstlen[i], lo, lolen) < 0)
			b = (uint32_t) i;
	return b;
}

/* Is p in [lo, hi)? */
static bool
in_range(const Pair *p, const uint8_t *lo, size_t lolen, const uint8_t *hi,
		 size_t hilen)
{
	return (lo == NULL || spill_key_cmp(p->key, p->len, lo, lolen) >= 0) &&
		(hi == NULL || spill_key_cmp(p->key, p->len, hi, hilen) < 0);
}

/* A random pool of keys, sorted or not, NUL-terminated (no NUL inside). */
static uint8_t **
make_pool(size_t npool)
{
	uint8_t   **pool = malloc(npool * sizeof(uint8_t *));
	size_t		i;

	for (i = 0; i < npool; i++)
	{
		size_t		len = rndn(10) == 0 ? 1000 + rndn(1500) : 1 + rndn(12);
		size_t		j;

		pool[i] = malloc(len + 1);
		for (j = 0; j < len; j++)
			pool[i][j] = "abc/"[rndn(4)];
		pool[i][len] = 0;
	}
	return pool;
}

/* Range reads and range merges against the pairs filtered. */
static void
test_ranges(void)
{
	long		before = failed;
	int			iter;

	for (iter = 0; iter < 200; iter++)
	{
		int			nspills = 1 + (int) rndn(4);
		size_t		npool = 2 + rndn(300);
		uint8_t   **pool = make_pool(npool);
		static IndexedSpill s[4];
		static SpillReader r[4];
		static uint8_t rbuf[4][SPILL_BLOCK_BYTES];
		SpillReader *readers[4];
		Pair	   *all = malloc(sizeof(Pair) * 4 * 6000);
		size_t		nall = 0;
		const uint8_t *lo = NULL;
		const uint8_t *hi = NULL;
		size_t		lolen = 0;
		size_t		hilen = 0;
		SpillMerge	m;
		SpillMergeOut out;
		SpillStatus st;
		size_t		k = 0;
		size_t		i;
		int			j;
		bool		same = true;

		for (j = 0; j < nspills; j++)
		{
			size_t		n;
			Pair	   *p = make_pairs(1 + rndn(6000), pool, npool, &n);
			SpillWriter *w = malloc(sizeof(SpillWriter));

			memset(&s[j], 0, sizeof(IndexedSpill));
			st = spill_writer_init(w, writebuf, SPILL_MIN_BLOCK, indexed_write,
								   &s[j]);
			if (st == SPILL_OK)
				st = pairs_write(w, p, n, tidbuf, rnd());
			CHECK(st == SPILL_OK, "iter %d: write %d: %s", iter, st, w->errmsg);
			memcpy(all + nall, p, n * sizeof(Pair));
			nall += n;
			free(p);
			free(w);
		}
		nall = pairs_sort_unique(all, nall);
		/* bounds: a present key (often key 0, of many TIDs), or none */
		if (rndn(4) != 0)
		{
			lo = pool[rndn(3) == 0 ? 0 : rndn(npool)];
			lolen = strlen((const char *) lo);
		}
		if (rndn(4) != 0)
		{
			hi = pool[rndn(npool)];
			hilen = strlen((const char *) hi);
		}
		for (j = 0; j < nspills; j++)
		{
			uint32_t	b = start_block(&s[j], lo, lolen);

			memspill_rewind(&s[j].f, s[j].f.len);
			s[j].f.rpos = s[j].offsets[b];
			spill_reader_init(&r[j], rbuf[j], memspill_read, &s[j].f);
			spill_reader_set_range(&r[j], b, lo, lolen, hi, hilen);
			readers[j] = &r[j];
		}
		st = spill_merge_init(&m, readers, (uint32_t) nspills);
		while (st == SPILL_OK && (st = spill_merge_next(&m, &out)) == SPILL_OK)
		{
			uint32_t	t;

			for (t = 0; t < out.ntids; t++)
			{
				while (k < nall && !in_range(&all[k], lo, lolen, hi, hilen))
					k++;
				if (k < nall && all[k].len == out.keylen &&
					memcmp(all[k].key, out.key, out.keylen) == 0 &&
					all[k].tid == out.tids[t])
					k++;
				else
					same = false;
			}
		}
		while (k < nall && !in_range(&all[k], lo, lolen, hi, hilen))
			k++;
		CHECK(st == SPILL_END && same && k == nall,
			  "iter %d: range merge status %d (%s), same %d, %zu of %zu",
			  iter, st, m.errmsg, same, k, nall);
		for (j = 0; j < nspills; j++)
		{
			for (i = 0; i < s[j].nblocks; i++)
				free(s[j].first[i]);
			free(s[j].f.data);
		}
		for (i = 0; i < npool; i++)
			free(pool[i]);
		free(pool);
		free(all);
	}
	report_result("range reads and merges", before);
}

/* A block with no entry, or bytes that do not start an entry: no key. */
static void
test_first_key_refuses(void)
{
	long		before = failed;
	uint8_t		block[64] = {0};
	const uint8_t *key;
	size_t		keylen;

	CHECK(!spill_block_first_key(block, SPILL_HEADER_BYTES, &key, &keylen),
		  "an empty block has a first key");
	block[12] = 1;				/* one entry */
	block[SPILL_HEADER_BYTES] = 3;	/* shared 3 in a block's first entry */
	CHECK(!spill_block_first_key(block, sizeof(block), &key, &keylen),
		  "a first entry sharing bytes was taken");
	block[SPILL_HEADER_BYTES] = 0;
	block[SPILL_HEADER_BYTES + 1] = 200 << 1 & 0x7F;	/* a varint cut short */
	block[SPILL_HEADER_BYTES + 1] |= 0x80;
	block[SPILL_HEADER_BYTES + 2] = 0x01;
	CHECK(!spill_block_first_key(block, sizeof(block), &key, &keylen),
		  "a key past the block's end was taken");
	block[SPILL_HEADER_BYTES + 1] = 3 << 1;
	block[SPILL_HEADER_BYTES + 2] = 'x';
	CHECK(spill_block_first_key(block, sizeof(block), &key, &keylen) &&
		  keylen == 3 && key[0] == 'x', "a 3-byte first key was not found");
	report_result("first key of a block", before);
}

int
main(void)
{
	test_ranges();
	test_first_key_refuses();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
