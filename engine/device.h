// device.h — where a tensor lives.
// defines: DeviceType, Device, DeviceSpec, parse_device
//
// Backend choice is a runtime value, never an #ifdef inside an algorithm.
#pragma once
#include <string>

namespace bpr {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu" or "cuda:0"
};

inline Device cpu_device() { return Device{}; }

// A device as a user names it: a concrete device, or "auto" (resolved by select_device in
// engine/backends.h, which knows whether a GPU is usable).
struct DeviceSpec {
  bool automatic = false;
  Device device;  // meaningful when !automatic
};

// Parses "cpu", "cuda", "cuda:N" or "auto". Syntax only: no side effects, no driver query.
// Throws bpr::Error on anything else.
DeviceSpec parse_device(const std::string& text);

}  // namespace bpr
