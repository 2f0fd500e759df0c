/*-------------------------------------------------------------------------
 *
 * rundir.h
 *	  Plain C (no PostgreSQL headers): memkv 2's run directory, the
 *	  contents of the metapage (src/README, "On-disk format (format
 *	  version 3)").  The directory as an in-memory struct, its byte
 *	  encoding (fixed little-endian, CRC-32C over all of it), decoding
 *	  with every validation rule, and the helpers the switch code needs:
 *	  add, insert, remove and find runs, and the key-range test of a run's
 *	  truncated bounds.
 *
 * Blocks are uint32_t block numbers as PostgreSQL's BlockNumber, with
 * RUNDIR_INVALID_BLOCK for "none" (InvalidBlockNumber).  Nothing here
 * reads pages or takes locks: the caller hands in the metapage contents
 * and the relation's length in blocks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNDIR_H
#define MEMKV_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNDIR_MAGIC			UINT32_C(0x4D4B5631)	/* "MKV1", as 1.x */
#define RUNDIR_VERSION			3
#define RUNDIR_VERSION_1X		2	/* metapage of memkv 1.x */

/* Limits of the format (src/README). */
#define RUNDIR_MAX_STRIPES		32
#define RUNDIR_MAX_RUNS			24
#define RUNDIR_MAX_MERGES		2
#define RUNDIR_MAX_PENDING		4

/* Bytes of a run's smallest and largest key kept as its bounds. */
#define RUNDIR_BOUND_BYTES		24

#define RUNDIR_INVALID_BLOCK	UINT32_C(0xFFFFFFFF)

/*
 * Largest OffsetNumber a log page can have: BLCKSZ / sizeof(ItemIdData)
 * for 8 kB pages (MaxOffsetNumber).
 */
#define RUNDIR_MAX_OFFSET		2048

/*
 * Bytes available for the directory on the metapage: an 8 kB page less
 * its 24-byte page header (SizeOfPageHeaderData, already a multiple of 8)
 * and memkv's special space (MemkvPageOpaqueData, 12 bytes, MAXALIGNed
 * to 16).  The glue asserts that this equals its own computation from
 * BLCKSZ; RUNDIR_MAX_BYTES, the longest encoding, must fit in it.
 */
#define RUNDIR_PAGE_CONTENT_BYTES	(8192 - 24 - 16)

/* Encoded sizes (the byte layout is in rundir.c's header comment). */
#define RUNDIR_FIXED_BYTES		76
#define RUNDIR_STRIPE_BYTES		6
#define RUNDIR_RUN_BYTES		116
#define RUNDIR_MERGE_BYTES(ninputs)	(13 + 8 * (size_t) (ninputs))
#define RUNDIR_PENDING_BYTES	5
#define RUNDIR_MAX_BYTES \
	(RUNDIR_FIXED_BYTES + RUNDIR_MAX_STRIPES * RUNDIR_STRIPE_BYTES + \
	 RUNDIR_MAX_RUNS * RUNDIR_RUN_BYTES + \
	 RUNDIR_MAX_MERGES * RUNDIR_MERGE_BYTES(RUNDIR_MAX_RUNS) + \
	 RUNDIR_MAX_PENDING * RUNDIR_PENDING_BYTES)	/* 3482 */

/* MemkvRunEntry.flags */
#define RUNDIR_RUN_BOUNDED_BELOW	0x0001	/* a merge's output: live below
											 * the merge's boundary key */
#define RUNDIR_RUN_BOUNDED_FROM		0x0002	/* a merge's input: live from
											 * the boundary key on */
#define RUNDIR_RUN_HAS_FILTER		0x0004	/* carries a Bloom filter */
#define RUNDIR_RUN_REWRITE			0x0008	/* VACUUM found it too dead */
#define RUNDIR_RUN_FLAGS_ALL		0x000F

/* MemkvPendingWrite.kind */
#define RUNDIR_PENDING_FREEZE	1
#define RUNDIR_PENDING_MERGE	2
#define RUNDIR_PENDING_VACUUM	3
#define RUNDIR_PENDING_BUILD	4

