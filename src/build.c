/*-------------------------------------------------------------------------
 *
 * build.c
 *	  CREATE INDEX (ambuild), the init fork of unlogged indexes
 *	  (ambuildempty), and the names of the build's progress phases; the
 *	  checks of a key's bytes (memkv_key_bytes, which aminsert uses too)
 *	  and of the index's collation.
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
#include "buildspill.h"
#include "keysort.h"
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
 * A collected key in a chunk: this header, then the key's bytes; the next
 * record starts at the next even offset.
 */
typedef struct MemkvKeyRecord
{
	uint16		len;
	ItemPointerData tid;
} MemkvKeyRecord;

StaticAssertDecl(MEMKV_MAX_KEY_BYTES <= PG_UINT16_MAX,
				 "memkv key length must fit a MemkvKeyRecord");

#define MEMKV_RECORD_SIZE(len) SHORTALIGN(sizeof(MemkvKeyRecord) + (len))

/* A block of collected keys. */
typedef struct MemkvKeyChunk
{
	struct MemkvKeyChunk *next;
	Size		used;			/* bytes of data in use */
	Size		size;			/* bytes of data allocated */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} MemkvKeyChunk;

/*
 * The sorted keys are read in sort order, all over the chunks: the write
 * loop asks for the bytes of the key this many items ahead, so that the
 * cache misses overlap with the writer's work.
 */
#define MEMKV_PREFETCH_AHEAD	16
#if defined(__GNUC__) || defined(__clang__)
#define memkv_prefetch(p)	__builtin_prefetch(p)
#else
#define memkv_prefetch(p)	((void) 0)
#endif

#define MEMKV_CHUNK_MIN		(64 * 1024)
#define MEMKV_CHUNK_MAX		(32 * 1024 * 1024)

/* Accumulates TIDs: of the current key while writing, of the NULL key. */
typedef struct MemkvKeyGroup
{
	uint8	   *key;
	Size		keylen;
	Size		keysize;
	ItemPointerData *tids;
	uint64		ntids;
	Size		maxtids;
} MemkvKeyGroup;

typedef struct MemkvBuildState
{
	/*
	 * Non-NULL keys are collected in chunks (keycxt) and NULL keys' TIDs in
	 * nulls, for keysort.  What that takes -- the chunks, the nulls array
	 * while in_memory, and the sort items that the keys will need
	 * (memkv_build_mem) -- is kept within mem_limit (maintenance_work_mem /
	 * 2).  Past it, the keys collected are sorted and spilled (spills), the
	 * chunks emptied, and in_memory is false from then on: the NULL TIDs,
	 * 6 bytes a row, are no longer counted (the writer takes them all at
	 * once at the end).
	 */
	bool		in_memory;
	MemkvSpillSet *spills;
	MemoryContext keycxt;
	MemkvKeyChunk *chunks;		/* first chunk */
	MemkvKeyChunk *last;		/* the one being filled */
	Size		next_chunk_size;
	uint64		nkeys;			/* non-NULL keys collected */
	Size		chunk_bytes;	/* allocated for chunks */
	Size		mem_limit;
	MemkvKeyGroup nulls;

	double		indtuples;
	MemoryContext tmpcxt;

	/* where the spills' time went, for the DEBUG1 line */
	instr_time	spill_sort_time;	/* sorting the chunks spilled */
	instr_time	spill_write_time;	/* writing them to the spills */
} MemkvBuildState;

/*
 * Extract the bytes of a text key, detoasting if needed (*to_free is then
 * set, else NULL).  Raises an ERROR for a key memkv cannot store.
 */
void
memkv_key_bytes(Datum value, const uint8 **key, Size *keylen, text **to_free)
{
	text	   *t = (text *) PG_DETOAST_DATUM_PACKED(value);

	*to_free = (Pointer) t != DatumGetPointer(value) ? t : NULL;
	*key = (const uint8 *) VARDATA_ANY(t);
	*keylen = VARSIZE_ANY_EXHDR(t);

	if (*keylen > MEMKV_MAX_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("memkv key of %zu bytes exceeds the maximum of %d bytes",
						*keylen, MEMKV_MAX_KEY_BYTES),
				 errhint("Index a prefix or a hash of the value instead, e.g. USING memkv (left(k, 2000)).")));
	if (memchr(*key, 0, *keylen) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("memkv cannot index a key containing a zero byte")));
}

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

