/*-------------------------------------------------------------------------
 *
 * runhdr_find.c
 *	  Plain C: lookups in a run header (runhdr.h): the block of a logical
 *	  page, the byte order of keys, fences, and the slices a key or a
 *	  range falls in.
 *
 * Apart from runhdr.c, which encodes, decodes and checks the stream, so
 * that each stays well under the file size limit; these read a header in
 * memory only.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fst_bytes.h"
#include "runhdr.h"

/*
 * runhdr_key_cmp
 *		Byte order, a proper prefix before the longer key.
 */
int
runhdr_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return key_cmp_bytes(a, alen, b, blen);
}

/* ----------------------------------------------------------------- lookups */

/*
 * runhdr_page_block
 *		Binary search for the last extent starting at or before lpage.
 */
bool
runhdr_page_block(const RunHeader *h, uint32_t lpage, uint32_t *block)
{
	uint32_t	lo = 0,
				hi = h->nextents;

	if (lpage >= h->npages || h->nextents == 0)
		return false;
	/* invariant: extents[lo].lpage <= lpage < extents[hi].lpage */
	while (hi - lo > 1)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (h->extents[mid].lpage <= lpage)
			lo = mid;
		else
			hi = mid;
	}
	*block = h->extents[lo].start + (lpage - h->extents[lo].lpage);
	return true;
}

/*
 * runhdr_fence_len
 *		With l the common prefix length of prev and first, first[0..l+1)
 *		is after prev (prev either ends at l or has a smaller byte there),
 *		and every shorter prefix of first is a prefix of prev, so not after
 *		it.
 */
size_t
runhdr_fence_len(const uint8_t *prev, size_t prevlen,
				 const uint8_t *first, size_t firstlen)
{
	size_t		l = 0;

	while (l < prevlen && l < firstlen && prev[l] == first[l])
		l++;
	if (l == firstlen || (l < prevlen && prev[l] > first[l]))
		return 0;
	return l + 1;
}

/*
 * runhdr_slice_for_key
 *		Binary search for the last slice whose fence is <= key.
 */
uint32_t
runhdr_slice_for_key(const RunHeader *h, const uint8_t *key, size_t len)
{
	uint32_t	lo = 0,
				hi = h->nslices;

	/* slice 0's fence is empty, so <= any key */
	while (hi - lo > 1)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		const RunSlice *s = &h->slices[mid];

		if (runhdr_key_cmp(s->fence, s->fence_len, key, len) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * runhdr_slice_range
 *		The slice of lo through the slice of hi; with an exclusive hi equal
 *		to a fence, the slice below that fence's.
 */
uint32_t
runhdr_slice_range(const RunHeader *h,
				   const uint8_t *lo, size_t lolen, bool has_lo,
				   const uint8_t *hi, size_t hilen, bool has_hi,
				   bool hi_incl, uint32_t *first, uint32_t *last)
{
	uint32_t	a = 0,
				b;

	if (h->nslices == 0)
		return 0;
	b = h->nslices - 1;
	if (has_lo)
		a = runhdr_slice_for_key(h, lo, lolen);
	if (has_hi)
	{
		int			c;

		if (has_lo)
		{
			c = runhdr_key_cmp(lo, lolen, hi, hilen);
			if (c > 0 || (c == 0 && !hi_incl))
				return 0;
		}
		if (!hi_incl && hilen == 0)
			return 0;
		b = runhdr_slice_for_key(h, hi, hilen);
		if (!hi_incl &&
			runhdr_key_cmp(h->slices[b].fence, h->slices[b].fence_len,
						   hi, hilen) == 0)
			b--;				/* b > 0: slice 0's fence is empty */
		if (b < a)
			return 0;
	}
	*first = a;
	*last = b;
	return b - a + 1;
}
