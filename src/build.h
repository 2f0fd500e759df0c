/*-------------------------------------------------------------------------
 *
 * build.h
 *	  What build.c exports besides the AM's build callbacks (memkv.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BUILD_H
#define MEMKV_BUILD_H

extern void memkv_key_bytes(Datum value, const uint8 **key, Size *keylen,
							text **to_free);

#endif							/* MEMKV_BUILD_H */
