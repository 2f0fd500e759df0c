/*-------------------------------------------------------------------------
 *
 * fuzz_deadlist.c
 *	  libFuzzer target for dead lists (src/deadlist.c).
 *
 * Input: byte 0 picks the mode (bit 7) and the chunk capacity (low 7 bits
 * 0x7f: 8000, else 18 + the low 6 bits), byte 1 the run's largest ordinal
 * (2^(byte % 64) - 1, or 2^64 - 1 when >= 192).  Raw mode: then chunks,
 * each a byte L and min(L, what is left) bytes (L = 255: a full chunk of
 * cap bytes, or what is left).  Structured mode (structured_chunks): a
 * list encoded from pairs in the input, then a few bytes of it damaged,
 * so that near-valid lists are reached.  Decoding must fail
 * cleanly (a known code, nothing allocated) or give a list that
 * re-encodes to exactly the input's chunks; then a cursor and point
 * lookups over it, driven by queries cut from the input and by the
 * list's own pairs, must agree with a binary search of the collected
 * pairs, and reading never leaves the chunks (ASan: each chunk is its
 * own allocation of exactly its length).
 *
 *-------------------------------------------------------------------------
 */
#include "deadlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHUNKS	1024

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
f_alloc(void *arg, size_t size)
{
	(void) arg;
	return malloc(size ? size : 1);
}

static void
f_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const FstAllocator falloc = {f_alloc, NULL, f_free, NULL};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_deadlist mismatch: %s\n", what);
	abort();
}

