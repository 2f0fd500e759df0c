/*-------------------------------------------------------------------------
 *
 * freeze.c
 *	  Rewrites: write the delta (a freeze) and/or adjacent runs (a
 *	  merge) as one new run, switch the directory to it in one WAL record,
 *	  and retire the pages it replaces.  VACUUM uses the same rewrite with
 *	  a filter that drops dead TIDs.  When and what to rewrite is merge.c's.
 *
 * A freeze holds the freeze lock (page tag 0) throughout, a merge the
 * merge lock (page tag 1, merge.c), VACUUM both.  A crash before the
 * switch leaves the old generation (the new pages are in no run, freed by
 * the next VACUUM); a crash after it leaves the new one.  Both are whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlogrecord.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/indexfsm.h"
#include "utils/memutils.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/rel.h"

#include "caller.h"
#include "delta.h"
#include "freeze.h"
#include "memkv.h"
#include "memkv_guc.h"
#include "page.h"
#include "registry.h"
#include "runcopy.h"
#include "runpages.h"
#include "runread.h"
#include "runwrite.h"
#include "source.h"
#include "stats.h"
#include "stripe.h"
#include "wal.h"

/* What the error cleanup of a freeze needs to find its entry. */
typedef struct MemkvFreezeCleanup
{
	Relation	index;
	MemkvEntry *entry;
} MemkvFreezeCleanup;

/*
 * Error (or FATAL exit) during a freeze: give the frozen-aside trees up
 * and mark the entry invalid, so the next user rebuilds from the log,
 * which the failed freeze has not changed (or has switched completely).
 */
static void
memkv_freeze_cleanup(int code, Datum arg)
{
	MemkvFreezeCleanup *fc = (MemkvFreezeCleanup *) DatumGetPointer(arg);
	MemkvEntry *entry = fc->entry;
	bool		held = entry && memkv_entry_holds_all(entry, LW_EXCLUSIVE);
	int			s;

	if (entry == NULL)			/* a merge: the trees are not its own */
		return;

	/*
	 * The entry cannot have changed hands: eviction and reassignment skip
	 * a freezing entry.  Its stripe locks are taken in order, as always.
	 */
	if (!held)
	{
		memkv_entry_release(entry);
		memkv_entry_lock_all(entry);
	}
	for (s = 0; s < entry->nstripes; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		if (entry->freezing)
		{
			art_free_all(&st->imm_keys, memkv_allocator());
			art_free_all(&st->imm_nulls, memkv_allocator());
		}
		st->valid = false;
		st->loaded = false;
	}
	entry->freezing = false;
	/* users waiting for a direct-mode freeze go on (and rebuild) */
	entry->freeze_direct = false;
	if (!held)
		memkv_entry_release(entry);
}

/*
 * A freeze in progress: what its phases hand on to each other.  It lives
 * on memkv_freeze_index's stack; the arrays it points to live in cxt.
 */
