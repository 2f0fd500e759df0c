/*-------------------------------------------------------------------------
 *
 * buildpar.c
 *	  Parallel CREATE INDEX: memkv's own ParallelContext, whose workers
 *	  and the leader each scan a share of the table's blocks (a parallel
 *	  heap scan), sort their keys by chunks and spill them all; then each
 *	  merges one key range of every participant's spills into a run
 *	  writer of its own, and the leader stores the workers' slices after
 *	  its own as the slices of one run (src/README, "Parallel CREATE
 *	  INDEX").
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
 * participant's memory, a SharedFileSet holding every participant's
 * spills with their sparse indexes, the workers' NULL TIDs, the split
 * keys and the workers' slice images, the parallel scan, a spinlock and
 * condition variable for the two hand-offs (every worker has scanned;
 * the ranges are chosen), and one result slot per worker (its scan's
 * figures, then its range's), written by that worker alone before the
 * hand-off that follows and read by the leader after it.  A worker's
 * ERROR reaches the leader, which fails the build with it (while it
 * waits on the condition variable too: the error's interrupt wakes it);
 * the files go away with the segment, and nothing is visible before the
 * leader writes the metapage.
 *
 * Memory: each of the participants (workers + leader) collects keys in
 * maintenance_work_mem / participants, then merges its range with half
 * of that for its merge buffers and half for its run writer's budget.
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
#include "storage/condition_variable.h"
#include "storage/sharedfileset.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "buildpar.h"
#include "memkv_guc.h"
#include "pg_compat.h"
#include "spill.h"

#define MEMKV_PAR_KEY_SHARED		UINT64CONST(0xA11CE00000000001)
#define MEMKV_PAR_KEY_SCAN			UINT64CONST(0xA11CE00000000002)
#define MEMKV_PAR_KEY_QUERY_TEXT	UINT64CONST(0xA11CE00000000003)
#define MEMKV_PAR_KEY_WAL_USAGE		UINT64CONST(0xA11CE00000000004)
#define MEMKV_PAR_KEY_BUFFER_USAGE	UINT64CONST(0xA11CE00000000005)

/* What a worker leaves for the leader. */
typedef struct MemkvParResult
{
	/* phase 1: the scan */
	bool		done;
	int			nspills;		/* memkv.<worker>.0 .. nspills - 1 */
	uint64		nnulls;			/* TIDs in memkv.<worker>.nulls */
	double		reltuples;
	double		indtuples;
	/* phase 2: its key range's slices, in memkv.<worker>.slices */
	bool		range_done;
	uint64		nkeys;
	uint64		ntids;
	uint32		nslices;
	uint8		lo[RUNDIR_BOUND_BYTES];
	uint8		hi[RUNDIR_BOUND_BYTES];
	uint8		lo_len;
	uint8		hi_len;
	uint32		lastlen;
	uint8		last[SPILL_MAX_KEY];	/* the range's last key */
} MemkvParResult;

typedef struct MemkvParShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	int			nworkers;		/* planned; result slots */
	Size		part_mem;		/* bytes of keys a participant collects */
	Size		merge_mem;		/* a participant's range merge's buffers */
	Size		writer_budget;	/* and its run writer's budget */
	SharedFileSet fileset;
	slock_t		mutex;			/* protects the three below */
	ConditionVariable cv;		/* a worker scanned, or the ranges are set */
	int			nscanned;		/* workers done with their scan */
	bool		ranges_ready;	/* memkv.splits written, the fields below set */
	int			nranges;		/* participants: ranges of the merge */
	int			leader_nspills; /* memkv.<nworkers>.0 .. - 1 */
	MemkvParResult results[FLEXIBLE_ARRAY_MEMBER];
} MemkvParShared;

