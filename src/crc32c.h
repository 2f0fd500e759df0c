/*-------------------------------------------------------------------------
 *
 * crc32c.h
 *	  Plain C (no PostgreSQL headers): CRC-32C (Castagnoli), the checksum
 *	  of memkv 2's on-disk structures that the plain-C cores encode (the
 *	  run directory; run headers and dead lists may share it).
 *
 * Same function as PostgreSQL's pg_crc32c: reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF, so a value computed
 * here equals INIT_CRC32C / COMP_CRC32C / FIN_CRC32C over the same bytes.
 * A byte-at-a-time table (1 kB), or the SSE 4.2 instruction where the CPU
 * has it (crc32c.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_CRC32C_H
#define MEMKV_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Value to start a running CRC with; pass it through crc32c_final. */
#define CRC32C_INIT		UINT32_C(0xFFFFFFFF)

/*
 * Continue a running CRC (started at CRC32C_INIT) over len bytes.  data
 * may be NULL when len is 0.
 */
extern uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* The same by the table alone, whatever the CPU (for the tests). */
extern uint32_t crc32c_update_table(uint32_t crc, const void *data,
									size_t len);

/* The finished CRC of a running value. */
static inline uint32_t
crc32c_final(uint32_t crc)
{
	return crc ^ UINT32_C(0xFFFFFFFF);
}

/* CRC-32C of len bytes in one call. */
static inline uint32_t
crc32c(const void *data, size_t len)
{
	return crc32c_final(crc32c_update(CRC32C_INIT, data, len));
}

#endif							/* MEMKV_CRC32C_H */