typedef struct MemkvFreezeState
{
	Relation	index;
	IndexBulkDeleteCallback dead;	/* VACUUM's: TIDs to leave out, or NULL */
	void	   *dead_state;
	IndexBulkDeleteResult *stats;	/* VACUUM's, or NULL */
	MemoryContext cxt;			/* the freeze's memory */
	MemkvEntry *entry;
	MemkvMetaPageData meta;		/* read at the set-aside, again at the switch */
	MemkvMetaPageData newmeta;	/* what the switch wrote */
	MemkvRunEntry newrun;		/* the new run's directory entry */
	bool		have_newrun;	/* false if no TID is left to write */
	bool		with_delta;		/* a freeze: the delta is an input */
	bool		is_merge;		/* runs alone, under the merge lock */
	uint64		run_id;			/* the new run's id */
	int			first;			/* runs [first, first + ninputs) of meta */
	int			ninputs;		/* are the other inputs */
	uint64		input_ids[RUNDIR_MAX_RUNS];
	BlockNumber *old_blocks[RUNDIR_MAX_RUNS];	/* the inputs' pages, for */
	uint32		old_nblocks[RUNDIR_MAX_RUNS];	/* the retire */
	uint32		old_tags[RUNDIR_MAX_RUNS];
	bool		from_copy[RUNDIR_MAX_RUNS]; /* read from the shared copy */
	MemkvFrozen *frozen[RUNDIR_MAX_RUNS];	/* the input runs, opened */
	bool		direct;			/* the delta is read from the log */
	MemkvSource	logrun;			/* direct mode: the delta's keys */
	MemkvSource	lognulls;		/* ... and its NULL key's TIDs */
	BlockNumber direct_end_blkno[MEMKV_MAX_STRIPES];	/* direct mode: */
	OffsetNumber direct_end_offset[MEMKV_MAX_STRIPES];	/* each log's end */
	MemkvFrozenWriter *w;
	uint64		removed;		/* TIDs left out as dead */
	uint64		kept;			/* TIDs the index holds afterwards */
	/* what the switch leaves for the clean-up, per stripe */
	int			nstripes;
	ArtTree		old_keys[MEMKV_MAX_STRIPES];
	ArtTree		old_nulls[MEMKV_MAX_STRIPES];
	BlockNumber old_log_head[MEMKV_MAX_STRIPES];
	BlockNumber boundary[MEMKV_MAX_STRIPES];
	MemkvLayerOpReport report;
	instr_time	t_start,
				t_aside,
				t_merged,
				t_written,
				t_switched,
				t_end;
} MemkvFreezeState;

/*
 * Open the input runs (fs->first, fs->ninputs of fs->meta): note their
 * pages for the retire and open them, under the entry lock held
 * exclusively.  A freeze reads an input from the entry's shared-memory
 * copy if there is one (else from the pages, through the buffer manager,
 * which costs the merge about a tenth of its time), and makes the copy if
 * no scan did yet, unless that would fill more than half of the arena,
 * which the delta needs.  The later phases read the runs without the
 * lock: the copy cannot go away meanwhile, since only this freeze's switch
 * frees the copy of a freezing entry (eviction and reassignment skip it,
 * and scans replace a copy only when the directory's largest run is
 * another).  A merge without the delta does not mark the entry, so it
 * reads its inputs from their pages.
 */
static void
memkv_freeze_open_inputs(MemkvFreezeState *fs, MemkvEntry *entry)
{
	Relation	index = fs->index;
	int			big = memkv_meta_largest_run(&fs->meta);
	int			k;

	for (k = 0; k < fs->ninputs; k++)
	{
		int			i = fs->first + k;
		const MemkvRunDesc *run = &fs->meta.runs[i];
		RunHeader  *hdr = memkv_run_header_read(index, run, fs->cxt);

		fs->input_ids[k] = run->run_id;
		fs->old_blocks[k] = memkv_run_blocks(index, run, hdr,
											 &fs->old_nblocks[k]);
		fs->old_tags[k] = run->run_tag;
		if (fs->with_delta && !fs->direct && i == big &&
			memkv_run_copy_wanted(entry, &fs->meta, i) &&
			memkv_arena_bytes_used() + memkv_run_slice_bytes(hdr) <=
			memkv_shared->arena_size / 2)
			memkv_run_copy_build(index, entry, &fs->meta, i);
		fs->frozen[k] = memkv_frozen_open(index, &fs->meta, i,
										  fs->with_delta ? entry : NULL);
		/* read from the shared copy, which was checked against the CRC? */
		fs->from_copy[k] = fs->with_delta && entry->run_copy != ARENA_NULL &&
			entry->run_copy_instance == run->instance_id &&
			entry->run_copy_epoch == run->run_tag &&
			entry->run_copy_start == run->run_header;
		fs->report.in_frozen_keys += run->run_nkeys;
		fs->report.in_frozen_tids += run->run_ntids;
	}
}

