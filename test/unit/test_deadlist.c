/*
 * test_deadlist.c
 *	  Unit tests of dead lists (src/deadlist.c): random lists round-trip
 *	  through chunks of several capacities (the smallest allowed up) with
 *	  byte-identical re-encoding; lists written by this file's own coder
 *	  of the documented format decode to what was written; every
 *	  validation rule fails with its own code; the cursor, point lookups,
 *	  sort and merge agree with a sorted-array oracle.
 */
#include "deadlist.h"
#include "unit_check.h"

static const size_t caps[] = {DEADLIST_MIN_CHUNK, 19, 25, 64, 512, 8000};

#define NCAPS	(sizeof(caps) / sizeof(caps[0]))

static int
oracle_cmp(const void *a, const void *b)
{
	return deadlist_pair_cmp(a, b);
}

/* Sorted, duplicate-free copy by qsort: the oracle of deadlist_sort. */
static size_t
oracle_sort(DeadPair *p, size_t n)
{
	size_t		i,
				m = 0;

	qsort(p, n, sizeof(DeadPair), oracle_cmp);
	for (i = 0; i < n; i++)
		if (m == 0 || oracle_cmp(&p[m - 1], &p[i]) != 0)
			p[m++] = p[i];
	return m;
}

/* Are a[0..n) and b[0..n) the same pairs?  (Not memcmp: padding.) */
static bool
same_pairs(const DeadPair *a, const DeadPair *b, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (deadlist_pair_cmp(&a[i], &b[i]) != 0)
			return false;
	return true;
}

/* n random pairs, unsorted, with repeats; ordinals <= maxord. */
static void
random_pairs(DeadPair *p, size_t n, uint64_t maxord)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (i > 0 && rndn(4) == 0)
		{
			p[i] = p[rndn(i)];	/* a repeat, or a neighbour of one */
			if (rndn(2))
				p[i].offset = (uint16_t) (1 + rndn(300));
			continue;
		}
		p[i].ordinal = rndn(maxord + 1);
		p[i].block = (uint32_t) (rndn(3) ? rndn(5000) : rnd());
		p[i].offset = (uint16_t) (1 + (rndn(10) ? rndn(300) : rndn(65535)));
	}
}

typedef struct Enc
{
	uint8_t   **chunks;
	size_t	   *lens;
	uint32_t	n;
} Enc;

static void
enc_free(Enc *e)
{
	uint32_t	i;

	for (i = 0; i < e->n + 2; i++)
		free(e->chunks[i]);
	free(e->chunks);
	free(e->lens);
}

/* Room for n (+ 2 spare) chunks of capacity cap. */
static void
enc_alloc(Enc *e, uint32_t n, size_t cap)
{
	uint32_t	i;

	e->n = n;
	e->chunks = calloc(n + 2, sizeof(uint8_t *));
	e->lens = calloc(n + 2, sizeof(size_t));
	for (i = 0; i < n + 2; i++)
		e->chunks[i] = calloc(1, cap + 1);
}

static int
encode(const DeadPair *p, size_t n, size_t cap, Enc *e)
{
	uint32_t	nh,
				nd;
	int			rc = deadlist_chunks_needed(p, n, cap, &nh, &nd);

	CHECK(rc == DEADLIST_OK, "chunks_needed: %s", deadlist_strerror(rc));
	enc_alloc(e, nh + nd, cap);
	rc = deadlist_encode(p, n, cap, e->chunks, e->n, e->lens);
	CHECK(rc == DEADLIST_OK, "encode: %s", deadlist_strerror(rc));
	return rc;
}

static int
decode(const Enc *e, size_t cap, uint64_t maxord, DeadList **out)
{
	return deadlist_decode((const uint8_t *const *) e->chunks, e->lens, e->n,
						   cap, maxord, &talloc, out);
}

