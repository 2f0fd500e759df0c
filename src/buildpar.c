/*-------------------------------------------------------------------------
 *
 * buildpar.c
 *	  Parallel CREATE INDEX: memkv's own ParallelContext, whose workers
 *	  and the leader each scan a share of the table's blocks (a parallel
 *	  heap scan), sort their keys by chunks and spill them all; the leader
 *	  then merges every participant's spills into the run writer as a
 *	  serial build merges its own (build.c, buildspill.c).
 *
 * PostgreSQL 15 plans worker counts for btree builds only, so memkv asks
 * plan_create_index_workers itself: max_parallel_maintenance_workers = 0,
 * the table's parallel_workers = 0, a table too small, or too little
 * maintenance_work_mem (32MB a participant) give the serial build, and
 * so does a table smaller than maintenance_work_mem / 2 unless its
 * parallel_workers is set (memkv_par_plan).  CREATE INDEX CONCURRENTLY
 * always builds serially.
 *
 * Shared state (one DSM segment): the relations' OIDs, each
 * participant's memory, a SharedFileSet holding the workers' spills and
 * NULL TIDs, the parallel scan, and one result slot per worker (its spill
 * count, NULL count, tuple counts), written by that worker alone before it
 * exits and read by the leader after WaitForParallelWorkersToFinish.  A
 * worker's ERROR reaches the leader, which fails the build with it; the
 * files go away with the segment, and nothing is visible before the
 * leader writes the metapage.
 *
 * Memory: each of the participants (workers + leader) collects keys in
 * maintenance_work_mem / participants; the leader's merge and writer run
 * after the workers are gone, with the serial build's halves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/buffile.h"
#include "storage/sharedfileset.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "buildpar.h"
#include "pg_compat.h"

#define MEMKV_PAR_KEY_SHARED		UINT64CONST(0xA11CE00000000001)
#define MEMKV_PAR_KEY_SCAN			UINT64CONST(0xA11CE00000000002)
#define MEMKV_PAR_KEY_QUERY_TEXT	UINT64CONST(0xA11CE00000000003)
#define MEMKV_PAR_KEY_WAL_USAGE		UINT64CONST(0xA11CE00000000004)
#define MEMKV_PAR_KEY_BUFFER_USAGE	UINT64CONST(0xA11CE00000000005)

/* What a worker leaves for the leader. */
typedef struct MemkvParResult
{
	bool		done;
	int			nspills;		/* memkv.<worker>.0 .. nspills - 1 */
	uint64		nnulls;			/* TIDs in memkv.<worker>.nulls */
	double		reltuples;
	double		indtuples;
} MemkvParResult;

typedef struct MemkvParShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	int			nworkers;		/* planned; result slots */
	Size		part_mem;		/* bytes of keys a participant collects */
	SharedFileSet fileset;
	MemkvParResult results[FLEXIBLE_ARRAY_MEMBER];
} MemkvParShared;

/* The leader's handle on a parallel build. */
struct MemkvParBuild
{
	ParallelContext *pcxt;
	MemkvParShared *shared;
	ParallelTableScanDesc pscan;
	WalUsage   *walusage;
	BufferUsage *bufferusage;
};

/*
 * How many workers to ask for: 0 (serial) for concurrent builds, outside
 * normal processing, or when PostgreSQL's planner says so; and 0 too,
 * unless the table's parallel_workers asks for workers, when the table
 * takes less than maintenance_work_mem / 2: its keys then most likely fit
 * in the serial build's memory, sorted there with no spill at all, which
 * beats spilling in every participant and merging.
 */
static int
memkv_par_plan(Relation heap, Relation index, IndexInfo *indexInfo)
{
	double		heap_bytes;

	if (indexInfo->ii_Concurrent || !IsNormalProcessingMode() ||
		IsInParallelMode() || !IsUnderPostmaster)
		return 0;
	heap_bytes = (double) RelationGetNumberOfBlocks(heap) * BLCKSZ;
	if (RelationGetParallelWorkers(heap, -1) == -1 &&
		heap_bytes < (double) maintenance_work_mem * 1024 / 2)
		return 0;
	return plan_create_index_workers(RelationGetRelid(heap),
									 RelationGetRelid(index));
}

/* Size of the shared state with nworkers result slots. */
static Size
memkv_par_shared_size(int nworkers)
{
	return add_size(offsetof(MemkvParShared, results),
					mul_size(sizeof(MemkvParResult), nworkers));
}

/*
 * Plan and launch a parallel build.  Returns NULL, and leaves nothing
 * behind, for a serial build: no worker planned, no DSM segment, or no
 * worker launched.  Else the caller is in parallel mode until
 * memkv_par_end, and must call memkv_par_participate next.
 */
