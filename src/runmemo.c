/*-------------------------------------------------------------------------
 *
 * runmemo.c
 *	  The run memo: what opening a frozen run learns from its header pages
 *	  and from each slice's FST and postings preambles and trailers, kept
 *	  in the index's relcache entry so that later opens of the same run in
 *	  this backend read no page for it.
 *
 * A memo is made under whatever keeps the run's pages from being retired
 * (an entry lock, or a freeze's metapage lock) and read by the frozen
 * readers of runread.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "fst.h"
#include "memkv.h"
#include "memutil.h"
#include "deadpages.h"
#include "page.h"
#include "registry.h"
#include "runmemo.h"
#include "runpages.h"

/*
 * The memos of an index, in rd_amcache (allocated in rd_indexcxt with the
 * headers): one slot per run the directory can list.  A MemkvFrozen
 * points at its memo: nothing between an open and its close processes
 * invalidation messages (no heavyweight lock is taken there), so the
 * relcache entry cannot drop the memos meanwhile, and a slot is reused
 * only for a run of the same directory when its own run is not in it
 * (memkv_run_memo_get).
 */
typedef struct MemkvRunMemos
{
	MemkvRunMemo slot[RUNDIR_MAX_RUNS];
} MemkvRunMemos;

/* Bytes of an opened reader the memo keeps: all before its scratch. */
#define MEMKV_READER_PREFIX		MAXALIGN(offsetof(FstReader, buf))

/* Is this memo of that run? */
static inline bool
memkv_memo_is(const MemkvRunMemo *m, const MemkvRunDesc *run)
{
	return m->used && m->instance_id == run->instance_id &&
		m->run_tag == run->run_tag && m->run_header == run->run_header;
}

/*
 * Copy the opened FST reader of slice s of memo m into *reader (all but
 * its scratch buffer and message); the caller points its source where it
 * reads the slice.
 */
void
memkv_run_memo_reader(const MemkvRunMemo *m, uint32 s, FstReader *reader)
{
	Assert(s < m->hdr->nslices);
	memcpy(reader, m->readers + (Size) s * MEMKV_READER_PREFIX,
		   offsetof(FstReader, buf));
	reader->errmsg[0] = '\0';
}

/*
 * Check the fences around slice s, whose FST `reader` opens: its first key
 * is at or after its own fence, and the last key of slice s - 1 (kept in
 * *prev, *prevlen; updated to slice s's last key) is before it.  Returns
 * NULL or what is wrong.
 */
static const char *
memkv_slice_fences_ok(const RunHeader *hdr, uint32 s, FstReader *reader,
					  uint8 *prev, Size *prevlen)
{
	FstAllocator alloc;
	FstCursor	c;
	const RunSlice *slice = &hdr->slices[s];
	const char *failed = NULL;
	int			r;

	memkv_fst_allocator(&alloc);
	fst_cursor_init(&c, reader, &alloc);
	r = fst_cursor_seek(&c, FST_SEEK_FIRST, NULL, 0);
	if (r < 0)
		failed = pstrdup(c.errmsg);
	else if (r == 0)
		failed = "a slice of a run of several slices has no key";
	else if (s > 0 &&
			 (runhdr_key_cmp(slice->fence, slice->fence_len,
							 c.key, c.keylen) > 0 ||
			  runhdr_key_cmp(prev, *prevlen, slice->fence,
							 slice->fence_len) >= 0))
		failed = "a slice's fence key does not lie between its keys and the previous slice's";
	else
	{
		r = fst_cursor_seek(&c, FST_SEEK_LAST, NULL, 0);
		if (r != 1 || c.keylen > MEMKV_MAX_KEY_BYTES)
			failed = r < 0 ? pstrdup(c.errmsg) : "a slice's last key cannot be read";
		else
		{
			memcpy(prev, c.key, c.keylen);
			*prevlen = c.keylen;
		}
	}
	fst_cursor_free(&c);
	return failed;
}

/*
 * Open slice s of the run `run` (header hdr) through its pages: its FST
 * reader into *reader and its postings into *postings, checked against
 * each other (and, for a run of several slices, against the fences).
 * Returns NULL or what is wrong; *raced tells whether a page read failed.
 */
