/*-------------------------------------------------------------------------
 *
 * test_spill.c
 *	  Unit tests of the spill format (src/spill.c): random sorted sets
 *	  round-trip through writer and reader (empty, one key, 2700-byte
 *	  keys, thousands of TIDs on a key, small and full-size blocks, short
 *	  reads); the writer refuses input out of order; callback failures
 *	  are reported; the merge of k random spills equals the sorted union
 *	  of their pairs; a spill truncated at every byte, or damaged at
 *	  random (with and without its CRC restamped), gives an error or --
 *	  restamped only -- valid ascending entries, never a crash; and the
 *	  size of the Debian paths sample spilled, against its raw size and
 *	  tuplesort's, is printed.
 *
 * Run from test/unit (make check does): it reads ../data/debian-paths.txt.
 *
 *-------------------------------------------------------------------------
 */
#include "spill.h"
#include "crc32c.h"

#include <dirent.h>

#include "unit_check.h"
#include "spill_test_util.h"

/* Print "ok NAME" or "FAIL NAME": did any CHECK fail since failed_before? */
static void
report(const char *name, long failed_before)
{
	printf("%s %s\n", failed == failed_before ? "ok" : "FAIL", name);
}

static uint8_t readbuf[SPILL_BLOCK_BYTES];
static uint8_t writebuf[SPILL_BLOCK_BYTES];
static uint64_t tidbuf[1 << 20];

/* Keys: a pool of prefixes, then random bytes from a small alphabet. */
static const char *prefixes[] = {
	"", "usr/", "usr/share/", "usr/share/doc/", "usr/lib/x86_64-linux-gnu/",
	"a", "ab", "abc"
};

/* A random key into buf (room for SPILL_MAX_KEY); its length. */
static uint32_t
random_key(uint8_t *buf, bool allow_long)
{
	static const uint8_t alphabet[] = {0, 'a', 'b', 'c', '/', 0xFF};
	const char *pre = prefixes[rndn(sizeof(prefixes) / sizeof(prefixes[0]))];
	uint32_t	len = (uint32_t) strlen(pre);
	uint32_t	extra;
	uint32_t	i;

	memcpy(buf, pre, len);
	if (allow_long && rndn(20) == 0)
		extra = SPILL_MAX_KEY - len - (uint32_t) rndn(3);
	else
		extra = (uint32_t) rndn(12);
	for (i = 0; i < extra; i++)
		buf[len + i] = alphabet[rndn(sizeof(alphabet))];
	return len + extra;
}

/* The keys random_pairs allocated, for keys_free. */
typedef struct KeySet
{
	uint8_t   **keys;
	size_t		n;
} KeySet;

/* n random pairs over nkeys random keys (malloc'd into *ks). */
static Pair *
random_pairs(size_t n, size_t nkeys, bool allow_long, KeySet *ks)
{
	Pair	   *p = malloc((n ? n : 1) * sizeof(Pair));
	uint32_t   *lens = malloc((nkeys ? nkeys : 1) * sizeof(uint32_t));
	uint8_t		buf[SPILL_MAX_KEY];
	size_t		i;

	ks->keys = malloc((nkeys ? nkeys : 1) * sizeof(uint8_t *));
	ks->n = nkeys;
	for (i = 0; i < nkeys; i++)
	{
		lens[i] = random_key(buf, allow_long);
		ks->keys[i] = malloc(lens[i] ? lens[i] : 1);
		memcpy(ks->keys[i], buf, lens[i]);
	}
	for (i = 0; i < n; i++)
	{
		size_t		k = rndn(nkeys);

		p[i].key = ks->keys[k];
		p[i].len = lens[k];
		p[i].tid = rndn(4) == 0 ? rndn(100) :
			rndn(UINT64_C(1) << (rndn(4) == 0 ? 63 : 40));
	}
	free(lens);
	return p;
}

static void
keys_free(KeySet *ks)
{
	size_t		i;

	for (i = 0; i < ks->n; i++)
		free(ks->keys[i]);
	free(ks->keys);
}

/* Write pairs (sorted, unique) into f; the writer's status. */
static SpillStatus
write_spill(MemSpill *f, const Pair *p, size_t n, size_t blocksize,
			SpillWriter *w)
{
	SpillStatus st = spill_writer_init(w, writebuf, blocksize, memspill_write, f);

	if (st != SPILL_OK)
		return st;
	return pairs_write(w, p, n, tidbuf, rnd());
}

/*
 * Read f back and compare with the expected pairs.  Returns the reader's
 * final status; *nmatch is how many leading pairs matched.
 */