MemkvParBuild *
memkv_par_begin(Relation heap, Relation index, IndexInfo *indexInfo)
{
	int			nworkers = memkv_par_plan(heap, index, indexInfo);
	ParallelContext *pcxt;
	MemkvParShared *shared;
	MemkvParBuild *pb;
	Size		scansize;
	int			querylen = 0;

	if (nworkers <= 0)
		return NULL;

	EnterParallelMode();
	pcxt = CreateParallelContext("memkv", "memkv_build_worker_main",
								 nworkers);
	scansize = table_parallelscan_estimate(heap, SnapshotAny);
	shm_toc_estimate_chunk(&pcxt->estimator, memkv_par_shared_size(nworkers));
	shm_toc_estimate_chunk(&pcxt->estimator, scansize);
	shm_toc_estimate_chunk(&pcxt->estimator,
						   mul_size(sizeof(WalUsage), nworkers));
	shm_toc_estimate_chunk(&pcxt->estimator,
						   mul_size(sizeof(BufferUsage), nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 4);
	if (debug_query_string)
	{
		querylen = strlen(debug_query_string);
		shm_toc_estimate_chunk(&pcxt->estimator, querylen + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	pb = palloc0(sizeof(MemkvParBuild));
	pb->pcxt = pcxt;
	shared = shm_toc_allocate(pcxt->toc, memkv_par_shared_size(nworkers));
	memset(shared, 0, memkv_par_shared_size(nworkers));
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->nworkers = nworkers;
	shared->part_mem = (Size) maintenance_work_mem * 1024 / (nworkers + 1);
	SharedFileSetInit(&shared->fileset, pcxt->seg);
	shm_toc_insert(pcxt->toc, MEMKV_PAR_KEY_SHARED, shared);
	pb->shared = shared;

	pb->pscan = shm_toc_allocate(pcxt->toc, scansize);
	table_parallelscan_initialize(heap, pb->pscan, SnapshotAny);
	shm_toc_insert(pcxt->toc, MEMKV_PAR_KEY_SCAN, pb->pscan);

	pb->walusage = shm_toc_allocate(pcxt->toc,
									mul_size(sizeof(WalUsage), nworkers));
	shm_toc_insert(pcxt->toc, MEMKV_PAR_KEY_WAL_USAGE, pb->walusage);
	pb->bufferusage = shm_toc_allocate(pcxt->toc,
									   mul_size(sizeof(BufferUsage), nworkers));
	shm_toc_insert(pcxt->toc, MEMKV_PAR_KEY_BUFFER_USAGE, pb->bufferusage);
	if (debug_query_string)
	{
		char	   *query = shm_toc_allocate(pcxt->toc, querylen + 1);

		memcpy(query, debug_query_string, querylen + 1);
		shm_toc_insert(pcxt->toc, MEMKV_PAR_KEY_QUERY_TEXT, query);
	}

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		memkv_par_end(pb);
		return NULL;
	}
	return pb;
}

/* Participants (launched workers + the leader). */
int
memkv_par_participants(MemkvParBuild *pb)
{
	return pb->pcxt->nworkers_launched + 1;
}

/*
 * Add worker w's NULL TIDs, from its file in the SharedFileSet, to *out's.
 */
static void
memkv_par_adopt_nulls(MemkvParBuild *pb, int w, MemkvBuildPart *out)
{
	uint64		n = pb->shared->results[w].nnulls;
	Size		bytes = n * sizeof(ItemPointerData);
	char		name[MAXPGPATH];
	BufFile    *f;

	if (n == 0)
		return;
	snprintf(name, sizeof(name), "memkv.%d.nulls", w);
	f = BufFileOpenFileSet(&pb->shared->fileset.fs, name, O_RDONLY, false);
	if (out->nulls == NULL)
		out->nulls = MemoryContextAllocHuge(CurrentMemoryContext, bytes);
	else
		out->nulls = repalloc_huge(out->nulls,
								   (out->nnulls + n) * sizeof(ItemPointerData));
	if (BufFileRead(f, out->nulls + out->nnulls, bytes) != bytes)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("memkv build: could not read a parallel worker's NULL keys: %m")));
	out->nnulls += n;
	BufFileClose(f);
}

/*
 * The leader's part: scan its share of the table into ss (its own spills,
 * temporary files; merge_mem as for a serial build), wait for the workers
 * (a worker's ERROR is raised here), then add their spills to ss and
 * their NULL TIDs and tuple counts to *out.
 */
