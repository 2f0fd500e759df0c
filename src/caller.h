/*-------------------------------------------------------------------------
 *
 * caller.h
 *	  What memkv's SQL functions share (caller.c): opening an index for the
 *	  calling user, and stepping aside between the steps of a long walk.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_CALLER_H
#define MEMKV_CALLER_H

#include "memkv.h"
#include "registry.h"

/* What a SQL function's caller must be allowed to do with the table. */
typedef enum MemkvCallerRight
{
	MEMKV_CALLER_SELECT,		/* SELECT on the table */
	MEMKV_CALLER_STATS,			/* that, or pg_stat_scan_tables' privileges */
	MEMKV_CALLER_OWNER			/* own the table (or be a superuser) */
} MemkvCallerRight;

extern Relation memkv_open_for_caller(Oid indexoid, LOCKMODE lockmode,
									  MemkvCallerRight right);
extern void memkv_close_for_caller(Relation index, LOCKMODE lockmode);

/* Log pages read per hold of the entry lock, by memkv_state and verify. */
#define MEMKV_LOG_STEP_PAGES 8

extern void memkv_step_aside(MemkvEntry *entry);

#endif							/* MEMKV_CALLER_H */
