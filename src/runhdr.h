/*-------------------------------------------------------------------------
 *
 * runhdr.h
 *	  Plain C (no PostgreSQL headers): a run's header -- its run id, the
 *	  extent table that maps the run's logical pages to blocks, the slice
 *	  table with fence keys, and the NULL key's TIDs -- in memory and as
 *	  the byte stream stored in the run's header pages.
 *
 * The stream is cut into chunks of one capacity (the usable bytes of a
 * header page): every chunk but the last is full, the last holds at least
 * one byte.  All integers are little-endian.
 *
 *	offset 0	u32 magic RUNHDR_MAGIC ("MKRH"), u16 version (1, 2 or 3), u16 0
 *	8			u32 stream bytes (of the whole stream, all chunks)
 *	12			u32 nextents, u32 nslices
 *	20			u64 run_id
 *	28			u64 nnulls
 *	36			u32 fence bytes (sum of the slices' fence lengths)
 *	40			version 2 and 3: u32 CRC-32C of the whole stream, these
 *				four bytes taken as zeros
 *	44			version 3 only: the filter (runfilter.h) --
 *				u32 first logical page, u32 blocks (0: no filter),
 *				u16 probes, u16 block offset, u16 blocks per page, u16 0,
 *				u32 CRC-32C of its blocks' bytes in block order
 *	40 (v1), 44 (v2), 64 (v3)
 *				extents: nextents x (u32 start block, u32 length)
 *				slices:	 nslices x (u32 first logical page,
 *						 u64 postings bytes, u64 leaf bytes, u64 top bytes,
 *						 version 2 and 3: u64 key count,
 *						 u32 crc, u16 fence length, fence bytes)
 *				NULL TIDs: nnulls x (varint block delta, varint offset)
 *
 * Version 2 adds each slice's key count, so that
 * a reader knows every slice's run-wide first ordinal from the header
 * alone and opens a slice only when it needs it (runmemo.c), and a CRC
 * over the header: the fences route lookups before any check against the
 * slices' keys could see a damaged one.  Version 1 headers still decode,
 * with key counts 0 (unknown).  Version 3 (what runwrite.c writes) adds
 * the run's membership filter: its pages are the run's last logical pages,
 * after the last slice's; a version-3 header without a filter has its
 * filter fields all zero, and older versions decode as having none.
 *
 * A NULL TID's block delta is its block minus the previous TID's block
 * (the first: minus 0); its offset is stored as is when the delta is
 * positive, else as offset minus the previous offset (then at least 1).
 * Varints are LEB128, 7 bits a byte, shortest form only.
 *
 * Rules a valid header obeys (runhdr_check for a header built in memory,
 * runhdr_decode for a stream; each has its own error code):
 *	- the stream's length fields agree with the chunks, and the counts with
 *	  the bytes present; no bytes after the NULL TIDs;
 *	- extents are non-empty, start at block 1 or later, end at or before
 *	  the caller's nblocks, and do not overlap (in any order: the table is
 *	  in logical order, not block order); each extent's lpage is the sum of
 *	  the lengths before it; together they have at most 2^32 - 1 pages;
 *	- slices' first logical pages strictly increase, and each slice's bytes
 *	  (postings + leaf + top, none zero but top) fit in its pages:
 *	  ceil(bytes / page_bytes) <= next slice's first page (the last: the
 *	  filter's first page if there is a filter, else the run's page count)
 *	  minus its own;
 *	- version 3 with a filter: its parameters pass runfilter_params_check,
 *	  and its pages are exactly the run's last ones (first page plus
 *	  runfilter_pages = the run's page count); without one, every filter
 *	  field is 0;
 *	- fence keys are at most RUNHDR_MAX_KEY bytes, slice 0's is empty, and
 *	  they strictly increase in byte order (a proper prefix first);
 *	- NULL TIDs strictly increase by (block, offset), offsets at least 1;
 *	- versions 2 and 3: the CRC matches (decode only); every slice holds
 *	  at least one key, but the only slice of a run (a run of NULL keys
 *	  alone holds none), and the key counts' sum fits a u64.  Version 1
 *	  ignores the key counts (the decoder sets them to 0).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNHDR_H
#define MEMKV_RUNHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fst.h"
#include "runfilter.h"

#define RUNHDR_MAGIC		0x48524b4du	/* "MKRH" */
#define RUNHDR_VERSION		3			/* what the writer writes */
#define RUNHDR_VERSION_2	2			/* no filter */
#define RUNHDR_VERSION_1	1			/* no key counts, no CRC */
#define RUNHDR_FIXED_BYTES_V1 40
#define RUNHDR_FIXED_BYTES_V2 44
#define RUNHDR_FIXED_BYTES	64			/* version 3 */
#define RUNHDR_CRC_OFFSET	40			/* versions 2 and 3 */
#define RUNHDR_FILTER_OFFSET 44			/* version 3 */
#define RUNHDR_EXTENT_BYTES 8
#define RUNHDR_SLICE_BYTES_V1 34		/* without the fence bytes */
#define RUNHDR_SLICE_BYTES	42			/* versions 2, 3: with the key count */
#define RUNHDR_MAX_KEY		2700		/* MEMKV_MAX_KEY_BYTES */