static SpillStatus
read_compare(MemSpill *f, const Pair *p, size_t n, size_t *nmatch,
			 bool *ordered)
{
	static SpillReader r;
	SpillStatus st;
	size_t		k = 0;
	bool		same = true;
	uint8_t		prev[SPILL_MAX_KEY];
	uint32_t	prevlen = 0;
	uint64_t	prevtid = 0;
	bool		have = false;

	*ordered = true;
	spill_reader_init(&r, readbuf, memspill_read, f);
	while ((st = spill_reader_next(&r)) == SPILL_OK)
	{
		uint32_t	i;

		if (r.ntids < 1 || r.ntids > SPILL_ENTRY_TIDS || r.keylen > SPILL_MAX_KEY)
			*ordered = false;
		for (i = 0; i < r.ntids; i++)
		{
			int			c = have ? spill_key_cmp(r.key, r.keylen, prev, prevlen) : 1;

			if (c < 0 || (c == 0 && r.tids[i] <= prevtid))
				*ordered = false;
			memcpy(prev, r.key, r.keylen);
			prevlen = r.keylen;
			prevtid = r.tids[i];
			have = true;
			if (same && k < n && p[k].len == r.keylen &&
				memcmp(p[k].key, r.key, r.keylen) == 0 && p[k].tid == r.tids[i])
				k++;
			else
				same = false;
		}
	}
	if (st < 0 && r.errmsg[0] == '\0')
		*ordered = false;		/* an error without a message */
	*nmatch = k;
	return st;
}

/* Round trips of random sorted sets of many shapes. */
static void
test_round_trip(void)
{
	long		before = failed;
	int			iter;

	for (iter = 0; iter < 300; iter++)
	{
		size_t		n;
		size_t		nkeys;
		size_t		blocksize = rndn(2) ? SPILL_BLOCK_BYTES : SPILL_MIN_BLOCK + rndn(4096);
		Pair	   *p;
		KeySet		ks;
		MemSpill	f;
		static SpillWriter w;
		SpillStatus st;
		size_t		nmatch;
		bool		ordered;

		switch (iter % 6)
		{
			case 0:
				n = 0;
				nkeys = 1;
				break;
			case 1:
				n = 1;
				nkeys = 1;
				break;
			case 2:				/* many TIDs per key */
				n = 1 + rndn(5000);
				nkeys = 1 + rndn(3);
				break;
			default:
				n = rndn(20000);
				nkeys = 1 + rndn(n + 1);
				break;
		}
		p = random_pairs(n, nkeys, true, &ks);
		n = pairs_sort_unique(p, n);
		memspill_init(&f);
		st = write_spill(&f, p, n, blocksize, &w);
		CHECK(st == SPILL_OK, "iter %d: write status %d: %s", iter, st, w.errmsg);
		CHECK(w.ntids == n, "iter %d: writer counted %llu TIDs of %zu", iter,
			  (unsigned long long) w.ntids, n);
		CHECK(w.nbytes == f.len, "iter %d: nbytes %llu, file %zu", iter,
			  (unsigned long long) w.nbytes, f.len);
		if (n == 0)
			CHECK(f.len == SPILL_HEADER_BYTES, "empty spill is %zu bytes", f.len);
		f.short_reads = rndn(3) == 0 ? 1 + (uint32_t) rndn(100) : 0;
		memspill_rewind(&f, f.len);
		st = read_compare(&f, p, n, &nmatch, &ordered);
		CHECK(st == SPILL_END && nmatch == n && ordered,
			  "iter %d: read status %d, %zu of %zu pairs match", iter, st, nmatch, n);
		free(f.data);
		free(p);
		keys_free(&ks);
	}
	report("round trip", before);
}

