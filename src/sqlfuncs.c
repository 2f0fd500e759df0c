/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *	  memkv_state(regclass): an index's layers, memory and cumulative
 *	  figures.  (memkv_verify is verify.c's; how both open their index is
 *	  caller.c's.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "caller.h"
#include "delta.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runpages.h"
#include "stats.h"
#include "stripe.h"

PG_FUNCTION_INFO_V1(memkv_state);

typedef struct MemkvLogCounts
{
	uint64		pages;
	uint64		tuples;
} MemkvLogCounts;

/*
 * Columns of memkv_state in 2.1; the 2.0 definition has the first 31, the
 * 1.0 one the first 15.
 */
#define MEMKV_STATE_COLS 32

/*
 * Count the delta logs' pages and entries, stripe after stripe, in steps
 * of MEMKV_LOG_STEP_PAGES pages, each under every stripe lock held shared
 * (the trees synced first), so that inserts wait at most one step.
 * Returns the entry still locked from the step that reached the end of
 * the last chain, with *meta read under it: the counts and the trees then
 * describe the same moment, since a log grows only at its tail within an
 * epoch.  A switch between steps (a new epoch: an old head's pages may be
 * freed) starts it over.  *in_memory is false if the delta does not fit in
 * shared memory (the trees are then not to be read).
 */
static MemkvEntry *
memkv_state_walk_log(Relation index, MemkvMetaPageData *meta,
					 int64 *log_pages, uint64 *log_tuples, bool *in_memory)
{
	MemkvLogWalk walk;
	MemkvEntry *entry;
	bool		started = false;
	int			s = 0;

	*log_pages = 0;
	*log_tuples = 0;
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		entry = memkv_open_synced_try(index, LW_SHARED, meta, in_memory);
		if (!started || walk.epoch != meta->epoch)
		{
			s = 0;
			*log_pages = 0;
			*log_tuples = 0;
			memkv_log_walk_start(&walk, meta->log_head[0],
								 meta->log_head_offset[0], meta->epoch, false);
			started = true;
		}
		if (memkv_log_walk_pages(index, &walk, MEMKV_LOG_STEP_PAGES,
								 NULL, NULL))
		{
			*log_pages += (int64) walk.visited;
			*log_tuples += walk.count;
			if (++s >= meta->nstripes)
				break;
			memkv_log_walk_start(&walk, meta->log_head[s],
								 meta->log_head_offset[s], meta->epoch, false);
		}
		memkv_entry_release(entry);
		memkv_step_aside(entry);
	}
	return entry;
}

/*
 * memkv_state(index regclass) returns (epoch, log_pages, log_tuples,
 * delta_keys, delta_tids, shmem_bytes, art_loaded, ...): art_loaded says
 * whether the delta tree was already current in shared memory; the call
 * loads it in any case so the other figures are exact.  If the delta does
 * not fit in shared memory, delta_keys is NULL and delta_tids counts the
 * log's entries.  The stat_* columns and the last worker error are the
 * index's cumulative figures (stats.c), which live apart from the registry
 * entry.  dead_tids (2.1) sums the runs' dead-list sizes, from the same
 * directory as the frozen_* columns.  Works with the older definitions of
 * the function too (2.0: 31 columns, 1.0: 15), until ALTER EXTENSION
 * UPDATE.
 */
