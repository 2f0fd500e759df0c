/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The "memkv freeze" and "memkv merge" background workers (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_WORKER_H
#define MEMKV_WORKER_H

/* Entry point, named in bgw_function_name by memkv_request_freeze. */
PGDLLEXPORT void memkv_freeze_worker_main(Datum main_arg);

/* Entry point, named in bgw_function_name by memkv_request_merge. */
PGDLLEXPORT void memkv_merge_worker_main(Datum main_arg);

#endif							/* MEMKV_WORKER_H */
