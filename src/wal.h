/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  memkv's WAL resource manager (wal.c): registering it, and the
 *	  WAL-logged appends to the delta log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_WAL_H
#define MEMKV_WAL_H

#include "access/itup.h"
#include "storage/buf.h"
#include "storage/off.h"
#include "utils/relcache.h"

#define MEMKV_RMGR_ID 149		/* custom WAL resource manager id */
extern void memkv_register_rmgr(void);
extern OffsetNumber memkv_wal_append(Relation index, Buffer buf,
									 IndexTuple itup);
extern OffsetNumber memkv_wal_append_page(Relation index, Buffer metabuf,
										  Buffer tailbuf, Buffer newbuf,
										  uint32 epoch, IndexTuple itup);

#endif							/* MEMKV_WAL_H */
