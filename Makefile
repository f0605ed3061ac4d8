# The two set-up commands of the README, and the usual targets.
#   make          build into build/ (the program is build/elmo)
#   make demo     install what is missing, build, run the embed demo on 2 MPI ranks
#   make check    install what is missing (Slurm too), build, run the whole ctest suite
#   make asan     the unit + conformance suites under ASan + UBSan (build-asan/)
#   make model MODEL=small|medium|original   download official weights into models/ (online)
#   make install  put elmo on PATH, the shipped models in PREFIX/share/elmo/models and the store
#                 reader elmo_store.py in PREFIX/lib/pythonX.Y/dist-packages
#   make models   retrain the shipped models from ../shared/fixtures (the release recipe)

BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= 2
MODEL   ?= small
CMAKE_FLAGS ?=

# Open MPI as root on one box, quiet and fast (docs: platform.md section 2).
export OMPI_ALLOW_RUN_AS_ROOT = 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = 1
export OMPI_MCA_rmaps_base_oversubscribe = 1
export OMPI_MCA_pml = ob1
export OMPI_MCA_btl = self,vader

.PHONY: all build deps demo check asan model models install clean

all: build

deps:
	@bash scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	       $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: deps build
	@bash scripts/demo.sh $(BUILD)

# Installs what every test needs first, the Slurm packages included (test_slurm starts its own
# private cluster); install-deps.sh skips what is present.
check:
	@bash scripts/install-deps.sh --slurm
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DELMO_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -L 'unit|conformance' -LE mpi

model:
	@bash scripts/get-model.sh $(MODEL)

models: deps build
	@bash scripts/release.sh $(BUILD)

install: build
	@install -d $(DESTDIR)$(PREFIX)/bin
	@install -m 0755 $(BUILD)/elmo $(DESTDIR)$(PREFIX)/bin/elmo
	@for m in models/*/; do \
	  install -d $(DESTDIR)$(PREFIX)/share/elmo/$$m && \
	  install -m 0644 $$m* $(DESTDIR)$(PREFIX)/share/elmo/$$m || exit 1; \
	done
	@echo "installed $(DESTDIR)$(PREFIX)/bin/elmo and the models in $(DESTDIR)$(PREFIX)/share/elmo/models"
	@# the store reader, where Debian's python3 imports from for this PREFIX (/usr/local)
	@v=$$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || \
	      echo 3); d=$(DESTDIR)$(PREFIX)/lib/python$$v/dist-packages; \
	 install -d $$d && install -m 0644 io/python/elmo_store.py $$d/elmo_store.py && \
	 echo "installed the store reader $$d/elmo_store.py (import elmo_store; python3 -m elmo_store)"

clean:
	@rm -rf $(BUILD) build-asan
