// The CPU suite's entry point: registers the built-in backends (as every bpr program does at
// start), then runs doctest.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "engine/backends.h"

int main(int argc, char** argv) {
  bpr::register_builtin_backends();
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
