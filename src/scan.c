/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Index scans: beginscan, rescan, gettuple (both directions),
 *	  getbitmap, endscan, and canreturn for index-only scans.
 *
 * Every qual memkv supports is a range of keys in byte order (= is
 * [v, v], ^@ p is [p, successor(p)) ), so rescan reduces the scan keys to
 * one range.  Results are collected in batches of whole keys under the
 * stripe locks of the index's entry held in shared mode -- the key's
 * stripe alone for an equality, every stripe otherwise; the locks are
 * released between batches, and the next batch re-seeks strictly past the
 * last key of the previous one.  So a scan never returns a TID twice, and never misses one
 * that was indexed when it started (see src/README, "Scans").
 *
 * Statistics: each descent counts as one index scan in
 * pg_stat_user_indexes.idx_scan, as btree counts them in _bt_first: the
 * first fetch after each (re)scan, and each getbitmap call.  idx_tup_read
 * is counted by the executor's index AM layer (indexam.c) for every TID
 * returned.
 *
 * The batches themselves -- their arrays, the pool that keeps those from
 * one scan to the next, the index tuples of index-only scans -- are
 * batch.c's; this file fills them from the index's layers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "delta.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "runcopy.h"
#include "runread.h"
#include "source.h"
#include "stripe.h"

#define MEMKV_FIRST_BATCH	32
#define MEMKV_MAX_BATCH		1024

/* A palloc'd copy of `len` bytes as a bytea. */
static bytea *
memkv_make_bytes(const uint8 *data, Size len)
{
	bytea	   *b = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

static void
memkv_tighten_lower(MemkvBounds *bounds, bytea *b, bool incl)
{
	if (bounds->has_lower)
	{
		int			c = memkv_key_cmp((uint8 *) VARDATA(b), VARSIZE(b) - VARHDRSZ,
											(uint8 *) VARDATA(bounds->lower),
											VARSIZE(bounds->lower) - VARHDRSZ);

		if (c < 0)
			return;
		if (c == 0)
		{
			bounds->lower_incl = bounds->lower_incl && incl;
			return;
		}
	}
	bounds->has_lower = true;
	bounds->lower = b;
	bounds->lower_incl = incl;
}

static void
memkv_tighten_upper(MemkvBounds *bounds, bytea *b, bool incl)
{
	if (bounds->has_upper)
	{
		int			c = memkv_key_cmp((uint8 *) VARDATA(b), VARSIZE(b) - VARHDRSZ,
											(uint8 *) VARDATA(bounds->upper),
											VARSIZE(bounds->upper) - VARHDRSZ);

		if (c > 0)
			return;
		if (c == 0)
		{
			bounds->upper_incl = bounds->upper_incl && incl;
			return;
		}
	}
	bounds->has_upper = true;
	bounds->upper = b;
	bounds->upper_incl = incl;
}

/*
 * The smallest byte string greater than every string that starts with
 * `prefix`, or NULL if there is none (prefix empty or all 0xFF bytes).
 */
static bytea *
memkv_prefix_successor(const uint8 *prefix, Size len)
{
	while (len > 0 && prefix[len - 1] == 0xFF)
		len--;
	if (len == 0)
		return NULL;
	{
		bytea	   *b = memkv_make_bytes(prefix, len);

		((uint8 *) VARDATA(b))[len - 1]++;
		return b;
	}
}

/* Reduce the scan keys to one range plus the NULL/non-NULL choice. */
static void
memkv_compute_bounds(IndexScanDesc scan)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	MemkvBounds *bounds = &so->bounds;
	MemoryContext oldcxt;
	int			i;

	MemoryContextReset(so->bounds_cxt);
	oldcxt = MemoryContextSwitchTo(so->bounds_cxt);
	memset(bounds, 0, sizeof(MemkvBounds));
	bounds->want_keys = true;
	bounds->want_nulls = true;

	for (i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		key = &scan->keyData[i];
		text	   *arg;
		bytea	   *b;

		if (key->sk_flags & SK_ISNULL)
		{
			if (key->sk_flags & SK_SEARCHNULL)
				bounds->want_keys = false;
			else if (key->sk_flags & SK_SEARCHNOTNULL)
				bounds->want_nulls = false;
			else
				bounds->want_keys = bounds->want_nulls = false;
			continue;
		}
		bounds->want_nulls = false;
		arg = DatumGetTextPP(key->sk_argument);
		b = memkv_make_bytes((uint8 *) VARDATA_ANY(arg),
							 VARSIZE_ANY_EXHDR(arg));

		switch (key->sk_strategy)
		{
			case MEMKV_LESS:
				memkv_tighten_upper(bounds, b, false);
				break;
			case MEMKV_LESS_EQUAL:
				memkv_tighten_upper(bounds, b, true);
				break;
			case MEMKV_EQUAL:
				memkv_tighten_lower(bounds, b, true);
				memkv_tighten_upper(bounds, b, true);
				break;
			case MEMKV_GREATER_EQUAL:
				memkv_tighten_lower(bounds, b, true);
				break;
			case MEMKV_GREATER:
				memkv_tighten_lower(bounds, b, false);
				break;
			case MEMKV_PREFIX:
				{
					bytea	   *succ = memkv_prefix_successor((uint8 *) VARDATA(b),
															  VARSIZE(b) - VARHDRSZ);

					memkv_tighten_lower(bounds, b, true);
					if (succ)
						memkv_tighten_upper(bounds, succ, false);
					break;
				}
			default:
				elog(ERROR, "memkv: unsupported strategy %d",
					 key->sk_strategy);
		}
	}

	if (bounds->want_keys && bounds->has_lower && bounds->has_upper)
	{
		int			c = memkv_key_cmp((uint8 *) VARDATA(bounds->lower),
											VARSIZE(bounds->lower) - VARHDRSZ,
											(uint8 *) VARDATA(bounds->upper),
											VARSIZE(bounds->upper) - VARHDRSZ);

		if (c > 0 || (c == 0 && !(bounds->lower_incl && bounds->upper_incl)))
			bounds->want_keys = false;
	}
	MemoryContextSwitchTo(oldcxt);
}