static const char *
memkv_slice_open(Relation index, const MemkvRunDesc *run,
				 const RunHeader *hdr, uint32 s, FstReader *reader,
				 FstPostings *postings, uint8 *prev, Size *prevlen,
				 bool *raced)
{
	const RunSlice *slice = &hdr->slices[s];
	MemkvPageSource post_src;
	MemkvPageSource fst_src;
	FstSource	src;
	const char *failed = NULL;

	memkv_slice_sources_init(index, hdr, run->run_tag, s, &post_src,
							 &fst_src);
	src.read = memkv_page_source_read;
	src.arg = &fst_src;
	src.size = slice->leaf_bytes + slice->top_bytes;
	if (fst_reader_open(reader, &src) != 0)
		failed = pstrdup(reader->errmsg);
	else
	{
		src.arg = &post_src;
		src.size = slice->postings_bytes;
		if (fst_postings_open(postings, &src) != 0)
			failed = pstrdup(postings->errmsg);
		else if (postings->nkeys != reader->nkeys)
			failed = "key counts of a slice's FST and postings disagree";
		/* scans copy keys into batches and index tuples: no longer ones */
		else if (reader->max_key_len > MEMKV_MAX_KEY_BYTES)
			failed = "its keys are longer than memkv allows";
		else if (hdr->nslices > 1)
			failed = memkv_slice_fences_ok(hdr, s, reader, prev, prevlen);
	}
	memkv_page_source_release(&fst_src);
	memkv_page_source_release(&post_src);
	*raced = fst_src.failed || post_src.failed;
	return failed;
}

/*
 * Read run `run` -- its header pages, each slice's FST and postings
 * preambles and trailers (and, with several slices, each slice's first
 * and last key, checked against the fences) -- check what can be checked
 * without reading the images whole, and fill memo *m with it.  Errors are
 * the corruption ERROR (the memo is then left unused).
 */
static void
memkv_run_memo_fill(Relation index, const MemkvRunDesc *run, MemkvRunMemo *m)
{
	RunHeader  *hdr;
	FstReader  *reader = palloc(sizeof(FstReader));
	MemkvSliceMemo *slices;
	char	   *readers;
	uint8	   *prev = palloc(MEMKV_MAX_KEY_BYTES + 1);
	Size		prevlen = 0;
	uint64		nkeys = 0;
	uint64		stream_off = 0;
	const char *failed = NULL;
	bool		raced = false;
	uint32		s;

	hdr = memkv_run_header_read(index, run, index->rd_indexcxt);
	slices = MemoryContextAllocHuge(index->rd_indexcxt,
									sizeof(MemkvSliceMemo) * hdr->nslices);
	readers = MemoryContextAllocHuge(index->rd_indexcxt,
									 MEMKV_READER_PREFIX * hdr->nslices);
	for (s = 0; s < hdr->nslices && failed == NULL; s++)
	{
		CHECK_FOR_INTERRUPTS();
		failed = memkv_slice_open(index, run, hdr, s, reader,
								  &slices[s].postings, prev, &prevlen,
								  &raced);
		memcpy(readers + (Size) s * MEMKV_READER_PREFIX, reader,
			   offsetof(FstReader, buf));
		slices[s].first_ordinal = nkeys;
		slices[s].nkeys = reader->nkeys;
		slices[s].stream_off = stream_off;
		nkeys += reader->nkeys;
		stream_off += hdr->slices[s].postings_bytes +
			hdr->slices[s].leaf_bytes + hdr->slices[s].top_bytes;
	}
	if (failed == NULL && nkeys != run->run_nkeys)
		failed = "key counts of the run's slices and the directory disagree";
	pfree(reader);
	pfree(prev);
	if (failed)
	{
		pfree(hdr);
		pfree(slices);
		pfree(readers);
		if (raced && RecoveryInProgress())
			memkv_frozen_raced(index);
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("frozen layer of index \"%s\" is corrupted: %s",
						RelationGetRelationName(index), failed),
				 errhint("Please REINDEX it.")));
	}
	m->used = true;
	m->instance_id = run->instance_id;
	m->run_tag = run->run_tag;
	m->run_header = run->run_header;
	m->hdr = hdr;
	m->nkeys = nkeys;
	m->slices = slices;
	m->readers = readers;
	m->dead = NULL;
	m->dead_generation = 0;
}

