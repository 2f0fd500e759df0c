/*-------------------------------------------------------------------------
 *
 * source.c
 *	  Sources: keys in order with their TIDs, collected from one layer (a
 *	  delta tree, the delta log read into memory, or the frozen run) into
 *	  backend memory, for scans and freezes to merge.  memkv 1.x called a
 *	  source a "run".  Also the chunked inputs of a freeze's merge, the
 *	  delta log read whole and sorted (direct-mode freezes, scans whose
 *	  delta does not fit in shared memory), the TID sort, and a scan
 *	  batch's k-way merge of its sources and its NULL key's TIDs from
 *	  every layer (out of scan.c).
 *
 * A source's arrays live in backend memory: filling one from a delta tree
 * needs the entry lock (any mode) or a tree its caller owns, from the
 * frozen run whatever its MemkvFrozen was opened under (runread.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "batch.h"
#include "delta.h"
#include "memkv.h"
#include "memutil.h"
#include "page.h"
#include "registry.h"
#include "runread.h"
#include "source.h"

/* Keys per chunk when streaming a layer into the merge. */
#define MEMKV_FREEZE_CHUNK 4096

/*
 * Prepare an empty run whose arrays will live in the current memory
 * context.  Nothing is allocated until the first key arrives: most scans
 * never use most of their runs.
 */
void
memkv_source_init(MemkvSource *run)
{
	memset(run, 0, sizeof(MemkvSource));
	run->cxt = CurrentMemoryContext;
}

/* Empty a run, keeping its memory. */
void
memkv_source_reset(MemkvSource *run)
{
	run->keybuf_used = 0;
	run->nkeys = 0;
	run->ntids = 0;
	run->stopped = false;
}

/* Make room for `more` TIDs after the run's last one. */
void
memkv_source_reserve_tids(MemkvSource *run, uint64 more)
{
	run->tids = memkv_array_reserve(run->cxt, run->tids, &run->maxtids,
									run->ntids + more,
									sizeof(ItemPointerData), 64);
}

/* Free a run's arrays; it is empty afterwards, ready for reuse. */
void
memkv_source_free(MemkvSource *run)
{
	if (run->keybuf)
		pfree(run->keybuf);
	if (run->keys)
		pfree(run->keys);
	if (run->tids)
		pfree(run->tids);
	run->keybuf = NULL;
	run->keys = NULL;
	run->tids = NULL;
	run->keybuf_size = 0;
	run->maxkeys = 0;
	run->maxtids = 0;
	memkv_source_reset(run);
}

/* Append a key and its TIDs to a run. */
void
memkv_source_add(MemkvSource *run, const uint8 *key, Size keylen,
			  const ItemPointerData *tids, uint64 ntids)
{
	MemkvSourceKey *rk;

	run->keybuf = memkv_array_reserve(run->cxt, run->keybuf, &run->keybuf_size,
									  run->keybuf_used + keylen, 1, 1024);
	run->keys = memkv_array_reserve(run->cxt, run->keys, &run->maxkeys,
									run->nkeys + 1, sizeof(MemkvSourceKey), 64);
	memkv_source_reserve_tids(run, ntids);
	rk = &run->keys[run->nkeys++];
	rk->key_offset = run->keybuf_used;
	rk->key_len = keylen;
	rk->tid_start = run->ntids;
	rk->ntids = ntids;
	if (keylen > 0)
		memcpy(run->keybuf + run->keybuf_used, key, keylen);
	run->keybuf_used += keylen;
	if (ntids > 0)
		memcpy(run->tids + run->ntids, tids, sizeof(ItemPointerData) * ntids);
	run->ntids += ntids;
}

typedef struct MemkvCollectState
{
	MemkvSource   *run;
	uint64		target;
} MemkvCollectState;

static bool
memkv_collect_visit(const uint8_t *key, size_t keylen, const ArtTid *tids,
					uint32_t ntids, void *arg)
{
	MemkvCollectState *cs = (MemkvCollectState *) arg;

	if (cs->run->ntids >= cs->target)
	{
		cs->run->stopped = true;
		return false;
	}
	StaticAssertStmt(sizeof(ArtTid) == sizeof(ItemPointerData),
					 "ArtTid must match ItemPointerData");
	memkv_source_add(cs->run, key, keylen, (const ItemPointerData *) tids, ntids);
	return true;
}