static void
memkv_bound_from_bytes(ArtBound *ab, bytea *b, bool incl)
{
	ab->key = (const uint8 *) VARDATA(b);
	ab->len = VARSIZE(b) - VARHDRSZ;
	ab->inclusive = incl;
}

/*
 * The key range one batch collects: the scan's bounds, narrowed to what
 * lies after (forward) or before (backward) the item the batch continues
 * from.  lowerp and upperp point at lower and upper, or are NULL (no
 * bound); a bound taken from that item points into the current batch's
 * key bytes.
 */
typedef struct MemkvFillRange
{
	ArtBound	lower,
				upper;
	ArtBound   *lowerp,
			   *upperp;
	bool		walk_keys;		/* non-NULL keys may be in range */
	bool		take_nulls;		/* the NULL key's TIDs go in this batch */
	bool		equality;		/* the range is one key */
} MemkvFillRange;

/*
 * Fill phase 1: the range of the next batch in the scan's direction,
 * continuing from `from` (an item of curbatch), or from the start (end) of
 * the scan's range if it is NULL.  Takes no lock.
 */
static void
memkv_fill_range(MemkvBounds *bounds, bool backward, MemkvBatch *curbatch,
				 MemkvBatchItem *from, MemkvFillRange *range)
{
	range->walk_keys = bounds->want_keys;
	range->take_nulls = bounds->want_nulls;
	range->lowerp = NULL;
	range->upperp = NULL;

	if (bounds->has_lower)
	{
		memkv_bound_from_bytes(&range->lower, bounds->lower,
							   bounds->lower_incl);
		range->lowerp = &range->lower;
	}
	if (bounds->has_upper)
	{
		memkv_bound_from_bytes(&range->upper, bounds->upper,
							   bounds->upper_incl);
		range->upperp = &range->upper;
	}

	if (from != NULL)
	{
		if (!backward)
		{
			/* NULLs come last: after a NULL there is nothing */
			if (from->isnull)
				range->walk_keys = range->take_nulls = false;
			else
			{
				range->lower.key = (const uint8 *) curbatch->keybuf + from->key_offset;
				range->lower.len = from->key_len;
				range->lower.inclusive = false;
				range->lowerp = &range->lower;
			}
		}
		else
		{
			/* before the NULLs come the keys from the top of the range */
			range->take_nulls = false;
			if (!from->isnull)
			{
				range->upper.key = (const uint8 *) curbatch->keybuf + from->key_offset;
				range->upper.len = from->key_len;
				range->upper.inclusive = false;
				range->upperp = &range->upper;
			}
		}
	}

	range->equality = range->lowerp && range->upperp &&
		range->lowerp->inclusive && range->upperp->inclusive &&
		memkv_key_cmp(range->lowerp->key, range->lowerp->len,
					  range->upperp->key, range->upperp->len) == 0;
}

