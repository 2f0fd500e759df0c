/*-------------------------------------------------------------------------
 *
 * buildspill.c
 *	  CREATE INDEX beyond maintenance_work_mem: each chunk of keys the
 *	  build sorted (keysort) is written to a temporary file, front-coded
 *	  by spill.c; at the end the spills are merged, in several passes if
 *	  their read buffers would not fit, and the last pass feeds the run
 *	  writer one distinct key at a time with its TIDs.
 *
 * spill.c does the encoding, decoding and the k-way merge, all in the
 * caller's buffers; this file owns the BufFiles and the buffers and turns
 * spill.c's errors into ERRORs.  A spill is a BufFile of its own, created
 * by BufFileCreateTemp: the resource owner closes and deletes it if the
 * build fails or is canceled, and an intermediate pass deletes its inputs
 * as soon as it has merged them.  In a parallel build (buildpar.c) each
 * participant's spills are files of the build's SharedFileSet instead, so
 * that the leader can open them and merge them with its own.
 *
 * Memory: a sorted chunk is written through one block buffer
 * (SPILL_BLOCK_BYTES) and a small TID buffer; a merge holds, per input, a
 * SpillReader, its block buffer and the BufFile's own BLCKSZ buffer, and
 * takes as many inputs at once as fit in the merge_mem given at the start
 * (at least two).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/buffile.h"
#include "storage/sharedfileset.h"
#include "utils/memutils.h"

#include "buildspill.h"
#include "memutil.h"
#include "pg_compat.h"
#include "spill.h"

/* What one input of a merge costs: reader, block buffer, BufFile buffer. */
#define MEMKV_SPILL_READER_MEM \
	(sizeof(SpillReader) + SPILL_BLOCK_BYTES + BLCKSZ + 256)

/* What the output of an intermediate pass costs. */
#define MEMKV_SPILL_WRITER_MEM \
	(sizeof(SpillWriter) + SPILL_BLOCK_BYTES + BLCKSZ + 256)

struct MemkvSpillSet
{
	MemoryContext cxt;			/* everything below */
	Size		merge_mem;
	SharedFileSet *fileset;		/* a participant's: spills go there */
	int			participant;	/* the spills' names: memkv.<p>.<n> */
	BufFile   **files;			/* the spills not merged yet, in order */
	int			nfiles;
	Size		maxfiles;
	MemkvSpillStats stats;
};

/* SpillWriteFn over a BufFile; BufFileWrite raises its own errors. */
static int
memkv_spill_write_cb(void *arg, const uint8_t *data, size_t len)
{
	BufFileWrite((BufFile *) arg, unconstify(uint8_t *, data), len);
	return 0;
}

/* SpillReadFn over a BufFile; BufFileRead raises its own errors. */
static int64_t
memkv_spill_read_cb(void *arg, uint8_t *buf, size_t len)
{
	return (int64_t) BufFileRead((BufFile *) arg, buf, len);
}

/*
 * Start a build's spills.  merge_mem bounds the buffers of a merge pass;
 * everything is allocated in a child of the current memory context.
 */
MemkvSpillSet *
memkv_spill_begin(Size merge_mem)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "memkv build spills",
											  ALLOCSET_DEFAULT_SIZES);
	MemkvSpillSet *ss = MemoryContextAllocZero(cxt, sizeof(MemkvSpillSet));

	ss->cxt = cxt;
	ss->merge_mem = merge_mem;
	return ss;
}

/*
 * Start the spills of one participant of a parallel build: they are files
 * of the build's SharedFileSet, named after the participant, that the
 * leader opens (memkv_spill_adopt) once the participant has given them up
 * (memkv_spill_export).  No merge happens in a participant.
 */
MemkvSpillSet *
memkv_spill_begin_shared(SharedFileSet *fileset, int participant)
{
	MemkvSpillSet *ss = memkv_spill_begin(0);

	ss->fileset = fileset;
	ss->participant = participant;
	return ss;
}

/* The name of a participant's n-th spill in the SharedFileSet. */
void
memkv_spill_name(char *name, int participant, int n)
{
	snprintf(name, MAXPGPATH, "memkv.%d.%d", participant, n);
}

