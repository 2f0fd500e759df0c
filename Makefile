# Makefile for memkv, built with PGXS against PostgreSQL 15.
#
#   make && make install          build and install the extension
#   make installcheck             pg_regress + isolation against a running
#                                 server that has memkv preloaded
#   bash test/run-all.sh          the whole test suite (see README.md)

MODULE_big = memkv
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

EXTENSION = memkv
DATA = memkv--1.0.sql memkv--1.1.sql memkv--1.0--1.1.sql memkv--2.0.sql \
	memkv--1.1--2.0.sql memkv--2.0--2.1.sql
PGFILEDESC = "memkv - ART + FST index access method for text keys"

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --outputdir=. 
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Werror

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP tests live in test/t rather than t/.
# TESTDIR tells 15's PostgreSQL::Test::Utils where tmp_check/ goes,
# TESTDATADIR and TESTLOGDIR tell newer versions' (18's) where tmp_check/
# and its log/ go (without them: the current directory).
prove_installcheck = rm -rf '$(CURDIR)'/tmp_check && \
	cd $(srcdir) && TESTDIR='$(CURDIR)' PATH="$(bindir):$(CURDIR):$$PATH" \
	TESTDATADIR='$(CURDIR)/tmp_check' TESTLOGDIR='$(CURDIR)/tmp_check/log' \
	PGPORT='6$(DEF_PGPORT)' top_builddir='$(top_builddir)' \
	PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' \
	$(PROVE) $(PG_PROVE_FLAGS) $(PROVE_FLAGS) $(or $(PROVE_TESTS),test/t/*.pl)

# PGXS does not track header dependencies: rebuild everything when a
# shared header changes (struct layouts live in memkv.h).
$(OBJS): $(wildcard src/*.h)
