/*
 * test_runhdr.c
 *	  Unit tests of run headers (src/runhdr.c): random headers round-trip
 *	  through chunks of several capacities (1 byte up), every validation
 *	  rule fails with its own code when its field is damaged, logical pages
 *	  map to blocks as a linear walk of the extents says, fences sort
 *	  between the slices they separate, and slice lookups agree with a
 *	  linear scan over the fences.  All three header versions: version 3
 *	  (a filter, or none), version 2 (key counts and a CRC) and version 1,
 *	  which still decode; the filter's parameters and pages are checked.
 */
#include "runhdr.h"
#include "unit_check.h"

#define NBLOCKS		100000
#define PAGE_BYTES	8000

/* A header and the storage it points into. */
typedef struct TestHdr
{
	RunHeader	h;
	RunExtent	ext[40];
	RunSlice	sl[40];
	uint8_t		fences[40][64];
	RunTid		nulls[300];
} TestHdr;

/* A random key of 1..maxlen bytes over a small alphabet (long shared runs). */
static size_t
rand_key(uint8_t *k, size_t maxlen)
{
	size_t		n = 1 + rndn(maxlen);
	size_t		i;

	for (i = 0; i < n; i++)
		k[i] = (uint8_t) ("ab/\x01\xff"[rndn(5)]);
	return n;
}

/* Sort keys[0..n) (each 64 bytes, lengths in lens) and drop duplicates. */
static size_t
sort_keys(uint8_t (*keys)[64], size_t *lens, size_t n)
{
	size_t		i,
				j,
				m = 0;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && runhdr_key_cmp(keys[j - 1], lens[j - 1],
											keys[j], lens[j]) > 0; j--)
		{
			uint8_t		t[64];
			size_t		tl = lens[j];

			memcpy(t, keys[j], 64);
			memcpy(keys[j], keys[j - 1], 64);
			memcpy(keys[j - 1], t, 64);
			lens[j] = lens[j - 1];
			lens[j - 1] = tl;
		}
	for (i = 0; i < n; i++)
		if (m == 0 || runhdr_key_cmp(keys[m - 1], lens[m - 1], keys[i], lens[i]) != 0)
		{
			memmove(keys[m], keys[i], 64);
			lens[m++] = lens[i];
		}
	return m;
}

/* make_header's version (0: any) and whether a version 3 gets a filter */
static uint16_t want_version = 0;
static bool force_filter = false;

/*
 * Give a version-3 header a filter on its last 1..4 pages (of npages >= 2);
 * returns the page the slices must end before.
 */
static uint32_t
make_filter(TestHdr *t)
{
	RunFilterParams *f = &t->h.filter;
	uint32_t	most = t->h.npages - 1 < 4 ? t->h.npages - 1 : 4;
	uint32_t	fp = 1 + (uint32_t) rndn(most);

	f->block_offset = rndn(2) ? 40 : (uint16_t) rndn(64);
	f->blocks_per_page = (uint16_t) ((PAGE_BYTES - f->block_offset) / 64);
	f->nblocks = (fp - 1) * f->blocks_per_page + 1 +
		(uint32_t) rndn(f->blocks_per_page);
	f->nprobes = (uint16_t) (1 + rndn(RUNFILTER_MAX_PROBES));
	t->h.filter_page = t->h.npages - fp;
	t->h.filter_crc = (uint32_t) rnd();
	return t->h.filter_page;
}

