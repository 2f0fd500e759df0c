/*-------------------------------------------------------------------------
 *
 * runfilter.c
 *	  Plain C: a run's blocked Bloom filter (format, hash and false-positive
 *	  rate in runfilter.h).
 *
 * One function (probe_bits) turns a hash into the bits of its block; the
 * builder and both probes go through it, so they agree by construction.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runfilter.h"

#define RF_MUL_WORD		UINT64_C(0x9e3779b97f4a7c15)	/* 2^64 / golden ratio */
#define RF_MUL_BITS		UINT64_C(0xd6e8feb86659fd93)
#define RF_MIX_1		UINT64_C(0xbf58476d1ce4e5b9)	/* splitmix64's */
#define RF_MIX_2		UINT64_C(0x94d049bb133111eb)
#define RF_BITS_PER_PROBE 9		/* log2(RUNFILTER_BLOCK_BITS) */
#define RF_PROBES_PER_WORD 7	/* 63 of a word's 64 bits */

/* A little-endian 64-bit word from 8 bytes, whatever the CPU's order. */
static inline uint64_t
rf_load64(const uint8_t *p)
{
	return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 |
		(uint64_t) p[3] << 24 | (uint64_t) p[4] << 32 |
		(uint64_t) p[5] << 40 | (uint64_t) p[6] << 48 | (uint64_t) p[7] << 56;
}

/* The final avalanche: every input bit reaches every output bit. */
static inline uint64_t
rf_finish(uint64_t z)
{
	z = (z ^ (z >> 30)) * RF_MIX_1;
	z = (z ^ (z >> 27)) * RF_MIX_2;
	return z ^ (z >> 31);
}

/*
 * runfilter_hash
 *		Words in, each xored into the state, multiplied and folded; the
 *		tail (under 8 bytes) as one zero-padded word; the length in the
 *		start value.
 */
uint64_t
runfilter_hash(const uint8_t *key, size_t len)
{
	uint64_t	h = (uint64_t) len * RF_MUL_BITS;
	size_t		i = 0;

	for (; i + 8 <= len; i += 8)
	{
		h = (h ^ rf_load64(key + i)) * RF_MUL_WORD;
		h ^= h >> 29;
	}
	if (i < len)
	{
		uint64_t	w = 0;
		size_t		j;

		for (j = 0; i + j < len; j++)
			w |= (uint64_t) key[i + j] << (8 * j);
		h = (h ^ w) * RF_MUL_WORD;
		h ^= h >> 29;
	}
	return rf_finish(h);
}

/*
 * runfilter_size
 *		nprobes = round(bits_per_key * ln 2), the count that minimizes the
 *		false-positive rate; blocks for nkeys * bits_per_key bits, at least
 *		one.
 */
bool
runfilter_size(uint64_t nkeys, int bits_per_key, uint32_t page_bytes,
			   uint16_t block_offset, RunFilterParams *p)
{
	uint64_t	nblocks;
	int			k;

	memset(p, 0, sizeof(*p));
	if (nkeys == 0 || bits_per_key < 1 || bits_per_key > RUNFILTER_MAX_BITS ||
		block_offset >= page_bytes ||
		(page_bytes - block_offset) / RUNFILTER_BLOCK_BYTES == 0)
		return false;
	if (nkeys > (uint64_t) RUNFILTER_MAX_BLOCKS * RUNFILTER_BLOCK_BITS /
		(uint64_t) bits_per_key)
		return false;
	nblocks = (nkeys * (uint64_t) bits_per_key + RUNFILTER_BLOCK_BITS - 1) /
		RUNFILTER_BLOCK_BITS;
	k = (bits_per_key * 693 + 500) / 1000;
	if (k < 1)
		k = 1;
	if (k > RUNFILTER_MAX_PROBES)
		k = RUNFILTER_MAX_PROBES;
	p->nblocks = (uint32_t) (nblocks > 0 ? nblocks : 1);
	p->nprobes = (uint16_t) k;
	p->block_offset = block_offset;
	p->blocks_per_page = (uint16_t)
		((page_bytes - block_offset) / RUNFILTER_BLOCK_BYTES);
	return true;
}

