/*-------------------------------------------------------------------------
 *
 * memkv.c
 *	  Module load (_PG_init), configuration parameters, the handler that
 *	  describes the memkv index access method to the server, and small
 *	  memory helpers the other files share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"

#include "guard.h"
#include "limbo.h"
#include "memkv.h"
#include "memkv_guc.h"
#include "runfilter.h"
#include "registry.h"
#include "request.h"
#include "stats.h"
#include "validate.h"
#include "wal.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(memkv_handler);

int			memkv_shared_memory_mb = 128;
int			memkv_debug_freeze_pause_lock = 0;
int			memkv_debug_merge_pause_lock = 0;
int			memkv_debug_insert_pause_lock = 0;
int			memkv_debug_slice_bytes = 0;
int			memkv_debug_build_part_kb = 0;
int			memkv_debug_unit_bytes = -1;
int			memkv_debug_header_version = 3;
int			memkv_debug_filter_bits = -1;
int			memkv_debug_share_window = -1;
int			memkv_max_indexes = 64;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

void		_PG_init(void);

static void
memkv_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	memkv_shmem_request();
	memkv_guard_shmem_request();
	memkv_stats_shmem_request();
	memkv_request_shmem_request();
}

static void
memkv_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	memkv_shmem_startup();
	memkv_guard_shmem_startup();
	memkv_set_tree_retire(memkv_limbo_retire);
	memkv_stats_shmem_startup();
	memkv_request_shmem_startup();
}

/*
 * Object-access hook: when a memkv index is dropped (DROP INDEX, DROP
 * TABLE, a temp table at the end of its session...), its registry entry
 * gives back the shared memory of its trees and copies at once, instead of
 * keeping it until memory pressure evicts it.  The entry is only a cache,
 * so this is right even if the drop is rolled back.
 */
static void
memkv_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == RelationRelationId && subId == 0 &&
		memkv_shared != NULL)
	{
		Relation	rel = RelationIdGetRelation(objectId);

		if (RelationIsValid(rel))
		{
			if (rel->rd_rel->relkind == RELKIND_INDEX &&
				rel->rd_indam != NULL && rel->rd_indam->ambuild == memkv_build)
				memkv_entry_forget(MEMKV_REL_FILE(rel),
								   RelationUsesLocalBuffers(rel) ?
								   rel->rd_backend : InvalidBackendId);
			RelationClose(rel);
		}
	}
}

/*
 * Module load.  Everything memkv does needs its shared memory, which can
 * only be reserved while shared_preload_libraries is processed; loaded any
 * other way (CREATE EXTENSION in a server without the preload) the module
 * only remembers that, and every memkv operation then raises an ERROR.
 */