/* A slice image in memkv.<worker>.slices, followed by its bytes. */
typedef struct MemkvParSliceRec
{
	uint64		postings_len;
	uint64		fst_len;
	uint64		top_start;
	uint64		nkeys;
	uint32		fence_len;
	bool		first_of_range;
} MemkvParSliceRec;

/* The leader's handle on a parallel build. */
struct MemkvParBuild
{
	ParallelContext *pcxt;
	MemkvParShared *shared;
	ParallelTableScanDesc pscan;
	WalUsage   *walusage;
	BufferUsage *bufferusage;
	double		merge_ms;		/* the leader's range merge */
	double		copy_ms;		/* storing the workers' slices */
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
	shared->part_mem = memkv_debug_build_part_kb > 0 ?
		(Size) memkv_debug_build_part_kb * 1024 :
		(Size) maintenance_work_mem * 1024 / (nworkers + 1);
	/* the merge: half of each share for input, half for the run writer */
	shared->merge_mem = shared->part_mem / 2;
	shared->writer_budget = shared->part_mem / 2;
	SharedFileSetInit(&shared->fileset, pcxt->seg);
	SpinLockInit(&shared->mutex);
	ConditionVariableInit(&shared->cv);
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
	/* the leader waits for every launched worker's scan: all must start */
	WaitForParallelWorkersToAttach(pcxt);
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
 * Add every participant's spills (the workers' launched, then the
 * leader's), with their sparse indexes, to ss.
 */
static void
memkv_par_adopt_all(MemkvParShared *shared, MemkvSpillSet *ss)
{
	int			i;

	for (i = 0; i < shared->nranges - 1; i++)
		memkv_spill_adopt(ss, &shared->fileset, i, shared->results[i].nspills);
	memkv_spill_adopt(ss, &shared->fileset, shared->nworkers,
					  shared->leader_nspills);
}

/* Wait until every launched worker has scanned its share. */
static void
memkv_par_wait_scans(MemkvParBuild *pb)
{
	MemkvParShared *shared = pb->shared;

	ConditionVariablePrepareToSleep(&shared->cv);
	for (;;)
	{
		int			n;

		SpinLockAcquire(&shared->mutex);
		n = shared->nscanned;
		SpinLockRelease(&shared->mutex);
		if (n >= pb->pcxt->nworkers_launched)
			break;
		/* a worker's ERROR is raised here, by the interrupt it sends */
		ConditionVariableSleep(&shared->cv,
							   WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();
}

/*
 * Choose the merge's key ranges (memkv_spill_choose_splits, one range a
 * participant), write the split keys to "memkv.splits" (each a uint32
 * length and its bytes), and let the workers go on to their ranges.
 */
static void
memkv_par_set_ranges(MemkvParBuild *pb)
{
	MemkvParShared *shared = pb->shared;
	int			nranges = memkv_par_participants(pb);
	MemkvSpillSet *ss = memkv_spill_begin(0);
	uint8	  **keys;
	Size	   *lens;
	BufFile    *f;
	int			i;

	shared->nranges = nranges;
	memkv_par_adopt_all(shared, ss);
	memkv_spill_choose_splits(ss, nranges, &keys, &lens);
	memkv_spill_end(ss, NULL);
	f = BufFileCreateFileSet(&shared->fileset.fs, "memkv.splits");
	for (i = 0; i < nranges - 1; i++)
	{
		uint32		len = (uint32) lens[i];

		BufFileWrite(f, &len, sizeof(len));
		BufFileWrite(f, keys[i], len);
	}
	BufFileClose(f);
	SpinLockAcquire(&shared->mutex);
	shared->ranges_ready = true;
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->cv);
}

/* The ERROR for a parallel build's damaged or short file. */
static void memkv_par_damaged(const char *what) pg_attribute_noreturn();

static void
memkv_par_damaged(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("memkv build: %s of a parallel build is damaged or short", what),
			 errhint("The disk holding temp_tablespaces may be failing; run CREATE INDEX again.")));
}