/*
 * Fill phase 2: open the index's entry for a batch -- the stripes it
 * reads (every stripe for hash < 0, else the one of `hash`, in *first)
 * synced, locked shared, *meta read under the locks, *in_memory false if
 * the delta does not fit in shared memory -- first building what the scan
 * accelerates with: the shared copy of a new largest run (at the first
 * scan after a freeze) and, for a range scan (want_kb), its keys
 * front-coded.  Each is installed under every stripe lock held
 * exclusively, which are given up again before the entry is reopened
 * shared.  Called with no lock held.
 */
static MemkvEntry *
memkv_fill_open(Relation index, bool want_kb, MemkvMetaPageData *meta,
				bool *in_memory, int64 hash, int *first)
{
	MemkvEntry *entry = memkv_open_synced_stripe(index, LW_SHARED, meta,
												 in_memory, hash, first);
	int			big;

	/* first scan of a new largest run: copy it into shared memory */
	if (memkv_run_copy_wanted(entry, meta, memkv_meta_largest_run(meta)))
	{
		memkv_entry_release(entry);
		entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
		memkv_read_meta(index, meta);
		memkv_run_copy_build(index, entry, meta, memkv_meta_largest_run(meta));
		memkv_entry_release(entry);
		entry = memkv_open_synced_stripe(index, LW_SHARED, meta, in_memory,
										 hash, first);
	}
	big = memkv_meta_largest_run(meta);

	/*
	 * ... and, for range scans, its keys front-coded: built by one backend
	 * at a time (the others scan without them meanwhile) from a local copy
	 * of its FST without the lock (it takes a while), then installed under
	 * the exclusive lock if the run is still current.
	 */
	if (want_kb && memkv_run_kb_wanted(entry, meta, big) &&
		memkv_run_kb_claim(entry))
	{
		MemkvMetaPageData *built_for = palloc(sizeof(MemkvMetaPageData));
		MemkvEntry *claimed = entry;
		Size		kbsize = 0;
		Size		fstsize = 0;
		uint8	   *fst;
		uint8	   *kb = NULL;

		memcpy(built_for, meta, sizeof(MemkvMetaPageData));
		PG_TRY();
		{
			fst = memkv_frozen_fst_copy(index, entry, meta, big, &fstsize);
			memkv_entry_release(entry);
			entry = NULL;
			kb = memkv_run_kb_make(index, fst, fstsize, &kbsize);
			pfree(fst);
		}
		PG_CATCH();
		{
			memkv_run_kb_unclaim(claimed);
			PG_RE_THROW();
		}
		PG_END_TRY();
		entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
		memkv_read_meta(index, meta);
		memkv_run_kb_install(entry, built_for, big, kb, kbsize);
		pfree(built_for);
		memkv_run_kb_unclaim(claimed);
		memkv_entry_release(entry);
		entry = memkv_open_synced_stripe(index, LW_SHARED, meta, in_memory,
										 hash, first);
	}
	return entry;
}

