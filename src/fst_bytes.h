/*-------------------------------------------------------------------------
 *
 * fst_bytes.h
 *	  Byte-level helpers shared by the FST builder, reader and posting
 *	  lists: little- and big-endian integers, varints, the FNV-1a checksums of
 *	  trailers, error messages, and the common prefix of two keys (which
 *	  the spill files and the ART walk use too).  Plain C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FST_BYTES_H
#define MEMKV_FST_BYTES_H

#include <string.h>

#include "fst.h"

/*
 * The length of the longest common prefix of a[0..m) and b[0..m): eight
 * bytes at a time up to the first differing word, then byte by byte.
 */
static inline size_t
common_prefix_len(const uint8_t *a, const uint8_t *b, size_t m)
{
	size_t		n = 0;

	while (n + 8 <= m)
	{
		uint64_t	x;
		uint64_t	y;

		memcpy(&x, a + n, 8);
		memcpy(&y, b + n, 8);
		if (x != y)
			break;
		n += 8;
	}
	while (n < m && a[n] == b[n])
		n++;
	return n;
}

/* Store an error message (truncated to FST_ERRMSG_LEN); returns -1. */
static inline int
set_error(char *errmsg, const char *msg)
{
	size_t		n = strlen(msg);

	if (n >= FST_ERRMSG_LEN)
		n = FST_ERRMSG_LEN - 1;
	memcpy(errmsg, msg, n);
	errmsg[n] = '\0';
	return -1;
}

static inline void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
put_u32(uint8_t *p, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
put_u64(uint8_t *p, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
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

/* Write v as a varint at p (room for 10 bytes); returns its length. */
static inline size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		p[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t) v;
	return n;
}

/* Compare two keys in byte order, a prefix first; <0, 0 or >0. */
static inline int
key_cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			c = m ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static inline uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) get_u32(p) | ((uint64_t) get_u32(p + 4) << 32);
}

/*
 * The 4 (8) bytes at p, p[0] the most significant: a node's logical bytes
 * i..i+3 (i+7), which lie downwards in memory from end[-i], read by one
 * load at end - i - 3 (7) as the low bytes first.
 */
static inline uint32_t
get_be32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return __builtin_bswap32(v);
#endif
}

static inline uint64_t
get_be64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return __builtin_bswap64(v);
#endif
}

#define FNV1A_INIT	0x811c9dc5u

/* Continue an FNV-1a 32 hash over len bytes. */
static inline uint32_t
fnv1a_update(uint32_t h, const uint8_t *p, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= 0x01000193u;
	}
	return h;
}

/* FNV-1a 32 over the FST trailer's first 36 bytes, then the preamble. */
static inline uint32_t
trailer_checksum(const uint8_t *trailer, const uint8_t *preamble)
{
	return fnv1a_update(fnv1a_update(FNV1A_INIT, trailer, 36),
						preamble, FST_PREAMBLE_SIZE);
}

/* FNV-1a 32 over a posting lists image's trailer (its first 44 bytes). */
static inline uint32_t
postings_checksum(const uint8_t *p, size_t len)
{
	return fnv1a_update(FNV1A_INIT, p, len);
}

#endif							/* MEMKV_FST_BYTES_H */