/* Fill t with a random valid header. */
static void
make_header(TestHdr *t)
{
	uint32_t	limit;
	uint32_t	ne = (uint32_t) rndn(12);
	uint32_t	i,
				pos = 1 + (uint32_t) rndn(50);
	uint8_t		keys[80][64];
	size_t		klens[80];
	size_t		nk;

	memset(t, 0, sizeof(*t));
	t->h.version = want_version ? want_version :
		(uint16_t) (rndn(4) == 0 ? RUNHDR_VERSION_1 :
					rndn(3) == 0 ? RUNHDR_VERSION_2 : RUNHDR_VERSION);
	t->h.run_id = rnd();
	t->h.extents = t->ext;
	t->h.slices = t->sl;
	t->h.nulls = t->nulls;
	/* disjoint extents in block order, then shuffled into logical order */
	for (i = 0; i < ne; i++)
	{
		t->ext[i].start = pos;
		t->ext[i].length = 1 + (uint32_t) rndn(rndn(2) ? 3 : 200);
		pos += t->ext[i].length + (uint32_t) rndn(30);
	}
	for (i = ne; i > 1; i--)
	{
		uint32_t	j = (uint32_t) rndn(i);
		RunExtent	x = t->ext[i - 1];

		t->ext[i - 1] = t->ext[j];
		t->ext[j] = x;
	}
	t->h.nextents = ne;
	for (i = 0; i < ne; i++)
	{
		t->ext[i].lpage = t->h.npages;
		t->h.npages += t->ext[i].length;
	}

	/* the filter, on the last pages; slices before it */
	limit = t->h.npages;
	if (t->h.version == RUNHDR_VERSION && t->h.npages >= 2 &&
		(force_filter || rndn(2)))
		limit = make_filter(t);

	/* slices: increasing first pages, bytes within their pages */
	if (limit > 0)
	{
		uint32_t	ns = 1 + (uint32_t) rndn(limit < 30 ? limit : 30);
		uint32_t	p = (uint32_t) rndn(2);

		for (i = 0; i < ns && p < limit; i++)
		{
			t->sl[i].first_page = p;
			p += 1 + (uint32_t) rndn(1 + (limit - p) / (ns - i));
		}
		t->h.nslices = i;
		for (i = 0; i < t->h.nslices; i++)
		{
			uint32_t	end = i + 1 < t->h.nslices ? t->sl[i + 1].first_page : limit;
			uint64_t	room = (uint64_t) (end - t->sl[i].first_page) * PAGE_BYTES;
			uint64_t	total = 2 + rndn(room - 1);

			t->sl[i].postings_bytes = 1 + rndn(total - 1);
			t->sl[i].leaf_bytes = total - t->sl[i].postings_bytes;
			t->sl[i].top_bytes = 0;
			if (t->sl[i].leaf_bytes > 1 && rndn(2))
			{
				t->sl[i].top_bytes = rndn(t->sl[i].leaf_bytes);
				t->sl[i].leaf_bytes -= t->sl[i].top_bytes;
			}
			t->sl[i].crc = (uint32_t) rndn(UINT32_MAX);
			/* version 2: a run's only slice may hold no key */
			if (t->h.version >= RUNHDR_VERSION_2)
				t->sl[i].nkeys = t->h.nslices == 1 && rndn(4) == 0 ? 0 :
					1 + rndn(rndn(2) ? 3 : 1000000);
		}
	}

	/* fences: of 2 * nslices sorted distinct keys, pairs (last, first) */
	nk = 0;
	while (t->h.nslices > 0 && nk < 2 * t->h.nslices)
	{
		size_t		i2;

		for (i2 = nk; i2 < 80; i2++)
			klens[i2] = rand_key(keys[i2], 60);
		nk = sort_keys(keys, klens, 80);
	}
	for (i = 1; i < t->h.nslices; i++)
	{
		size_t		f = runhdr_fence_len(keys[2 * i - 1], klens[2 * i - 1],
										 keys[2 * i], klens[2 * i]);

		memcpy(t->fences[i], keys[2 * i], f);
		t->sl[i].fence = t->fences[i];
		t->sl[i].fence_len = (uint16_t) f;
	}
	if (t->h.nslices > 0)
		t->sl[0].fence = t->fences[0];

	/* NULL TIDs */
	t->h.nnulls = rndn(4) ? 0 : rndn(300);
	for (i = 0; i < t->h.nnulls; i++)
	{
		RunTid		x;

		if (i == 0)
			x.block = (uint32_t) rndn(2) ? (uint32_t) rnd() >> 4 : 0;
		else
			x.block = t->nulls[i - 1].block + (uint32_t) (rndn(3) ? 0 : rndn(1000));
		x.offset = (uint16_t) (1 + rndn(200));
		if (i > 0 && x.block == t->nulls[i - 1].block)
			x.offset = (uint16_t) (t->nulls[i - 1].offset + 1 + rndn(5));
		t->nulls[i] = x;
	}
}

/* Encode h with capacity cap into freshly allocated chunks. */
static uint32_t
encode(const RunHeader *h, size_t cap, uint8_t ***chunksp, size_t **lensp)
{
	uint32_t	n = runhdr_chunks_needed(h, cap);
	uint8_t   **chunks = calloc(n + 1, sizeof(uint8_t *));
	size_t	   *lens = calloc(n + 1, sizeof(size_t));
	uint32_t	i;
	int			rc;

	for (i = 0; i < n + 1; i++)
		chunks[i] = calloc(1, cap + 1);
	rc = runhdr_encode(h, cap, chunks, n, lens);
	CHECK(rc == RUNHDR_OK, "encode: %s", runhdr_strerror(rc));
	*chunksp = chunks;
	*lensp = lens;
	return n;
}