/*
 * Fill phase 3, when only the frozen layer can have keys (the delta is
 * empty and no freeze is under way): walk it straight into the batch.  A
 * range walk keeps its position in so->frozen_pos for the next batch
 * (`resume`: this batch continues from the last one); an equality has
 * none.  Returns true if the range may hold more keys after the batch.
 * Entry lock held shared.
 */
static bool
memkv_fill_frozen_only(MemkvScanOpaque so, MemkvFrozen *frozen,
					   MemkvBatch *batch, MemkvFillRange *range,
					   bool backward, bool resume)
{
	MemkvKeySink sink;

	sink.add = memkv_batch_sink_add;
	sink.arg = batch;
	sink.ntids = 0;
	sink.stopped = false;
	/* a range walk keeps its position; an equality has none */
	if (so->frozen_pos == NULL && !range->equality)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(so));

		so->frozen_pos = memkv_frozen_pos_create();
		MemoryContextSwitchTo(old);
	}
	memkv_frozen_collect_to(frozen, &sink, range->lowerp, range->upperp,
							backward, so->batch_target,
							range->equality ? NULL : so->frozen_pos,
							resume);
	return sink.stopped;
}

/*
 * Fill phase 3, otherwise: collect the keys in range from every layer --
 * the delta of stripes [first, first + count) (their trees, or `ld` when
 * it was read from the logs), the trees a freeze set aside, the runs --
 * into the scan's scratch sources, and merge them into the batch.
 * Returns true if the range may hold more keys after the batch.  Those
 * stripes' locks held shared.
 */
static bool
memkv_fill_merged(MemkvScanOpaque so, MemkvEntry *entry, int first,
				  int count, MemkvLogDelta *ld,
				  MemkvFrozen **frozen, const bool *meets, int nfrozen,
				  MemkvBatch *batch, MemkvFillRange *range, bool backward)
{
	int			i;
	int			s;
	int			nsrcs = 0;
	int			ntrees = 0;
	int			tree_target = so->batch_target;

	memkv_frozen_pos_forget(so->frozen_pos);

	/*
	 * A key's stripe is a hash of it, so the stripes' trees share the
	 * range evenly: each need not give the whole batch.  A tree that stops
	 * early only ends the batch at its last key (memkv_merge_sources), so
	 * two shares each, at least 16 TIDs, keep batches near their target
	 * without copying nstripes times the keys a batch needs.
	 */
	for (s = first; !ld && s < first + count; s++)
		ntrees += (entry->stripes[s].keys.ntids > 0) +
			(entry->freezing && entry->stripes[s].imm_keys.ntids > 0);
	if (ntrees > 2)
		tree_target = Max(so->batch_target * 2 / ntrees, 16);

	if (ld)
	{
		memkv_source_reset(&so->srcs[nsrcs]);
		memkv_source_collect_run(&so->srcs[nsrcs++], &ld->keys,
								 range->lowerp, range->upperp, backward,
								 so->batch_target);
	}
	for (s = first; s < first + count; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		if (!ld && st->keys.ntids > 0)
		{
			memkv_source_reset(&so->srcs[nsrcs]);
			memkv_source_collect_art(&so->srcs[nsrcs++], &st->keys,
									 range->lowerp, range->upperp, backward,
									 tree_target);
		}
		if (entry->freezing && st->imm_keys.ntids > 0)
		{
			memkv_source_reset(&so->srcs[nsrcs]);
			memkv_source_collect_art(&so->srcs[nsrcs++], &st->imm_keys,
									 range->lowerp, range->upperp, backward,
									 tree_target);
		}
	}
	for (i = 0; i < nfrozen; i++)
	{
		if (frozen[i] == NULL || !meets[i])
			continue;
		memkv_source_reset(&so->srcs[nsrcs]);
		memkv_frozen_collect(frozen[i], &so->srcs[nsrcs++], range->lowerp,
							 range->upperp, backward, so->batch_target);
	}
	return memkv_merge_sources(batch, so->srcs, nsrcs, backward);
}

