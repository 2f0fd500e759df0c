/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Monitoring (stats.c): what a freeze reports, the cumulative figures
 *	  of an index, and the functions that keep and read them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_STATS_H
#define MEMKV_STATS_H

#include "executor/instrument.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "memkv.h"

/*
 * What one freeze did, for the figures and the log line (stats.c).  A
 * merge of frozen runs (not yet written) is meant to report through the
 * same struct, with op "merge".
 */
typedef struct MemkvLayerOpReport
{
	const char *op;				/* "freeze", "merge", or "vacuum" (dead
								 * lists: counted in the figures, not
								 * as a freeze or merge) */
	MemkvFreezeTrigger trigger;
	uint64		instance_id;	/* of the index build */
	uint64		in_frozen_keys; /* the old frozen layer */
	uint64		in_frozen_tids;
	uint64		in_delta_keys;	/* the delta set aside (non-NULL keys) */
	uint64		in_delta_tids;	/* ... and its TIDs, NULL keys included */
	uint64		out_keys;		/* the new frozen layer */
	uint64		out_tids;
	uint64		dead_tids;		/* left out as VACUUM reported them dead */
	uint64		pages_written;	/* pages of the new run */
	uint64		bytes_written;	/* pages_written * BLCKSZ */
	uint64		pages_freed;	/* old log and spare pages retired */
	WalUsage	wal;			/* WAL this backend wrote for it */
	double		elapsed_ms;
} MemkvLayerOpReport;

/*
 * Cumulative figures of one index since the server started, its last
 * memkv_stat_reset(), or its last REINDEX, whichever is latest (stats.c).
 */
#define MEMKV_STAT_ERRLEN 256
typedef struct MemkvStats
{
	int64		freezes;
	double		freeze_ms;		/* their total elapsed time */
	int64		merges;			/* merges of runs (op "merge") */
	double		merge_ms;		/* their total elapsed time */
	int64		bytes_written;	/* by freezes: pages of new runs */
	int64		wal_bytes;		/* WAL written by freezes */
	int64		delta_tids;		/* TIDs moved from the delta by freezes */
	int64		dead_tids;		/* TIDs dropped as dead by freezes */
	int64		worker_failures;	/* failed background freezes */
	bool		failing;		/* the last background freeze failed */
	bool		merge_failing;	/* the last background merge failed */
	TimestampTz last_error_at;	/* 0 if none */
	TimestampTz reset_at;		/* last memkv_stat_reset(), or 0 */
	char		last_error[MEMKV_STAT_ERRLEN];
} MemkvStats;

extern void memkv_stats_shmem_request(void);
extern void memkv_stats_shmem_startup(void);
extern void memkv_report_layer_op(Relation index, const MemkvLayerOpReport *r);
extern void memkv_stats_worker_done(Oid dbid, Oid relid, uint64 instance_id,
									bool merge);
extern bool memkv_stats_worker_failed(Oid dbid, Oid relid, uint64 instance_id,
									  bool merge,
									  const char *message);
extern void memkv_stats_get(Oid dbid, Oid relid, uint64 instance_id,
							MemkvStats *out);
extern char *memkv_index_log_name(Relation index);

#endif							/* MEMKV_STATS_H */
