/*-------------------------------------------------------------------------
 *
 * runfilter.h
 *	  Plain C (no PostgreSQL headers): a run's membership filter, a
 *	  blocked Bloom filter over its keys, laid out in page-sized chunks so
 *	  that a probe reads one 64-byte block of one page.
 *
 * The filter is nblocks blocks of RUNFILTER_BLOCK_BYTES (512 bits).  A key
 * hashes (runfilter_hash) to one 64-bit value h: its block is chosen from
 * h's high 32 bits (multiply-shift onto 0 .. nblocks - 1), and nprobes
 * bits within that block from a second mix of h, nine bits per probe.  A
 * key added sets its bits; a probe says "maybe" if all of them are set,
 * "no" otherwise -- never "no" for a key added (no false negatives).
 *
 * Stored, block b lies in the filter's page b / blocks_per_page, at byte
 * block_offset + (b % blocks_per_page) * 64 of that page's chunk (the
 * page's usable bytes); the rest of each page is zero.  block_offset lets
 * the writer put blocks on cache-line boundaries of the buffer.  The three
 * parameters are stored (runhdr.h version 3) and checked by
 * runfilter_params_check before any probe: with them valid, no probe
 * reads outside the filter's pages, whatever the stored bytes hold.
 *
 * The hash.  A seedless 64-bit hash of the key bytes of our own: eight
 * bytes at a time (little-endian, so a filter reads the same on any CPU),
 * each word xored into the state, multiplied by an odd constant and
 * folded (a shift-xor); the tail as one zero-padded word; the length in
 * the start value, so keys differing only in trailing zero bytes differ;
 * then splitmix64's finalizer, whose avalanche test_runfilter checks.
 * Good enough because the filter needs only that distinct keys of one
 * run spread evenly over blocks and bits, not resistance to crafted keys:
 * keys chosen to collide cost false positives (an extra FST lookup), never
 * a wrong answer.  With 10 bits a key (RUNFILTER_DEFAULT_BITS) and 7
 * probes a blocked filter of 512-bit blocks gives about 1% false positives
 * (an unblocked one 0.8%; the block's load varies, which costs the rest):
 * test_runfilter asserts at most 1.6% on random and on path-like keys,
 * and bench/RESULTS.md has what a real run showed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNFILTER_H
#define MEMKV_RUNFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNFILTER_BLOCK_BYTES	64	/* one cache line */
#define RUNFILTER_BLOCK_BITS	512
#define RUNFILTER_DEFAULT_BITS	10	/* bits per key: about 1% false hits */
#define RUNFILTER_MAX_BITS		64	/* bits per key the sizing accepts */
#define RUNFILTER_MAX_PROBES	16
#define RUNFILTER_MAX_BLOCKS	(UINT32_C(1) << 26)	/* 4 GB of filter */

/* The stored parameters of a filter (runhdr.h version 3). */
typedef struct RunFilterParams
{
	uint32_t	nblocks;		/* 64-byte blocks, >= 1 */
	uint16_t	nprobes;		/* bits set per key, 1 .. MAX_PROBES */
	uint16_t	block_offset;	/* of block 0 in each page's chunk */
	uint16_t	blocks_per_page;	/* >= 1 */
} RunFilterParams;

/*
 * The parameters of a filter for nkeys keys at bits_per_key (1 ..
 * RUNFILTER_MAX_BITS) on pages of page_bytes usable bytes whose first
 * block starts at block_offset (the caller's cache-line alignment).
 * False if no filter fits (no key, bits out of range, a page too small,
 * or more than RUNFILTER_MAX_BLOCKS blocks).
 */
extern bool runfilter_size(uint64_t nkeys, int bits_per_key,
						   uint32_t page_bytes, uint16_t block_offset,
						   RunFilterParams *p);

/*
 * Whether stored parameters are usable on pages of page_bytes usable
 * bytes: nblocks 1 .. RUNFILTER_MAX_BLOCKS, nprobes 1 .. MAX_PROBES,
 * blocks_per_page >= 1, and block_offset + blocks_per_page * 64 <=
 * page_bytes.
 */
extern bool runfilter_params_check(const RunFilterParams *p,
								   uint32_t page_bytes);

/* Pages the filter fills: ceil(nblocks / blocks_per_page). */
extern uint32_t runfilter_pages(const RunFilterParams *p);

/* The 64-bit hash of a key (see the header comment). */
extern uint64_t runfilter_hash(const uint8_t *key, size_t len);

/*
 * Where the block of a key of hash h lies: its page (0-based, within the
 * filter) and its byte offset in that page's chunk.  p must be valid.
 */
extern void runfilter_locate(const RunFilterParams *p, uint64_t h,
							 uint32_t *page, uint32_t *offset);

/* Set h's bits in its block (64 bytes, as runfilter_locate placed it). */
extern void runfilter_block_add(uint8_t *block, const RunFilterParams *p,
								uint64_t h);

/* Whether all of h's bits are set in its block: false means "absent". */
extern bool runfilter_block_test(const uint8_t *block,
								 const RunFilterParams *p, uint64_t h);

/*
 * A filter being built in memory: nblocks * 64 bytes, block b at b * 64
 * (contiguous; the writer lays the blocks out on pages).
 */
extern void runfilter_add(uint8_t *blocks, const RunFilterParams *p,
						  uint64_t h);
extern bool runfilter_test(const uint8_t *blocks, const RunFilterParams *p,
						   uint64_t h);

#endif							/* MEMKV_RUNFILTER_H */