static void
free_chunks(uint8_t **chunks, size_t *lens, uint32_t n)
{
	uint32_t	i;

	for (i = 0; i < n + 1; i++)
		free(chunks[i]);
	free(chunks);
	free(lens);
}

/* Do two headers hold the same run? */
static bool
same_header(const RunHeader *a, const RunHeader *b)
{
	uint32_t	i;

	if (a->version != b->version ||
		a->run_id != b->run_id || a->nextents != b->nextents ||
		a->nslices != b->nslices || a->npages != b->npages ||
		a->nnulls != b->nnulls ||
		memcmp(&a->filter, &b->filter, sizeof(RunFilterParams)) != 0 ||
		a->filter_page != b->filter_page || a->filter_crc != b->filter_crc)
		return false;
	for (i = 0; i < a->nextents; i++)
		if (a->extents[i].start != b->extents[i].start ||
			a->extents[i].length != b->extents[i].length ||
			a->extents[i].lpage != b->extents[i].lpage)
			return false;
	for (i = 0; i < a->nslices; i++)
	{
		const RunSlice *x = &a->slices[i],
				   *y = &b->slices[i];

		if (x->first_page != y->first_page || x->fence_len != y->fence_len ||
			x->postings_bytes != y->postings_bytes ||
			x->leaf_bytes != y->leaf_bytes || x->top_bytes != y->top_bytes || x->crc != y->crc ||
			x->nkeys != y->nkeys ||
			(x->fence_len && memcmp(x->fence, y->fence, x->fence_len) != 0))
			return false;
	}
	for (i = 0; i < a->nnulls; i++)
		if (a->nulls[i].block != b->nulls[i].block ||
			a->nulls[i].offset != b->nulls[i].offset)
			return false;
	return true;
}

/* Round trips over several capacities; re-encoding gives the same bytes. */
static void
test_round_trip(void)
{
	static const size_t caps[] = {1, 2, 3, 7, 40, 41, 100, 8000};
	TestHdr    *t = malloc(sizeof(TestHdr));
	int			iter;

	for (iter = 0; iter < 400; iter++)
	{
		size_t		cap = caps[iter % 8];
		uint8_t   **chunks,
				  **chunks2;
		size_t	   *lens,
				   *lens2;
		uint32_t	n,
					n2,
					i;
		RunHeader  *d = NULL;
		int			rc;

		make_header(t);
		rc = runhdr_check(&t->h, NBLOCKS, PAGE_BYTES, &talloc);
		CHECK(rc == RUNHDR_OK, "check of a built header: %s", runhdr_strerror(rc));
		n = encode(&t->h, cap, &chunks, &lens);
		CHECK(runhdr_peek_stream_bytes(chunks[0], lens[0]) ==
			  (cap >= 12 ? runhdr_stream_bytes(&t->h) : 0), "peek");
		rc = runhdr_decode((const uint8_t *const *) chunks, lens, n, cap,
						   NBLOCKS, PAGE_BYTES, &talloc, &d);
		CHECK(rc == RUNHDR_OK, "decode (cap %zu): %s", cap, runhdr_strerror(rc));
		if (d)
		{
			CHECK(same_header(&t->h, d), "decoded header differs (cap %zu)", cap);
			n2 = encode(d, cap, &chunks2, &lens2);
			CHECK(n2 == n, "re-encoded chunk count");
			for (i = 0; i < n && i < n2; i++)
				CHECK(lens[i] == lens2[i] &&
					  memcmp(chunks[i], chunks2[i], lens[i]) == 0,
					  "re-encoded chunk %u differs", i);
			free_chunks(chunks2, lens2, n2);
			talloc.free(NULL, d);
		}
		free_chunks(chunks, lens, n);
	}
	free(t);
}