Datum
memkv_state(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index = memkv_open_for_caller(relid, AccessShareLock,
											  MEMKV_CALLER_STATS);
	TupleDesc	tupdesc;
	Datum		values[MEMKV_STATE_COLS];
	bool		nulls[MEMKV_STATE_COLS] = {false};
	MemkvStats	st;
	MemkvMetaPageData meta;
	MemkvRunTotals totals;
	MemkvEntry *entry;
	bool		loaded;
	bool		in_memory;
	uint64		log_tuples;
	int64		log_pages;
	int			s;
	bool		merge_running;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts > MEMKV_STATE_COLS)
		elog(ERROR, "memkv_state: the SQL definition has %d columns, the library knows %d",
			 tupdesc->natts, MEMKV_STATE_COLS);

	entry = memkv_entry_acquire(index, LW_SHARED);
	memkv_read_meta(index, &meta);
	loaded = true;
	for (s = 0; s < entry->nstripes; s++)
		loaded &= entry->stripes[s].valid &&
			entry->stripes[s].instance_id == meta.instance_id &&
			entry->stripes[s].epoch == meta.epoch;
	memkv_entry_release(entry);

	/* a delta too big for shared memory is counted in the log only */
	entry = memkv_state_walk_log(index, &meta, &log_pages, &log_tuples,
								 &in_memory);

	values[0] = Int64GetDatum((int64) meta.generation);
	values[1] = Int64GetDatum(log_pages);
	values[2] = Int64GetDatum((int64) log_tuples);
	{
		uint64		dkeys = 0;
		uint64		dtids = 0;
		uint64		dbytes = 0;

		for (s = 0; s < entry->nstripes; s++)
		{
			MemkvStripe *dst = &entry->stripes[s];

			dkeys += dst->keys.nkeys + dst->nulls.nkeys +
				dst->imm_keys.nkeys + dst->imm_nulls.nkeys;
			dtids += dst->keys.ntids + dst->nulls.ntids +
				dst->imm_keys.ntids + dst->imm_nulls.ntids;
			dbytes += dst->keys.bytes + dst->nulls.bytes +
				dst->imm_keys.bytes + dst->imm_nulls.bytes;
		}
		values[3] = Int64GetDatum((int64) dkeys);
		values[4] = Int64GetDatum((int64) dtids);
		values[5] = Int64GetDatum((int64) dbytes);
	}
	if (!in_memory)
	{
		/* the trees could not be built: the delta is the log's entries */
		nulls[3] = true;
		values[4] = Int64GetDatum((int64) log_tuples);
		values[5] = Int64GetDatum(0);
	}
	values[6] = BoolGetDatum(loaded);
	memkv_meta_run_totals(&meta, &totals);
	values[7] = Int64GetDatum((int64) totals.nkeys);
	values[8] = Int64GetDatum((int64) totals.ntids);
	values[9] = Int64GetDatum((int64) totals.npages);
	/*
	 * Only merges and VACUUM free runs, both under the merge lock: read the
	 * run headers under it, in share mode, if no one holds it (else the
	 * sizes are NULL, and a merge is running).
	 */
	merge_running = !ConditionalLockPage(index, MEMKV_MERGE_LOCK_PAGE,
										 ShareLock);
	if (!merge_running)
	{
		int64		fst_bytes = 0;
		int64		postings_bytes = 0;
		MemkvMetaPageData *now = palloc(sizeof(MemkvMetaPageData));
		int			i;

		/* the header pages only: the sizes of runs with damaged data */
		memkv_read_meta(index, now);
		for (i = 0; i < now->nruns; i++)
		{
			RunHeader  *hdr = memkv_run_header_read(index, &now->runs[i],
													CurrentMemoryContext);
			uint32		s;

			for (s = 0; s < hdr->nslices; s++)
			{
				fst_bytes += hdr->slices[s].leaf_bytes +
					hdr->slices[s].top_bytes;
				postings_bytes += hdr->slices[s].postings_bytes;
			}
			pfree(hdr);
		}
		UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ShareLock);
		pfree(now);
		values[10] = Int64GetDatum(fst_bytes);
		values[11] = Int64GetDatum(postings_bytes);
	}
	else
		nulls[10] = nulls[11] = true;
	values[12] = Int64GetDatum((int64) meta.freezes);
	values[13] = TimestampTzGetDatum((TimestampTz) meta.last_freeze);
	nulls[13] = (meta.last_freeze == 0);
	values[14] = Int64GetDatum((int64) (entry->run_copy_bytes +
										 entry->run_kb_bytes));
	memkv_entry_release(entry);

	memkv_stats_get(MyDatabaseId, relid, meta.instance_id, &st);
	values[15] = Int64GetDatum(st.freezes);
	values[16] = Float8GetDatum(st.freeze_ms);
	values[17] = Int64GetDatum(st.bytes_written);
	values[18] = Int64GetDatum(st.wal_bytes);
	values[19] = Int64GetDatum(st.delta_tids);
	values[20] = Int64GetDatum(st.dead_tids);
	values[21] = Int64GetDatum(st.worker_failures);
	if (st.last_error_at != 0)
	{
		values[22] = CStringGetTextDatum(st.last_error);
		values[23] = TimestampTzGetDatum(st.last_error_at);
	}
	else
		nulls[22] = nulls[23] = true;
	values[24] = TimestampTzGetDatum(st.reset_at);
	nulls[24] = (st.reset_at == 0);
	/* 2.0: runs and merges */
	values[25] = Int32GetDatum(meta.nruns);
	values[26] = Int64GetDatum((int64) meta.merges);
	values[27] = TimestampTzGetDatum((TimestampTz) meta.last_merge);
	nulls[27] = (meta.last_merge == 0);
	values[28] = BoolGetDatum(merge_running);
	values[29] = Int64GetDatum(st.merges);
	values[30] = Float8GetDatum(st.merge_ms);
	/* 2.1: the TIDs the runs' dead lists hold */
	{
		uint64		ndead = 0;

		for (s = 0; s < meta.nruns; s++)
			ndead += meta.runs[s].entry.ndead;
		values[31] = Int64GetDatum((int64) ndead);
	}

	memkv_close_for_caller(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