/*
 * Collect the next batch in `dir` into the spare batch.  `from` is the
 * item of the current batch to continue after (forward) or before
 * (backward), or NULL to start at the beginning (or end) of the range.
 * In phases: the batch's range (memkv_fill_range), the entry opened with
 * the accelerator built (memkv_fill_open), the keys -- from the frozen
 * layer alone (memkv_fill_frozen_only) or merged from every layer
 * (memkv_fill_merged) -- with the NULL key's TIDs first or last, and the
 * batch put in ascending order.  Takes and releases the entry lock.
 */
static void
memkv_fill(IndexScanDesc scan, MemkvBatch *batch, ScanDirection dir,
		   MemkvBatch *curbatch, MemkvBatchItem *from)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	bool		backward = ScanDirectionIsBackward(dir);
	bool		stopped = false;
	MemkvFillRange range;

	memkv_batch_reset(batch);
	/* kept valid only by a walk of the frozen layer alone, below */
	if (!so->bounds.want_keys || (from != NULL && from->isnull))
		memkv_frozen_pos_forget(so->frozen_pos);

	memkv_fill_range(&so->bounds, backward, curbatch, from, &range);

	if (range.walk_keys || range.take_nulls)
	{
		MemkvMetaPageData meta;
		bool		in_memory;
		int64		hash = -1;
		int			first;
		int			count;
		MemkvEntry *entry;
		MemkvFrozen *frozen[RUNDIR_MAX_RUNS];
		bool		meets[RUNDIR_MAX_RUNS];
		int			nmeet = 0;
		int			only = -1;
		int			i;
		MemkvLogDelta *ld = NULL;	/* the delta, if read from the log */
		bool		delta_empty;

		/* an equality reads its key's stripe; everything else all */
		if (range.equality && !range.take_nulls)
			hash = memkv_key_hash(range.lowerp->key, range.lowerp->len);
		entry = memkv_fill_open(scan->indexRelation,
								range.walk_keys && !range.equality,
								&meta, &in_memory, hash, &first);
		count = hash < 0 ? entry->nstripes : 1;

		/* the delta does not fit in shared memory: read it from the log */
		if (!in_memory)
			ld = memkv_log_delta_load(&so->log_delta, GetMemoryChunkContext(so),
									  scan->indexRelation, entry, &meta,
									  first, count);
		delta_empty = true;
		if (ld)
			delta_empty = ld->keys.nkeys == 0;
		else
		{
			for (i = first; i < first + count; i++)
				delta_empty &= entry->stripes[i].keys.ntids == 0;
		}

		/*
		 * The runs this batch reads: those whose key bounds meet the
		 * range (for the keys), and those with NULL TIDs if it takes them.
		 */
		for (i = 0; i < meta.nruns; i++)
		{
			meets[i] = range.walk_keys &&
				memkv_run_meets(&meta.runs[i], range.lowerp, range.upperp,
								range.equality);
			frozen[i] = NULL;
			if (meets[i] || (range.take_nulls && meta.runs[i].run_nnulls > 0))
				frozen[i] = memkv_frozen_open(scan->indexRelation, &meta, i,
											  entry);
			if (meets[i])
			{
				nmeet++;
				only = i;
			}
		}

		if (backward && range.take_nulls)
			memkv_fill_nulls(entry, first, count, ld, frozen, meta.nruns,
							 batch, &so->srcs[2]);
		if (range.walk_keys && nmeet == 1 && delta_empty && !entry->freezing)
			stopped = memkv_fill_frozen_only(so, frozen[only], batch, &range,
											 backward, from != NULL);
		else if (range.walk_keys)
			stopped = memkv_fill_merged(so, entry, first, count, ld, frozen,
										meets, meta.nruns, batch, &range,
										backward);
		if (!backward && range.take_nulls && !stopped)
			memkv_fill_nulls(entry, first, count, ld, frozen, meta.nruns,
							 batch, &so->srcs[2]);
		for (i = 0; i < meta.nruns; i++)
			memkv_frozen_close(frozen[i]);
		memkv_entry_release(entry);
	}

	if (backward)
	{
		memkv_batch_reverse(batch);
		batch->complete_backward = !stopped;
	}
	else
		batch->complete_forward = !stopped;

	so->batch_target = Min(so->batch_target * 2, MEMKV_MAX_BATCH);
}

