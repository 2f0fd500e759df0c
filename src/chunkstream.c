/*-------------------------------------------------------------------------
 *
 * chunkstream.c
 *	  Plain C: cursors over a byte stream cut into page-sized chunks (see
 *	  chunkstream.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chunkstream.h"

/* Append n bytes, moving to the next chunk whenever one is full. */
void
chunkstream_put(ChunkWriter *w, const uint8_t *src, size_t n)
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
void
chunkstream_put_uint(ChunkWriter *w, uint64_t v, int bytes)
{
	uint8_t		b[8];
	int			i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	chunkstream_put(w, b, bytes);
}

/* Append v as a varint. */
void
chunkstream_put_varint(ChunkWriter *w, uint64_t v)
{
	uint8_t		b[10];

	chunkstream_put(w, b, put_varint(b, v));
}

/* Take n bytes (dst may be NULL to skip); false if the stream ends first. */
bool
chunkstream_get(ChunkReader *r, uint8_t *dst, size_t n)
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
bool
chunkstream_get_uint(ChunkReader *r, uint64_t *v, int bytes)
{
	uint8_t		b[8];
	int			i;

	if (!chunkstream_get(r, b, bytes))
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
bool
chunkstream_get_varint(ChunkReader *r, uint64_t *v)
{
	uint64_t	x = 0;
	int			shift = 0;

	for (;;)
	{
		uint8_t		b;

		if (!chunkstream_get(r, &b, 1))
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