/*
 * runfilter_params_check
 *		Everything runfilter_locate and the probes rely on.
 */
bool
runfilter_params_check(const RunFilterParams *p, uint32_t page_bytes)
{
	return p->nblocks >= 1 && p->nblocks <= RUNFILTER_MAX_BLOCKS &&
		p->nprobes >= 1 && p->nprobes <= RUNFILTER_MAX_PROBES &&
		p->blocks_per_page >= 1 &&
		(uint64_t) p->block_offset +
		(uint64_t) p->blocks_per_page * RUNFILTER_BLOCK_BYTES <= page_bytes;
}

/*
 * runfilter_pages
 *		ceil(nblocks / blocks_per_page); 0 for parameters that fail the
 *		check's blocks_per_page >= 1.
 */
uint32_t
runfilter_pages(const RunFilterParams *p)
{
	if (p->blocks_per_page == 0)
		return 0;
	return (p->nblocks + p->blocks_per_page - 1) / p->blocks_per_page;
}

/* The block of hash h: multiply-shift of its high half onto 0 .. nblocks-1. */
static inline uint32_t
rf_block(const RunFilterParams *p, uint64_t h)
{
	return (uint32_t) (((h >> 32) * (uint64_t) p->nblocks) >> 32);
}

/*
 * runfilter_locate
 *		Block b of the filter is on page b / blocks_per_page.
 */
void
runfilter_locate(const RunFilterParams *p, uint64_t h, uint32_t *page,
				 uint32_t *offset)
{
	uint32_t	b = rf_block(p, h);

	*page = b / p->blocks_per_page;
	*offset = p->block_offset +
		(b % p->blocks_per_page) * RUNFILTER_BLOCK_BYTES;
}

/*
 * The bits of hash h within its block: nprobes values 0 .. 511, nine bits
 * each from the top of a second mix of h, re-mixed every seven probes.
 * Fills bits[] and returns nprobes.
 */
static inline int
probe_bits(const RunFilterParams *p, uint64_t h, uint16_t *bits)
{
	uint64_t	g = h * RF_MUL_BITS;
	int			i;

	g ^= g >> 32;
	for (i = 0; i < p->nprobes; i++)
	{
		int			j = i % RF_PROBES_PER_WORD;

		if (j == 0 && i > 0)
			g = rf_finish(g);
		bits[i] = (uint16_t) ((g >> (64 - RF_BITS_PER_PROBE * (j + 1))) &
							  (RUNFILTER_BLOCK_BITS - 1));
	}
	return p->nprobes;
}

/*
 * runfilter_block_add
 *		Sets h's bits; bit n is bit n % 8 of byte n / 8.
 */
void
runfilter_block_add(uint8_t *block, const RunFilterParams *p, uint64_t h)
{
	uint16_t	bits[RUNFILTER_MAX_PROBES];
	int			n = probe_bits(p, h, bits);
	int			i;

	for (i = 0; i < n; i++)
		block[bits[i] >> 3] |= (uint8_t) (1u << (bits[i] & 7));
}

/*
 * runfilter_block_test
 *		All of h's bits set?
 */
bool
runfilter_block_test(const uint8_t *block, const RunFilterParams *p,
					 uint64_t h)
{
	uint16_t	bits[RUNFILTER_MAX_PROBES];
	int			n = probe_bits(p, h, bits);
	int			i;

	for (i = 0; i < n; i++)
		if ((block[bits[i] >> 3] & (1u << (bits[i] & 7))) == 0)
			return false;
	return true;
}

/*
 * runfilter_add
 *		In a contiguous in-memory filter.
 */
void
runfilter_add(uint8_t *blocks, const RunFilterParams *p, uint64_t h)
{
	runfilter_block_add(blocks + (size_t) rf_block(p, h) * RUNFILTER_BLOCK_BYTES,
						p, h);
}

/*
 * runfilter_test
 *		In a contiguous in-memory filter.
 */
bool
runfilter_test(const uint8_t *blocks, const RunFilterParams *p, uint64_t h)
{
	return runfilter_block_test(blocks + (size_t) rf_block(p, h) *
								RUNFILTER_BLOCK_BYTES, p, h);
}