/*
 * Phase 1, set aside (the seal): under every stripe lock, exclusive, sync
 * each stripe's trees with its log, read the metapage, open the input
 * runs, and (a freeze) set each stripe's trees aside as imm_keys/imm_nulls
 * (read-only from now on), fresh empty trees taking new entries from the
 * stripe's boundary on (freeze_blkno / freeze_offset).  If the delta does
 * not fit in shared memory, mark the freeze direct instead: every user of
 * the entry then waits for the freeze.  Either way entry->freezing is set
 * and the stripe locks released on return.  A merge of runs alone only
 * opens them.  Caller holds the metapage lock.
 */
static void
memkv_freeze_set_aside(MemkvFreezeState *fs)
{
	Relation	index = fs->index;
	MemkvEntry *entry;
	int			k;

	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	fs->entry = entry;
	if (fs->with_delta && entry->freezing)
		elog(ERROR, "memkv: index \"%s\" is already being frozen",
			 RelationGetRelationName(index));
	fs->direct = fs->with_delta && !memkv_sync_all_try(index, entry);
	fs->nstripes = entry->nstripes;
	memkv_read_meta(index, &fs->meta);
	/* the switch retires the log's head and the input runs */
	memkv_check_meta_blocks(index, &fs->meta, RelationGetNumberOfBlocks(index));
	if (fs->ninputs < 0)
	{
		/* all runs (VACUUM) */
		fs->first = 0;
		fs->ninputs = fs->meta.nruns;
	}
	/* a merge: freezes may have prepended runs since the pick */
	while (fs->is_merge && fs->first < fs->meta.nruns &&
		   fs->meta.runs[fs->first].run_id != fs->input_ids[0])
		fs->first++;
	for (k = 0; fs->is_merge && k < fs->ninputs; k++)
		if (fs->first + k < fs->meta.nruns &&	/* else "gone" below */
			fs->meta.runs[fs->first + k].run_id != fs->input_ids[k])
			fs->first = fs->meta.nruns;
	if (fs->first + fs->ninputs > fs->meta.nruns)
		elog(ERROR, "memkv: runs to merge of \"%s\" are gone",
			 RelationGetRelationName(index));
	if (!fs->is_merge)
		fs->run_id = fs->meta.generation;
	memkv_freeze_open_inputs(fs, entry);
	fs->report.instance_id = fs->meta.instance_id;
	if (!fs->with_delta)
		memkv_entry_release(entry);
	else if (!fs->direct)
	{
		int			s;

		for (s = 0; s < entry->nstripes; s++)
		{
			MemkvStripe *st = &entry->stripes[s];

			fs->report.in_delta_keys += st->keys.nkeys;
			fs->report.in_delta_tids += st->keys.ntids + st->nulls.ntids;
			st->imm_keys = st->keys;
			st->imm_nulls = st->nulls;
			memset(&st->keys, 0, sizeof(ArtTree));
			memset(&st->nulls, 0, sizeof(ArtTree));
			st->freeze_blkno = st->resume_blkno;
			st->freeze_offset = st->resume_offset;
		}
		entry->freezing = true;
		memkv_entry_release(entry);
	}
	else
	{
		/*
		 * The delta does not fit in shared memory (that is usually why we
		 * are freezing): phase 2 reads it from the log into this backend's
		 * memory instead.  Until the switch no tree can show those entries,
		 * so every user of the entry waits for this freeze, on the metapage
		 * lock we hold (memkv_open_synced), where a cancel reaches it; and
		 * we hold no entry lock through the long phase 2, so a cancel
		 * reaches us too.  Nothing is appended meanwhile.
		 */
		entry->freezing = true;
		entry->freeze_direct = true;
		memkv_entry_release(entry);
	}
}

/* Testing aid: if key != 0, wait while pg_advisory_lock(key) is held. */
void
memkv_debug_pause(int key)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) key, 1);
	if (key != 0 && LockAcquire(&tag, ShareLock, false, false))
		LockRelease(&tag, ShareLock, false);
}

/*
 * Phase 2a, read the inputs: in direct mode, read the whole delta log
 * into memory, sorted; check the old run against its CRC unless it is
 * read from the shared copy (which was checked when it was made).  Holds
 * no LWLock (a cancel reaches the log walk and the sort); caller holds
 * the metapage lock, so the old run and the log stay as they are.
 */
