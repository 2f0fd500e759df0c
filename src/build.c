/*-------------------------------------------------------------------------
 *
 * build.c
 *	  CREATE INDEX (ambuild), the init fork of unlogged indexes
 *	  (ambuildempty), and the names of the build's progress phases; the
 *	  check of the index's collation.  The collection of the keys is
 *	  buildscan.c's, the spills buildspill.c's, the parallel build
 *	  buildpar.c's.
 *
 * A build sorts the table's keys and streams them into a frozen layer:
 * FST, postings, NULL postings, each page WAL-logged as a full image.  The
 * delta log starts empty, and no shared memory is used.
 *
 * The scan copies every key with its TID into chunks of memory; if they
 * all fit in half of maintenance_work_mem, they are sorted there by
 * keysort (a string sort made for long shared prefixes, keysort.c).  If
 * they do not, each time that half is full its keys are sorted the same
 * way and spilled to a temporary file (buildspill.c), and the spills are
 * merged into the run writer at the end.  The other half is the writer's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "utils/lsyscache.h"
#include "storage/itemptr.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "pgstat.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "portability/instr_time.h"

#include "build.h"
#include "buildpar.h"
#include "buildscan.h"
#include "buildspill.h"
#include "memkv.h"
#include "memutil.h"
#include "page.h"
#include "registry.h"
#include "runwrite.h"
#include "source.h"

#define MEMKV_BUILD_PHASE_SCAN		2
#define MEMKV_BUILD_PHASE_SORT		3
#define MEMKV_BUILD_PHASE_WRITE		4
#define MEMKV_BUILD_PHASE_MERGE		5

/*
 * memkv orders keys by their bytes, which is what the C and POSIX
 * collations mean.  Refuse any other collation: ORDER BY and range scans
 * would silently disagree with the operators.
 */
static void
memkv_check_collation(Relation index)
{
	Oid			collid = index->rd_indcollation[0];

	if (!OidIsValid(collid) || !memkv_collation_is_c(collid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("memkv index \"%s\" requires the C or POSIX collation",
						RelationGetRelationName(index)),
				 errdetail("The indexed column uses collation \"%s\".",
						   OidIsValid(collid) ? get_collation_name(collid) : "none"),
				 errhint("Declare the column or the index expression with COLLATE \"C\", for example CREATE INDEX ... USING memkv (k COLLATE \"C\").")));
}


/*
 * ambuild: sort the table's keys and stream them straight into a frozen
 * layer (FST + postings); the delta log starts empty.  No shared memory is
 * used: the delta tree of the new index starts empty too.
 *
 * The keys are sorted in memory by keysort if they fit in half of
 * maintenance_work_mem; else each half's worth is sorted the same way and
 * spilled, and the spills are merged into the writer.  A parallel build
 * (buildpar.c, when PostgreSQL's planner gives workers) scans and spills
 * in every participant, then merges by key range in every participant,
 * the leader's range into w, the workers' slices stored after it.
 */