static void
memkv_group_add_tid(MemkvKeyGroup *g, ItemPointer tid)
{
	g->tids = memkv_array_reserve(CurrentMemoryContext, g->tids, &g->maxtids,
								  g->ntids + 1, sizeof(ItemPointerData), 64);
	g->tids[g->ntids++] = *tid;
}

/*
 * Memory the in-memory collection takes with nkeys keys (counting their
 * sort items) and room for maxnulls NULL TIDs.
 */
static inline Size
memkv_build_mem(MemkvBuildState *bs, uint64 nkeys, uint64 maxnulls)
{
	return bs->chunk_bytes + nkeys * sizeof(KeysortItem) +
		(bs->in_memory ? maxnulls * sizeof(ItemPointerData) : 0);
}

/*
 * Copy a key into the in-memory collection; false (and nothing done) if
 * that would exceed mem_limit (maintenance_work_mem / 2).
 */
static bool
memkv_build_collect(MemkvBuildState *bs, const uint8 *key, Size keylen,
					ItemPointer tid)
{
	Size		recsize = MEMKV_RECORD_SIZE(keylen);
	MemkvKeyRecord rec;

	if (memkv_build_mem(bs, bs->nkeys + 1, bs->nulls.maxtids) > bs->mem_limit)
		return false;
	if (bs->last == NULL || bs->last->size - bs->last->used < recsize)
	{
		Size		used = memkv_build_mem(bs, bs->nkeys + 1,
										   bs->nulls.maxtids);
		Size		size = Max(bs->next_chunk_size, recsize);
		MemkvKeyChunk *c;

		/*
		 * A smaller last chunk if the limit is near, leaving room for the
		 * sort items of the keys it will hold (counting them as long as
		 * this one): a chunk taking all that is left would hold one key.
		 */
		if (used + offsetof(MemkvKeyChunk, data) + size +
			size / recsize * sizeof(KeysortItem) > bs->mem_limit)
		{
			Size		room;

			if (used + offsetof(MemkvKeyChunk, data) + recsize > bs->mem_limit)
				return false;
			room = bs->mem_limit - used - offsetof(MemkvKeyChunk, data);
			size = Max(room / (recsize + sizeof(KeysortItem)) * recsize,
					   recsize);
		}
		c = MemoryContextAllocHuge(bs->keycxt,
								   offsetof(MemkvKeyChunk, data) + size);
		memkv_advise_huge_pages(c, offsetof(MemkvKeyChunk, data) + size);
		c->next = NULL;
		c->used = 0;
		c->size = size;
		if (bs->last)
			bs->last->next = c;
		else
			bs->chunks = c;
		bs->last = c;
		bs->chunk_bytes += offsetof(MemkvKeyChunk, data) + size;
		bs->next_chunk_size = Min(bs->next_chunk_size * 2, MEMKV_CHUNK_MAX);
	}
	rec.len = (uint16) keylen;
	rec.tid = *tid;
	memcpy(bs->last->data + bs->last->used, &rec, sizeof(rec));
	memcpy(bs->last->data + bs->last->used + sizeof(rec), key, keylen);
	bs->last->used += recsize;
	bs->nkeys++;
	return true;
}

/*
 * Add a NULL key's TID to the in-memory collection; false (and nothing
 * done) if that would exceed mem_limit; never false once spilling.
 */
static bool
memkv_build_collect_null(MemkvBuildState *bs, ItemPointer tid)
{
	/* growing the array holds the old and the new one for a moment */
	if (bs->in_memory && bs->nulls.ntids == bs->nulls.maxtids &&
		memkv_build_mem(bs, bs->nkeys,
						bs->nulls.maxtids + Max(bs->nulls.maxtids * 2, 64)) >
		bs->mem_limit)
		return false;
	memkv_group_add_tid(&bs->nulls, tid);
	return true;
}