/* One key with 70,000 TIDs, and the longest key allowed. */
static void
test_extremes(void)
{
	long		before = failed;
	static uint8_t key[SPILL_MAX_KEY + 1];
	static SpillWriter w;
	static SpillReader r;
	MemSpill	f;
	size_t		i;
	uint64_t	total = 0;
	uint64_t	next = 5;
	bool		ok = true;
	SpillStatus st;

	memset(key, 'k', sizeof(key));
	tidbuf[0] = 5;
	for (i = 0; i + 1 < 70000; i++)
		tidbuf[i + 1] = tidbuf[i] + 1 + (i + 1) % 3;
	memspill_init(&f);
	spill_writer_init(&w, writebuf, SPILL_MIN_BLOCK, memspill_write, &f);
	CHECK(spill_writer_add(&w, key, SPILL_MAX_KEY, tidbuf, 70000) == SPILL_OK,
		  "70000 TIDs on a 2700-byte key: %s", w.errmsg);
	CHECK(spill_writer_finish(&w) == SPILL_OK, "finish: %s", w.errmsg);
	CHECK(w.nentries == (70000 + SPILL_ENTRY_TIDS - 1) / SPILL_ENTRY_TIDS,
		  "entries %llu", (unsigned long long) w.nentries);
	CHECK(w.nkeys == 1, "keys %llu", (unsigned long long) w.nkeys);
	memspill_rewind(&f, f.len);
	spill_reader_init(&r, readbuf, memspill_read, &f);
	while ((st = spill_reader_next(&r)) == SPILL_OK)
	{
		if (r.keylen != SPILL_MAX_KEY || memcmp(r.key, key, SPILL_MAX_KEY) != 0)
			ok = false;
		for (i = 0; i < r.ntids; i++, total++)
		{
			if (r.tids[i] != next)
				ok = false;
			next += 1 + (total + 1) % 3;
		}
	}
	CHECK(st == SPILL_END && ok && total == 70000, "read back %llu TIDs, ok %d",
		  (unsigned long long) total, ok);
	free(f.data);
	report("extremes", before);
}

/* The writer's rules and the callbacks' failures. */
static void
test_usage(void)
{
	long		before = failed;
	static SpillWriter w;
	static SpillReader r;
	MemSpill	f;
	uint64_t	t[3] = {1, 2, 3};
	uint64_t	bad[2] = {4, 4};
	static uint8_t longkey[SPILL_MAX_KEY + 1];
	int			i;

	memspill_init(&f);
	CHECK(spill_writer_init(&w, writebuf, SPILL_MIN_BLOCK - 1, memspill_write, &f) == SPILL_ERR_USAGE,
		  "small block accepted");
	CHECK(spill_writer_init(&w, writebuf, SPILL_BLOCK_BYTES + 1, memspill_write, &f) == SPILL_ERR_USAGE,
		  "big block accepted");

#define FRESH() spill_writer_init(&w, writebuf, SPILL_MIN_BLOCK, memspill_write, &f)
	FRESH();
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t, 1) == SPILL_OK, "b");
	CHECK(spill_writer_add(&w, (const uint8_t *) "a", 1, t, 1) == SPILL_ERR_USAGE, "descending key");
	CHECK(spill_writer_add(&w, (const uint8_t *) "c", 1, t, 1) == SPILL_ERR_USAGE, "not stuck");
	FRESH();
	spill_writer_add(&w, (const uint8_t *) "b", 1, t, 2);
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t + 1, 1) == SPILL_ERR_USAGE, "equal key, TID not after");
	FRESH();
	spill_writer_add(&w, (const uint8_t *) "b", 1, t, 2);
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t + 2, 1) == SPILL_OK, "equal key, TID after");
	CHECK(spill_writer_add(&w, (const uint8_t *) "ba", 2, t, 1) == SPILL_OK, "longer key");
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t, 1) == SPILL_ERR_USAGE, "prefix after its extension");
	FRESH();
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t, 0) == SPILL_ERR_USAGE, "no TIDs");
	FRESH();
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, bad, 2) == SPILL_ERR_USAGE, "repeated TID");
	FRESH();
	CHECK(spill_writer_add(&w, longkey, SPILL_MAX_KEY + 1, t, 1) == SPILL_ERR_USAGE, "key too long");
	FRESH();
	CHECK(spill_writer_finish(&w) == SPILL_OK, "finish");
	CHECK(spill_writer_add(&w, (const uint8_t *) "b", 1, t, 1) == SPILL_ERR_USAGE, "add after finish");
	CHECK(w.errmsg[0] != '\0', "no message");
	free(f.data);

	/* a failing write, at the first and at a later block */
	for (i = 1; i <= 2; i++)
	{
		SpillStatus st = SPILL_OK;
		int			k;

		memspill_init(&f);
		f.fail_write_at = i;
		FRESH();
		for (k = 0; k < 5000 && st == SPILL_OK; k++)
		{
			char		key[16];
			uint64_t	tid = (uint64_t) k;

			snprintf(key, sizeof(key), "key%06d", k);
			st = spill_writer_add(&w, (const uint8_t *) key, strlen(key), &tid, 1);
		}
		if (st == SPILL_OK)
			st = spill_writer_finish(&w);
		CHECK(st == SPILL_ERR_WRITE && w.errmsg[0], "write failure %d: %d", i, st);
		free(f.data);
	}