static void
memkv_freeze_read_inputs(MemkvFreezeState *fs)
{
	Relation	index = fs->index;
	int			k;

	/* testing aid: wait here while the advisory lock is held */
	memkv_debug_pause(fs->is_merge ? 0 : memkv_debug_freeze_pause_lock);

	/* from here on without the entry lock; only we touch imm */
	if (fs->direct)
	{
		memkv_read_log_run(index, &fs->meta, 0, fs->meta.nstripes,
						   &fs->logrun, &fs->lognulls,
						   fs->direct_end_blkno, fs->direct_end_offset);
		fs->report.in_delta_keys = fs->logrun.nkeys;
		fs->report.in_delta_tids = fs->logrun.ntids + fs->lognulls.ntids;
	}
	INSTR_TIME_SET_CURRENT(fs->t_aside);

	/*
	 * Reading the old run's pages checks their tags and the FST's
	 * structure, not every byte: check the run against its CRC first
	 * (one sequential read), so that a damaged run is an ERROR here
	 * rather than garbage sealed under the new run's checksum.
	 */
	for (k = 0; k < fs->ninputs; k++)
	{
		if (!fs->from_copy[k] &&
			!memkv_frozen_checksum_ok(index, &fs->meta, fs->first + k))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("frozen layer of index \"%s\" is corrupted: its pages do not match their checksum",
							RelationGetRelationName(index)),
					 errhint("Please REINDEX it.")));
	}
}

/*
 * Phase 2b, merge and write: stream a merge of the input runs and (a
 * freeze) the set-aside delta (the trees, or in direct mode the log read
 * into memory) into a new run's writer, key by key in order, each key's
 * TIDs sorted, without duplicates and without those `dead` reports; then
 * the NULL key; then write the new run to pages (its id is fs->run_id: a
 * freeze's is the generation it set aside at, which no merge can have
 * reserved, as reserving takes the freeze lock; a merge's pick reserved
 * one, merge.c).  Nothing left to write, no run.  Closes the inputs.  No
 * LWLock: only this freeze reads the set-aside trees, and only its switch
 * frees the shared copy it may read from; caller holds the metapage lock.
 */
