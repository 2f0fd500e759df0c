/*-------------------------------------------------------------------------
 *
 * runbloom.h
 *	  Whether a scan can skip a run (runbloom.c): its directory bounds, and
 *	  its membership filter in its pages (written, probed, read whole).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNBLOOM_H
#define MEMKV_RUNBLOOM_H

#include "storage/block.h"
#include "utils/relcache.h"

#include "art.h"
#include "memkv.h"
#include "page.h"
#include "runhdr.h"

/* Called with each new page's block, in logical order. */
typedef void (*MemkvRunPageFn) (void *arg, BlockNumber blkno);

extern bool memkv_run_meets(const MemkvRunDesc *run, const ArtBound *lower,
							const ArtBound *upper, bool equality);
extern int	memkv_filter_bits(void);
extern uint16 memkv_filter_block_offset(void);
extern uint32 memkv_run_filter_write(Relation index, uint32 tag,
									 const RunFilterParams *p,
									 const uint8 *blocks, MemkvRunPageFn note,
									 void *arg);
extern bool memkv_run_filter_may_hold(Relation index, const RunHeader *hdr,
									  uint32 tag, const uint8 *mem,
									  const uint8 *key, Size len);
extern uint8 *memkv_run_filter_read(Relation index, const RunHeader *hdr,
									uint32 tag, bool *crc_ok);

#endif							/* MEMKV_RUNBLOOM_H */
