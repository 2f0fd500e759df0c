/*-------------------------------------------------------------------------
 *
 * fill.c
 *	  Filling a scan's batch from the index's layers: the batch's key range,
 *	  the entry opened under its locks, the delta's trees (or its log) and
 *	  the runs collected and merged in key order, the NULL key's TIDs.
 *
 * A batch holds whole keys.  The trees are read under the stripe locks
 * held shared, the runs under the entry's runs lock alone, which inserts
 * never take (src/README, "Locking" and "Scans"); between batches nothing
 * is held, and the next batch re-seeks strictly past the last key of the
 * one before.  scan.c holds the AM callbacks that call memkv_fill.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "delta.h"
#include "fill.h"
#include "guard.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "runcopy.h"
#include "runread.h"
#include "source.h"
#include "stripe.h"

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
 * Fill phase 6, when only the frozen layer can have keys (the delta is
 * empty and no freeze is under way): walk it straight into the batch.  A
 * range walk keeps its position in so->frozen_pos for the next batch
 * (`resume`: this batch continues from the last one); an equality has
 * none.  Returns true if the range may hold more keys after the batch.
 * The entry's runs lock held shared.
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
 * Make the scan's scratch sources [0, n) exist: made by the first batch
 * that needs that many, in the scan's memory, and kept for the next
 * batches.  Most scans use one or two; making all MEMKV_MAX_SOURCES at
 * beginscan cost every point lookup a zeroed 8 kB allocation and two
 * loops over them.
 */
static void
memkv_fill_sources_reserve(MemkvScanOpaque so, int n)
{
	MemoryContext old;
	int			k;

	Assert(n <= MEMKV_MAX_SOURCES);
	if (n <= so->nsrcs_made)
		return;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(so));
	if (so->srcs == NULL)
		so->srcs = palloc(sizeof(MemkvSource) * n);
	else
		so->srcs = repalloc(so->srcs, sizeof(MemkvSource) * n);
	for (k = so->nsrcs_made; k < n; k++)
		memkv_source_init(&so->srcs[k]);
	so->nsrcs_made = n;
	MemoryContextSwitchTo(old);
}

/*
 * The scan's scratch source `i`, emptied (made, with a few after it, if
 * it does not exist yet).
 */
static MemkvSource *
memkv_fill_source(MemkvScanOpaque so, int i)
{
	Assert(i < MEMKV_MAX_SOURCES);
	if (i >= so->nsrcs_made)
	{
		int			n = Min(Max(i + 1, so->nsrcs_made * 2), MEMKV_MAX_SOURCES);

		memkv_fill_sources_reserve(so, Max(n, Min(4, MEMKV_MAX_SOURCES)));
	}
	memkv_source_reset(&so->srcs[i]);
	return &so->srcs[i];
}

/*
 * Release the stripe locks the batch holds, if it holds any.  A batch
 * holds either all the stripe locks it reads, [first, first + count), or
 * none (the stripes were readable without: memkv_stripe_readable), so
 * one look at the first tells; memkv_entry_release_stripes looks at every
 * stripe's lock, which cost a batch of an 8-stripe index 400 instructions
 * each time.
 */
static void
memkv_fill_release_stripes(MemkvEntry *entry, int first)
{
	if (LWLockHeldByMe(memkv_stripe_lock(entry, first)))
		memkv_entry_release_stripes(entry);
}

/* memkv_entry_release for a batch's entry (see the function above). */
static void
memkv_fill_release(MemkvEntry *entry, int first)
{
	memkv_fill_release_stripes(entry, first);
	if (LWLockHeldByMe(memkv_runs_lock(entry)))
		LWLockRelease(memkv_runs_lock(entry));
}

/*
 * Inside the tree guard, under the stripe locks (shared) or, where the
 * stripes are readable without, the runs lock alone (stripe.c,
 * memkv_stripe_readable): collect the keys in range from the
 * delta of stripes [first, first + count) -- their trees, or `ld` when it
 * was read from the logs -- and from the trees a freeze set aside, into
 * the scan's scratch sources from srcs[start].  Returns how many sources
 * it filled.
 */
