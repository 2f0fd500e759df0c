/*-------------------------------------------------------------------------
 *
 * fuzz_rundir.c
 *	  libFuzzer target for the run directory (src/rundir.c): any bytes
 *	  either fail to decode, cleanly, or decode to a directory that
 *	  validates and re-encodes to exactly the bytes it came from.
 *
 * Checked on every input that decodes: the re-encoding is byte for byte
 * the input's first `length` bytes; rundir_validate agrees; a smaller
 * relation (1000 blocks) never turns a failure into success; each run's
 * own bounds pass its key-range test; one flipped bit (position from the
 * input) is refused.  A failure is a trap (abort); memory errors are
 * the sanitizers'.
 *
 *-------------------------------------------------------------------------
 */
#include "rundir.h"

#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[RUNDIR_PAGE_CONTENT_BYTES];
	static uint8_t flipped[RUNDIR_PAGE_CONTENT_BYTES];
	MemkvDirectory dir;
	MemkvDirectory small;
	const char *msg = NULL;
	RundirStatus st;
	RundirStatus st_small;
	size_t		len;
	uint32_t	i;

	if (size > RUNDIR_PAGE_CONTENT_BYTES)
		size = RUNDIR_PAGE_CONTENT_BYTES;
	st = rundir_decode(data, size, UINT32_MAX, &dir, &msg);
	st_small = rundir_decode(data, size, 1000, &small, NULL);
	if (st != RUNDIR_OK)
	{
		REQUIRE(msg != NULL && msg[0] != '\0');
		REQUIRE(st_small != RUNDIR_OK);
		return 0;
	}

	REQUIRE(rundir_validate(&dir, UINT32_MAX, NULL) == RUNDIR_OK);
	len = rundir_encode(&dir, again, sizeof(again));
	REQUIRE(len > 0 && len <= size && len == rundir_encoded_size(&dir));
	REQUIRE(memcmp(again, data, len) == 0);

	for (i = 0; i < dir.nruns; i++)
	{
		const MemkvRunEntry *run = &dir.runs[i];

		if (run->nkeys == 0)
			continue;
		REQUIRE(rundir_key_may_be_in(run, run->lo, run->lo_len));
		REQUIRE(rundir_key_may_be_in(run, run->hi, run->hi_len));
		REQUIRE(rundir_range_may_meet(run, run->lo, run->lo_len,
									  run->hi, run->hi_len));
		REQUIRE(rundir_find_run(&dir, run->run_id) == (int) i);
	}

	/* one bit flipped anywhere in the encoding is refused */
	{
		size_t		pos = (data[len - 1] * 251u + len) % len;

		memcpy(flipped, data, len);
		flipped[pos] ^= (uint8_t) (1u << (data[len / 2] & 7));
		REQUIRE(rundir_decode(flipped, len, UINT32_MAX, &small, NULL) !=
				RUNDIR_OK);
	}
	return 0;
}
