/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Monitoring: cumulative per-index figures of freezes and of failed
 *	  background freezes, kept in a small shared table of their own, and
 *	  the server log line a freeze writes when it took at least
 *	  memkv.log_freeze_min_duration.
 *
 * The figures are not kept in the registry (shmem.c): a registry entry is
 * a cache slot that eviction hands to another index at any time, and the
 * figures must outlive that.  The table has 4 * memkv.max_indexes slots,
 * keyed by (database, index OID) and tagged with the index build's
 * instance_id, so that a REINDEX, or a new index that gets a dropped
 * one's OID, starts from zero instead of inheriting stale figures.  When
 * every slot is taken, the one updated longest ago is reused.  Nothing is
 * written to disk: the figures start from zero when the server starts
 * (see src/README, "Monitoring").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "caller.h"
#include "memkv.h"
#include "memkv_guc.h"
#include "page.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(memkv_stat_reset);

/* memkv.log_freeze_min_duration, in ms; -1 logs nothing */
int			memkv_log_freeze_min_duration = 600000;

#define MEMKV_STATS_TRANCHE "memkv stats"

/* One slot of the table; all fields under the table's lock. */
typedef struct MemkvStatSlot
{
	Oid			dbid;			/* InvalidOid: free slot */
	Oid			relid;
	uint64		instance_id;	/* index build counted; 0: not yet known */
	uint64		last_touch;		/* table clock at the last update */
	MemkvStats	stats;
} MemkvStatSlot;

typedef struct MemkvStatTable
{
	LWLock	   *lock;
	int			nslots;
	uint64		clock;
	MemkvStatSlot slots[FLEXIBLE_ARRAY_MEMBER];
} MemkvStatTable;

static MemkvStatTable *stat_table = NULL;

static int
memkv_stats_nslots(void)
{
	return 4 * memkv_max_indexes;
}

static Size
memkv_stats_size(void)
{
	return add_size(offsetof(MemkvStatTable, slots),
					mul_size(sizeof(MemkvStatSlot), memkv_stats_nslots()));
}

/* Called from shmem_request_hook: reserve the table and its lock. */
void
memkv_stats_shmem_request(void)
{
	RequestAddinShmemSpace(memkv_stats_size());
	RequestNamedLWLockTranche(MEMKV_STATS_TRANCHE, 1);
}

