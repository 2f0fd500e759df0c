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
 * participant's spills are files of the build's SharedFileSet instead,
 * each with a sparse index of its blocks' first keys, so that every
 * participant can open them all, and merge one key range of them: the
 * split keys come from the sparse indexes (memkv_spill_choose_splits),
 * and each reader starts at the block its index gives for the range.
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

/*
 * A spill's sparse index (a parallel build's spills have one): for each
 * block that holds entries, its number, offset, size and first key, in
 * the spill's order (so by key).  On disk, "memkv.<p>.<n>.idx": each
 * entry's MemkvSpillIndexEntry with key NULL, then its key's bytes.
 */
typedef struct MemkvSpillIndexEntry
{
	uint64		offset;
	uint32		block_no;
	uint32		size;
	uint32		keylen;
	uint8	   *key;
} MemkvSpillIndexEntry;

typedef struct MemkvSpillIndex
{
	MemkvSpillIndexEntry *entries;
	uint32		n;
} MemkvSpillIndex;

struct MemkvSpillSet
{
	MemoryContext cxt;			/* everything below */
	Size		merge_mem;
	SharedFileSet *fileset;		/* a participant's: spills go there */
	int			participant;	/* the spills' names: memkv.<p>.<n> */
	Size		block_bytes;	/* a sorted chunk's spill blocks */
	BufFile   **files;			/* the spills not merged yet, in order */
	MemkvSpillIndex **idx;		/* each one's sparse index, or NULL */
	int			nfiles;
	Size		maxfiles;
	Size		maxidx;
	/* a range merge's bounds (memkv_spill_set_range) */
	bool		ranged;
	const uint8 *lo;			/* NULL: none */
	Size		lolen;
	const uint8 *hi;			/* NULL: none */
	Size		hilen;
	MemkvSpillStats stats;
};

/* Where a shared spill's blocks go, and its sparse index. */
typedef struct MemkvSpillOut
{
	BufFile    *f;
	BufFile    *idxf;			/* NULL: no sparse index */
	uint64		offset;			/* of the next block */
	uint32		block_no;
} MemkvSpillOut;

/*
 * SpillWriteFn over a MemkvSpillOut: the block to its BufFile (which
 * raises its own errors) and, if it keeps one, an entry for the block to
 * its sparse index.
 */
static int
memkv_spill_write_cb(void *arg, const uint8_t *data, size_t len)
{
	MemkvSpillOut *out = (MemkvSpillOut *) arg;
	const uint8_t *key;
	size_t		keylen;

	if (out->idxf != NULL && spill_block_first_key(data, len, &key, &keylen))
	{
		MemkvSpillIndexEntry e;

		memset(&e, 0, sizeof(e));
		e.offset = out->offset;
		e.block_no = out->block_no;
		e.size = (uint32) len;
		e.keylen = (uint32) keylen;
		BufFileWrite(out->idxf, &e, sizeof(e));
		BufFileWrite(out->idxf, unconstify(uint8_t *, key), keylen);
	}
	BufFileWrite(out->f, unconstify(uint8_t *, data), len);
	out->offset += len;
	out->block_no++;
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
	ss->block_bytes = SPILL_BLOCK_BYTES;
	return ss;
}

/*
 * Start the spills of one participant of a parallel build: they are files
 * of the build's SharedFileSet, named after the participant, that every
 * participant opens (memkv_spill_adopt) once this one has given them up
 * (memkv_spill_export), each with its sparse index.  No merge happens
 * here.  The blocks are a 64th of chunk_mem (the participant's memory
 * for keys; a spill takes about a third of it), between SPILL_MIN_BLOCK
 * and SPILL_BLOCK_BYTES, so that even small spills have enough blocks
 * for the split keys to cut the spill bytes in about equal shares.
 */