IndexBuildResult *
memkv_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	MemkvBuildState bs;
	IndexBuildResult *result;
	double		reltuples;
	Buffer		metabuf;
	GenericXLogState *state;
	int			nstripes = memkv_index_stripes(index);
	int			s;
	Page		page;
	MemkvDirectory dir;
	MemkvFrozenWriter *w;
	KeysortItem *items = NULL;
	MemkvSpillStats spilled;
	MemkvParBuild *par;
	bool		parallel;
	instr_time	t_start,
				t_sort,
				t_write,
				t_end;

	memkv_check_loaded();
	memkv_check_collation(index);
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	/*
	 * Blocks 0 to nstripes: the metapage and each stripe's empty log,
	 * written at the end.
	 */
	for (s = 0; s <= nstripes; s++)
	{
		Buffer		buf = memkv_new_buffer(index, 1);

		if (BufferGetBlockNumber(buf) != MEMKV_METAPAGE_BLKNO + s)
			elog(ERROR, "memkv: unexpected first blocks in \"%s\"",
				 RelationGetRelationName(index));
		UnlockReleaseBuffer(buf);
	}

	memkv_build_state_init(&bs, (Size) maintenance_work_mem * 1024 / 2,
						   true, NULL);

	INSTR_TIME_SET_CURRENT(t_start);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SCAN);
	par = memkv_par_begin(heap, index, indexInfo);
	parallel = par != NULL;
	if (par != NULL)
	{
		MemkvBuildPart part;

		/* every participant spills, then merges a key range of them all */
		memset(&part, 0, sizeof(part));
		bs.in_memory = false;
		memkv_par_participate(par, heap, index, indexInfo, &part);
		reltuples = part.reltuples;
		bs.indtuples = part.indtuples;
		bs.nulls.tids = part.nulls;
		bs.nulls.ntids = bs.nulls.maxtids = part.nnulls;
	}
	else
		reltuples = table_index_build_scan(heap, index, indexInfo, true,
										   true, memkv_build_callback,
										   (void *) &bs, NULL);

	INSTR_TIME_SET_CURRENT(t_sort);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SORT);
	if (bs.in_memory)
		items = memkv_build_sort_in_memory(&bs);
	else if (bs.nkeys > 0 && par == NULL)
		memkv_build_spill_chunks(&bs);

	INSTR_TIME_SET_CURRENT(t_write);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 bs.in_memory ? MEMKV_BUILD_PHASE_WRITE :
								 MEMKV_BUILD_PHASE_MERGE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) bs.indtuples);
	/* the run goes after the metapage and the logs, then the metapage */
	memkv_empty_directory(&dir, memkv_new_instance_id(), nstripes);
	w = memkv_frozen_writer_begin(index, dir.generation);
	memset(&spilled, 0, sizeof(spilled));
	if (bs.in_memory)
		memkv_build_write_in_memory(&bs, w, items);
	else if (par != NULL)
	{
		MemoryContextDelete(bs.keycxt);
		bs.keycxt = NULL;
		memkv_par_merge(par, w);
	}
	else
	{
		/* the chunks are empty: only the spills are left */
		MemoryContextDelete(bs.keycxt);
		bs.keycxt = NULL;
		memkv_spill_merge_into(bs.spills, w);
		memkv_spill_end(bs.spills, &spilled);
	}
	if (bs.keycxt)
		MemoryContextDelete(bs.keycxt);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_WRITE);
	memkv_sort_tids(bs.nulls.tids, &bs.nulls.ntids);
	memkv_frozen_writer_add_nulls(w, bs.nulls.tids, bs.nulls.ntids);

	if (bs.indtuples > 0)
	{
		MemkvRunEntry run;

		memkv_frozen_writer_finish(w, index, dir.generation, &run);
		if (!rundir_add_run(&dir, &run))
			elog(ERROR, "memkv: directory of \"%s\" is full",
				 RelationGetRelationName(index));
		dir.generation++;
		dir.last_freeze = GetCurrentTimestamp();
	}
	INSTR_TIME_SET_CURRENT(t_end);
	{
		const char *msg;

		if (rundir_validate(&dir, RelationGetNumberOfBlocks(index), &msg) != RUNDIR_OK)
			elog(ERROR, "memkv: new directory of \"%s\" is invalid: %s",
				 RelationGetRelationName(index), msg);
	}

	/* the logs first, then the metapage that names them */
	for (s = 0; s < nstripes; s++)
	{
		Buffer		logbuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO + 1 + s);

		LockBuffer(logbuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, logbuf,
										 GENERIC_XLOG_FULL_IMAGE);
		memkv_init_log_page(page, 1);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(logbuf);
	}
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, metabuf, GENERIC_XLOG_FULL_IMAGE);
	memkv_init_metapage(page, &dir);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);

	MemoryContextDelete(bs.tmpcxt);
	if (par != NULL)
		memkv_par_end(par);

	INSTR_TIME_SUBTRACT(t_end, t_write);
	INSTR_TIME_SUBTRACT(t_write, t_sort);
	INSTR_TIME_SUBTRACT(t_sort, t_start);
	if (parallel)
		elog(DEBUG1, "memkv build: %.0f tuples built in parallel; scan %.0f ms, merge and write %.0f ms",
			 bs.indtuples, INSTR_TIME_GET_MILLISEC(t_sort),
			 INSTR_TIME_GET_MILLISEC(t_end));
	else if (bs.in_memory)
		elog(DEBUG1, "memkv build: %.0f tuples sorted in memory; scan %.0f ms, sort %.0f ms, write %.0f ms",
			 bs.indtuples, INSTR_TIME_GET_MILLISEC(t_sort),
			 INSTR_TIME_GET_MILLISEC(t_write),
			 INSTR_TIME_GET_MILLISEC(t_end));
	else
		elog(DEBUG1, "memkv build: %.0f tuples sorted in %d spills of " UINT64_FORMAT " bytes in all, merged in %d passes of at most %d; scan %.0f ms, last spill %.0f ms, merge and write %.0f ms; of these, sorting chunks %.0f ms, writing spills %.0f ms, merge passes before the last %.0f ms",
			 bs.indtuples, spilled.nspills, spilled.nbytes,
			 spilled.npasses, spilled.fanin,
			 INSTR_TIME_GET_MILLISEC(t_sort),
			 INSTR_TIME_GET_MILLISEC(t_write),
			 INSTR_TIME_GET_MILLISEC(t_end),
			 INSTR_TIME_GET_MILLISEC(bs.spill_sort_time),
			 INSTR_TIME_GET_MILLISEC(bs.spill_write_time),
			 spilled.reduce_ms);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index, a metapage and an
 * empty log page per stripe, copied over the main fork when the server restarts
 * after a crash.
 */
void
memkv_buildempty(Relation index)
{
	PGAlignedBlock meta;
	PGAlignedBlock log;
	MemkvDirectory dir;
	int			nstripes = memkv_index_stripes(index);
	int			s;

	memkv_check_loaded();
	memkv_check_collation(index);

	memkv_empty_directory(&dir, memkv_new_instance_id(), nstripes);
	memkv_init_metapage((Page) meta.data, &dir);

	PageSetChecksumInplace((Page) meta.data, MEMKV_METAPAGE_BLKNO);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, MEMKV_METAPAGE_BLKNO,
			   meta.data, true);
	log_newpage(&MEMKV_SMGR_FILE(RelationGetSmgr(index)), INIT_FORKNUM,
				MEMKV_METAPAGE_BLKNO, (Page) meta.data, true);

	for (s = 1; s <= nstripes; s++)
	{
		memkv_init_log_page((Page) log.data, 1);
		PageSetChecksumInplace((Page) log.data, s);
		smgrextend(RelationGetSmgr(index), INIT_FORKNUM, s, log.data, true);
		log_newpage(&MEMKV_SMGR_FILE(RelationGetSmgr(index)), INIT_FORKNUM,
					s, (Page) log.data, true);
	}

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
		case MEMKV_BUILD_PHASE_MERGE:
			return "merging sorted spills";
		case MEMKV_BUILD_PHASE_WRITE:
			return "writing run";
		default:
			return NULL;
	}
}