/* Called from shmem_startup_hook: create or attach the table. */
void
memkv_stats_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stat_table = ShmemInitStruct("memkv stats", memkv_stats_size(), &found);
	if (!found)
	{
		memset(stat_table, 0, memkv_stats_size());
		stat_table->nslots = memkv_stats_nslots();
		stat_table->lock = &GetNamedLWLockTranche(MEMKV_STATS_TRANCHE)->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The slot of (dbid, relid), made if missing (reusing the free slot or
 * the one updated longest ago) and emptied if it counted another build of
 * the index than `instance_id` (0: unknown, keep what is there).  Caller
 * holds the table lock exclusively.
 */
static MemkvStatSlot *
memkv_stats_slot(Oid dbid, Oid relid, uint64 instance_id)
{
	MemkvStatSlot *victim = NULL;
	MemkvStatSlot *slot = NULL;
	int			i;

	for (i = 0; i < stat_table->nslots; i++)
	{
		MemkvStatSlot *s = &stat_table->slots[i];

		if (s->dbid == dbid && s->relid == relid && OidIsValid(s->relid))
		{
			slot = s;
			break;
		}
		if (victim == NULL || !OidIsValid(s->relid) ||
			(OidIsValid(victim->relid) && s->last_touch < victim->last_touch))
			victim = s;
	}
	if (slot == NULL)
	{
		slot = victim;
		memset(slot, 0, sizeof(MemkvStatSlot));
		slot->dbid = dbid;
		slot->relid = relid;
	}
	if (instance_id != 0 && slot->instance_id != instance_id)
	{
		if (slot->instance_id != 0)
			memset(&slot->stats, 0, sizeof(MemkvStats));
		slot->instance_id = instance_id;
	}
	slot->last_touch = ++stat_table->clock;
	return slot;
}

/*
 * Add a finished freeze or merge to its index's figures.  One done
 * outside a background worker ends a run of failed background freezes; a
 * worker's own ends it only once the worker's whole job (its freeze and
 * the merges after it) has succeeded (memkv_stats_worker_done), so that a
 * job whose freeze succeeds and whose merge fails the same way at every
 * retry logs the failure once.  Takes the table lock (no other lock
 * needed).
 */
static void
memkv_stats_count(Relation index, const MemkvLayerOpReport *r)
{
	MemkvStatSlot *slot;

	LWLockAcquire(stat_table->lock, LW_EXCLUSIVE);
	slot = memkv_stats_slot(MyDatabaseId, RelationGetRelid(index),
							r->instance_id);
	if (strcmp(r->op, "merge") == 0)
	{
		slot->stats.merges++;
		slot->stats.merge_ms += r->elapsed_ms;
	}
	else if (strcmp(r->op, "vacuum") != 0)	/* VACUUM's dead lists */
	{
		slot->stats.freezes++;
		slot->stats.freeze_ms += r->elapsed_ms;
	}
	slot->stats.bytes_written += r->bytes_written;
	slot->stats.wal_bytes += r->wal.wal_bytes;
	slot->stats.delta_tids += r->in_delta_tids;
	slot->stats.dead_tids += r->dead_tids;
	if (r->trigger != MEMKV_TRIGGER_WORKER)
	{
		if (strcmp(r->op, "merge") == 0)
			slot->stats.merge_failing = false;
		else if (strcmp(r->op, "vacuum") != 0)
			slot->stats.failing = false;
	}
	LWLockRelease(stat_table->lock);
}

/*
 * A background worker's job on (dbid, relid) succeeded: the next failure
 * of that kind of worker (`merge`: a merge worker) is logged again.  The
 * two kinds keep separate marks, so that a freeze worker's success does
 * not make a merge worker failing over and over log every time.  Takes
 * the table lock.
 */
void
memkv_stats_worker_done(Oid dbid, Oid relid, uint64 instance_id, bool merge)
{
	MemkvStatSlot *slot;

	LWLockAcquire(stat_table->lock, LW_EXCLUSIVE);
	slot = memkv_stats_slot(dbid, relid, instance_id);
	if (merge)
		slot->stats.merge_failing = false;
	else
		slot->stats.failing = false;
	LWLockRelease(stat_table->lock);
}

/*
 * Record a failed background freeze (`merge`: merge) of (dbid, relid),
 * or a worker of that kind that could not start; instance_id may be
 * 0 if the metapage could not be read.  Returns true if it should be
 * logged: the previous background freeze did not fail, or failed for
 * another reason (so a worker retried every few seconds for the same
 * cause logs it once).  Takes the table lock.
 */
bool
memkv_stats_worker_failed(Oid dbid, Oid relid, uint64 instance_id,
						  bool merge, const char *message)
{
	MemkvStatSlot *slot;
	bool		first;
	bool	   *failing;

	LWLockAcquire(stat_table->lock, LW_EXCLUSIVE);
	slot = memkv_stats_slot(dbid, relid, instance_id);
	failing = merge ? &slot->stats.merge_failing : &slot->stats.failing;
	first = !*failing ||
		strncmp(slot->stats.last_error, message,
				sizeof(slot->stats.last_error) - 1) != 0;
	slot->stats.worker_failures++;
	*failing = true;
	slot->stats.last_error_at = GetCurrentTimestamp();
	strlcpy(slot->stats.last_error, message, sizeof(slot->stats.last_error));
	LWLockRelease(stat_table->lock);
	return first;
}

/*
 * Copy the figures of the index (dbid, relid) as built by instance_id
 * into *out (zeros if there are none).  Takes the table lock.
 */
void
memkv_stats_get(Oid dbid, Oid relid, uint64 instance_id, MemkvStats *out)
{
	int			i;

	memset(out, 0, sizeof(MemkvStats));
	LWLockAcquire(stat_table->lock, LW_SHARED);
	for (i = 0; i < stat_table->nslots; i++)
	{
		MemkvStatSlot *s = &stat_table->slots[i];

		if (s->dbid == dbid && s->relid == relid && OidIsValid(s->relid))
		{
			if (s->instance_id == 0 || s->instance_id == instance_id)
				*out = s->stats;
			break;
		}
	}
	LWLockRelease(stat_table->lock);
}

/*
 * memkv_stat_reset(index regclass) returns void: zero the index's figures
 * (freezes, their time and writes, worker failures and the last error),
 * remembering when.  EXECUTE is revoked from PUBLIC, as for
 * pg_stat_reset_single_table_counters; the caller must also be allowed to
 * SELECT from the table (memkv_open_for_caller).
 */
Datum
memkv_stat_reset(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index = memkv_open_for_caller(relid, AccessShareLock,
											  MEMKV_CALLER_SELECT);
	MemkvMetaPageData meta;
	MemkvStatSlot *slot;

	memkv_read_meta(index, &meta);
	LWLockAcquire(stat_table->lock, LW_EXCLUSIVE);
	slot = memkv_stats_slot(MyDatabaseId, relid, meta.instance_id);
	memset(&slot->stats, 0, sizeof(MemkvStats));
	slot->stats.reset_at = GetCurrentTimestamp();
	LWLockRelease(stat_table->lock);
	memkv_close_for_caller(index, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * "db.schema.index" for log lines, as autovacuum names a table, in the
 * caller's memory context.
 */
char *
memkv_index_log_name(Relation index)
{
	char	   *db = get_database_name(MyDatabaseId);
	char	   *nsp = get_namespace_name(RelationGetNamespace(index));

	return psprintf("%s.%s.%s", db ? db : "?", nsp ? nsp : "?",
					RelationGetRelationName(index));
}

/* What made a freeze run, in words, for its log line. */
static const char *
memkv_trigger_name(MemkvFreezeTrigger trigger)
{
#if PG_VERSION_NUM >= 170000
	bool		av = AmAutoVacuumWorkerProcess();
#else
	bool		av = IsAutoVacuumWorkerProcess();
#endif

	switch (trigger)
	{
		case MEMKV_TRIGGER_SQL:
			return "memkv_freeze()";
		case MEMKV_TRIGGER_WORKER:
			return "background worker";
		case MEMKV_TRIGGER_VACUUM:
			return av ? "autovacuum" : "VACUUM";
		case MEMKV_TRIGGER_VACUUM_CLEANUP:
			return av ? "autovacuum cleanup" : "VACUUM cleanup";
		case MEMKV_TRIGGER_INSERT:
			return "insert into a temp index";
	}
	return "unknown";
}

/*
 * A freeze (later also a merge: r->op names the operation) has finished:
 * add it to its index's figures, and if it took at least
 * memkv.log_freeze_min_duration, log one line saying what it read, what
 * it wrote and how long it took.  No lock needed on entry.
 */
void
memkv_report_layer_op(Relation index, const MemkvLayerOpReport *r)
{
	memkv_stats_count(index, r);

	if (memkv_log_freeze_min_duration < 0 ||
		r->elapsed_ms < (double) memkv_log_freeze_min_duration)
		return;
	ereport(LOG,
			(errmsg("memkv %s of index \"%s\" (triggered by %s): "
					"in: frozen %llu keys %llu TIDs, delta %llu keys %llu TIDs; "
					"out: %llu keys %llu TIDs; dead TIDs dropped: %llu; "
					"written: %llu pages, %llu bytes; freed: %llu pages; "
					"WAL: %lld records, %lld full page images, %llu bytes; "
					"elapsed: %.3f s",
					r->op, memkv_index_log_name(index),
					(strcmp(r->op, "merge") == 0 &&
					 r->trigger == MEMKV_TRIGGER_SQL) ? "memkv_merge()" :
					memkv_trigger_name(r->trigger),
					(unsigned long long) r->in_frozen_keys,
					(unsigned long long) r->in_frozen_tids,
					(unsigned long long) r->in_delta_keys,
					(unsigned long long) r->in_delta_tids,
					(unsigned long long) r->out_keys,
					(unsigned long long) r->out_tids,
					(unsigned long long) r->dead_tids,
					(unsigned long long) r->pages_written,
					(unsigned long long) r->bytes_written,
					(unsigned long long) r->pages_freed,
					(long long) r->wal.wal_records,
					(long long) r->wal.wal_fpi,
					(unsigned long long) r->wal.wal_bytes,
					r->elapsed_ms / 1000.0),
			 errhidestmt(true)));
}