/*
 * A participant's spills are all written: close them (the SharedFileSet
 * keeps the files until the build's DSM segment goes away), free the set,
 * and return how many there are.
 */
int
memkv_spill_export(MemkvSpillSet *ss)
{
	int			n = ss->nfiles;
	int			i;

	Assert(ss->fileset != NULL);
	for (i = 0; i < n; i++)
		BufFileClose(ss->files[i]);
	MemoryContextDelete(ss->cxt);
	return n;
}

/*
 * Add another participant's nspills spills, opened read-only from the
 * SharedFileSet, to the leader's set, to be merged with its own.  Closing
 * them (a merge pass does) does not delete them: the SharedFileSet does,
 * with the DSM segment.
 */
void
memkv_spill_adopt(MemkvSpillSet *ss, SharedFileSet *fileset, int participant,
				  int nspills)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ss->cxt);
	int			i;

	for (i = 0; i < nspills; i++)
	{
		char		name[MAXPGPATH];

		memkv_spill_name(name, participant, i);
		ss->files = memkv_array_reserve(ss->cxt, ss->files, &ss->maxfiles,
										ss->nfiles + 1, sizeof(BufFile *),
										16);
		ss->files[ss->nfiles++] = BufFileOpenFileSet(&fileset->fs, name,
													 O_RDONLY, false);
		ss->stats.nspills++;
	}
	MemoryContextSwitchTo(oldcxt);
}

/* A writer's failure is a bug of its caller: the order is ours. */
static void
memkv_spill_check_writer(SpillWriter *sw, SpillStatus st)
{
	if (st != SPILL_OK)
		elog(ERROR, "memkv build: writing a spill failed: %s", sw->errmsg);
}

/* Add a new, empty spill at the end of the set; returns its BufFile. */
static BufFile *
memkv_spill_new_file(MemkvSpillSet *ss)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ss->cxt);
	BufFile    *f;

	ss->files = memkv_array_reserve(ss->cxt, ss->files, &ss->maxfiles,
									ss->nfiles + 1, sizeof(BufFile *), 16);
	if (ss->fileset != NULL)
	{
		char		name[MAXPGPATH];

		memkv_spill_name(name, ss->participant, ss->nfiles);
		f = BufFileCreateFileSet(&ss->fileset->fs, name);
	}
	else
		f = BufFileCreateTemp(false);
	ss->files[ss->nfiles++] = f;
	MemoryContextSwitchTo(oldcxt);
	return f;
}

/*
 * Write items[0..nitems) -- sorted by keysort, so by (key, TID) -- as a
 * new spill.  Equal keys become one key with its TIDs, a TID given twice
 * for a key is kept once.
 */
void
memkv_spill_sorted(MemkvSpillSet *ss, const KeysortItem *items,
				   uint64 nitems)
{
	SpillWriter *sw;
	uint8	   *block;
	uint64		tids[SPILL_ENTRY_TIDS];
	int			ntids = 0;
	uint64		i;
	BufFile    *f;

	if (nitems == 0)
		return;
	f = memkv_spill_new_file(ss);
	sw = MemoryContextAlloc(ss->cxt, sizeof(SpillWriter));
	block = MemoryContextAlloc(ss->cxt, SPILL_BLOCK_BYTES);
	memkv_spill_check_writer(sw, spill_writer_init(sw, block,
												   SPILL_BLOCK_BYTES,
												   memkv_spill_write_cb, f));
	for (i = 0; i < nitems; i++)
	{
		const KeysortItem *it = &items[i];
		bool		same_key = i > 0 && it->len == items[i - 1].len &&
			memcmp(it->key, items[i - 1].key, it->len) == 0;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (same_key && it->tid == items[i - 1].tid)
			continue;
		/* a new key, or a full buffer: the writer takes what is held */
		if (ntids > 0 && (!same_key || ntids == SPILL_ENTRY_TIDS))
		{
			const KeysortItem *prev = &items[i - 1];

			memkv_spill_check_writer(sw, spill_writer_add(sw, prev->key,
														  prev->len, tids,
														  ntids));
			ntids = 0;
		}
		tids[ntids++] = it->tid;
	}
	memkv_spill_check_writer(sw, spill_writer_add(sw, items[nitems - 1].key,
												  items[nitems - 1].len,
												  tids, ntids));
	memkv_spill_check_writer(sw, spill_writer_finish(sw));
	ss->stats.nspills++;
	ss->stats.nbytes += sw->nbytes;
	pfree(block);
	pfree(sw);
}

