/*-------------------------------------------------------------------------
 *
 * keyblocks.h
 *	  Front-coded key blocks: a scan accelerator for a frozen run.
 *
 * An FST stores keys compactly but rebuilds each key node by node when it
 * is iterated.  Key blocks hold the same sorted keys front-coded, 32 to a
 * block, so that a range scan decodes a key with one memcpy.  They are
 * built in memory (in shared memory, next to the run's copy) when a run is
 * first scanned, and are never written to disk: the FST stays the index's
 * only on-disk form of the keys.
 *
 * Plain C, no PostgreSQL dependency; memory through an FstAllocator.
 *
 * Image layout (native byte order, built and read by the same server):
 *	KbHeader
 *	u32[nblocks + 1]	offset of each block from the start of the data
 *						area (the last one is the data size)
 *	data				per block: varint len, bytes of the first key; for
 *						every further key varint lcp (bytes shared with the
 *						previous key), varint slen, slen suffix bytes
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_KEYBLOCKS_H
#define MEMKV_KEYBLOCKS_H

#include "fst.h"

#define KB_BLOCK_KEYS	32
#define KB_MAGIC		0x424b4d4du	/* "MMKB" */

typedef struct KbHeader
{
	uint32_t	magic;
	uint32_t	nblocks;
	uint64_t	nkeys;
	uint64_t	data_size;
	uint32_t	max_key_len;
	uint32_t	pad;
} KbHeader;

/* --------------------------------------------------------------- builder */

typedef struct KbBuilder KbBuilder;

/* A builder for keys added in strictly ascending byte order. */
extern KbBuilder *kb_builder_create(const FstAllocator *alloc);

/* Add the next key.  Returns 0, or -1 if out of order or too big (4 GB). */
extern int	kb_builder_add(KbBuilder *b, const uint8_t *key, size_t len);

/* Size of the finished image. */
extern size_t kb_builder_size(const KbBuilder *b);

/* Write the image (kb_builder_size bytes) to dst. */
extern void kb_builder_finish(const KbBuilder *b, uint8_t *dst);

extern void kb_builder_destroy(KbBuilder *b);

/* --------------------------------------------------------------- reader */

typedef struct KbImage
{
	const KbHeader *hdr;
	const uint32_t *offsets;
	const uint8_t *data;
} KbImage;

/* Open an image of `size` bytes.  Returns 0, or -1 if it is malformed. */
extern int	kb_open(KbImage *kb, const void *image, size_t size);

/*
 * A position in the key order, like an FstCursor: when positioned, key[0,
 * keylen) is the current key and ordinal its ordinal.  The iterator holds
 * its current block decoded, so steps within a block are O(1) and either
 * direction costs one block decode per 32 keys.
 */
typedef struct KbIter
{
	const KbImage *kb;
	FstAllocator alloc;
	uint8_t    *buf;			/* the decoded block's keys, concatenated */
	size_t		bufcap;
	int64_t		block;			/* decoded block, or -1 */
	uint32_t	nblock;			/* keys in it */
	uint32_t	start[KB_BLOCK_KEYS + 1];	/* key i is buf[start[i], start[i+1]) */
	uint32_t	idx;			/* current key's index in the block */
	bool		positioned;
	uint64_t	ordinal;
	const uint8_t *key;
	uint32_t	keylen;
} KbIter;

/*
 * The last key of the positioned iterator's block (the first, if `first`):
 * while the iterator stays in that block, no key it reaches lies beyond.
 */
static inline void
kb_iter_block_edge(const KbIter *it, bool first, const uint8_t **key,
				   size_t *len)
{
	uint32_t	i = first ? 0 : it->nblock - 1;

	*key = it->buf + it->start[i];
	*len = it->start[i + 1] - it->start[i];
}

extern void kb_iter_init(KbIter *it, const KbImage *kb,
						 const FstAllocator *alloc);
extern void kb_iter_set_image(KbIter *it, const KbImage *kb);
extern void kb_iter_free(KbIter *it);

/*
 * Position on the key chosen by op and bound, as fst_cursor_seek.  Returns
 * 1 if positioned, 0 if there is no such key, -1 on a malformed image.
 */
extern int	kb_iter_seek(KbIter *it, FstSeekOp op, const uint8_t *bound,
						 size_t len);

/* Step forward/backward.  Returns 1, 0 at the end, -1 on a malformed image. */
extern int	kb_iter_next(KbIter *it);
extern int	kb_iter_prev(KbIter *it);

#endif							/* MEMKV_KEYBLOCKS_H */
