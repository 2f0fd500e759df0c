/*
 * test_runfilter.c
 *	  Unit tests of run filters (src/runfilter.c): sizing and the stored
 *	  parameters' check; no false negatives over many random key sets of
 *	  many sizes, laid out on pages as the run writer does and probed
 *	  there; the false-positive rate at the default 10 bits a key within
 *	  1.6% on random keys and on path-like keys whose probes are proper
 *	  prefixes of present ones (the workload of issue 14); a run of one
 *	  key, and none for no key; every probe inside the filter's pages; the
 *	  hash's avalanche and length sensitivity.
 */
#include "runfilter.h"
#include "unit_check.h"

#define PAGE_BYTES	8152		/* MEMKV_RUN_CHUNK */
#define OFFSET		40			/* memkv_filter_block_offset() */

/* A random key of 0..maxlen bytes. */
static size_t
rand_key(uint8_t *k, size_t maxlen)
{
	size_t		n = rndn(maxlen + 1);
	size_t		i;

	for (i = 0; i < n; i++)
		k[i] = (uint8_t) rnd();
	return n;
}

/* Lay contiguous blocks out on pages as the writer does (runbloom.c). */
static uint8_t *
to_pages(const uint8_t *blocks, const RunFilterParams *p)
{
	uint32_t	npages = runfilter_pages(p);
	uint8_t    *pages = calloc(npages, PAGE_BYTES);
	uint32_t	i;

	for (i = 0; i < npages; i++)
	{
		uint32_t	first = i * p->blocks_per_page;
		uint32_t	n = p->blocks_per_page < p->nblocks - first ?
			p->blocks_per_page : p->nblocks - first;

		memcpy(pages + (size_t) i * PAGE_BYTES + p->block_offset,
			   blocks + (size_t) first * RUNFILTER_BLOCK_BYTES,
			   (size_t) n * RUNFILTER_BLOCK_BYTES);
	}
	return pages;
}

/* A probe through the pages, as memkv_run_filter_may_hold does it. */
static bool
probe_pages(const uint8_t *pages, const RunFilterParams *p, uint64_t h)
{
	uint32_t	page,
				off;

	runfilter_locate(p, h, &page, &off);
	if (page >= runfilter_pages(p) || off + RUNFILTER_BLOCK_BYTES > PAGE_BYTES)
		return false;
	return runfilter_block_test(pages + (size_t) page * PAGE_BYTES + off, p, h);
}

static void
test_sizing(void)
{
	RunFilterParams p;

	CHECK(!runfilter_size(0, 10, PAGE_BYTES, OFFSET, &p), "no key, no filter");
	CHECK(!runfilter_size(5, 0, PAGE_BYTES, OFFSET, &p), "0 bits");
	CHECK(!runfilter_size(5, RUNFILTER_MAX_BITS + 1, PAGE_BYTES, OFFSET, &p),
		  "too many bits");
	CHECK(!runfilter_size(5, 10, 100, 40, &p), "a page of no block");
	CHECK(!runfilter_size(UINT64_MAX / 4, 10, PAGE_BYTES, OFFSET, &p),
		  "too many keys");
	CHECK(runfilter_size(1, 10, PAGE_BYTES, OFFSET, &p) && p.nblocks == 1 &&
		  p.nprobes == 7 && p.block_offset == OFFSET &&
		  p.blocks_per_page == (PAGE_BYTES - OFFSET) / 64,
		  "one key: one block, 7 probes, %u a page", p.blocks_per_page);
	CHECK(runfilter_params_check(&p, PAGE_BYTES), "sized parameters pass");
	CHECK(runfilter_size(100000, 10, PAGE_BYTES, OFFSET, &p) &&
		  p.nblocks == 1954 && runfilter_pages(&p) == 16,
		  "100,000 keys: %u blocks on %u pages", p.nblocks,
		  runfilter_pages(&p));
	CHECK(runfilter_size(1000, 1, PAGE_BYTES, OFFSET, &p) && p.nprobes == 1,
		  "1 bit: 1 probe");
	CHECK(runfilter_size(1000, 64, PAGE_BYTES, OFFSET, &p) &&
		  p.nprobes == RUNFILTER_MAX_PROBES, "64 bits: the most probes");
	p.nprobes = 0;
	CHECK(!runfilter_params_check(&p, PAGE_BYTES), "check: no probe");
	runfilter_size(1000, 10, PAGE_BYTES, OFFSET, &p);
	p.blocks_per_page++;
	CHECK(!runfilter_params_check(&p, PAGE_BYTES), "check: past the page");
	p.blocks_per_page = 0;
	CHECK(!runfilter_params_check(&p, PAGE_BYTES) && runfilter_pages(&p) == 0,
		  "check: no block a page");
	runfilter_size(1000, 10, PAGE_BYTES, OFFSET, &p);
	p.nblocks = 0;
	CHECK(!runfilter_params_check(&p, PAGE_BYTES), "check: no blocks");
}

