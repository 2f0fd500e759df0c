/*-------------------------------------------------------------------------
 *
 * build.c
 *	  CREATE INDEX (ambuild), the init fork of unlogged indexes
 *	  (ambuildempty), and the names of the build's progress phases.
 *
 * A build sorts the table's keys (tuplesort, maintenance_work_mem) and
 * streams them into a frozen layer: FST, postings, NULL postings, each
 * page WAL-logged as a full image.  The delta log starts empty, and no
 * shared memory is used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/fmgrprotos.h"
#include "storage/itemptr.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "pgstat.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"
#include "utils/rel.h"

#include "memkv.h"

#define MEMKV_BUILD_PHASE_SCAN		2
#define MEMKV_BUILD_PHASE_SORT		3
#define MEMKV_BUILD_PHASE_WRITE		4

typedef struct MemkvBuildState
{
	Tuplesortstate *sort;
	TupleTableSlot *slot;		/* (key text COLLATE "C", tid) to sort */
	double		indtuples;
	MemoryContext tmpcxt;
} MemkvBuildState;

/* table_index_build_scan callback: check the key and hand it to the sort. */
static void
memkv_build_callback(Relation index, ItemPointer tid, Datum *values,
					 bool *isnull, bool tupleIsAlive, void *state)
{
	MemkvBuildState *bs = (MemkvBuildState *) state;
	MemoryContext oldcxt = MemoryContextSwitchTo(bs->tmpcxt);

	ExecClearTuple(bs->slot);
	bs->slot->tts_isnull[0] = isnull[0];
	bs->slot->tts_values[0] = (Datum) 0;
	if (!isnull[0])
	{
		const uint8 *key;
		Size		keylen;
		text	   *to_free;

		/* checks the key, and detoasts it so the sort holds its bytes */
		memkv_key_bytes(values[0], &key, &keylen, &to_free);
		bs->slot->tts_values[0] = to_free ? PointerGetDatum(to_free) : values[0];
	}
	bs->slot->tts_isnull[1] = false;
	bs->slot->tts_values[1] = PointerGetDatum(tid);
	ExecStoreVirtualTuple(bs->slot);
	tuplesort_puttupleslot(bs->sort, bs->slot);
	bs->indtuples += 1;

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(bs->tmpcxt);
}

/* Accumulates the TIDs of the current key while draining the sort. */
typedef struct MemkvKeyGroup
{
	uint8	   *key;
	Size		keylen;
	Size		keysize;
	ItemPointerData *tids;
	uint64		ntids;
	uint64		maxtids;
} MemkvKeyGroup;

static void
memkv_group_add_tid(MemkvKeyGroup *g, ItemPointer tid)
{
	if (g->ntids == g->maxtids)
	{
		g->maxtids = Max(g->maxtids * 2, 64);
		g->tids = g->tids ? repalloc_huge(g->tids, g->maxtids * sizeof(ItemPointerData)) :
			palloc(g->maxtids * sizeof(ItemPointerData));
	}
	g->tids[g->ntids++] = *tid;
}

/*
 * ambuild: sort the table's keys and stream them straight into a frozen
 * layer (FST + postings); the delta log starts empty.  No shared memory is
 * used: the delta tree of the new index starts empty too.
 */
