/*-------------------------------------------------------------------------
 *
 * deadlist.c
 *	  Plain C: dead lists (format and contract in deadlist.h).
 *
 * One function codes a pair against its predecessor (pair_put) and one
 * decodes it (pair_get); the encoder's greedy packing (pack_plan), the
 * decoder's checks, the cursor and the point lookup all go through them,
 * so the four agree on the format by construction.  The head uses
 * chunkstream.h's cursors, since with small capacities it spans chunks.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chunkstream.h"
#include "deadlist.h"

static const char *const deadlist_messages[DEADLIST_NERRORS] = {
	[DEADLIST_OK] = "valid",
	[DEADLIST_ERR_ARGS] = "invalid arguments to the dead list coder",
	[DEADLIST_ERR_TRUNCATED] = "dead list head ends inside a field",
	[DEADLIST_ERR_MAGIC] = "dead list has a bad magic number",
	[DEADLIST_ERR_VERSION] = "dead list has an unknown version",
	[DEADLIST_ERR_LENGTH] = "dead list length does not match its pages",
	[DEADLIST_ERR_COUNTS] = "dead list pair count does not match its data",
	[DEADLIST_ERR_INDEX] = "dead list index does not match its pages",
	[DEADLIST_ERR_ORDER] = "dead list pairs are out of order or out of range",
	[DEADLIST_ERR_ENCODING] = "dead list page holds a malformed pair",
	[DEADLIST_ERR_PACKING] = "dead list page ends before it is full",
	[DEADLIST_ERR_NOMEM] = "out of memory decoding a dead list",
};

/*
 * deadlist_strerror
 *		A static message for a code; an unknown code gets a generic one.
 */
const char *
deadlist_strerror(int code)
{
	if (code < 0 || code >= DEADLIST_NERRORS)
		return "unknown dead list error";
	return deadlist_messages[code];
}

/*
 * deadlist_pair_cmp
 *		By ordinal, then block, then offset.
 */