#undef FRESH

	/* a failing read, at every call of a 3-block spill */
	memspill_init(&f);
	spill_writer_init(&w, writebuf, SPILL_MIN_BLOCK, memspill_write, &f);
	for (i = 0; i < 3000; i++)
	{
		char		key[16];
		uint64_t	tid = (uint64_t) i;

		snprintf(key, sizeof(key), "key%06d", i);
		spill_writer_add(&w, (const uint8_t *) key, strlen(key), &tid, 1);
	}
	CHECK(spill_writer_finish(&w) == SPILL_OK && w.block_no >= 3, "blocks %u", w.block_no);
	for (i = 1; i <= (int) w.block_no * 2 + 1; i++)
	{
		SpillStatus st;

		memspill_rewind(&f, f.len);
		f.fail_read_at = i;
		spill_reader_init(&r, readbuf, memspill_read, &f);
		while ((st = spill_reader_next(&r)) == SPILL_OK)
			;
		CHECK(st == SPILL_ERR_READ && r.errmsg[0], "read failure at call %d: %d", i, st);
		CHECK(spill_reader_next(&r) == SPILL_ERR_READ, "error not sticky");
	}
	free(f.data);
	report("usage and I/O errors", before);
}

/* The merge of k random spills equals the sorted union of their pairs. */
static void
test_merge(void)
{
	long		before = failed;
	int			iter;

	for (iter = 0; iter < 60; iter++)
	{
		uint32_t	k = (uint32_t) rndn(10);
		size_t		nall = 0;
		size_t		nkeys = 1 + rndn(3000);
		size_t		total = 0;
		KeySet		ks;
		Pair	   *pool = random_pairs(20000, nkeys, iter % 4 == 0, &ks);
		Pair	   *all;
		MemSpill   *files = calloc(k + 1, sizeof(MemSpill));
		SpillReader **readers = calloc(k + 1, sizeof(SpillReader *));
		SpillReader **heap = calloc(k + 1, sizeof(SpillReader *));
		uint8_t   **bufs = calloc(k + 1, sizeof(uint8_t *));
		static SpillMerge m;
		static SpillWriter w;
		SpillMergeOut out;
		SpillStatus st;
		size_t		pos = 0;
		bool		ok = true;
		bool		pieces_ok = true;
		uint32_t	i;

		/* spill i holds a random slice of the pool, so spills overlap */
		all = malloc(20000 * (k + 1) * sizeof(Pair));
		for (i = 0; i < k; i++)
		{
			size_t		n = rndn(iter % 5 == 0 ? 20000 : 3000);
			size_t		start = rndn(20000 - n + 1);
			Pair	   *p = malloc((n ? n : 1) * sizeof(Pair));

			memcpy(p, pool + start, n * sizeof(Pair));
			n = pairs_sort_unique(p, n);
			memspill_init(&files[i]);
			st = write_spill(&files[i], p, n, SPILL_MIN_BLOCK + rndn(SPILL_BLOCK_BYTES - SPILL_MIN_BLOCK), &w);
			CHECK(st == SPILL_OK, "merge %d: write %u: %s", iter, i, w.errmsg);
			memcpy(all + nall, p, n * sizeof(Pair));
			nall += n;
			free(p);
			memspill_rewind(&files[i], files[i].len);
			files[i].short_reads = rndn(2) ? 0 : 1000;
			readers[i] = malloc(sizeof(SpillReader));
			bufs[i] = malloc(SPILL_BLOCK_BYTES);
			spill_reader_init(readers[i], bufs[i], memspill_read, &files[i]);
		}
		nall = pairs_sort_unique(all, nall);

		/* the merge reorders (and drops from) its array: a copy */
		memcpy(heap, readers, k * sizeof(SpillReader *));
		st = spill_merge_init(&m, heap, k);
		CHECK(st == SPILL_OK, "merge %d: init %d %s", iter, st, m.errmsg);
		while ((st = spill_merge_next(&m, &out)) == SPILL_OK)
		{
			bool		same_as_prev = pos > 0 &&
				spill_key_cmp(out.key, out.keylen, all[pos - 1].key, all[pos - 1].len) == 0;

			if (out.ntids == 0 || out.ntids > SPILL_MERGE_TIDS ||
				out.new_key == same_as_prev)
				pieces_ok = false;
			for (i = 0; i < out.ntids; i++, pos++)
			{
				if (pos >= nall || all[pos].len != out.keylen ||
					memcmp(all[pos].key, out.key, out.keylen) != 0 ||
					all[pos].tid != out.tids[i])
				{
					ok = false;
					break;
				}
			}
			if (!ok)
				break;
			total += out.ntids;
		}
		CHECK(st == SPILL_END && ok && pos == nall && pieces_ok,
			  "merge %d of %u spills: status %d, %zu of %zu pairs, pieces ok %d",
			  iter, k, st, pos, nall, pieces_ok);
		CHECK(spill_merge_next(&m, &out) == SPILL_END, "END not sticky");
		for (i = 0; i < k; i++)
		{
			free(files[i].data);
			free(readers[i]);
			free(bufs[i]);
		}
		free(files);
		free(readers);
		free(heap);
		free(bufs);
		free(all);
		free(pool);
		keys_free(&ks);
		(void) total;
	}
	report("merge", before);
}