/* A heap TID: block number and line pointer offset (1-based). */
typedef struct RunTid
{
	uint32_t	block;
	uint16_t	offset;
} RunTid;

/* Contiguous blocks holding logical pages lpage .. lpage + length - 1. */
typedef struct RunExtent
{
	uint32_t	start;			/* first block */
	uint32_t	length;			/* blocks, >= 1 */
	uint32_t	lpage;			/* logical page of `start` */
} RunExtent;

/* One slice: where its byte stream starts and what it holds. */
typedef struct RunSlice
{
	uint32_t	first_page;		/* logical page of the stream's first byte */
	uint16_t	fence_len;
	uint64_t	postings_bytes; /* postings image (fst.h) */
	uint64_t	leaf_bytes;		/* FST leaf region */
	uint64_t	top_bytes;		/* FST top region (0 if none) */
	uint64_t	nkeys;			/* keys of the slice (version 2; else 0) */
	uint32_t	crc;			/* CRC-32C of the slice's stream bytes */
	const uint8_t *fence;		/* fence_len bytes */
} RunSlice;

/* A run header.  runhdr_decode returns it as one allocation. */
typedef struct RunHeader
{
	uint16_t	version;		/* RUNHDR_VERSION, _VERSION_2 or _VERSION_1 */
	uint64_t	run_id;
	uint32_t	nextents;
	uint32_t	nslices;
	uint32_t	npages;			/* logical pages: sum of extent lengths */
	uint64_t	nnulls;
	RunExtent  *extents;		/* in logical order */
	RunSlice   *slices;			/* in key order */
	RunTid	   *nulls;			/* ascending */
	/* version 3: the filter (filter.nblocks 0, all of these 0: none) */
	RunFilterParams filter;
	uint32_t	filter_page;	/* logical page of its block 0 */
	uint32_t	filter_crc;		/* CRC-32C of its nblocks * 64 bytes */
} RunHeader;

/* What runhdr_check and runhdr_decode report; 0 is success. */
typedef enum RunhdrError
{
	RUNHDR_OK = 0,
	RUNHDR_ERR_ARGS,			/* capacity 0, chunk count or lengths off */
	RUNHDR_ERR_TRUNCATED,		/* a field runs past the stream's end */
	RUNHDR_ERR_MAGIC,
	RUNHDR_ERR_VERSION,			/* version or reserved field */
	RUNHDR_ERR_LENGTH,			/* stream bytes vs chunks, trailing bytes */
	RUNHDR_ERR_COUNTS,			/* counts past what the bytes can hold */
	RUNHDR_ERR_EXTENT_EMPTY,
	RUNHDR_ERR_EXTENT_RANGE,	/* block 0, past nblocks, or lpage wrong */
	RUNHDR_ERR_EXTENT_OVERLAP,
	RUNHDR_ERR_SLICE_PAGES,		/* not increasing, or bytes do not fit */
	RUNHDR_ERR_FENCE_LENGTH,
	RUNHDR_ERR_FENCE_ORDER,		/* slice 0 not empty, or not increasing */
	RUNHDR_ERR_NULLS,			/* not ascending, offset 0, bad varint */
	RUNHDR_ERR_CRC,				/* version 2: the stream's CRC differs */
	RUNHDR_ERR_SLICE_KEYS,		/* version 2: a key count 0, or sum wraps */
	RUNHDR_ERR_FILTER,			/* version 3: filter parameters or pages */
	RUNHDR_ERR_NOMEM,
	RUNHDR_NERRORS
} RunhdrError;

/* A static message for an error code ("valid" for RUNHDR_OK). */
extern const char *runhdr_strerror(int code);