/* ambeginscan */
IndexScanDesc
memkv_beginscan(Relation r, int nkeys, int norderbys)
{
	IndexScanDesc scan;
	MemkvScanOpaque so;
	int			i;

	memkv_check_loaded();
	scan = RelationGetIndexScan(r, nkeys, norderbys);
	so = (MemkvScanOpaque) palloc0(sizeof(MemkvScanOpaqueData));
	so->bounds_cxt = AllocSetContextCreate(CurrentMemoryContext,
										   "memkv scan bounds",
										   ALLOCSET_SMALL_SIZES);
	/* freed with the context only: the callback may run after endscan */
	so->batch_owner = palloc(sizeof(MemkvBatchOwner));
	so->batch_owner->batches = so->batches;
	so->batch_owner->callback.func = memkv_batches_owner_gone;
	so->batch_owner->callback.arg = so->batch_owner;
	MemoryContextRegisterResetCallback(CurrentMemoryContext,
									   &so->batch_owner->callback);
	memkv_batches_take(so->batches);
	for (i = 0; i < 2; i++)
		memkv_batch_reset(&so->batches[i]);
	for (i = 0; i < MEMKV_MAX_SOURCES; i++)
		memkv_source_init(&so->srcs[i]);
	so->frozen_pos = NULL;		/* made by the first range walk */
	so->log_delta = NULL;		/* made by the first batch that needs it */
	scan->opaque = so;
	return scan;
}

/* amrescan */
void
memkv_rescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
			 ScanKey orderbys, int norderbys)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;

	if (scankey && scan->numberOfKeys > 0)
		memmove(scan->keyData, scankey,
				scan->numberOfKeys * sizeof(ScanKeyData));
	memkv_compute_bounds(scan);
	so->started = false;
	so->active = 0;
	so->cur = -1;
	so->batch_target = MEMKV_FIRST_BATCH;
	memkv_frozen_pos_forget(so->frozen_pos);
	memkv_batch_reset(&so->batches[0]);
	memkv_batch_reset(&so->batches[1]);
}

/*
 * Move one step in `dir` within the current batch, refilling it when the
 * step leaves it.  Returns the item, or NULL at the end of the range.
 * (gettuple takes a forward step inside the batch itself; kept out of
 * line, this leaves that path few registers to save.)
 */