void
_PG_init(void)
{
	memkv_register_reloptions();
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("memkv.shared_memory",
							"Shared memory for memkv's in-memory delta trees.",
							"Shared by all memkv indexes of the server.",
							&memkv_shared_memory_mb,
							128, 1, 32767,
							PGC_POSTMASTER,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.max_indexes",
							"Number of memkv indexes whose delta trees are kept in shared memory at once.",
							"Past this, the least recently used tree is evicted; it is rebuilt from the index on next use.",
							&memkv_max_indexes,
							64, 1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.freeze_threshold",
							"Delta size (TIDs) at which a memkv index is frozen by a background worker.",
							"0 disables automatic freezing; the freeze_threshold storage parameter overrides it per index.",
							&memkv_freeze_threshold,
							1000000, 0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.log_freeze_min_duration",
							"Sets the minimum execution time above which memkv freezes will be logged.",
							"Zero logs every freeze. -1 turns freeze logging off.",
							&memkv_log_freeze_min_duration,
							600000, -1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.top_memo_kb",
							"Backend memory per memkv index for copies of the pages every lookup in a run reads.",
							"Each slice's FST top region and postings group table, copied on first use; 0 reads them from shared buffers.",
							&memkv_top_memo_kb,
							4096, 0, MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_freeze_pause_lock",
							"Testing aid: a freeze waits for this advisory lock key between setting the delta aside and merging.",
							"0 (the default) means no wait.  Used by the isolation tests to hold a freeze in its middle phase.",
							&memkv_debug_freeze_pause_lock,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_merge_pause_lock",
							"Testing aid: a merge waits for this advisory lock key after writing its run, before its switch.",
							"0 (the default) means no wait.  Used by the tests to hold a merge in its write.",
							&memkv_debug_merge_pause_lock,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_insert_pause_lock",
							"Testing aid: an insert waits for this advisory lock key after adding its key to the delta tree, holding its stripe's lock.",
							"0 (the default) means no wait.  Used by the isolation tests to show that scans do not wait for inserts.",
							&memkv_debug_insert_pause_lock,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_slice_bytes",
							"Testing aid: a run writer closes its slice when its plain FST image reaches this many bytes.",
							"0 (the default) means the writer's budget (maintenance_work_mem / 2, at least 2 MB) / 6.  Used by the tests to make runs of many slices.",
							&memkv_debug_slice_bytes,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_build_part_kb",
							"Testing aid: the memory of each participant of a parallel CREATE INDEX, in kB.",
							"0 (the default) means maintenance_work_mem / participants.  PostgreSQL plans workers only from 32MB a participant on; the tests use this to make a parallel build spill often and merge with small buffers.",
							&memkv_debug_build_part_kb,
							0, 0, INT_MAX / 1024,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_unit_bytes",
							"Testing aid: the size of the leaf units under the FST top region of the runs a writer makes.",
							"-1 (the default) means one page's worth of a run's stream; 0 writes no top region (FST format version 2, as memkv before it).  Used by the tests to make runs of many small units, and runs of the older layout.",
							&memkv_debug_unit_bytes,
							-1, -1, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_header_version",
							"Testing aid: the version of the run headers a run writer writes.",
							"3 (the default) names the run's membership filter, if it has one; 2 records each slice's key count and a checksum but no filter; 1 writes the oldest header without them, which readers open slice by slice up front.  Used by the tests to make runs of the older formats.",
							&memkv_debug_header_version,
							3, 1, 3,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_filter_bits",
							"Testing aid: bits per key of the membership filters of the runs a writer makes.",
							"-1 (the default) means 10 bits a key (about 1% false positives); 0 writes no filter.  Only runs that are not the oldest of the index get a filter (a freeze, or a merge that leaves an older run below it).",
							&memkv_debug_filter_bits,
							-1, -1, RUNFILTER_MAX_BITS,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("memkv.debug_share_window",
							"Testing aid: a run writer shares a suffix of its FST's leaf region only if the shared copy lies within this many bytes of the end of what it has written.",
							"-1 (the default) means twice the leaf unit's size; 0 shares suffixes wherever they are.  Used by the tests and benchmarks to compare the layouts.",
							&memkv_debug_share_window,
							-1, -1, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("memkv");

	memkv_register_rmgr();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = memkv_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = memkv_startup_hook;
	prev_object_access_hook = object_access_hook;
	object_access_hook = memkv_object_access;

	memkv_preloaded = true;
}

#if PG_VERSION_NUM >= 180000
/*
 * amtranslatestrategy (18): the comparison a strategy number stands for.
 * memkv's strategies 1..5 are btree's and mean what btree's mean; ^@ has
 * no CompareType.  Needs no lock; the opfamily does not matter (memkv has
 * one shape of operator class).
 */
static CompareType
memkv_translate_strategy(StrategyNumber strategy, Oid opfamily)
{
	switch (strategy)
	{
		case MEMKV_LESS:
			return COMPARE_LT;
		case MEMKV_LESS_EQUAL:
			return COMPARE_LE;
		case MEMKV_EQUAL:
			return COMPARE_EQ;
		case MEMKV_GREATER_EQUAL:
			return COMPARE_GE;
		case MEMKV_GREATER:
			return COMPARE_GT;
	}
	return COMPARE_INVALID;
}

/*
 * amtranslatecmptype (18): the inverse, InvalidStrategy for a comparison
 * memkv has no strategy for (<>, overlap, ...).
 */
static StrategyNumber
memkv_translate_cmptype(CompareType cmptype, Oid opfamily)
{
	switch (cmptype)
	{
		case COMPARE_LT:
			return MEMKV_LESS;
		case COMPARE_LE:
			return MEMKV_LESS_EQUAL;
		case COMPARE_EQ:
			return MEMKV_EQUAL;
		case COMPARE_GE:
			return MEMKV_GREATER_EQUAL;
		case COMPARE_GT:
			return MEMKV_GREATER;
		default:
			break;
	}
	return InvalidStrategy;
}
#endif

/*
 * The access method handler: capabilities and callbacks.  The fields later
 * PostgreSQL versions added are set under #if; src/README ("PostgreSQL
 * versions") says why each has the value it has.
 */
Datum
memkv_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = MEMKV_NSTRATEGIES;
	amroutine->amsupport = MEMKV_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = true;
	amroutine->amcanorderbyop = false;
#if PG_VERSION_NUM >= 180000
	amroutine->amcanhash = false;
	amroutine->amconsistentequality = false;
	amroutine->amconsistentordering = false;
#endif
	amroutine->amcanbackward = true;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = true;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
#if PG_VERSION_NUM >= 170000
	amroutine->amcanbuildparallel = false;
#endif
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
#if PG_VERSION_NUM >= 160000
	amroutine->amsummarizing = false;
#endif
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_NO_PARALLEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = memkv_build;
	amroutine->ambuildempty = memkv_buildempty;
	amroutine->aminsert = memkv_insert;
#if PG_VERSION_NUM >= 170000
	amroutine->aminsertcleanup = NULL;
#endif
	amroutine->ambulkdelete = memkv_bulkdelete;
	amroutine->amvacuumcleanup = memkv_vacuumcleanup;
	amroutine->amcanreturn = memkv_canreturn;
	amroutine->amcostestimate = memkv_costestimate;
#if PG_VERSION_NUM >= 180000
	amroutine->amgettreeheight = NULL;
#endif
	amroutine->amoptions = memkv_options;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = memkv_buildphasename;
	amroutine->amvalidate = memkv_validate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = memkv_beginscan;
	amroutine->amrescan = memkv_rescan;
	amroutine->amgettuple = memkv_gettuple;
	amroutine->amgetbitmap = memkv_getbitmap;
	amroutine->amendscan = memkv_endscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;
#if PG_VERSION_NUM >= 180000
	amroutine->amtranslatestrategy = memkv_translate_strategy;
	amroutine->amtranslatecmptype = memkv_translate_cmptype;
#endif

	PG_RETURN_POINTER(amroutine);
}
