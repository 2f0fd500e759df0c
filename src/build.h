/*-------------------------------------------------------------------------
 *
 * build.h
 *	  build.c exports only the AM's build callbacks (memkv.h); this header
 *	  stays for aminsert's check of a key's bytes, now in buildscan.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BUILD_H
#define MEMKV_BUILD_H

#include "buildscan.h"

#endif							/* MEMKV_BUILD_H */