static pg_noinline MemkvBatchItem *
memkv_step(IndexScanDesc scan, ScanDirection dir)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	MemkvBatch *cur = &so->batches[so->active];
	MemkvBatch *spare = &so->batches[1 - so->active];
	bool		backward = ScanDirectionIsBackward(dir);
	MemkvBatchItem *from;

	if (!so->started)
	{
		/* a new descent: one index scan, as btree counts it in _bt_first */
		pgstat_count_index_scan(scan->indexRelation);
		memkv_count_index_search(scan);
		so->started = true;
		memkv_fill(scan, cur, dir, NULL, NULL);
		so->cur = backward ? cur->nitems : -1;
	}

	if (!backward && so->cur + 1 < cur->nitems)
		return &cur->items[++so->cur];
	if (backward && so->cur - 1 >= 0 && cur->nitems > 0)
	{
		so->cur = Min(so->cur, cur->nitems) - 1;
		return &cur->items[so->cur];
	}

	/* the step leaves the batch */
	if (backward ? cur->complete_backward : cur->complete_forward)
	{
		so->cur = backward ? -1 : cur->nitems;
		return NULL;
	}
	if (cur->nitems == 0)
		from = NULL;
	else
		from = backward ? &cur->items[0] : &cur->items[cur->nitems - 1];
	memkv_fill(scan, spare, dir, cur, from);
	if (spare->nitems == 0)
	{
		/* keep the current batch so a change of direction can return */
		if (backward)
			cur->complete_backward = true;
		else
			cur->complete_forward = true;
		so->cur = backward ? -1 : cur->nitems;
		return NULL;
	}
	so->active = 1 - so->active;
	so->cur = backward ? spare->nitems - 1 : 0;
	return &spare->items[so->cur];
}

/* amgettuple */
bool
memkv_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	MemkvBatch *cur = &so->batches[so->active];
	MemkvBatchItem *item;

	if (likely(dir == ForwardScanDirection && so->started &&
			   so->cur + 1 < cur->nitems))
		item = &cur->items[++so->cur];
	else
	{
		if (ScanDirectionIsNoMovement(dir))
			elog(ERROR, "memkv does not support NoMovementScanDirection");
		item = memkv_step(scan, dir);
		if (item == NULL)
			return false;
	}

	scan->xs_heaptid = item->tid;
	scan->xs_recheck = false;
	if (scan->xs_want_itup)
	{
		MemkvBatch *batch = &so->batches[so->active];

		if (item->isnull)
			scan->xs_itup = memkv_form_null_tuple(scan);
		else
			scan->xs_itup = memkv_form_key_tuple(so, batch->keybuf +
												 item->key_offset,
												 item->key_len);
		scan->xs_itupdesc = RelationGetDescr(scan->indexRelation);
	}
	return true;
}

/* amgetbitmap: every TID in range, batch by batch. */
int64
memkv_getbitmap(IndexScanDesc scan, TIDBitmap *tbm)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	int64		ntids = 0;
	MemkvBatchItem *from = NULL;

	/* one descent per call, like btgetbitmap's _bt_first */
	pgstat_count_index_scan(scan->indexRelation);
	memkv_count_index_search(scan);
	so->batch_target = MEMKV_MAX_BATCH;
	for (;;)
	{
		MemkvBatch *cur = &so->batches[so->active];
		MemkvBatch *spare = &so->batches[1 - so->active];
		int			i;

		memkv_fill(scan, spare, ForwardScanDirection, cur, from);
		for (i = 0; i < spare->nitems; i++)
			tbm_add_tuples(tbm, &spare->items[i].tid, 1, false);
		ntids += spare->nitems;
		so->active = 1 - so->active;
		if (spare->complete_forward || spare->nitems == 0)
			break;
		from = &spare->items[spare->nitems - 1];
	}
	return ntids;
}

/* amendscan */
void
memkv_endscan(IndexScanDesc scan)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	int			i;

	memkv_batches_give_back(so->batches);
	so->batch_owner->batches = NULL;
	for (i = 0; i < MEMKV_MAX_SOURCES; i++)
		memkv_source_free(&so->srcs[i]);
	memkv_frozen_pos_free(so->frozen_pos);
	if (so->log_delta)
	{
		MemoryContextDelete(so->log_delta->cxt);
		pfree(so->log_delta);
	}
	MemoryContextDelete(so->bounds_cxt);
	if (so->last_itup)
		pfree(so->last_itup);
	if (so->itup_buf)
		pfree(so->itup_buf);
	pfree(so);
}

/* amcanreturn: the key is stored whole, so index-only scans work. */
bool
memkv_canreturn(Relation index, int attno)
{
	return true;
}