/* Read len bytes of a parallel build's file f, or fail. */
static void
memkv_par_read(BufFile *f, void *buf, Size len, const char *what)
{
	if (len > 0 && BufFileRead(f, buf, len) != len)
		memkv_par_damaged(what);
}

/*
 * Merge range `range` of every participant's spills into w: the keys from
 * split range - 1 (the first range: from the start) up to split range
 * (the last: to the end), with the participant's merge buffers.  Returns
 * the TIDs handed to w.
 */
static uint64
memkv_par_merge_range(MemkvParShared *shared, int range, MemkvFrozenWriter *w)
{
	MemkvSpillSet *ss = memkv_spill_begin(shared->merge_mem);
	int			nsplits = shared->nranges - 1;
	uint8	  **keys = palloc0(sizeof(uint8 *) * Max(nsplits, 1));
	uint32	   *lens = palloc0(sizeof(uint32) * Max(nsplits, 1));
	BufFile    *f;
	uint64		n;
	int			i;

	f = BufFileOpenFileSet(&shared->fileset.fs, "memkv.splits", O_RDONLY,
						   false);
	for (i = 0; i < nsplits; i++)
	{
		memkv_par_read(f, &lens[i], sizeof(uint32), "a split key");
		if (lens[i] > SPILL_MAX_KEY)
			memkv_par_damaged("a split key");
		keys[i] = palloc(Max(lens[i], 1));
		memkv_par_read(f, keys[i], lens[i], "a split key");
	}
	BufFileClose(f);
	memkv_par_adopt_all(shared, ss);
	memkv_spill_set_range(ss, range > 0 ? keys[range - 1] : NULL,
						  range > 0 ? lens[range - 1] : 0,
						  range < nsplits ? keys[range] : NULL,
						  range < nsplits ? lens[range] : 0);
	n = memkv_spill_merge_into(ss, w);
	memkv_spill_end(ss, NULL);
	return n;
}

/*
 * The leader's part of the scan: scan its share of the table into spills
 * of the SharedFileSet, wait for the workers' scans (a worker's ERROR is
 * raised here), add their NULL TIDs and tuple counts to *out, and choose
 * and publish the merge's key ranges.
 */
void
memkv_par_participate(MemkvParBuild *pb, Relation heap, Relation index,
					  IndexInfo *indexInfo, MemkvBuildPart *out)
{
	MemkvParShared *shared = pb->shared;
	TableScanDesc scan = table_beginscan_parallel(heap, pb->pscan);
	MemkvSpillSet *ss = memkv_spill_begin_shared(&shared->fileset,
												 shared->nworkers,
												 shared->part_mem);
	int			i;

	memkv_build_participate(heap, index, indexInfo, scan, shared->part_mem,
							ss, true, out);
	shared->leader_nspills = memkv_spill_export(ss);
	elog(DEBUG1, "memkv build: the leader's share: %.0f tuples, sorting chunks %.0f ms, writing spills %.0f ms",
		 out->indtuples, out->sort_ms, out->write_ms);
	memkv_par_wait_scans(pb);
	for (i = 0; i < pb->pcxt->nworkers_launched; i++)
	{
		MemkvParResult *r = &shared->results[i];

		if (!r->done)
			elog(ERROR, "memkv build: parallel worker %d ended its scan without its result", i);
		memkv_par_adopt_nulls(pb, i, out);
		out->reltuples += r->reltuples;
		out->indtuples += r->indtuples;
	}
	elog(DEBUG1, "memkv build: parallel scan by %d participants (%d workers launched of %d planned), %.0f kB of keys each",
		 memkv_par_participants(pb), pb->pcxt->nworkers_launched,
		 shared->nworkers, (double) shared->part_mem / 1024);
	memkv_par_set_ranges(pb);
}

