/*-------------------------------------------------------------------------
 *
 * test_fuzz_fst_corpus.c
 *	  Replays the committed corpus of the FST fuzz target
 *	  (corpus/fuzz_fst: crafted damaged images and seeds) through
 *	  fuzz_fst.c's entry point under ASan and UBSan, so that `make check`
 *	  runs them without libFuzzer.
 *
 * Each file is one fuzzer input (its first byte picks the mode, see
 * fuzz_fst.c).  The target traps on a wrong answer or an unbounded
 * count, and the sanitizers abort on a memory error: either makes this
 * binary exit abnormally, which `make check` counts as a failure.  Run
 * from test/unit (make -C test/unit check does).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_fst.c"

#include <dirent.h>

#include "unit_check.h"

#define CORPUS_DIR "corpus/fuzz_fst"

/* Read a whole file into malloc'd memory; NULL if it cannot be read. */
static uint8_t *
read_input(const char *path, size_t *size)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *data = NULL;
	size_t		cap = 0;
	size_t		n;

	*size = 0;
	if (f == NULL)
		return NULL;
	for (;;)
	{
		if (*size == cap)
		{
			cap = cap ? cap * 2 : 4096;
			data = realloc(data, cap);
		}
		n = fread(data + *size, 1, cap - *size, f);
		if (n == 0)
			break;
		*size += n;
	}
	fclose(f);
	return data;
}

int
main(void)
{
	DIR		   *d = opendir(CORPUS_DIR);
	struct dirent *e;
	int			ninputs = 0;

	CHECK(d != NULL, "cannot open %s (run from test/unit)", CORPUS_DIR);
	while (d != NULL && (e = readdir(d)) != NULL)
	{
		char		path[1024];
		uint8_t    *data;
		size_t		size;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		data = read_input(path, &size);
		CHECK(data != NULL, "cannot read %s", path);
		if (data == NULL)
			continue;
		(void) LLVMFuzzerTestOneInput(data, size);
		printf("ok %s\n", e->d_name);
		passed++;
		ninputs++;
		free(data);
	}
	if (d != NULL)
		closedir(d);
	CHECK(ninputs > 0, "no inputs in %s", CORPUS_DIR);
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
