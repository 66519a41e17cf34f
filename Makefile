# Thin wrapper over Meson. `make run` and `make test` install what they
# need (scripts/deps.sh) on a fresh Debian machine.
BUILD ?= build

.PHONY: all deps build build-asan run test unit bench fuzz format clean

all: build

deps:
	@scripts/deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan/build.ninja:
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dbuildtype=debug

build-asan: build-asan/build.ninja
	ninja -C build-asan

# make run ARGS='-c my.conf' applies my.conf on top of the dev defaults.
run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory build
	./$(BUILD)/pigeon serve --dev $(ARGS)

test: deps
	@$(MAKE) --no-print-directory build build-asan
	@scripts/test.sh

unit: build
	meson test -C $(BUILD) --print-errorlogs

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	bench/run.sh

fuzz:
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz \
	    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-fuzz
	@echo "run e.g.: mkdir -p /tmp/fz && build-fuzz/fuzz/fuzz_addr /tmp/fz fuzz/corpus/addr -max_total_time=60"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