/* A merge whose input is damaged reports the reader's error. */
static void
test_merge_damage(void)
{
	long		before = failed;
	static SpillWriter w;
	static SpillReader r1;
	static SpillReader r2;
	static uint8_t buf2[SPILL_BLOCK_BYTES];
	static SpillMerge m;
	SpillReader *readers[2] = {&r1, &r2};
	SpillMergeOut out;
	MemSpill	f1;
	MemSpill	f2;
	SpillStatus st;
	int			i;

	memspill_init(&f1);
	memspill_init(&f2);
	spill_writer_init(&w, writebuf, SPILL_MIN_BLOCK, memspill_write, &f1);
	for (i = 0; i < 3000; i++)
	{
		char		key[16];
		uint64_t	tid = (uint64_t) i;

		snprintf(key, sizeof(key), "key%06d", i);
		spill_writer_add(&w, (const uint8_t *) key, strlen(key), &tid, 1);
	}
	spill_writer_finish(&w);
	memspill_write(&f2, f1.data, f1.len);
	f2.data[f2.len / 2] ^= 0x10;
	memspill_rewind(&f1, f1.len);
	memspill_rewind(&f2, f2.len);
	spill_reader_init(&r1, readbuf, memspill_read, &f1);
	spill_reader_init(&r2, buf2, memspill_read, &f2);
	st = spill_merge_init(&m, readers, 2);
	while (st == SPILL_OK)
		st = spill_merge_next(&m, &out);
	CHECK(st == SPILL_ERR_CORRUPT && strstr(m.errmsg, "checksum") != NULL,
		  "merge of a damaged spill: %d %s", st, m.errmsg);
	free(f1.data);
	free(f2.data);
	report("merge of a damaged spill", before);
}

/* Restamp every block's CRC (after damage), walking the headers. */
static void
restamp(uint8_t *data, size_t len)
{
	size_t		off = 0;

	while (off + SPILL_HEADER_BYTES <= len)
	{
		uint32_t	plen = (uint32_t) data[off + 8] | (uint32_t) data[off + 9] << 8 |
			(uint32_t) data[off + 10] << 16 | (uint32_t) data[off + 11] << 24;
		uint32_t	c;

		if (plen > len - off - SPILL_HEADER_BYTES)
			return;
		c = crc32c(data + off + 4, SPILL_HEADER_BYTES - 4 + plen);
		data[off] = (uint8_t) c;
		data[off + 1] = (uint8_t) (c >> 8);
		data[off + 2] = (uint8_t) (c >> 16);
		data[off + 3] = (uint8_t) (c >> 24);
		off += SPILL_HEADER_BYTES + plen;
	}
}

/*
 * Truncation at every byte gives SPILL_ERR_CORRUPT after a prefix of the
 * right entries; random damage gives SPILL_ERR_CORRUPT, and with the CRCs
 * restamped an error or strictly ascending entries.
 */
