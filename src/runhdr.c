/*-------------------------------------------------------------------------
 *
 * runhdr.c
 *	  Plain C: a run's header in memory and in header-page chunks (the
 *	  format and its rules are in runhdr.h).
 *
 * The stream is written and read through chunkstream.h's cursors over
 * the chunk array, so no field needs to fit in one chunk and any capacity
 * from one byte up works.  Decoding reads the fixed part,
 * checks the counts against the bytes present, makes one allocation for
 * the whole header and then runs the same checks as runhdr_check.  A
 * version-2 or -3 stream's CRC is checked right after its length fields,
 * so any other damage to it is reported as a CRC mismatch.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chunkstream.h"
#include "crc32c.h"
#include "runhdr.h"

static const char *const runhdr_messages[RUNHDR_NERRORS] = {
	[RUNHDR_OK] = "valid",
	[RUNHDR_ERR_ARGS] = "invalid arguments to the run header decoder",
	[RUNHDR_ERR_TRUNCATED] = "run header ends inside a field",
	[RUNHDR_ERR_MAGIC] = "run header has a bad magic number",
	[RUNHDR_ERR_VERSION] = "run header has an unknown version",
	[RUNHDR_ERR_LENGTH] = "run header length does not match its pages",
	[RUNHDR_ERR_COUNTS] = "run header counts exceed its length",
	[RUNHDR_ERR_EXTENT_EMPTY] = "run header has an empty extent",
	[RUNHDR_ERR_EXTENT_RANGE] = "run header extent lies outside the relation",
	[RUNHDR_ERR_EXTENT_OVERLAP] = "run header extents overlap",
	[RUNHDR_ERR_SLICE_PAGES] = "run header slice pages are inconsistent",
	[RUNHDR_ERR_FENCE_LENGTH] = "run header fence key is too long",
	[RUNHDR_ERR_FENCE_ORDER] = "run header fence keys are out of order",
	[RUNHDR_ERR_NULLS] = "run header NULL TIDs are invalid",
	[RUNHDR_ERR_NOMEM] = "out of memory decoding a run header",
	[RUNHDR_ERR_CRC] = "run header does not match its checksum",
	[RUNHDR_ERR_SLICE_KEYS] = "run header slice key counts are invalid",
	[RUNHDR_ERR_FILTER] = "run header filter parameters or pages are invalid",
};

/*
 * runhdr_strerror
 *		A static message for a code; an unknown code gets a generic one.
 */
const char *
runhdr_strerror(int code)
{
	if (code < 0 || code >= RUNHDR_NERRORS)
		return "unknown run header error";
	return runhdr_messages[code];
}

/* ------------------------------------------------------------------ checks */