void
memkv_par_participate(MemkvParBuild *pb, Relation heap, Relation index,
					  IndexInfo *indexInfo, MemkvSpillSet *ss,
					  MemkvBuildPart *out)
{
	TableScanDesc scan = table_beginscan_parallel(heap, pb->pscan);
	int			i;

	memkv_build_participate(heap, index, indexInfo, scan,
							pb->shared->part_mem, ss, true, out);
	elog(DEBUG1, "memkv build: the leader's share: %.0f tuples, sorting chunks %.0f ms, writing spills %.0f ms",
		 out->indtuples, out->sort_ms, out->write_ms);
	WaitForParallelWorkersToFinish(pb->pcxt);
	for (i = 0; i < pb->pcxt->nworkers_launched; i++)
	{
		MemkvParResult *r = &pb->shared->results[i];

		InstrAccumParallelQuery(&pb->bufferusage[i], &pb->walusage[i]);
		if (!r->done)
			elog(ERROR, "memkv build: parallel worker %d ended without its result", i);
		memkv_spill_adopt(ss, &pb->shared->fileset, i, r->nspills);
		memkv_par_adopt_nulls(pb, i, out);
		out->reltuples += r->reltuples;
		out->indtuples += r->indtuples;
	}
	elog(DEBUG1, "memkv build: parallel scan by %d participants (%d workers launched of %d planned), %.0f kB of keys each",
		 memkv_par_participants(pb), pb->pcxt->nworkers_launched,
		 pb->shared->nworkers, (double) pb->shared->part_mem / 1024);
}

/*
 * End the parallel build: wait for the workers (again: harmless), destroy
 * the context with its segment and the SharedFileSet's files, and leave
 * parallel mode.  The caller has closed every spill it opened.
 */
void
memkv_par_end(MemkvParBuild *pb)
{
	WaitForParallelWorkersToFinish(pb->pcxt);
	DestroyParallelContext(pb->pcxt);
	ExitParallelMode();
	pfree(pb);
}

/*
 * A worker's entry point (CreateParallelContext names it): open the
 * relations under the locks the leader holds (the lock group shares
 * them), scan its share and spill it to the SharedFileSet, write its NULL
 * TIDs there, and fill its result slot.
 */
void
memkv_build_worker_main(dsm_segment *seg, shm_toc *toc)
{
	MemkvParShared *shared = shm_toc_lookup(toc, MEMKV_PAR_KEY_SHARED, false);
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, MEMKV_PAR_KEY_SCAN,
												 false);
	WalUsage   *walusage = shm_toc_lookup(toc, MEMKV_PAR_KEY_WAL_USAGE, false);
	BufferUsage *bufferusage = shm_toc_lookup(toc, MEMKV_PAR_KEY_BUFFER_USAGE,
											  false);
	MemkvParResult *r = &shared->results[ParallelWorkerNumber];
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	MemkvSpillSet *ss;
	MemkvBuildPart part;

	debug_query_string = shm_toc_lookup(toc, MEMKV_PAR_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	Assert(ParallelWorkerNumber >= 0 &&
		   ParallelWorkerNumber < shared->nworkers);

	/* the locks of a non-concurrent CREATE INDEX, as nbtsort.c's workers */
	heap = table_open(shared->heaprelid, ShareLock);
	index = index_open(shared->indexrelid, AccessExclusiveLock);
	indexInfo = BuildIndexInfo(index);
	SharedFileSetAttach(&shared->fileset, seg);

	InstrStartParallelQuery();
	memset(&part, 0, sizeof(part));
	ss = memkv_spill_begin_shared(&shared->fileset, ParallelWorkerNumber);
	memkv_build_participate(heap, index, indexInfo,
							table_beginscan_parallel(heap, pscan),
							shared->part_mem, ss, false, &part);
	r->nspills = memkv_spill_export(ss);
	if (part.nnulls > 0)
	{
		char		name[MAXPGPATH];
		BufFile    *f;

		snprintf(name, sizeof(name), "memkv.%d.nulls", ParallelWorkerNumber);
		f = BufFileCreateFileSet(&shared->fileset.fs, name);
		BufFileWrite(f, part.nulls, part.nnulls * sizeof(ItemPointerData));
		BufFileClose(f);
	}
	r->nnulls = part.nnulls;
	r->reltuples = part.reltuples;
	r->indtuples = part.indtuples;
	r->done = true;
	elog(DEBUG1, "memkv build: parallel worker %d scanned %.0f tuples into %d spills",
		 ParallelWorkerNumber, part.indtuples, r->nspills);
	InstrEndParallelQuery(&bufferusage[ParallelWorkerNumber],
						  &walusage[ParallelWorkerNumber]);

	index_close(index, AccessExclusiveLock);
	table_close(heap, ShareLock);
}
