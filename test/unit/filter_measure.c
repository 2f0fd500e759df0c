/*
 * filter_measure.c
 *	  The false-positive rate of a run filter (src/runfilter.c) on real
 *	  keys: reads one key a line, builds the filter the run writer would
 *	  for the second run of bench/filter_lookup.sh (every tenth line's key
 *	  || '/~z' || its line number, line numbers from 1) at the bits per key
 *	  given (default 10), and probes every line's key (none of them in the
 *	  filter; a tenth of them proper prefixes of keys that are), printing
 *	  how many pass.  The server's filter of that run is bit for bit this
 *	  one: same hash, same sizing (the writer sizes from the freeze's key
 *	  count, the same 1/10 of the lines).
 *
 *	  make filter_measure && build/filter_measure KEYS_FILE [BITS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runfilter.h"

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	  **keys = NULL;
	size_t		n = 0,
				cap = 0,
				i,
				hits = 0,
				prefix_hits = 0;
	char		line[4096];
	int			bits = argc > 2 ? atoi(argv[2]) : RUNFILTER_DEFAULT_BITS;
	RunFilterParams p;
	uint8_t    *blocks;

	if (argc < 2 || (f = fopen(argv[1], "r")) == NULL)
	{
		fprintf(stderr, "usage: filter_measure KEYS_FILE [BITS]\n");
		return 2;
	}
	while (fgets(line, sizeof(line), f))
	{
		line[strcspn(line, "\n")] = '\0';
		if (n == cap)
		{
			cap = cap ? cap * 2 : 1024;
			keys = realloc(keys, cap * sizeof(char *));
		}
		keys[n++] = strdup(line);
	}
	fclose(f);
	if (!runfilter_size(n / 10, bits, 8152, 40, &p))
	{
		fprintf(stderr, "no filter for %zu keys at %d bits\n", n / 10, bits);
		return 1;
	}
	blocks = calloc(p.nblocks, RUNFILTER_BLOCK_BYTES);
	for (i = 0; i < n; i++)
	{
		if ((i + 1) % 10 == 0)
		{
			char		k[4200];
			int			len = snprintf(k, sizeof(k), "%s/~z%zu", keys[i], i + 1);

			runfilter_add(blocks, &p, runfilter_hash((const uint8_t *) k, (size_t) len));
		}
	}
	for (i = 0; i < n; i++)
	{
		int			hit = runfilter_test(blocks, &p,
										 runfilter_hash((const uint8_t *) keys[i],
														strlen(keys[i])));

		hits += hit;
		if ((i + 1) % 10 == 0)
			prefix_hits += hit;
	}
	printf("%zu keys in the filter (%u blocks, %u pages, %d probes, %.2f bits a key); "
		   "%zu of %zu absent keys pass: %.3f%% (proper prefixes: %zu of %zu, %.3f%%)\n",
		   n / 10, p.nblocks, runfilter_pages(&p), p.nprobes,
		   (double) p.nblocks * 512 / (double) (n / 10), hits, n,
		   100.0 * (double) hits / (double) n, prefix_hits, n / 10,
		   100.0 * (double) prefix_hits / (double) (n / 10));
	return 0;
}
