// synthgen: declarations only. The PyTorch wheel ships c10d's ProcessGroupGloo.hpp but not the
// gloo headers it includes. That header names gloo's types only behind smart pointers (and one inline call, below) (plus the
// rendezvous Store base of its inline GlooStore adapter), so these declarations are enough to
// compile against it; every gloo object is created and used inside libtorch_cpu.so.
#pragma once
#include <chrono>
namespace gloo {
// ProcessGroupGloo::setTimeout (inline in the header) calls this; synthgen never does.
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
} // namespace gloo
