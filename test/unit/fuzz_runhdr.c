/*-------------------------------------------------------------------------
 *
 * fuzz_runhdr.c
 *	  libFuzzer target for run headers (src/runhdr.c).
 *
 * Input: byte 0 picks the chunk capacity (1..64, or 8000 when >= 192),
 * byte 1 the relation's size in blocks (256 << (byte % 16)), and the
 * rest is the header stream, cut into chunks of that capacity.  A stream
 * that says version 2 or 3 gets the CRC it should have written into it first,
 * so that mutations reach the rules behind the CRC check.  Decoding
 * must fail cleanly (a known error code, nothing allocated) or give a
 * header that passes runhdr_check, re-encodes to exactly the input's
 * chunks, and whose lookups agree with linear scans: every logical page's
 * block, the slice of each fence and of keys cut from the input, and the
 * slice range between two of them.
 *
 *-------------------------------------------------------------------------
 */
#include "runhdr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES	8000

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
f_alloc(void *arg, size_t size)
{
	(void) arg;
	return malloc(size ? size : 1);
}

static void
f_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const FstAllocator falloc = {f_alloc, NULL, f_free, NULL};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_runhdr mismatch: %s\n", what);
	abort();
}

/* The slice for key by a linear scan over the fences. */
static uint32_t
linear_slice(const RunHeader *h, const uint8_t *key, size_t len)
{
	uint32_t	i,
				s = 0;

	for (i = 0; i < h->nslices; i++)
		if (runhdr_key_cmp(h->slices[i].fence, h->slices[i].fence_len, key, len) <= 0)
			s = i;
	return s;
}

/* Lookups of a decoded header against linear scans. */
static void
check_lookups(const RunHeader *h, const uint8_t *data, size_t size)
{
	uint32_t	p,
				i,
				blk;

	for (p = 0; p < h->npages && p < 4096; p++)
	{
		uint32_t	want = 0;

		for (i = 0; i < h->nextents; i++)
			if (p >= h->extents[i].lpage &&
				p - h->extents[i].lpage < h->extents[i].length)
				want = h->extents[i].start + (p - h->extents[i].lpage);
		if (!runhdr_page_block(h, p, &blk) || blk != want)
			fail("page block");
	}
	if (runhdr_page_block(h, h->npages, &blk))
		fail("page past the run");
	if (h->nslices == 0)
		return;
	for (i = 0; i < h->nslices; i++)
		if (runhdr_slice_for_key(h, h->slices[i].fence, h->slices[i].fence_len) != i)
			fail("slice of a fence");
	for (i = 0; i + 1 < size && i < 64; i++)
	{
		size_t		len = data[i] % 16;
		const uint8_t *k = data + i + 1;
		uint32_t	first,
					last,
					n,
					a,
					b;

		if (len > size - i - 1)
			len = size - i - 1;
		a = linear_slice(h, k, len);
		if (runhdr_slice_for_key(h, k, len) != a)
			fail("slice of a key");
		/* [fence of slice a, k]: slices a.. the one of k */
		n = runhdr_slice_range(h, h->slices[a].fence, h->slices[a].fence_len,
							   true, k, len, true, true, &first, &last);
		b = a;
		if (n != 1 || first != a || last != b)
			fail("slice range");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *chunks[4096];
	uint8_t    *copy;
	size_t		lens[4096];
	uint8_t    *out[4096];
	size_t		outlens[4096];
	size_t		cap;
	uint32_t	nblocks,
				n = 0,
				i;
	size_t		off;
	RunHeader  *h = NULL;
	int			rc;

	if (size < 3)
		return 0;
	cap = data[0] >= 192 ? 8000 : 1 + data[0] % 64;
	nblocks = 256u << (data[1] % 16);
	data += 2;
	size -= 2;
	if (size / cap >= 4096)
		return 0;
	copy = malloc(size);
	memcpy(copy, data, size);
	data = copy;
	for (off = 0; off < size; off += cap)
	{
		chunks[n] = data + off;
		lens[n++] = size - off < cap ? size - off : cap;
	}
	if (size >= RUNHDR_FIXED_BYTES_V2 && copy[5] == 0 &&
		(copy[4] == RUNHDR_VERSION_2 || copy[4] == RUNHDR_VERSION))
	{
		uint32_t	crc = runhdr_stream_crc(chunks, lens, n);

		for (i = 0; i < 4; i++)
			copy[RUNHDR_CRC_OFFSET + i] = (uint8_t) (crc >> (8 * i));
	}
	rc = runhdr_decode(chunks, lens, n, cap, nblocks, PAGE_BYTES, &falloc, &h);
	if (rc != RUNHDR_OK)
	{
		if (h != NULL || rc <= 0 || rc >= RUNHDR_NERRORS)
			fail("failed decode");
		free(copy);
		return 0;
	}
	if (runhdr_check(h, nblocks, PAGE_BYTES, &falloc) != RUNHDR_OK)
		fail("decoded header fails the check");
	if (runhdr_chunks_needed(h, cap) != n ||
		runhdr_stream_bytes(h) != size)
		fail("re-encoded size");
	for (i = 0; i < n; i++)
		out[i] = malloc(cap);
	if (runhdr_encode(h, cap, out, n, outlens) != RUNHDR_OK)
		fail("re-encode");
	for (i = 0; i < n; i++)
	{
		if (outlens[i] != lens[i] || memcmp(out[i], chunks[i], lens[i]) != 0)
			fail("re-encoded bytes differ");
		free(out[i]);
	}
	check_lookups(h, data, size);
	f_free(NULL, h);
	free(copy);
	return 0;
}