int
deadlist_pair_cmp(const DeadPair *a, const DeadPair *b)
{
	if (a->ordinal != b->ordinal)
		return a->ordinal < b->ordinal ? -1 : 1;
	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

/* ------------------------------------------------------- sorting, merging */

/* Sift-down of a max-heap of pairs (heapsort's step). */
static void
sift_pairs(DeadPair *a, size_t root, size_t n)
{
	for (;;)
	{
		size_t		child = 2 * root + 1;
		DeadPair	t;

		if (child >= n)
			return;
		if (child + 1 < n && deadlist_pair_cmp(&a[child + 1], &a[child]) > 0)
			child++;
		if (deadlist_pair_cmp(&a[root], &a[child]) >= 0)
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

/*
 * deadlist_sort
 *		Heapsort (no recursion, no allocation), then drop duplicates.
 */
size_t
deadlist_sort(DeadPair *pairs, size_t n)
{
	size_t		i,
				m;

	for (i = n / 2; i-- > 0;)
		sift_pairs(pairs, i, n);
	for (i = n; i-- > 1;)
	{
		DeadPair	t = pairs[0];

		pairs[0] = pairs[i];
		pairs[i] = t;
		sift_pairs(pairs, 0, i);
	}
	m = 0;
	for (i = 0; i < n; i++)
		if (m == 0 || deadlist_pair_cmp(&pairs[m - 1], &pairs[i]) != 0)
			pairs[m++] = pairs[i];
	return m;
}

/*
 * deadlist_merge
 *		The usual two-way merge; a pair in both inputs is written once.
 */
size_t
deadlist_merge(const DeadPair *a, size_t na, const DeadPair *b, size_t nb,
			   DeadPair *out)
{
	size_t		i = 0,
				j = 0,
				k = 0;

	while (i < na && j < nb)
	{
		int			c = deadlist_pair_cmp(&a[i], &b[j]);

		if (c <= 0)
			out[k++] = a[i++];
		else
			out[k++] = b[j++];
		if (c == 0)
			j++;
	}
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
	return k;
}

/* ------------------------------------------------------------ pair coding */

/*
 * Code cur into b (room for DEADLIST_MAX_PAIR bytes): absolute when prev
 * is NULL (a chunk's first pair), else against prev (< cur).  Returns the
 * length.
 */
static size_t
pair_put(uint8_t *b, const DeadPair *prev, const DeadPair *cur)
{
	size_t		n = 0;

	if (prev == NULL || cur->ordinal != prev->ordinal)
	{
		n += put_varint(b + n, prev ? cur->ordinal - prev->ordinal : cur->ordinal);
		n += put_varint(b + n, cur->block);
		n += put_varint(b + n, cur->offset);
		return n;
	}
	n += put_varint(b + n, 0);
	n += put_varint(b + n, cur->block - prev->block);
	if (cur->block == prev->block)
		n += put_varint(b + n, (uint64_t) (cur->offset - prev->offset));
	else
		n += put_varint(b + n, cur->offset);
	return n;
}

/*
 * Decode one pair from p[*off..len) into *out, against prev as pair_put
 * coded it; advances *off.  Returns DEADLIST_ERR_ENCODING for a varint
 * that is malformed, runs past len or is too wide for its field, and
 * DEADLIST_ERR_ORDER if the pair is not after prev or its offset is 0.
 */
static int
pair_get(const uint8_t *p, size_t len, size_t *off, const DeadPair *prev,
		 DeadPair *out)
{
	uint64_t	a,
				b,
				c;

	if (!varint_get(p, len, off, &a) || !varint_get(p, len, off, &b) ||
		!varint_get(p, len, off, &c))
		return DEADLIST_ERR_ENCODING;
	if (prev == NULL || a > 0)
	{
		if (prev && a > UINT64_MAX - prev->ordinal)
			return DEADLIST_ERR_ENCODING;
		out->ordinal = prev ? prev->ordinal + a : a;
		if (b > UINT32_MAX || c > UINT16_MAX)
			return DEADLIST_ERR_ENCODING;
		out->block = (uint32_t) b;
		out->offset = (uint16_t) c;
	}
	else
	{
		out->ordinal = prev->ordinal;
		if (b > (uint64_t) (UINT32_MAX - prev->block))
			return DEADLIST_ERR_ENCODING;
		out->block = (uint32_t) (prev->block + b);
		if (b == 0)
		{
			if (c == 0)
				return DEADLIST_ERR_ORDER;
			if (c > (uint64_t) (UINT16_MAX - prev->offset))
				return DEADLIST_ERR_ENCODING;
			c += prev->offset;
		}
		else if (c > UINT16_MAX)
			return DEADLIST_ERR_ENCODING;
		out->offset = (uint16_t) c;
	}
	if (out->offset == 0)
		return DEADLIST_ERR_ORDER;
	return DEADLIST_OK;
}

/* Length of cur coded against prev (NULL: absolute). */
static size_t
pair_len(const DeadPair *prev, const DeadPair *cur)
{
	uint8_t		b[DEADLIST_MAX_PAIR];

	return pair_put(b, prev, cur);
}

/* ------------------------------------------------------------- encoding */

/*
 * Greedy packing of pairs[0..n) into chunks of capacity cap: a pair opens
 * a new chunk (coded absolute) when it does not fit the current one coded
 * against its predecessor.  Returns the number of data chunks.
 */
static uint32_t
pack_plan(const DeadPair *pairs, size_t n, size_t cap)
{
	uint32_t	nchunks = 0;
	size_t		fill = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		size_t		l = nchunks ? pair_len(&pairs[i - 1], &pairs[i]) : 0;

		if (nchunks == 0 || fill + l > cap)
		{
			nchunks++;
			fill = pair_len(NULL, &pairs[i]);
		}
		else
			fill += l;
	}
	return nchunks;
}

/* Are the pairs strictly ascending with offsets >= 1, cap in range? */
static bool
encode_args_ok(const DeadPair *pairs, size_t n, size_t cap)
{
	size_t		i;

	if (cap < DEADLIST_MIN_CHUNK || cap > DEADLIST_MAX_CHUNK)
		return false;
	for (i = 0; i < n; i++)
		if (pairs[i].offset == 0 ||
			(i > 0 && deadlist_pair_cmp(&pairs[i - 1], &pairs[i]) >= 0))
			return false;
	return true;
}

/* Head chunks for ndata data chunks at capacity cap. */
static uint32_t
head_chunks(uint32_t ndata, size_t cap)
{
	uint64_t	bytes = DEADLIST_HEAD_FIXED +
		(uint64_t) DEADLIST_INDEX_BYTES * ndata;

	return (uint32_t) (bytes / cap + (bytes % cap != 0));
}

/*
 * deadlist_chunks_needed
 *		The packing plan's chunk count, plus the head's.
 */
int
deadlist_chunks_needed(const DeadPair *pairs, size_t n, size_t cap,
					   uint32_t *nhead, uint32_t *ndata)
{
	if (!encode_args_ok(pairs, n, cap))
		return DEADLIST_ERR_ARGS;
	*ndata = pack_plan(pairs, n, cap);
	*nhead = head_chunks(*ndata, cap);
	return DEADLIST_OK;
}

/*
 * deadlist_encode
 *		The data chunks, packed as pack_plan counted them, then the head
 *		(fixed part, and the index read back from the data chunks) through
 *		a chunk writer.
 */
int
deadlist_encode(const DeadPair *pairs, size_t n, size_t cap,
				uint8_t *const *chunks, uint32_t nchunks, size_t *lens)
{
	ChunkWriter w;
	uint32_t	nhead,
				ndata,
				ci;
	size_t		i;

	if (deadlist_chunks_needed(pairs, n, cap, &nhead, &ndata) != DEADLIST_OK ||
		nchunks != nhead + ndata)
		return DEADLIST_ERR_ARGS;

	/* data chunks first (greedily, as pack_plan): the index needs them */
	ci = nhead;
	for (i = 0; i < n; i++)
	{
		uint8_t		b[DEADLIST_MAX_PAIR];
		size_t		l;

		if (ci > nhead)
		{
			l = pair_put(b, &pairs[i - 1], &pairs[i]);
			if (lens[ci - 1] + l <= cap)
			{
				memcpy(chunks[ci - 1] + lens[ci - 1], b, l);
				lens[ci - 1] += l;
				continue;
			}
		}
		l = pair_put(b, NULL, &pairs[i]);
		memcpy(chunks[ci], b, l);
		lens[ci++] = l;
	}

	memset(&w, 0, sizeof(w));
	w.chunks = chunks;
	w.lens = lens;
	w.nchunks = nhead;
	w.cap = cap;
	chunkstream_put_uint(&w, DEADLIST_MAGIC, 4);
	chunkstream_put_uint(&w, DEADLIST_VERSION, 2);
	chunkstream_put_uint(&w, 0, 2);
	chunkstream_put_uint(&w, DEADLIST_HEAD_FIXED +
						 (uint64_t) DEADLIST_INDEX_BYTES * ndata, 4);
	chunkstream_put_uint(&w, ndata, 4);
	chunkstream_put_uint(&w, n, 8);
	for (ci = nhead; ci < nchunks; ci++)
	{
		size_t		off = 0;
		DeadPair	first;

		(void) pair_get(chunks[ci], lens[ci], &off, NULL, &first);
		chunkstream_put_uint(&w, first.ordinal, 8);
		chunkstream_put_uint(&w, first.block, 4);
		chunkstream_put_uint(&w, first.offset, 2);
	}
	return w.overflow ? DEADLIST_ERR_ARGS : DEADLIST_OK;
}

/* ---------------------------------------------------------------- decoding */

/* The head's fixed part, as read. */
typedef struct HeadFixed
{
	uint64_t	head_bytes;
	uint64_t	ndata;
	uint64_t	npairs;
	uint32_t	nhead;
} HeadFixed;

/*
 * Phase 1: the fixed part of the head, then the chunks' shape against it
 * (head chunks full but the last, which ends the head; data chunks not
 * empty) and the pair count against the data bytes (a pair takes at least
 * three).
 */
static int
decode_head(const uint8_t *const *chunks, const size_t *lens,
			uint32_t nchunks, size_t cap, HeadFixed *f)
{
	ChunkReader r = {chunks, lens, nchunks, 0, 0, 0};
	uint64_t	magic,
				version,
				reserved,
				data_bytes = 0;
	uint32_t	i;

	for (i = 0; i < nchunks; i++)
	{
		if (lens[i] > cap)
			return DEADLIST_ERR_LENGTH;
		r.left += lens[i];
	}
	if (!chunkstream_get_uint(&r, &magic, 4))
		return DEADLIST_ERR_TRUNCATED;
	if (magic != DEADLIST_MAGIC)
		return DEADLIST_ERR_MAGIC;
	if (!chunkstream_get_uint(&r, &version, 2) ||
		!chunkstream_get_uint(&r, &reserved, 2) ||
		!chunkstream_get_uint(&r, &f->head_bytes, 4) ||
		!chunkstream_get_uint(&r, &f->ndata, 4) ||
		!chunkstream_get_uint(&r, &f->npairs, 8))
		return DEADLIST_ERR_TRUNCATED;
	if (version != DEADLIST_VERSION || reserved != 0)
		return DEADLIST_ERR_VERSION;
	if (f->head_bytes != DEADLIST_HEAD_FIXED + DEADLIST_INDEX_BYTES * f->ndata)
		return DEADLIST_ERR_LENGTH;
	f->nhead = head_chunks((uint32_t) f->ndata, cap);
	if (f->nhead + f->ndata != nchunks)
		return DEADLIST_ERR_LENGTH;
	for (i = 0; i < nchunks; i++)
	{
		size_t		want = cap;

		if (i + 1 == f->nhead)
			want = f->head_bytes - (uint64_t) (f->nhead - 1) * cap;
		if (i < f->nhead ? lens[i] != want : lens[i] == 0)
			return DEADLIST_ERR_LENGTH;
		if (i >= f->nhead)
			data_bytes += lens[i];
	}
	if (f->npairs < f->ndata || f->npairs > data_bytes / 3)
		return DEADLIST_ERR_COUNTS;
	return DEADLIST_OK;
}

/* Phase 2: the index, from the head stream after its fixed part. */
static int
decode_index(const uint8_t *const *chunks, const size_t *lens,
			 const HeadFixed *f, DeadPair *index)
{
	ChunkReader r = {chunks, lens, f->nhead, 0, 0, f->head_bytes};
	uint64_t	i;

	(void) chunkstream_get(&r, NULL, DEADLIST_HEAD_FIXED);
	for (i = 0; i < f->ndata; i++)
	{
		uint64_t	ord,
					blk,
					off;

		if (!chunkstream_get_uint(&r, &ord, 8) ||
			!chunkstream_get_uint(&r, &blk, 4) ||
			!chunkstream_get_uint(&r, &off, 2))
			return DEADLIST_ERR_TRUNCATED;
		index[i].ordinal = ord;
		index[i].block = (uint32_t) blk;
		index[i].offset = (uint16_t) off;
	}
	return DEADLIST_OK;
}

/*
 * Phase 3: every pair of every data chunk: each chunk's first pair is its
 * index entry and after the previous chunk's last pair, which could not
 * have held it; all pairs ascend, ordinals up to max_ordinal; the total
 * is npairs.
 */
static int
decode_data(const uint8_t *const *data, const size_t *lens, uint32_t ndata,
			size_t cap, const DeadPair *index, uint64_t npairs,
			uint64_t max_ordinal)
{
	DeadPair	last = {0, 0, 0};
	uint64_t	count = 0;
	uint32_t	j;

	for (j = 0; j < ndata; j++)
	{
		size_t		off = 0;
		DeadPair	p;
		int			rc;

		if ((rc = pair_get(data[j], lens[j], &off, NULL, &p)) != DEADLIST_OK)
			return rc;
		if (deadlist_pair_cmp(&p, &index[j]) != 0)
			return DEADLIST_ERR_INDEX;
		if (j > 0)
		{
			if (deadlist_pair_cmp(&last, &p) >= 0)
				return DEADLIST_ERR_ORDER;
			if (lens[j - 1] + pair_len(&last, &p) <= cap)
				return DEADLIST_ERR_PACKING;
		}
		for (;;)
		{
			if (p.ordinal > max_ordinal)
				return DEADLIST_ERR_ORDER;
			count++;
			last = p;
			if (off == lens[j])
				break;
			if ((rc = pair_get(data[j], lens[j], &off, &last, &p)) != DEADLIST_OK)
				return rc;
		}
	}
	if (count != npairs)
		return DEADLIST_ERR_COUNTS;
	return DEADLIST_OK;
}

/*
 * deadlist_decode
 *		Head, index, data (see the phases); one allocation holds the
 *		DeadList, its index and its copy of the data chunks' addresses.
 */
int
deadlist_decode(const uint8_t *const *chunks, const size_t *lens,
				uint32_t nchunks, size_t cap, uint64_t max_ordinal,
				const FstAllocator *alloc, DeadList **out)
{
	HeadFixed	f;
	DeadList   *list;
	DeadPair   *index;
	const uint8_t **data;
	size_t	   *dlens;
	int			rc;

	*out = NULL;
	if (chunks == NULL || lens == NULL || nchunks == 0 ||
		cap < DEADLIST_MIN_CHUNK || cap > DEADLIST_MAX_CHUNK)
		return DEADLIST_ERR_ARGS;
	if ((rc = decode_head(chunks, lens, nchunks, cap, &f)) != DEADLIST_OK)
		return rc;

	list = alloc->alloc(alloc->arg, sizeof(DeadList) +
						f.ndata * (sizeof(DeadPair) + sizeof(uint8_t *) +
								   sizeof(size_t)));
	if (list == NULL)
		return DEADLIST_ERR_NOMEM;
	index = (DeadPair *) (list + 1);
	data = (const uint8_t **) (index + f.ndata);
	dlens = (size_t *) (data + f.ndata);
	memcpy(data, chunks + f.nhead, f.ndata * sizeof(uint8_t *));
	memcpy(dlens, lens + f.nhead, f.ndata * sizeof(size_t));
	list->npairs = f.npairs;
	list->ndata = (uint32_t) f.ndata;
	list->index = index;
	list->data = data;
	list->lens = dlens;

	rc = decode_index(chunks, lens, &f, index);
	if (rc == DEADLIST_OK)
		rc = decode_data(data, dlens, list->ndata, cap, index, f.npairs,
						 max_ordinal);
	if (rc != DEADLIST_OK)
	{
		alloc->free(alloc->arg, list);
		return rc;
	}
	*out = list;
	return DEADLIST_OK;
}

/* ----------------------------------------------------- reading a list */

/*
 * deadlist_collect
 *		Every pair, chunk by chunk.  The list was validated by
 *		deadlist_decode; a chunk that stopped decoding (changed since) ends
 *		the copy early rather than reading past it.
 */
void
deadlist_collect(const DeadList *list, DeadPair *out)
{
	uint64_t	k = 0;
	uint32_t	j;

	for (j = 0; j < list->ndata; j++)
	{
		size_t		off = 0;
		const DeadPair *prev = NULL;

		while (off < list->lens[j] && k < list->npairs &&
			   pair_get(list->data[j], list->lens[j], &off, prev,
						&out[k]) == DEADLIST_OK)
			prev = &out[k++];
	}
}

/* The last chunk whose first pair is <= q, or -1 if none. */
static int64_t
index_search(const DeadList *list, const DeadPair *q)
{
	int64_t		lo = -1,
				hi = list->ndata;

	/* invariant: index[lo] <= q < index[hi] (lo -1 and hi ndata: outside) */
	while (hi - lo > 1)
	{
		int64_t		mid = lo + (hi - lo) / 2;

		if (deadlist_pair_cmp(&list->index[mid], q) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * deadlist_contains
 *		Only the chunk the index names can hold q; decode it up to q.
 */
bool
deadlist_contains(const DeadList *list, uint64_t ordinal, uint32_t block,
				  uint16_t offset)
{
	DeadPair	q = {ordinal, block, offset};
	int64_t		j = index_search(list, &q);
	DeadPair	p,
				prev;
	size_t		off = 0;

	if (j < 0)
		return false;
	if (pair_get(list->data[j], list->lens[j], &off, NULL, &p) != DEADLIST_OK)
		return false;
	while (deadlist_pair_cmp(&p, &q) < 0)
	{
		if (off >= list->lens[j])
			return false;
		prev = p;
		if (pair_get(list->data[j], list->lens[j], &off, &prev, &p) != DEADLIST_OK)
			return false;
	}
	return deadlist_pair_cmp(&p, &q) == 0;
}

/* ------------------------------------------------------------ the cursor */

/* Put the cursor on chunk j's first pair (past the end if j is ndata). */
static void
cursor_chunk(DeadCursor *c, uint32_t j)
{
	size_t		off = 0;

	c->valid = j < c->list->ndata &&
		pair_get(c->list->data[j], c->list->lens[j], &off, NULL,
				 &c->cur) == DEADLIST_OK;
	c->chunk = j;
	c->next_off = off;
}

/* Pass the current pair. */
static void
cursor_step(DeadCursor *c)
{
	const DeadList *list = c->list;

	c->before = c->cur;
	c->before_strict = false;
	c->at_start = false;
	if (c->next_off < list->lens[c->chunk])
	{
		DeadPair	n;
		size_t		off = c->next_off;

		c->valid = pair_get(list->data[c->chunk], list->lens[c->chunk], &off,
							&c->before, &n) == DEADLIST_OK;
		c->cur = n;
		c->next_off = off;
	}
	else
		cursor_chunk(c, c->chunk + 1);
}

/*
 * deadlist_cursor_init
 *		On the first pair (past the end of an empty list).
 */
void
deadlist_cursor_init(DeadCursor *c, const DeadList *list)
{
	memset(c, 0, sizeof(*c));
	c->list = list;
	c->at_start = true;
	cursor_chunk(c, 0);
}

/*
 * Move to the first pair >= q.  Steps forward when every pair before the
 * cursor is < q and q is not past the next chunk's first pair; otherwise
 * searches the index first.  Afterwards every pair before the cursor is
 * < q, which is the bound kept unless a step gave a tighter one.
 */
static void
cursor_goto(DeadCursor *c, const DeadPair *q)
{
	const DeadList *list = c->list;
	bool		behind = c->at_start ||
		(c->before_strict ? deadlist_pair_cmp(&c->before, q) <= 0 :
		 deadlist_pair_cmp(&c->before, q) < 0);
	bool		far = c->valid && c->chunk + 1 < list->ndata &&
		deadlist_pair_cmp(&list->index[c->chunk + 1], q) <= 0;
	bool		stepped = false;

	if (!behind || far)
	{
		int64_t		j = index_search(list, q);

		if (j < 0)
			j = 0;
		c->at_start = j == 0;
		cursor_chunk(c, (uint32_t) j);
	}
	while (c->valid && deadlist_pair_cmp(&c->cur, q) < 0)
	{
		cursor_step(c);
		stepped = true;
	}
	if (!stepped && !c->at_start)
	{
		c->before = *q;
		c->before_strict = true;
	}
}

/*
 * deadlist_cursor_seek
 *		To the first pair with an ordinal >= ordinal: the first pair >=
 *		(ordinal, 0, 0).
 */
bool
deadlist_cursor_seek(DeadCursor *c, uint64_t ordinal)
{
	DeadPair	q = {ordinal, 0, 0};

	cursor_goto(c, &q);
	return c->valid;
}

/*
 * deadlist_cursor_next
 *		One step; past the end it stays there.
 */
bool
deadlist_cursor_next(DeadCursor *c)
{
	if (c->valid)
		cursor_step(c);
	return c->valid;
}

/*
 * deadlist_cursor_is_dead
 *		To the first pair >= the query; dead if that is the query.
 */
bool
deadlist_cursor_is_dead(DeadCursor *c, uint64_t ordinal, uint32_t block,
						uint16_t offset)
{
	DeadPair	q = {ordinal, block, offset};

	cursor_goto(c, &q);
	return c->valid && deadlist_pair_cmp(&c->cur, &q) == 0;
}