static void
test_damage(void)
{
	long		before = failed;
	static SpillWriter w;
	Pair	   *p;
	KeySet		ks;
	size_t		n = 1500;
	size_t		nkeys = 700;
	size_t		cut;
	size_t		nmatch;
	bool		ordered;
	MemSpill	f;
	MemSpill	g;
	SpillStatus st;
	int			iter;
	int			restamped_ok = 0;
	int			restamped_err = 0;

	p = random_pairs(n, nkeys, false, &ks);
	n = pairs_sort_unique(p, n);
	memspill_init(&f);
	st = write_spill(&f, p, n, SPILL_MIN_BLOCK, &w);
	CHECK(st == SPILL_OK && w.block_no >= 2, "damage: write %d, %u blocks", st, w.block_no);
	for (cut = 0; cut < f.len; cut++)
	{
		memspill_rewind(&f, cut);
		st = read_compare(&f, p, n, &nmatch, &ordered);
		if (!(st == SPILL_ERR_CORRUPT && ordered && nmatch < n))
		{
			CHECK(false, "truncated at %zu of %zu: status %d, %zu matched", cut, f.len, st, nmatch);
			break;
		}
	}
	CHECK(cut == f.len, "truncation stopped at %zu", cut);

	memspill_init(&g);
	memspill_write(&g, f.data, f.len);
	for (iter = 0; iter < 4000; iter++)
	{
		int			nflip = 1 + (int) rndn(3);
		int			i;
		bool		restamped = iter % 2 == 1;

		memcpy(g.data, f.data, f.len);
		for (i = 0; i < nflip; i++)
		{
			/* restamped: damage the payloads, where the decoder must catch it */
			g.data[rndn(f.len)] ^= (uint8_t) (1 + rndn(255));
		}
		if (memcmp(g.data, f.data, f.len) == 0)
			continue;
		if (restamped)
			restamp(g.data, g.len);
		memspill_rewind(&g, g.len);
		st = read_compare(&g, p, n, &nmatch, &ordered);
		if (!restamped)
			CHECK(st == SPILL_ERR_CORRUPT && ordered,
				  "damage %d: status %d", iter, st);
		else
		{
			CHECK(ordered && (st == SPILL_ERR_CORRUPT || st == SPILL_END),
				  "restamped damage %d: status %d, ordered %d", iter, st, ordered);
			if (st == SPILL_END)
				restamped_ok++;
			else
				restamped_err++;
		}
	}
	printf("restamped damage: %d errors, %d read as other valid entries\n",
		   restamped_err, restamped_ok);
	CHECK(restamped_err > 1000, "the decoder caught only %d", restamped_err);
	free(f.data);
	free(g.data);
	free(p);
	keys_free(&ks);
	report("truncation and damage", before);
}

/*
 * The Debian paths sample spilled (sorted, TIDs of a heap of 40 rows a
 * page): bytes per key against the raw keys + 6-byte TIDs, and against
 * tuplesort's tape for (text, tid) minimal tuples: a 4-byte length word
 * plus the tuple without its first 10 bytes; the tuple is a 16-byte header
 * then the text (1-byte header up to 126 bytes, else 4-byte aligned with a
 * 4-byte header) and the 2-byte-aligned 6-byte TID.
 */
static void
test_paths_size(void)
{
	long		before = failed;
	FILE	   *fp = fopen("../data/debian-paths.txt", "r");
	static char line[8192];
	static SpillWriter w;
	Pair	   *p = malloc(30000 * sizeof(Pair));
	size_t		n = 0;
	size_t		i;
	size_t		nmatch;
	bool		ordered;
	uint64_t	raw = 0;
	uint64_t	keybytes = 0;
	uint64_t	tuplesort = 0;
	MemSpill	f;
	SpillStatus st;

	CHECK(fp != NULL, "cannot open ../data/debian-paths.txt");
	if (!fp)
		return;
	while (n < 30000 && fgets(line, sizeof(line), fp))
	{
		size_t		len = strcspn(line, "\n");
		uint8_t    *k = malloc(len ? len : 1);
		size_t		data;

		memcpy(k, line, len);
		p[n].key = k;
		p[n].len = (uint32_t) len;
		p[n].tid = ((uint64_t) (n / 40) << 16) | (n % 40 + 1);
		keybytes += len;
		raw += len + 6;
		data = len <= 126 ? 1 + len : 4 + len;
		data = (data + 1) & ~(size_t) 1;
		tuplesort += 4 + 16 + data + 6 - 10;
		n++;
	}
	fclose(fp);
	qsort(p, n, sizeof(Pair), pair_cmp);
	memspill_init(&f);
	st = write_spill(&f, p, n, SPILL_BLOCK_BYTES, &w);
	CHECK(st == SPILL_OK, "paths: %s", w.errmsg);
	memspill_rewind(&f, f.len);
	st = read_compare(&f, p, n, &nmatch, &ordered);
	CHECK(st == SPILL_END && nmatch == n, "paths read back %zu of %zu", nmatch, n);
	printf("paths sample: %zu keys, %.1f key bytes a key; spill %.1f bytes a key "
		   "(%.1f%% of keys + TIDs, %.1f%% of tuplesort's %.1f)\n",
		   n, (double) keybytes / n, (double) f.len / n,
		   100.0 * f.len / raw, 100.0 * f.len / tuplesort,
		   (double) tuplesort / n);
	/* front coding must at least halve the raw size of sorted paths */
	CHECK(f.len * 2 < raw, "spill %zu bytes, raw %llu", f.len, (unsigned long long) raw);
	for (i = 0; i < n; i++)
		free((void *) p[i].key);
	free(p);
	free(f.data);
	report("paths sample size", before);
}

/* A hand-made spill: blocks appended by craft_block. */
static MemSpill craft;

static uint8_t *
craft_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80)
	{
		*p++ = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t) v;
	return p;
}