/* Index of the first oracle pair >= q (n if none). */
static size_t
lower_bound(const DeadPair *p, size_t n, const DeadPair *q)
{
	size_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (deadlist_pair_cmp(&p[mid], q) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sort, round trip, collect, re-encode, over every capacity. */
static void
test_round_trip(void)
{
	int			iter;

	for (iter = 0; iter < 300; iter++)
	{
		size_t		n = rndn(5) == 0 ? rndn(3) : rndn(3000);
		uint64_t	maxord = rndn(2) ? rndn(100) : rnd() >> rndn(64);
		DeadPair   *p = malloc((n + 1) * sizeof(DeadPair));
		DeadPair   *q = malloc((n + 1) * sizeof(DeadPair));
		DeadPair   *back = malloc((n + 1) * sizeof(DeadPair));
		size_t		m,
					mq,
					ci;

		random_pairs(p, n, maxord);
		memcpy(q, p, n * sizeof(DeadPair));
		m = deadlist_sort(p, n);
		mq = oracle_sort(q, n);
		CHECK(m == mq && same_pairs(p, q, m),
			  "deadlist_sort agrees with qsort (%zu pairs)", n);
		for (ci = 0; ci < NCAPS; ci++)
		{
			size_t		cap = caps[ci];
			Enc			e,
						e2;
			DeadList   *l = NULL;
			uint32_t	i;
			int			rc;

			encode(p, m, cap, &e);
			for (i = 0; i < e.n; i++)
				CHECK(e.lens[i] >= 1 && e.lens[i] <= cap, "chunk length");
			rc = decode(&e, cap, maxord, &l);
			CHECK(rc == DEADLIST_OK, "decode (cap %zu, %zu pairs): %s",
				  cap, m, deadlist_strerror(rc));
			if (l)
			{
				CHECK(l->npairs == m, "npairs");
				memset(back, 0, (m + 1) * sizeof(DeadPair));
				deadlist_collect(l, back);
				CHECK(same_pairs(back, p, m),
					  "collect gives the pairs back");
				deadlist_collect(l, back);
				encode(back, m, cap, &e2);
				CHECK(e2.n == e.n, "re-encoded chunk count");
				for (i = 0; i < e.n && i < e2.n; i++)
					CHECK(e.lens[i] == e2.lens[i] &&
						  memcmp(e.chunks[i], e2.chunks[i], e.lens[i]) == 0,
						  "re-encoded chunk %u", i);
				enc_free(&e2);
				talloc.free(NULL, l);
			}
			if (m > 0 && maxord > 0 && p[m - 1].ordinal > 0)
			{
				rc = decode(&e, cap, p[m - 1].ordinal - 1, &l);
				CHECK(rc == DEADLIST_ERR_ORDER && l == NULL,
					  "ordinal past max_ordinal: %s", deadlist_strerror(rc));
			}
			enc_free(&e);
		}
		free(p);
		free(q);
		free(back);
	}
}

/* Cursor (ascending, random and seek), contains: against the oracle. */
static void
test_cursor(void)
{
	int			iter;

	for (iter = 0; iter < 200; iter++)
	{
		size_t		n = rndn(4) == 0 ? rndn(4) : rndn(4000);
		uint64_t	maxord = 1 + rndn(rndn(2) ? 50 : 5000);
		DeadPair   *p = malloc((n + 1) * sizeof(DeadPair));
		size_t		cap = caps[iter % NCAPS];
		Enc			e;
		DeadList   *l = NULL;
		DeadCursor	c;
		uint64_t	ord;
		int			k;

		random_pairs(p, n, maxord);
		n = deadlist_sort(p, n);
		encode(p, n, cap, &e);
		if (decode(&e, cap, maxord, &l) != DEADLIST_OK)
		{
			CHECK(false, "decode for the cursor test");
			enc_free(&e);
			free(p);
			continue;
		}

		/* a scan: ascending ordinals, each with ascending TIDs: the
		 * list's own TIDs and others */
		deadlist_cursor_init(&c, l);
		for (ord = 0; ord <= maxord + 1; ord += 1 + rndn(3))
		{
			DeadPair	q = {ord, 0, 0};
			size_t		at = lower_bound(p, n, &q);
			int			t;

			q.block = 0;
			for (t = 0; t < 4; t++)
			{
				bool		want;
				size_t		lb;

				if (at < n && p[at].ordinal == ord && rndn(2))
					q = p[at++];
				else
				{
					q.block += (uint32_t) rndn(50);
					q.offset = (uint16_t) (1 + rndn(300));
				}
				lb = lower_bound(p, n, &q);
				want = lb < n && deadlist_pair_cmp(&p[lb], &q) == 0;
				if (lb > at)
					at = lb;
				CHECK(deadlist_cursor_is_dead(&c, q.ordinal, q.block, q.offset) == want,
					  "ascending is_dead (%llu,%u,%u): want %d",
					  (unsigned long long) q.ordinal, q.block, q.offset, want);
				CHECK(deadlist_contains(l, q.ordinal, q.block, q.offset) == want,
					  "contains");
			}
		}

		/* ranges read by seek + next, as a backward batch would */
		for (k = 0; k < 50; k++)
		{
			uint64_t	lo = rndn(maxord + 2),
						hi = lo + rndn(10);
			DeadPair	s = {lo, 0, 0};
			size_t		at = lower_bound(p, n, &s);
			bool		ok = true;

			deadlist_cursor_seek(&c, lo);
			while (c.valid && c.cur.ordinal <= hi)
			{
				ok &= at < n && deadlist_pair_cmp(&c.cur, &p[at]) == 0;
				at++;
				deadlist_cursor_next(&c);
			}
			ok &= at == n || p[at].ordinal > hi;
			ok &= c.valid == (at < n);
			CHECK(ok, "pairs of ordinals %llu..%llu by seek and next",
				  (unsigned long long) lo, (unsigned long long) hi);
		}

		/* random queries and seeks in any order */
		for (k = 0; k < 600; k++)
		{
			DeadPair	q;
			size_t		at;

			if (n > 0 && rndn(2))
				q = p[rndn(n)];
			else
			{
				q.ordinal = rndn(maxord + 2);
				q.block = (uint32_t) rndn(5000);
				q.offset = (uint16_t) (1 + rndn(300));
			}
			at = lower_bound(p, n, &q);
			if (rndn(3) == 0)
			{
				DeadPair	s = {q.ordinal, 0, 0};
				bool		v = deadlist_cursor_seek(&c, q.ordinal);

				at = lower_bound(p, n, &s);
				CHECK(v == (at < n) &&
					  (!v || deadlist_pair_cmp(&c.cur, &p[at]) == 0),
					  "seek to %llu", (unsigned long long) q.ordinal);
				continue;
			}
			CHECK(deadlist_cursor_is_dead(&c, q.ordinal, q.block, q.offset) ==
				  (at < n && deadlist_pair_cmp(&p[at], &q) == 0),
				  "random is_dead");
			CHECK(c.valid == (at < n) &&
				  (!c.valid || deadlist_pair_cmp(&c.cur, &p[at]) == 0),
				  "cursor rests on the first pair >= the query");
			CHECK(deadlist_contains(l, q.ordinal, q.block, q.offset) ==
				  (at < n && deadlist_pair_cmp(&p[at], &q) == 0),
				  "random contains");
		}
		talloc.free(NULL, l);
		enc_free(&e);
		free(p);
	}
}

/* deadlist_merge against concatenation and the oracle sort. */
static void
test_merge(void)
{
	int			iter;

	for (iter = 0; iter < 300; iter++)
	{
		size_t		na = rndn(500),
					nb = rndn(500),
					nm,
					no;
		DeadPair   *a = malloc((na + 1) * sizeof(DeadPair));
		DeadPair   *b = malloc((nb + 1) * sizeof(DeadPair));
		DeadPair   *m = malloc((na + nb + 1) * sizeof(DeadPair));
		DeadPair   *o = malloc((na + nb + 1) * sizeof(DeadPair));

		random_pairs(a, na, 40);
		random_pairs(b, nb, 40);
		if (nb > 0 && na > 0)
			memcpy(b, a, (na < nb ? na : nb) / 2 * sizeof(DeadPair));
		na = deadlist_sort(a, na);
		nb = deadlist_sort(b, nb);
		nm = deadlist_merge(a, na, b, nb, m);
		memcpy(o, a, na * sizeof(DeadPair));
		memcpy(o + na, b, nb * sizeof(DeadPair));
		no = oracle_sort(o, na + nb);
		CHECK(nm == no && same_pairs(m, o, nm),
			  "merge of %zu and %zu", na, nb);
		free(a);
		free(b);
		free(m);
		free(o);
	}
}

/* ---------------------------------------------- a coder of our own */

/*
 * Raw lists written straight from deadlist.h's format description: data
 * chunks given as pair sequences (coded absolute first, then against the
 * previous), the index from each chunk's first pair unless overridden.
 */
typedef struct Raw
{
	uint8_t		head[1024];
	size_t		headlen;
	uint8_t		data[8][256];
	size_t		dlen[8];
	uint32_t	ndata;
} Raw;

static void
raw_varint(uint8_t *b, size_t *len, uint64_t v)
{
	while (v >= 0x80)
	{
		b[(*len)++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b[(*len)++] = (uint8_t) v;
}

static void
raw_le(uint8_t *b, size_t *len, uint64_t v, int bytes)
{
	int			i;

	for (i = 0; i < bytes; i++)
		b[(*len)++] = (uint8_t) (v >> (8 * i));
}

/* Append pair x to data chunk j, coded against prev (NULL: absolute). */
static void
raw_pair(Raw *r, uint32_t j, const DeadPair *prev, const DeadPair *x)
{
	uint8_t    *b = r->data[j];
	size_t	   *l = &r->dlen[j];

	if (prev == NULL || x->ordinal != prev->ordinal)
	{
		raw_varint(b, l, prev ? x->ordinal - prev->ordinal : x->ordinal);
		raw_varint(b, l, x->block);
		raw_varint(b, l, x->offset);
	}
	else
	{
		raw_varint(b, l, 0);
		raw_varint(b, l, x->block - prev->block);
		raw_varint(b, l, x->block == prev->block ?
				   (uint64_t) (x->offset - prev->offset) : x->offset);
	}
}

/* The head for r's chunks, with npairs and index entries as given. */
static void
raw_head(Raw *r, uint64_t npairs, const DeadPair *index)
{
	uint32_t	j;

	r->headlen = 0;
	raw_le(r->head, &r->headlen, DEADLIST_MAGIC, 4);
	raw_le(r->head, &r->headlen, 1, 2);
	raw_le(r->head, &r->headlen, 0, 2);
	raw_le(r->head, &r->headlen, 24 + 14 * r->ndata, 4);
	raw_le(r->head, &r->headlen, r->ndata, 4);
	raw_le(r->head, &r->headlen, npairs, 8);
	for (j = 0; j < r->ndata; j++)
	{
		raw_le(r->head, &r->headlen, index[j].ordinal, 8);
		raw_le(r->head, &r->headlen, index[j].block, 4);
		raw_le(r->head, &r->headlen, index[j].offset, 2);
	}
}

/* Cut r into chunks of capacity cap and decode. */
static int
raw_decode(const Raw *r, size_t cap, uint64_t maxord)
{
	const uint8_t *chunks[128];
	size_t		lens[128];
	uint32_t	n = 0,
				j;
	size_t		off;
	DeadList   *l = NULL;
	int			rc;

	for (off = 0; off < r->headlen; off += cap)
	{
		chunks[n] = r->head + off;
		lens[n++] = r->headlen - off < cap ? r->headlen - off : cap;
	}
	for (j = 0; j < r->ndata; j++)
	{
		chunks[n] = r->data[j];
		lens[n++] = r->dlen[j];
	}
	rc = deadlist_decode(chunks, lens, n, cap, maxord, &talloc, &l);
	if (l)
		talloc.free(NULL, l);
	return rc;
}

/* A valid two-chunk list at capacity 20, in r; its pairs in p. */
static void
raw_valid(Raw *r, DeadPair *p)
{
	DeadPair	idx[2];

	memset(r, 0, sizeof(*r));
	p[0] = (DeadPair) {3, 7, 2};
	p[1] = (DeadPair) {3, 7, 9};
	p[2] = (DeadPair) {3, 70000, 300};
	p[3] = (DeadPair) {900000, 4000000000u, 1};
	p[4] = (DeadPair) {900001, 2, 2};
	r->ndata = 2;
	raw_pair(r, 0, NULL, &p[0]);	/* 3 bytes */
	raw_pair(r, 0, &p[0], &p[1]);	/* 3 */
	raw_pair(r, 0, &p[1], &p[2]);	/* 1 + 3 + 2 */
	raw_pair(r, 1, NULL, &p[3]);	/* 3 + 5 + 1: would need 9 > 20 - 12 */
	raw_pair(r, 1, &p[3], &p[4]);
	idx[0] = p[0];
	idx[1] = p[3];
	raw_head(r, 5, idx);
}

/* Each rule of the format, broken in turn, fails with its own code. */
static void
test_damage(void)
{
	Raw			r;
	DeadPair	p[5],
				idx[2];
	size_t		ci;

	for (ci = 0; ci < 3; ci++)
	{
		size_t		cap = ci == 0 ? 20 : ci == 1 ? 21 : 64;
		int			rc;

#define EXPECT(want, what) \
		do { \
			rc = raw_decode(&r, cap, 1000000); \
			CHECK(rc == (want), "%s (cap %zu): got \"%s\", want \"%s\"", \
				  what, cap, deadlist_strerror(rc), deadlist_strerror(want)); \
			raw_valid(&r, p); \
		} while (0)

		raw_valid(&r, p);
		if (cap == 20)
			EXPECT(DEADLIST_OK, "the hand-coded list");
		else
			EXPECT(DEADLIST_ERR_PACKING, "chunk 0 could have held a pair more");
		if (cap != 20)
			continue;

		r.head[2] ^= 1;
		EXPECT(DEADLIST_ERR_MAGIC, "magic");
		r.head[4] = 2;
		EXPECT(DEADLIST_ERR_VERSION, "version");
		r.head[6] = 1;
		EXPECT(DEADLIST_ERR_VERSION, "reserved");
		r.head[8]++;
		EXPECT(DEADLIST_ERR_LENGTH, "head bytes");
		r.ndata = 1;
		EXPECT(DEADLIST_ERR_LENGTH, "a data chunk missing");
		r.head[16]++;
		EXPECT(DEADLIST_ERR_COUNTS, "npairs + 1");
		r.head[23] = 0x80;
		EXPECT(DEADLIST_ERR_COUNTS, "npairs huge");
		r.headlen = 10;
		r.ndata = 0;
		EXPECT(DEADLIST_ERR_TRUNCATED, "head shorter than its fixed part");
		r.dlen[1] = 0;
		EXPECT(DEADLIST_ERR_LENGTH, "empty data chunk");
		r.dlen[0] = 21;
		EXPECT(DEADLIST_ERR_LENGTH, "data chunk past the capacity");
		r.head[24]++;			/* index entry 0's ordinal */
		EXPECT(DEADLIST_ERR_INDEX, "index entry");
		r.data[0][r.dlen[0]++] = 0x80;
		EXPECT(DEADLIST_ERR_ENCODING, "varint past the chunk's end");
		r.data[0][r.dlen[0]++] = 0x80;
		r.data[0][r.dlen[0]++] = 0x00;
		r.data[0][r.dlen[0]++] = 1;
		r.data[0][r.dlen[0]++] = 1;
		EXPECT(DEADLIST_ERR_ENCODING, "varint not in its shortest form");
		{
			DeadPair	big = {3, 7, 9};

			r.dlen[0] = 3;
			raw_pair(&r, 0, &p[0], &big);	/* p[1] again, then a wide one */
			r.data[0][r.dlen[0]++] = 0;
			r.data[0][r.dlen[0]++] = 0;
			raw_varint(r.data[0], &r.dlen[0], 70000);
			r.head[16] = 4;
			EXPECT(DEADLIST_ERR_ENCODING, "offset past 65535");
		}
		r.dlen[0] = 3;
		raw_varint(r.data[0], &r.dlen[0], 1);
		raw_varint(r.data[0], &r.dlen[0], 1ULL << 32);
		raw_varint(r.data[0], &r.dlen[0], 1);
		r.head[16] = 4;
		EXPECT(DEADLIST_ERR_ENCODING, "block past 2^32 - 1");
		r.dlen[0] = 3;
		raw_pair(&r, 0, &p[0], &p[0]);	/* 0, 0, 0: a repeat */
		r.head[16] = 4;
		EXPECT(DEADLIST_ERR_ORDER, "a pair repeated");
		r.dlen[0] = 0;
		raw_pair(&r, 0, NULL, &(DeadPair) {3, 7, 0});
		idx[0] = (DeadPair) {3, 7, 0};
		idx[1] = p[3];
		raw_head(&r, 3, idx);
		r.ndata = 2;
		EXPECT(DEADLIST_ERR_ORDER, "offset 0");
		memset(&r, 0, sizeof(r));
		r.ndata = 2;
		raw_pair(&r, 0, NULL, &p[3]);
		raw_pair(&r, 1, NULL, &p[0]);
		idx[0] = p[3];
		idx[1] = p[0];
		raw_head(&r, 2, idx);
		EXPECT(DEADLIST_ERR_ORDER, "chunk 1 before chunk 0");
		rc = raw_decode(&r, cap, 899999);
		CHECK(rc == DEADLIST_ERR_ORDER, "ordinal past max_ordinal");
		memset(&r, 0, sizeof(r));
		r.ndata = 2;
		raw_pair(&r, 0, NULL, &p[0]);
		raw_pair(&r, 1, NULL, &p[1]);
		idx[0] = p[0];
		idx[1] = p[1];
		raw_head(&r, 2, idx);
		EXPECT(DEADLIST_ERR_PACKING, "chunk 0 ends with room for the next pair");
#undef EXPECT
	}
	CHECK(deadlist_chunks_needed(p, 2, DEADLIST_MIN_CHUNK - 1, &(uint32_t) {0},
								 &(uint32_t) {0}) == DEADLIST_ERR_ARGS,
		  "capacity below the minimum");
	idx[0] = p[1];
	idx[1] = p[0];
	CHECK(deadlist_chunks_needed(idx, 2, 64, &(uint32_t) {0}, &(uint32_t) {0}) ==
		  DEADLIST_ERR_ARGS, "unsorted pairs refused by the encoder");
	for (ci = 0; ci < DEADLIST_NERRORS; ci++)
		CHECK(deadlist_strerror((int) ci)[0] != '\0', "message");
}

/* An empty list: head only; the cursor starts past the end. */
static void
test_empty(void)
{
	Enc			e;
	DeadList   *l = NULL;
	DeadCursor	c;

	encode(NULL, 0, 64, &e);
	CHECK(e.n == 1 && e.lens[0] == DEADLIST_HEAD_FIXED, "empty list: one chunk");
	CHECK(decode(&e, 64, 0, &l) == DEADLIST_OK && l && l->npairs == 0,
		  "empty list decodes");
	if (l)
	{
		deadlist_cursor_init(&c, l);
		CHECK(!c.valid && !deadlist_cursor_is_dead(&c, 0, 1, 1) &&
			  !deadlist_cursor_seek(&c, 0) && !deadlist_contains(l, 0, 1, 1),
			  "empty list: nothing is dead");
		talloc.free(NULL, l);
	}
	enc_free(&e);
}

int
main(void)
{
	test_round_trip();
	test_cursor();
	test_merge();
	test_damage();
	test_empty();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
