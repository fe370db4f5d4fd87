// interrupt.h — a cooperative stop on Ctrl-C (SIGINT) or SIGTERM.
// defines: install_interrupt_handlers, stop_requested, request_stop, clear_stop_request,
//          Interrupted
//
// The first signal only sets a flag; the training loop checks it between steps and throws
// Interrupted, so the step in flight finishes, nothing partial is written (checkpoints are
// written at epoch ends, atomically) and the program exits 130 with the command that
// resumes. A second signal ends the process at once (the default action).
#pragma once
#include <string>

#include "engine/error.h"

namespace bpr {

void install_interrupt_handlers();
bool stop_requested();
void request_stop();        // what the handler does (tests call it directly)
void clear_stop_request();

class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& where) : Error(where) {}
};

}  // namespace bpr