/* memkv_frozen_writer_to_images's MemkvSliceOutFn: append to a BufFile. */
static void
memkv_par_write_image(void *arg, const MemkvSliceImage *img)
{
	BufFile    *f = (BufFile *) arg;
	MemkvParSliceRec rec;

	memset(&rec, 0, sizeof(rec));
	rec.postings_len = img->postings_len;
	rec.fst_len = img->fst_len;
	rec.top_start = img->top_start;
	rec.nkeys = img->nkeys;
	rec.fence_len = (uint32) img->fence_len;
	rec.first_of_range = img->first_of_range;
	BufFileWrite(f, &rec, sizeof(rec));
	BufFileWrite(f, img->fence, img->fence_len);
	BufFileWrite(f, img->postings, img->postings_len);
	BufFileWrite(f, img->fst, img->fst_len);
}

/*
 * Store worker i's range: its slices from "memkv.<i>.slices", one at a
 * time, as w's next slices (pages, WAL), then its keys and bounds.
 */
static void
memkv_par_store_range(MemkvParBuild *pb, int i, MemkvFrozenWriter *w)
{
	MemkvParResult *r = &pb->shared->results[i];
	MemkvRangeSummary sum;
	char		name[MAXPGPATH];
	BufFile    *f;
	uint32		j;

	if (!r->range_done)
		elog(ERROR, "memkv build: parallel worker %d ended without its key range", i);
	snprintf(name, sizeof(name), "memkv.%d.slices", i);
	f = BufFileOpenFileSet(&pb->shared->fileset.fs, name, O_RDONLY, false);
	for (j = 0; j < r->nslices; j++)
	{
		MemkvParSliceRec rec;
		MemkvSliceImage img;

		memkv_par_read(f, &rec, sizeof(rec), "a slice image");
		if (rec.fence_len > SPILL_MAX_KEY || rec.top_start > rec.fst_len ||
			rec.postings_len > MaxAllocHugeSize ||
			rec.fst_len > MaxAllocHugeSize)
			memkv_par_damaged("a slice image");
		memset(&img, 0, sizeof(img));
		img.fence = palloc(Max(rec.fence_len, 1));
		img.fence_len = rec.fence_len;
		memkv_par_read(f, img.fence, rec.fence_len, "a slice image");
		img.postings = MemoryContextAllocHuge(CurrentMemoryContext,
											  Max(rec.postings_len, 1));
		img.postings_len = rec.postings_len;
		memkv_par_read(f, img.postings, rec.postings_len, "a slice image");
		img.fst = MemoryContextAllocHuge(CurrentMemoryContext,
										 Max(rec.fst_len, 1));
		img.fst_len = rec.fst_len;
		memkv_par_read(f, img.fst, rec.fst_len, "a slice image");
		img.top_start = rec.top_start;
		img.nkeys = rec.nkeys;
		img.first_of_range = rec.first_of_range;
		memkv_frozen_writer_put_slice(w, &img);
		pfree(img.fence);
	}
	BufFileClose(f);
	memset(&sum, 0, sizeof(sum));
	sum.nkeys = r->nkeys;
	sum.ntids = r->ntids;
	sum.nslices = r->nslices;
	sum.last = r->last;
	sum.lastlen = r->lastlen;
	memcpy(sum.lo, r->lo, RUNDIR_BOUND_BYTES);
	memcpy(sum.hi, r->hi, RUNDIR_BOUND_BYTES);
	sum.lo_len = r->lo_len;
	sum.hi_len = r->hi_len;
	memkv_frozen_writer_put_range(w, &sum);
}

/*
 * The leader's part of the merge: its own range (the first) into w,
 * straight to pages, with a participant's share of the writer's budget;
 * then, the workers finished (a worker's ERROR is raised here), their
 * ranges' slices stored after it, in key order.  The caller finishes w.
 * Returns the TIDs of the leader's range.
 */