static int
memkv_fill_delta(MemkvScanOpaque so, MemkvEntry *entry, int first,
				 int count, MemkvLogDelta *ld, const MemkvFillRange *range,
				 bool backward, int start)
{
	int			s;
	int			nsrcs = start;
	int			ntrees = 0;
	int			tree_target = so->batch_target;

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
		memkv_source_collect_run(memkv_fill_source(so, nsrcs++), &ld->keys,
								 range->lowerp, range->upperp, backward,
								 so->batch_target);
	}
	for (s = first; s < first + count; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		if (!ld && st->keys.ntids > 0)
		{
			memkv_source_collect_art(memkv_fill_source(so, nsrcs++), &st->keys,
									 range->lowerp, range->upperp, backward,
									 tree_target);
		}
		if (entry->freezing && st->imm_keys.ntids > 0)
		{
			memkv_source_collect_art(memkv_fill_source(so, nsrcs++),
									 &st->imm_keys,
									 range->lowerp, range->upperp, backward,
									 tree_target);
		}
	}
	return nsrcs - start;
}

/*
 * If source `src` stopped early (it had more keys in range than its
 * target), narrow `stop` -- the key where the batch will end, as far as
 * the sources seen so far tell -- to its last key, when that is short of
 * it in the walk's direction (*have_stop: `stop` is set).  The batch ends
 * at the first such key anyway (memkv_merge_sources), so later sources
 * need nothing past it.  The key stays in the source's buffer.
 */
static void
memkv_fill_narrow_stop(const MemkvSource *src, bool backward, ArtBound *stop,
					   bool *have_stop)
{
	const MemkvSourceKey *rk;
	const uint8 *key;

	if (!src->stopped || src->nkeys == 0)
		return;
	rk = &src->keys[src->nkeys - 1];
	key = (const uint8 *) src->keybuf + rk->key_offset;
	if (*have_stop)
	{
		int			c = memkv_key_cmp(key, rk->key_len, stop->key, stop->len);

		if (backward ? c <= 0 : c >= 0)
			return;
	}
	stop->key = key;
	stop->len = rk->key_len;
	stop->inclusive = true;
	*have_stop = true;
}

/* `range` narrowed to end at `stop` (inclusive) in the walk's direction. */
static void
memkv_fill_bound(const MemkvFillRange *range, const ArtBound *stop,
				 bool have_stop, bool backward, MemkvFillRange *bounded)
{
	*bounded = *range;
	if (have_stop && backward)
		bounded->lowerp = (ArtBound *) stop;
	else if (have_stop)
		bounded->upperp = (ArtBound *) stop;
}

/*
 * Under the runs lock: collect the keys in range from every run that
 * meets it into the scratch sources from srcs[start].  Returns how many
 * sources it filled.  The runs are collected largest first, each only up
 * to where an earlier one stopped early (memkv_fill_narrow_stop): a small
 * run (a recent freeze's) holds few keys of the span a batch of the
 * largest covers, and collecting a whole target of its keys -- from its
 * pages, as only the largest run has a shared copy -- would cost more
 * than the batch's other work (bench/RESULTS.md, "a small run in a range
 * batch").
 */
static int
memkv_fill_runs(MemkvScanOpaque so, int start, MemkvFrozen **frozen,
				const bool *meets, const MemkvMetaPageData *meta,
				const MemkvFillRange *range, bool backward)
{
	int			nsrcs = start;
	int			order[RUNDIR_MAX_RUNS];
	int			n = 0;
	int			i;
	ArtBound	stop;
	bool		have_stop = false;

	memkv_frozen_pos_forget(so->frozen_pos);
	/* the runs to read, by key count, largest first (insertion sort) */
	for (i = 0; i < meta->nruns; i++)
	{
		int			j;

		if (frozen[i] == NULL || !meets[i])
			continue;
		for (j = n; j > 0 &&
			 meta->runs[order[j - 1]].run_nkeys < meta->runs[i].run_nkeys; j--)
			order[j] = order[j - 1];
		order[j] = i;
		n++;
	}
	for (i = 0; i < n; i++)
	{
		MemkvFillRange bounded;
		MemkvSource *src = memkv_fill_source(so, nsrcs++);

		memkv_fill_bound(range, &stop, have_stop, backward, &bounded);
		memkv_frozen_collect(frozen[order[i]], src, bounded.lowerp,
							 bounded.upperp, backward, so->batch_target);
		memkv_fill_narrow_stop(src, backward, &stop, &have_stop);
	}
	return nsrcs - start;
}

