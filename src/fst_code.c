/*-------------------------------------------------------------------------
 *
 * fst_code.c
 *	  The label code of a packed FST image (fst_pack.c): length-limited
 *	  Huffman code lengths for the labels of single-transition nodes, and
 *	  the common-label table of the packed image.  Both depend only on the
 *	  label counts of the pack map.  The codes themselves are assigned from
 *	  the lengths by fst_code_assign (fst_node.h), which the reader uses too.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_node.h"

/*
 * Code lengths (at most FST_CODE_MAX_BITS) for labels with these counts:
 * Huffman's, with the counts flattened until the longest code fits.
 */
void
fst_make_code_lengths(const uint64_t *counts, uint8_t *lens)
{
	uint64_t	w[256];
	uint64_t	weight[511];
	int			parent[511];
	bool		used[511];
	int			nsym = 0;
	int			s;

	for (s = 0; s < 256; s++)
	{
		w[s] = counts[s];
		lens[s] = 0;
		if (counts[s])
			nsym++;
	}
	if (nsym == 0)
		return;
	if (nsym == 1)
	{
		for (s = 0; s < 256; s++)
			if (counts[s])
				lens[s] = 1;
		return;
	}
	for (;;)
	{
		int			nnodes = 0;
		int			leaf_of[256];
		int			maxlen = 0;
		int			i;

		for (s = 0; s < 256; s++)
			if (w[s])
			{
				leaf_of[s] = nnodes;
				weight[nnodes] = w[s];
				parent[nnodes] = -1;
				used[nnodes] = false;
				nnodes++;
			}
		/* join the two lightest free nodes until one is left */
		for (i = 0; i < nsym - 1; i++)
		{
			int			pick[2];
			int			k;

			for (k = 0; k < 2; k++)
			{
				int			best = -1;
				int			j;

				for (j = 0; j < nnodes; j++)
					if (!used[j] && (best < 0 || weight[j] < weight[best]))
						best = j;
				used[best] = true;
				pick[k] = best;
			}
			weight[nnodes] = weight[pick[0]] + weight[pick[1]];
			parent[nnodes] = -1;
			used[nnodes] = false;
			parent[pick[0]] = nnodes;
			parent[pick[1]] = nnodes;
			nnodes++;
		}
		for (s = 0; s < 256; s++)
			if (w[s])
			{
				int			d = 0;
				int			j;

				for (j = leaf_of[s]; parent[j] >= 0; j = parent[j])
					d++;
				lens[s] = (uint8_t) (d > 15 ? 15 : d);
				if (d > maxlen)
					maxlen = d;
			}
		if (maxlen <= FST_CODE_MAX_BITS)
			return;
		for (s = 0; s < 256; s++)
			if (w[s])
				w[s] = (w[s] >> 1) | 1;
	}
}

/*
 * The common-label table of the packed image: the labels of single-
 * transition nodes, most frequent first (only the first
 * FST_CHAIN_CODE0 - 1 have codes in a packed image; the rest fill the
 * table with distinct bytes).
 */
void
fst_choose_common(const uint64_t *counts, uint8_t *common)
{
	bool		taken[256] = {false};
	int			i;

	for (i = 0; i < FST_NCOMMON; i++)
	{
		int			best = -1;
		int			s;

		for (s = 0; s < 256; s++)
			if (!taken[s] && (best < 0 || counts[s] > counts[best]))
				best = s;
		taken[best] = true;
		common[i] = (uint8_t) best;
	}
}