/* Many key sets, each key probed back through the pages: always "maybe". */
static void
test_no_false_negatives(void)
{
	int			iter;

	for (iter = 0; iter < 300; iter++)
	{
		uint64_t	nkeys = 1 + rndn(rndn(4) ? 300 : 20000);
		int			bits = 1 + (int) rndn(iter % 3 ? 12 : RUNFILTER_MAX_BITS);
		RunFilterParams p;
		uint8_t    *blocks;
		uint8_t    *pages;
		uint64_t   *hashes = malloc(nkeys * sizeof(uint64_t));
		uint64_t	i,
					misses = 0;
		uint8_t		k[100];

		if (!runfilter_size(nkeys, bits, PAGE_BYTES, (uint16_t) rndn(65), &p))
		{
			CHECK(false, "size %llu keys at %d bits",
				  (unsigned long long) nkeys, bits);
			free(hashes);
			continue;
		}
		blocks = calloc(p.nblocks, RUNFILTER_BLOCK_BYTES);
		for (i = 0; i < nkeys; i++)
		{
			size_t		n = rand_key(k, sizeof(k));

			hashes[i] = runfilter_hash(k, n);
			runfilter_add(blocks, &p, hashes[i]);
		}
		pages = to_pages(blocks, &p);
		for (i = 0; i < nkeys; i++)
			misses += !runfilter_test(blocks, &p, hashes[i]) ||
				!probe_pages(pages, &p, hashes[i]);
		CHECK(misses == 0, "set %d (%llu keys, %d bits): %llu false negatives",
			  iter, (unsigned long long) nkeys, bits,
			  (unsigned long long) misses);
		free(blocks);
		free(pages);
		free(hashes);
	}
}

/*
 * The false-positive rate at the default bits per key: nkeys keys made by
 * `make` (i, buf) added, `probes` absent keys (make with `absent`) tested.
 */
typedef size_t (*KeyFn) (uint64_t i, bool absent, uint8_t *buf);

static double
fp_rate(uint64_t nkeys, uint64_t probes, KeyFn make)
{
	RunFilterParams p;
	uint8_t    *blocks;
	uint8_t		k[200];
	uint64_t	i,
				hits = 0;

	runfilter_size(nkeys, RUNFILTER_DEFAULT_BITS, PAGE_BYTES, OFFSET, &p);
	blocks = calloc(p.nblocks, RUNFILTER_BLOCK_BYTES);
	for (i = 0; i < nkeys; i++)
		runfilter_add(blocks, &p, runfilter_hash(k, make(i, false, k)));
	for (i = 0; i < probes; i++)
		hits += runfilter_test(blocks, &p, runfilter_hash(k, make(i, true, k)));
	free(blocks);
	return (double) hits / (double) probes;
}

/* Random 8-byte keys; absent ones are 9 bytes. */
static size_t
key_random(uint64_t i, bool absent, uint8_t *buf)
{
	uint64_t	x = i * 0x9e3779b97f4a7c15ULL + (absent ? 77 : 0);

	memcpy(buf, &x, 8);
	buf[8] = 'x';
	return absent ? 9 : 8;
}

/*
 * Path-like keys as the mixed workload writes them, k || '/~z' || n;
 * absent ones are the proper prefixes k (present in the bottom run).
 */
static size_t
key_path(uint64_t i, bool absent, uint8_t *buf)
{
	int			n = snprintf((char *) buf, 200,
							 "usr/share/doc/pkg%llu/examples/file%llu.txt",
							 (unsigned long long) (i / 7),
							 (unsigned long long) (i % 7));

	if (!absent)
		n += snprintf((char *) buf + n, 200 - n, "/~z%llu",
					  (unsigned long long) i);
	return (size_t) n;
}

