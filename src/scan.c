/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Index scans: beginscan, rescan, gettuple (both directions),
 *	  getbitmap, endscan, and canreturn for index-only scans.
 *
 * Every qual memkv supports is a range of keys in byte order (= is
 * [v, v], ^@ p is [p, successor(p)) ), so rescan reduces the scan keys to
 * one range.  Results come in batches of whole keys, which fill.c
 * collects from the index's layers; the next batch re-seeks strictly past
 * the last key of the previous one.  So a scan never returns a TID twice,
 * and never misses one that was indexed when it started (see src/README,
 * "Scans").
 *
 * Statistics: each descent counts as one index scan in
 * pg_stat_user_indexes.idx_scan, as btree counts them in _bt_first: the
 * first fetch after each (re)scan, and each getbitmap call.  idx_tup_read
 * is counted by the executor's index AM layer (indexam.c) for every TID
 * returned.
 *
 * The batches themselves -- their arrays, the pool that keeps those from
 * one scan to the next, the index tuples of index-only scans -- are
 * batch.c's; fill.c fills them from the index's layers.
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
#include "fill.h"
#include "guard.h"
#include "memkv.h"
#include "source.h"

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
	/* the scratch sources come with the first batch that needs them */
	so->srcs = NULL;
	so->nsrcs_made = 0;
	memkv_source_init(&so->delta_nulls);
	memkv_source_init(&so->run_nulls);
	so->frozen_pos = NULL;		/* made by the first range walk */
	so->log_delta = NULL;		/* made by the first batch that needs it */
	so->guard = NULL;			/* made by the first batch that announces */
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
	memkv_guard_release(so->guard);
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
		so->cur = memkv_batch_range_end(cur, backward, so->guard);
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
		so->cur = memkv_batch_range_end(cur, backward, so->guard);
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

	memkv_guard_release(so->guard);
	memkv_batches_give_back(so->batches);
	so->batch_owner->batches = NULL;
	for (i = 0; i < so->nsrcs_made; i++)
		memkv_source_free(&so->srcs[i]);
	if (so->srcs)
		pfree(so->srcs);
	memkv_source_free(&so->delta_nulls);
	memkv_source_free(&so->run_nulls);
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
