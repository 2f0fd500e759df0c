/*-------------------------------------------------------------------------
 *
 * limbo.h
 *	  Node limbo (limbo.c): arena blocks a delta-tree writer replaced wait
 *	  in the writing backend until no scan's guard can still reach them.
 *	  See src/README, "The concurrent tree".
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_LIMBO_H
#define MEMKV_LIMBO_H

#include "arena.h"

extern void memkv_limbo_retire(void *arg, ArenaPtr p, size_t size);
extern void memkv_limbo_flush(void);

#endif							/* MEMKV_LIMBO_H */