/*
 * The merge of files[0..n): one reader per file, each rewound to its
 * start.  Everything is allocated in cxt.
 */
typedef struct MemkvSpillMerge
{
	SpillMerge	merge;
	SpillReader **readers;
	int			nreaders;
} MemkvSpillMerge;

/*
 * The ERROR for a spill the merge could not decode, with spill.c's
 * reason (left in sm->merge.errmsg).  Both the merge's start and its steps
 * raise it.
 */
static void memkv_spill_merge_damaged(MemkvSpillMerge *sm) pg_attribute_noreturn();

static void
memkv_spill_merge_damaged(MemkvSpillMerge *sm)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("memkv build: a temporary spill file is damaged: %s",
					sm->merge.errmsg),
			 errhint("The disk holding temp_tablespaces may be failing; run CREATE INDEX again.")));
}

static MemkvSpillMerge *
memkv_spill_merge_start(MemoryContext cxt, BufFile **files, int n)
{
	MemkvSpillMerge *sm = MemoryContextAlloc(cxt, sizeof(MemkvSpillMerge));
	int			i;
	SpillStatus st;

	sm->readers = MemoryContextAlloc(cxt, n * sizeof(SpillReader *));
	sm->nreaders = n;
	for (i = 0; i < n; i++)
	{
		SpillReader *r = MemoryContextAlloc(cxt, sizeof(SpillReader));
		uint8	   *buf = MemoryContextAlloc(cxt, SPILL_BLOCK_BYTES);

		if (BufFileSeek(files[i], 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("memkv build: could not rewind a temporary spill file: %m")));
		spill_reader_init(r, buf, memkv_spill_read_cb, files[i]);
		sm->readers[i] = r;
	}
	st = spill_merge_init(&sm->merge, sm->readers, n);
	if (st < 0)
		memkv_spill_merge_damaged(sm);
	return sm;
}

/* The merge's next piece, or false at its end; damage is an ERROR. */
static bool
memkv_spill_merge_next(MemkvSpillMerge *sm, SpillMergeOut *out)
{
	SpillStatus st = spill_merge_next(&sm->merge, out);

	if (st == SPILL_END)
		return false;
	if (st < 0)
		memkv_spill_merge_damaged(sm);
	return true;
}

/*
 * Merge files[first..first+n) into one new spill, appended to the set;
 * the inputs are closed (deleted) and their slots set to NULL.
 */
