/*-------------------------------------------------------------------------
 *
 * request.h
 *	  Asking for a background freeze (request.c): the threshold, starting
 *	  a "memkv freeze" worker, ending its request, and the error for a
 *	  delta that does not fit in shared memory, which asks for one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_REQUEST_H
#define MEMKV_REQUEST_H

#include "memkv.h"
#include "registry.h"

/* What a "memkv freeze" worker is told, in bgw_extra. */
typedef struct MemkvWorkerArgs
{
	Oid			dboid;
	RelFileNode node;			/* the index's registry key at request time */
} MemkvWorkerArgs;

extern int64 memkv_threshold(Relation index);
extern bool memkv_maybe_request_freeze(Relation index, MemkvEntry *entry);
extern void memkv_request_freeze(Relation index, MemkvEntry *entry,
								 bool force);
extern void memkv_worker_end_request(const RelFileNode *node, bool success);
extern void memkv_report_exhausted(Relation index, MemkvEntry *entry) pg_attribute_noreturn();

#endif							/* MEMKV_REQUEST_H */
