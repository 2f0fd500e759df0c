/*-------------------------------------------------------------------------
 *
 * spill.h
 *	  Plain C (no PostgreSQL headers): the front-coded sorted spill format
 *	  of CREATE INDEX.  A writer turns (key, TIDs) entries, sorted, into a
 *	  byte stream of checksummed blocks; a reader turns such a stream back
 *	  into entries, validating everything it reads, from any block on and
 *	  within a key range if asked; a merge of k readers (spill_merge.c)
 *	  yields the union in (key, TID) order.  Encoding and decoding only:
 *	  the caller owns every buffer and does all I/O through callbacks (the
 *	  BufFile glue is in buildspill.c).  Nothing here allocates memory.
 *
 * TIDs are uint64 as keysort's: block number << 16 | offset number.  Keys
 * are compared as memkv compares them (memcmp, a proper prefix first).
 *
 * Stream format (all integers of the block header little-endian):
 *
 *	 stream = block*, the last one flagged SPILL_BLOCK_LAST
 *	 block  = u32 crc32c of the rest of the header and the payload,
 *			  u32 block number (0, 1, ...), u32 payload length,
 *			  u16 entry count, u16 flags; then the payload: the entries
 *	 entry  = varint shared, varint (suffix length << 1 | more than one
 *			  TID), suffix bytes, [varint (TID count - 2) if more than one],
 *			  varint (first TID >> 16), varint (first TID & 0xFFFF),
 *			  varint (TID[i] - TID[i-1] - 1) for each further TID
 *
 * varints are LEB128 (7 bits a byte, low first).  "shared" is the length
 * of the prefix the key shares with the previous entry's key, and is 0 in
 * the first entry of a block (a restart: each block decodes alone).  A
 * block is at most the writer's buffer size, itself at most
 * SPILL_BLOCK_BYTES, which is what a reader's buffer must hold.  Entries
 * are strictly ascending by (key, TID): a key with more than
 * SPILL_ENTRY_TIDS TIDs is written as several consecutive entries of the
 * same key, and a key given to the writer twice in a row (its TIDs going
 * on ascending) is allowed too.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_SPILL_H
#define MEMKV_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest key (MEMKV_MAX_KEY_BYTES). */
#define SPILL_MAX_KEY		2700

/* A reader's buffer, and the largest block a writer may make. */
#define SPILL_BLOCK_BYTES	65536

/* The block header's size, and the smallest buffer a writer accepts. */
#define SPILL_HEADER_BYTES	16
#define SPILL_MIN_BLOCK		8192

/* TIDs per entry at most (more are split into entries of the same key). */
#define SPILL_ENTRY_TIDS	256

/* Flags of a block header. */
#define SPILL_BLOCK_LAST	0x0001

/* Results: positive or zero is success, negative an error. */
typedef enum SpillStatus
{
	SPILL_ERR_USAGE = -4,		/* the caller broke a rule (order, sizes) */
	SPILL_ERR_WRITE = -3,		/* the write callback failed */
	SPILL_ERR_READ = -2,		/* the read callback failed */
	SPILL_ERR_CORRUPT = -1,		/* the stream is damaged or truncated */
	SPILL_END = 0,				/* no more entries */
	SPILL_OK = 1				/* done, or an entry is available */
} SpillStatus;

#define SPILL_ERRMSG_LEN	160

/*
 * Write len bytes (a whole block) to the spill; 0 on success, nonzero on
 * an I/O error (the caller keeps its own account of what went wrong).
 */
typedef int (*SpillWriteFn) (void *arg, const uint8_t *data, size_t len);

/*
 * Read up to len bytes of the spill into buf; returns how many were read,
 * fewer than len only at the end of the spill, or -1 on an I/O error.
 */
typedef int64_t (*SpillReadFn) (void *arg, uint8_t *buf, size_t len);