MemkvSpillSet *
memkv_spill_begin_shared(SharedFileSet *fileset, int participant,
						 Size chunk_mem)
{
	MemkvSpillSet *ss = memkv_spill_begin(0);

	ss->fileset = fileset;
	ss->participant = participant;
	ss->block_bytes = Min(Max(chunk_mem / 64, SPILL_MIN_BLOCK),
						  SPILL_BLOCK_BYTES);
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

/* Room for one more spill in files[] and idx[]. */
static void
memkv_spill_reserve(MemkvSpillSet *ss)
{
	ss->files = memkv_array_reserve(ss->cxt, ss->files, &ss->maxfiles,
									ss->nfiles + 1, sizeof(BufFile *), 16);
	ss->idx = memkv_array_reserve(ss->cxt, ss->idx, &ss->maxidx,
								  ss->nfiles + 1, sizeof(MemkvSpillIndex *),
								  16);
}

/*
 * Read spill `name`'s sparse index from the SharedFileSet into ss's
 * memory.
 */
static MemkvSpillIndex *
memkv_spill_read_index(MemkvSpillSet *ss, SharedFileSet *fileset,
					   const char *name)
{
	char		idxname[MAXPGPATH];
	BufFile    *f;
	MemkvSpillIndex *idx = MemoryContextAllocZero(ss->cxt,
												  sizeof(MemkvSpillIndex));
	Size		max = 0;
	MemkvSpillIndexEntry e;
	size_t		got;

	snprintf(idxname, sizeof(idxname), "%s.idx", name);
	f = BufFileOpenFileSet(&fileset->fs, idxname, O_RDONLY, false);
	while ((got = BufFileRead(f, &e, sizeof(e))) == sizeof(e))
	{
		if (e.keylen > SPILL_MAX_KEY)
			got = 0;
		else
		{
			e.key = MemoryContextAlloc(ss->cxt, Max(e.keylen, 1));
			got = BufFileRead(f, e.key, e.keylen);
		}
		if (got != e.keylen)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("memkv build: the index of temporary spill file \"%s\" is damaged",
							name),
					 errhint("The disk holding temp_tablespaces may be failing; run CREATE INDEX again.")));
		idx->entries = memkv_array_reserve(ss->cxt, idx->entries, &max,
										   idx->n + 1,
										   sizeof(MemkvSpillIndexEntry), 64);
		idx->entries[idx->n++] = e;
	}
	if (got != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("memkv build: the index of temporary spill file \"%s\" is truncated",
						name),
				 errhint("The disk holding temp_tablespaces may be failing; run CREATE INDEX again.")));
	BufFileClose(f);
	return idx;
}

/*
 * Add a participant's nspills spills, opened read-only from the
 * SharedFileSet with their sparse indexes, to ss, to be merged (whole or
 * by key range).  Closing them (a merge pass does) does not delete them:
 * the SharedFileSet does, with the DSM segment.
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
		memkv_spill_reserve(ss);
		ss->idx[ss->nfiles] = memkv_spill_read_index(ss, fileset, name);
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

	memkv_spill_reserve(ss);
	ss->idx[ss->nfiles] = NULL;
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
	MemkvSpillOut out;

	if (nitems == 0)
		return;
	memset(&out, 0, sizeof(out));
	out.f = memkv_spill_new_file(ss);
	if (ss->fileset != NULL)
	{
		char		name[MAXPGPATH];

		/* a parallel build's spill: its sparse index beside it */
		snprintf(name, sizeof(name), "memkv.%d.%d.idx", ss->participant,
				 ss->nfiles - 1);
		out.idxf = BufFileCreateFileSet(&ss->fileset->fs, name);
	}
	sw = MemoryContextAlloc(ss->cxt, sizeof(SpillWriter));
	block = MemoryContextAlloc(ss->cxt, SPILL_BLOCK_BYTES);
	memkv_spill_check_writer(sw, spill_writer_init(sw, block,
												   ss->block_bytes,
												   memkv_spill_write_cb, &out));
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
	if (out.idxf != NULL)
		BufFileClose(out.idxf);
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

/*
 * Where a range merge's reader of a spill with sparse index idx starts:
 * the last block whose first key is below lo (a key's entries may go on
 * into the next blocks), or the first block.
 */
static const MemkvSpillIndexEntry *
memkv_spill_range_start(const MemkvSpillIndex *idx, const uint8 *lo,
						Size lolen)
{
	uint32		a = 0;
	uint32		b;

	if (idx == NULL || lo == NULL || idx->n == 0)
		return NULL;
	b = idx->n;
	/* the first entry whose key is >= lo is at a */
	while (a < b)
	{
		uint32		m = a + (b - a) / 2;

		if (spill_key_cmp(idx->entries[m].key, idx->entries[m].keylen,
						  lo, lolen) < 0)
			a = m + 1;
		else
			b = m;
	}
	return a > 0 ? &idx->entries[a - 1] : NULL;
}

/*
 * Start merging ss's spills first .. first + n - 1: one reader each, at
 * the spill's start, or, in a range merge, at the block its sparse index
 * gives for the range's start, and kept to the range.
 */