/*
 * Bring memo m's dead list up to run's: VACUUM replaces a run's list
 * without changing the run, so the memo keeps the list's generation and
 * reads the list again when the directory names another.  The old list
 * is freed: a frozen reader opened under an older directory is closed
 * before this backend reads a newer one (a batch, a freeze and VACUUM
 * each open and close their runs under one directory).
 */
static MemkvRunMemo *
memkv_run_memo_dead(Relation index, const MemkvRunDesc *run, MemkvRunMemo *m)
{
	uint64		gen = run->entry.dead_block == InvalidBlockNumber ? 0 :
		run->entry.dead_generation;

	if (likely(m->dead_generation == gen &&
			   (m->dead != NULL) == (gen != 0)))
		return m;
	memkv_dead_free(m->dead);
	m->dead = NULL;
	m->dead_generation = 0;
	if (gen != 0)
	{
		m->dead = memkv_dead_read(index, run, index->rd_indexcxt);
		deadlist_cursor_init(&m->dc.cur, m->dead->list);
		m->dc.last = 0;
	}
	m->dead_generation = gen;
	return m;
}

/*
 * The memo of run meta->runs[i], made if missing.  A new memo takes a
 * slot whose run is not in `meta` (there always is one: the slots are as
 * many as the runs a directory can list), so no memo of a run the caller
 * may have open is replaced.
 */
MemkvRunMemo *
memkv_run_memo_get(Relation index, const MemkvMetaPageData *meta, int i)
{
	MemkvRunMemos *memos = (MemkvRunMemos *) index->rd_amcache;
	const MemkvRunDesc *run = &meta->runs[i];
	MemkvRunMemo *victim = NULL;
	int			j;

	Assert(i >= 0 && i < meta->nruns);
	if (memos == NULL)
	{
		memos = MemoryContextAllocZero(index->rd_indexcxt,
									   sizeof(MemkvRunMemos));
		index->rd_amcache = memos;
	}
	for (j = 0; j < RUNDIR_MAX_RUNS; j++)
	{
		if (memkv_memo_is(&memos->slot[j], run))
			return memkv_run_memo_dead(index, run, &memos->slot[j]);
	}
	for (j = 0; j < RUNDIR_MAX_RUNS && victim == NULL; j++)
	{
		MemkvRunMemo *m = &memos->slot[j];
		int			k;
		bool		listed = false;

		for (k = 0; m->used && k < meta->nruns && !listed; k++)
			listed = memkv_memo_is(m, &meta->runs[k]);
		if (!listed)
			victim = m;
	}
	Assert(victim != NULL);
	if (victim->used)
	{
		victim->used = false;
		pfree(victim->hdr);
		pfree(victim->slices);
		pfree(victim->readers);
		victim->hdr = NULL;
		memkv_dead_free(victim->dead);
		victim->dead = NULL;
	}
	memkv_run_memo_fill(index, run, victim);
	return memkv_run_memo_dead(index, run, victim);
}

/*
 * The header of run meta->runs[i], from the index's run memo (made if
 * missing).  Valid until the memo is replaced: within one entry lock, or
 * one freeze.
 */
const RunHeader *
memkv_run_memo_header(Relation index, const MemkvMetaPageData *meta, int i)
{
	return memkv_run_memo_get(index, meta, i)->hdr;
}

/* Bytes of a run's slice streams (postings, then the FST), all slices. */
uint64
memkv_run_slice_bytes(const RunHeader *hdr)
{
	uint64		total = 0;
	uint32		s;

	for (s = 0; s < hdr->nslices; s++)
		total += hdr->slices[s].postings_bytes + hdr->slices[s].leaf_bytes +
			hdr->slices[s].top_bytes;
	return total;
}