IndexBuildResult *
memkv_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	MemkvBuildState bs;
	IndexBuildResult *result;
	double		reltuples;
	Buffer		metabuf;
	Buffer		logbuf;
	GenericXLogState *state;
	Page		page;
	MemkvMetaPageData meta;
	MemkvFrozenWriter *w;
	MemkvKeyGroup group;
	MemkvKeyGroup nulls;
	bool		have_group = false;
	TupleDesc	sortdesc;
	TupleTableSlot *outslot;
	AttrNumber	sortcols[2] = {1, 2};
	Oid			sortops[2] = {TextLessOperator, TIDLessOperator};
	Oid			sortcolls[2] = {C_COLLATION_OID, InvalidOid};
	bool		nullsfirst[2] = {false, false};

	memkv_check_loaded();
	memkv_check_collation(index);
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	/* blocks 0 and 1: metapage and the empty log, written at the end */
	metabuf = memkv_new_buffer(index, 1);
	logbuf = memkv_new_buffer(index, 1);
	if (BufferGetBlockNumber(metabuf) != MEMKV_METAPAGE_BLKNO ||
		BufferGetBlockNumber(logbuf) != MEMKV_METAPAGE_BLKNO + 1)
		elog(ERROR, "memkv: unexpected first blocks in \"%s\"",
			 RelationGetRelationName(index));
	UnlockReleaseBuffer(metabuf);
	UnlockReleaseBuffer(logbuf);

	memset(&bs, 0, sizeof(bs));
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext,
									  "memkv build temporary context",
									  ALLOCSET_DEFAULT_SIZES);
	sortdesc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(sortdesc, 1, "key", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(sortdesc, 1, C_COLLATION_OID);
	TupleDescInitEntry(sortdesc, 2, "tid", TIDOID, -1, 0);
	bs.slot = MakeSingleTupleTableSlot(sortdesc, &TTSOpsVirtual);
	outslot = MakeSingleTupleTableSlot(sortdesc, &TTSOpsMinimalTuple);
	bs.sort = tuplesort_begin_heap(sortdesc, 2, sortcols, sortops, sortcolls,
								   nullsfirst, maintenance_work_mem, NULL,
								   TUPLESORT_NONE);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SCAN);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   memkv_build_callback, (void *) &bs,
									   NULL);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SORT);
	tuplesort_performsort(bs.sort);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_WRITE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) bs.indtuples);
	w = memkv_frozen_writer_begin();
	memset(&group, 0, sizeof(group));
	memset(&nulls, 0, sizeof(nulls));
	while (tuplesort_gettupleslot(bs.sort, true, false, outslot, NULL))
	{
		bool		isnull;
		Datum		value;
		ItemPointer tid;
		text	   *t;
		const uint8 *key;
		Size		keylen;

		slot_getallattrs(outslot);
		value = outslot->tts_values[0];
		isnull = outslot->tts_isnull[0];
		tid = (ItemPointer) DatumGetPointer(outslot->tts_values[1]);
		if (isnull)
		{
			memkv_group_add_tid(&nulls, tid);
			continue;
		}
		t = DatumGetTextPP(value);
		key = (const uint8 *) VARDATA_ANY(t);
		keylen = VARSIZE_ANY_EXHDR(t);
		if (!have_group || keylen != group.keylen ||
			memcmp(key, group.key, keylen) != 0)
		{
			if (have_group)
			{
				memkv_sort_tids(group.tids, &group.ntids);
				memkv_frozen_writer_add(w, group.key, group.keylen,
										group.tids, group.ntids);
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
											 (int64) (bs.indtuples - nulls.ntids));
			}
			if (keylen > group.keysize)
			{
				group.keysize = Max(keylen, 64) * 2;
				group.key = group.key ? repalloc(group.key, group.keysize) :
					palloc(group.keysize);
			}
			memcpy(group.key, key, keylen);
			group.keylen = keylen;
			group.ntids = 0;
			have_group = true;
		}
		memkv_group_add_tid(&group, tid);
		if ((Pointer) t != DatumGetPointer(value))
			pfree(t);
	}
	if (have_group)
	{
		memkv_sort_tids(group.tids, &group.ntids);
		memkv_frozen_writer_add(w, group.key, group.keylen, group.tids,
								group.ntids);
	}
	memkv_sort_tids(nulls.tids, &nulls.ntids);
	memkv_frozen_writer_add_nulls(w, nulls.tids, nulls.ntids);
	tuplesort_end(bs.sort);
	ExecDropSingleTupleTableSlot(bs.slot);
	ExecDropSingleTupleTableSlot(outslot);

	/* the frozen run goes after blocks 0 and 1, then the metapage */
	memset(&meta, 0, sizeof(meta));
	meta.spare_start = InvalidBlockNumber;
	memkv_frozen_writer_finish(w, index, 1, &meta, false);

	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	logbuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO + 1);
	LockBuffer(logbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, logbuf, GENERIC_XLOG_FULL_IMAGE);
	memkv_init_log_page(page, 1);
	page = GenericXLogRegisterBuffer(state, metabuf, GENERIC_XLOG_FULL_IMAGE);
	memkv_init_metapage(page, memkv_new_instance_id());
	{
		MemkvMetaPage m = MemkvPageGetMeta(page);

		m->frozen_start = meta.frozen_start;
		m->frozen_npages = meta.frozen_npages;
		m->frozen_alloc = meta.frozen_alloc;
		m->frozen_epoch = meta.frozen_epoch;
		m->fst_size = meta.fst_size;
		m->postings_size = meta.postings_size;
		m->nullpost_size = meta.nullpost_size;
		m->frozen_nkeys = meta.frozen_nkeys;
		m->frozen_ntids = meta.frozen_ntids;
		m->last_freeze = meta.last_freeze;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(logbuf);
	UnlockReleaseBuffer(metabuf);

	MemoryContextDelete(bs.tmpcxt);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index, a metapage and an
 * empty log page, copied over the main fork when the server restarts
 * after a crash.
 */
void
memkv_buildempty(Relation index)
{
	PGAlignedBlock meta;
	PGAlignedBlock log;

	memkv_check_loaded();
	memkv_check_collation(index);

	memkv_init_metapage((Page) meta.data, memkv_new_instance_id());
	memkv_init_log_page((Page) log.data, 1);

	PageSetChecksumInplace((Page) meta.data, MEMKV_METAPAGE_BLKNO);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, MEMKV_METAPAGE_BLKNO,
			   meta.data, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				MEMKV_METAPAGE_BLKNO, (Page) meta.data, true);

	PageSetChecksumInplace((Page) log.data, 1);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, 1, log.data, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				1, (Page) log.data, true);

	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}

/* ambuildphasename */
char *
memkv_buildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case MEMKV_BUILD_PHASE_SCAN:
			return "scanning table";
		case MEMKV_BUILD_PHASE_SORT:
			return "sorting keys";
		case MEMKV_BUILD_PHASE_WRITE:
			return "writing frozen layer";
		default:
			return NULL;
	}
}