typedef struct SpillWriter
{
	SpillWriteFn write;
	void	   *write_arg;
	uint8_t    *buf;			/* the caller's; one block */
	size_t		bufsize;
	size_t		used;			/* header + payload bytes so far */
	uint32_t	block_entries;	/* entries in the current block */
	uint32_t	block_no;
	SpillStatus status;			/* SPILL_OK, or the first error */
	bool		finished;
	bool		have_prev;
	uint32_t	prev_len;
	uint64_t	prev_tid;		/* the last TID written */
	uint64_t	nentries;		/* counters, for the caller's reports */
	uint64_t	nkeys;			/* distinct keys */
	uint64_t	ntids;
	uint64_t	nbytes;			/* written through the callback */
	uint8_t		prev_key[SPILL_MAX_KEY];
	char		errmsg[SPILL_ERRMSG_LEN];
} SpillWriter;

typedef struct SpillReader
{
	SpillReadFn read;
	void	   *read_arg;
	uint8_t    *buf;			/* the caller's, SPILL_BLOCK_BYTES */
	size_t		pos;			/* next payload byte in buf */
	size_t		end;			/* end of the block's payload in buf */
	uint32_t	entries_left;	/* in the current block */
	uint32_t	block_no;		/* of the next block to read */
	bool		in_block;		/* a block is loaded */
	bool		first_in_block; /* next entry is the block's first */
	bool		last_block;		/* the loaded block is the last */
	SpillStatus status;			/* SPILL_OK, SPILL_END or the first error */
	bool		have_entry;
	uint32_t	merge_pos;		/* the merge's: next TID of the entry */
	uint64_t	nentries;		/* entries returned so far */
	const uint8_t *lo;			/* skip keys below it (NULL: none) */
	const uint8_t *hi;			/* end at a key at or above it (NULL: none) */
	uint32_t	lolen;
	uint32_t	hilen;
	/* the current entry */
	uint32_t	keylen;
	uint32_t	ntids;
	uint8_t		key[SPILL_MAX_KEY];
	uint64_t	tids[SPILL_ENTRY_TIDS];
	char		errmsg[SPILL_ERRMSG_LEN];
} SpillReader;

/* TIDs the merge hands out at a time. */
#define SPILL_MERGE_TIDS	1024

typedef struct SpillMerge
{
	SpillReader **heap;			/* the caller's array, used as a heap */
	uint32_t	nheap;
	SpillStatus status;
	bool		have_out;		/* a key has been handed out */
	bool		top_differs;	/* the top's key is known to follow key */
	uint32_t	keylen;
	uint64_t	last_tid;		/* the last TID handed out */
	uint8_t		key[SPILL_MAX_KEY];
	uint64_t	tids[SPILL_MERGE_TIDS];
	char		errmsg[SPILL_ERRMSG_LEN];
} SpillMerge;

/* One piece of the merge's output. */
typedef struct SpillMergeOut
{
	const uint8_t *key;			/* valid until the next call */
	uint32_t	keylen;
	bool		new_key;		/* false: more TIDs of the previous key */
	uint32_t	ntids;
	const uint64_t *tids;		/* ascending, 1..SPILL_MERGE_TIDS of them */
} SpillMergeOut;

extern SpillStatus spill_writer_init(SpillWriter *w, uint8_t *buf,
									 size_t bufsize, SpillWriteFn write,
									 void *write_arg);
extern SpillStatus spill_writer_add(SpillWriter *w, const uint8_t *key,
									size_t keylen, const uint64_t *tids,
									size_t ntids);
extern SpillStatus spill_writer_finish(SpillWriter *w);

extern void spill_reader_init(SpillReader *r, uint8_t *buf,
							  SpillReadFn read, void *read_arg);
extern SpillStatus spill_reader_next(SpillReader *r);
extern void spill_reader_set_range(SpillReader *r, uint32_t block_no,
								   const uint8_t *lo, size_t lolen,
								   const uint8_t *hi, size_t hilen);
extern bool spill_block_first_key(const uint8_t *block, size_t len,
								  const uint8_t **key, size_t *keylen);

extern SpillStatus spill_merge_init(SpillMerge *m, SpillReader **readers,
									uint32_t nreaders);
extern SpillStatus spill_merge_next(SpillMerge *m, SpillMergeOut *out);

/* The ordering of keys: <0, 0, >0 as a sorts before, equal to, after b. */
extern int	spill_key_cmp(const uint8_t *a, size_t alen,
						  const uint8_t *b, size_t blen);

#endif							/* MEMKV_SPILL_H */