/*
 * Append to `run` the keys of a delta tree within the bounds, in order,
 * stopping at a key boundary once `target` TIDs are collected (the run is
 * then marked stopped).  Caller holds the entry lock, or owns the tree.
 */
void
memkv_source_collect_art(MemkvSource *run, const ArtTree *tree,
					  const ArtBound *lower, const ArtBound *upper,
					  bool backward, int target)
{
	MemkvCollectState cs;

	/* one key: a lookup, not a walk that checks both bounds at every node */
	if (lower && upper && lower->inclusive && upper->inclusive &&
		memkv_key_cmp(lower->key, lower->len, upper->key, upper->len) == 0)
	{
		const ArtTid *tids;
		uint32		ntids = art_lookup(tree, memkv_allocator(), lower->key,
									   lower->len, &tids);

		if (ntids > 0)
			memkv_source_add(run, lower->key, lower->len,
							 (const ItemPointerData *) tids, ntids);
		return;
	}
	cs.run = run;
	cs.target = target;
	art_walk(tree, memkv_allocator(), lower, upper, backward,
			 memkv_collect_visit, &cs);
}

/* Is key k of run `src` inside `b`, taken as a lower (or upper) bound? */
static bool
memkv_source_key_past(const MemkvSource *src, int k, const ArtBound *b, bool lower)
{
	const MemkvSourceKey *rk = &src->keys[k];
	int			c = memkv_key_cmp((const uint8 *) src->keybuf + rk->key_offset,
								  rk->key_len, b->key, b->len);

	if (lower)
		return c > 0 || (c == 0 && b->inclusive);
	return c < 0 || (c == 0 && b->inclusive);
}

/*
 * memkv_source_collect_art for a sorted run in backend memory (the delta as
 * read from the log, scan.c): append to `run` the keys of `src` within
 * the bounds, in order, stopping at a key boundary once `target` TIDs are
 * collected (the run is then marked stopped).  A binary search finds the
 * first key.
 */