/* One stripe's log: where its first live entry is. */
typedef struct MemkvStripeHead
{
	uint32_t	log_head;		/* first page, or RUNDIR_INVALID_BLOCK
								 * while the stripe has none */
	uint16_t	log_head_offset;	/* 1..RUNDIR_MAX_OFFSET; 0 if no page */
} MemkvStripeHead;

/*
 * One run.  lo and hi are the first lo_len / hi_len (at most
 * RUNDIR_BOUND_BYTES) bytes of the run's smallest and largest non-NULL
 * key; bytes past the length are zero.  A run without keys (only NULL
 * TIDs, or a merge's output before its first step) has both lengths 0 and
 * meets no key.  ntids counts every TID, nnulls those of the NULL key,
 * ndead those in the dead list (0, with dead_block invalid and
 * dead_generation 0, if it has none).
 */
typedef struct MemkvRunEntry
{
	uint64_t	run_id;			/* generation that created it */
	uint64_t	ntids;
	uint64_t	nkeys;			/* distinct non-NULL keys */
	uint64_t	nnulls;
	uint64_t	ndead;
	uint64_t	dead_generation;	/* generation of the dead list */
	uint32_t	header_block;	/* first header page */
	uint32_t	npages;			/* pages, header pages included */
	uint32_t	nslices;
	uint32_t	dead_block;		/* first DEAD page, or invalid */
	uint16_t	flags;			/* RUNDIR_RUN_* */
	uint8_t		lo_len;
	uint8_t		hi_len;
	uint8_t		lo[RUNDIR_BOUND_BYTES];
	uint8_t		hi[RUNDIR_BOUND_BYTES];
} MemkvRunEntry;

/*
 * A merge in progress: its output run (flag BOUNDED_BELOW), its inputs
 * (flag BOUNDED_FROM), and the merge-state page holding the boundary key.
 */
typedef struct MemkvMergeRecord
{
	uint64_t	output_id;
	uint32_t	state_block;
	uint32_t	ninputs;		/* 1..RUNDIR_MAX_RUNS */
	uint64_t	inputs[RUNDIR_MAX_RUNS];	/* run ids */
} MemkvMergeRecord;

/* A run or dead list being written, not listed yet. */
typedef struct MemkvPendingWrite
{
	uint32_t	block;			/* its first page */
	uint8_t		kind;			/* RUNDIR_PENDING_* */
} MemkvPendingWrite;

typedef struct MemkvDirectory
{
	uint64_t	instance_id;
	uint64_t	generation;
	uint64_t	freeze_count;	/* freezes since CREATE INDEX */
	uint64_t	merge_count;	/* merges finished since CREATE INDEX */
	int64_t		last_freeze;	/* TimestampTz, or 0 */
	int64_t		last_merge;		/* TimestampTz, or 0 */
	uint32_t	limbo_head;		/* first LIMBO page, or invalid */
	uint32_t	nlimbo;			/* limbo entries on the chain */
	uint32_t	nstripes;
	uint32_t	nruns;
	uint32_t	nmerges;
	uint32_t	npending;
	MemkvStripeHead stripes[RUNDIR_MAX_STRIPES];
	MemkvRunEntry runs[RUNDIR_MAX_RUNS];	/* newest first */
	MemkvMergeRecord merges[RUNDIR_MAX_MERGES];
	MemkvPendingWrite pending[RUNDIR_MAX_PENDING];
} MemkvDirectory;

