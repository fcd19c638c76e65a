Q ?= @
# A directory of directories: the Makefile sets DP_ROOT and DIRS, then includes this.
all clean:
	$(Q)set -e; for d in $(DIRS); do $(MAKE) --no-print-directory -C $$d $@; done

.PHONY: all clean
