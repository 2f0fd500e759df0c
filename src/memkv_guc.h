/*-------------------------------------------------------------------------
 *
 * memkv_guc.h
 *	  memkv's configuration parameters (memkv.*), which _PG_init (memkv.c)
 *	  registers.  Each variable is defined in the file named next to it.
 *
 * Data only, no functions: any file may include this header whatever its
 * layer (test/layout.sh allows it everywhere), since reading a setting
 * calls nothing above the reader.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_GUC_H
#define MEMKV_GUC_H

extern int	memkv_shared_memory_mb;	/* memkv.c */
extern int	memkv_max_indexes;		/* memkv.c */
extern int	memkv_debug_freeze_pause_lock;	/* memkv.c */
extern int	memkv_debug_insert_pause_lock;	/* memkv.c */
extern int	memkv_debug_merge_pause_lock;	/* memkv.c */
extern int	memkv_debug_slice_bytes;	/* memkv.c */
extern int	memkv_debug_build_part_kb;	/* memkv.c */
extern int	memkv_debug_unit_bytes;	/* memkv.c */
extern int	memkv_debug_header_version;	/* memkv.c */
extern int	memkv_debug_filter_bits;	/* memkv.c */
extern int	memkv_debug_share_window;	/* memkv.c */
extern int	memkv_freeze_threshold;	/* request.c */
extern int	memkv_top_memo_kb;		/* runmemo.c */
extern int	memkv_log_freeze_min_duration;	/* stats.c */

#endif							/* MEMKV_GUC_H */