/* Append a block (header with a right CRC) of the given payload. */
static void
craft_block(uint32_t block_no, const uint8_t *payload, uint32_t len,
			uint32_t nentries, uint32_t flags)
{
	static uint8_t blk[SPILL_BLOCK_BYTES + 16];
	uint32_t	c;

	blk[4] = (uint8_t) block_no;
	blk[5] = (uint8_t) (block_no >> 8);
	blk[6] = (uint8_t) (block_no >> 16);
	blk[7] = (uint8_t) (block_no >> 24);
	blk[8] = (uint8_t) len;
	blk[9] = (uint8_t) (len >> 8);
	blk[10] = (uint8_t) (len >> 16);
	blk[11] = (uint8_t) (len >> 24);
	blk[12] = (uint8_t) nentries;
	blk[13] = (uint8_t) (nentries >> 8);
	blk[14] = (uint8_t) flags;
	blk[15] = (uint8_t) (flags >> 8);
	memcpy(blk + 16, payload, len);
	c = crc32c(blk + 4, 12 + len);
	blk[0] = (uint8_t) c;
	blk[1] = (uint8_t) (c >> 8);
	blk[2] = (uint8_t) (c >> 16);
	blk[3] = (uint8_t) (c >> 24);
	memspill_write(&craft, blk, 16 + len);
}

/* Read craft to its end: status, and the message must contain want. */
static void
craft_expect(const char *name, SpillStatus want_st, const char *want)
{
	static SpillReader r;
	SpillStatus st;

	memspill_rewind(&craft, craft.len);
	spill_reader_init(&r, readbuf, memspill_read, &craft);
	while ((st = spill_reader_next(&r)) == SPILL_OK)
		;
	CHECK(st == want_st && (want == NULL || strstr(r.errmsg, want) != NULL),
		  "%s: status %d, message \"%s\"", name, st, r.errmsg);
	free(craft.data);
	memspill_init(&craft);
}

/*
 * Hand-made streams, each breaking one rule with right CRCs: each is
 * refused by its own check (the message says which).
 */