/* Logical page -> block against a walk of the extents. */
static void
test_page_block(void)
{
	TestHdr    *t = malloc(sizeof(TestHdr));
	int			iter;

	for (iter = 0; iter < 200; iter++)
	{
		uint32_t	p,
					i,
					blk;

		make_header(t);
		for (p = 0; p < t->h.npages + 3; p++)
		{
			bool		found = false;
			uint32_t	want = 0;

			for (i = 0; i < t->h.nextents; i++)
				if (p >= t->ext[i].lpage && p < t->ext[i].lpage + t->ext[i].length)
				{
					found = true;
					want = t->ext[i].start + (p - t->ext[i].lpage);
				}
			blk = 0;
			CHECK(runhdr_page_block(&t->h, p, &blk) == found &&
				  (!found || blk == want), "page %u -> %u, want %u", p, blk, want);
		}
	}
	free(t);
}

/* prev < fence <= first, and the fence is the shortest such prefix. */
static void
test_fence_property(void)
{
	int			iter;

	for (iter = 0; iter < 20000; iter++)
	{
		uint8_t		a[64],
					b[64];
		size_t		al = rand_key(a, 12),
					bl = rand_key(b, 12),
					f;
		int			c = runhdr_key_cmp(a, al, b, bl);

		if (c == 0)
		{
			CHECK(runhdr_fence_len(a, al, b, bl) == 0, "equal keys: no fence");
			continue;
		}
		if (c > 0)
		{
			CHECK(runhdr_fence_len(a, al, b, bl) == 0, "out of order: no fence");
			continue;
		}
		f = runhdr_fence_len(a, al, b, bl);
		CHECK(f >= 1 && f <= bl, "fence length %zu of %zu", f, bl);
		CHECK(runhdr_key_cmp(a, al, b, f) < 0, "prev < fence");
		CHECK(runhdr_key_cmp(b, f, b, bl) <= 0, "fence <= first");
		CHECK(runhdr_key_cmp(a, al, b, f - 1) >= 0, "fence is shortest");
	}
}

/* Slice lookups against a linear scan over the fences. */
static void
test_slice_lookup(void)
{
	TestHdr    *t = malloc(sizeof(TestHdr));
	int			iter;

	for (iter = 0; iter < 300; iter++)
	{
		int			q;

		make_header(t);
		if (t->h.nslices == 0)
			continue;
		for (q = 0; q < 200; q++)
		{
			uint8_t		k[64],
						k2[64];
			size_t		kl = rndn(8) ? rand_key(k, 60) : 0,
						kl2 = rndn(8) ? rand_key(k2, 60) : 0;
			uint32_t	want = 0,
						i,
						first = 0,
						last = 0,
						n,
						wfirst,
						wlast,
						wn;
			bool		incl = rndn(2);

			/* sometimes probe a fence itself */
			if (rndn(3) == 0)
			{
				const RunSlice *s = &t->sl[rndn(t->h.nslices)];

				memcpy(k, s->fence, s->fence_len);
				kl = s->fence_len;
			}
			for (i = 0; i < t->h.nslices; i++)
				if (runhdr_key_cmp(t->sl[i].fence, t->sl[i].fence_len, k, kl) <= 0)
					want = i;
			CHECK(runhdr_slice_for_key(&t->h, k, kl) == want, "slice for key");

			/* range [k2, k] or [k2, k): slices whose [fence, next) meets it */
			wn = 0;
			wfirst = wlast = 0;
			for (i = 0; i < t->h.nslices; i++)
			{
				bool		below_hi,
							above_lo;

				below_hi = incl ?
					runhdr_key_cmp(t->sl[i].fence, t->sl[i].fence_len, k, kl) <= 0 :
					runhdr_key_cmp(t->sl[i].fence, t->sl[i].fence_len, k, kl) < 0;
				above_lo = i + 1 == t->h.nslices ||
					runhdr_key_cmp(t->sl[i + 1].fence, t->sl[i + 1].fence_len,
								   k2, kl2) > 0;
				if (runhdr_key_cmp(k2, kl2, k, kl) > 0 ||
					(!incl && runhdr_key_cmp(k2, kl2, k, kl) == 0))
					break;
				if (below_hi && above_lo)
				{
					if (wn == 0)
						wfirst = i;
					wlast = i;
					wn++;
				}
			}
			n = runhdr_slice_range(&t->h, k2, kl2, true, k, kl, true, incl,
								   &first, &last);
			CHECK(n == wn && (n == 0 || (first == wfirst && last == wlast)),
				  "slice range: %u [%u, %u], want %u [%u, %u]",
				  n, first, last, wn, wfirst, wlast);
			n = runhdr_slice_range(&t->h, NULL, 0, false, NULL, 0, false,
								   false, &first, &last);
			CHECK(n == t->h.nslices && first == 0 && last == t->h.nslices - 1,
				  "unbounded range");
		}
	}
	free(t);
}