/*
 * A range walk on a primary collects the delta after the runs (sources
 * [0, nruns)), and only up to where the first of them that stopped early
 * ended -- the batch ends there anyway (memkv_merge_sources) -- so that
 * the trees, which hold few keys of a wide range, do not copy a whole
 * target of keys the batch cannot take.  Takes the stripe locks [first,
 * first + count) shared again; the runs lock, held since the batch read
 * `meta`, kept any seal and switch out, but a failed insert may have left
 * a stripe to rebuild: returns false, holding no stripe lock, if a stripe
 * is no longer current, and the caller starts the batch over.
 */
static bool
memkv_fill_delta_late(MemkvScanOpaque so, Relation index, MemkvEntry *entry,
					  int first, int count, const MemkvMetaPageData *meta,
					  int nruns, int *ndelta, const MemkvFillRange *range,
					  bool backward)
{
	MemkvFillRange bounded;
	ArtBound	stop;
	bool		have_stop = false;
	int			i;

	for (i = 0; i < nruns; i++)
		memkv_fill_narrow_stop(&so->srcs[i], backward, &stop, &have_stop);
	memkv_fill_bound(range, &stop, have_stop, backward, &bounded);

	if (!memkv_stripes_relock(index, entry, first, count, meta))
		return false;
	memkv_guard_tree_enter();
	*ndelta = memkv_fill_delta(so, entry, first, count, NULL, &bounded,
							   backward, nruns);
	memkv_guard_tree_exit();
	memkv_fill_release_stripes(entry, first);
	return true;
}

/*
 * What one attempt at a batch holds between memkv_fill's phases: the
 * entry and the directory it was opened with, where the delta comes from,
 * which runs the batch reads, and how many sources each layer filled.
 */
typedef struct MemkvFillState
{
	MemkvMetaPageData meta;
	MemkvEntry *entry;
	int64		hash;			/* the key's stripe hash, or -1: all */
	int			first;			/* stripes [first, first + count) */
	int			count;
	MemkvLogDelta *ld;			/* the delta, if read from the log */
	bool		delta_empty;
	MemkvFrozen *frozen[RUNDIR_MAX_RUNS];
	bool		meets[RUNDIR_MAX_RUNS];
	int			only;			/* the one run that meets the range */
	bool		frozen_only;	/* ... and nothing else can have keys */
	bool		late;			/* the trees after the runs */
	int			nruns;			/* sources: the delta's trees or log ... */
	int			ndelta;			/* ... and the runs', in either order */
} MemkvFillState;

/*
 * Fill phase 2: open the entry for the batch (memkv_run_copy_open: its
 * runs lock and the stripes it reads, shared, with the accelerator
 * built), read the delta from the log if it does not fit in shared
 * memory, and note whether the delta has any key.
 */
static void
memkv_fill_open(IndexScanDesc scan, const MemkvFillRange *range,
				MemkvFillState *fs)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	bool		in_memory;
	int			i;

	fs->entry = memkv_run_copy_open(scan->indexRelation,
									range->walk_keys && !range->equality ?
									MEMKV_KB_ASK : MEMKV_KB_NONE,
									&fs->meta, &in_memory, fs->hash,
									&fs->first);
	fs->count = fs->hash < 0 ? fs->entry->nstripes : 1;
	fs->ld = NULL;
	if (!in_memory)
		fs->ld = memkv_log_delta_load(&so->log_delta,
									  GetMemoryChunkContext(so),
									  scan->indexRelation, fs->entry,
									  &fs->meta, fs->first, fs->count);
	fs->delta_empty = true;
	if (fs->ld)
		fs->delta_empty = fs->ld->keys.nkeys == 0;
	else
	{
		for (i = fs->first; i < fs->first + fs->count; i++)
			fs->delta_empty &= fs->entry->stripes[i].keys.ntids == 0;
	}
}