static void
memkv_spill_merge_group(MemkvSpillSet *ss, int first, int n)
{
	MemoryContext passcxt = AllocSetContextCreate(ss->cxt,
												  "memkv build merge pass",
												  ALLOCSET_DEFAULT_SIZES);
	MemkvSpillMerge *sm;
	SpillWriter *sw;
	SpillMergeOut out;
	BufFile    *f;
	uint64		pieces = 0;
	int			i;

	sm = memkv_spill_merge_start(passcxt, ss->files + first, n);
	f = memkv_spill_new_file(ss);
	sw = MemoryContextAlloc(passcxt, sizeof(SpillWriter));
	memkv_spill_check_writer(sw,
							 spill_writer_init(sw,
											   MemoryContextAlloc(passcxt, SPILL_BLOCK_BYTES),
											   SPILL_BLOCK_BYTES,
											   memkv_spill_write_cb, f));
	while (memkv_spill_merge_next(sm, &out))
	{
		if ((++pieces & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		memkv_spill_check_writer(sw, spill_writer_add(sw, out.key, out.keylen,
													  out.tids, out.ntids));
	}
	memkv_spill_check_writer(sw, spill_writer_finish(sw));
	ss->stats.nbytes += sw->nbytes;
	for (i = first; i < first + n; i++)
	{
		BufFileClose(ss->files[i]);
		ss->files[i] = NULL;
	}
	MemoryContextDelete(passcxt);
}

/*
 * Merge passes until at most fanin spills are left: each pass merges the
 * spills in groups of fanin (a last group of one stays as it is).
 */
static void
memkv_spill_reduce(MemkvSpillSet *ss, int fanin)
{
	while (ss->nfiles > fanin)
	{
		int			nold = ss->nfiles;
		int			first;
		int			j = 0;
		int			i;

		for (first = 0; first < nold; first += fanin)
		{
			int			n = Min(fanin, nold - first);

			if (n > 1)
				memkv_spill_merge_group(ss, first, n);
			else
			{
				/* move the lone spill after the new ones: keep it */
				ss->files = memkv_array_reserve(ss->cxt, ss->files,
												&ss->maxfiles,
												ss->nfiles + 1,
												sizeof(BufFile *), 16);
				ss->files[ss->nfiles++] = ss->files[first];
				ss->files[first] = NULL;
			}
		}
		/* the pass's outputs, compacted to the front */
		for (i = nold; i < ss->nfiles; i++)
			ss->files[j++] = ss->files[i];
		ss->nfiles = j;
		ss->stats.npasses++;
	}
}

/*
 * Merge all the spills into the writer: each distinct key once, with its
 * TIDs ascending (the NULL keys are the caller's).  Intermediate passes
 * first if more spills than merge_mem's buffers allow.  Returns the TIDs
 * handed to the writer; pg_stat_progress_create_index's tuples_done
 * follows them.
 */
uint64
memkv_spill_merge_into(MemkvSpillSet *ss, MemkvFrozenWriter *w)
{
	int			fanin;
	MemoryContext passcxt;
	MemkvSpillMerge *sm;
	SpillMergeOut out;
	uint8	   *key;
	Size		keylen = 0;
	ItemPointerData *group = NULL;
	uint64		ngroup = 0;
	Size		maxgroup = 0;
	uint64		done = 0;
	uint64		pieces = 0;
	instr_time	t0,
				t1;

	if (ss->merge_mem > MEMKV_SPILL_WRITER_MEM + 2 * MEMKV_SPILL_READER_MEM)
		fanin = (int) Min((ss->merge_mem - MEMKV_SPILL_WRITER_MEM) /
						  MEMKV_SPILL_READER_MEM, (Size) 4096);
	else
		fanin = 2;
	ss->stats.fanin = fanin;
	INSTR_TIME_SET_CURRENT(t0);
	memkv_spill_reduce(ss, fanin);
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	ss->stats.reduce_ms = INSTR_TIME_GET_MILLISEC(t1);
	if (ss->nfiles == 0)
		return 0;

	passcxt = AllocSetContextCreate(ss->cxt, "memkv build final merge",
									ALLOCSET_DEFAULT_SIZES);
	key = MemoryContextAlloc(passcxt, SPILL_MAX_KEY);
	sm = memkv_spill_merge_start(passcxt, ss->files, ss->nfiles);
	while (memkv_spill_merge_next(sm, &out))
	{
		uint32		i;

		if ((++pieces & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (out.new_key)
		{
			if (ngroup > 0)
			{
				memkv_frozen_writer_add(w, key, keylen, group, ngroup);
				done += ngroup;
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
											 (int64) done);
			}
			memcpy(key, out.key, out.keylen);
			keylen = out.keylen;
			ngroup = 0;
		}
		group = memkv_array_reserve(passcxt, group, &maxgroup,
									ngroup + out.ntids,
									sizeof(ItemPointerData), 64);
		for (i = 0; i < out.ntids; i++)
			ItemPointerSet(&group[ngroup + i],
						   (BlockNumber) (out.tids[i] >> 16),
						   (OffsetNumber) (out.tids[i] & 0xFFFF));
		ngroup += out.ntids;
	}
	if (ngroup > 0)
	{
		memkv_frozen_writer_add(w, key, keylen, group, ngroup);
		done += ngroup;
	}
	ss->stats.npasses++;
	MemoryContextDelete(passcxt);
	return done;
}

/*
 * Close (delete) every spill left and free the set; *stats, if not NULL,
 * gets what the spills took.
 */
void
memkv_spill_end(MemkvSpillSet *ss, MemkvSpillStats *stats)
{
	int			i;

	if (stats)
		*stats = ss->stats;
	for (i = 0; i < ss->nfiles; i++)
		if (ss->files[i] != NULL)
			BufFileClose(ss->files[i]);
	MemoryContextDelete(ss->cxt);
}