/* Damage aimed past the CRC of a version-2 stream keeps its old CRC. */
static bool keep_crc = false;

/* Write the CRC a version-2 stream in n chunks of capacity cap should hold. */
static void
fix_crc(uint8_t **chunks, size_t *lens, uint32_t n, size_t cap)
{
	uint32_t	crc = runhdr_stream_crc((const uint8_t *const *) chunks, lens,
										n);
	int			i;

	for (i = 0; i < 4; i++)
		chunks[(RUNHDR_CRC_OFFSET + i) / cap][(RUNHDR_CRC_OFFSET + i) % cap] =
			(uint8_t) (crc >> (8 * i));
}

/*
 * Encode h (damaged by the caller or not), let mangle (if given) damage
 * the stream, decode, and expect `want`.  A version-2 stream's CRC is
 * made to match the damage (unless keep_crc), so that it reaches the
 * rule it aims at.
 */
static void
expect_code(const RunHeader *h, size_t cap, int want, const char *what,
			void (*mangle) (uint8_t **chunks, size_t *lens, uint32_t *n,
							size_t cap))
{
	uint8_t   **chunks;
	size_t	   *lens;
	uint32_t	n = encode(h, cap, &chunks, &lens);
	uint32_t	n0 = n;
	RunHeader  *d = NULL;
	int			rc;

	if (mangle)
		mangle(chunks, lens, &n, cap);
	if (h->version >= RUNHDR_VERSION_2 && !keep_crc)
		fix_crc(chunks, lens, n, cap);
	rc = runhdr_decode((const uint8_t *const *) chunks, lens, n, cap,
					   NBLOCKS, PAGE_BYTES, &talloc, &d);
	CHECK(rc == want && (d == NULL) == (want != RUNHDR_OK), "%s (cap %zu): got \"%s\", want \"%s\"",
		  what, cap, runhdr_strerror(rc), runhdr_strerror(want));
	if (d)
		talloc.free(NULL, d);
	free_chunks(chunks, lens, n0);
}

/* The byte at stream offset pos. */
static uint8_t *
byte_at(uint8_t **chunks, size_t cap, size_t pos)
{
	return &chunks[pos / cap][pos % cap];
}

static void
m_magic(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 1) ^= 0x40;
}

static void
m_version(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 4) = 9;
}

static void
m_reserved(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 7) = 1;
}

static void
m_total(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 8) ^= 1;
}

static void
m_nextents_huge(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 15) = 0x7f;
}

static void
m_nnulls_huge(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, 35) = 0xff;
}

/* One more chunk holding one byte past the end; total fixed up. */
static void
m_trailing(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	size_t		total = (size_t) (*n - 1) * cap + l[*n - 1];

	if (l[*n - 1] < cap)
		l[*n - 1]++;
	else
		l[(*n)++] = 1;
	total++;
	*byte_at(c, cap, 8) = (uint8_t) total;
	*byte_at(c, cap, 9) = (uint8_t) (total >> 8);
	*byte_at(c, cap, 10) = (uint8_t) (total >> 16);
	*byte_at(c, cap, 11) = (uint8_t) (total >> 24);
}

/* The last byte dropped; total fixed up. */
static void
m_truncate(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	size_t		total = (size_t) (*n - 1) * cap + l[*n - 1] - 1;

	if (--l[*n - 1] == 0)
		(*n)--;
	*byte_at(c, cap, 8) = (uint8_t) total;
	*byte_at(c, cap, 9) = (uint8_t) (total >> 8);
}

/* A byte of the extent table flipped (after the fixed part). */
static void
m_flip(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, RUNHDR_FIXED_BYTES + 1) ^= 0x10;
}

/* A chunk before the last one is not full. */
static void
m_short_chunk(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) c;
	(void) cap;
	if (*n > 1)
		l[0]--;
}

/* The filter's reserved field (stream offset 58) not zero. */
static void
m_filter_reserved(uint8_t **c, size_t *l, uint32_t *n, size_t cap)
{
	(void) l;
	(void) n;
	*byte_at(c, cap, RUNHDR_FILTER_OFFSET + 14) = 1;
}

