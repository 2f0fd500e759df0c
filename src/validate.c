/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  amvalidate (checks a memkv operator class's members), amoptions
 *	  (the storage parameters freeze_threshold and stripes) and the
 *	  stripe count a build reads from them.  Low in the glue's layers
 *	  (test/layout.sh): it calls nothing of memkv's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "memkv.h"
#include "validate.h"

/*
 * amvalidate: every operator must be a search operator with strategy 1..6
 * returning boolean; the only support function is number 1, a btree-style
 * comparison returning int4; and strategies 1..5 must all be present for
 * the opclass's type, since ordered scans depend on them.
 */
bool
memkv_validate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	CatCList   *oprlist;
	CatCList   *proclist;
	bool		have_strategy[MEMKV_NSTRATEGIES + 1] = {false};
	int			i;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	for (i = 0; i < proclist->n_members; i++)
	{
		HeapTuple	proctup = &proclist->members[i]->tuple;
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(proctup);

		if (procform->amprocnum != MEMKV_CMP_PROC ||
			!check_amproc_signature(procform->amproc, INT4OID, false, 2, 2,
									procform->amproclefttype,
									procform->amprocrighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("memkv operator class \"%s\" contains invalid support function %s with number %d",
							opclassname, format_procedure(procform->amproc),
							procform->amprocnum)));
			result = false;
		}
	}

	for (i = 0; i < oprlist->n_members; i++)
	{
		HeapTuple	oprtup = &oprlist->members[i]->tuple;
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(oprtup);

		if (oprform->amopstrategy < 1 ||
			oprform->amopstrategy > MEMKV_NSTRATEGIES ||
			oprform->amoppurpose != AMOP_SEARCH ||
			OidIsValid(oprform->amopsortfamily) ||
			!check_amop_signature(oprform->amopopr, BOOLOID,
								  oprform->amoplefttype,
								  oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("memkv operator class \"%s\" contains invalid operator %s with strategy %d",
							opclassname, format_operator(oprform->amopopr),
							oprform->amopstrategy)));
			result = false;
			continue;
		}
		if (oprform->amoplefttype == opcintype &&
			oprform->amoprighttype == opcintype)
			have_strategy[oprform->amopstrategy] = true;
	}

	for (i = MEMKV_LESS; i <= MEMKV_GREATER; i++)
	{
		if (!have_strategy[i])
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("memkv operator class \"%s\" is missing the operator for strategy %d",
							opclassname, i)));
			result = false;
		}
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return result;
}

static relopt_kind memkv_relopt_kind;

/* Register memkv's storage parameters; called from _PG_init. */
void
memkv_register_reloptions(void)
{
	memkv_relopt_kind = add_reloption_kind();
	add_int_reloption(memkv_relopt_kind, "freeze_threshold",
					  "Delta size (TIDs) at which the index is frozen in the background; 0 disables, -1 uses memkv.freeze_threshold",
					  -1, -1, INT_MAX, ShareUpdateExclusiveLock);
	add_int_reloption(memkv_relopt_kind, "stripes",
					  "Delta stripes (trees, logs and locks) an index is built with; takes effect at CREATE INDEX and REINDEX",
					  MEMKV_DEFAULT_STRIPES, 1, MEMKV_MAX_STRIPES,
					  AccessExclusiveLock);
}

/* amoptions: parse and validate WITH (freeze_threshold = N, stripes = S). */
bytea *
memkv_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"freeze_threshold", RELOPT_TYPE_INT,
		offsetof(MemkvOptions, freeze_threshold)},
		{"stripes", RELOPT_TYPE_INT,
		offsetof(MemkvOptions, stripes)}
	};

	return (bytea *) build_reloptions(reloptions, validate,
									  memkv_relopt_kind, sizeof(MemkvOptions),
									  tab, lengthof(tab));
}

/*
 * The stripe count a build of `index` gives it: its stripes storage
 * parameter, or MEMKV_DEFAULT_STRIPES.  An existing index's count is its
 * directory's (MemkvMetaPageData.nstripes), which ALTER INDEX ... SET
 * (stripes = n) does not change until the next REINDEX.
 */
int
memkv_index_stripes(Relation index)
{
	MemkvOptions *opts = (MemkvOptions *) index->rd_options;

	if (opts && opts->stripes >= 1 && opts->stripes <= MEMKV_MAX_STRIPES)
		return opts->stripes;
	return MEMKV_DEFAULT_STRIPES;
}