uint64
memkv_par_merge(MemkvParBuild *pb, MemkvFrozenWriter *w)
{
	instr_time	t0,
				t1,
				t2;
	uint64		n;
	int			i;

	INSTR_TIME_SET_CURRENT(t0);
	memkv_frozen_writer_set_budget(w, pb->shared->writer_budget);
	n = memkv_par_merge_range(pb->shared, 0, w);
	INSTR_TIME_SET_CURRENT(t1);
	WaitForParallelWorkersToFinish(pb->pcxt);
	for (i = 0; i < pb->pcxt->nworkers_launched; i++)
		InstrAccumParallelQuery(&pb->bufferusage[i], &pb->walusage[i]);
	for (i = 0; i < pb->pcxt->nworkers_launched; i++)
		memkv_par_store_range(pb, i, w);
	INSTR_TIME_SET_CURRENT(t2);
	INSTR_TIME_SUBTRACT(t2, t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	elog(DEBUG1, "memkv build: parallel merge by %d participants: the leader's range %.0f ms, waiting for the workers' and storing their slices %.0f ms",
		 memkv_par_participants(pb), INSTR_TIME_GET_MILLISEC(t1),
		 INSTR_TIME_GET_MILLISEC(t2));
	return n;
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
 * A worker's part of the merge: wait for the leader's key ranges, merge
 * range ParallelWorkerNumber + 1 of every participant's spills into a run
 * writer of its own whose slices go, as images, to "memkv.<worker>.slices",
 * and leave the range's figures in its result slot.
 */
static void
memkv_par_worker_range(MemkvParShared *shared, Relation index,
					   MemkvParResult *r)
{
	char		name[MAXPGPATH];
	BufFile    *f;
	MemkvFrozenWriter *w;
	MemkvRangeSummary sum;

	ConditionVariablePrepareToSleep(&shared->cv);
	for (;;)
	{
		bool		ready;

		SpinLockAcquire(&shared->mutex);
		ready = shared->ranges_ready;
		SpinLockRelease(&shared->mutex);
		if (ready)
			break;
		ConditionVariableSleep(&shared->cv,
							   WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();

	snprintf(name, sizeof(name), "memkv.%d.slices", ParallelWorkerNumber);
	f = BufFileCreateFileSet(&shared->fileset.fs, name);
	w = memkv_frozen_writer_begin(index, 0);
	memkv_frozen_writer_set_budget(w, shared->writer_budget);
	memkv_frozen_writer_to_images(w, memkv_par_write_image, f);
	memkv_par_merge_range(shared, ParallelWorkerNumber + 1, w);
	memkv_frozen_writer_end_images(w, &sum);
	BufFileClose(f);
	r->nkeys = sum.nkeys;
	r->ntids = sum.ntids;
	r->nslices = sum.nslices;
	memcpy(r->lo, sum.lo, RUNDIR_BOUND_BYTES);
	memcpy(r->hi, sum.hi, RUNDIR_BOUND_BYTES);
	r->lo_len = sum.lo_len;
	r->hi_len = sum.hi_len;
	Assert(sum.lastlen <= SPILL_MAX_KEY);
	r->lastlen = (uint32) sum.lastlen;
	memcpy(r->last, sum.last, sum.lastlen);
	r->range_done = true;
	elog(DEBUG1, "memkv build: parallel worker %d merged range %d: " UINT64_FORMAT " keys in %u slices",
		 ParallelWorkerNumber, ParallelWorkerNumber + 1, sum.nkeys,
		 sum.nslices);
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
	ss = memkv_spill_begin_shared(&shared->fileset, ParallelWorkerNumber,
								  shared->part_mem);
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
	SpinLockAcquire(&shared->mutex);
	shared->nscanned++;
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->cv);
	memkv_par_worker_range(shared, index, r);
	InstrEndParallelQuery(&bufferusage[ParallelWorkerNumber],
						  &walusage[ParallelWorkerNumber]);

	index_close(index, AccessExclusiveLock);
	table_close(heap, ShareLock);
}