/*
 * The filter's rules, on a copy u of a version-3 header t that has a
 * filter: each broken in turn fails with RUNHDR_ERR_FILTER (or the slice
 * rule, for a slice reaching into the filter's pages).
 */
static void
test_damage_filter(const RunHeader *t, RunHeader *u, size_t cap)
{
	RunSlice	last;

	CHECK(t->filter.nblocks > 0, "the damage header has a filter");
#define FRESET() (u->filter = t->filter, u->filter_page = t->filter_page, \
				  u->filter_crc = t->filter_crc)
	expect_code(u, cap, RUNHDR_ERR_FILTER, "filter reserved", m_filter_reserved);
	u->filter.nblocks = 0;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "no blocks, other fields set", NULL);
	memset(&u->filter, 0, sizeof(u->filter));
	u->filter_page = 0;
	u->filter_crc = 0;
	CHECK(runhdr_check(u, NBLOCKS, PAGE_BYTES, &talloc) == RUNHDR_OK,
		  "no filter: the pages it had stay unused");
	FRESET();
	u->filter.nprobes = 0;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "no probes", NULL);
	u->filter.nprobes = RUNFILTER_MAX_PROBES + 1;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "too many probes", NULL);
	FRESET();
	u->filter.blocks_per_page++;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "blocks past the page", NULL);
	FRESET();
	u->filter.block_offset = (uint16_t) (PAGE_BYTES - 63);
	expect_code(u, cap, RUNHDR_ERR_FILTER, "block offset past the page", NULL);
	FRESET();
	u->filter.blocks_per_page = 0;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "no blocks a page", NULL);
	FRESET();
	u->filter.nblocks += u->filter.blocks_per_page;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "blocks past the run's pages", NULL);
	FRESET();
	u->filter_page++;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "filter not the last pages", NULL);
	FRESET();
	u->filter_page--;
	expect_code(u, cap, RUNHDR_ERR_FILTER, "filter page off by one", NULL);
	FRESET();
	last = u->slices[u->nslices - 1];
	u->slices[u->nslices - 1].leaf_bytes +=
		(uint64_t) (u->filter_page - last.first_page) * PAGE_BYTES;
	expect_code(u, cap, RUNHDR_ERR_SLICE_PAGES, "last slice into the filter", NULL);
	u->slices[u->nslices - 1] = last;
	u->version = RUNHDR_VERSION_2;
	CHECK(runhdr_check(u, NBLOCKS, PAGE_BYTES, &talloc) == RUNHDR_ERR_FILTER,
		  "check: version 2 with a filter");
	u->version = RUNHDR_VERSION;
	expect_code(u, cap, RUNHDR_OK, "filter restored", NULL);
#undef FRESET
}