void
memkv_source_collect_run(MemkvSource *run, const MemkvSource *src,
					  const ArtBound *lower, const ArtBound *upper,
					  bool backward, int target)
{
	const ArtBound *from = backward ? upper : lower;	/* the walk starts */
	const ArtBound *stop = backward ? lower : upper;	/* ... and ends */
	int			lo = 0,
				hi = src->nkeys;
	int			k;

	/*
	 * Going forward, lo becomes the first key at or after the lower bound;
	 * going backward, one past the last key at or before the upper bound.
	 * The keys inside `from` come last going forward, first going backward.
	 */
	while (from && lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		bool		inside = memkv_source_key_past(src, mid, from, !backward);

		if (backward ? !inside : inside)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (!from && backward)
		lo = src->nkeys;
	for (k = backward ? lo - 1 : lo; k >= 0 && k < src->nkeys;
		 k += backward ? -1 : 1)
	{
		if (stop && !memkv_source_key_past(src, k, stop, backward))
			break;
		if (run->ntids >= (uint64) target)
		{
			run->stopped = true;
			break;
		}
		memkv_source_add(run, (const uint8 *) src->keybuf + src->keys[k].key_offset,
					  src->keys[k].key_len, src->tids + src->keys[k].tid_start,
					  src->keys[k].ntids);
	}
}

/* Drop the TIDs the callback reports dead; returns how many it dropped. */
uint64
memkv_filter_dead(ItemPointerData *tids, uint64 *ntids,
				  IndexBulkDeleteCallback dead, void *dead_state)
{
	uint64		i,
				n = 0;
	uint64		before = *ntids;

	if (dead == NULL)
		return 0;
	for (i = 0; i < *ntids; i++)
	{
		if (!dead(&tids[i], dead_state))
			tids[n++] = tids[i];
	}
	*ntids = n;
	return before - n;
}

/* qsort comparator for heap TIDs. */
static int
memkv_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* Sort TIDs ascending and drop duplicates. */
void
memkv_sort_tids(ItemPointerData *tids, uint64 *ntids)
{
	uint64		i,
				n = 0;

	if (*ntids < 2)
		return;
	qsort(tids, *ntids, sizeof(ItemPointerData), memkv_tid_cmp);
	for (i = 0; i < *ntids; i++)
	{
		if (n == 0 || !ItemPointerEquals(&tids[n - 1], &tids[i]))
			tids[n++] = tids[i];
	}
	*ntids = n;
}

/* MemkvKeySink callback appending to a MemkvSource. */
static void
memkv_source_sink_add(void *arg, const uint8 *key, Size keylen,
				   const ItemPointerData *tids, uint64 ntids)
{
	memkv_source_add((MemkvSource *) arg, key, keylen, tids, ntids);
}

/*
 * Append to `run` the frozen keys within the bounds, in order (descending
 * when `backward`), stopping at a key boundary once the run holds `target`
 * TIDs (the run is then marked stopped).
 */
void
memkv_frozen_collect(MemkvFrozen *fz, MemkvSource *run, const ArtBound *lower,
					 const ArtBound *upper, bool backward, int target)
{
	MemkvKeySink sink;

	sink.add = memkv_source_sink_add;
	sink.arg = run;
	sink.ntids = run->ntids;
	sink.stopped = false;
	memkv_frozen_collect_to(fz, &sink, lower, upper, backward, target, NULL,
							false);
	if (sink.stopped)
		run->stopped = true;
}

/* Append the frozen NULL key's TIDs (if any) to `run`; returns how many. */
uint64
memkv_frozen_nulls(MemkvFrozen *fz, MemkvSource *run)
{
	const ItemPointerData *tids;
	uint64		n = memkv_frozen_null_tids(fz, &tids);

	if (n > 0)
		memkv_source_add(run, NULL, 0, tids, n);
	return n;
}

/*
 * Start `in` at the first key of a delta tree or of a frozen layer (or of
 * nothing if both are NULL: the caller then fills in->run itself and it is
 * the whole input).  The tree must stay unchanged while `in` is read.
 */
void
memkv_merge_input_init(MemkvMergeInput *in, const ArtTree *tree,
					   MemkvFrozen *frozen)
{
	memset(in, 0, sizeof(MemkvMergeInput));
	in->tree = tree;
	in->frozen = frozen;
	memkv_source_init(&in->run);
	in->exhausted = (tree == NULL && frozen == NULL);
}

/* Make in->run[in->pos] the next key if there is one; false at the end. */
bool
memkv_merge_input_ready(MemkvMergeInput *in)
{
	ArtBound	lower;

	while (in->pos >= in->run.nkeys)
	{
		if (in->exhausted)
			return false;
		if (in->run.nkeys > 0)
		{
			MemkvSourceKey *last = &in->run.keys[in->run.nkeys - 1];

			if (in->after)
				pfree(in->after);
			in->after = palloc(VARHDRSZ + last->key_len);
			SET_VARSIZE(in->after, VARHDRSZ + last->key_len);
			memcpy(VARDATA(in->after), in->run.keybuf + last->key_offset,
				   last->key_len);
		}
		memkv_source_reset(&in->run);
		in->pos = 0;
		if (in->after)
		{
			lower.key = (const uint8 *) VARDATA(in->after);
			lower.len = VARSIZE(in->after) - VARHDRSZ;
			lower.inclusive = false;
		}
		if (in->tree)
			memkv_source_collect_art(&in->run, in->tree,
								  in->after ? &lower : NULL, NULL, false,
								  MEMKV_FREEZE_CHUNK);
		else
			memkv_frozen_collect(in->frozen, &in->run,
								 in->after ? &lower : NULL, NULL, false,
								 MEMKV_FREEZE_CHUNK);
		in->exhausted = !in->run.stopped;
	}
	return true;
}

/* A log entry copied out for sorting. */
typedef struct MemkvLogItem
{
	Size		key_offset;		/* Size: the keys may pass 4 GB */
	uint32		key_len;
	ItemPointerData tid;
} MemkvLogItem;

typedef struct MemkvLogCollect
{
	MemkvLogItem *items;
	uint64		nitems;
	Size		maxitems;
	char	   *keys;
	Size		keys_used;
	Size		keys_size;
	MemkvSource   *nulls;
} MemkvLogCollect;

/* Order log items by key (bytes at `arg` + key_offset), then TID. */
static int
memkv_log_item_cmp(const void *a, const void *b, void *arg)
{
	const MemkvLogItem *x = a;
	const MemkvLogItem *y = b;
	const char *keys = (const char *) arg;
	int			c = memkv_key_cmp((const uint8 *) keys + x->key_offset,
								  x->key_len,
								  (const uint8 *) keys + y->key_offset,
								  y->key_len);

	if (c != 0)
		return c;
	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/* memkv_walk_log visitor: copy one entry out. */
static void
memkv_collect_log_visit(IndexTuple itup, void *arg)
{
	MemkvLogCollect *lc = (MemkvLogCollect *) arg;
	Size		keylen = MemkvLogTupleKeyLen(itup);
	MemkvLogItem *item;

	if (MemkvLogTupleIsNull(itup))
	{
		memkv_source_add(lc->nulls, NULL, 0, &itup->t_tid, 1);
		return;
	}
	lc->items = memkv_array_reserve(CurrentMemoryContext, lc->items,
									&lc->maxitems, lc->nitems + 1,
									sizeof(MemkvLogItem), 1024);
	lc->keys = memkv_array_reserve(CurrentMemoryContext, lc->keys,
								   &lc->keys_size, lc->keys_used + keylen,
								   1, 65536);
	item = &lc->items[lc->nitems++];
	item->key_offset = lc->keys_used;
	item->key_len = keylen;
	item->tid = itup->t_tid;
	memcpy(lc->keys + lc->keys_used, MemkvLogTupleKey(itup), keylen);
	lc->keys_used += keylen;
}

/*
 * Read the delta logs of stripes [first, first + count) into memory,
 * sorted together: `run` gets every non-NULL key with its TIDs, `nulls`
 * the NULL key's TIDs; end_blkno[s] and end_offset[s] (if not NULL) the
 * position just past each stripe's last entry.  The arrays go in the
 * current memory context.  Called in a direct-mode freeze, while every
 * user of the entry waits for it, so nothing is appended; or by a scan
 * whose delta does not fit in shared memory (scan.c), holding those
 * stripes' locks shared (on a primary nothing is appended to them then
 * either), whose `meta` may start a log at a freeze's boundary.
 */
void
memkv_read_log_run(Relation index, const MemkvMetaPageData *meta,
				   int first, int count, MemkvSource *run, MemkvSource *nulls,
				   BlockNumber *end_blkno, OffsetNumber *end_offset)
{
	MemkvLogCollect lc;
	uint64		i;
	int			s;

	memkv_source_init(run);
	memkv_source_init(nulls);
	lc.maxitems = 1024;
	lc.items = palloc(lc.maxitems * sizeof(MemkvLogItem));
	lc.nitems = 0;
	lc.keys_size = 65536;
	lc.keys = palloc(lc.keys_size);
	lc.keys_used = 0;
	lc.nulls = nulls;
	for (s = first; s < first + count; s++)
	{
		MemkvLogWalk walk;

		memkv_log_walk_start(&walk, meta->log_head[s], meta->log_head_offset[s],
							 meta->epoch, false);
		(void) memkv_log_walk_pages(index, &walk, InvalidBlockNumber,
									memkv_collect_log_visit, &lc);
		/* where the chain ended: the log's end, entries after its last one */
		if (end_blkno)
		{
			end_blkno[s] = walk.last;
			end_offset[s] = walk.last_end;
		}
	}

	/* a cancel must reach a sort of millions of entries */
	qsort_interruptible(lc.items, lc.nitems, sizeof(MemkvLogItem),
						memkv_log_item_cmp, lc.keys);
	for (i = 0; i < lc.nitems;)
	{
		uint64		j = i;

		CHECK_FOR_INTERRUPTS();

		/* one key: its TIDs are adjacent and sorted */
		while (j < lc.nitems && lc.items[j].key_len == lc.items[i].key_len &&
			   memcmp(lc.keys + lc.items[j].key_offset,
					  lc.keys + lc.items[i].key_offset,
					  lc.items[i].key_len) == 0)
			j++;
		memkv_source_add(run, (const uint8 *) lc.keys + lc.items[i].key_offset,
					  lc.items[i].key_len, &lc.items[i].tid, 0);
		for (; i < j; i++)
		{
			run->keys[run->nkeys - 1].ntids++;
			memkv_source_reserve_tids(run, 1);
			run->tids[run->ntids++] = lc.items[i].tid;
		}
	}
	pfree(lc.items);
	pfree(lc.keys);
}

/*
 * A scan's log delta (*ldp, made in `cxt` at first use) for the logs of
 * stripes [first, first + count) that `meta` and the entry (those stripes
 * locked, shared is enough) describe: while the entry is freezing, each
 * log from the freeze's boundary (the set-aside trees hold the rest).
 * Read again only when those logs are not the ones read last time.
 */
MemkvLogDelta *
memkv_log_delta_load(MemkvLogDelta **ldp, MemoryContext cxt, Relation index,
					 MemkvEntry *entry, const MemkvMetaPageData *meta,
					 int first, int count)
{
	MemkvLogDelta *ld = *ldp;
	MemkvMetaPageData *from = palloc(sizeof(MemkvMetaPageData));
	MemoryContext old;
	bool		same;
	int			s;

	*from = *meta;
	if (entry->freezing)
	{
		for (s = first; s < first + count; s++)
		{
			from->log_head[s] = entry->stripes[s].freeze_blkno;
			from->log_head_offset[s] = entry->stripes[s].freeze_offset;
		}
	}
	if (ld == NULL)
	{
		ld = MemoryContextAllocZero(cxt, sizeof(MemkvLogDelta));
		ld->cxt = AllocSetContextCreate(cxt, "memkv scan log delta",
										ALLOCSET_DEFAULT_SIZES);
		*ldp = ld;
	}
	same = ld->loaded && ld->instance_id == from->instance_id &&
		ld->epoch == from->epoch && ld->first == first && ld->count == count;
	for (s = first; same && s < first + count; s++)
		same = ld->start_blkno[s] == from->log_head[s] &&
			ld->start_offset[s] == from->log_head_offset[s];
	if (same)
	{
		pfree(from);
		return ld;
	}

	MemoryContextReset(ld->cxt);
	ld->loaded = false;
	old = MemoryContextSwitchTo(ld->cxt);
	memkv_read_log_run(index, from, first, count,
					   &ld->keys, &ld->nulls, NULL, NULL);
	MemoryContextSwitchTo(old);
	ld->instance_id = from->instance_id;
	ld->epoch = from->epoch;
	ld->first = first;
	ld->count = count;
	for (s = first; s < first + count; s++)
	{
		ld->start_blkno[s] = from->log_head[s];
		ld->start_offset[s] = from->log_head_offset[s];
	}
	ld->loaded = true;
	pfree(from);
	return ld;
}

/* Compare two keys of runs; negative if a sorts first. */
static int
memkv_source_key_cmp(const MemkvSource *ra, const MemkvSourceKey *a,
				  const MemkvSource *rb, const MemkvSourceKey *b)
{
	return memkv_key_cmp((const uint8 *) ra->keybuf + a->key_offset,
							   a->key_len,
							   (const uint8 *) rb->keybuf + b->key_offset,
							   b->key_len);
}

/*
 * Merge the keys collected from the layers (each run in scan order) into
 * the batch; a key found in several layers gets the TIDs of all.  When a
 * run stopped early, keys beyond its last key may be missing from it, so
 * the merge stops at the first such last key.  Returns true if the range
 * may hold more keys after the batch.
 */
bool
memkv_merge_sources(MemkvBatch *batch, MemkvSource *runs, int nsrcs, bool backward)
{
	int			dir = backward ? -1 : 1;
	const MemkvSource *limit_run = NULL;
	const MemkvSourceKey *limit = NULL;
	int			pos[MEMKV_MAX_SOURCES] = {0};
	int			live[MEMKV_MAX_SOURCES];
	int			nlive = 0;
	bool		stopped = false;
	int			r;

	Assert(nsrcs <= MEMKV_MAX_SOURCES);
	for (r = 0; r < nsrcs; r++)
	{
		const MemkvSourceKey *last;

		if (!runs[r].stopped || runs[r].nkeys == 0)
			continue;
		stopped = true;
		last = &runs[r].keys[runs[r].nkeys - 1];
		if (limit == NULL ||
			dir * memkv_source_key_cmp(&runs[r], last, limit_run, limit) < 0)
		{
			limit_run = &runs[r];
			limit = last;
		}
	}

	/* the sources with keys in range: with stripes, most trees have none */
	for (r = 0; r < nsrcs; r++)
		if (runs[r].nkeys > 0)
			live[nlive++] = r;

	/*
	 * The common case, one layer with keys in range: all of its keys go
	 * over as they are (any limit is its own last key), key bytes in one
	 * copy, with no comparisons.
	 */
	if (nlive == 1)
	{
		const MemkvSource *run = &runs[live[0]];
		Size		base = batch->keybuf_used;
		int			i;

		memkv_batch_reserve_keys(batch, run->keybuf_used);
		if (run->keybuf_used > 0)
			memcpy(batch->keybuf + base, run->keybuf, run->keybuf_used);
		batch->keybuf_used += run->keybuf_used;
		for (i = 0; i < run->nkeys; i++)
		{
			const MemkvSourceKey *k = &run->keys[i];

			memkv_batch_add_tids(batch, false, base + k->key_offset,
								 k->key_len, run->tids + k->tid_start,
								 k->ntids);
		}
		return stopped;
	}

	for (;;)
	{
		int			best = -1;
		Size		key_offset = 0;
		int			l;

		/* the run whose next key comes first */
		for (l = 0; l < nlive; l++)
		{
			r = live[l];
			if (pos[r] >= runs[r].nkeys)
				continue;
			if (best < 0 ||
				dir * memkv_source_key_cmp(&runs[r], &runs[r].keys[pos[r]],
										&runs[best], &runs[best].keys[pos[best]]) < 0)
				best = r;
		}
		if (best < 0)
			break;
		if (limit &&
			dir * memkv_source_key_cmp(&runs[best], &runs[best].keys[pos[best]],
									limit_run, limit) > 0)
			break;

		/* take that key from every run that has it */
		{
			const MemkvSource *brun = &runs[best];
			const MemkvSourceKey *bk = &brun->keys[pos[best]];
			bool		stored = false;

			for (l = 0; l < nlive; l++)
			{
				const MemkvSourceKey *k;

				r = live[l];
				if (pos[r] >= runs[r].nkeys)
					continue;
				k = &runs[r].keys[pos[r]];
				if (r != best && memkv_source_key_cmp(&runs[r], k, brun, bk) != 0)
					continue;
				if (!stored)
				{
					key_offset = batch->keybuf_used;
					memkv_batch_add(batch, false,
									(const uint8 *) runs[r].keybuf + k->key_offset,
									k->key_len, runs[r].tids + k->tid_start,
									k->ntids);
					stored = true;
				}
				else
					memkv_batch_add_tids(batch, false, key_offset, k->key_len,
										 runs[r].tids + k->tid_start,
										 k->ntids);
				pos[r]++;
			}
		}
	}
	return stopped;
}

/*
 * Copy the NULL key's TIDs of the delta into `out`: those of stripes
 * [first, first + count) of the entry (their locks held) and of the trees
 * a freeze set aside, or those of `ld` read from the logs.  The copy
 * outlives the locks: memkv_fill_nulls adds it to a batch later.
 */
void
memkv_collect_delta_nulls(MemkvEntry *entry, int first, int count,
						  MemkvLogDelta *ld, MemkvSource *out)
{
	const ArtTid *tids;
	uint32		ntids;
	int			s;

	memkv_source_reset(out);
	/* the delta read from the log instead of the tree */
	if (ld && ld->nulls.ntids > 0)
		memkv_source_add(out, NULL, 0, ld->nulls.tids, ld->nulls.ntids);
	for (s = first; s < first + count; s++)
	{
		if (!ld)
		{
			ntids = art_lookup(&entry->stripes[s].nulls, memkv_allocator(),
							   (const uint8 *) "", 0, &tids);
			if (ntids > 0)
				memkv_source_add(out, NULL, 0,
								 (const ItemPointerData *) tids, ntids);
		}
		if (entry->freezing)
		{
			ntids = art_lookup(&entry->stripes[s].imm_nulls,
							   memkv_allocator(),
							   (const uint8 *) "", 0, &tids);
			if (ntids > 0)
				memkv_source_add(out, NULL, 0,
								 (const ItemPointerData *) tids, ntids);
		}
	}
}

/*
 * Add the NULL key's TIDs from every layer to the batch: the delta's, as
 * memkv_collect_delta_nulls copied them into `delta`, then those of the
 * runs opened in `frozen` (the runs lock held), read through `scratch`.
 */
void
memkv_fill_nulls(const MemkvSource *delta, MemkvFrozen **frozen,
				 int nfrozen, MemkvBatch *batch, MemkvSource *scratch)
{
	int			i;

	if (delta->ntids > 0)
		memkv_batch_add(batch, true, NULL, 0, delta->tids, delta->ntids);
	for (i = 0; i < nfrozen; i++)
	{
		memkv_source_reset(scratch);
		if (frozen[i] && memkv_frozen_nulls(frozen[i], scratch) > 0)
			memkv_batch_add(batch, true, NULL, 0, scratch->tids,
							scratch->ntids);
	}
}
