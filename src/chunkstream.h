/*-------------------------------------------------------------------------
 *
 * chunkstream.h
 *	  Plain C (no PostgreSQL headers), internal to runhdr.c and deadlist.c:
 *	  a byte stream cut into chunks of one capacity (the usable bytes of a
 *	  page), written and read through cursors so that no field has to fit
 *	  in one chunk; little-endian integers and LEB128 varints on it.
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

/* Append n bytes, moving to the next chunk whenever one is full. */
static inline void
cw_put(ChunkWriter *w, const uint8_t *src, size_t n)
{
	while (n > 0)
	{
		size_t		room,
					k;

		if (w->ci >= w->nchunks)
		{
			w->overflow = true;
			return;
		}
		room = w->cap - w->off;
		k = n < room ? n : room;
		memcpy(w->chunks[w->ci] + w->off, src, k);
		w->off += k;
		w->lens[w->ci] = w->off;
		src += k;
		n -= k;
		if (w->off == w->cap)
		{
			w->ci++;
			w->off = 0;
		}
	}
}

/* Append an unsigned integer of `bytes` bytes, little-endian. */
static inline void
cw_uint(ChunkWriter *w, uint64_t v, int bytes)
{
	uint8_t		b[8];
	int			i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	cw_put(w, b, bytes);
}

/* Length of v as a varint. */
static inline size_t
varint_len(uint64_t v)
{
	size_t		n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

/* Write v as a varint at b (room for 10 bytes); returns its length. */
static inline size_t
varint_put(uint8_t *b, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		b[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t) v;
	return n;
}

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

static inline void
cw_varint(ChunkWriter *w, uint64_t v)
{
	uint8_t		b[10];

	cw_put(w, b, varint_put(b, v));
}

/* Take n bytes (dst may be NULL to skip); false if the stream ends first. */
static inline bool
cr_get(ChunkReader *r, uint8_t *dst, size_t n)
{
	if (n > r->left)
		return false;
	r->left -= n;
	while (n > 0)
	{
		size_t		avail = r->lens[r->ci] - r->off;
		size_t		k = n < avail ? n : avail;

		if (dst)
		{
			memcpy(dst, r->chunks[r->ci] + r->off, k);
			dst += k;
		}
		r->off += k;
		n -= k;
		if (r->off == r->lens[r->ci])
		{
			r->ci++;
			r->off = 0;
		}
	}
	return true;
}

/* Take a little-endian unsigned integer of `bytes` bytes. */
static inline bool
cr_uint(ChunkReader *r, uint64_t *v, int bytes)
{
	uint8_t		b[8];
	int			i;

	if (!cr_get(r, b, bytes))
		return false;
	*v = 0;
	for (i = 0; i < bytes; i++)
		*v |= (uint64_t) b[i] << (8 * i);
	return true;
}

/*
 * Take a varint; false if the stream ends inside it, it has more than 64
 * bits, or it is not in its shortest form (a last byte of 0 after others).
 */
static inline bool
cr_varint(ChunkReader *r, uint64_t *v)
{
	uint64_t	x = 0;
	int			shift = 0;

	for (;;)
	{
		uint8_t		b;

		if (!cr_get(r, &b, 1))
			return false;
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
		if (shift > 63)
			return false;
	}
}

#endif							/* MEMKV_CHUNKSTREAM_H */