/* Each rule, broken in turn, fails with its own code. */
static void
test_damage_version(uint16_t version)
{
	static const size_t caps[] = {1, 5, 64, 8000};
	TestHdr    *t = malloc(sizeof(TestHdr));
	TestHdr    *u = malloc(sizeof(TestHdr));
	int			ci;

	/* a header with >= 3 extents, >= 3 slices and >= 2 NULL TIDs */
	want_version = version;
	force_filter = true;
	do
	{
		make_header(t);
		t->h.nnulls = 3;
		t->nulls[0] = (RunTid) {5, 3};
		t->nulls[1] = (RunTid) {5, 4};
		t->nulls[2] = (RunTid) {9, 200};	/* a two-byte varint */
	} while (t->h.nextents < 3 || t->h.nslices < 3);
	want_version = 0;
	force_filter = false;
	for (ci = 0; ci < (int) t->h.nslices; ci++)
		t->sl[ci].nkeys = version >= RUNHDR_VERSION_2 ? 1 + rndn(5000) : 0;

	for (ci = 0; ci < 4; ci++)
	{
		size_t		cap = caps[ci];
		uint32_t	i;

#define RESET() (*u = *t, u->h.extents = u->ext, u->h.slices = u->sl, \
				 u->h.nulls = u->nulls)

		RESET();
		expect_code(&u->h, cap, RUNHDR_OK, "undamaged", NULL);
		expect_code(&u->h, cap, RUNHDR_ERR_MAGIC, "magic", m_magic);
		expect_code(&u->h, cap, RUNHDR_ERR_VERSION, "version", m_version);
		expect_code(&u->h, cap, RUNHDR_ERR_VERSION, "reserved", m_reserved);
		expect_code(&u->h, cap, RUNHDR_ERR_LENGTH, "stream bytes", m_total);
		expect_code(&u->h, cap, RUNHDR_ERR_COUNTS, "nextents", m_nextents_huge);
		expect_code(&u->h, cap, RUNHDR_ERR_COUNTS, "nnulls", m_nnulls_huge);
		expect_code(&u->h, cap, RUNHDR_ERR_LENGTH, "trailing byte", m_trailing);
		expect_code(&u->h, cap, RUNHDR_ERR_NULLS, "truncated NULLs", m_truncate);
		if (cap < 200)
			expect_code(&u->h, cap, RUNHDR_ERR_LENGTH, "short chunk", m_short_chunk);

		u->ext[1].length = 0;
		expect_code(&u->h, cap, RUNHDR_ERR_EXTENT_EMPTY, "empty extent", NULL);
		RESET();
		u->ext[2].start = 0;
		expect_code(&u->h, cap, RUNHDR_ERR_EXTENT_RANGE, "extent at block 0", NULL);
		RESET();
		u->ext[0].start = NBLOCKS - u->ext[0].length + 1;
		expect_code(&u->h, cap, RUNHDR_ERR_EXTENT_RANGE, "extent past nblocks", NULL);
		RESET();
		u->ext[2].start = u->ext[0].start + u->ext[0].length - 1;
		expect_code(&u->h, cap, RUNHDR_ERR_EXTENT_OVERLAP, "overlapping extents", NULL);
		RESET();
		u->sl[2].first_page = u->sl[1].first_page;
		expect_code(&u->h, cap, RUNHDR_ERR_SLICE_PAGES, "equal first pages", NULL);
		RESET();
		u->sl[1].leaf_bytes += (uint64_t) (u->sl[2].first_page - u->sl[1].first_page) * PAGE_BYTES;
		expect_code(&u->h, cap, RUNHDR_ERR_SLICE_PAGES, "slice bytes past its pages", NULL);
		RESET();
		u->sl[u->h.nslices - 1].first_page = u->h.npages;
		expect_code(&u->h, cap, RUNHDR_ERR_SLICE_PAGES, "slice past the pages", NULL);
		RESET();
		u->sl[0].postings_bytes = 0;
		expect_code(&u->h, cap, RUNHDR_ERR_SLICE_PAGES, "empty postings", NULL);
		RESET();
		{
			static uint8_t longkey[RUNHDR_MAX_KEY + 1];

			memset(longkey, 'z', sizeof(longkey));
			u->sl[2].fence = longkey;
			u->sl[2].fence_len = RUNHDR_MAX_KEY + 1;
			expect_code(&u->h, cap, RUNHDR_ERR_FENCE_LENGTH, "fence too long", NULL);
		}
		RESET();
		u->sl[2].fence = u->sl[1].fence;
		u->sl[2].fence_len = u->sl[1].fence_len;
		expect_code(&u->h, cap, RUNHDR_ERR_FENCE_ORDER, "equal fences", NULL);
		RESET();
		u->sl[0].fence = (const uint8_t *) "a";
		u->sl[0].fence_len = 1;
		expect_code(&u->h, cap, RUNHDR_ERR_FENCE_ORDER, "slice 0 fence", NULL);
		RESET();
		u->nulls[1] = u->nulls[0];
		expect_code(&u->h, cap, RUNHDR_ERR_NULLS, "duplicate NULL TID", NULL);
		RESET();
		u->nulls[2].block = 4;
		u->nulls[2].offset = 1;
		expect_code(&u->h, cap, RUNHDR_ERR_NULLS, "descending NULL TID", NULL);
		RESET();
		u->nulls[0].offset = 0;
		expect_code(&u->h, cap, RUNHDR_ERR_NULLS, "NULL TID offset 0", NULL);
		RESET();
		if (version == RUNHDR_VERSION)
			test_damage_filter(&t->h, &u->h, cap);
		if (version >= RUNHDR_VERSION_2)
		{
			keep_crc = true;
			expect_code(&u->h, cap, RUNHDR_ERR_CRC, "flipped byte, old CRC", m_flip);
			expect_code(&u->h, cap, RUNHDR_ERR_CRC, "NULL TIDs cut, old CRC", m_truncate);
			keep_crc = false;
			u->sl[1].nkeys = 0;
			expect_code(&u->h, cap, RUNHDR_ERR_SLICE_KEYS, "slice of no key", NULL);
			CHECK(runhdr_check(&u->h, NBLOCKS, PAGE_BYTES, &talloc) ==
				  RUNHDR_ERR_SLICE_KEYS, "check: slice of no key");
			RESET();
			u->sl[0].nkeys = UINT64_MAX / 2 + 1;
			u->sl[2].nkeys = UINT64_MAX / 2 + 1;
			expect_code(&u->h, cap, RUNHDR_ERR_SLICE_KEYS, "key counts wrap", NULL);
			RESET();
			u->h.nslices = 1;
			u->sl[0].first_page = 0;
			u->sl[0].nkeys = 0;
			expect_code(&u->h, cap, RUNHDR_OK, "one slice of no key", NULL);
			RESET();
		}
		else
		{
			/* version 1 ignores key counts: none is stored or decoded */
			u->sl[1].nkeys = 7;
			CHECK(runhdr_check(&u->h, NBLOCKS, PAGE_BYTES, &talloc) == RUNHDR_OK,
				  "check: version 1 ignores key counts");
			RESET();
		}
		u->h.version = RUNHDR_VERSION + 1;
		CHECK(runhdr_check(&u->h, NBLOCKS, PAGE_BYTES, &talloc) ==
			  RUNHDR_ERR_VERSION, "check: version 4");
		RESET();
		/* the in-memory check agrees on a few */
		u->ext[1].lpage++;
		CHECK(runhdr_check(&u->h, NBLOCKS, PAGE_BYTES, &talloc) ==
			  RUNHDR_ERR_EXTENT_RANGE, "check: lpage");
		RESET();
		u->sl[1].fence_len = 0;
		CHECK(runhdr_check(&u->h, NBLOCKS, PAGE_BYTES, &talloc) ==
			  RUNHDR_ERR_FENCE_ORDER, "check: fence order");
		for (i = 0; i < RUNHDR_NERRORS; i++)
			CHECK(runhdr_strerror((int) i)[0] != '\0', "message %u", i);
#undef RESET
	}
	free(t);
	free(u);
}

