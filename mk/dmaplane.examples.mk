# An example program (apps/examples/<name>/): built into build/examples/ and installed, with its
# source, under share/dmaplane/examples/. Examples use only the public headers.
APP_DIR = $(BUILD_DIR)/examples
include $(DP_ROOT)/mk/dmaplane.app.mk