static void
test_rules(void)
{
	long		before = failed;
	static uint8_t pl[SPILL_BLOCK_BYTES];
	uint8_t    *q;
	int			i;

	memspill_init(&craft);
	/* a valid two-entry block, then variants */
#define ENTRY(q, shared, sfx, sfxlen, hi, lo) \
	(q = craft_varint(q, shared), q = craft_varint(q, (uint64_t) (sfxlen) << 1), \
	 memcpy(q, sfx, sfxlen), q += sfxlen, q = craft_varint(q, hi), q = craft_varint(q, lo))
	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	ENTRY(q, 2, "d", 1, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 2, SPILL_BLOCK_LAST);
	craft_expect("valid", SPILL_END, NULL);

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	ENTRY(q, 4, "d", 1, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 2, SPILL_BLOCK_LAST);
	craft_expect("shared past the previous key", SPILL_ERR_CORRUPT, "shares 4 bytes");

	q = pl;
	ENTRY(q, 1, "abc", 3, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("shared in a block's first entry", SPILL_ERR_CORRUPT, "shares 1 bytes");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	ENTRY(q, 1, "a", 1, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 2, SPILL_BLOCK_LAST);
	craft_expect("key order", SPILL_ERR_CORRUPT, "out of key order");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, 0);
	q = pl;
	ENTRY(q, 0, "ab", 2, 0, 2);
	craft_block(1, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("key order across blocks", SPILL_ERR_CORRUPT, "out of key order");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 5);
	ENTRY(q, 3, "", 0, 0, 5);
	craft_block(0, pl, (uint32_t) (q - pl), 2, SPILL_BLOCK_LAST);
	craft_expect("repeated key, TID not after", SPILL_ERR_CORRUPT, "TIDs not ascending");

	q = pl;
	ENTRY(q, 0, "abc", 3, (uint64_t) 1 << 48, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("first TID too large", SPILL_ERR_CORRUPT, "invalid first TID");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 0x10000);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("offset too large", SPILL_ERR_CORRUPT, "invalid first TID");

	/* several TIDs: count 2 + 300, and a delta past 2^64 */
	q = pl;
	q = craft_varint(q, 0);
	q = craft_varint(q, 3 << 1 | 1);
	memcpy(q, "abc", 3);
	q += 3;
	q = craft_varint(q, 300);
	q = craft_varint(q, 0);
	q = craft_varint(q, 1);
	for (i = 0; i < 301; i++)
		q = craft_varint(q, 0);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("too many TIDs", SPILL_ERR_CORRUPT, "more than 256 TIDs");

	q = pl;
	q = craft_varint(q, 0);
	q = craft_varint(q, 3 << 1 | 1);
	memcpy(q, "abc", 3);
	q += 3;
	q = craft_varint(q, 0);
	q = craft_varint(q, (UINT64_C(1) << 48) - 1);
	q = craft_varint(q, 0xFFFF);
	q = craft_varint(q, 0);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("TID past 2^64", SPILL_ERR_CORRUPT, "past 2^64");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	*q++ = 0;
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("trailing bytes", SPILL_ERR_CORRUPT, "after its last entry");

	craft_block(0, pl, 0, 0, SPILL_BLOCK_LAST);
	memspill_write(&craft, (const uint8_t *) "x", 1);
	craft_expect("data after the last block", SPILL_ERR_CORRUPT, "after its last block");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, 0);
	craft_block(2, pl, 0, 0, SPILL_BLOCK_LAST);
	craft_expect("block number", SPILL_ERR_CORRUPT, "numbered 2");

	craft_block(0, pl, 0, 0, 0);
	craft_expect("empty block not last", SPILL_ERR_CORRUPT, "0 entries");

	craft_block(0, pl, 0, 0, SPILL_BLOCK_LAST | 4);
	craft_expect("unknown flag", SPILL_ERR_CORRUPT, "unknown flags");

	q = pl;
	ENTRY(q, 0, "abc", 3, 0, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, 0);
	craft_expect("no last block", SPILL_ERR_CORRUPT, "0 of 16 header bytes");

	/*
	 * A full-size block whose last entry's suffix runs past its end (and
	 * past the reader's buffer): refused before it is copied.
	 */
	q = pl;
	for (i = 0; i < 24; i++)
	{
		q = craft_varint(q, 0);
		q = craft_varint(q, SPILL_MAX_KEY << 1);
		memset(q, 'a' + i, SPILL_MAX_KEY);
		q += SPILL_MAX_KEY;
		q = craft_varint(q, 0);
		q = craft_varint(q, 1);
	}
	q = craft_varint(q, 0);
	q = craft_varint(q, SPILL_MAX_KEY << 1);
	memset(q, 'z', pl + SPILL_BLOCK_BYTES - SPILL_HEADER_BYTES - q);
	q = pl + SPILL_BLOCK_BYTES - SPILL_HEADER_BYTES;
	craft_block(0, pl, (uint32_t) (q - pl), 25, SPILL_BLOCK_LAST);
	craft_expect("suffix past the block", SPILL_ERR_CORRUPT, "runs past the end");

	q = pl;
	q = craft_varint(q, 0);
	q = craft_varint(q, (SPILL_MAX_KEY + 1) << 1);
	memset(q, 'a', SPILL_MAX_KEY + 1);
	q += SPILL_MAX_KEY + 1;
	q = craft_varint(q, 0);
	q = craft_varint(q, 1);
	craft_block(0, pl, (uint32_t) (q - pl), 1, SPILL_BLOCK_LAST);
	craft_expect("key too long", SPILL_ERR_CORRUPT, "longer than 2700");
#undef ENTRY
	report("each rule refused by its check", before);
}

/*
 * The committed fuzz seeds of the reading modes (0 and 1) were encoded by
 * a separate Python encoder from the format described in spill.h: each
 * must read to its end without error, a check that code and description
 * agree.
 */
static void
test_corpus(void)
{
	long		before = failed;
	DIR		   *d = opendir("corpus/fuzz_spill");
	struct dirent *de;
	int			nread = 0;

	CHECK(d != NULL, "cannot open corpus/fuzz_spill");
	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char		path[512];
		FILE	   *fp;
		MemSpill	f;
		static uint8_t data[1 << 16];
		size_t		len;
		size_t		nmatch;
		bool		ordered;
		SpillStatus st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "corpus/fuzz_spill/%s", de->d_name);
		fp = fopen(path, "rb");
		if (!fp)
			continue;
		len = fread(data, 1, sizeof(data), fp);
		fclose(fp);
		if (len == 0 || data[0] > 1)
			continue;
		memspill_init(&f);
		memspill_write(&f, data + 1, len - 1);
		memspill_rewind(&f, f.len);
		st = read_compare(&f, NULL, 0, &nmatch, &ordered);
		CHECK(st == SPILL_END && ordered, "seed %s: status %d", de->d_name, st);
		free(f.data);
		nread++;
	}
	closedir(d);
	CHECK(nread >= 5, "only %d reading seeds", nread);
	report("fuzz seeds (Python-encoded) read", before);
}

int
main(void)
{
	test_round_trip();
	test_extremes();
	test_usage();
	test_merge();
	test_merge_damage();
	test_rules();
	test_damage();
	test_paths_size();
	test_corpus();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