/*
 * Fill phase 3: which runs' key bounds meet the range, whether one run
 * alone can answer (frozen_only), whether a range walk reads the trees
 * after the runs (late), and the scratch sources the batch can fill,
 * made at once.
 */
static void
memkv_fill_plan(MemkvScanOpaque so, const MemkvFillRange *range,
				MemkvFillState *fs)
{
	int			nmeet = 0;
	int			i;

	fs->only = -1;
	for (i = 0; i < fs->meta.nruns; i++)
	{
		fs->meets[i] = range->walk_keys &&
			memkv_run_meets(&fs->meta.runs[i], range->lowerp, range->upperp,
							range->equality);
		if (fs->meets[i])
		{
			nmeet++;
			fs->only = i;
		}
	}
	fs->frozen_only = range->walk_keys && nmeet == 1 && fs->delta_empty &&
		!fs->entry->freezing;
	fs->late = range->walk_keys && !fs->frozen_only && !range->equality &&
		fs->ld == NULL && !RecoveryInProgress();
	if (range->walk_keys && !fs->frozen_only)
		memkv_fill_sources_reserve(so,
								   Min(nmeet + (fs->ld ? 1 : fs->count) +
									   (fs->entry->freezing ? fs->count : 0),
									   MEMKV_MAX_SOURCES));
}

/*
 * Fill phase 4: the delta, inside the tree guard (and under the stripe
 * locks where they are taken: not on a primary, usually) -- the NULL
 * key's TIDs, and the keys unless the runs come first (late) or alone;
 * then the stripe locks let go, leaving the runs lock.
 */
static void
memkv_fill_from_delta(MemkvScanOpaque so, const MemkvFillRange *range,
					  bool backward, MemkvFillState *fs)
{
	memkv_guard_tree_enter();
	if (range->take_nulls)
		memkv_collect_delta_nulls(fs->entry, fs->first, fs->count, fs->ld,
								  &so->delta_nulls);
	fs->nruns = 0;
	fs->ndelta = 0;
	if (range->walk_keys && !fs->frozen_only && !fs->late)
		fs->ndelta = memkv_fill_delta(so, fs->entry, fs->first, fs->count,
									  fs->ld, range, backward, 0);
	memkv_guard_tree_exit();
	memkv_fill_release_stripes(fs->entry, fs->first);
}

/*
 * Fill phase 5, under the runs lock: open the runs that meet the range
 * and those with NULLs -- an equality skips a run whose filter lacks the
 * key; the bottom run has none (src/README, "Per-run filter"), and a
 * batch reading one run alone opens it -- and collect their keys; for a
 * late walk, then the trees' keys up to where the runs stopped.  Returns
 * false if a stripe awaits a rebuild: the runs closed and every lock
 * let go, the caller starts the batch over.
 */
static bool
memkv_fill_from_runs(IndexScanDesc scan, const MemkvFillRange *range,
					 bool backward, MemkvFillState *fs)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	int			i;

	for (i = 0; i < fs->meta.nruns; i++)
	{
		fs->frozen[i] = NULL;
		if (fs->meets[i] && range->equality && !fs->frozen_only &&
			i < fs->meta.nruns - 1 &&
			!memkv_run_may_hold(scan->indexRelation, &fs->meta, i,
								range->lowerp))
			fs->meets[i] = false;
		if (fs->meets[i] ||
			(range->take_nulls && fs->meta.runs[i].run_nnulls > 0))
			fs->frozen[i] = memkv_frozen_open(scan->indexRelation, &fs->meta,
											  i, fs->entry);
	}
	if (range->walk_keys && !fs->frozen_only)
		fs->nruns = memkv_fill_runs(so, fs->ndelta, fs->frozen, fs->meets,
									&fs->meta, range, backward);
	if (!fs->late ||
		memkv_fill_delta_late(so, scan->indexRelation, fs->entry, fs->first,
							  fs->count, &fs->meta, fs->nruns, &fs->ndelta,
							  range, backward))
		return true;
	for (i = 0; i < fs->meta.nruns; i++)
		memkv_frozen_close(fs->frozen[i]);
	memkv_fill_release(fs->entry, fs->first);
	return false;
}