static void
test_false_positives(void)
{
	double		r1 = fp_rate(100000, 400000, key_random);
	double		r2 = fp_rate(100000, 100000, key_path);
	double		r3 = fp_rate(1000, 400000, key_random);

	printf("false positives at %d bits a key: random %.3f%%, path prefixes %.3f%%, 1,000 keys %.3f%%\n",
		   RUNFILTER_DEFAULT_BITS, 100 * r1, 100 * r2, 100 * r3);
	CHECK(r1 <= 0.016 && r1 >= 0.004, "random keys: %.4f", r1);
	CHECK(r2 <= 0.016, "path prefixes: %.4f", r2);
	CHECK(r3 <= 0.016, "1,000 keys: %.4f", r3);
}

/* A run of one key: it passes, almost nothing else does. */
static void
test_one_key(void)
{
	RunFilterParams p;
	uint8_t		blocks[RUNFILTER_BLOCK_BYTES] = {0};
	uint8_t		k[16];
	uint64_t	i,
				hits = 0;

	CHECK(runfilter_size(1, RUNFILTER_DEFAULT_BITS, PAGE_BYTES, OFFSET, &p),
		  "one key sized");
	runfilter_add(blocks, &p, runfilter_hash((const uint8_t *) "only", 4));
	CHECK(runfilter_test(blocks, &p, runfilter_hash((const uint8_t *) "only", 4)),
		  "the one key passes");
	for (i = 0; i < 10000; i++)
	{
		memcpy(k, &i, 8);
		hits += runfilter_test(blocks, &p, runfilter_hash(k, 8));
	}
	CHECK(hits < 10, "one key: %llu of 10,000 others pass",
		  (unsigned long long) hits);
}

/* Probes stay inside the filter's pages for any valid parameters. */
static void
test_locate_bounds(void)
{
	int			iter;

	for (iter = 0; iter < 20000; iter++)
	{
		RunFilterParams p;
		uint32_t	page,
					off;
		uint64_t	h = rnd();

		p.block_offset = (uint16_t) rndn(PAGE_BYTES);
		p.blocks_per_page = (uint16_t) (1 + rndn(1 + (PAGE_BYTES - p.block_offset) / 64));
		p.nblocks = (uint32_t) (1 + rndn(rndn(2) ? 10 : RUNFILTER_MAX_BLOCKS));
		p.nprobes = (uint16_t) (1 + rndn(RUNFILTER_MAX_PROBES));
		if (!runfilter_params_check(&p, PAGE_BYTES))
			continue;
		runfilter_locate(&p, iter % 2 ? h : ~UINT64_C(0) - rndn(3), &page, &off);
		CHECK(page < runfilter_pages(&p) && off >= p.block_offset &&
			  off + RUNFILTER_BLOCK_BYTES <= PAGE_BYTES,
			  "locate: page %u of %u, offset %u", page, runfilter_pages(&p), off);
	}
}

/* Every input bit flips about half the output bits; lengths matter. */
static void
test_hash(void)
{
	uint8_t		k[24];
	uint64_t	flips = 0,
				trials = 0;
	int			iter,
				b;

	for (iter = 0; iter < 200; iter++)
	{
		size_t		n = 1 + rndn(sizeof(k));
		uint64_t	h;

		for (b = 0; b < (int) n; b++)
			k[b] = (uint8_t) rnd();
		h = runfilter_hash(k, n);
		for (b = 0; b < (int) n * 8; b++)
		{
			k[b / 8] ^= (uint8_t) (1 << (b % 8));
			flips += (uint64_t) __builtin_popcountll(h ^ runfilter_hash(k, n));
			k[b / 8] ^= (uint8_t) (1 << (b % 8));
			trials++;
		}
	}
	CHECK(flips > trials * 30 && flips < trials * 34,
		  "avalanche: %.2f of 64 bits flip", (double) flips / (double) trials);
	memset(k, 0, sizeof(k));
	CHECK(runfilter_hash(k, 1) != runfilter_hash(k, 2) &&
		  runfilter_hash(k, 8) != runfilter_hash(k, 9) &&
		  runfilter_hash(k, 0) != runfilter_hash(k, 1), "lengths differ");
	CHECK(runfilter_hash(NULL, 0) == runfilter_hash(k, 0), "empty key");
}

int
main(void)
{
	test_sizing();
	test_no_false_negatives();
	test_false_positives();
	test_one_key();
	test_locate_bounds();
	test_hash();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
