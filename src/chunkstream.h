/*-------------------------------------------------------------------------
 *
 * chunkstream.h
 *	  Plain C (no PostgreSQL headers), shared by runhdr.c and deadlist.c:
 *	  a byte stream cut into chunks of one capacity (the usable bytes of a
 *	  page), written and read through cursors so that no field has to fit
 *	  in one chunk; little-endian integers and LEB128 varints on it.  The
 *	  varint helpers on plain buffers are inline here (a dead-list cursor
 *	  calls them per pair); the cursors are in chunkstream.c.
 *
 * A writer fills every chunk to capacity before the next; a reader is
 * given the chunks' lengths and the stream's length (`left`) and never
 * reads past either.  Varints are 7 bits a byte, least significant group
 * first; a reader accepts only the shortest form, so that what it decodes
 * re-encodes to the same bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_CHUNKSTREAM_H
#define MEMKV_CHUNKSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fst_bytes.h"

typedef struct ChunkWriter
{
	uint8_t *const *chunks;
	size_t	   *lens;
	uint32_t	nchunks;
	size_t		cap;
	uint32_t	ci;				/* current chunk */
	size_t		off;			/* bytes written into it */
	bool		overflow;		/* ran past the last chunk */
} ChunkWriter;

typedef struct ChunkReader
{
	const uint8_t *const *chunks;
	const size_t *lens;
	uint32_t	nchunks;
	uint32_t	ci;
	size_t		off;
	size_t		left;			/* bytes left in the whole stream */
} ChunkReader;

/*
 * Read a varint from p[*off..len) and advance *off; false (with *off
 * unspecified) if it runs past len, has more than 64 bits, or is not in
 * its shortest form.
 */
static inline bool
varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t	x = 0;
	int			shift = 0;

	while (*off < len)
	{
		uint8_t		b = p[(*off)++];

		if (shift == 63 && b > 1)
			return false;
		x |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
		{
			if (b == 0 && shift > 0)
				return false;
			*v = x;
			return true;
		}
		shift += 7;
	}
	return false;
}

/*
 * Writer: append n bytes; an unsigned integer of `bytes` (1..8) bytes,
 * little-endian; a varint.  Past the last chunk the writer sets overflow
 * and writes nothing more.
 */
extern void chunkstream_put(ChunkWriter *w, const uint8_t *src, size_t n);
extern void chunkstream_put_uint(ChunkWriter *w, uint64_t v, int bytes);
extern void chunkstream_put_varint(ChunkWriter *w, uint64_t v);

/*
 * Reader: take n bytes (dst may be NULL to skip them); an unsigned
 * integer of `bytes` (1..8) bytes; a varint in its shortest form.  Each
 * returns false, having consumed an unspecified part of the field, if the
 * stream (r->left) ends first or the varint is malformed.
 */
extern bool chunkstream_get(ChunkReader *r, uint8_t *dst, size_t n);
extern bool chunkstream_get_uint(ChunkReader *r, uint64_t *v, int bytes);
extern bool chunkstream_get_varint(ChunkReader *r, uint64_t *v);

#endif							/* MEMKV_CHUNKSTREAM_H */