/* Both versions' rules, each broken in turn. */
static void
test_damage(void)
{
	test_damage_version(RUNHDR_VERSION);
	test_damage_version(RUNHDR_VERSION_2);
	test_damage_version(RUNHDR_VERSION_1);
}

/*
 * A version-1 header: its stream is 8 bytes a slice and 4 bytes shorter
 * than version 2's, decodes with key counts 0, and re-encodes the same.
 */
static void
test_versions(void)
{
	TestHdr    *t = malloc(sizeof(TestHdr));
	int			iter;

	for (iter = 0; iter < 50; iter++)
	{
		size_t		b3,
					b2,
					b1;
		uint8_t   **chunks;
		size_t	   *lens;
		uint32_t	n,
					i;
		RunHeader  *d = NULL;
		int			rc;

		want_version = RUNHDR_VERSION_2;
		make_header(t);
		want_version = 0;
		t->h.version = RUNHDR_VERSION;
		b3 = runhdr_stream_bytes(&t->h);
		t->h.version = RUNHDR_VERSION_2;
		b2 = runhdr_stream_bytes(&t->h);
		t->h.version = RUNHDR_VERSION_1;
		b1 = runhdr_stream_bytes(&t->h);
		CHECK(b3 - b2 == 20, "v3 - v2 bytes");
		CHECK(b2 - b1 == 4 + 8 * (size_t) t->h.nslices, "v2 - v1 bytes");
		for (i = 0; i < t->h.nslices; i++)
			t->sl[i].nkeys = 1 + i;
		n = encode(&t->h, 64, &chunks, &lens);
		rc = runhdr_decode((const uint8_t *const *) chunks, lens, n, 64,
						   NBLOCKS, PAGE_BYTES, &talloc, &d);
		CHECK(rc == RUNHDR_OK && d && d->version == RUNHDR_VERSION_1,
			  "version 1 decodes: %s", runhdr_strerror(rc));
		for (i = 0; d && i < d->nslices; i++)
			CHECK(d->slices[i].nkeys == 0, "version 1: key count unknown");
		if (d)
			talloc.free(NULL, d);
		free_chunks(chunks, lens, n);
	}
	free(t);
}

int
main(void)
{
	test_round_trip();
	test_page_block();
	test_fence_property();
	test_slice_lookup();
	test_damage();
	test_versions();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