static void
memkv_freeze_merge_write(MemkvFreezeState *fs)
{
	MemkvEntry *entry = fs->entry;
	MemkvFrozenWriter *w;
	MemkvMergeInput in[RUNDIR_MAX_RUNS + MEMKV_MAX_STRIPES];
	int			nin = 0;
	MemkvSource	nulls;
	ItemPointerData *tids = NULL;
	uint64		maxtids = 0;
	int			k;

	w = fs->w = memkv_frozen_writer_begin(fs->index, fs->run_id);
	memkv_frozen_writer_collect_keys(w);
	memkv_frozen_writer_want_filter(w, &fs->meta, fs->first, fs->ninputs,
									fs->report.in_delta_keys);
	if (fs->with_delta && fs->direct)
	{
		memkv_merge_input_init(&in[nin], NULL, NULL);
		in[nin++].run = fs->logrun;
	}
	else if (fs->with_delta)
	{
		int			s;

		for (s = 0; s < fs->nstripes; s++)
			if (entry->stripes[s].imm_keys.ntids > 0)
				memkv_merge_input_init(&in[nin++],
									   &entry->stripes[s].imm_keys, NULL);
	}
	for (k = 0; k < fs->ninputs; k++)
		memkv_merge_input_init(&in[nin++], NULL, fs->frozen[k]);

	for (;;)
	{
		const uint8 *key = NULL;	/* may be NULL for the empty key */
		Size		keylen = 0;
		bool		have = false;
		uint64		n = 0;
		uint64		need = 0;
		bool		take[RUNDIR_MAX_RUNS + MEMKV_MAX_STRIPES];

		CHECK_FOR_INTERRUPTS();
		/* the smallest key any input is at, and which inputs are at it */
		for (k = 0; k < nin; k++)
		{
			MemkvSourceKey *ik;
			int			c;

			take[k] = false;
			if (!memkv_merge_input_ready(&in[k]))
				continue;
			ik = &in[k].run.keys[in[k].pos];
			c = !have ? -1 :
				memkv_key_cmp((const uint8 *) in[k].run.keybuf + ik->key_offset,
							  ik->key_len, key, keylen);
			if (c < 0)
			{
				int			j;

				for (j = 0; j < k; j++)
					take[j] = false;
				key = (const uint8 *) in[k].run.keybuf + ik->key_offset;
				keylen = ik->key_len;
				have = true;
				need = 0;
			}
			if (c <= 0)
			{
				take[k] = true;
				need += ik->ntids;
			}
		}
		if (!have)
			break;

		/* the key's TIDs from every input that has it */
		if (need > maxtids)
		{
			maxtids = Max(need, 64);
			tids = tids ? repalloc_huge(tids, mul_size(maxtids, sizeof(ItemPointerData))) :
				MemoryContextAllocHuge(fs->cxt, mul_size(maxtids, sizeof(ItemPointerData)));
		}
		for (k = 0; k < nin; k++)
		{
			MemkvSourceKey *ik;

			if (!take[k])
				continue;
			ik = &in[k].run.keys[in[k].pos];
			memcpy(tids + n, in[k].run.tids + ik->tid_start,
				   ik->ntids * sizeof(ItemPointerData));
			n += ik->ntids;
		}
		fs->removed += memkv_filter_dead(tids, &n, fs->dead, fs->dead_state);
		memkv_sort_tids(tids, &n);
		if (n > 0)
		{
			memkv_frozen_writer_add(w, key, keylen, tids, n);
			fs->kept += n;
		}
		/* the key bytes belong to an input: step past it only now */
		for (k = 0; k < nin; k++)
		{
			if (take[k])
				in[k].pos++;
		}
	}

	/* the NULL key */
	if (fs->with_delta && fs->direct)
		nulls = fs->lognulls;
	else
	{
		memkv_source_init(&nulls);
		for (k = 0; fs->with_delta && k < fs->nstripes; k++)
		{
			const ArtTid *atids;
			uint32		nnull = art_lookup(&entry->stripes[k].imm_nulls,
										   memkv_allocator(),
										   (const uint8 *) "", 0, &atids);

			if (nnull > 0)
				memkv_source_add(&nulls, NULL, 0,
								 (const ItemPointerData *) atids, nnull);
		}
	}
	for (k = 0; k < fs->ninputs; k++)
		memkv_frozen_nulls(fs->frozen[k], &nulls);
	{
		uint64		n = nulls.ntids;

		fs->removed += memkv_filter_dead(nulls.tids, &n, fs->dead,
										 fs->dead_state);
		memkv_sort_tids(nulls.tids, &n);
		memkv_frozen_writer_add_nulls(w, nulls.tids, n);
		fs->kept += n;
	}
	for (k = 0; k < fs->ninputs; k++)
	{
		memkv_frozen_close(fs->frozen[k]);
		fs->frozen[k] = NULL;
	}
	INSTR_TIME_SET_CURRENT(fs->t_merged);

	fs->have_newrun = fs->kept > 0;
	if (fs->have_newrun)
		memkv_frozen_writer_finish(w, fs->index, fs->run_id, &fs->newrun);
	/* testing aid: a merge waits here, its pages written, not switched */
	memkv_debug_pause(fs->is_merge ? memkv_debug_merge_pause_lock : 0);
	INSTR_TIME_SET_CURRENT(fs->t_written);
}

/*
 * Phase 3, switch: under every stripe lock, exclusive, write the directory
 * in one WAL record -- the new run in the place of the input runs (first,
 * for a freeze), generation + 1, and for a freeze each stripe's log head
 * moved to its boundary -- then (a freeze) take the set-aside trees out of
 * the stripes (into fs, for the clean-up) and end the entry's freezing
 * state; drop the shared copy if it was of an input run, and give the new
 * run one if it is now the largest.  The stripe locks are released on
 * return; the metapage lock is still held.
 */
