/*-------------------------------------------------------------------------
 *
 * runread.h
 *	  Reading a frozen run (runread.c): open, look up, walk keys in order
 *	  into a sink, check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNREAD_H
#define MEMKV_RUNREAD_H

#include "deadlist.h"
#include "fst.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "runbloom.h"
#include "runhdr.h"
#include "runmemo.h"

/* The opened frozen layer of an index (see runread.c). */
typedef struct MemkvFrozen MemkvFrozen;

/*
 * Where a scan's walk of a frozen run stopped, kept from one batch to the
 * next so that the next batch continues there instead of seeking (see
 * runread.c).
 */
typedef struct MemkvFrozenPos MemkvFrozenPos;

/*
 * Where a frozen layer's keys go as they are collected: add() receives
 * each key with all its TIDs; ntids counts the TIDs given so far (the
 * collection stops at a key boundary once it reaches the target, and then
 * sets stopped).
 */
typedef struct MemkvKeySink
{
	void		(*add) (void *arg, const uint8 *key, Size keylen,
						const ItemPointerData *tids, uint64 ntids);
	void	   *arg;
	uint64		ntids;
	bool		stopped;
} MemkvKeySink;

extern bool memkv_run_may_hold(Relation index, const MemkvMetaPageData *meta,
							   int i, const ArtBound *key);
extern MemkvFrozen *memkv_frozen_open(Relation index,
									  const MemkvMetaPageData *meta, int i,
									  MemkvEntry *entry);
extern void memkv_frozen_close(MemkvFrozen *frozen);
extern void memkv_frozen_collect_to(MemkvFrozen *frozen, MemkvKeySink *sink,
									const ArtBound *lower,
									const ArtBound *upper, bool backward,
									int target, MemkvFrozenPos *pos,
									bool resume);
extern MemkvFrozenPos *memkv_frozen_pos_create(void);
extern void memkv_frozen_pos_forget(MemkvFrozenPos *pos);
extern void memkv_frozen_pos_free(MemkvFrozenPos *pos);
extern uint64 memkv_frozen_null_tids(MemkvFrozen *frozen,
									 const ItemPointerData **tids);
extern bool memkv_frozen_check(MemkvFrozen *frozen, char *errbuf,
							   bool *unopened);

/* Called on each TID of a run with its key's ordinal (nkeys: NULL key). */
typedef void (*MemkvTidFn) (void *arg, uint64 ordinal,
							const ItemPointerData *tid);
extern void memkv_frozen_each_tid(MemkvFrozen *frozen, MemkvTidFn fn,
								  void *arg);
extern const DeadList *memkv_frozen_dead_list(MemkvFrozen *frozen);

#endif							/* MEMKV_RUNREAD_H */