/* What rundir_decode or rundir_validate found wrong (0: nothing). */
typedef enum RundirStatus
{
	RUNDIR_OK = 0,
	RUNDIR_ERR_SHORT,			/* fewer bytes than the encoding needs */
	RUNDIR_ERR_MAGIC,			/* not a memkv metapage */
	RUNDIR_ERR_VERSION_1X,		/* version 2: built by memkv 1.x */
	RUNDIR_ERR_VERSION,			/* any other unknown version */
	RUNDIR_ERR_LENGTH,			/* length field disagrees with the counts */
	RUNDIR_ERR_CRC,				/* checksum mismatch */
	RUNDIR_ERR_COUNT,			/* a count past its limit */
	RUNDIR_ERR_RESERVED,		/* unknown flag, bound length or padding */
	RUNDIR_ERR_BLOCK,			/* block 0 or past the relation's end */
	RUNDIR_ERR_DUP_BLOCK,		/* two structures name the same block */
	RUNDIR_ERR_DUP_RUN,			/* two runs with the same id */
	RUNDIR_ERR_RUN_ID,			/* a run id not below the generation */
	RUNDIR_ERR_BOUNDS,			/* lo > hi, or bounds on a keyless run */
	RUNDIR_ERR_RUN_COUNTS,		/* key, NULL, dead counts exceed TIDs */
	RUNDIR_ERR_DEAD,			/* dead-list fields inconsistent */
	RUNDIR_ERR_MERGE,			/* a merge record or a BOUNDED flag wrong */
	RUNDIR_ERR_STRIPE,			/* a log head offset out of range */
	RUNDIR_ERR_PENDING,			/* unknown pending kind */
	RUNDIR_ERR_LIMBO			/* limbo entries without a limbo page */
} RundirStatus;

/* Bytes rundir_encode writes for dir (counts must be within limits). */
extern size_t rundir_encoded_size(const MemkvDirectory *dir);

/*
 * Encode dir into buf[0..bufsize): returns the bytes written, or 0 if the
 * counts exceed the limits or bufsize is too small.  Does not validate
 * (call rundir_validate first when writing a directory you built).
 */
extern size_t rundir_encode(const MemkvDirectory *dir, uint8_t *buf,
							size_t bufsize);

/*
 * Decode and validate buf[0..size) (the metapage's contents; bytes past
 * the encoded length are ignored) into *dir.  nblocks is the relation's
 * length: a block at or past it is damage.  Returns RUNDIR_OK, or the
 * first rule broken with *msg (if msg is not NULL) set to a short static
 * description; *dir is then partly filled and must not be used.
 */
extern RundirStatus rundir_decode(const uint8_t *buf, size_t size,
								  uint32_t nblocks, MemkvDirectory *dir,
								  const char **msg);

/* The rules rundir_decode checks after the CRC, on a struct. */
extern RundirStatus rundir_validate(const MemkvDirectory *dir,
									uint32_t nblocks, const char **msg);

/* Index of the run with this id in dir->runs, or -1. */
extern int	rundir_find_run(const MemkvDirectory *dir, uint64_t run_id);

/*
 * Insert *run at position pos (0 = newest; nruns = oldest), shifting
 * older runs down.  False if the directory is full or pos > nruns.
 */
extern bool rundir_insert_run(MemkvDirectory *dir, uint32_t pos,
							  const MemkvRunEntry *run);

/* Add *run as the newest run (a freeze's switch).  False if full. */
extern bool rundir_add_run(MemkvDirectory *dir, const MemkvRunEntry *run);

/*
 * Remove the runs whose ids are ids[0..n), keeping the others' order.
 * Returns how many were removed (an id not listed is skipped).
 */
extern uint32_t rundir_remove_runs(MemkvDirectory *dir, const uint64_t *ids,
								   uint32_t n);

/*
 * Set run->lo / hi from the run's smallest and largest key (full keys;
 * they are truncated here).  Call with nkeys > 0; a keyless run keeps
 * both lengths 0.
 */
extern void rundir_set_bounds(MemkvRunEntry *run,
							  const uint8_t *smallest, size_t smallest_len,
							  const uint8_t *largest, size_t largest_len);

/*
 * May key k be in the run?  lo <= k and prefix24(k) <= hi, in byte
 * order (a proper prefix first).  Never false for a key the run holds;
 * true is only a "maybe".  A keyless run holds no key.
 */
extern bool rundir_key_may_be_in(const MemkvRunEntry *run,
								 const uint8_t *key, size_t len);

/*
 * May the run hold a key k with lower <= k <= upper?  A NULL bound is
 * unbounded.  Conservative like rundir_key_may_be_in (strict bounds are
 * answered as if inclusive).
 */
extern bool rundir_range_may_meet(const MemkvRunEntry *run,
								  const uint8_t *lower, size_t lower_len,
								  const uint8_t *upper, size_t upper_len);

#endif							/* MEMKV_RUNDIR_H */
