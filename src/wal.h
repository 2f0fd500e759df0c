/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  memkv's WAL resource manager (wal.c): registering it, the
 *	  WAL-logged appends to the delta log, directory switches and page
 *	  frees.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_WAL_H
#define MEMKV_WAL_H

#include "access/itup.h"
#include "storage/buf.h"
#include "storage/off.h"
#include "utils/relcache.h"

#include "rundir.h"

#define MEMKV_RMGR_ID 149		/* custom WAL resource manager id */
extern void memkv_register_rmgr(void);
extern OffsetNumber memkv_wal_append(Relation index, Buffer buf,
									 IndexTuple itup);
extern OffsetNumber memkv_wal_append_page(Relation index, Buffer tailbuf,
										  Buffer newbuf, uint32 epoch,
										  IndexTuple itup);
extern void memkv_wal_switch(Relation index, Buffer metabuf,
							 const MemkvDirectory *dir);
extern void memkv_wal_switch_removing(Relation index, Buffer metabuf,
									  const MemkvDirectory *dir,
									  bool removes_tids);
extern void memkv_wal_free(Relation index, Buffer *bufs, int n);
extern void memkv_delete_page(Relation index, Buffer buf);

#endif							/* MEMKV_WAL_H */