/*
 * Fill phase 6: the batch itself -- one run walked straight into it, or
 * every source merged -- with the NULL key's TIDs first (backward) or
 * last; then the runs closed and the entry's locks let go.  Returns true
 * if the range may hold more keys after the batch.
 */
static bool
memkv_fill_emit(MemkvScanOpaque so, MemkvBatch *batch,
				MemkvFillRange *range, bool backward, bool resume,
				MemkvFillState *fs)
{
	bool		stopped = false;
	int			i;

	if (backward && range->take_nulls)
		memkv_fill_nulls(&so->delta_nulls, fs->frozen, fs->meta.nruns, batch,
						 &so->run_nulls);
	if (fs->frozen_only)
		stopped = memkv_fill_frozen_only(so, fs->frozen[fs->only], batch,
										 range, backward, resume);
	else if (range->walk_keys)
		stopped = memkv_merge_sources(batch, so->srcs,
									  fs->ndelta + fs->nruns, backward);
	if (!backward && range->take_nulls && !stopped)
		memkv_fill_nulls(&so->delta_nulls, fs->frozen, fs->meta.nruns, batch,
						 &so->run_nulls);
	for (i = 0; i < fs->meta.nruns; i++)
		memkv_frozen_close(fs->frozen[i]);
	memkv_fill_release(fs->entry, fs->first);
	return stopped;
}

/*
 * Collect the next batch in `dir` into the spare batch.  `from` is the
 * item of the current batch to continue after (forward) or before
 * (backward), or NULL to start at the beginning (or end) of the range.
 * In phases: the batch's range (memkv_fill_range); the entry opened, its
 * runs lock and stripe locks held shared, with the accelerator built
 * (memkv_fill_open); which runs the batch reads (memkv_fill_plan); the
 * delta's NULL TIDs copied and, for an equality or on a standby, its
 * keys (memkv_fill_from_delta); the stripe locks let go; then under the
 * runs lock the keys of the runs, and for a range walk on a primary the
 * trees' keys up to where the runs stopped (memkv_fill_from_runs, under
 * the stripe locks again; a stripe awaiting a rebuild starts the batch
 * over); last the batch -- walked straight from the one run that can
 * have keys in range (memkv_fill_frozen_only), else merged
 * (memkv_merge_sources) -- with the NULL key's TIDs first or last, put in
 * ascending order (memkv_fill_emit).  Inserts wait for this batch only
 * while it reads the trees: they do not take the runs lock.  Takes and
 * releases the entry's locks.
 */
void
memkv_fill(IndexScanDesc scan, MemkvBatch *batch, ScanDirection dir,
		   MemkvBatch *curbatch, MemkvBatchItem *from)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	bool		backward = ScanDirectionIsBackward(dir);
	bool		stopped = false;
	MemkvFillRange range;

	memkv_batch_reset(batch);
	memkv_guard_batch(&so->guard, scan);
	/* kept valid only by a walk of the frozen layer alone, below */
	if (!so->bounds.want_keys || (from != NULL && from->isnull))
		memkv_frozen_pos_forget(so->frozen_pos);

	memkv_fill_range(&so->bounds, backward, curbatch, from, &range);

	if (range.walk_keys || range.take_nulls)
	{
		MemkvFillState fs;

		/* an equality reads its key's stripe; everything else all */
		fs.hash = -1;
		if (range.equality && !range.take_nulls)
			fs.hash = memkv_key_hash(range.lowerp->key, range.lowerp->len);
		for (;;)
		{
			memkv_fill_open(scan, &range, &fs);
			memkv_fill_plan(so, &range, &fs);
			memkv_fill_from_delta(so, &range, backward, &fs);
			if (memkv_fill_from_runs(scan, &range, backward, &fs))
				break;
			CHECK_FOR_INTERRUPTS();
		}
		stopped = memkv_fill_emit(so, batch, &range, backward, from != NULL,
								  &fs);
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