/*
 * Check a header built in memory against the rules above (extents inside
 * blocks 1 .. nblocks - 1; run pages of page_bytes usable bytes each; the
 * extents' lpage and h->npages filled in by the caller).  Returns
 * RUNHDR_OK or the first rule broken (RUNHDR_ERR_NOMEM if alloc fails:
 * the overlap test sorts a copy of the extent table).
 */
extern int	runhdr_check(const RunHeader *h, uint32_t nblocks,
						 uint32_t page_bytes, const FstAllocator *alloc);

/* Bytes of h's encoded stream (0 if it would not fit a u32). */
extern size_t runhdr_stream_bytes(const RunHeader *h);

/* Chunks of capacity cap (>= 1) that h's stream needs. */
extern uint32_t runhdr_chunks_needed(const RunHeader *h, size_t cap);

/*
 * Encode h into nchunks chunks of capacity cap: chunks[i] receives lens[i]
 * bytes.  nchunks must be runhdr_chunks_needed(h, cap).  h must pass
 * runhdr_check (the encoder does not check it again).  Returns RUNHDR_OK
 * or RUNHDR_ERR_ARGS.
 */
extern int	runhdr_encode(const RunHeader *h, size_t cap, uint8_t *const *chunks,
						  uint32_t nchunks, size_t *lens);

/*
 * The CRC-32C of a stream in nchunks chunks of lens[i] bytes each, its CRC
 * field (bytes RUNHDR_CRC_OFFSET..+4) taken as zeros: what a version-2
 * stream stores there.  For the encoder, the decoder, and tests that
 * damage a header on purpose.
 */
extern uint32_t runhdr_stream_crc(const uint8_t *const *chunks,
								  const size_t *lens, uint32_t nchunks);

/*
 * The stream length recorded in a first chunk of len bytes, or 0 if the
 * chunk is too short or lacks the magic: tells a reader following the
 * header's page chain how many chunks to expect.
 */
extern uint32_t runhdr_peek_stream_bytes(const uint8_t *chunk, size_t len);

/*
 * Decode and validate a header from nchunks chunks of capacity cap, read
 * in order, for a relation of nblocks blocks and run pages of page_bytes
 * usable bytes.  On success *out is one allocation from alloc (free it
 * with alloc->free) and RUNHDR_OK is returned; otherwise *out is NULL and
 * the code says which rule the stream breaks.  Never reads outside the
 * chunks.
 */
extern int	runhdr_decode(const uint8_t *const *chunks, const size_t *lens,
						  uint32_t nchunks, size_t cap, uint32_t nblocks,
						  uint32_t page_bytes, const FstAllocator *alloc,
						  RunHeader **out);

/*
 * The block holding logical page lpage, by binary search over the extent
 * table.  Returns false if lpage is past the run's pages.
 */
extern bool runhdr_page_block(const RunHeader *h, uint32_t lpage,
							  uint32_t *block);

/*
 * The fence for a slice whose first key is `first`, after a slice whose
 * last key is `prev` (prev < first): the shortest prefix of first that
 * sorts after prev.  Returns its length (the fence is first[0..len));
 * 0 if first is not after prev.
 */
extern size_t runhdr_fence_len(const uint8_t *prev, size_t prevlen,
							   const uint8_t *first, size_t firstlen);

/* Compare two keys in byte order, a proper prefix first: <0, 0, >0. */
extern int	runhdr_key_cmp(const uint8_t *a, size_t alen,
						   const uint8_t *b, size_t blen);

/*
 * The slice that may hold key: the last one whose fence is <= key (slice
 * 0 for keys before every fence).  h must have at least one slice.
 */
extern uint32_t runhdr_slice_for_key(const RunHeader *h, const uint8_t *key,
									 size_t len);

/*
 * The slices that may hold keys in a range: from lo (if has_lo;
 * inclusive) to hi (if has_hi; inclusive when hi_incl).  Stores the first
 * and last such slice and returns their number; 0 when the range is
 * empty (lo after hi, or below the empty key) or h has no slice.
 */
extern uint32_t runhdr_slice_range(const RunHeader *h,
								   const uint8_t *lo, size_t lolen, bool has_lo,
								   const uint8_t *hi, size_t hilen, bool has_hi,
								   bool hi_incl, uint32_t *first,
								   uint32_t *last);

#endif							/* MEMKV_RUNHDR_H */
