/*-------------------------------------------------------------------------
 *
 * buildscan.c
 *	  CREATE INDEX's collection of the keys: the table scan's callback,
 *	  the chunks of keys within a memory limit, their sort (keysort) and
 *	  spill (buildspill.c), the stream of the sorted in-memory keys into
 *	  the run writer, and a parallel build participant's whole part; the
 *	  checks of a key's bytes (memkv_key_bytes, which aminsert uses too).
 *
 * The scan copies every key with its TID into chunks of memory.  A serial
 * build (build.c) keeps them in memory while they fit in its limit
 * (maintenance_work_mem / 2) and sorts them there; past the limit, and
 * always in a parallel build's participants, each limit's worth is sorted
 * and spilled.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "commands/progress.h"
#include "utils/memutils.h"
#include "portability/instr_time.h"

#include "buildscan.h"
#include "buildspill.h"
#include "keysort.h"
#include "memkv.h"
#include "memutil.h"

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
 * Start a collection of keys within mem_limit bytes, in memory while they
 * fit if in_memory, else spilled to spills whenever the limit is reached.
 * Its memory contexts are children of the current one.
 */
void
memkv_build_state_init(MemkvBuildState *bs, Size mem_limit, bool in_memory,
					   MemkvSpillSet *spills)
{
	memset(bs, 0, sizeof(*bs));
	bs->tmpcxt = AllocSetContextCreate(CurrentMemoryContext,
									   "memkv build temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	bs->keycxt = AllocSetContextCreate(CurrentMemoryContext,
									   "memkv build keys",
									   ALLOCSET_DEFAULT_SIZES);
	bs->in_memory = in_memory;
	bs->spills = spills;
	bs->next_chunk_size = MEMKV_CHUNK_MIN;
	bs->mem_limit = mem_limit;
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
KeysortItem *
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
void
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
void
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
void
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
 * One participant's part of a parallel build (buildpar.c; the leader's
 * too): scan the blocks the parallel scan hands out, collect the keys
 * within mem bytes, and sort and spill them all into ss, the last chunk
 * too; *out gets the NULL keys' TIDs (unsorted, in the current memory
 * context) and the tuple counts.  Progress is reported if progress (the
 * leader).  Needs the locks CREATE INDEX holds, or, in a worker, its
 * lock group's.
 */
void
memkv_build_participate(Relation heap, Relation index, IndexInfo *indexInfo,
						TableScanDesc scan, Size mem, MemkvSpillSet *ss,
						bool progress, MemkvBuildPart *out)
{
	MemkvBuildState bs;

	/* everything is spilled: each participant merges a range of them all */
	memkv_build_state_init(&bs, mem, false, ss);

	out->reltuples = table_index_build_scan(heap, index, indexInfo, true,
											progress, memkv_build_callback,
											(void *) &bs, scan);
	if (bs.nkeys > 0)
		memkv_build_spill_chunks(&bs);
	out->indtuples = bs.indtuples;
	out->nulls = bs.nulls.tids;
	out->nnulls = bs.nulls.ntids;
	out->sort_ms = INSTR_TIME_GET_MILLISEC(bs.spill_sort_time);
	out->write_ms = INSTR_TIME_GET_MILLISEC(bs.spill_write_time);
	MemoryContextDelete(bs.keycxt);
	MemoryContextDelete(bs.tmpcxt);
}
