/*-------------------------------------------------------------------------
 *
 * spill_merge.c
 *	  Plain C: the k-way merge of spill readers (spill.h), out of spill.c.
 *
 * The merge is a binary heap of readers ordered by (key, next TID); it
 * moves one TID at a time, so TIDs of equal keys from different spills
 * come out interleaved in order.  Readers limited to a key range
 * (spill_reader_set_range) merge the same way: each simply ends sooner.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "spill.h"

/* Does reader a's next (key, TID) come before b's? */
static inline bool
spill_merge_less(const SpillReader *a, const SpillReader *b)
{
	int			c = spill_key_cmp(a->key, a->keylen, b->key, b->keylen);

	if (c != 0)
		return c < 0;
	return a->tids[a->merge_pos] < b->tids[b->merge_pos];
}

/* Put reader x in slot i, or above it, keeping the heap's order above i. */
static inline void
spill_merge_sift_up(SpillReader **h, uint32_t i, SpillReader *x)
{
	while (i > 0 && spill_merge_less(x, h[(i - 1) / 2]))
	{
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

/*
 * Restore the heap property after the top reader moved on (or was
 * replaced by the last one), the way of Floyd's heapsort: the hole walked
 * down to a leaf along the smaller children (one comparison a level),
 * then the reader sifted up from there.  A reader that moved on usually
 * belongs near the bottom: about half the comparisons of a sift down.
 */
static void
spill_merge_sift_top(SpillMerge *m)
{
	SpillReader **h = m->heap;
	SpillReader *x;
	uint32_t	i = 0;
	uint32_t	c;

	if (m->nheap == 0)
		return;
	x = h[0];
	while ((c = 2 * i + 1) < m->nheap)
	{
		if (c + 1 < m->nheap && spill_merge_less(h[c + 1], h[c]))
			c++;
		h[i] = h[c];
		i = c;
	}
	spill_merge_sift_up(h, i, x);
}

/* Take a reader's error as the merge's. */
static SpillStatus
spill_merge_fail(SpillMerge *m, const SpillReader *r, SpillStatus st)
{
	memcpy(m->errmsg, r->errmsg, SPILL_ERRMSG_LEN);
	return m->status = st;
}

/*
 * Start merging nreaders freshly initialized readers; readers is the
 * caller's array, which the merge reorders as its heap and keeps until it
 * is done.  Reads each reader's first entry: SPILL_OK or a reader's error.
 */
SpillStatus
spill_merge_init(SpillMerge *m, SpillReader **readers, uint32_t nreaders)
{
	uint32_t	i;

	m->heap = readers;
	m->nheap = 0;
	m->status = SPILL_OK;
	m->have_out = false;
	m->top_differs = false;
	m->keylen = 0;
	m->last_tid = 0;
	m->errmsg[0] = '\0';
	for (i = 0; i < nreaders; i++)
	{
		SpillReader *r = readers[i];
		SpillStatus st = spill_reader_next(r);

		if (st < 0)
			return spill_merge_fail(m, r, st);
		if (st == SPILL_END)
			continue;
		r->merge_pos = 0;
		spill_merge_sift_up(readers, m->nheap++, r);
	}
	return SPILL_OK;
}

/*
 * The next piece of the merged output: SPILL_OK with *out set, SPILL_END,
 * or an error (message in m->errmsg).  Keys come in ascending order, each
 * with the union of its TIDs across all spills, ascending, a (key, TID)
 * present in several spills once.  A key's TIDs come in one or more
 * consecutive pieces of at most SPILL_MERGE_TIDS, the first marked
 * new_key, so memory stays bounded however many rows share a key.
 */
SpillStatus
spill_merge_next(SpillMerge *m, SpillMergeOut *out)
{
	uint32_t	n = 0;
	bool		new_key = false;

	if (m->status != SPILL_OK)
		return m->status;
	while (n == 0)
	{
		bool		first = true;

		if (m->nheap == 0)
			return m->status = SPILL_END;
		/* the last piece may have ended on a key known to differ */
		new_key = !m->have_out || m->top_differs ||
			spill_key_cmp(m->heap[0]->key, m->heap[0]->keylen,
						  m->key, m->keylen) != 0;
		m->top_differs = false;
		if (new_key)
		{
			memcpy(m->key, m->heap[0]->key, m->heap[0]->keylen);
			m->keylen = m->heap[0]->keylen;
			m->have_out = true;
		}

		while (m->nheap > 0 && n < SPILL_MERGE_TIDS)
		{
			SpillReader *top = m->heap[0];
			uint64_t	tid;

			/* the first top is m->key: just compared or copied */
			if (!first &&
				spill_key_cmp(top->key, top->keylen, m->key, m->keylen) != 0)
			{
				m->top_differs = true;
				break;
			}
			first = false;
			tid = top->tids[top->merge_pos];
			/* the same (key, TID) in another spill: keep one */
			if (n > 0 ? tid != m->tids[n - 1] : (new_key || tid != m->last_tid))
				m->tids[n++] = tid;
			if (++top->merge_pos == top->ntids)
			{
				SpillStatus st = spill_reader_next(top);

				if (st < 0)
					return spill_merge_fail(m, top, st);
				top->merge_pos = 0;
				if (st == SPILL_END)
					m->heap[0] = m->heap[--m->nheap];
			}
			spill_merge_sift_top(m);
		}
	}
	m->last_tid = m->tids[n - 1];
	out->key = m->key;
	out->keylen = m->keylen;
	out->new_key = new_key;
	out->ntids = n;
	out->tids = m->tids;
	return SPILL_OK;
}