/* A TID as keysort's uint64, in the same order. */
static inline uint64
memkv_tid_pack(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
}

static inline void
memkv_tid_unpack(uint64 packed, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (packed >> 16),
				   (OffsetNumber) (packed & 0xFFFF));
}

/* keysort's tick: let a long sort be canceled. */
static void
memkv_build_sort_tick(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Sort the in-memory collection: one KeysortItem per key, pointing into
 * the chunks.  Returns the sorted array (in keycxt).
 */
static KeysortItem *
memkv_build_sort_in_memory(MemkvBuildState *bs)
{
	KeysortItem *items;
	MemkvKeyChunk *c;
	uint64		i = 0;

	items = MemoryContextAllocHuge(bs->keycxt,
								   Max(bs->nkeys, 1) * sizeof(KeysortItem));
	memkv_advise_huge_pages(items, Max(bs->nkeys, 1) * sizeof(KeysortItem));
	for (c = bs->chunks; c != NULL; c = c->next)
	{
		Size		off = 0;

		CHECK_FOR_INTERRUPTS();
		while (off < c->used)
		{
			MemkvKeyRecord rec;

			memcpy(&rec, c->data + off, sizeof(rec));
			items[i].key = (const uint8 *) c->data + off + sizeof(rec);
			items[i].len = rec.len;
			items[i].tid = memkv_tid_pack(&rec.tid);
			items[i].spare = 0;
			i++;
			off += MEMKV_RECORD_SIZE(rec.len);
		}
	}
	Assert(i == bs->nkeys);
	keysort_sort(items, bs->nkeys, memkv_build_sort_tick, NULL);
	return items;
}

/*
 * The collection is full: sort it, write it as a spill (the first one
 * starts the spill set), and empty the chunks.
 */
static void
memkv_build_spill_chunks(MemkvBuildState *bs)
{
	KeysortItem *items;
	instr_time	t0,
				t1,
				t2;

	if (bs->spills == NULL)
	{
		elog(DEBUG1, "memkv build: " UINT64_FORMAT " keys and " UINT64_FORMAT " NULLs fill maintenance_work_mem / 2, spilling",
			 bs->nkeys, bs->nulls.ntids);
		bs->spills = memkv_spill_begin(bs->mem_limit);
	}
	bs->in_memory = false;
	INSTR_TIME_SET_CURRENT(t0);
	items = memkv_build_sort_in_memory(bs);
	INSTR_TIME_SET_CURRENT(t1);
	memkv_spill_sorted(bs->spills, items, bs->nkeys);
	INSTR_TIME_SET_CURRENT(t2);
	INSTR_TIME_ACCUM_DIFF(bs->spill_sort_time, t1, t0);
	INSTR_TIME_ACCUM_DIFF(bs->spill_write_time, t2, t1);
	MemoryContextReset(bs->keycxt);
	bs->chunks = bs->last = NULL;
	bs->chunk_bytes = 0;
	bs->nkeys = 0;
}

/*
 * table_index_build_scan callback: check the key and collect it, spilling
 * the collection first if the key does not fit.
 */
static void
memkv_build_callback(Relation index, ItemPointer tid, Datum *values,
					 bool *isnull, bool tupleIsAlive, void *state)
{
	MemkvBuildState *bs = (MemkvBuildState *) state;
	MemoryContext oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	const uint8 *key = NULL;
	Size		keylen = 0;
	text	   *to_free = NULL;

	/* checks the key, and detoasts it (into tmpcxt) to get its bytes */
	if (!isnull[0])
		memkv_key_bytes(values[0], &key, &keylen, &to_free);
	MemoryContextSwitchTo(oldcxt);

	if (isnull[0])
	{
		if (!memkv_build_collect_null(bs, tid))
		{
			memkv_build_spill_chunks(bs);
			/* not counted any more: cannot fail */
			memkv_build_collect_null(bs, tid);
		}
	}
	else if (!memkv_build_collect(bs, key, keylen, tid))
	{
		memkv_build_spill_chunks(bs);
		if (!memkv_build_collect(bs, key, keylen, tid))
			elog(ERROR, "memkv build: a key of %zu bytes does not fit in empty chunks of %zu bytes",
				 keylen, bs->mem_limit);
	}
	bs->indtuples += 1;
	MemoryContextReset(bs->tmpcxt);
}

/*
 * Add the key of items[0..n) (all equal, TIDs ascending) to the writer,
 * using group's TID array.
 */
static void
memkv_build_add_items(MemkvFrozenWriter *w, MemkvKeyGroup *group,
					  const KeysortItem *items, uint64 n)
{
	uint64		i;

	group->ntids = 0;
	for (i = 0; i < n; i++)
	{
		ItemPointerData tid;

		/* a TID twice (not from a heap scan, but harmless) is kept once */
		if (i > 0 && items[i].tid == items[i - 1].tid)
			continue;
		memkv_tid_unpack(items[i].tid, &tid);
		memkv_group_add_tid(group, &tid);
	}
	memkv_frozen_writer_add(w, items[0].key, items[0].len, group->tids,
							group->ntids);
}

/* Stream the sorted in-memory keys into the writer, one call per key. */
static void
memkv_build_write_in_memory(MemkvBuildState *bs, MemkvFrozenWriter *w,
							const KeysortItem *items)
{
	MemkvKeyGroup group;
	uint64		i = 0;

	memset(&group, 0, sizeof(group));
	while (i < bs->nkeys)
	{
		uint64		j = i + 1;

		CHECK_FOR_INTERRUPTS();
		if (i + MEMKV_PREFETCH_AHEAD < bs->nkeys)
		{
			const KeysortItem *ahead = &items[i + MEMKV_PREFETCH_AHEAD];

			memkv_prefetch(ahead->key);
			/* the key's last byte, if it is in the next cache line */
			if (((uintptr_t) ahead->key & 63) + ahead->len > 64)
				memkv_prefetch(ahead->key + ahead->len - 1);
		}
		while (j < bs->nkeys && items[j].len == items[i].len &&
			   memcmp(items[j].key, items[i].key, items[i].len) == 0)
			j++;
		memkv_build_add_items(w, &group, items + i, j - i);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) j);
		i = j;
	}
	if (group.tids)
		pfree(group.tids);
}

