/*-------------------------------------------------------------------------
 *
 * build.c
 *	  CREATE INDEX (ambuild), the init fork of unlogged indexes
 *	  (ambuildempty), and the names of the build's progress phases.
 *
 * A build writes the metapage and one delta log holding every heap tuple,
 * page by page, each page WAL-logged as a full image.  It does not touch
 * shared memory: the delta trees are built from the log by the first
 * backend that uses the index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "pgstat.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "memkv.h"

#define MEMKV_BUILD_PHASE_LOG	2

typedef struct MemkvBuildState
{
	Relation	index;
	uint32		generation;
	PGAlignedBlock page;		/* log page being filled */
	BlockNumber next_blkno;		/* block the page will be written to */
	bool		page_has_items;
	double		indtuples;
	MemoryContext tmpcxt;
} MemkvBuildState;

/* Write the page being filled to its block; `next` links to the one after. */
static void
memkv_build_flush(MemkvBuildState *bs, BlockNumber next)
{
	Buffer		buf = memkv_new_buffer(bs->index, bs->generation);
	GenericXLogState *state;
	Page		page;

	if (BufferGetBlockNumber(buf) != bs->next_blkno)
		elog(ERROR, "memkv: build expected block %u of \"%s\", got %u",
			 bs->next_blkno, RelationGetRelationName(bs->index),
			 BufferGetBlockNumber(buf));
	MemkvPageGetOpaque((Page) bs->page.data)->next = next;
	state = GenericXLogStart(bs->index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	memcpy(page, bs->page.data, BLCKSZ);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);

	bs->next_blkno++;
	memkv_init_log_page((Page) bs->page.data, bs->generation);
	bs->page_has_items = false;
}

/* table_index_build_scan callback: append one heap tuple to the log. */
static void
memkv_build_callback(Relation index, ItemPointer tid, Datum *values,
					 bool *isnull, bool tupleIsAlive, void *state)
{
	MemkvBuildState *bs = (MemkvBuildState *) state;
	MemoryContext oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	const uint8 *key = NULL;
	Size		keylen = 0;
	text	   *to_free = NULL;
	IndexTuple	itup;
	Size		size;

	if (!isnull[0])
		memkv_key_bytes(values[0], &key, &keylen, &to_free);
	itup = memkv_form_log_tuple(isnull[0], key, keylen, tid);
	size = IndexTupleSize(itup);

	if (PageGetFreeSpace((Page) bs->page.data) < MAXALIGN(size))
		memkv_build_flush(bs, bs->next_blkno + 1);
	if (PageAddItem((Page) bs->page.data, (Item) itup, size,
					InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
		elog(ERROR, "memkv: failed to add entry to build page");
	bs->page_has_items = true;
	bs->indtuples += 1;

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(bs->tmpcxt);
}

/*
 * ambuild: write the metapage and a delta log of every heap tuple.
 */
IndexBuildResult *
memkv_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	MemkvBuildState bs;
	IndexBuildResult *result;
	double		reltuples;
	Buffer		metabuf;
	GenericXLogState *state;
	Page		metapage;
	MemkvMetaPage meta;

	memkv_check_loaded();
	memkv_check_collation(index);
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.generation = 1;
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext,
									  "memkv build temporary context",
									  ALLOCSET_DEFAULT_SIZES);

	/* block 0: the metapage, written for real once the log is complete */
	metabuf = memkv_new_buffer(index, bs.generation);
	if (BufferGetBlockNumber(metabuf) != MEMKV_METAPAGE_BLKNO)
		elog(ERROR, "memkv: metapage of \"%s\" is not block 0",
			 RelationGetRelationName(index));
	UnlockReleaseBuffer(metabuf);

	bs.next_blkno = 1;
	memkv_init_log_page((Page) bs.page.data, bs.generation);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_LOG);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   memkv_build_callback, (void *) &bs,
									   NULL);
	memkv_build_flush(&bs, InvalidBlockNumber);

	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	metapage = GenericXLogRegisterBuffer(state, metabuf,
										 GENERIC_XLOG_FULL_IMAGE);
	memkv_init_metapage(metapage, memkv_new_instance_id());
	meta = MemkvPageGetMeta(metapage);
	meta->log_head = 1;
	meta->log_tail = bs.next_blkno - 1;
	GenericXLogFinish(state);
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
		case MEMKV_BUILD_PHASE_LOG:
			return "scanning table and writing delta log";
		default:
			return NULL;
	}
}