/* Sift-down of a max-heap of u64 (heapsort's step). */
static void
sift_u64(uint64_t *a, size_t root, size_t n)
{
	for (;;)
	{
		size_t		child = 2 * root + 1;
		uint64_t	t;

		if (child >= n)
			return;
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

/* Sort a[0..n) ascending in place (heapsort: no recursion, no malloc). */
static void
sort_u64(uint64_t *a, size_t n)
{
	size_t		i;

	for (i = n / 2; i-- > 0;)
		sift_u64(a, i, n);
	for (i = n; i-- > 1;)
	{
		uint64_t	t = a[0];

		a[0] = a[i];
		a[i] = t;
		sift_u64(a, 0, i);
	}
}

/*
 * Extents: non-empty, inside blocks 1 .. nblocks - 1, lpage the running
 * sum, at most 2^32 - 1 pages in all, and no two sharing a block (checked
 * on `scratch`, nextents u64s, sorted by start).
 */
static int
check_extents(const RunHeader *h, uint32_t nblocks, uint64_t *scratch)
{
	uint64_t	sum = 0;
	uint32_t	i;

	for (i = 0; i < h->nextents; i++)
	{
		const RunExtent *e = &h->extents[i];

		if (e->length == 0)
			return RUNHDR_ERR_EXTENT_EMPTY;
		if (e->start == 0 || (uint64_t) e->start + e->length > nblocks ||
			e->lpage != sum)
			return RUNHDR_ERR_EXTENT_RANGE;
		sum += e->length;
		if (sum > UINT32_MAX)
			return RUNHDR_ERR_EXTENT_RANGE;
		scratch[i] = ((uint64_t) e->start << 32) | e->length;
	}
	if (sum != h->npages)
		return RUNHDR_ERR_EXTENT_RANGE;
	sort_u64(scratch, h->nextents);
	for (i = 1; i < h->nextents; i++)
	{
		uint64_t	pend = (scratch[i - 1] >> 32) + (scratch[i - 1] & UINT32_MAX);

		if ((scratch[i] >> 32) < pend)
			return RUNHDR_ERR_EXTENT_OVERLAP;
	}
	return RUNHDR_OK;
}

/*
 * Slices: first pages strictly increasing, each slice's bytes within the
 * pages up to the next one (the last: up to npages); fences within the
 * key limit, slice 0's empty, strictly increasing.
 */
static int
check_slices(const RunHeader *h, uint32_t page_bytes)
{
	uint64_t	keys = 0;
	uint32_t	i;

	for (i = 0; i < h->nslices; i++)
	{
		const RunSlice *s = &h->slices[i];
		uint64_t	end = i + 1 < h->nslices ? h->slices[i + 1].first_page :
			h->filter.nblocks > 0 ? h->filter_page : h->npages;
		uint64_t	bytes;
		uint64_t	pages;

		if (s->first_page >= end || s->postings_bytes == 0 ||
			s->leaf_bytes == 0)
			return RUNHDR_ERR_SLICE_PAGES;
		if (h->version >= RUNHDR_VERSION_2 &&
			((s->nkeys == 0 && h->nslices > 1) || s->nkeys > UINT64_MAX - keys))
			return RUNHDR_ERR_SLICE_KEYS;
		keys += s->nkeys;
		bytes = s->postings_bytes + s->leaf_bytes;
		if (bytes < s->postings_bytes || bytes + s->top_bytes < bytes)
			return RUNHDR_ERR_SLICE_PAGES;
		bytes += s->top_bytes;
		pages = bytes / page_bytes + (bytes % page_bytes != 0);
		if (pages > end - s->first_page)
			return RUNHDR_ERR_SLICE_PAGES;
	}
	for (i = 0; i < h->nslices; i++)
	{
		const RunSlice *s = &h->slices[i];

		if (s->fence_len > RUNHDR_MAX_KEY)
			return RUNHDR_ERR_FENCE_LENGTH;
		if (i == 0 ? s->fence_len != 0 :
			runhdr_key_cmp(h->slices[i - 1].fence, h->slices[i - 1].fence_len,
						   s->fence, s->fence_len) >= 0)
			return RUNHDR_ERR_FENCE_ORDER;
	}
	return RUNHDR_OK;
}

/*
 * The filter (version 3): none, all fields 0; or valid parameters and
 * pages that are exactly the run's last ones.  Older versions have none.
 */
static int
check_filter(const RunHeader *h, uint32_t page_bytes)
{
	const RunFilterParams *f = &h->filter;

	if (f->nblocks == 0)
		return (f->nprobes | f->block_offset | f->blocks_per_page |
				h->filter_page | h->filter_crc) == 0 ?
			RUNHDR_OK : RUNHDR_ERR_FILTER;
	if (h->version < RUNHDR_VERSION || !runfilter_params_check(f, page_bytes))
		return RUNHDR_ERR_FILTER;
	if ((uint64_t) h->filter_page + runfilter_pages(f) != h->npages)
		return RUNHDR_ERR_FILTER;
	return RUNHDR_OK;
}

/* NULL TIDs: strictly ascending by (block, offset), offsets >= 1. */
static int
check_nulls(const RunHeader *h)
{
	uint64_t	i;

	for (i = 0; i < h->nnulls; i++)
	{
		const RunTid *t = &h->nulls[i];

		if (t->offset == 0)
			return RUNHDR_ERR_NULLS;
		if (i > 0 && (t->block < t[-1].block ||
					  (t->block == t[-1].block && t->offset <= t[-1].offset)))
			return RUNHDR_ERR_NULLS;
	}
	return RUNHDR_OK;
}

/* All of the rules on a header in memory; scratch as check_extents. */
static int
check_header(const RunHeader *h, uint32_t nblocks, uint32_t page_bytes,
			 uint64_t *scratch)
{
	int			rc;

	if (page_bytes == 0)
		return RUNHDR_ERR_ARGS;
	if (h->version < RUNHDR_VERSION_1 || h->version > RUNHDR_VERSION)
		return RUNHDR_ERR_VERSION;
	if ((rc = check_extents(h, nblocks, scratch)) != RUNHDR_OK)
		return rc;
	if ((rc = check_filter(h, page_bytes)) != RUNHDR_OK)
		return rc;
	if ((rc = check_slices(h, page_bytes)) != RUNHDR_OK)
		return rc;
	return check_nulls(h);
}

/*
 * runhdr_check
 *		Check a header built in memory (see runhdr.h).  Allocates a scratch
 *		array of nextents u64s from alloc for the overlap test.
 */
int
runhdr_check(const RunHeader *h, uint32_t nblocks, uint32_t page_bytes,
			 const FstAllocator *alloc)
{
	uint64_t   *scratch;
	int			rc;

	scratch = alloc->alloc(alloc->arg, (size_t) h->nextents * sizeof(uint64_t) + 1);
	if (scratch == NULL)
		return RUNHDR_ERR_NOMEM;
	rc = check_header(h, nblocks, page_bytes, scratch);
	alloc->free(alloc->arg, scratch);
	return rc;
}

/* ---------------------------------------------------------------- encoding */

/*
 * runhdr_stream_bytes
 *		The encoded length: fixed part, tables, fences and the NULL TIDs'
 *		varints; 0 past 4 GB - 1 (the length field is a u32).
 */
size_t
runhdr_stream_bytes(const RunHeader *h)
{
	bool		v1 = h->version == RUNHDR_VERSION_1;
	uint64_t	n = v1 ? RUNHDR_FIXED_BYTES_V1 :
		h->version == RUNHDR_VERSION_2 ? RUNHDR_FIXED_BYTES_V2 :
		RUNHDR_FIXED_BYTES;
	uint32_t	i;
	uint64_t	j;

	n += (uint64_t) h->nextents * RUNHDR_EXTENT_BYTES;
	for (i = 0; i < h->nslices; i++)
		n += (v1 ? RUNHDR_SLICE_BYTES_V1 : RUNHDR_SLICE_BYTES) +
			h->slices[i].fence_len;
	for (j = 0; j < h->nnulls; j++)
	{
		const RunTid *t = &h->nulls[j];
		uint32_t	pblock = j ? t[-1].block : 0;

		n += varint_len(t->block - pblock);
		n += varint_len(j && t->block == pblock ?
						(uint64_t) (t->offset - t[-1].offset) : t->offset);
	}
	return n > UINT32_MAX ? 0 : (size_t) n;
}

/*
 * runhdr_chunks_needed
 *		ceil(stream bytes / cap); 0 if cap is 0 or the stream too long.
 */
uint32_t
runhdr_chunks_needed(const RunHeader *h, size_t cap)
{
	size_t		n = runhdr_stream_bytes(h);

	if (cap == 0 || n == 0)
		return 0;
	return (uint32_t) (n / cap + (n % cap != 0));
}

/*
 * runhdr_encode
 *		Write h's stream into the chunks (see runhdr.h), in h->version's
 *		format; a version-2 or -3 CRC goes in last, over the bytes written.  The
 *		NULL TIDs' coding assumes they ascend, which runhdr_check
 *		guarantees.
 */
int
runhdr_encode(const RunHeader *h, size_t cap, uint8_t *const *chunks,
			  uint32_t nchunks, size_t *lens)
{
	ChunkWriter w = {chunks, lens, nchunks, cap, 0, 0, false};
	size_t		total = runhdr_stream_bytes(h);
	bool		v2 = h->version >= RUNHDR_VERSION_2;	/* key counts, CRC */
	bool		v3 = h->version == RUNHDR_VERSION;	/* the filter */
	uint64_t	fence_bytes = 0;
	uint32_t	crc;
	uint32_t	i;
	uint64_t	j;

	if (cap == 0 || total == 0 || nchunks != runhdr_chunks_needed(h, cap) ||
		h->version < RUNHDR_VERSION_1 || h->version > RUNHDR_VERSION)
		return RUNHDR_ERR_ARGS;
	for (i = 0; i < h->nslices; i++)
		fence_bytes += h->slices[i].fence_len;

	chunkstream_put_uint(&w, RUNHDR_MAGIC, 4);
	chunkstream_put_uint(&w, h->version, 2);
	chunkstream_put_uint(&w, 0, 2);
	chunkstream_put_uint(&w, total, 4);
	chunkstream_put_uint(&w, h->nextents, 4);
	chunkstream_put_uint(&w, h->nslices, 4);
	chunkstream_put_uint(&w, h->run_id, 8);
	chunkstream_put_uint(&w, h->nnulls, 8);
	chunkstream_put_uint(&w, fence_bytes, 4);
	if (v2)
		chunkstream_put_uint(&w, 0, 4); /* the CRC, below */
	if (v3)
	{
		chunkstream_put_uint(&w, h->filter_page, 4);
		chunkstream_put_uint(&w, h->filter.nblocks, 4);
		chunkstream_put_uint(&w, h->filter.nprobes, 2);
		chunkstream_put_uint(&w, h->filter.block_offset, 2);
		chunkstream_put_uint(&w, h->filter.blocks_per_page, 2);
		chunkstream_put_uint(&w, 0, 2);
		chunkstream_put_uint(&w, h->filter_crc, 4);
	}
	for (i = 0; i < h->nextents; i++)
	{
		chunkstream_put_uint(&w, h->extents[i].start, 4);
		chunkstream_put_uint(&w, h->extents[i].length, 4);
	}
	for (i = 0; i < h->nslices; i++)
	{
		const RunSlice *s = &h->slices[i];

		chunkstream_put_uint(&w, s->first_page, 4);
		chunkstream_put_uint(&w, s->postings_bytes, 8);
		chunkstream_put_uint(&w, s->leaf_bytes, 8);
		chunkstream_put_uint(&w, s->top_bytes, 8);
		if (v2)
			chunkstream_put_uint(&w, s->nkeys, 8);
		chunkstream_put_uint(&w, s->crc, 4);
		chunkstream_put_uint(&w, s->fence_len, 2);
		chunkstream_put(&w, s->fence, s->fence_len);
	}
	for (j = 0; j < h->nnulls; j++)
	{
		const RunTid *t = &h->nulls[j];
		uint32_t	pblock = j ? t[-1].block : 0;

		chunkstream_put_varint(&w, t->block - pblock);
		chunkstream_put_varint(&w, j && t->block == pblock ?
				  (uint64_t) (t->offset - t[-1].offset) : t->offset);
	}
	if (w.overflow)
		return RUNHDR_ERR_ARGS;
	if (v2)
	{
		crc = runhdr_stream_crc((const uint8_t *const *) chunks, lens,
								nchunks);
		for (i = 0; i < 4; i++)
		{
			size_t		pos = RUNHDR_CRC_OFFSET + i;

			chunks[pos / cap][pos % cap] = (uint8_t) (crc >> (8 * i));
		}
	}
	return RUNHDR_OK;
}

/* ---------------------------------------------------------------- decoding */

/*
 * runhdr_stream_crc
 *		CRC-32C over the chunks in order, the four bytes of the CRC field
 *		fed as zeros.
 */
uint32_t
runhdr_stream_crc(const uint8_t *const *chunks, const size_t *lens,
				  uint32_t nchunks)
{
	static const uint8_t zeros[4] = {0, 0, 0, 0};
	uint32_t	crc = CRC32C_INIT;
	uint64_t	pos = 0;
	uint32_t	i;

	for (i = 0; i < nchunks; i++)
	{
		uint64_t	end = pos + lens[i];
		uint64_t	lo = RUNHDR_CRC_OFFSET,
					hi = RUNHDR_CRC_OFFSET + 4;
		uint64_t	a = lo < pos ? pos : lo > end ? end : lo;
		uint64_t	b = hi < pos ? pos : hi > end ? end : hi;

		/* [pos, a) as is, [a, b) as zeros, [b, end) as is */
		crc = crc32c_update(crc, chunks[i], (size_t) (a - pos));
		crc = crc32c_update(crc, zeros, (size_t) (b - a));
		crc = crc32c_update(crc, chunks[i] + (b - pos), (size_t) (end - b));
		pos = end;
	}
	return crc32c_final(crc);
}

/*
 * runhdr_peek_stream_bytes
 *		The stream length field of a first chunk (see runhdr.h).
 */
uint32_t
runhdr_peek_stream_bytes(const uint8_t *chunk, size_t len)
{
	uint32_t	magic;

	if (len < 12)
		return 0;
	magic = (uint32_t) chunk[0] | ((uint32_t) chunk[1] << 8) |
		((uint32_t) chunk[2] << 16) | ((uint32_t) chunk[3] << 24);
	if (magic != RUNHDR_MAGIC)
		return 0;
	return (uint32_t) chunk[8] | ((uint32_t) chunk[9] << 8) |
		((uint32_t) chunk[10] << 16) | ((uint32_t) chunk[11] << 24);
}

/* The fixed part of the stream, as read. */
typedef struct FixedPart
{
	uint64_t	version;
	uint64_t	crc;			/* versions 2 and 3 */
	uint64_t	filter[7];		/* version 3: page, blocks, probes, block
								 * offset, blocks per page, 0, CRC */
	uint64_t	nextents;
	uint64_t	nslices;
	uint64_t	run_id;
	uint64_t	nnulls;
	uint64_t	fence_bytes;
} FixedPart;

/*
 * Phase 1: the chunks' shape (all full but the last, which is not empty),
 * the fixed part, and the counts against the bytes that follow it.
 */
static int
decode_fixed(ChunkReader *r, size_t cap, FixedPart *f)
{
	uint64_t	magic,
				reserved,
				total,
				room;
	uint64_t	sum = 0;
	uint32_t	i;

	for (i = 0; i < r->nchunks; i++)
	{
		if (r->lens[i] > cap || r->lens[i] == 0 ||
			(i + 1 < r->nchunks && r->lens[i] != cap))
			return RUNHDR_ERR_LENGTH;
		sum += r->lens[i];
	}
	r->left = sum;
	if (!chunkstream_get_uint(r, &magic, 4))
		return RUNHDR_ERR_TRUNCATED;
	if (magic != RUNHDR_MAGIC)
		return RUNHDR_ERR_MAGIC;
	if (!chunkstream_get_uint(r, &f->version, 2) ||
		!chunkstream_get_uint(r, &reserved, 2) ||
		!chunkstream_get_uint(r, &total, 4) ||
		!chunkstream_get_uint(r, &f->nextents, 4) ||
		!chunkstream_get_uint(r, &f->nslices, 4) ||
		!chunkstream_get_uint(r, &f->run_id, 8) ||
		!chunkstream_get_uint(r, &f->nnulls, 8) ||
		!chunkstream_get_uint(r, &f->fence_bytes, 4))
		return RUNHDR_ERR_TRUNCATED;
	if (f->version < RUNHDR_VERSION_1 || f->version > RUNHDR_VERSION ||
		reserved != 0)
		return RUNHDR_ERR_VERSION;
	if (total != sum)
		return RUNHDR_ERR_LENGTH;
	if (f->version >= RUNHDR_VERSION_2)
	{
		if (!chunkstream_get_uint(r, &f->crc, 4))
			return RUNHDR_ERR_TRUNCATED;
		if (f->crc != runhdr_stream_crc(r->chunks, r->lens, r->nchunks))
			return RUNHDR_ERR_CRC;
	}
	memset(f->filter, 0, sizeof(f->filter));
	if (f->version == RUNHDR_VERSION)
	{
		static const int widths[7] = {4, 4, 2, 2, 2, 2, 4};

		for (i = 0; i < 7; i++)
			if (!chunkstream_get_uint(r, &f->filter[i], widths[i]))
				return RUNHDR_ERR_TRUNCATED;
		if (f->filter[5] != 0)
			return RUNHDR_ERR_FILTER;
	}
	/* every NULL TID takes at least two bytes */
	room = r->left;
	if (f->nnulls > room / 2 ||
		f->nextents * RUNHDR_EXTENT_BYTES +
		f->nslices * (f->version >= RUNHDR_VERSION_2 ? RUNHDR_SLICE_BYTES :
					  RUNHDR_SLICE_BYTES_V1) +
		f->fence_bytes + f->nnulls * 2 > room)
		return RUNHDR_ERR_COUNTS;
	return RUNHDR_OK;
}

/* Phase 2: the extent table, with lpage and npages computed. */
static int
decode_extents(ChunkReader *r, RunHeader *h)
{
	uint64_t	sum = 0;
	uint32_t	i;

	for (i = 0; i < h->nextents; i++)
	{
		uint64_t	start,
					length;

		if (!chunkstream_get_uint(r, &start, 4) ||
			!chunkstream_get_uint(r, &length, 4))
			return RUNHDR_ERR_TRUNCATED;
		h->extents[i].start = (uint32_t) start;
		h->extents[i].length = (uint32_t) length;
		h->extents[i].lpage = (uint32_t) sum;
		sum += length;
		if (sum > UINT32_MAX)
			return RUNHDR_ERR_EXTENT_RANGE;
	}
	h->npages = (uint32_t) sum;
	return RUNHDR_OK;
}

/* Phase 3: the slice table; fences are copied to `fences` (fence_bytes). */
static int
decode_slices(ChunkReader *r, RunHeader *h, uint8_t *fences,
			  uint64_t fence_bytes)
{
	uint64_t	used = 0;
	uint32_t	i;

	for (i = 0; i < h->nslices; i++)
	{
		RunSlice   *s = &h->slices[i];
		uint64_t	first,
					crc,
					flen;

		s->nkeys = 0;			/* version 1: unknown */
		if (!chunkstream_get_uint(r, &first, 4) ||
			!chunkstream_get_uint(r, &s->postings_bytes, 8) ||
			!chunkstream_get_uint(r, &s->leaf_bytes, 8) ||
			!chunkstream_get_uint(r, &s->top_bytes, 8) ||
			(h->version >= RUNHDR_VERSION_2 &&
			 !chunkstream_get_uint(r, &s->nkeys, 8)) ||
			!chunkstream_get_uint(r, &crc, 4) ||
			!chunkstream_get_uint(r, &flen, 2))
			return RUNHDR_ERR_TRUNCATED;
		if (flen > RUNHDR_MAX_KEY)
			return RUNHDR_ERR_FENCE_LENGTH;
		if (flen > fence_bytes - used)
			return RUNHDR_ERR_COUNTS;
		s->first_page = (uint32_t) first;
		s->crc = (uint32_t) crc;
		s->fence_len = (uint16_t) flen;
		s->fence = fences + used;
		if (!chunkstream_get(r, fences + used, flen))
			return RUNHDR_ERR_TRUNCATED;
		used += flen;
	}
	if (used != fence_bytes)
		return RUNHDR_ERR_COUNTS;
	return RUNHDR_OK;
}

/* Phase 4: the NULL TIDs, then nothing may follow. */
static int
decode_nulls(ChunkReader *r, RunHeader *h)
{
	uint64_t	j;

	for (j = 0; j < h->nnulls; j++)
	{
		uint64_t	dblock,
					off;
		uint64_t	pblock = j ? h->nulls[j - 1].block : 0;

		if (!chunkstream_get_varint(r, &dblock) || !chunkstream_get_varint(r, &off))
			return RUNHDR_ERR_NULLS;
		if (dblock > UINT32_MAX - pblock)
			return RUNHDR_ERR_NULLS;
		if (j > 0 && dblock == 0)
		{
			if (off == 0 || off > (uint64_t) (UINT16_MAX - h->nulls[j - 1].offset))
				return RUNHDR_ERR_NULLS;
			off += h->nulls[j - 1].offset;
		}
		if (off == 0 || off > UINT16_MAX)
			return RUNHDR_ERR_NULLS;
		h->nulls[j].block = (uint32_t) (pblock + dblock);
		h->nulls[j].offset = (uint16_t) off;
	}
	if (r->left != 0)
		return RUNHDR_ERR_LENGTH;
	return RUNHDR_OK;
}

/*
 * runhdr_decode
 *		Decode and validate (see runhdr.h): shape and fixed part, one
 *		allocation laid out as header, slices, extents, NULL TIDs, fence
 *		bytes; the tables; then the rules of runhdr_check.
 */
int
runhdr_decode(const uint8_t *const *chunks, const size_t *lens,
			  uint32_t nchunks, size_t cap, uint32_t nblocks,
			  uint32_t page_bytes, const FstAllocator *alloc,
			  RunHeader **out)
{
	ChunkReader r = {chunks, lens, nchunks, 0, 0, 0};
	FixedPart	f;
	RunHeader  *h;
	uint64_t   *scratch;
	size_t		size;
	int			rc;

	*out = NULL;
	if (chunks == NULL || lens == NULL || nchunks == 0 || cap == 0 ||
		page_bytes == 0)
		return RUNHDR_ERR_ARGS;
	if ((rc = decode_fixed(&r, cap, &f)) != RUNHDR_OK)
		return rc;

	/* the counts are bounded by the stream length (< 4 GB) now */
	size = sizeof(RunHeader) + f.nslices * sizeof(RunSlice) +
		f.nextents * sizeof(RunExtent) + f.nnulls * sizeof(RunTid) +
		f.fence_bytes;
	h = alloc->alloc(alloc->arg, size);
	if (h == NULL)
		return RUNHDR_ERR_NOMEM;
	memset(h, 0, sizeof(RunHeader));
	h->version = (uint16_t) f.version;
	h->run_id = f.run_id;
	h->nextents = (uint32_t) f.nextents;
	h->nslices = (uint32_t) f.nslices;
	h->nnulls = f.nnulls;
	h->filter_page = (uint32_t) f.filter[0];
	h->filter.nblocks = (uint32_t) f.filter[1];
	h->filter.nprobes = (uint16_t) f.filter[2];
	h->filter.block_offset = (uint16_t) f.filter[3];
	h->filter.blocks_per_page = (uint16_t) f.filter[4];
	h->filter_crc = (uint32_t) f.filter[6];
	h->slices = (RunSlice *) (h + 1);
	h->extents = (RunExtent *) (h->slices + h->nslices);
	h->nulls = (RunTid *) (h->extents + h->nextents);

	rc = decode_extents(&r, h);
	if (rc == RUNHDR_OK)
		rc = decode_slices(&r, h, (uint8_t *) (h->nulls + h->nnulls),
						   f.fence_bytes);
	if (rc == RUNHDR_OK)
		rc = decode_nulls(&r, h);
	if (rc == RUNHDR_OK)
	{
		scratch = alloc->alloc(alloc->arg, f.nextents * sizeof(uint64_t) + 1);
		if (scratch == NULL)
			rc = RUNHDR_ERR_NOMEM;
		else
		{
			rc = check_header(h, nblocks, page_bytes, scratch);
			alloc->free(alloc->arg, scratch);
		}
	}
	if (rc != RUNHDR_OK)
	{
		alloc->free(alloc->arg, h);
		return rc;
	}
	*out = h;
	return RUNHDR_OK;
}
