/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The "memkv freeze" background worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_WORKER_H
#define MEMKV_WORKER_H

/* Entry point, named in bgw_function_name by memkv_request_freeze. */
PGDLLEXPORT void memkv_freeze_worker_main(Datum main_arg);

#endif							/* MEMKV_WORKER_H */