/*
 * ambuild: sort the table's keys and stream them straight into a frozen
 * layer (FST + postings); the delta log starts empty.  No shared memory is
 * used: the delta tree of the new index starts empty too.
 *
 * The keys are sorted in memory by keysort if they fit in half of
 * maintenance_work_mem; else each half's worth is sorted the same way and
 * spilled, and the spills are merged into the writer.
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

	memset(&bs, 0, sizeof(bs));
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext,
									  "memkv build temporary context",
									  ALLOCSET_DEFAULT_SIZES);
	bs.keycxt = AllocSetContextCreate(CurrentMemoryContext,
									  "memkv build keys",
									  ALLOCSET_DEFAULT_SIZES);
	bs.in_memory = true;
	bs.next_chunk_size = MEMKV_CHUNK_MIN;
	bs.mem_limit = (Size) maintenance_work_mem * 1024 / 2;

	INSTR_TIME_SET_CURRENT(t_start);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SCAN);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   memkv_build_callback, (void *) &bs,
									   NULL);

	INSTR_TIME_SET_CURRENT(t_sort);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 MEMKV_BUILD_PHASE_SORT);
	if (bs.in_memory)
		items = memkv_build_sort_in_memory(&bs);
	else if (bs.nkeys > 0)
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
	if (bs.in_memory)
		memkv_build_write_in_memory(&bs, w, items);
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

	INSTR_TIME_SUBTRACT(t_end, t_write);
	INSTR_TIME_SUBTRACT(t_write, t_sort);
	INSTR_TIME_SUBTRACT(t_sort, t_start);
	if (bs.in_memory)
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