static MemkvSpillMerge *
memkv_spill_merge_start(MemkvSpillSet *ss, MemoryContext cxt, int first,
						int n)
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
		BufFile    *f = ss->files[first + i];
		const MemkvSpillIndexEntry *at = NULL;

		if (ss->ranged)
			at = memkv_spill_range_start(ss->idx[first + i], ss->lo,
										 ss->lolen);
		if (BufFileSeek(f, 0, at ? (off_t) at->offset : 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("memkv build: could not seek in a temporary spill file: %m")));
		spill_reader_init(r, buf, memkv_spill_read_cb, f);
		if (ss->ranged)
			spill_reader_set_range(r, at ? at->block_no : 0, ss->lo,
								   ss->lolen, ss->hi, ss->hilen);
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
	MemkvSpillOut f;
	uint64		pieces = 0;
	int			i;

	sm = memkv_spill_merge_start(ss, passcxt, first, n);
	memset(&f, 0, sizeof(f));
	f.f = memkv_spill_new_file(ss);
	sw = MemoryContextAlloc(passcxt, sizeof(SpillWriter));
	memkv_spill_check_writer(sw,
							 spill_writer_init(sw,
											   MemoryContextAlloc(passcxt, SPILL_BLOCK_BYTES),
											   SPILL_BLOCK_BYTES,
											   memkv_spill_write_cb, &f));
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
				memkv_spill_reserve(ss);
				ss->idx[ss->nfiles] = ss->idx[first];
				ss->files[ss->nfiles++] = ss->files[first];
				ss->files[first] = NULL;
			}
		}
		/* the pass's outputs, compacted to the front */
		for (i = nold; i < ss->nfiles; i++)
		{
			ss->idx[j] = ss->idx[i];
			ss->files[j++] = ss->files[i];
		}
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
	sm = memkv_spill_merge_start(ss, passcxt, 0, ss->nfiles);
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

/*
 * Make the next merge of ss (memkv_spill_merge_into) a range merge: only
 * the keys in [lo, hi) (lo or hi NULL: unbounded), each spill read from
 * the block its sparse index gives for lo.  The bounds are the caller's
 * until the merge is done.
 */
void
memkv_spill_set_range(MemkvSpillSet *ss, const uint8 *lo, Size lolen,
					  const uint8 *hi, Size hilen)
{
	ss->ranged = true;
	ss->lo = lo;
	ss->lolen = lolen;
	ss->hi = hi;
	ss->hilen = hilen;
}

/* qsort comparator of sparse index entries by key. */
static int
memkv_spill_entry_cmp(const void *a, const void *b)
{
	const MemkvSpillIndexEntry *x = *(const MemkvSpillIndexEntry *const *) a;
	const MemkvSpillIndexEntry *y = *(const MemkvSpillIndexEntry *const *) b;

	return spill_key_cmp(x->key, x->keylen, y->key, y->keylen);
}

/*
 * Choose nranges - 1 split keys for a range merge of ss's spills in
 * nranges participants: block first keys of the sparse indexes, ascending
 * (equal ones allowed: the range between them is empty), such that each
 * range holds about an equal share of the spill bytes.  Range r is
 * [split r - 1, split r), the first and last unbounded.  A key is never
 * split: all its TIDs are in one range, however many there are.  The
 * splits (palloc'd in the current context, copies) go to (*keys)[i],
 * (*lens)[i].
 */
void
memkv_spill_choose_splits(MemkvSpillSet *ss, int nranges, uint8 ***keys,
						  Size **lens)
{
	MemkvSpillIndexEntry **all;
	uint64		n = 0;
	uint64		total = 0;
	uint64		cum = 0;
	uint64		e;
	int			k = 0;
	int			i;

	*keys = palloc0(sizeof(uint8 *) * Max(nranges - 1, 1));
	*lens = palloc0(sizeof(Size) * Max(nranges - 1, 1));
	for (i = 0; i < ss->nfiles; i++)
		if (ss->idx[i] != NULL)
			n += ss->idx[i]->n;
	all = palloc_extended(sizeof(MemkvSpillIndexEntry *) * Max(n, 1),
						  MCXT_ALLOC_HUGE);
	n = 0;
	for (i = 0; i < ss->nfiles; i++)
	{
		uint32		j;

		for (j = 0; ss->idx[i] != NULL && j < ss->idx[i]->n; j++)
		{
			all[n++] = &ss->idx[i]->entries[j];
			total += ss->idx[i]->entries[j].size;
		}
	}
	qsort(all, n, sizeof(MemkvSpillIndexEntry *), memkv_spill_entry_cmp);
	for (e = 0; e < n && k < nranges - 1; e++)
	{
		/* split k + 1 goes where (k + 1) / nranges of the bytes lie before */
		if ((double) cum >= (double) total * (k + 1) / nranges &&
			(k == 0 || spill_key_cmp(all[e]->key, all[e]->keylen,
									 (*keys)[k - 1], (*lens)[k - 1]) > 0))
		{
			(*keys)[k] = palloc(Max(all[e]->keylen, 1));
			memcpy((*keys)[k], all[e]->key, all[e]->keylen);
			(*lens)[k] = all[e]->keylen;
			k++;
		}
		cum += all[e]->size;
	}
	/* too few distinct keys: the last ranges are empty */
	for (; k < nranges - 1; k++)
	{
		(*keys)[k] = k > 0 ? (*keys)[k - 1] : palloc0(1);
		(*lens)[k] = k > 0 ? (*lens)[k - 1] : 0;
	}
	pfree(all);
}
