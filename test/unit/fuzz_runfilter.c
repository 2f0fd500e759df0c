/*-------------------------------------------------------------------------
 *
 * fuzz_runfilter.c
 *	  libFuzzer target for run filters (src/runfilter.c): what a probe
 *	  decodes from stored bytes.
 *
 * Input: bytes 0..9 are stored parameters as a version-3 run header holds
 * them (u32 blocks, u16 probes, u16 block offset, u16 blocks per page,
 * little-endian), then the filter pages' bytes (as many pages as the
 * parameters say, each exactly the page's usable bytes, in one allocation
 * of that size: filled from the input, zeros past its end), and the rest
 * is a key.  Parameters runfilter_params_check rejects are dropped, as
 * runhdr_decode would.  For the others, probing the key through the
 * pages must stay inside them (ASan sees any byte past the allocation),
 * and a key added to its block must then pass (no false negative, whatever
 * the block held).  The parameters runfilter_size makes from the same
 * bytes must pass the check.
 *
 *-------------------------------------------------------------------------
 */
#include "runfilter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES	8152
#define MAX_PAGES	64			/* keep an input's allocation small */

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_runfilter: %s\n", what);
	abort();
}

static uint32_t
le(const uint8_t *p, int n)
{
	uint32_t	v = 0;
	int			i;

	for (i = 0; i < n; i++)
		v |= (uint32_t) p[i] << (8 * i);
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RunFilterParams p;
	RunFilterParams q;
	uint8_t    *pages;
	size_t		bytes,
				take;
	uint32_t	page,
				off;
	uint64_t	h;
	const uint8_t *key;
	size_t		keylen;

	if (size < 10)
		return 0;
	p.nblocks = le(data, 4);
	p.nprobes = (uint16_t) le(data + 4, 2);
	p.block_offset = (uint16_t) le(data + 6, 2);
	p.blocks_per_page = (uint16_t) le(data + 8, 2);
	data += 10;
	size -= 10;

	/* what the writer would size from these bytes passes the check */
	if (runfilter_size(p.nblocks, 1 + p.nprobes % RUNFILTER_MAX_BITS,
					   PAGE_BYTES, (uint16_t) (p.block_offset % 128), &q) &&
		!runfilter_params_check(&q, PAGE_BYTES))
		fail("sized parameters fail the check");

	if (!runfilter_params_check(&p, PAGE_BYTES) ||
		runfilter_pages(&p) > MAX_PAGES)
		return 0;
	bytes = (size_t) runfilter_pages(&p) * PAGE_BYTES;
	pages = calloc(1, bytes);
	take = size < bytes ? size : bytes;
	memcpy(pages, data, take);
	key = data + take;
	keylen = size - take;

	h = runfilter_hash(key, keylen);
	runfilter_locate(&p, h, &page, &off);
	if (page >= runfilter_pages(&p) || off + RUNFILTER_BLOCK_BYTES > PAGE_BYTES)
		fail("probe outside the filter's pages");
	(void) runfilter_block_test(pages + (size_t) page * PAGE_BYTES + off, &p, h);
	runfilter_block_add(pages + (size_t) page * PAGE_BYTES + off, &p, h);
	if (!runfilter_block_test(pages + (size_t) page * PAGE_BYTES + off, &p, h))
		fail("a key added does not pass");
	free(pages);
	return 0;
}