/* Is q among pairs[0..n) (sorted)? */
static bool
oracle_has(const DeadPair *pairs, uint64_t n, const DeadPair *q)
{
	uint64_t	lo = 0,
				hi = n;

	while (lo < hi)
	{
		uint64_t	mid = lo + (hi - lo) / 2;
		int			c = deadlist_pair_cmp(&pairs[mid], q);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Cursor and lookups against the collected pairs. */
static void
check_reads(const DeadList *l, const uint8_t *data, size_t size)
{
	DeadPair   *pairs = malloc((l->npairs + 1) * sizeof(DeadPair));
	DeadCursor	c;
	uint64_t	i;
	size_t		k;

	deadlist_collect(l, pairs);
	for (i = 1; i < l->npairs; i++)
		if (deadlist_pair_cmp(&pairs[i - 1], &pairs[i]) >= 0)
			fail("collected pairs not ascending");

	/*
	 * walk: every pair is dead, met in order (point lookups decode up to
	 * a whole chunk each: only every 16th, to keep runs fast)
	 */
	deadlist_cursor_init(&c, l);
	for (i = 0; i < l->npairs; i++)
		if (!deadlist_cursor_is_dead(&c, pairs[i].ordinal, pairs[i].block,
									 pairs[i].offset) ||
			(i % 16 == 0 &&
			 !deadlist_contains(l, pairs[i].ordinal, pairs[i].block,
								pairs[i].offset)))
			fail("a pair of the list is not dead");

	/* seek + next from the middle reads the pairs that follow, in order */
	if (l->npairs > 0)
	{
		uint64_t	from = l->npairs / 2;

		deadlist_cursor_seek(&c, pairs[from].ordinal);
		while (from > 0 && pairs[from - 1].ordinal == pairs[from].ordinal)
			from--;
		for (i = from; i < l->npairs; i++)
		{
			if (!c.valid || deadlist_pair_cmp(&c.cur, &pairs[i]) != 0)
				fail("seek and next");
			deadlist_cursor_next(&c);
		}
		if (c.valid)
			fail("next past the last pair");
	}

	/* queries from the input, in input order (ascending or not) */
	deadlist_cursor_init(&c, l);
	for (k = 0; k + 8 <= size && k < 240; k += 3)
	{
		DeadPair	q;
		bool		want;

		q.ordinal = l->npairs && data[k] < 200 ?
			pairs[data[k + 1] % l->npairs].ordinal + (data[k + 2] % 3) - 1 :
			data[k + 1];
		q.block = l->npairs && data[k + 3] < 200 ?
			pairs[data[k + 4] % l->npairs].block + (data[k + 5] % 3) - 1 :
			data[k + 4];
		q.offset = l->npairs && data[k + 6] < 128 ?
			pairs[data[k + 4] % l->npairs].offset :
			(uint16_t) (1 + data[k + 6] % 8);
		want = oracle_has(pairs, l->npairs, &q);
		if (data[k + 7] % 4 == 0)
		{
			bool		v = deadlist_cursor_seek(&c, q.ordinal);

			if (v != c.valid || (v && c.cur.ordinal < q.ordinal))
				fail("seek");
			continue;
		}
		if (deadlist_cursor_is_dead(&c, q.ordinal, q.block, q.offset) != want)
			fail("cursor is_dead");
		if (deadlist_contains(l, q.ordinal, q.block, q.offset) != want)
			fail("contains");
	}
	free(pairs);
}

/* Raw mode: chunks as length-prefixed pieces of the input. */
static uint32_t
raw_chunks(const uint8_t *data, size_t size, size_t cap, uint8_t **chunks,
		   size_t *lens)
{
	size_t		off = 0;
	uint32_t	n = 0;

	while (off < size && n < MAX_CHUNKS)
	{
		size_t		l2 = data[off++];

		if (l2 == 255)
			l2 = cap;
		if (l2 > size - off)
			l2 = size - off;
		chunks[n] = malloc(l2 ? l2 : 1);
		memcpy(chunks[n], data + off, l2);
		lens[n++] = l2;
		off += l2;
	}
	return n;
}

/*
 * Structured mode: byte 0 is a mutation count m; the last 3m bytes are m
 * mutations (chunk, position, xor value; a position of 255 drops the
 * chunk's last byte instead); the bytes between are pairs (ordinal step,
 * block, offset), sorted and encoded at cap, then mutated: so the fuzzer
 * explores lists that are valid but for a few bytes.
 */
static uint32_t
structured_chunks(const uint8_t *data, size_t size, size_t cap,
				  uint8_t **chunks, size_t *lens)
{
	size_t		m = size ? data[0] % 8 : 0;
	size_t		body,
				np = 0,
				k;
	DeadPair	pairs[1400];
	uint8_t    *enc[MAX_CHUNKS];
	uint32_t	nh,
				nd,
				n,
				i;
	uint64_t	ord = 0;

	if (size < 1 + 3 * m)
		return 0;
	body = size - 1 - 3 * m;
	for (k = 0; k + 3 <= body && np < 1400; k += 3)
	{
		const uint8_t *b = data + 1 + k;

		ord += b[0] >> 4;
		pairs[np].ordinal = ord;
		pairs[np].block = (uint32_t) (b[0] & 0xf) << (b[1] >> 5) * 4 | (b[1] & 0x1f);
		pairs[np].offset = (uint16_t) (b[2] ? b[2] : 1) << (b[1] >> 7) * 8;
		np++;
	}
	np = deadlist_sort(pairs, np);
	if (deadlist_chunks_needed(pairs, np, cap, &nh, &nd) != DEADLIST_OK ||
		nh + nd > MAX_CHUNKS)
		return 0;
	n = nh + nd;
	for (i = 0; i < n; i++)
		enc[i] = malloc(cap);
	if (deadlist_encode(pairs, np, cap, enc, n, lens) != DEADLIST_OK)
		fail("encode of sorted pairs");
	for (k = 0; k < m; k++)
	{
		const uint8_t *mu = data + size - 3 * (k + 1);
		uint32_t	c = mu[0] % n;

		if (mu[1] == 255)
		{
			if (lens[c] > 0)
				lens[c]--;
		}
		else if (lens[c] > 0)
			enc[c][mu[1] % lens[c]] ^= mu[2];
	}
	for (i = 0; i < n; i++)
	{
		chunks[i] = malloc(lens[i] ? lens[i] : 1);
		memcpy(chunks[i], enc[i], lens[i]);
		free(enc[i]);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *chunks[MAX_CHUNKS];
	size_t		lens[MAX_CHUNKS];
	uint8_t    *out[MAX_CHUNKS];
	size_t		outlens[MAX_CHUNKS];
	size_t		cap;
	uint64_t	maxord;
	uint32_t	n = 0,
				i,
				nh,
				nd;
	DeadList   *l = NULL;
	DeadPair   *pairs;
	int			rc;

	if (size < 3)
		return 0;
	cap = (data[0] & 0x7f) == 0x7f ? 8000 : DEADLIST_MIN_CHUNK + (data[0] & 0x3f);
	maxord = data[1] >= 192 ? UINT64_MAX : (UINT64_C(1) << (data[1] % 64)) - 1;
	if (data[0] & 0x80)
		n = structured_chunks(data + 2, size - 2, cap, chunks, lens);
	else
		n = raw_chunks(data + 2, size - 2, cap, chunks, lens);
	if (n == 0)
		return 0;
	rc = deadlist_decode((const uint8_t *const *) chunks, lens, n, cap, maxord,
						 &falloc, &l);
	if (rc != DEADLIST_OK)
	{
		if (l != NULL || rc <= 0 || rc >= DEADLIST_NERRORS)
			fail("failed decode");
		goto done;
	}
	pairs = malloc((l->npairs + 1) * sizeof(DeadPair));
	deadlist_collect(l, pairs);
	if (deadlist_chunks_needed(pairs, l->npairs, cap, &nh, &nd) != DEADLIST_OK ||
		nh + nd != n)
		fail("re-encoded chunk count");
	for (i = 0; i < n; i++)
		out[i] = malloc(cap);
	if (deadlist_encode(pairs, l->npairs, cap, out, n, outlens) != DEADLIST_OK)
		fail("re-encode");
	for (i = 0; i < n; i++)
	{
		if (outlens[i] != lens[i] || memcmp(out[i], chunks[i], lens[i]) != 0)
			fail("re-encoded bytes differ");
		free(out[i]);
	}
	free(pairs);
	check_reads(l, data, size);
	f_free(NULL, l);
done:
	for (i = 0; i < n; i++)
		free(chunks[i]);
	return 0;
}