static void
memkv_freeze_switch(MemkvFreezeState *fs)
{
	Relation	index = fs->index;
	MemkvEntry *entry;
	Buffer		metabuf;
	MemkvDirectory dir;
	const char *msg;
	int			big;
	int			pos;
	int			k;
	int			s;

	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	Assert(entry == fs->entry);
	if (fs->direct)
	{
		/* the logs ended there: the boundaries are their ends */
		for (s = 0; s < fs->nstripes; s++)
		{
			entry->stripes[s].freeze_blkno = fs->direct_end_blkno[s];
			entry->stripes[s].freeze_offset = fs->direct_end_offset[s];
		}
	}
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	memkv_read_directory(index, metabuf, &dir);

	/* a merge's or a freeze's switch may have come in between: see merge.c */
	if (dir.generation < fs->meta.generation ||
		dir.instance_id != fs->meta.instance_id ||
		(fs->ninputs > 0 && rundir_find_run(&dir, fs->input_ids[0]) < 0))
		elog(ERROR, "memkv: directory of \"%s\" changed during a %s",
			 RelationGetRelationName(index), fs->report.op);
	pos = fs->with_delta ? 0 : rundir_find_run(&dir, fs->input_ids[0]);
	if (rundir_remove_runs(&dir, fs->input_ids, fs->ninputs) !=
		(uint32) fs->ninputs ||
		(fs->have_newrun &&
		 !rundir_insert_run(&dir, (uint32) pos, &fs->newrun)))
		elog(ERROR, "memkv: directory of \"%s\" cannot take the new run",
			 RelationGetRelationName(index));
	if (fs->with_delta)
	{
		/*
		 * Each log now starts at its boundary; entries appended since
		 * phase 1 stay in it and in the fresh trees.
		 */
		for (s = 0; s < fs->nstripes; s++)
		{
			dir.stripes[s].log_head = entry->stripes[s].freeze_blkno;
			dir.stripes[s].log_head_offset = entry->stripes[s].freeze_offset;
		}
		dir.freeze_count++;
		dir.last_freeze = GetCurrentTimestamp();
	}
	else
	{
		dir.merge_count++;
		dir.last_merge = GetCurrentTimestamp();
	}
	dir.generation++;
	if (rundir_validate(&dir, RUNDIR_INVALID_BLOCK, &msg) != RUNDIR_OK)
		elog(ERROR, "memkv: new directory of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), msg);
	memkv_wal_switch_removing(index, metabuf, &dir, fs->removed > 0);
	UnlockReleaseBuffer(metabuf);
	memkv_meta_from_directory(&dir, &fs->newmeta);

	/* the shared copy of an input run is of a run no scan will read */
	for (k = 0; k < fs->ninputs; k++)
	{
		if (entry->run_copy_instance == fs->meta.instance_id &&
			entry->run_copy_epoch == fs->old_tags[k] &&
			entry->run_copy_start == fs->meta.runs[fs->first + k].run_header)
			memkv_entry_free_run_copy(entry);
	}
	/* the new run's shared copy and key blocks, if it is the largest */
	big = memkv_meta_largest_run(&fs->newmeta);
	if (fs->have_newrun && big >= 0 &&
		fs->newmeta.runs[big].run_id == fs->newrun.run_id)
	{
		memkv_entry_free_run_copy(entry);
		memkv_frozen_writer_install_cache(fs->w, entry, &fs->newmeta.runs[big]);
	}
	if (fs->with_delta)
	{
		/*
		 * Take the set-aside trees out of the stripes; they are freed
		 * below, after the stripe locks are released, since inserts wait
		 * for them.
		 */
		for (s = 0; s < fs->nstripes; s++)
		{
			MemkvStripe *st = &entry->stripes[s];

			fs->old_keys[s] = st->imm_keys;
			fs->old_nulls[s] = st->imm_nulls;
			memset(&st->imm_keys, 0, sizeof(ArtTree));
			memset(&st->imm_nulls, 0, sizeof(ArtTree));
			if (fs->direct)
			{
				/*
				 * The trees mirror the log from the boundary: those that
				 * did sync before the delta ran out of room hold keys now
				 * frozen, so they go too.
				 */
				fs->old_keys[s] = st->keys;
				fs->old_nulls[s] = st->nulls;
				memset(&st->keys, 0, sizeof(ArtTree));
				memset(&st->nulls, 0, sizeof(ArtTree));
				st->instance_id = fs->newmeta.instance_id;
				st->resume_blkno = st->freeze_blkno;
				st->resume_offset = st->freeze_offset;
				st->valid = true;
				st->loaded = true;
				st->synced_in_recovery = false;
			}
			fs->old_log_head[s] = fs->meta.log_head[s];
			fs->boundary[s] = st->freeze_blkno;
			if (fs->stats)
				fs->kept += st->keys.ntids + st->nulls.ntids;
		}
		entry->freezing = false;
		entry->freeze_direct = false;
	}
	for (s = 0; s < entry->nstripes; s++)
		entry->stripes[s].epoch = fs->newmeta.epoch;
	memkv_entry_release(entry);
	INSTR_TIME_SET_CURRENT(fs->t_switched);
}

/*
 * After the switch, clean up: free the set-aside trees, retire the old
 * log pages before the boundary and the input runs' pages.  Needs no
 * entry lock, so inserts and scans go on meanwhile; caller holds the
 * metapage lock, which keeps the next freeze and amvacuumcleanup away
 * from these pages.
 */
static void
memkv_freeze_retire(MemkvFreezeState *fs)
{
	int			k;

	int			s;

	/*
	 * No one references the set-aside trees any more: free them.  The old
	 * logs up to their boundaries are unreachable: free them.  None of
	 * their pages is in the free space map before we free it, so no append
	 * can link one meanwhile.  So are the input runs: every batch that
	 * read the old directory ended before the switch got its stripe locks.
	 */
	for (s = 0; fs->with_delta && s < fs->nstripes; s++)
	{
		art_free_all(&fs->old_keys[s], memkv_allocator());
		art_free_all(&fs->old_nulls[s], memkv_allocator());
		fs->report.pages_freed += memkv_delete_log(fs->index,
												   fs->old_log_head[s],
												   fs->boundary[s]);
	}
	for (k = 0; k < fs->ninputs; k++)
		fs->report.pages_freed += memkv_delete_run(fs->index,
												   fs->old_blocks[k],
												   fs->old_nblocks[k],
												   fs->old_tags[k]);
	IndexFreeSpaceMapVacuum(fs->index);
	INSTR_TIME_SET_CURRENT(fs->t_end);
}

/*
 * Rewrite part of `index` into one new run: with `with_delta` the delta
 * (a freeze), and the runs [first, first + ninputs) of the directory
 * (ninputs -1: all of them); or, with `pick`, the runs it picks (none:
 * nothing to do).  Without the delta and `dead` this is a merge, under
 * the caller's merge lock; else the freeze lock is held throughout (and
 * VACUUM holds the merge lock too).  With `dead`, TIDs it
 * reports dead are left out (VACUUM), and *stats is filled in.  `trigger`
 * says who asked, for the figures and the log line memkv_report_layer_op
 * makes of it once it is done.  Returns false if there was nothing to do.
 *
 * Inserts and scans go on meanwhile: the entry lock is held exclusively
 * only to set the delta trees aside (phase 1) and to switch to the new
 * run (phase 3).  In between, new entries go to fresh trees and on the
 * log past the boundary; scans read the runs, the trees set aside, and
 * the fresh ones.  Freezes of one index are serialized by the freeze
 * lock, merges by the merge lock.  In direct mode (the delta does not fit
 * in shared memory) inserts and scans wait for the whole freeze on that
 * lock (memkv_open_synced); no LWLock is held across the merge either way.
 */
bool
memkv_rewrite(Relation index, bool with_delta, int first, int ninputs,
			  MemkvPickRuns pick, IndexBulkDeleteCallback dead,
			  void *dead_state, IndexBulkDeleteResult *stats,
			  MemkvFreezeTrigger trigger)
{
	MemoryContext oldcxt;
	MemkvFreezeState fs;
	MemkvFreezeCleanup fc;
	WalUsage	wal_start = pgWalUsage;

	memset(&fs, 0, sizeof(fs));
	fs.index = index;
	fs.dead = dead;
	fs.dead_state = dead_state;
	fs.stats = stats;
	fs.with_delta = with_delta;
	fs.is_merge = !with_delta && dead == NULL;
	fs.first = first;
	fs.ninputs = ninputs;
	fs.report.op = with_delta ? "freeze" : "merge";
	fs.report.trigger = trigger;
	INSTR_TIME_SET_CURRENT(fs.t_start);
	if (!fs.is_merge)
		LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	if (pick != NULL)
	{
		MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));
		bool		due;
		int			k;

		memkv_read_meta(index, meta);
		due = pick(index, meta, &fs.first, &fs.ninputs, &fs.run_id);
		for (k = 0; due && k < fs.ninputs; k++)
			fs.input_ids[k] = meta->runs[fs.first + k].run_id;
		pfree(meta);
		if (!due)
		{
			if (!fs.is_merge)
				UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
			return false;
		}
	}
	fs.cxt = AllocSetContextCreate(CurrentMemoryContext, "memkv freeze",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(fs.cxt);

	memkv_freeze_set_aside(&fs);

	fc.index = index;
	fc.entry = fs.is_merge ? NULL : fs.entry;
	PG_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));
	{
		memkv_freeze_read_inputs(&fs);
		memkv_freeze_merge_write(&fs);
		memkv_freeze_switch(&fs);
	}
	PG_END_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));

	memkv_freeze_retire(&fs);

	elog(DEBUG1, "memkv %s of \"%s\": %d runs in, %llu keys, %llu TIDs out; set aside %.0f ms, merge %.0f ms, write %.0f ms, switch %.0f ms, free %.0f ms",
		 fs.report.op, RelationGetRelationName(index), fs.ninputs,
		 (unsigned long long) fs.newrun.nkeys,
		 (unsigned long long) fs.newrun.ntids,
		 INSTR_TIME_GET_MILLISEC(fs.t_aside) - INSTR_TIME_GET_MILLISEC(fs.t_start),
		 INSTR_TIME_GET_MILLISEC(fs.t_merged) - INSTR_TIME_GET_MILLISEC(fs.t_aside),
		 INSTR_TIME_GET_MILLISEC(fs.t_written) - INSTR_TIME_GET_MILLISEC(fs.t_merged),
		 INSTR_TIME_GET_MILLISEC(fs.t_switched) - INSTR_TIME_GET_MILLISEC(fs.t_written),
		 INSTR_TIME_GET_MILLISEC(fs.t_end) - INSTR_TIME_GET_MILLISEC(fs.t_switched));

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(fs.cxt);
	if (!fs.is_merge)
		UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);

	fs.report.out_keys = fs.newrun.nkeys;
	fs.report.out_tids = fs.newrun.ntids;
	fs.report.dead_tids = fs.removed;
	fs.report.pages_written = fs.newrun.npages;
	fs.report.bytes_written = (uint64) fs.newrun.npages * BLCKSZ;
	WalUsageAccumDiff(&fs.report.wal, &pgWalUsage, &wal_start);
	fs.report.elapsed_ms = INSTR_TIME_GET_MILLISEC(fs.t_end) -
		INSTR_TIME_GET_MILLISEC(fs.t_start);
	memkv_report_layer_op(index, &fs.report);

	if (stats)
	{
		stats->tuples_removed += fs.removed;
		stats->num_index_tuples = fs.kept;
		stats->num_pages = RelationGetNumberOfBlocks(index);
	}
	return true;
}
