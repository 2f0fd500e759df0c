/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  What validate.c exports besides the amvalidate and amoptions
 *	  callbacks (memkv.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_VALIDATE_H
#define MEMKV_VALIDATE_H

extern void memkv_register_reloptions(void);

#endif							/* MEMKV_VALIDATE_H */
